"""Payloads decided one datagram (or one length-prefixed message) at a time (SPEC §6).

DTLS over UDP keeps record headers and the bodies of types 20/21/22/24, as TLS does; in the
clear (epoch 0) a body must be what its type says, or the datagram is zeroed from that record on.
BOOTP/DHCP keeps its skeleton (operation, hardware type and length, hops, transaction, flags, the
magic cookie, each option's code and length and the message type), so that Wireshark still
parses it; addresses, hardware addresses, names and option values are zeroed. DNS over TCP
keeps each message's 2-byte length; its messages are zeroed, as DNS over UDP is, unless
``--anon-dns`` rewrote their addresses: then their structure is kept (`dns_keeps`).
"""

from __future__ import annotations

from ...proto.dhcp import DHCP_END, DHCP_FIXED, DHCP_KEPT_FIXED, DHCP_MAGIC, DHCP_MESSAGE_TYPE, DHCP_PAD
from ...proto.dns import message
from ...proto.text import kept_text
from ...proto.tls import (
    CLEARTEXT_HANDSHAKE_TYPES,
    DTLS_HLEN,
    TLS_HANDSHAKE,
    TLS_KEPT_TYPES,
    cleartext_kept,
    dtls_header,
)
from ...proto.tls_names import address_ranges, name_ranges

DTLS_HANDSHAKE_HLEN = 12  # type, length, message sequence, fragment offset, fragment length (RFC 6347 §4.2.2)

KEEP_DTLS_HEADER = "dtls-record-header"
KEEP_DTLS_BODY = {20: "dtls-change-cipher-spec", 21: "dtls-alert", 22: "dtls-handshake", 24: "dtls-heartbeat"}
KEEP_DHCP = "dhcp-skeleton"
KEEP_DNS = "dns-length"
KEEP_DNS_STRUCTURE = "dns-structure"  # header, label lengths, types, classes, TTLs, lengths (--anon-dns)
KEEP_DNS_ADDRESS = "dns-address"  # A/AAAA data and Client Subnet addresses anonymize rewrote
KEEP_DNS_NAME = "dns-name"  # label contents and TXT strings, with --keep dns-names


def dtls_keeps(data, start: int, end: int, counts: list[int], names: bool = False):
    """Kept byte ranges (and why) of a UDP payload ``data[start:end]`` read as DTLS records.

    Returns ``(keeps, broken)``: an empty list when the payload does not start with a DTLS
    record; `broken` when valid records are followed by bytes that are not one (zeroed).
    The IP addresses of cleartext handshake messages are not kept (but in a fragment of a
    message, which cannot be read: kept as SPEC §6 keeps handshakes); with `names`
    (``--tls-names zero``), nor are their names, and a fragment of a message not at all.
    """
    keeps, pos = [], start
    while pos + DTLS_HLEN <= end:
        content_type, length = dtls_header(data, pos)
        if content_type < 0:
            break
        body, stop = pos + DTLS_HLEN, pos + DTLS_HLEN + length
        fragments = content_type == TLS_HANDSHAKE and stop <= end and _dtls_fragments(data, body, stop)
        # epoch 0, or a body that is exactly cleartext handshake fragments (ciphertext is not,
        # but for about one record in 2^28): an epoch that lies must not pass a hello off as encrypted
        clear = not (data[pos + 3] | data[pos + 4]) or fragments
        if clear and content_type in TLS_KEPT_TYPES:
            if stop > end:
                break  # a cleartext body cut by the datagram's end cannot be checked
            if content_type != TLS_HANDSHAKE:
                stop = body + cleartext_kept(content_type, data, body, stop)
                if stop < body:
                    break
            elif not fragments:
                break
        counts[content_type - 20] += 1
        keeps.append((pos, body, KEEP_DTLS_HEADER))
        if content_type in TLS_KEPT_TYPES and stop > body:
            stop = min(stop, end)
            cuts = ()
            if content_type == TLS_HANDSHAKE and clear:
                cuts = sorted(_dtls_names(data, body, stop, names))
            # addresses written as text (SPEC §5) in what stays
            keeps += [(a, b, KEEP_DTLS_BODY[content_type]) for a, b in kept_text(data, body, stop, cuts, binary=True)]
        pos = body + length
    return keeps, bool(keeps) and pos < end


def _fragment_header(data, pos: int) -> tuple[int, int, int]:
    """``(message_length, fragment_offset, fragment_length)`` of the DTLS handshake header at `pos`."""
    return tuple(int.from_bytes(data[pos + at : pos + at + 3], "big") for at in (1, 6, 9))


def _dtls_fragments(data, pos: int, end: int) -> bool:
    """Whether the cleartext handshake record body ``data[pos:end]`` is whole fragments of
    messages of types sent in the clear, each inside its message (RFC 6347 §4.2.2)."""
    while pos < end:
        if pos + DTLS_HANDSHAKE_HLEN > end or data[pos] not in CLEARTEXT_HANDSHAKE_TYPES:
            return False
        length, fragment_offset, fragment_length = _fragment_header(data, pos)
        pos += DTLS_HANDSHAKE_HLEN + fragment_length
        if fragment_offset + fragment_length > length or pos > end:
            return False
    return True


def _dtls_names(data, pos: int, end: int, names: bool) -> list[tuple[int, int]]:
    """Address bytes (and with `names`, name bytes) in the handshake messages of a DTLS record
    body ``data[pos:end]``."""
    out, ranges = [], name_ranges if names else address_ranges
    while pos + DTLS_HANDSHAKE_HLEN <= end:
        kind = data[pos]
        length, fragment_offset, fragment_length = _fragment_header(data, pos)
        body, stop = pos + DTLS_HANDSHAKE_HLEN, min(end, pos + DTLS_HANDSHAKE_HLEN + fragment_length)
        if fragment_offset or fragment_length != length or stop - body != length:
            if names:  # a piece of a message (of any type: a type can lie) cannot be read
                out.append((body, stop))
        else:
            out += ranges(kind, data, body, stop, dtls=True)
        pos = stop
    if pos < end:
        out.append((pos, end))  # not a handshake message header
    return out


def dhcp_keeps(data, start: int, end: int) -> list[tuple[int, int, str]]:
    """The skeleton of a BOOTP/DHCP message at `start` (RFC 2131, RFC 2132); [] if it is not one."""
    if end - start < DHCP_FIXED + len(DHCP_MAGIC) or data[start] not in (1, 2):
        return []
    if bytes(data[start + DHCP_FIXED : start + DHCP_FIXED + 4]) != DHCP_MAGIC:
        return []
    keeps = [(start + a, start + b, KEEP_DHCP) for a, b in DHCP_KEPT_FIXED]
    keeps.append((start + DHCP_FIXED, start + DHCP_FIXED + 4, KEEP_DHCP))
    pos = start + DHCP_FIXED + 4
    while pos < end:
        code = data[pos]
        if code in (DHCP_PAD, DHCP_END):
            keeps.append((pos, pos + 1, KEEP_DHCP))
            if code == DHCP_END:
                break
            pos += 1
            continue
        if pos + 2 > end or pos + 2 + data[pos + 1] > end:
            break
        length = data[pos + 1]
        keeps.append((pos, pos + (2 + length if code == DHCP_MESSAGE_TYPE else 2), KEEP_DHCP))
        pos += 2 + length
    return keeps


def dns_keeps(data, start: int, end: int, names: bool) -> list[tuple[int, int, str]]:
    """Kept byte ranges of a DNS message whose addresses anonymize rewrote (``--anon-dns``): its
    structure and addresses, and its names if `names` (but names in a reverse zone, which spell
    an address). Only a message that parses to its last byte is believed to be DNS: anything
    else on port 53 (cut short, with bytes after it, another protocol) is zeroed whole."""
    found = message(data, start, end)
    if not found.whole or found.end != end:
        return []
    keeps = [(a, b, KEEP_DNS_STRUCTURE) for a, b in found.structure]
    keeps += [(a.offset, a.offset + a.size, KEEP_DNS_ADDRESS) for a in found.addresses]
    if names:
        keeps += [(a, b, KEEP_DNS_NAME) for a, b in found.names]
    return sorted(k for k in keeps if k[0] < k[1])


class DnsTcpWalker:
    """DNS over TCP (RFC 1035 §4.2.2): each message's length kept, the message zeroed; with
    ``--anon-dns`` (`structure`), each message waits until it is whole and keeps its
    structure (and its names with `names`) and its addresses — but anonymize reads
    segments, not streams, so a segment keeps only the addresses it rewrote there
    (`~pktmask_nb.proto.dns.segment_addresses`, applied by the stage's decision)."""

    __slots__ = ("remaining", "structure", "names")

    def __init__(self, structure: bool = False, names: bool = False):
        self.remaining = 0
        self.structure, self.names = structure, names

    def feed(self, d, data, offset: int) -> int:
        n, pos = len(data), 0
        while pos < n:
            if self.remaining:
                take = min(self.remaining, n - pos)
                self.remaining -= take
                pos += take
                continue
            if n - pos < 2:
                return n - pos
            length = (data[pos] << 8) | data[pos + 1]
            if self.structure and n - pos < 2 + length:
                return n - pos  # wait for the whole message
            d.keep(offset + pos, offset + pos + 2, KEEP_DNS)
            pos += 2
            if self.structure:
                for a, b, reason in dns_keeps(data, pos, pos + length, self.names):
                    d.keep(offset + a, offset + b, reason)
                pos += length
            else:
                self.remaining = length
        return 0
