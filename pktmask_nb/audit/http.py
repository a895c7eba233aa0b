"""HTTP/1.x in the sanitized file, audited with ``http_headers`` (SPEC §6 ``--keep http-headers``).

Start lines and header fields may be non-zero, but the values of the sensitive fields
(`~pktmask_nb.config.HTTP_SENSITIVE_HEADERS`) must be zero; bodies must be zero, framed
by Content-Length, chunked encoding (chunk-size lines and chunk ends may stay) or the
connection's close; pipelined messages follow each other; a response to HEAD, 1xx, 204
and 304 has no body; after CONNECT or a protocol switch the stream starts anew. A line
that breaks the syntax ends the structure: everything from it on must be zero.
"""

from __future__ import annotations

from ..policy import HTTP_SENSITIVE_HEADERS
from ..proto.http import HTTP_MAX_LINE, has_chunked, parse_chunk_size, parse_request_line, parse_status_line
from .walkers import DetectWalk

HTTP_SENSITIVE = frozenset(h.encode() for h in HTTP_SENSITIVE_HEADERS)
HTTP_PENDING_MAX = 64  # request methods remembered per flow
START, HEADERS, BODY, CHUNK_SIZE, CHUNK_DATA, CHUNK_END, TRAILERS, CLOSE = range(8)
BLANK = (b"\r\n", b"\n")


class HttpWalk:
    """HTTP/1.x messages of one direction."""

    __slots__ = ("state", "remaining", "method", "code", "length", "chunked", "sensitive")

    def __init__(self):
        self.state, self.remaining = START, 0
        self._message()

    def _message(self) -> None:
        self.method, self.code, self.length, self.chunked, self.sensitive = None, 0, None, False, False

    def feed(self, d, data, offset: int) -> int:
        n, pos = len(data), 0
        while pos < n:
            if self.state in (BODY, CHUNK_DATA):
                take = min(self.remaining, n - pos)
                pos, self.remaining = pos + take, self.remaining - take
                if not self.remaining:
                    self.state = CHUNK_END if self.state == CHUNK_DATA else START
                continue
            if self.state == CLOSE:
                return 0
            nl = data.find(b"\n", pos)
            if nl < 0:
                return d.zero_rest() if n - pos > HTTP_MAX_LINE else n - pos
            if not self._line(d, bytes(data[pos : nl + 1]), offset + pos):
                return d.zero_rest()
            pos = nl + 1
            if d.walker is not self:
                return d.switch(d.walker, data[pos:], offset + pos) if d.walker is not None else 0
        return 0

    def _line(self, d, line: bytes, at: int) -> bool:
        state, end = self.state, at + len(line)
        if state == START:
            return self._start(d, line, at)
        if state in (HEADERS, TRAILERS):
            if line in BLANK:
                d.allow(at, end)
                return self._headers_end(d) if state == HEADERS else self._done()
            return self._field(d, line, at)
        if state == CHUNK_SIZE:
            size = parse_chunk_size(line)
            if size is None:
                return False
            eol = 2 if line.endswith(b"\r\n") else 1
            digits = line[: len(line) - eol].split(b"\0", 1)[0].split(b";", 1)[0]
            d.allow(at, at + len(digits))  # the size (extensions are zeroed)
            d.allow(end - eol, end)
            self.state, self.remaining = (CHUNK_DATA, size) if size else (TRAILERS, 0)
            return True
        if state == CHUNK_END and line in BLANK:
            d.allow(at, end)
            self.state = CHUNK_SIZE
            return True
        return False

    def _start(self, d, line: bytes, at: int) -> bool:
        if line in BLANK:
            d.allow(at, at + len(line))
            return True
        self._message()
        methods = d.flow.methods
        if line.startswith(b"HTTP/1."):
            self.code = parse_status_line(line)
            if self.code is None:
                return False
            if self.code >= 200 or self.code == 101:
                if not methods and not d.peer_known():  # a HEAD or CONNECT we did not see changes the framing
                    d.give_up(at)
                    return True
                self.method = methods.pop(0) if methods else None
        else:
            self.method = parse_request_line(line)
            if self.method is None:
                return False
            if len(methods) < HTTP_PENDING_MAX:
                methods.append(self.method)
        d.allow(at, at + len(line))
        self.state = HEADERS
        return True

    def _field(self, d, line: bytes, at: int) -> bool:
        eol = 2 if line.endswith(b"\r\n") else 1
        body, end = line[: len(line) - eol], at + len(line)
        if line[0] in b" \t" or not body.strip(b"\0"):  # a continuation line (zeroed with its field)
            d.allow(end - eol, end)
            if not self.sensitive:
                d.allow(at, end - eol)
            return True
        colon = line.find(b":")
        if colon <= 0:
            return False
        name, value = line[:colon].strip().lower(), body[colon + 1 :].strip()
        self.sensitive = name in HTTP_SENSITIVE
        if self.sensitive:
            d.allow(at, at + colon + 1)
            d.allow(end - eol, end)
        else:
            d.allow(at, end)
        if name == b"content-length":
            if not value.isdigit():
                return False
            self.length = int(value)
        elif name == b"transfer-encoding":
            self.chunked = has_chunked(value)
        return True

    def _headers_end(self, d) -> bool:
        """The body's framing once the header block ended (RFC 9112 §6.3)."""
        code, method = self.code, self.method
        if code and (code == 101 or (method == b"CONNECT" and 200 <= code < 300)):
            return self._tunnel(d)
        if code and (code < 200 or code in (204, 304) or method == b"HEAD"):
            return self._done()
        if not code and method == b"CONNECT":
            return self._tunnel(d)
        if self.chunked:
            self.state = CHUNK_SIZE
        elif self.length:
            self.state, self.remaining = BODY, self.length
        elif self.length is None and code:
            self.state = CLOSE
        else:
            return self._done()
        return True

    def _done(self) -> bool:
        self.state = START
        return True

    def _tunnel(self, d) -> bool:
        d.walker = DetectWalk(False)
        return True
