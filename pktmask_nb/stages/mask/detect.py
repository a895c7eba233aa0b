"""What a TCP stream carries, from its first bytes: TLS, SSLv2 hello, HTTP, a STARTTLS prelude, or opaque.

The first bytes of a direction stay undecided (their packets held back) until enough of them
arrived to tell; then the direction switches to the walker that owns the protocol.
"""

from __future__ import annotations

from ...proto.http import HTTP_DETECT_LEN, looks_like_http
from ...proto.tls import POSTGRES_SSL_REQUEST, TLS_HLEN, TLS_TYPES, is_ssl2_hello, record_header
from .starttls import STARTTLS_PORTS, PreludeWalker
from .tls import TlsWalker

POSTGRES_SSL_YES = 0x53  # "S": the server accepts the SSLRequest
POSTGRES_SSL_REQUESTED = 2  # `Flow.starttls` after an SSLRequest (True after a STARTTLS command line)

TEXT_FIRST_BYTES = frozenset(range(0x21, 0x7F))  # a printable first byte: maybe a text protocol
PRELUDE_MASKED_MIN = 8  # zero bytes that start a direction masked before (see PreludeWalker)
MASKED_TEXT = b"\0\r\n"  # what a text prelude masked before is made of


class DetectWalker:
    """The walker of a direction whose protocol is not known yet."""

    __slots__ = ("http", "counts")

    def __init__(self, counts: list[int], http: bool):
        self.http = http  # HTTP/1.x structure is kept (--keep http-headers)
        self.counts = counts

    def span(self, stop: int) -> None:
        return None  # every byte is read (Direction.advance)

    def feed(self, d, data, offset: int) -> int:
        verdict = self._detect(d, data)
        if verdict is None:  # not enough bytes to tell
            return len(data)
        d.flow.set_protocol(verdict[0])
        walker, skip = verdict[1], verdict[2]
        if skip:
            d.keep(offset, offset + skip)
        if walker is None:
            return d.zero_rest(offset)
        return d.switch(walker, data[skip:], offset + skip)

    def _detect(self, d, data):
        """``(protocol, walker, bytes_kept_first)`` or None when more bytes are needed."""
        n, first = len(data), data[0]
        if first in TLS_TYPES or first & 0x80:
            if n < TLS_HLEN:
                return None
            if record_header(data, 0)[0] >= 0:
                return "tls", TlsWalker(self.counts), 0
            if is_ssl2_hello(data, 0):
                return "tls", TlsWalker(self.counts, ssl2=True), 0
            return "other", None, 0
        if first == 0 and d.client and n < len(POSTGRES_SSL_REQUEST) and POSTGRES_SSL_REQUEST.startswith(bytes(data)):
            return None
        if first == 0 and d.client and data[: len(POSTGRES_SSL_REQUEST)] == POSTGRES_SSL_REQUEST:
            d.flow.starttls = POSTGRES_SSL_REQUESTED
            return "tls", DetectWalker(self.counts, False), len(POSTGRES_SSL_REQUEST)
        if first == POSTGRES_SSL_YES and not d.client and d.flow.starttls == POSTGRES_SSL_REQUESTED:
            return "tls", DetectWalker(self.counts, False), 1
        if self.http:
            found = looks_like_http(data)
            if found is None and n < HTTP_DETECT_LEN:
                return None
            if found:
                from .http import HttpWalker

                return "http", HttpWalker(d.flow), 0
        if first in TEXT_FIRST_BYTES:
            return "text", PreludeWalker(self.counts, framing=d.flow.server[1] in STARTTLS_PORTS), 0
        if bytes(data).translate(None, MASKED_TEXT):
            return "other", None, 0
        if n < PRELUDE_MASKED_MIN:
            return None
        return "text", PreludeWalker(self.counts, masked=True, framing=d.flow.server[1] in STARTTLS_PORTS), 0
        return "other", None, 0
