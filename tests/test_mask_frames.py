"""The mask stage's frame parsing: the chunk-wide NumPy pass agrees with the frame-by-frame one."""

from __future__ import annotations

import pytest

from pktmask_nb.bench.generate import generate_capture
from pktmask_nb.capture import open_capture
from pktmask_nb.config import AnonymizeConfig
from pktmask_nb.proto.plain import BATCH_MIN_PACKETS, BATCH_PAD, BUFFER_STEP, PlainChunk, find_plain, parse_of
from pktmask_nb.record import Packet
from pktmask_nb.stages.anonymize import AnonymizeStage
from pktmask_nb.stages.mask.frames import PlainSegments, flow_key, key_ends, plain_segments, plain_tcp, segment


def chunks(path, size=4096):
    with open_capture(path) as reader:
        while chunk := reader.read_chunk(size):
            yield chunk


def one_by_one(chunk: list) -> list:
    out = []
    for r in chunk:
        where = plain_tcp(r.data, r.linktype) if r.__class__ is Packet else None
        out.append(None if where is None else segment(r.data, *where, b""))
    return out


def lengthened(records: list) -> list:
    """`records` repeated until they are long enough for the NumPy pass."""
    return records * (BATCH_MIN_PACKETS // len(records) + 1) if len(records) < BATCH_MIN_PACKETS else records


def batch_and_by_frame(chunk: list) -> tuple[list, list]:
    """The chunk-wide NumPy pass, and the frame-by-frame parse."""
    chunk = lengthened(chunk)
    return plain_segments(chunk), one_by_one(chunk)


def handed_on_and_fresh(chunk: list) -> tuple[list, list]:
    """Mask's segments from the parse anonymize hands on with the chunk (`PlainChunk`), and
    from a fresh parse of the rewritten frames: addresses, ports, offsets, sides."""
    packets = [r for r in chunk if r.__class__ is Packet]
    packets = [Packet(p.index, p.ts, p.data, p.wirelen, p.linktype, p.head, p.tail) for p in lengthened(packets)]
    out = AnonymizeStage(AnonymizeConfig(key=bytes(range(32)))).process(packets)
    assert out.__class__ is PlainChunk and list(out) == packets
    return PlainSegments(out).rows(), PlainSegments(list(out)).rows()  # a plain list: parsed afresh


def check(path, parses) -> int:
    """The two parses `parses` makes of each chunk agree; how many plain TCP frames they found."""
    found = 0
    for chunk in chunks(path):
        if any(r.__class__ is Packet for r in chunk):
            got, want = parses(chunk)
            assert got == want
            found += sum(s is not None for s in got)
    return found


PARSES = [batch_and_by_frame, handed_on_and_fresh]


@pytest.mark.parametrize("parses", PARSES)
def test_parses_agree_on_shared(shared_capture, parses):
    check(shared_capture, parses)


@pytest.mark.parametrize("parses", PARSES)
def test_parses_agree_on_generated(tmp_path, parses):
    path = tmp_path / "g.pcap"
    generate_capture(path, 2_000_000, seed=3)  # TLS, HTTP, DNS, VLAN, IPv6, duplicates
    assert check(path, parses) > 1000


@pytest.mark.parametrize("sizes", [[60] * 3, [BUFFER_STEP - BATCH_PAD], [BUFFER_STEP - BATCH_PAD + 1, 7], [], [0]])
def test_the_parse_buffer_holds_the_frames_then_zeros_to_a_whole_step(sizes):
    datas = [bytes([i + 1]) * n for i, n in enumerate(sizes)]
    buf = find_plain(datas).buf
    joined = b"".join(datas)
    tail = buf[len(joined) :]
    assert buf[: len(joined)] == joined and not any(tail)
    assert len(tail) >= BATCH_PAD and len(buf) % BUFFER_STEP == 0 and len(tail) < BATCH_PAD + BUFFER_STEP


def test_a_chunk_with_blocks_or_too_short_for_the_batch_carries_no_parse(tmp_path):
    path = tmp_path / "g.pcap"
    generate_capture(path, 200_000, seed=5)
    stage = AnonymizeStage(AnonymizeConfig(key=bytes(range(32))))
    with_header = next(chunks(path))  # the pcap file header comes first
    assert with_header[0].__class__ is not Packet
    assert parse_of(stage.process(with_header)) is None
    packets = [r for r in with_header if r.__class__ is Packet]
    assert parse_of(stage.process(packets[: BATCH_MIN_PACKETS - 1])) is None
    assert parse_of(stage.process(packets)) is not None


@pytest.mark.parametrize(
    "a, b",
    [
        (bytes([10, 0, 0, 1, 0, 80]), bytes([10, 0, 0, 2, 0x1F, 0x90])),
        (bytes([10, 0, 0, 9, 0, 80]), bytes([10, 0, 0, 2, 0x1F, 0x90])),
        (bytes(range(16)) + b"\x01\xbb", bytes(range(16)) + b"\x01\xbb"),  # both ends equal
        (bytes(range(1, 17)) + b"\0\1", bytes(range(16)) + b"\xff\xff"),
    ],
)
@pytest.mark.parametrize("ctx", [b"", bytes(8)])
def test_flow_key_is_direction_free_and_gives_the_ends_back(a, b, ctx):
    key, side = flow_key(6, ctx, a, b)
    back, other = flow_key(6, ctx, b, a)
    assert key == back and (side != other or a == b)
    ends = key_ends(key)
    assert ends[side] == (a[:-2], int.from_bytes(a[-2:], "big"))
    assert ends[1 - side] == (b[:-2], int.from_bytes(b[-2:], "big"))
    assert flow_key(17, ctx, a, b)[0] != key  # UDP and TCP flows never share a key
