"""What the audit allows to be non-zero in a TCP direction of the sanitized file (SPEC §6).

Each walker reads in-order stream bytes of the *sanitized* file and marks, on its
`~pktmask_nb.audit.stream.Direction`, the ranges that may be non-zero (`allow`) and the TLS
application-data bodies (`app`); everything else must be zero. ``feed`` returns how many
trailing bytes it cannot judge yet. Zeros always pass: where mask gave up (fail closed),
the audit reads zeros as the end of the structure, and requires zeros from there on.

This is written from the specification, not from the mask stage: TLS records from the
stream start (type 20–24, version 3.x, length ≤ 2^14 + 2048; type 23 bodies zero, other
records kept), an SSLv2 hello and the SSLv2 records after it, a PostgreSQL SSLRequest,
cleartext preludes before STARTTLS (`PreludeWalk`), HTTP/1.x with ``http_headers``.

Limits: structure is judged from the sanitized file alone, so a leaked byte string that
itself forms a valid record header where a record starts reads as structure; a prelude
masked before (a direction whose first bytes are zeros and line ends) may switch to TLS
without STARTTLS in mask, and is reported.
"""

from __future__ import annotations

import re

from ..policy import IMAP_STATUS, PRELUDE_MAX_BYTES, PRELUDE_VERBS, STARTTLS_COMMANDS, STARTTLS_PORTS
from ..proto.http import HTTP_DETECT_LEN, looks_like_http

TLS_HLEN = 5
TLS_MAX_LEN = 2**14 + 2048  # SPEC §6
TLS_HANDSHAKE, TLS_APP_DATA = 22, 23
SSL2_HELLO_TYPES = frozenset((1, 2, 4))  # client hello, client master key, server hello
SSL2_ENCRYPTING = frozenset((2, 4))  # after these, the direction's SSLv2 records are encrypted
PG_SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"  # PostgreSQL: length 8, code 80877103
PG_SSL_YES = 0x53  # "S"
PG_SSL_REQUESTED = 2  # `flow.starttls` after an SSLRequest (True after a STARTTLS command line)
STARTTLS_LINE_MAX = 128
STATUS_TOKEN = re.compile(rb"\d{3}[ -]?|\+OK|-ERR|[^ \0]{0,16} (?:" + b"|".join(IMAP_STATUS) + rb")", re.IGNORECASE)


def tls_header(data, pos: int) -> tuple[int, int]:
    """``(type, length)`` of a valid TLS/SSL 3.0 record header at `pos` (5 bytes there), else ``(-1, 0)``."""
    kind, length = data[pos], (data[pos + 3] << 8) | data[pos + 4]
    if 20 <= kind <= 24 and data[pos + 1] == 3 and data[pos + 2] <= 4 and length <= TLS_MAX_LEN:
        return kind, length
    return -1, 0


def ssl2_hello(data) -> bool:
    """An SSLv2-format ClientHello or ServerHello at the start of `data` (5 bytes there)."""
    if not data[0] & 0x80:
        return False
    length = ((data[0] & 0x7F) << 8) | data[1]
    if data[2] == 1:
        return data[3] in (0, 3) and length >= 9
    return data[2] == 4 and length >= 11


class TlsWalk:
    """TLS records (and SSLv2 records after an SSLv2 hello) from a record boundary."""

    __slots__ = ("record_end", "body", "ssl2")

    def __init__(self, ssl2: bool = False):
        self.record_end = 0
        self.body = None  # the current record's body: Direction.allow, Direction.app or None (zero)
        self.ssl2 = 1 if ssl2 else 0  # 0 no SSLv2, 1 SSLv2 in the clear, 2 SSLv2 encrypted

    def feed(self, d, data, offset: int) -> int:
        n, pos = len(data), 0
        while True:
            if self.record_end > offset + pos:
                stop = min(self.record_end, offset + n)
                if self.body is not None:
                    self.body(offset + pos, stop)
                pos = stop - offset
            left = n - pos
            if left < TLS_HLEN and not (self.ssl2 and left >= 3):
                return left
            if self.ssl2 and (data[pos] & 0x80 or left < TLS_HLEN or tls_header(data, pos)[0] < 0):
                header, length = self._ssl2(d, data, pos)
            else:
                kind, length = tls_header(data, pos)
                header = TLS_HLEN if kind > 0 else -1
                self.body = d.app if kind == TLS_APP_DATA else d.allow
            if header < 0:
                return d.zero_rest()
            d.allow(offset + pos, offset + pos + header)
            self.record_end = offset + pos + header + length
            pos += header

    def _ssl2(self, d, data, pos: int) -> tuple[int, int]:
        """Header and body length of an SSLv2 record (header -1 if invalid); sets the body's fate."""
        if not data[pos] & 0x80:  # 3-byte header: encrypted records only
            length = ((data[pos] & 0x3F) << 8) | data[pos + 1]
            self.body = None
            return (3 if length and self.ssl2 == 2 else -1), length
        length, message = ((data[pos] & 0x7F) << 8) | data[pos + 1], data[pos + 2]
        self.body = d.allow if self.ssl2 == 1 and message in SSL2_HELLO_TYPES else None
        if message in SSL2_ENCRYPTING:
            self.ssl2 = 2
        return (2 if length else -1), length


class DetectWalk:
    """The start of a direction (or of a tunnel): which walker owns the rest."""

    __slots__ = ("http",)

    def __init__(self, http: bool):
        self.http = http

    def feed(self, d, data, offset: int) -> int:
        n, first = len(data), data[0]
        if 20 <= first <= 24 or first & 0x80:
            if n < TLS_HLEN:
                return n
            if tls_header(data, 0)[0] > 0:
                return d.switch(TlsWalk(), data, offset)
            return d.switch(TlsWalk(ssl2=True), data, offset) if ssl2_hello(data) else d.zero_rest()
        if first == 0 and d.client and PG_SSL_REQUEST.startswith(bytes(data[:8])) and n < 8:
            return n
        if d.client and data[:8] == PG_SSL_REQUEST:
            d.flow.starttls = PG_SSL_REQUESTED
            return self._skip(d, data, offset, 8)
        if first == PG_SSL_YES and not d.client:
            if d.flow.starttls == PG_SSL_REQUESTED:
                return self._skip(d, data, offset, 1)
            if not d.peer_known():  # the SSLRequest it answers may be in the client's unaudited bytes
                return d.give_up(offset)
        if self.http:
            found = looks_like_http(data)
            if found is None and n < HTTP_DETECT_LEN:
                return n
            if found:
                from .http import HttpWalk

                return d.switch(HttpWalk(), data, offset)
        return d.switch(PreludeWalk(d.flow.server_port in STARTTLS_PORTS), data, offset)

    def _skip(self, d, data, offset: int, n: int) -> int:
        d.allow(offset, offset + n)
        return d.switch(DetectWalk(False), data[n:], offset + n)


def is_starttls(line: bytes) -> bool:
    """A client line asking for TLS: STARTTLS, STLS, AUTH TLS/SSL/TLS-C, ``tag STARTTLS``."""
    words = line.strip().upper()
    if not words or len(words) > STARTTLS_LINE_MAX:
        return False
    return words in STARTTLS_COMMANDS or words.partition(b" ")[2] == b"STARTTLS"


def is_token(token: bytes, client: bool) -> bool:
    """A kept prelude token: a command verb (an IMAP tag before it), or a reply status."""
    if not client:
        return STATUS_TOKEN.fullmatch(token) is not None
    words = (token[:-1] if token.endswith(b" ") else token).split(b" ")
    if len(words) == 1:
        return words[0].upper() in PRELUDE_VERBS
    tag = words[0]
    return len(words) == 2 and words[1].upper() in PRELUDE_VERBS and len(tag) <= 16 and tag.isalnum()


class PreludeWalk:
    """Cleartext before TLS: zero but for STARTTLS lines and, on STARTTLS ports, framing.

    Framing is judged by form: on each line (a segment start or a line feed begins one),
    the first non-zero run must be a command verb or a reply status, and the line end
    may stay (lines within the first PRELUDE_MAX_BYTES). Once the client asked for TLS,
    TLS starts at the first handshake record header found at a segment start or after a
    line feed or a zero (a line end zeroed).
    """

    __slots__ = ("framing",)

    def __init__(self, framing: bool):
        self.framing = framing

    def feed(self, d, data, offset: int) -> int:
        n, pos, flow = len(data), 0, d.flow
        while pos < n:
            if flow.starttls:
                start, wait = _tls_start(data, pos)
                stop = n if start < 0 else start
                while pos < stop:
                    pos = self._line(d, data, pos, stop, offset)
                if start < 0:
                    return 0
                return n - start if wait else d.switch(TlsWalk(), data[start:], offset + start)
            if not d.client and not d.peer_known():  # a STARTTLS we did not see may switch it to TLS
                start = _tls_start(data, pos)[0]
                if start >= 0:
                    while pos < start:
                        pos = self._line(d, data, pos, start, offset)
                    return d.give_up(offset + start)
            pos = self._line(d, data, pos, n, offset)
        return 0

    def _line(self, d, data, pos: int, stop: int, offset: int) -> int:
        """Allow what a line ``data[pos:...]`` (ending at a line feed, else at `stop`) may keep."""
        nl = data.find(b"\n", pos, stop)
        if nl < 0:
            return stop  # no line end: nothing kept
        line = bytes(data[pos : nl + 1])
        core = line.lstrip(b"\0")
        at = offset + pos + len(line) - len(core)
        if d.client and is_starttls(core):
            d.flow.starttls = True
            d.allow(at, offset + nl + 1)
        elif self.framing and offset + nl < PRELUDE_MAX_BYTES:
            eol = 2 if core.endswith(b"\r\n") else 1
            token = core[: len(core) - eol].split(b"\0", 1)[0]
            if token and is_token(token, d.client):
                d.allow(at, at + len(token))
            d.allow(offset + nl + 1 - eol, offset + nl + 1)
        return nl + 1


def _tls_start(data, pos: int) -> tuple[int, bool]:
    """The first handshake record header at/after `pos` that starts a segment or follows a
    line feed or a zero: ``(offset, False)``, or ``(offset, True)`` for the start of one cut
    by the end of `data`; ``(-1, False)`` if none."""
    n = len(data)
    at = data.find(b"\x16", pos)
    while at >= 0:
        if at == 0 or data[at - 1] in (0, 0x0A):
            if n - at < TLS_HLEN:
                if n - at < 2 or data[at + 1] == 3:
                    return at, True
            elif tls_header(data, at)[0] == TLS_HANDSHAKE:
                return at, False
        at = data.find(b"\x16", at + 1)
    return -1, False
