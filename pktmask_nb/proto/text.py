"""IP addresses written as text (SPEC §5): where dotted IPv4 and any IPv6 text form appear in bytes."""

from __future__ import annotations

import ipaddress
import re

IPV4_TEXT = re.compile(
    rb"(?<![0-9.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?![0-9])"
)
IPV6_TEXT = re.compile(rb"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?::\d{1,3}(?:\.\d{1,3}){3})?")
# Where a match can start: up to 3 bytes before the first dot of a dotted address, up to 4
# before the first colon of an IPv6 form. These begin with a literal byte the regex engine
# skips to; the full patterns would be tried at every position of a TLS handshake's kilobytes.
IPV4_FIRST_DOT = re.compile(rb"\.(?=[0-9]{1,3}\.)")
IPV6_FIRST_COLON = re.compile(rb":(?=[0-9A-Fa-f]{0,4}:)")


BINARY_IPV6_MIN_DIGITS = 3  # in binary data (TLS handshakes) "::" and "::c" are bytes, not addresses


def address_text(line: bytes, binary: bool = False) -> list[tuple[int, int]]:
    """Where IPv4 addresses (dotted) and IPv6 addresses (any RFC 5952 / 4291 text form, with an
    embedded IPv4 tail) are written in `line`, as sorted ``(start, end)`` ranges.

    With `binary`, the bytes are mostly not text: an IPv6 form must show at least
    BINARY_IPV6_MIN_DIGITS hexadecimal digits to count (GREASE values are ``0x3a3a``, "::")."""
    found = [m.span() for m in _finditer(IPV4_TEXT, IPV4_FIRST_DOT, 3, line)]
    for m in _finditer(IPV6_TEXT, IPV6_FIRST_COLON, 4, line):
        text = m.group(0).decode("ascii")
        if binary and sum(c != ":" for c in text) < BINARY_IPV6_MIN_DIGITS:
            continue
        if text.count(":") >= 2 and _is_ipv6(text):
            found.append(m.span())
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def outside(start: int, end: int, cuts) -> list[tuple[int, int]]:
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


def kept_text(data, start: int, end: int, cuts=(), binary: bool = False) -> list[tuple[int, int]]:
    """The pieces of ``data[start:end]`` to keep: outside the ranges `cuts` (zeroed for another
    reason) and outside the IP addresses written as text in what remains, each piece read
    alone, as it will be seen once the cuts are zeros."""
    pieces = []
    for a, b in outside(start, end, cuts):
        pieces += outside(a, b, [(a + x, a + y) for x, y in address_text(bytes(data[a:b]), binary)])
    return pieces


def _finditer(pattern, marks, back: int, line: bytes):
    """``pattern.finditer(line)``, tried only from `back` bytes before each of the `marks` to it."""
    end = 0
    for mark in marks.finditer(line):
        at = mark.start()
        for start in range(max(at - back, end), at + 1):
            m = pattern.match(line, start)  # the lookbehind still sees the byte before `start`
            if m:
                yield m
                end = m.end()
                break


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True
