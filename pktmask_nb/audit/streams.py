"""Pass 1 of the audit: what the original's TCP streams carry, as intervals (SPEC §6).

Each direction of a TCP connection is reassembled in sequence space (first copy wins) and
read by the audit's own walkers, written from the RFCs: TLS records (RFC 8446 §5.1),
SSLv2 hellos, HTTP/1.x messages (RFC 9112), STARTTLS preludes of the text protocols, the
PostgreSQL SSLRequest, and the mid-stream rule (a chain of two TLS record headers at
segment boundaries). A walker emits *intervals* of stream positions with a code: a kept
structure (a record header, a handshake, an HTTP head), TLS application data, or bytes the
audit does not judge. Everything outside them must be zero in a sanitized copy.

Later copies of a byte (retransmissions, ICMP quotes) are compared with the first copy:
where they differ, or where the first copy is no longer remembered, the frame is noted,
since a kept byte there is only allowed when it repeats the first copy (SPEC §6).

UDP payloads are judged datagram by datagram (`datagram`): DTLS records (RFC 9147 §4) and
the BOOTP/DHCP skeleton (RFC 2131).
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_right
from collections import deque

from ..config import AUDIT_REMEMBER_BYTES
from ..policy import HTTP_SENSITIVE_HEADERS, PRELUDE_VERBS, STARTTLS_COMMANDS
from .names import dns_regions, handshake_names

# Interval codes: (label, class) -- class "kept" (may equal the original), "appdata" (must be
# zero: TLS application data) or "open" (not judged: kept bytes leave the verdict undecided)
CODES = (
    ("tls-record-header", "kept"),
    ("tls-change-cipher-spec", "kept"),
    ("tls-alert", "kept"),
    ("tls-handshake", "kept"),
    ("tls-application-data", "appdata"),
    ("tls-heartbeat", "kept"),
    ("sslv2-hello", "kept"),
    ("sslv2-client-master-key", "kept"),
    ("sslv2-record-header", "kept"),
    ("http-head", "kept"),
    ("http-framing", "kept"),
    ("starttls-prelude", "kept"),
    ("starttls-command", "kept"),
    ("postgres-ssl-request", "kept"),
    ("dns-message-length", "kept"),
    ("dhcp-skeleton", "kept"),
    ("dns-structure", "kept"),  # --anon-dns: header, label lengths, types, TTLs, lengths
    ("dns-name", "kept"),  # --anon-dns with --keep dns-names
    ("dns-address", "rewritten"),  # --anon-dns: A/AAAA data, Client Subnet prefix (any value; searched for)
    ("prelude-not-read-by-the-audit (ldap, xmpp)", "open"),
    ("stream-past-the-audit-reassembly-buffer", "open"),
)
CODE = {label: code for code, (label, _) in enumerate(CODES)}
TLS_CODES = {20: 1, 21: 2, 22: 3, 23: 4, 24: 5}  # content type -> code of its body
TLS_HEADER, TLS_APPDATA = CODE["tls-record-header"], CODE["tls-application-data"]
KEPT_CODES = frozenset(c for c, (_, kind) in enumerate(CODES) if kind == "kept")
OPEN_CODES = frozenset(c for c, (_, kind) in enumerate(CODES) if kind == "open")
REWRITTEN_CODES = frozenset(c for c, (_, kind) in enumerate(CODES) if kind == "rewritten")
FOREVER = 1 << 62  # the end of an interval that runs to the end of the stream

TLS_HLEN = 5
TLS_MAX_LENGTH = (1 << 14) + 2048
DTLS_HLEN = 13
DTLS_VERSIONS = frozenset((0xFEFF, 0xFEFD, 0xFEFC))
POSTGRES_SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"
PENDING_MAX = 4 << 20  # out-of-order bytes held per direction before the gap is given up
HANDSHAKE_MAX = 1 << 20  # handshake bytes gathered per direction to read names from (--tls-names)
KEPT_MEMORY = 1 << 16  # first-copy bytes of kept intervals remembered per direction
KEPT_TAIL = 4096  # what a direction's first copies may take when all directions' take too much
PIECE_OVERHEAD = 16  # bytes a first-copy piece costs beside its own: its position and offset
HEAD_MAX = 64 * 1024  # an HTTP head longer than this is not followed
LINE_MAX = 4096  # a prelude line longer than this is content
MIDSTREAM_MAX = 1 << 20  # bytes kept while mid-stream candidates wait
MIDSTREAM_CANDIDATES = 16
TEXT_PORTS = {25: "smtp", 587: "smtp", 2525: "smtp", 110: "pop3", 143: "imap", 21: "ftp"}
TEXT_PORTS.update({119: "nntp", 433: "nntp", 4190: "sieve"})
DNS_PORT = 53
DHCP_PORTS = frozenset((67, 68))
UNREAD_PRELUDE_PORTS = frozenset((389, 3268, 5222, 5269))  # LDAP, XMPP
ACCEPT = {"smtp": (b"220",), "pop3": (b"+OK",), "imap": (b"OK",), "ftp": (b"234",), "nntp": (b"382",)}
ACCEPT["sieve"] = (b"OK",)
CONTENT_VERBS = frozenset((b"DATA", b"POST", b"IHAVE", b"TAKETHIS"))
STATUS = re.compile(rb"(?:\d{3}[ -]?|\+OK ?|-ERR ?|(?:\*|[A-Za-z0-9.]{1,32}) (?:OK|NO|BAD|BYE|PREAUTH|CAPABILITY) ?"
                    rb"|(?:OK|NO|BYE) ?)")  # fmt: skip
LITERAL = re.compile(rb"\{(\d{1,9})\+?\}\r?\n$")
REQUEST_LINE = re.compile(rb"([A-Z]{1,20}) [^ \r\n]+ HTTP/1\.[019]\r?\n")
STATUS_LINE = re.compile(rb"HTTP/1\.[019] (\d{3})(?: [^\r\n]*)?\r?\n")
FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):")
CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16}[ \t]*)(?:;[^\r\n]*)?\r?\n")  # digits and blanks kept


def tls_header(data, at: int) -> int:
    """The record length of a valid TLS/SSL 3.0 record header at `at`, else -1."""
    if at + TLS_HLEN > len(data):
        return -1
    kind, major, minor = data[at], data[at + 1], data[at + 2]
    length = (data[at + 3] << 8) | data[at + 4]
    if kind not in TLS_CODES or major != 3 or minor > 4 or length > TLS_MAX_LENGTH:
        return -1
    return length


def ssl2_hello(data, server: bool) -> int:
    """The length of a valid SSLv2 ClientHello (or ServerHello) record at the start, else -1."""
    if len(data) < 2 or not data[0] & 0x80:
        return -1
    length = ((data[0] & 0x7F) << 8) | data[1]
    body = bytes(data[2 : 2 + length])
    if len(body) < length:
        return -1
    if not server:  # msg type, version, cipher specs, session id and challenge lengths
        if length < 9 or body[0] != 1:
            return -1
        specs, session, challenge = (body[3] << 8) | body[4], (body[5] << 8) | body[6], (body[7] << 8) | body[8]
        ok = specs and not specs % 3 and session in (0, 16) and 16 <= challenge <= 32
        return 2 + length if ok and 9 + specs + session + challenge == length else -1
    if length < 11 or body[0] != 4:
        return -1
    certificate, specs, connection = (body[5] << 8) | body[6], (body[7] << 8) | body[8], (body[9] << 8) | body[10]
    ok = specs and not specs % 3 and 16 <= connection <= 32
    return 2 + length if ok and 11 + certificate + specs + connection == length else -1


class Intervals:
    """Stream positions with a code, in order: ``starts``, ``ends``, ``codes``."""

    __slots__ = ("starts", "ends", "codes")

    def __init__(self):
        self.starts, self.ends, self.codes = array("q"), array("q"), bytearray()

    def add(self, start: int, end: int, code: int) -> None:
        if start >= end:
            return
        if self.codes and self.codes[-1] == code and self.ends[-1] == start:
            self.ends[-1] = end
            return
        self.starts.append(start)
        self.ends.append(end)
        self.codes.append(code)

    def pieces(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """``(a, b, code)`` covering ``[start, end)``; code -1 where no interval is (must be zero)."""
        out, pos = [], start
        i = max(bisect_right(self.starts, start) - 1, 0)
        while pos < end and i < len(self.starts):
            a, b = self.starts[i], self.ends[i]
            if b <= pos:
                i += 1
                continue
            if a >= end:
                break
            if a > pos:
                out.append((pos, a, -1))
            out.append((max(a, pos), min(b, end), self.codes[i]))
            pos = min(b, end)
            i += 1
        if pos < end:
            out.append((pos, end, -1))
        return out

    def code_at(self, pos: int) -> int:
        i = bisect_right(self.starts, pos) - 1
        return self.codes[i] if i >= 0 and pos < self.ends[i] else -1


class FirstCopies:
    """The first copies of a direction's kept bytes, oldest first, dropped oldest first: pieces
    at stream positions, their bytes one after another in one buffer (a tuple and a `bytes` a
    piece took twice the memory of the bytes, most pieces being 5-byte TLS headers)."""

    __slots__ = ("positions", "offsets", "data", "first", "base", "size")

    def __init__(self):
        self.positions, self.offsets = array("q"), array("q")  # by piece; offsets count from `base`
        self.data = bytearray()
        self.first = 0  # the oldest piece still held
        self.base = 0  # the offset of ``data[0]``
        self.size = 0  # bytes held

    def __len__(self) -> int:
        return len(self.positions) - self.first

    def footprint(self) -> int:
        """What the pieces held take: their bytes and their entries in the two arrays."""
        return self.size + PIECE_OVERHEAD * len(self)

    def append(self, pos: int, piece) -> None:
        self.positions.append(pos)
        self.offsets.append(self.base + len(self.data))
        self.data += piece
        self.size += len(piece)

    def drop_oldest(self) -> None:
        i = self.first
        self.size -= self._end(i) - self.offsets[i]
        self.first = i = i + 1
        if i >= 64 and 2 * i >= len(self.positions):  # the dropped half goes in one move
            self.compact()

    def compact(self) -> None:
        """Give back the dropped pieces' memory now, the buffers no larger than what is held."""
        i = self.first
        cut = self.offsets[i] - self.base if i < len(self.positions) else len(self.data)
        self.positions, self.offsets, self.data = self.positions[i:], self.offsets[i:], self.data[cut:]
        self.base += cut
        self.first = 0

    def _end(self, i: int) -> int:
        return self.offsets[i + 1] if i + 1 < len(self.offsets) else self.base + len(self.data)

    def get(self, a: int, b: int):
        """The first copy of stream bytes ``[a, b)`` if held whole, else None."""
        out = bytearray()
        for i in range(self.first, len(self.positions)):
            p, start = self.positions[i], self.offsets[i] - self.base
            lo, hi = max(a + len(out), p), min(b, p + self._end(i) - self.offsets[i])
            if lo != a + len(out) or lo >= hi:
                continue
            out += self.data[start + lo - p : start + hi - p]
        return bytes(out) if len(out) == b - a else None


class Flow:
    """What the two directions of one connection tell each other."""

    __slots__ = ("keep", "dns", "answers", "methods", "asked", "tag", "answer", "ssl2", "client", "server")

    def __init__(self, keep: bool, dns=None, answers: set | None = None):
        self.keep = keep  # HTTP heads were kept (--keep http-headers)
        self.dns = dns  # --anon-dns: whether DNS names were kept (--keep dns-names); None without it
        self.answers = answers  # the reader's DNS answer addresses (--anon-dns)
        self.methods: deque | None = None  # HTTP request methods not answered yet (a deque once there are)
        self.asked = None  # what the client asked to switch to TLS: a prelude protocol, "postgres", "connect"
        self.tag = b""  # the IMAP tag of its STARTTLS command
        self.answer = None  # True/False once the server answered
        self.ssl2 = False  # the client opened with an SSLv2 ClientHello
        self.client = self.server = None  # the two Directions


class Direction:
    """One direction of a TCP connection: reassembly, the walker, the intervals it found."""

    __slots__ = (
        "index", "flow", "client", "port", "known", "base", "last", "next", "pending", "pending_bytes",
        "buf", "buf_pos", "skip", "segments", "walker", "intervals", "kept", "kept_cursor",
        "names", "handshake",
    )  # fmt: skip

    def __init__(self, index: int, flow: Flow, client: bool, port: int, names: set | None = None):
        self.index, self.flow, self.client, self.port = index, flow, client, port
        self.names = names  # the reader's TLS names, when they are audited (--tls-names zero)
        self.handshake = bytearray() if names is not None else None  # cleartext handshake bytes not yet read
        self.known = False  # the stream start is known (SYN seen)
        self.base = None  # raw sequence number of stream position 0
        self.last = (0, 0)  # (raw seq, position) of the last unwrapped segment
        self.next = 0  # the first position not yet delivered
        self.pending: list[tuple[int, bytes]] = []  # out-of-order bytes, not overlapping
        self.pending_bytes = 0
        self.buf = bytearray()  # delivered bytes the walker has not consumed
        self.buf_pos = 0
        self.skip = 0  # bytes up to this position are consumed as they arrive
        self.segments: list[int] = []  # delivered segment starts at or after buf_pos
        self.walker = None
        self.intervals = Intervals()
        self.kept = FirstCopies()  # of kept intervals, the last KEPT_MEMORY bytes
        self.kept_cursor = 0  # the first interval whose bytes are not all remembered

    # -- sequence space ------------------------------------------------------------------

    def position(self, seq: int) -> int:
        raw, pos = self.last
        return pos + ((seq - raw + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)

    def start(self, isn: int, known: bool) -> None:
        self.base, self.known = isn, known
        self.last = (isn, 0)
        self.walker = Start() if known else MidStream()

    # -- bytes in ------------------------------------------------------------------------

    def segment(self, pos: int, data: bytes) -> list[tuple[int, int, str]]:
        """Take a segment at stream position `pos`; return how its already-seen parts compare
        with the first copy: ``(start, end, "differs" | "unknown")``."""
        notes = []
        end = pos + len(data)
        if pos < self.next:  # a later copy of bytes already delivered
            notes += self.compare(pos, data[: min(end, self.next) - pos])
            if end <= self.next:
                return notes
            data, pos = data[self.next - pos :], self.next
        for p, held in self.pending:  # later copies of bytes held out of order
            a, b = max(p, pos), min(p + len(held), end)
            if a < b and held[a - p : b - p] != data[a - pos : b - pos]:
                notes.append((a, b, "differs"))
        if pos > self.next:
            self._hold(pos, data)
        else:
            self._deliver(pos, data)
            self._pull()
        return notes

    def compare(self, pos: int, data) -> list[tuple[int, int, str]]:
        """Where `data` at `pos` (all before `next`) differs from, or cannot be compared with,
        the first copy; only positions in kept intervals or not consumed yet matter."""
        notes, end = [], pos + len(data)
        if end > self.buf_pos:  # delivered, not consumed yet
            a = max(pos, self.buf_pos)
            if bytes(self.buf[a - self.buf_pos : end - self.buf_pos]) != bytes(data[a - pos :]):
                notes.append((a, end, "differs"))
            end = a
        for a, b, code in self.intervals.pieces(pos, end) if pos < end else ():
            if code not in KEPT_CODES:
                continue
            first = self.kept.get(a, b)
            if first is None:
                notes.append((a, b, "unknown"))
            elif first != bytes(data[a - pos : b - pos]):
                notes.append((a, b, "differs"))
        return notes

    def _hold(self, pos: int, data: bytes) -> None:
        end, parts = pos + len(data), []
        cuts = sorted((p, p + len(h)) for p, h in self.pending if p < end and p + len(h) > pos)
        at = pos
        for a, b in cuts:  # store only what no held segment covers: the first copy wins
            if a > at:
                parts.append((at, data[at - pos : a - pos]))
            at = max(at, b)
        if at < end:
            parts.append((at, data[at - pos :]))
        for p, part in parts:
            self.pending.append((p, bytes(part)))
            self.pending_bytes += len(part)
        self.pending.sort()
        if self.pending_bytes > PENDING_MAX:
            self.gap()

    def _pull(self) -> None:
        while self.pending and self.pending[0][0] <= self.next:
            p, held = self.pending.pop(0)
            self.pending_bytes -= len(held)
            if p + len(held) > self.next:
                self._deliver(self.next, held[self.next - p :])

    def gap(self) -> None:
        """Give up the bytes missing before the first held segment: read on from there, mid-stream."""
        if not self.pending:
            return
        self.buf, self.buf_pos, self.segments = bytearray(), self.pending[0][0], []
        self.next = self.skip = self.buf_pos
        if self.walker is not None:
            self.walker = MidStream()
        self._pull()

    def _deliver(self, pos: int, data) -> None:
        self.next = pos + len(data)
        if self.walker is None:  # nothing more to find: consume on arrival
            self.buf_pos = self.next
            return
        if self.skip > pos:
            take = min(self.skip - pos, len(data))
            self._remember(pos, data[:take])
            data, pos = data[take:], pos + take
            self.buf_pos = pos
            if not data:
                return
        self.segments.append(pos)
        self.buf += data
        while self.walker is not None and self.buf and self.walker.step(self):
            pass
        if self.walker is None:
            self.consume(len(self.buf))

    # -- what walkers call -----------------------------------------------------------------

    def emit(self, start: int, end: int, code: int) -> None:
        self.intervals.add(start, end, code)

    def consume(self, n: int) -> None:
        """The walker is done with the first `n` bytes of `buf`."""
        self._remember(self.buf_pos, self.buf[:n])
        del self.buf[:n]
        self.buf_pos += n
        i = bisect_right(self.segments, self.buf_pos)
        if i:
            keep_start = self.segments[i - 1] == self.buf_pos
            del self.segments[: i - 1 if keep_start else i]

    def skip_to(self, end: int) -> None:
        """Consume everything before stream position `end`, now or as it arrives."""
        n = min(end - self.buf_pos, len(self.buf))
        self.consume(n)
        self.skip = max(self.skip, end)

    def switch(self, walker) -> bool:
        self.walker = walker
        return True

    def handshake_record(self, body: bytes) -> None:
        """A cleartext handshake record's body: read the names of the messages it completes."""
        hs = self.handshake
        hs += body
        while len(hs) >= 4:
            end = 4 + int.from_bytes(hs[1:4], "big")
            if end > len(hs):
                if len(hs) > HANDSHAKE_MAX:
                    self.handshake = None
                return
            self.names |= handshake_names(hs[0], bytes(hs[4:end]))
            del hs[:end]

    def _remember(self, pos: int, data) -> None:
        """Keep the first copy of bytes in kept intervals (the last KEPT_MEMORY of them)."""
        iv = self.intervals
        end = pos + len(data)
        i = self.kept_cursor
        while i < len(iv.starts) and iv.starts[i] < end:
            a, b = max(iv.starts[i], pos), min(iv.ends[i], end)
            if a < b and iv.codes[i] in KEPT_CODES:
                self.kept.append(a, data[a - pos : b - pos])
            if iv.ends[i] >= end:  # it may grow yet: the next bytes start from `end`
                break
            i += 1
        self.kept_cursor = i
        while self.kept.size > KEPT_MEMORY and len(self.kept) > 1:
            self.kept.drop_oldest()


# -- walkers: step(d) -> True if it did something (False: it needs more bytes) ------------


class Start:
    """A direction at its known start: which protocol, from its first bytes (SPEC §6)."""

    def __init__(self, tls_only: bool = False):
        self.tls_only = tls_only

    def step(self, d: Direction) -> bool:
        buf, flow = d.buf, d.flow
        if tls_header(buf, 0) >= 0:
            return d.switch(Tls())
        if len(buf) < TLS_HLEN and not self.tls_only:
            return False
        if self.tls_only:
            return d.switch(None) if len(buf) >= TLS_HLEN else False
        if d.client and buf[:1] and buf[0] & 0x80:
            size = ssl2_hello(buf, False)
            if size > 0:
                flow.ssl2 = True
                d.emit(d.buf_pos, d.buf_pos + size, CODE["sslv2-hello"])
                d.consume(size)
                return d.switch(Ssl2(master_key=True))
            return False if len(buf) < 2 + (((buf[0] & 0x7F) << 8) | buf[1]) else d.switch(None)
        if not d.client and flow.ssl2:
            size = ssl2_hello(buf, True)
            if size > 0:
                d.emit(d.buf_pos, d.buf_pos + size, CODE["sslv2-hello"])
                d.consume(size)
                return d.switch(Ssl2())
        if d.client and bytes(buf[:8]) == POSTGRES_SSL_REQUEST:
            d.emit(d.buf_pos, d.buf_pos + 8, CODE["postgres-ssl-request"])
            d.consume(8)
            flow.asked = "postgres"
            return d.switch(Await(None))
        if not d.client and flow.asked == "postgres" and buf[:1] in (b"S", b"N"):
            flow.answer = buf[:1] == b"S"
            d.emit(d.buf_pos, d.buf_pos + 1, CODE["postgres-ssl-request"])
            d.consume(1)
            return d.switch(Start(tls_only=True) if flow.answer else None)
        if d.port == DNS_PORT:
            return d.switch(Dns())
        if REQUEST_LINE.match(buf) or STATUS_LINE.match(buf):
            return d.switch(Http())
        if buf.find(b"\n") < 0 and len(buf) < HEAD_MAX and buf[:1].isupper():
            return False  # may yet be an HTTP start line
        if d.port in TEXT_PORTS:
            return d.switch(Prelude(TEXT_PORTS[d.port]))
        if d.port in UNREAD_PRELUDE_PORTS:
            d.emit(d.buf_pos, FOREVER, CODE["prelude-not-read-by-the-audit (ldap, xmpp)"])
        return d.switch(None)


class Dns:
    """DNS over TCP (RFC 1035 §4.2.2): each message's 2-byte length kept, the message not; with
    ``--anon-dns`` (`Flow.dns`) its structure too (and its names with ``--keep dns-names``),
    and its addresses may change (the original answers are searched for everywhere)."""

    def step(self, d: Direction) -> bool:
        if len(d.buf) < 2:
            return False
        at, size, dns = d.buf_pos, (d.buf[0] << 8) | d.buf[1], d.flow.dns
        if dns is not None and len(d.buf) < 2 + size:
            return False
        d.emit(at, at + 2, CODE["dns-message-length"])
        if dns is not None:
            structure, names, addresses, whole = dns_regions(d.buf, 2, 2 + size)
            d.flow.answers.update(bytes(d.buf[a:b]) for a, b in addresses if b - a in (4, 16))
            if not whole:  # not one whole DNS message: nothing of it may be kept
                structure = names = addresses = []
            regions = [(a, b, CODE["dns-structure"]) for a, b in structure]
            regions += [(a, b, CODE["dns-address"]) for a, b in addresses]
            regions += [(a, b, CODE["dns-name"]) for a, b in names] if dns else []
            for a, b, code in sorted(regions):
                d.emit(at + a, at + b, code)
        d.skip_to(at + 2 + size)
        return True


class Tls:
    """TLS records in sequence: headers and non-application bodies kept, application data not."""

    def step(self, d: Direction) -> bool:
        length = tls_header(d.buf, 0)
        if length < 0:
            if len(d.buf) < TLS_HLEN:
                return False
            return d.switch(MidStream())  # not a record header: resynchronise or stay zero
        at, kind = d.buf_pos, d.buf[0]
        if d.handshake is not None and kind == 20:
            d.handshake = None  # ChangeCipherSpec: the handshake goes on encrypted
        elif d.handshake is not None and kind == 22:
            if len(d.buf) < TLS_HLEN + length:
                return False  # read whole, for the names in it
            d.handshake_record(bytes(d.buf[TLS_HLEN : TLS_HLEN + length]))
        d.emit(at, at + TLS_HLEN, TLS_HEADER)
        d.emit(at + TLS_HLEN, at + TLS_HLEN + length, TLS_CODES[kind])
        d.skip_to(at + TLS_HLEN + length)
        return True


class Ssl2:
    """SSLv2 records after the hellos: the 2- or 3-byte headers kept, the bodies not; but the
    client's CLIENT-MASTER-KEY, in the clear, kept when it has no CLEAR-KEY-DATA (which is
    part of the master key)."""

    def __init__(self, master_key: bool = False):
        self.master_key = master_key  # the client's next record may be its master key

    def step(self, d: Direction) -> bool:
        buf = d.buf
        size = 2 if buf[0] & 0x80 else 3
        if len(buf) < max(size, 8 if self.master_key else 0):
            return False
        length = ((buf[0] & (0x7F if size == 2 else 0x3F)) << 8) | buf[1]
        d.emit(d.buf_pos, d.buf_pos + size, CODE["sslv2-record-header"])
        if self.master_key and size == 2 and buf[2] == 2 and buf[6:8] == b"\0\0":
            d.emit(d.buf_pos + size, d.buf_pos + size + length, CODE["sslv2-client-master-key"])
        self.master_key = False
        d.skip_to(d.buf_pos + size + length)
        return True


class MidStream:
    """A stream joined mid-way: TLS from the first chain of two valid record headers, each at
    the start of a segment, the first record ending where the segment of the second begins;
    with ``--keep http-headers`` also an HTTP message head, complete and valid, at the start
    of a segment. Bytes before every candidate are zero."""

    def step(self, d: Direction) -> bool:
        buf, base = d.buf, d.buf_pos
        buf_end, starts = base + len(buf), set(d.segments)
        waiting = []
        for s in d.segments:
            at = s - base
            if at + TLS_HLEN > len(buf):
                waiting.append(s)  # a segment start whose header is still to come
                continue
            length = tls_header(buf, at)
            if length >= 0:
                end = s + TLS_HLEN + length
                if end in starts and end + TLS_HLEN <= buf_end:
                    if tls_header(buf, end - base) >= 0:
                        d.consume(at)
                        return d.switch(Tls())
                elif end >= buf_end or end in starts:
                    waiting.append(s)  # its record, or the header after it, is still to come
            elif d.flow.keep and len(waiting) < MIDSTREAM_CANDIDATES:
                head = head_end(buf, at)
                if head:
                    d.consume(at)
                    return d.switch(Http())
                if head is None:
                    waiting.append(s)
            if len(waiting) >= MIDSTREAM_CANDIDATES:
                break
        if not waiting or buf_end - waiting[0] > MIDSTREAM_MAX:
            d.consume(len(buf))
        else:
            d.consume(waiting[0] - base)
        return False


class Await:
    """A client direction that asked for TLS: its next bytes wait for the server's answer."""

    def __init__(self, refused):
        self.refused = refused

    def step(self, d: Direction) -> bool:
        if d.flow.answer is None:
            return False
        accepted, d.flow.answer, d.flow.asked = d.flow.answer, None, None
        return d.switch(Start(tls_only=True) if accepted else self.refused)


def head_end(buf, at: int):
    """The end of a complete, valid HTTP message head at `at`; 0 if there is none; None if
    more bytes may complete it."""
    if not (REQUEST_LINE.match(buf, at) or STATUS_LINE.match(buf, at)):
        if len(buf) - at < 16 and re.match(rb"[A-Z]+( |$)|HTTP/?1?\.?$", bytes(buf[at : at + 16])):
            return None
        return 0
    pos = buf.find(b"\n", at) + 1
    while True:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return None if len(buf) - at < HEAD_MAX else 0
        line = bytes(buf[pos : nl + 1])
        if line in (b"\r\n", b"\n"):
            return nl + 1
        if not FIELD.match(line) and line[:1] not in (b" ", b"\t"):
            return 0
        pos = nl + 1


class Http:
    """HTTP/1.x messages (RFC 9112): heads kept with ``--keep http-headers`` (but the values
    of sensitive fields), a CONNECT exchange's framing always; bodies never."""

    def step(self, d: Direction) -> bool:
        end = head_end(d.buf, 0)
        if end is None:
            return False
        if not end:
            return d.switch(None)
        lines = bytes(d.buf[:end]).splitlines(keepends=True)
        flow = d.flow
        request = REQUEST_LINE.match(lines[0])
        if request:
            method, code = request.group(1), 0
            if flow.methods is None:
                flow.methods = deque()
            flow.methods.append(method)
        else:
            code = int(STATUS_LINE.match(lines[0]).group(1))
            method = flow.methods.popleft() if flow.methods and code >= 200 else b""
        connect = method == b"CONNECT"
        self._head(d, lines, flow.keep, connect)
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip().lower()
        d.consume(end)
        if connect and request:
            flow.asked = "connect"
            return d.switch(Await(self))  # the client's next bytes depend on the answer
        if connect:
            flow.answer = 200 <= code < 300
            if flow.answer:
                return d.switch(Start(tls_only=True))
        if code == 101:  # another protocol takes over: nothing more is read
            if flow.client is not None:
                flow.client.walker = None
            return d.switch(None)
        if method == b"HEAD" or 100 <= code < 200 or code in (204, 304):
            return True
        if b"chunked" in fields.get(b"transfer-encoding", b""):
            return d.switch(Chunked(self))
        length = fields.get(b"content-length", b"")
        if length.isdigit():
            d.skip_to(d.buf_pos + int(length))
            return True
        return True if request else d.switch(None)  # a response without a length runs to the close

    @staticmethod
    def _head(d: Direction, lines: list, keep: bool, connect: bool) -> None:
        """Intervals of a message head: whole lines with `keep` (sensitive values left out),
        else for a CONNECT exchange its request line or status code, field names, line ends."""
        if not keep and not connect:
            return
        at, code = d.buf_pos, CODE["http-head" if keep else "http-framing"]
        for i, line in enumerate(lines):
            eol = 2 if line.endswith(b"\r\n") else 1
            name = FIELD.match(line) if i else None
            sensitive = name is not None and name.group(1).lower().decode() in HTTP_SENSITIVE_HEADERS
            if keep and not sensitive or i == 0 and REQUEST_LINE.match(line) or len(line) == eol:
                d.emit(at, at + len(line), code)
            else:
                start = min(13, len(line) - eol) if i == 0 else name.end() if name is not None else 0
                d.emit(at, at + start, code)
                d.emit(at + len(line) - eol, at + len(line), code)
            at += len(line)


class Chunked:
    """A chunked body: chunk-size lines kept (digits and line end) with the heads, data not."""

    def __init__(self, http: Http):
        self.http, self.trailers = http, False

    def step(self, d: Direction) -> bool:
        buf = d.buf
        nl = buf.find(b"\n")
        if nl < 0:
            return False if len(buf) < LINE_MAX else d.switch(None)
        line = bytes(buf[: nl + 1])
        at, keep = d.buf_pos, d.flow.keep
        framing = CODE["http-framing"]
        if self.trailers:
            if keep and (line.strip() == b"" or FIELD.match(line)):
                d.emit(at, at + len(line), framing)
            d.consume(len(line))
            return d.switch(self.http) if line.strip() == b"" else True
        size = CHUNK_SIZE.match(line)
        if size is None:
            if line.strip() != b"":
                return d.switch(None)
            if keep:  # the line end after a chunk's data
                d.emit(at, at + len(line), framing)
            d.consume(len(line))
            return True
        digits = size.group(1)
        if keep:
            d.emit(at, at + len(digits), framing)
            d.emit(at + len(line) - (2 if line.endswith(b"\r\n") else 1), at + len(line), framing)
        d.consume(len(line))
        count = int(digits.strip(), 16)
        if count == 0:
            self.trailers = True
        else:
            d.skip_to(d.buf_pos + count)
        return True


class Prelude:
    """A text protocol before STARTTLS: status tokens, known command verbs with their spaces,
    line ends, and the STARTTLS command line; TLS after a positive reply."""

    def __init__(self, protocol: str):
        self.protocol = protocol
        self.content = False  # inside dot-terminated content (SMTP DATA, NNTP POST)
        self.skip = 0  # literal bytes to come

    def step(self, d: Direction) -> bool:
        buf = d.buf
        if self.skip:
            take = min(self.skip, len(buf))
            self.skip -= take
            d.consume(take)
            return True
        nl = buf.find(b"\n")
        if nl < 0:
            if len(buf) > LINE_MAX:
                d.consume(len(buf))
            return False
        line = bytes(buf[: nl + 1])
        at = d.buf_pos
        after = self._client(d, line, at) if d.client else self._server(d, line, at)
        d.consume(len(line))
        if after is not None:
            return d.switch(after)
        return True

    def _client(self, d: Direction, line: bytes, at: int):
        prelude, eol = CODE["starttls-prelude"], 2 if line.endswith(b"\r\n") else 1
        body = line[: len(line) - eol]
        if self.content:
            if body == b".":
                self.content = False
                d.emit(at, at + len(line), prelude)
            return None
        words = body.split(b" ")
        tagged = self.protocol == "imap"
        verb_at = len(words[0]) + 1 if tagged and len(words) > 1 else 0
        command = body[verb_at:].upper()
        if command in STARTTLS_COMMANDS or (tagged and command == b"STARTTLS" and verb_at):
            d.emit(at, at + len(line), CODE["starttls-command"])
            d.flow.asked, d.flow.tag = self.protocol, words[0] if tagged else b""
            return Await(self)
        verb = words[1] if tagged and len(words) > 1 else words[0]
        if verb.upper() in PRELUDE_VERBS and (not tagged or words[0].isalnum()):
            d.emit(at, at + verb_at + len(verb), prelude)
            for i in range(verb_at + len(verb), len(body)):
                if body[i] == 0x20:
                    d.emit(at + i, at + i + 1, prelude)
            self.content = verb.upper() in CONTENT_VERBS
        d.emit(at + len(line) - eol, at + len(line), prelude)
        literal = LITERAL.search(line) if self.protocol in ("imap", "sieve") else None
        if literal:
            self.skip = int(literal.group(1))
        return None

    def _server(self, d: Direction, line: bytes, at: int):
        prelude, eol = CODE["starttls-prelude"], 2 if line.endswith(b"\r\n") else 1
        token = STATUS.match(line.replace(b"\0", b" "))
        if token:
            d.emit(at, at + token.end(), prelude)
        d.emit(at + len(line) - eol, at + len(line), prelude)
        flow = d.flow
        if flow.asked != self.protocol or not token:
            return None
        status = token.group(0).strip()
        if self.protocol == "imap":
            tag, _, status = status.partition(b" ")
            if tag != flow.tag:
                return None  # untagged, or another command's reply
        elif line[3:4] == b"-":
            return None  # not the last line of a multi-line reply
        flow.answer = status.upper().startswith(ACCEPT[self.protocol])
        return Start(tls_only=True) if flow.answer else None


# -- the pass ------------------------------------------------------------------------------


class StreamReader:
    """Pass 1 over the original's TCP segments and ICMP-quoted segments, in capture order.

    After `finish`, `where` gives a frame's direction and stream position, `notes` where
    its bytes differ from the first copy (or cannot be compared), and `intervals` each
    direction's `Intervals`.

    The first copies of all directions together take at most `remember_bytes`. Past it the
    direction that added to its own the longest ago keeps only its last pieces, `KEPT_TAIL`
    bytes of footprint (a retransmission or an ICMP quote mostly repeats a stream's last
    bytes); once every direction is down to that, the least recent one forgets its own. A
    later copy of forgotten bytes is noted as one that cannot be compared (undecided where it
    was kept).
    """

    def __init__(
        self, http_headers: bool, tls_names: bool = False, dns=None, remember_bytes: int = AUDIT_REMEMBER_BYTES
    ):
        self.http_headers = http_headers
        self.remember_bytes = remember_bytes
        self.remembered = 0  # what the first copies of all directions take (`FirstCopies.footprint`)
        # the directions holding first copies, least recent first: all, and those holding more than a tail
        self.recent: dict[int, Direction] = {}
        self.untrimmed: dict[int, Direction] = {}
        self.trimmed = self.forgotten = 0  # times a direction was cut to its tail, and made to forget all
        self.dns = dns  # as `Flow.dns`
        self.answers: set[bytes] = set()  # addresses DNS over TCP answered (--anon-dns): identifiers
        self.names: set | None = set() if tls_names else None  # names TLS handshakes show (bytes)
        self.current: dict = {}  # (src, dst, sport, dport) -> Direction
        self.directions: list[Direction] = []
        self.intervals: list[Intervals] = []  # by direction, once `finish` let the directions go
        # per TCP frame with a payload, in file order: its number, direction and stream position
        self._frames, self._directions, self._positions = array("q"), array("q"), array("q")
        self.quotes: dict[int, tuple[int, int]] = {}  # frame -> the same for its quoted payload
        self.notes: dict[tuple[int, bool], list] = {}  # (frame, quoted) -> [(start, end, "differs"|"unknown")]

    def segment(self, frame: int, key: tuple, seq: int, flags: int, payload) -> None:
        syn, ack = flags & 0x02, flags & 0x10
        d = self.current.get(key)
        if syn:
            if d is not None and d.base == (seq + 1) & 0xFFFFFFFF:
                return  # a retransmitted SYN
            d = self._open(key, not ack)
            d.start((seq + 1) & 0xFFFFFFFF, True)
            if not payload:
                return
        if not payload:
            return
        if d is None:
            d = self._open(key, None)
            d.start(seq, False)
        pos = 0 if syn else d.position(seq)
        if pos >= d.last[1]:
            d.last = (seq, pos)
        self._frames.append(frame)
        self._directions.append(d.index)
        self._positions.append(pos)
        before = d.kept.footprint()
        notes = d.segment(pos, bytes(payload))
        if notes:
            self.notes[(frame, False)] = notes
        after = d.kept.footprint()
        if after != before:
            self._remembered(d, after - before)

    def _remembered(self, d: Direction, grown: int) -> None:
        """Direction `d`'s first copies changed by `grown` bytes: past `remember_bytes` the least
        recent directions are cut to their tails, then forget them (`d` too, last)."""
        self.remembered += grown
        self.recent.pop(d.index, None)
        self.untrimmed.pop(d.index, None)
        self.recent[d.index] = d
        if d.kept.footprint() > KEPT_TAIL:
            self.untrimmed[d.index] = d
        while self.remembered > self.remember_bytes:
            if self.untrimmed:
                held = self.untrimmed.pop(next(iter(self.untrimmed))).kept
                before = held.footprint()
                while held.footprint() > KEPT_TAIL and len(held) > 1:
                    held.drop_oldest()
                held.compact()
                self.remembered -= before - held.footprint()
                self.trimmed += 1
            else:
                oldest = self.recent.pop(next(iter(self.recent)))
                self.remembered -= oldest.kept.footprint()
                oldest.kept = FirstCopies()
                self.forgotten += 1

    def where(self, frame: int) -> tuple[int, int] | None:
        """``(direction index, stream position)`` of frame `frame`'s TCP payload, or None."""
        i = bisect_right(self._frames, frame) - 1
        return (self._directions[i], self._positions[i]) if i >= 0 and self._frames[i] == frame else None

    def quote(self, frame: int, key: tuple, seq: int, payload) -> None:
        d = self.current.get(key)
        if d is None:
            self.quotes[frame] = (-1, 0)  # no stream: every quoted byte must be zero
            return
        pos = d.position(seq)
        self.quotes[frame] = (d.index, pos)
        end = pos + len(payload)
        notes = d.compare(pos, payload[: max(0, min(end, d.next) - pos)]) if pos < d.next else []
        if end > d.next:
            notes.append((max(pos, d.next), end, "unknown"))
        if notes:
            self.notes[(frame, True)] = notes

    def _open(self, key: tuple, client) -> Direction:
        """A new direction; `client` from its SYN, or None without one."""
        peer = self.current.get((key[1], key[0], key[3], key[2]))
        if client is None:  # no SYN: the side with the lower port serves
            client = key[3] < key[2] if peer is None else not peer.client
        joins = peer is not None and client is False and peer.client
        flow = (
            peer.flow
            if joins or (peer is not None and client is None)
            else Flow(self.http_headers, self.dns, self.answers)
        )
        port = key[3] if client else key[2]
        d = Direction(len(self.directions), flow, client, port, self.names)
        if client:
            flow.client = d
        else:
            flow.server = d
        self.current[key] = d
        self.directions.append(d)
        return d

    def finish(self) -> None:
        """The capture ended: bytes still held out of order are read past their gaps, and the
        directions give way to their intervals, all pass 2 reads (the first copies they
        remember, their buffers and walkers took more memory than the intervals)."""
        for d in self.directions:
            while d.pending:
                d.gap()
        self.intervals = [d.intervals for d in self.directions]
        self.directions, self.current = [], {}


def datagram(data, start: int, end: int, ports: tuple[int, int], dns=None) -> list[tuple[int, int, int]]:
    """``(a, b, code)`` of the kept and application-data parts of a UDP payload: DTLS records
    (RFC 9147 §4) when they fill the datagram exactly, a BOOTP/DHCP skeleton, or with `dns`
    (``--anon-dns``: whether names were kept) a DNS message's structure and addresses."""
    if DHCP_PORTS.intersection(ports):
        return _dhcp(data, start, end)
    if dns is not None and DNS_PORT in ports:
        structure, names, addresses, whole = dns_regions(data, start, end)
        if not whole:  # not one whole DNS message: nothing of it may be kept
            return []
        out = [(a, b, CODE["dns-structure"]) for a, b in structure]
        out += [(a, b, CODE["dns-address"]) for a, b in addresses]
        out += [(a, b, CODE["dns-name"]) for a, b in names] if dns else []
        return sorted(p for p in out if p[0] < p[1])
    out, pos = [], start
    while pos < end:
        if pos + DTLS_HLEN > end:
            return []
        kind, version = data[pos], (data[pos + 1] << 8) | data[pos + 2]
        length = (data[pos + 11] << 8) | data[pos + 12]
        if kind not in TLS_CODES or version not in DTLS_VERSIONS or pos + DTLS_HLEN + length > end:
            return []
        out.append((pos, pos + DTLS_HLEN, TLS_HEADER))
        out.append((pos + DTLS_HLEN, pos + DTLS_HLEN + length, TLS_CODES[kind]))
        pos += DTLS_HLEN + length
    return out


def _dhcp(data, start: int, end: int) -> list[tuple[int, int, int]]:
    """A BOOTP message (RFC 951, RFC 2131 §2): op, htype, hlen, hops, xid, secs and flags; the
    magic cookie; each option's code and length, and the value of the message type (53)
    (RFC 2132). Addresses, chaddr, sname, file and other option values are not kept."""
    skeleton = CODE["dhcp-skeleton"]
    if end - start < 240 or bytes(data[start + 236 : start + 240]) != b"\x63\x82\x53\x63":
        return []
    out, pos = [(start, start + 12, skeleton), (start + 236, start + 240, skeleton)], start + 240
    while pos < end and data[pos] != 255:
        if data[pos] == 0:
            out.append((pos, pos + 1, skeleton))
            pos += 1
            continue
        if pos + 2 > end or pos + 2 + data[pos + 1] > end:
            return out
        value = 2 + data[pos + 1] if data[pos] == 53 else 2
        out.append((pos, pos + value, skeleton))
        pos += 2 + data[pos + 1]
    if pos < end:
        out.append((pos, pos + 1, skeleton))  # the end option
    return out
