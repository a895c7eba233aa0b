"""The HTTP/1.x walker (SPEC §6): framing always followed, start lines and headers kept on request.

With ``--keep http-headers`` start lines and header fields are kept, except: values of
sensitive fields, any Content-Encoding value, and any Content-Type value but a few
plain-text types (the body they describe is zeroed, and Wireshark would report the zeros
as a failed decompression or a broken document, SPEC §2.6); and IPv4/IPv6 addresses written
as text anywhere in a kept line (SPEC §5). Without it nothing is kept but the framing of a
CONNECT exchange (the request line, field names, status code, line ends), so that the TLS
inside the tunnel is kept, Wireshark follows it, and it is found again when a masked capture
is masked. Bodies are framed by
Content-Length, chunked encoding (chunk-size lines kept on request, extensions and data
zeroed) or the connection's close; pipelined messages follow each other. After a CONNECT
request, or a 2xx answer to one, only TLS may follow; after 101 Switching Protocols
(WebSocket, h2c) everything is zero. A line is undecided until its line feed arrives.
"""

from __future__ import annotations

from ...proto.http import (
    HTTP_MAX_LINE,
    field_colon,
    field_name,
    field_value,
    has_chunked,
    is_token,
    line_end_len,
    next_line,
    parse_chunk_size,
    parse_request_line,
    parse_status_line,
)
from ...proto.text import kept_text
from .stream import FAIL_DESYNC
from .upgrade import TlsOnlyWalker

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
KEEP_HEADER = "http-header"
KEEP_FRAMING = "http-framing"

S_START, S_HEADERS, S_BODY, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_END, S_TRAILERS, S_CLOSE = range(8)


class HttpWalker:
    """Walk HTTP/1.x messages over in-order stream bytes of one direction."""

    # its fields are declared in http.pxd

    def __init__(self, flow):
        self.flow = flow
        self.state = S_START
        self.remaining = 0
        self.zeroed = flow.http_zeroed  # header names (lower case bytes) whose values are zeroed
        self.keeping = flow.http_keep  # --keep http-headers
        self._reset_message()

    def _reset_message(self) -> None:
        self.method = None
        self.code = 0
        self.length = None
        self.chunked = False
        self.last_zero = False

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
                break
            line = next_line(data, pos)
            if line is None:
                if n - pos > HTTP_MAX_LINE:
                    return d.zero_rest(offset + pos, FAIL_DESYNC)
                return n - pos  # a line not finished yet
            follow = self._line(d, line, offset + pos)
            if follow is False:
                return d.zero_rest(offset + pos, FAIL_DESYNC)
            pos += len(line)
            if follow is not True:  # a tunnel (CONNECT) or another protocol (101) takes over
                return d.switch(follow, data[pos:], offset + pos) if follow is not None else d.zero_rest(offset + pos)
        return 0

    def _keep(self, d, at: int, line: bytes, start: int = 0, end: int | None = None, reason: str = KEEP_HEADER) -> None:
        """Keep ``line[start:end]`` (at stream offset `at`) but the addresses written in it
        (a name is a token, and "127.0.0.1" is one)."""
        for a, b in kept_text(line, start, len(line) if end is None else end):
            d.keep(at + a, at + b, reason)

    def _line(self, d, line: bytes, at: int):
        """Decide one complete line at stream offset `at`: True to go on, False if it breaks
        the syntax, or the walker (None: all zero) that takes over after it."""
        state = self.state
        if state == S_START:
            return self._start_line(d, line, at)
        if state in (S_HEADERS, S_TRAILERS):
            if line in (b"\r\n", b"\n"):
                if self.keeping or self._connecting():
                    d.keep(at, at + len(line), KEEP_FRAMING)
                return self._end_of_headers() if state == S_HEADERS else self._done()
            return self._field(d, line, at)
        if state == S_CHUNK_SIZE:
            size = parse_chunk_size(line)
            if size is None:
                return False
            if self.keeping:
                digits = line.find(b";")
                d.keep(at, at + (len(line) if digits < 0 else digits), KEEP_FRAMING)
                d.keep(at + len(line) - line_end_len(line), at + len(line), KEEP_FRAMING)
            self.state, self.remaining = (S_CHUNK_DATA, size) if size else (S_TRAILERS, 0)
            return True
        if state == S_CHUNK_END:
            if line not in (b"\r\n", b"\n"):
                return False
            if self.keeping:
                d.keep(at, at + len(line), KEEP_FRAMING)
            self.state = S_CHUNK_SIZE
            return True
        return False

    def _connecting(self) -> bool:
        """The message is a CONNECT request or the answer to one (its framing is always kept)."""
        return self.method == b"CONNECT"

    def _start_line(self, d, line: bytes, at: int):
        if line in (b"\r\n", b"\n"):  # tolerated between messages (RFC 9112 §2.2)
            if self.keeping:
                d.keep(at, at + len(line), KEEP_FRAMING)
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
        if self.keeping:
            self._keep(d, at, line)
        elif self._connecting():
            self._keep_framing(d, line, at)
        self.state = S_HEADERS
        return True

    def _keep_framing(self, d, line: bytes, at: int) -> None:
        """A CONNECT start line without --keep: the request line (Wireshark needs its authority to
        follow the tunnel; it names the host the TLS server name names too, and an address in
        it is zeroed), or the status line's version and code."""
        if self.code:
            eol = line_end_len(line)
            d.keep(at, at + min(13, len(line) - eol), KEEP_FRAMING)  # "HTTP/1.1 200 "
            d.keep(at + len(line) - eol, at + len(line), KEEP_FRAMING)
        else:
            self._keep(d, at, line)

    def _field(self, d, line: bytes, at: int) -> bool:
        eol = line_end_len(line)
        if line[0] in b" \t":  # obsolete line folding: a continuation of the previous value
            if self.keeping and not self.last_zero:
                self._keep(d, at, line)
            elif self.keeping:
                d.keep(at + len(line) - eol, at + len(line), KEEP_FRAMING)
            return True
        colon = field_colon(line)
        if colon <= 0:
            return not line.strip(b"\0\r\n")  # a header line zeroed by an earlier pass
        name = field_name(line, colon)
        # a name that is no token (a NUL in "Cookie", a space) is no name a server takes: it and
        # its value are zeroed, its colon kept
        token = is_token(name)
        self.last_zero = name in self.zeroed or name in HTTP_ALWAYS_ZEROED or not token
        if name == b"content-type":
            value = field_value(line, colon, eol)
            self.last_zero = not value.lower().startswith(HTTP_CONTENT_TYPES_KEPT)
        if not self.keeping:
            if self._connecting():  # a field's name and line end: Wireshark parses the head
                self._keep(d, at, line, 0 if token else colon, colon + 1, KEEP_FRAMING)
                d.keep(at + len(line) - eol, at + len(line), KEEP_FRAMING)
        elif self.last_zero:
            self._keep(d, at, line, 0 if token else colon, colon + 1)
            d.keep(at + len(line) - eol, at + len(line), KEEP_FRAMING)
        else:
            self._keep(d, at, line)
        if name == b"content-length":
            value = field_value(line, colon, eol)
            if not value.isdigit():
                return False
            self.length = int(value)
        elif name == b"transfer-encoding":
            self.chunked = has_chunked(field_value(line, colon, eol))
        return True

    def _end_of_headers(self):
        """Pick the body framing (RFC 9112 §6.3) once the header block ended."""
        code, method = self.code, self.method
        if code:  # a response
            if method == b"CONNECT" and 200 <= code < 300:
                return TlsOnlyWalker()
            if code == 101:
                return None
            if code < 200 or code in (204, 304) or method == b"HEAD":
                return self._done()
        elif method == b"CONNECT":
            return TlsOnlyWalker()
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
