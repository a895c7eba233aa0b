"""Addresses written as text (`pktmask_nb.proto.text`): the quick hints never hide a match."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from pktmask_nb.proto.text import BINARY_IPV6_MIN_DIGITS, IPV4_TEXT, IPV6_TEXT, address_text


def reference(line: bytes, binary: bool) -> list[tuple[int, int]]:
    """The full patterns over every position, no hint first."""
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
def test_the_hints_find_what_the_full_patterns_find(pieces, binary):
    line = b"".join(pieces)
    assert address_text(line, binary) == reference(line, binary)


def test_addresses_in_binary_data_are_found():
    line = b"\x16\x03\x01\x00\x05" + b"10.1.2.3" + b"\x00\xff" + b"fe80::1:2" + b"\x01.2.3.\x00"
    assert address_text(line, binary=True) == [(5, 13), (15, 24)]
    assert address_text(b"TLSv1.2.3 and 300.1.1.1", binary=False) == []  # a version, an octet past 255
