"""RFC 1624 incremental checksum updates against full RFC 1071 recomputation."""

from __future__ import annotations

import pytest
from craft import checksum_map
from hypothesis import given, settings
from hypothesis import strategies as st

from pktmask_nb.proto.checksum import (
    adjust,
    any_nonzero,
    frame_copy,
    internet_checksum,
    nonzero,
    patch,
    word_sum,
    zero,
)
from pktmask_nb.proto.spans import CK_OPTIONAL, CK_TCP, CK_UDP, Checksum

CK_OTHER = CK_TCP


def fill(buf: bytearray, position: int, start: int, end: int, initial: int = 0) -> None:
    """Write the correct checksum for ``buf[start:end]`` (plus `initial`) at `position`."""
    buf[position : position + 2] = b"\0\0"
    buf[position : position + 2] = internet_checksum(buf, start, end, initial).to_bytes(2, "big")


def valid(buf, start: int, end: int, initial: int = 0) -> bool:
    return (word_sum(buf, start, end) + initial) % 0xFFFF == 0


@given(st.binary(min_size=2, max_size=64), st.integers(0, 0xFFFF))
def test_adjust_matches_recomputation(data, new_word):
    data = data[: len(data) // 2 * 2]  # checksum fields are word-aligned
    buf = bytearray(data + b"\0\0")
    fill(buf, len(data), 0, len(buf))
    old_word = int.from_bytes(buf[0:2], "big")
    buf[0:2] = new_word.to_bytes(2, "big")
    checksum = adjust(int.from_bytes(buf[-2:], "big"), new_word - old_word)
    buf[-2:] = checksum.to_bytes(2, "big")
    assert valid(buf, 0, len(buf))


@settings(max_examples=200)
@given(
    st.binary(min_size=40, max_size=120),
    st.lists(st.tuples(st.integers(0, 200), st.binary(min_size=1, max_size=16)), min_size=1, max_size=4),
)
def test_nested_covering_checksums_stay_valid(data, changes):
    # outer region [0, n) with checksum at 0; inner region [8, n) with checksum at 10, whose
    # field the outer covers: writing bytes anywhere must leave both valid.
    buf = bytearray(data)
    n = len(buf)
    fill(buf, 10, 8, n)
    fill(buf, 0, 0, n)
    checksums = [Checksum(0, 0, n, CK_OTHER), Checksum(10, 8, n, CK_OTHER)]
    todo = []
    for offset, new in changes:
        offset = 12 + offset % (n - 12 - len(new)) if n - 12 - len(new) > 0 else 12
        todo.append((offset, new[: n - offset]))
    patch(buf, checksum_map(n, checksums), todo)
    assert valid(buf, 8, n) and valid(buf, 0, n)


@settings(max_examples=200)
@given(st.binary(min_size=8, max_size=8), st.binary(min_size=8, max_size=8), st.binary(min_size=8, max_size=60))
def test_pseudo_header_checksum_follows_the_address(old, new, segment):
    # 8 address bytes (two 4-byte fields) at [0, 8) form the pseudo-header of a checksum at 12 over [8, end)
    buf = bytearray(old + segment + b"\0\0\0\0\0\0")
    end = len(buf)
    fill(buf, 12, 8, end, word_sum(buf, 0, 8))
    deltas = {i: (word_sum(new, 4 * i, 4 * i + 4) - word_sum(old, 4 * i, 4 * i + 4)) % 0xFFFF for i in (0, 1)}
    patch(buf, checksum_map(end, [Checksum(12, 8, end, CK_OTHER, (0, 1))], fields=2), [(0, new)], deltas)
    assert valid(buf, 8, end, word_sum(new, 0, 8))


def test_bad_checksum_stays_bad_by_the_same_amount():
    buf = bytearray(b"\x12\x34" * 10)
    fill(buf, 4, 0, len(buf))
    buf[4] ^= 0x40  # wrong on purpose (capture offload)
    before = word_sum(buf, 0, len(buf))
    patch(buf, checksum_map(len(buf), [Checksum(4, 0, len(buf), CK_OTHER)]), [(10, b"\xff\x00\xab")])
    assert word_sum(buf, 0, len(buf)) == before != 0


@pytest.mark.parametrize("kind", [CK_UDP, CK_OPTIONAL])
def test_optional_zero_checksum_stays_zero_and_never_becomes_zero(kind):
    buf = bytearray(16)
    buf[0:4] = b"\x0a\x00\x00\x01"
    patch(buf, checksum_map(16, [Checksum(6, 4, 16, kind, (0,))], fields=1), [(0, b"\x0a\x00\x00\x02")], {0: 1})
    assert buf[6:8] == b"\0\0"
    # a computed 0x0000 is sent as 0xFFFF (RFC 768)
    buf = bytearray(b"\x00\x01\x00\x00" + bytes(2) + b"\x00\x00" + bytes(8))
    buf[6:8] = b"\xff\xfe"
    patch(buf, checksum_map(16, [Checksum(6, 4, 16, kind, (0,))], fields=1), [(0, b"\x00\x00\x00\x00")], {0: 0xFFFE})
    assert buf[6:8] != b"\0\0"


def test_odd_offset_change():
    buf = bytearray(range(1, 34))
    fill(buf, 0, 0, len(buf))
    patch(buf, checksum_map(len(buf), [Checksum(0, 0, len(buf), CK_OTHER)]), [(5, b"\xaa\xbb\xcc")])
    assert valid(buf, 0, len(buf))


def word_sum_by_definition(data, start: int, end: int, parity: int = 0) -> int:
    """The sum as Python integers: the bytes as one big-endian number, padded to whole words."""
    value = int.from_bytes(bytes(data[start:end]), "big")
    if (end - start + parity) & 1:
        value <<= 8
    return value % 0xFFFF


@settings(max_examples=500)
@given(st.binary(max_size=300), st.data())
def test_compiled_word_sum_equals_its_definition(data, draw):
    start = draw.draw(st.integers(0, len(data)))
    end = draw.draw(st.integers(start, len(data)))
    parity = draw.draw(st.integers(0, 1))
    assert word_sum(data, start, end, parity) == word_sum_by_definition(data, start, end, parity)
    assert word_sum(bytearray(data), start, end, parity) == word_sum_by_definition(data, start, end, parity)


def test_word_sum_of_many_0xff_bytes_and_out_of_range():
    data = b"\xff" * (1 << 18)
    assert word_sum(data, 0, len(data)) == word_sum_by_definition(data, 0, len(data))
    assert word_sum(data, 1, len(data) - 1, 1) == word_sum_by_definition(data, 1, len(data) - 1, 1)
    with pytest.raises(IndexError):
        word_sum(b"abc", 0, 4)
    with pytest.raises(IndexError):
        patch(bytearray(4), checksum_map(4, []), [(3, b"xy")])


@settings(max_examples=300)
@given(
    st.binary(min_size=40, max_size=120),
    st.lists(st.tuples(st.integers(12, 200), st.integers(-2, 30)), max_size=4),
    st.sampled_from([CK_OTHER, CK_UDP]),
)
def test_zero_is_patch_with_zeros(data, ranges, kind):
    """`zero` writes what `patch` writes given zero bytes, checksums alike (a UDP 0 stays 0);
    `any_nonzero` tells whether that changes anything."""
    buf = bytearray(data)
    n = len(buf)
    fill(buf, 10, 8, n)
    fill(buf, 0, 0, n)
    m = checksum_map(n, [Checksum(0, 0, n, CK_OTHER), Checksum(10, 8, n, kind)])
    ranges = [(offset % n, min(length, n - offset % n)) for offset, length in ranges]
    expected = bytearray(buf)
    patch(expected, m, [(offset, bytes(length)) for offset, length in ranges if length > 0])
    before = bytes(buf)
    zero(buf, m, ranges)
    assert buf == expected and valid(buf, 0, n)
    touched = [length > 0 and any(before[o : o + length]) for o, length in ranges]  # no wrapping slice end
    assert any_nonzero(before, ranges) == any(touched)
    for (o, length), expected in zip(ranges, touched):
        assert nonzero(before, o, o + length) == nonzero(bytearray(before), o, o + length) == expected
    with pytest.raises(IndexError):
        zero(buf, m, [(n - 1, 2)])
    with pytest.raises(IndexError):
        any_nonzero(buf, [(n - 1, 2)])
    with pytest.raises(IndexError):
        nonzero(buf, n - 1, n + 1)


def test_patch_with_more_checksums_than_the_stack_holds():
    """A frame with many nested checksums (deep tunnels) keeps every one of them right."""
    n = 200
    buf = bytearray(range(n))
    checksums = [Checksum(2 * k, 2 * k, n, CK_OTHER) for k in range(40)]  # each covers the next ones
    for c in reversed(checksums):
        fill(buf, c.position, c.start, c.end)
    patch(buf, checksum_map(n, checksums), [(150, b"\x01\x02\x03"), (97, b"\xee")])
    assert all(valid(buf, c.start, c.end) for c in checksums)


@settings(max_examples=300)
@given(st.binary(min_size=1000, max_size=5000), st.integers(0, 7), st.integers(0, 1))
def test_compiled_word_sum_of_long_ranges_equals_its_definition(data, skip, parity):
    """Long enough for the eight-byte loop, from every offset within a word."""
    assert word_sum(data, skip, len(data), parity) == word_sum_by_definition(data, skip, len(data), parity)


def test_frame_copy_is_a_new_bytearray_of_the_same_bytes():
    for data in (b"", b"\x00\x01frame", bytearray(b"\xffrewritten")):
        copy = frame_copy(data)
        assert type(copy) is bytearray and copy == data and copy is not data
    original = bytearray(b"abc")
    frame_copy(original)[0] = 0
    assert original == b"abc"
    with pytest.raises(TypeError):
        frame_copy(memoryview(b"abc"))
