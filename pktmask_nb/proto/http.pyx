# cython: language_level=3
"""HTTP/1.x message syntax (RFC 9112): start lines, header fields, chunk-size lines.

Pure functions over ``bytes`` lines; framing decisions are left to the caller. A compiled
kernel: the mask's HTTP walker cuts every line and header field through `next_line`,
`line_end_len`, `field_colon`, `field_name` and `field_value` as C calls.
"""

import re

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memchr

from .spans cimport frame_bytes

HTTP_METHODS = (
    b"GET",
    b"POST",
    b"HEAD",
    b"PUT",
    b"DELETE",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SEARCH",
)
HTTP_STARTS = tuple(m + b" " for m in HTTP_METHODS) + (b"HTTP/1.",)
HTTP_DETECT_LEN = max(len(s) for s in HTTP_STARTS)
HTTP_MAX_LINE = 16 * 1024  # a longer start line or header field is not followed (fail closed)


def looks_like_http(data) -> bool | None:
    """True if `data` starts an HTTP/1.x request or response, None if it may once more bytes come."""
    head = bytes(data[:HTTP_DETECT_LEN])
    if head.startswith(HTTP_STARTS):
        return True
    if any(s.startswith(head) for s in HTTP_STARTS):
        return None
    return False


def parse_request_line(line: bytes) -> bytes | None:
    """The method of a request line ``METHOD SP target SP HTTP/1.x``, else None."""
    parts = line.rstrip(b"\r\n").split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1.") or parts[0] not in HTTP_METHODS:
        return None
    return parts[0]


def parse_status_line(line: bytes) -> int | None:
    """The status code of ``HTTP/1.x SP code SP reason``, else None."""
    if not line.startswith(b"HTTP/1.") or len(line) < 12 or line[8:9] != b" ":
        return None
    code = line[9:12]
    if not code.isdigit() or line[12:13] not in (b" ", b"\r", b"\n"):
        return None
    return int(code)


cpdef Py_ssize_t line_end_len(bytes line) except -1:
    """Length of the line terminator: 2 for CRLF, 1 for a bare LF."""
    cdef Py_ssize_t n = len(line)
    cdef const char* p = PyBytes_AS_STRING(line)
    return 2 if n >= 2 and p[n - 2] == b"\r" and p[n - 1] == b"\n" else 1


cpdef object next_line(data, Py_ssize_t pos):
    """The line of `data` (``bytes`` or ``bytearray``) from `pos` through its line feed, as
    ``bytes``; None while its line feed has not come."""
    cdef Py_ssize_t n = len(data)
    if not 0 <= pos <= n:
        raise IndexError(f"line start {pos} outside {n} bytes")
    cdef const unsigned char* p = frame_bytes(data)
    cdef const void* nl = memchr(p + pos, 10, n - pos)
    if nl == NULL:
        return None
    return PyBytes_FromStringAndSize(<const char*>p + pos, <const unsigned char*>nl - p - pos + 1)


cpdef Py_ssize_t field_colon(bytes line) except -2:
    """Where the first colon of a field line is, -1 if none."""
    cdef const char* p = PyBytes_AS_STRING(line)
    cdef const void* colon = memchr(p, 58, len(line))
    return -1 if colon == NULL else <const char*>colon - p


cdef inline bint _space(unsigned char c) noexcept:
    """What ``bytes.strip()`` strips: ASCII whitespace."""
    return c == 32 or 9 <= c <= 13


cdef inline void _strip(const unsigned char* p, Py_ssize_t* a, Py_ssize_t* b) noexcept:
    """Narrow ``[a, b)`` of `p` as ``bytes.strip()`` would."""
    while a[0] < b[0] and _space(p[a[0]]):
        a[0] += 1
    while b[0] > a[0] and _space(p[b[0] - 1]):
        b[0] -= 1


cpdef bytes field_name(bytes line, Py_ssize_t colon):
    """``line[:colon].strip().lower()``: a field's name as the tables hold it."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(line)
    cdef Py_ssize_t a = 0, b = min(max(colon, 0), len(line)), i
    _strip(p, &a, &b)
    name = PyBytes_FromStringAndSize(NULL, b - a)
    cdef unsigned char* q = <unsigned char*>PyBytes_AS_STRING(name)
    for i in range(b - a):
        q[i] = p[a + i] + 32 if 65 <= p[a + i] <= 90 else p[a + i]
    return name


cpdef bint is_token(bytes name):
    """Whether `name` is a token (RFC 9110 §5.6.2), as a field name must be: not empty, and
    letters, digits and ``!#$%&'*+-.^_`|~`` only."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(name)
    cdef Py_ssize_t i, n = len(name)
    cdef unsigned char c
    for i in range(n):
        c = p[i]
        if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or memchr(b"!#$%&'*+-.^_`|~", c, 15) != NULL):
            return False
    return n > 0


cpdef bytes field_value(bytes line, Py_ssize_t colon, Py_ssize_t eol):
    """``line[colon + 1 : len(line) - eol].strip()``: a field's value."""
    cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(line)
    cdef Py_ssize_t a = min(max(colon + 1, 0), len(line)), b = max(len(line) - eol, a)
    _strip(p, &a, &b)
    return PyBytes_FromStringAndSize(<const char*>p + a, b - a)


def parse_chunk_size(line: bytes) -> int | None:
    """The size of a chunk-size line ``HEX [; ext] CRLF``, else None."""
    digits = line.split(b";", 1)[0].strip(b" \t\r\n\0")  # NUL: extensions zeroed by an earlier pass
    if not digits or len(digits) > 16:
        return None
    try:
        return int(digits, 16)
    except ValueError:
        return None


def has_chunked(value: bytes) -> bool:
    """Whether a Transfer-Encoding value ends in ``chunked`` (RFC 9112 §6.3)."""
    codings = [c.strip().lower() for c in value.split(b",")]
    return bool(codings) and codings[-1] == b"chunked"


HTTP_MAX_HEAD = 64 * 1024  # a header block longer than this is not followed
HTTP_FIELD = re.compile(
    rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+:[\t\x20-\x7e\x80-\xff\x00]*"
)  # RFC 9110 §5.1, §5.5; NUL: zeroed before


def header_block(data, pos: int = 0):
    """Where the HTTP/1.x message head starting at `pos` ends (after its empty line), if every
    line of it is valid: a request or status line, then field lines (RFC 9112 §2.1); None
    while it may still be one, False if it is not."""
    end = bytes(data[pos : pos + HTTP_MAX_HEAD]).find(b"\r\n\r\n")
    if end < 0:
        return None if len(data) - pos < HTTP_MAX_HEAD and looks_like_http(data[pos:]) is not False else False
    lines = bytes(data[pos : pos + end]).split(b"\r\n")
    start = lines[0] + b"\r\n"
    if parse_request_line(start) is None and parse_status_line(start) is None:
        return False
    if not all(HTTP_FIELD.fullmatch(line) for line in lines[1:]):
        return False
    return pos + end + 4
