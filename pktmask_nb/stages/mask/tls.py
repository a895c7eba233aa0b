"""The TLS record walker (SPEC §6): keep headers and types 20/21/22/24, zero ApplicationData bodies.

Records span segments, segments hold several records, headers split across segments wait
for their missing bytes (the bytes stay undecided, so the stage holds their packets back).
Cleartext handshake messages are decided whole (a message that spans records waits for them
all), so that the IP addresses in them are zeroed: written as text (a server name that is an
address, a certificate naming one) and in binary (a certificate's iPAddress names,
`~pktmask_nb.proto.tls_names.address_ranges`). With names zeroed (``--tls-names zero``), so
are the names `~pktmask_nb.proto.tls_names.name_ranges` finds.
A cleartext body must be what its type says (handshake messages of types sent in the clear,
a ChangeCipherSpec byte, registered alerts, a heartbeat, whose payload is zeroed): a record
that is not desynchronizes the stream, which is zeroed from it on. After a ChangeCipherSpec
the direction's bodies are ciphertext, kept as they are, but a record that is exactly one
ClientHello or ServerHello is still cleartext (TLS 1.3's compatibility ChangeCipherSpec can
come before them).
SSLv2 2-byte-header records are followed after an SSLv2 hello: cleartext hello and
master-key messages are kept (but a master key with a clear part, which is key material),
later (encrypted) bodies are zeroed.
"""

from __future__ import annotations

from ...proto.text import kept_text
from ...proto.tls import (
    HANDSHAKE_HLEN,
    SSL2_BLOCK,
    SSL2_CLIENT_MASTER_KEY,
    SSL2_HANDSHAKE_TYPES,
    SSL2_HLEN,
    SSL2_MAC_LEN,
    SSL2_SERVER_HELLO,
    TLS_APPLICATION_DATA,
    TLS_CHANGE_CIPHER_SPEC,
    TLS_HANDSHAKE,
    TLS_HLEN,
    TLS_MAX_RECORD,
    cleartext_kept,
    handshake_framing,
    is_hello,
    record_header,
    ssl2_header,
)
from ...proto.tls_names import ADDRESS_MESSAGES, address_ranges, messages, name_ranges
from .stream import FAIL_DESYNC

TLS_COUNT_NAMES = ("change_cipher_spec", "alert", "handshake", "application_data", "heartbeat", "sslv2")
NO_RECORDS = (0,) * len(TLS_COUNT_NAMES)  # `Flow.tls_counts` until its first TLS walker or DTLS record

# ledger reasons of kept bytes (SPEC §2.4), by content type for record bodies
KEEP_HEADER = "tls-record-header"
KEEP_BODY = {20: "tls-change-cipher-spec", 21: "tls-alert", 22: "tls-handshake", 23: None, 24: "tls-heartbeat"}
KEEP_SSL2_HEADER = "sslv2-record-header"
KEEP_SSL2_BODY = "sslv2-handshake"
HANDSHAKE_WAIT_MAX = 1 << 16  # bytes of one handshake message waited for across records; past it, zeroed


def keep_text(d, data, start: int, end: int, offset: int, reason: str, names=()) -> None:
    """Keep ``data[start:end]`` (stream offset `offset` of `data`) but the ranges `names` (sorted,
    in `data`) and IP addresses written in it as text (an address as server name, in a
    certificate's names or URLs, SPEC §5)."""
    for a, b in kept_text(data, start, end, names, binary=True):
        d.keep(offset + a, offset + b, reason)


class TlsWalker:
    """Walk TLS records over in-order stream bytes.

    Attributes
    ----------
    record_end : int
        Stream offset where the current record ends.
    keep_body : str or None
        Why the current record's body is kept (a ledger reason), None if it is zeroed.
    ssl2 : int
        0: no SSLv2; 1: SSLv2 records in the clear; 2: SSLv2 records encrypted.
    names : bool
        Zero the names of cleartext handshake messages (``--tls-names zero``).
    encrypted : bool
        A ChangeCipherSpec went by: later handshake records are ciphertext.
    carry : int
        See `_named`.
    """

    # its fields are declared in tls.pxd

    def __init__(self, flow, ssl2: bool = False):
        self.record_end = 0
        self.keep_body = None
        self.ssl2 = 1 if ssl2 else 0
        if flow.tls_counts is NO_RECORDS:
            flow.tls_counts = [0] * len(NO_RECORDS)
        self.counts = flow.tls_counts  # records seen by type 20..24, then SSLv2 records (shared with the flow)
        self.names = flow.tls_names
        self.encrypted = False
        self.carry = 0  # bytes still to come of a handshake message given up on (`_named`)
        self.framing = 0  # where the next cleartext handshake record starts (`handshake_framing`)

    def feed(self, d, data, offset: int) -> int:
        n = len(data)
        end = offset + n
        record_end, keep_body, counts = self.record_end, self.keep_body, self.counts
        pos = 0
        undecided = 0
        while True:
            if record_end > offset + pos:
                stop = record_end if record_end < end else end
                if keep_body:
                    d.keep(offset + pos, stop, keep_body)
                pos = stop - offset
                if pos >= n:
                    break
            if n - pos < TLS_HLEN and not (self.ssl2 and n - pos >= SSL2_HLEN + 1):
                undecided = n - pos  # the start of a header (an SSLv2 header needs only 3 bytes)
                break
            if self.ssl2 and (data[pos] & 0x80 or n - pos < TLS_HLEN or record_header(data, pos)[0] < 0):
                header, length, keep_body = self._ssl2(data, pos)
                if header < 0:
                    return d.zero_rest(offset + pos, FAIL_DESYNC)
                d.keep(offset + pos, offset + pos + header, KEEP_SSL2_HEADER)
                record_end = offset + pos + header + length
                pos += header
                continue
            content_type, length = record_header(data, pos)
            if content_type < 0:
                return d.zero_rest(offset + pos, FAIL_DESYNC)
            # decided whole: a handshake record may hold addresses as text, a cleartext body is checked
            if content_type == TLS_HANDSHAKE or (content_type != TLS_APPLICATION_DATA and not self.encrypted):
                if pos + TLS_HLEN + length > n:
                    undecided = n - pos
                    break
                body = pos + TLS_HLEN
                clear = not self.encrypted or (content_type == TLS_HANDSHAKE and is_hello(data, body, body + length))
                if content_type == TLS_HANDSHAKE and clear:
                    stop = self._named(d, data, pos, offset)
                    if stop < 0:
                        undecided = n - pos
                        break
                    pos = stop
                    record_end = offset + pos
                    continue
                # ciphertext handshake bodies are kept (SPEC §6), other cleartext bodies checked
                kept = (
                    length if content_type == TLS_HANDSHAKE else cleartext_kept(content_type, data, body, body + length)
                )
                if kept < 0:
                    return d.zero_rest(offset + pos, FAIL_DESYNC)
                counts[content_type - 20] += 1
                if content_type == TLS_CHANGE_CIPHER_SPEC:
                    self.encrypted = True
                d.keep(offset + pos, offset + body, KEEP_HEADER)
                if content_type == TLS_HANDSHAKE:
                    keep_text(d, data, body, body + kept, offset, KEEP_BODY[TLS_HANDSHAKE])
                elif kept:
                    d.keep(offset + body, offset + body + kept, KEEP_BODY[content_type])
                pos = body + length
                record_end = offset + pos
                continue
            counts[content_type - 20] += 1
            if content_type == TLS_CHANGE_CIPHER_SPEC:
                self.encrypted = True
            d.keep(offset + pos, offset + pos + TLS_HLEN, KEEP_HEADER)
            keep_body = KEEP_BODY[content_type]
            record_end = offset + pos + TLS_HLEN + length
            pos += TLS_HLEN
        self.record_end, self.keep_body = record_end, keep_body
        return undecided

    def _named(self, d, data, pos: int, offset: int) -> int:
        """Decide the whole handshake record at `pos` and the ones after it that complete its
        last message, their addresses (and names, `names`) zeroed; returns the position after
        them, or -1 to wait for more bytes. A message cut by a record of another type, or longer than
        `HANDSHAKE_WAIT_MAX`, is given up on, to its end (`carry`, the records that carry the
        rest of it): with `names`, zeroed whatever its type says (a length that lies can make a
        ServerHello swallow the Certificate after it); without, kept as SPEC §6 keeps
        handshakes (but addresses written as text): a certificate chain that long keeps its
        binary addresses."""
        n, carry = len(data), self.carry
        bodies, joined, at = [], b"", pos
        while True:
            length = record_header(data, at)[1]
            bodies.append((at, len(joined)))
            piece = data[at + TLS_HLEN : at + TLS_HLEN + length]
            joined = joined + piece if joined else piece  # one record, the usual case: no second copy
            at += TLS_HLEN + length
            found, complete = messages(joined, carry) if carry < len(joined) else ([], len(joined))
            if complete == len(joined) or len(joined) > HANDSHAKE_WAIT_MAX or self._not_waited(joined, complete):
                break
            if at + TLS_HLEN > n:
                return self._wait(d, data, pos, offset, bodies)
            content_type, length = record_header(data, at)
            if content_type != TLS_HANDSHAKE:
                break
            if at + TLS_HLEN + length > n:
                return self._wait(d, data, pos, offset, bodies)
        framed, framing = self._framing_after(data, bodies)
        if not framed:
            d.zero_rest(offset + pos, FAIL_DESYNC)
            return n  # nothing more of this stream is read
        self.framing = framing
        size = len(joined)
        named = [(0, min(carry, size))] if carry and self.names else []
        ranges = name_ranges if self.names else address_ranges
        for kind, start, end in found:
            named += ranges(kind, joined, start, end)
        self.carry = max(carry - size, 0)
        if complete < size:  # given up on
            if complete + HANDSHAKE_HLEN <= size:
                self.carry = _message_end(joined, complete) - size
                given_up = (complete + HANDSHAKE_HLEN, size)
            else:  # a message header cut by a record of another type: no valid handshake
                given_up = (complete, size)
            if self.names:
                named.append(given_up)
        reason = KEEP_BODY[TLS_HANDSHAKE]
        for record, base in bodies:
            body = record + TLS_HLEN
            shift = body - base  # joined position -> data position
            stop = body + record_header(data, record)[1]
            self.counts[TLS_HANDSHAKE - 20] += 1
            d.keep(offset + record, offset + body, KEEP_HEADER)
            keep_text(d, data, body, stop, offset, reason, [(a + shift, b + shift) for a, b in named])
        return at

    def _not_waited(self, joined, complete: int) -> bool:
        """Whether the message whose header is at `complete` (the first one incomplete) is given
        up on now rather than waited for: without `names`, one that carries no certificates
        (only those are read, for their addresses); one whose header says it ends past what
        the wait can reach (`HANDSHAKE_WAIT_MAX` and a last record), which would be given up on
        when the wait ran out."""
        if complete + HANDSHAKE_HLEN > len(joined):
            return False
        if not self.names and joined[complete] not in ADDRESS_MESSAGES:
            return True
        return _message_end(joined, complete) > HANDSHAKE_WAIT_MAX + TLS_MAX_RECORD

    def _wait(self, d, data, pos: int, offset: int, bodies: list) -> int:
        """-1 (wait for the rest of the message), unless the records so far already break the
        handshake's framing: then the stream is zeroed from `pos` (desync) at once."""
        if self._framing_after(data, bodies)[0]:
            return -1
        d.zero_rest(offset + pos, FAIL_DESYNC)
        return len(data)

    def _framing_after(self, data, bodies: list) -> tuple[bool, int]:
        """Whether the cleartext handshake records `bodies` (``(record, _)`` pairs, as `_named`
        gathers them) continue the direction's handshake messages with messages of types sent
        in the clear, and the framing state after them (`handshake_framing`)."""
        framing = self.framing
        for record, _ in bodies:
            body = record + TLS_HLEN
            bad, framing = handshake_framing(data, body, body + record_header(data, record)[1], framing)
            if bad >= 0:
                return False, framing
        return True, framing

    def _ssl2(self, data, pos: int) -> tuple[int, int, str | None]:
        """``(header_length, body_length, keep_body)`` of an SSLv2 record; header_length -1 if invalid.

        The 2-byte form (high bit set) may hold a cleartext hello or master key; the 3-byte
        form (with padding) only occurs encrypted. An encrypted body must hold a MAC, a padded
        one whole cipher blocks and less padding than a block: bytes that are not so are no
        header (the stream lost its framing).
        """
        if not data[pos] & 0x80:
            length = ((data[pos] & 0x3F) << 8) | data[pos + 1]
            padding = data[pos + 2]
            if self.ssl2 != 2 or length % SSL2_BLOCK or padding >= SSL2_BLOCK or length < SSL2_MAC_LEN + padding:
                return -1, 0, None
            self.counts[5] += 1
            return SSL2_HLEN + 1, length, None
        message_type, length = ssl2_header(data, pos)
        if message_type < 0 or (self.ssl2 == 2 and length < SSL2_MAC_LEN):
            return -1, 0, None
        keep_body = KEEP_SSL2_BODY if self.ssl2 == 1 and message_type in SSL2_HANDSHAKE_TYPES else None
        if message_type == SSL2_CLIENT_MASTER_KEY and bytes(data[pos + 6 : pos + 8]) != b"\0\0":
            keep_body = None  # CLEAR-KEY-DATA (export ciphers) is part of the master key, or unknown yet
        if message_type in (SSL2_CLIENT_MASTER_KEY, SSL2_SERVER_HELLO):
            self.ssl2 = 2  # what follows in this direction is encrypted
        self.counts[5] += 1
        return SSL2_HLEN, length, keep_body


def _message_end(joined, at: int) -> int:
    """Where the handshake message whose (whole) header is at `at` ends, as its length says."""
    return at + HANDSHAKE_HLEN + int.from_bytes(joined[at + 1 : at + HANDSHAKE_HLEN], "big")
