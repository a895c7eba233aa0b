"""HTTP/1.x message syntax (RFC 9112): start lines, header fields, chunk-size lines.

Pure functions over ``bytes`` lines; framing decisions are left to the caller.
"""

from __future__ import annotations

import re

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


def line_end_len(line: bytes) -> int:
    """Length of the line terminator: 2 for CRLF, 1 for a bare LF."""
    return 2 if line.endswith(b"\r\n") else 1


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
