"""The mask's deferred zeroing (ZeroWriter, through the compiled RFC 1624 kernel) against checksums by their definition."""

from __future__ import annotations

import pytest
from craft import checksum_map
from hypothesis import given, settings
from hypothesis import strategies as st

from pktmask_nb.proto.spans import CK_TCP, CK_UDP, Checksum
from pktmask_nb.record import Packet
from pktmask_nb.stages.mask.writer import ZeroWriter


@st.composite
def frames(draw):
    """A frame, one checksum (maybe a UDP 0) and disjoint ranges to zero that do not cover it."""
    n = draw(st.integers(24, 200))
    data = bytearray(draw(st.binary(min_size=n, max_size=n)))
    for _ in range(draw(st.integers(0, 2))):  # runs of zeros: ranges already zero change nothing
        a, m = draw(st.integers(0, n - 1)), draw(st.integers(1, 40))
        data[a : a + m] = bytes(len(data[a : a + m]))
    data = bytes(data)
    first = draw(st.integers(0, 12))
    last = draw(st.integers(first + 4, n))
    position = first + 2 * draw(st.integers(0, min(1, (last - 2 - first) // 2)))  # a word of its region
    kind = draw(st.sampled_from([CK_TCP, CK_UDP]))
    if kind == CK_UDP and draw(st.booleans()):
        data = data[:position] + b"\0\0" + data[position + 2 :]
    avoid = set(range(position, position + 2))
    cuts = sorted(draw(st.sets(st.integers(0, n), min_size=2, max_size=6)))
    changes = [
        (a, b - a)
        for a, b in zip(cuts[0::2], cuts[1::2])
        if not avoid & set(range(a, b)) and (first <= a and b <= last or b <= first or a >= last)
    ]  # each inside the checksummed region or wholly outside it
    return data, Checksum(position, first, last, kind), changes


def expected(data: bytes, changes: list) -> bytes:
    """The frame with the ``(offset, length)`` ranges of `changes` zeroed (the checksum field aside)."""
    buf = bytearray(data)
    for p, n in changes:
        buf[p : p + n] = bytes(n)
    return bytes(buf)


def region_sum(data, first: int, last: int) -> int:
    """RFC 1071 sum of ``data[first:last]`` by its definition (big-endian words, a lone last byte high)."""
    region = bytes(data[first:last])
    if len(region) % 2:
        region += b"\0"
    return int.from_bytes(region, "big") % 0xFFFF


@settings(max_examples=300, deadline=None)
@given(st.lists(frames(), min_size=1, max_size=12))
def test_zero_writer_zeroes_the_ranges_and_keeps_checksums_right(batch):
    """Only the ranges become zero (and the checksum field changes); the covered region sums as
    before (a right checksum stays right, a wrong one wrong by as much); a UDP 0 stays 0 and no
    checksum becomes 0; `changed` counts the frames whose bytes changed."""
    writer = ZeroWriter()
    packets = []
    for i, (data, checksum, changes) in enumerate(batch):
        packet = Packet(i + 1, 0, data, len(data), 1, b"")
        packets.append(packet)
        writer.add(packet, checksum_map(len(data), [checksum]), list(changes))
    writer.apply()
    changed = 0
    for packet, (data, checksum, changes) in zip(packets, batch):
        out, want = bytes(packet.data), expected(data, changes)
        at = checksum.position
        assert out[:at] + out[at + 2 :] == want[:at] + want[at + 2 :]
        old, new = data[at : at + 2], out[at : at + 2]
        if checksum.kind == CK_UDP and old == b"\0\0":
            assert new == old
        else:
            assert region_sum(out, checksum.start, checksum.end) == region_sum(data, checksum.start, checksum.end)
            assert new != b"\0\0" or old == new
        changed += out != data
    assert writer.changed == changed


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 131_070, 2**18 - 40])
@pytest.mark.parametrize("at", [20, 21, 22, 23])
def test_ranges_of_0xff_sum_exactly(length, at):
    """The largest sums a range can have (all bytes 0xFF), from one byte to the longest frame,
    at each offset within a word, beside a short range."""
    n = at + length + 10
    data = bytes(range(20)) + b"\xff" * (n - 20)
    checksum = Checksum(16, 0, n, CK_TCP)
    changes = [(at, length), (n - 6, 3)]
    packet = Packet(1, 0, data, n, 1, b"")
    writer = ZeroWriter()
    writer.add(packet, checksum_map(n, [checksum]), list(changes))
    writer.apply()
    out = bytes(packet.data)
    assert out[:16] + out[18:] == expected(data, changes)[:16] + expected(data, changes)[18:]
    assert region_sum(out, 0, n) == region_sum(data, 0, n)
