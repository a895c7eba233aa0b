"""The mask's deferred zeroing (ZeroWriter) against the frame-by-frame RFC 1624 update of proto.checksum.patch."""

from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktmask_nb.proto.checksum import patch
from pktmask_nb.proto.spans import CK_TCP, CK_UDP, Checksum
from pktmask_nb.record import Packet
from pktmask_nb.stages.mask import writer as writer_module
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
    position = draw(st.integers(first, min(first + 3, last - 2)))
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


def reference(data: bytes, checksum: tuple, changes: list) -> bytes:
    buf = bytearray(data)
    patch(buf, [checksum], [(p, bytes(n)) for p, n in changes])
    return bytes(buf)


@settings(max_examples=300, deadline=None)
@given(st.lists(frames(), min_size=1, max_size=12))
def test_zero_writer_equals_frame_by_frame_patch(batch):
    check_against_patch(batch)


@settings(max_examples=100, deadline=None)
@given(st.lists(frames(), min_size=1, max_size=12))
def test_zero_writer_in_batches_of_three_frames_equals_frame_by_frame_patch(batch):
    """A chunk larger than WRITER_BATCH frames is zeroed batch by batch, each with its own ranges."""
    with mock.patch.object(writer_module, "WRITER_BATCH", 3):
        check_against_patch(batch)


def check_against_patch(batch):
    writer = ZeroWriter()
    packets = []
    for i, (data, checksum, changes) in enumerate(batch):
        packet = Packet(i + 1, 0, data, len(data), 1, b"")
        packets.append(packet)
        writer.add(packet, [checksum], list(changes))
    writer.apply()
    changed = 0
    for packet, (data, checksum, changes) in zip(packets, batch):
        want = reference(data, checksum, changes)
        assert bytes(packet.data) == want
        changed += want != data
    assert writer.changed == changed


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5, 131_070, 2**18 - 40])
@pytest.mark.parametrize("at", [20, 21, 22, 23])
def test_ranges_of_0xff_sum_exactly(length, at):
    """The largest sums a range can have (all bytes 0xFF), from one byte to the longest frame,
    at each offset within a 32-bit word, beside a short range."""
    n = at + length + 10
    data = bytes(range(20)) + b"\xff" * (n - 20)
    checksum = Checksum(16, 0, n, CK_TCP)
    changes = [(at, length), (n - 6, 3)]
    packet = Packet(1, 0, data, n, 1, b"")
    writer = ZeroWriter()
    writer.add(packet, [checksum], list(changes))
    writer.apply()
    assert bytes(packet.data) == reference(data, checksum, changes)
