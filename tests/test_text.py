"""Addresses written as text (`pktmask_nb.proto.text`): the kernel finds what the patterns find."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktmask_nb.proto.text import BINARY_IPV6_MIN_DIGITS, address_text, ip_text, kept_text

# the patterns the kernel implements (its docstring), run by the regex engine
IPV4_TEXT = re.compile(
    rb"(?<![0-9.])(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}(?![0-9])"
)
IPV6_TEXT = re.compile(rb"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?::\d{1,3}(?:\.\d{1,3}){3})?")


def reference(line: bytes, binary: bool) -> list[tuple[int, int]]:
    """The patterns over every position, by the regex engine."""
    found = [m.span() for m in IPV4_TEXT.finditer(line)]
    for m in IPV6_TEXT.finditer(line):
        text = m.group(0).decode("ascii")
        if binary and sum(c != ":" for c in text) < BINARY_IPV6_MIN_DIGITS:
            continue
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            continue
        found.append(m.span())
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


ADDRESSES = st.one_of(
    st.ip_addresses(v=4).map(lambda a: str(a).encode()),
    st.ip_addresses(v=6).map(lambda a: str(a).encode()),
    st.ip_addresses(v=6).map(lambda a: a.exploded.encode()),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}".encode()),
)
PIECES = st.one_of(
    ADDRESSES,
    st.binary(max_size=12),
    st.text(alphabet="0123456789abcdefABCDEF.:", max_size=12).map(str.encode),
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(PIECES, max_size=12), st.booleans())
def test_the_kernel_finds_what_the_patterns_find(pieces, binary):
    line = b"".join(pieces)
    assert address_text(line, binary) == reference(line, binary)
    assert address_text(bytearray(line), binary) == reference(line, binary)


def positions_outside(start: int, end: int, cuts) -> list[tuple[int, int]]:
    """The runs of positions of ``[start, end)`` in none of `cuts`, one position at a time."""
    out = set(range(start, end)) - {i for a, b in cuts for i in range(a, b)}
    runs: list[tuple[int, int]] = []
    for i in sorted(out):
        if runs and runs[-1][1] == i:
            runs[-1] = (runs[-1][0], i + 1)
        else:
            runs.append((i, i + 1))
    return runs


@settings(max_examples=500, deadline=None)
@given(st.lists(PIECES, max_size=8), st.integers(0, 40), st.integers(0, 60), st.integers(0, 50), st.booleans())
def test_kept_text_reads_each_piece_alone(pieces, start, end, cut, binary):
    """Pieces between cuts are searched as if cut out (no lookbehind across a cut), and a
    range past the data's end searches only the bytes there are."""
    data = b"".join(pieces)
    cuts = [(cut, cut + 3)]
    expected = []
    for a, b in positions_outside(start, end, cuts):
        expected += positions_outside(a, b, [(a + x, a + y) for x, y in reference(data[a:b], binary)])
    assert kept_text(data, start, end, cuts, binary) == expected


def test_addresses_in_binary_data_are_found():
    line = b"\x16\x03\x01\x00\x05" + b"10.1.2.3" + b"\x00\xff" + b"fe80::1:2" + b"\x01.2.3.\x00"
    assert address_text(line, binary=True) == [(5, 13), (15, 24)]
    assert address_text(b"TLSv1.2.3 and 300.1.1.1", binary=False) == []  # a version, an octet past 255
    assert address_text(b"01.2.3.4 1.2.3.04 1.2.3.4567 ::ffff:1.2.3.4", binary=False) == [(29, 43)]
    assert address_text(b"a:b:c:d:e:f:1:2:3", binary=False) == [(0, 15)]  # seven groups at most


GROUPS = st.one_of(st.just(0), st.just(0), st.integers(1, 0xF), st.integers(0, 0xFFFF))  # zero runs are likely


@settings(max_examples=2000)
@given(
    st.one_of(
        st.lists(GROUPS, min_size=8, max_size=8).map(lambda g: b"".join(x.to_bytes(2, "big") for x in g)),
        st.binary(min_size=4, max_size=4),
    )
)
def test_reports_write_addresses_as_ipaddress_does(raw):
    """`ip_text` (flow and mapping reports) against `ipaddress`, which the reports used to call:
    zero runs of every length and place, ties between runs, IPv4-mapped addresses."""
    assert ip_text(raw) == str(ipaddress.ip_address(raw))


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (bytes(16), "::"),
        (bytes(15) + b"\1", "::1"),
        (b"\0\1" + bytes(14), "1::"),
        (bytes(10) + b"\xff\xff\1\2\3\4", "::ffff:102:304"),
        (b"\0\1\0\0\0\2\0\0\0\0\0\3\0\0\0\0", "1:0:2::3:0:0"),
        (b"\0\1\0\0\0\0\0\2\0\0\0\0\0\3\0\4", "1::2:0:0:3:4"),
        (bytes([192, 168, 1, 200]), "192.168.1.200"),
        (b"\1\2", "0102"),
        (b"", ""),
    ],
)
def test_report_address_forms(raw, text):
    assert ip_text(raw) == text
