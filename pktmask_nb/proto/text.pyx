# cython: language_level=3
"""IP addresses written as text (SPEC §5): where dotted IPv4 and any IPv6 text form appear in
bytes, and how reports write an address (`ip_text`).

A compiled kernel: TLS handshakes (certificates) and HTTP headers are searched byte by byte.
The forms found are exactly the matches of these patterns, scanned as ``re.finditer``
would (the tests hold them as the reference), IPv6 candidates then checked by `ipaddress`::

    IPv4: (?<![0-9.])(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?:\\.(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}(?![0-9])
    IPv6: (?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?::\\d{1,3}(?:\\.\\d{1,3}){3})?
"""

from libc.string cimport memchr

import ipaddress

BINARY_IPV6_MIN_DIGITS = 3  # in binary data (TLS handshakes) "::" and "::c" are bytes, not addresses


cdef inline bint _digit(unsigned char c) noexcept:
    return 48 <= c <= 57


cdef inline bint _hex(unsigned char c) noexcept:
    return 48 <= c <= 57 or 97 <= (c | 0x20) <= 102


cdef Py_ssize_t _octet(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept:
    """End of the digits at `i` if they are one octet as the pattern writes it (0-255, no
    leading zero), else -1: the pattern's alternatives never take part of a run of digits
    (a dot or the end of the digits must follow)."""
    cdef Py_ssize_t j = i
    while j < n and _digit(p[j]):
        j += 1
    if j == i or j - i > 3 or (j - i > 1 and p[i] == 48):
        return -1
    if j - i == 3 and (p[i] - 48) * 100 + (p[i + 1] - 48) * 10 + p[i + 2] - 48 > 255:
        return -1
    return j


cdef Py_ssize_t _ipv4_at(const unsigned char* p, Py_ssize_t s, Py_ssize_t n) noexcept:
    """End of the dotted IPv4 address starting at `s`, or -1."""
    cdef Py_ssize_t j = _octet(p, s, n)
    cdef int k
    for k in range(3):
        if j < 0 or j >= n or p[j] != 46:
            return -1
        j = _octet(p, j + 1, n)
    return j


cdef Py_ssize_t _ipv4_tail(const unsigned char* p, Py_ssize_t i, Py_ssize_t n) noexcept:
    """End of ``\\d{1,3}(?:\\.\\d{1,3}){3}`` at `i` (the last group greedy), or -1."""
    cdef Py_ssize_t j
    cdef int k
    for k in range(3):
        j = i
        while j < n and _digit(p[j]):
            j += 1
        if j == i or j - i > 3 or j >= n or p[j] != 46:
            return -1
        i = j + 1
    j = i
    while j < n and j - i < 3 and _digit(p[j]):
        j += 1
    return j if j > i else -1


cdef Py_ssize_t _ipv6_at(const unsigned char* p, Py_ssize_t s, Py_ssize_t n) noexcept:
    """End of the IPv6 pattern's match starting at `s`, or -1: greedy groups, never given
    back, since all that follows them is optional."""
    cdef Py_ssize_t j = s, k
    cdef int groups = 0
    while j < n and _hex(p[j]):
        j += 1
    if j - s > 4:
        return -1
    while groups < 7 and j < n and p[j] == 58:
        j += 1
        k = j
        while k < n and k - j < 4 and _hex(p[k]):
            k += 1
        j = k
        groups += 1
    if groups < 2:
        return -1
    if j < n and p[j] == 58:
        k = _ipv4_tail(p, j + 1, n)
        if k >= 0:
            j = k
    return j


cdef inline bint _digit_of(unsigned char c, bint hexa) noexcept:
    return _hex(c) if hexa else _digit(c)


ctypedef Py_ssize_t (*Matcher)(const unsigned char*, Py_ssize_t, Py_ssize_t) noexcept


cdef list _matches(const unsigned char* p, Py_ssize_t a, Py_ssize_t b, unsigned char sep, int back, bint hexa, Matcher match):
    """The ``(start, end)`` of a pattern's matches (`match`) in ``[a, b)``, as ``re.finditer``
    finds them: each starts at most `back` digits (hexadecimal with `hexa`) before its first
    `sep`, after neither such a digit nor `sep` (the pattern's lookbehind). The scan jumps from
    one `sep` to the next (memchr) and looks back for where a match would start."""
    cdef list spans = []
    cdef Py_ssize_t s, e, end = a, at = a
    cdef const unsigned char* hit
    while at < b:
        hit = <const unsigned char*>memchr(p + at, sep, b - at)
        if hit == NULL:
            break
        at = hit - p
        s = at
        while s > a and at - s <= back and _digit_of(p[s - 1], hexa):
            s -= 1
        if s >= end and at - s <= back and (s == a or not (p[s - 1] == sep or _digit_of(p[s - 1], hexa))):
            e = match(p, s, b)
            if e >= 0:
                spans.append((s, e))
                end = at = e
                continue
        at += 1
    return spans


cdef list _scan(const unsigned char* p, Py_ssize_t a, Py_ssize_t b, bint binary):
    """`address_text` of the bytes ``[a, b)`` read alone, offsets from `a`."""
    cdef list found = [(s - a, e - a) for s, e in _matches(p, a, b, 46, 3, False, _ipv4_at)]  # the dot after an octet
    cdef Py_ssize_t s, e, digits, i
    for s, e in _matches(p, a, b, 58, 4, True, _ipv6_at):  # the colon after a group
        digits = 0
        for i in range(s, e):
            digits += p[i] != 58
        if not (binary and digits < BINARY_IPV6_MIN_DIGITS) and _is_ipv6(p[s:e].decode("ascii")):
            found.append((s - a, e - a))
    if not found:
        return found
    found.sort()
    cdef list merged = [found[0]]
    for start, end in found[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def address_text(line, binary: bool = False) -> list:
    """Where IPv4 addresses (dotted) and IPv6 addresses (any RFC 5952 / 4291 text form, with an
    embedded IPv4 tail) are written in `line`, as sorted ``(start, end)`` ranges.

    With `binary`, the bytes are mostly not text: an IPv6 form must show at least
    BINARY_IPV6_MIN_DIGITS hexadecimal digits to count (GREASE values are ``0x3a3a``, "::")."""
    cdef const unsigned char[::1] view = line
    if view.shape[0] == 0:
        return []
    return _scan(&view[0], 0, view.shape[0], binary)


def outside(start: int, end: int, cuts) -> list:
    """The pieces of ``[start, end)`` outside the sorted (possibly overlapping) ranges `cuts`."""
    pieces, pos = [], start
    for a, b in cuts:
        if b <= pos or a >= end:
            continue
        if a > pos:
            pieces.append((pos, a))
        pos = b
    if pos < end:
        pieces.append((pos, end))
    return pieces


def kept_text(data, Py_ssize_t start, Py_ssize_t end, cuts=(), bint binary=False) -> list:
    """The pieces of ``data[start:end]`` to keep: outside the ranges `cuts` (zeroed for another
    reason) and outside the IP addresses written as text in what remains, each piece read
    alone, as it will be seen once the cuts are zeros."""
    cdef const unsigned char[::1] view = data
    cdef list pieces = []
    cdef Py_ssize_t a, b, n = view.shape[0]
    if start < 0:
        raise ValueError(f"text from {start}: offsets are not negative")
    for a, b in outside(start, end, cuts):
        found = _scan(&view[0], a, min(b, n), binary) if a < n else []  # bytes past the end: none to search
        pieces += outside(a, b, [(a + x, a + y) for x, y in found]) if found else [(a, b)]
    return pieces


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


cdef Py_ssize_t _number(char* out, Py_ssize_t k, unsigned int value, unsigned int base) noexcept:
    """Write `value` in `base` (10 or 16, lower case, no leading zeros) at ``out[k]``; the new end."""
    cdef char digits[8]
    cdef Py_ssize_t n = 0
    while True:
        digits[n] = b"0123456789abcdef"[value % base]
        n += 1
        value //= base
        if not value:
            break
    while n:
        n -= 1
        out[k] = digits[n]
        k += 1
    return k


def ip_text(bytes raw) -> str:
    """A 4- or 16-byte address as `ipaddress` writes it (RFC 5952: lower case, no leading
    zeros, the first longest run of two or more zero groups as ``::``), 20x faster;
    other lengths (a key cut by the capture) in hex."""
    cdef const unsigned char* p = raw
    cdef Py_ssize_t n = len(raw), i, run = 0, start = -1, best = 0, best_start = -1, k = 0, parts = 0
    cdef char out[48]
    cdef int groups[8]
    cdef int written[11]  # the groups written, -1 for an empty part (":" beside it makes "::")
    if n == 4:
        for i in range(4):
            if i:
                out[k] = 46  # "."
                k += 1
            k = _number(out, k, p[i], 10)
        return out[:k].decode("ascii")
    if n != 16:
        return raw.hex()
    for i in range(8):
        groups[i] = (p[2 * i] << 8) | p[2 * i + 1]
        if groups[i]:
            run, start = 0, -1
        else:
            run += 1
            if start < 0:
                start = i
            if run > best:
                best, best_start = run, start
    if best > 1:  # as ipaddress's _compress_hextets builds its list of parts
        if best_start == 0:
            written[parts] = -1
            parts += 1
        for i in range(best_start):
            written[parts] = groups[i]
            parts += 1
        written[parts] = -1
        parts += 1
        for i in range(best_start + best, 8):
            written[parts] = groups[i]
            parts += 1
        if best_start + best == 8:
            written[parts] = -1
            parts += 1
    else:
        for i in range(8):
            written[i] = groups[i]
        parts = 8
    for i in range(parts):
        if i:
            out[k] = 58  # ":"
            k += 1
        if written[i] >= 0:
            k = _number(out, k, written[i], 16)
    return out[:k].decode("ascii")
