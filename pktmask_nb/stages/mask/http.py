"""The HTTP/1.x walker (``--keep http-headers``, SPEC §6): keep start lines and headers, zero the rest.

Values of sensitive header fields are zeroed, and so is any Content-Encoding value, and
any Content-Type value but a few plain-text types: the body they describe is zeroed, and
Wireshark would report the zeros as a failed decompression or a broken image, JSON, XML
document (SPEC §6, §2.6). Bodies are framed by Content-Length, chunked encoding (chunk-size
lines kept, extensions and data zeroed) or the connection's close; pipelined messages
follow each other. A line is undecided until its line feed arrives.
"""

from __future__ import annotations

from ...proto.http import (
    HTTP_MAX_LINE,
    has_chunked,
    line_end_len,
    parse_chunk_size,
    parse_request_line,
    parse_status_line,
)
from .stream import FAIL_DESYNC

HTTP_ALWAYS_ZEROED = frozenset((b"content-encoding",))  # see the module docstring
HTTP_CONTENT_TYPES_KEPT = (  # media types whose Wireshark dissectors take a zeroed body calmly
    b"text/plain",
    b"text/html",
    b"text/css",
    b"text/javascript",
    b"application/javascript",
    b"application/x-javascript",
    b"application/x-www-form-urlencoded",
)
HTTP_PENDING_METHODS_MAX = 64  # requests remembered per flow for framing their responses

S_START, S_HEADERS, S_BODY, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_END, S_TRAILERS, S_CLOSE = range(8)


class HttpWalker:
    """Walk HTTP/1.x messages over in-order stream bytes of one direction."""

    __slots__ = ("flow", "state", "remaining", "zeroed", "method", "code", "length", "chunked", "last_zero")

    def __init__(self, flow):
        self.flow = flow
        self.state = S_START
        self.remaining = 0
        self.zeroed = flow.http_zeroed  # header names (lower case bytes) whose values are zeroed
        self._reset_message()

    def _reset_message(self) -> None:
        self.method = None
        self.code = 0
        self.length = None
        self.chunked = False
        self.last_zero = False

    def span(self, stop: int) -> None:
        return None  # every byte is read (Direction.advance)

    def feed(self, d, data, offset: int) -> int:
        n, pos = len(data), 0
        while pos < n:
            state = self.state
            if state in (S_BODY, S_CHUNK_DATA):
                take = min(self.remaining, n - pos)
                pos += take
                self.remaining -= take
                if not self.remaining:
                    self.state = S_CHUNK_END if state == S_CHUNK_DATA else S_START
                continue
            if state == S_CLOSE:
                pos = n
                break
            nl = data.find(b"\n", pos)
            if nl < 0:
                if n - pos > HTTP_MAX_LINE:
                    return d.zero_rest(offset + pos, FAIL_DESYNC)
                return n - pos  # a line not finished yet
            line = bytes(data[pos : nl + 1])
            if not self._line(d, line, offset + pos):
                return d.zero_rest(offset + pos, FAIL_DESYNC)
            pos = nl + 1
            if d.walker is not self:  # a tunnel took over (CONNECT, Upgrade)
                return d.switch(d.walker, data[pos:], offset + pos) if d.walker is not None else 0
        return 0

    def _line(self, d, line: bytes, at: int) -> bool:
        """Decide one complete line at stream offset `at`; False if it breaks the syntax."""
        state = self.state
        if state == S_START:
            return self._start_line(d, line, at)
        if state in (S_HEADERS, S_TRAILERS):
            if line in (b"\r\n", b"\n"):
                d.keep(at, at + len(line))
                return self._end_of_headers(d, at + len(line)) if state == S_HEADERS else self._done()
            return self._field(d, line, at)
        if state == S_CHUNK_SIZE:
            size = parse_chunk_size(line)
            if size is None:
                return False
            digits = line.find(b";")
            if digits < 0:
                d.keep(at, at + len(line))
            else:
                d.keep(at, at + digits)
                d.keep(at + len(line) - line_end_len(line), at + len(line))
            self.state, self.remaining = (S_CHUNK_DATA, size) if size else (S_TRAILERS, 0)
            return True
        if state == S_CHUNK_END:
            if line not in (b"\r\n", b"\n"):
                return False
            d.keep(at, at + len(line))
            self.state = S_CHUNK_SIZE
            return True
        return False

    def _start_line(self, d, line: bytes, at: int) -> bool:
        if line in (b"\r\n", b"\n"):  # tolerated between messages (RFC 9112 §2.2)
            d.keep(at, at + len(line))
            return True
        self._reset_message()
        if line.startswith(b"HTTP/1."):
            code = parse_status_line(line)
            if code is None:
                return False
            self.code = code
            if code >= 200 or code == 101:
                methods = self.flow.http_methods
                self.method = methods.pop(0) if methods else None
        else:
            method = parse_request_line(line)
            if method is None:
                return False
            self.method = method
            methods = self.flow.http_methods
            if not methods:
                self.flow.http_methods = [method]
            elif len(methods) < HTTP_PENDING_METHODS_MAX:
                methods.append(method)
        self.flow.http_messages += 1
        d.keep(at, at + len(line))
        self.state = S_HEADERS
        return True

    def _field(self, d, line: bytes, at: int) -> bool:
        eol = line_end_len(line)
        if line[0] in b" \t":  # obsolete line folding: a continuation of the previous value
            if not self.last_zero:
                d.keep(at, at + len(line))
            else:
                d.keep(at + len(line) - eol, at + len(line))
            return True
        colon = line.find(b":")
        if colon <= 0:
            return False
        name = line[:colon].strip().lower()
        value = line[colon + 1 : len(line) - eol].strip()
        self.last_zero = name in self.zeroed or name in HTTP_ALWAYS_ZEROED
        if name == b"content-type":
            self.last_zero = not value.lower().startswith(HTTP_CONTENT_TYPES_KEPT)
        if self.last_zero:
            d.keep(at, at + colon + 1)
            d.keep(at + len(line) - eol, at + len(line))
        else:
            d.keep(at, at + len(line))
        if name == b"content-length":
            if not value.isdigit():
                return False
            self.length = int(value)
        elif name == b"transfer-encoding":
            self.chunked = has_chunked(value)
        return True

    def _end_of_headers(self, d, at: int) -> bool:
        """Pick the body framing (RFC 9112 §6.3) once the header block ended at `at`."""
        code, method = self.code, self.method
        if code:  # a response
            if code == 101 or (method == b"CONNECT" and 200 <= code < 300):
                return self._tunnel(d)
            if code < 200 or code in (204, 304) or method == b"HEAD":
                return self._done()
        elif method == b"CONNECT":
            return self._tunnel(d)
        if self.chunked:
            self.state = S_CHUNK_SIZE
        elif self.length:
            self.state, self.remaining = S_BODY, self.length
        elif self.length is None and code:
            self.state = S_CLOSE  # delimited by the connection's close
        else:
            return self._done()
        return True

    def _done(self) -> bool:
        self.state = S_START
        return True

    def _tunnel(self, d) -> bool:
        """What follows a CONNECT or a protocol switch is another stream: TLS is recognised, else zero."""
        from .detect import DetectWalker

        d.walker = DetectWalker(d.flow.tls_counts, False)
        return True
