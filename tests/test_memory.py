"""Memory stays flat while a large generated capture streams through dedup (issue 2).

tracemalloc counts every Python and NumPy allocation, so the peaks are deterministic enough to
compare a 20 MB run with a 200 MB run of the same traffic. Speed is not measured here.
"""

from __future__ import annotations

import struct
import tracemalloc

import pytest

import pktmask_nb
from pktmask_nb import Config, DedupConfig

FRAME = 1400  # bytes per frame: 200 MB is ~141 000 frames
BOUND = 32 * 2**20  # the fixed bound: a few chunks of 1400-byte frames and the index
INDEX_BYTES_PER_UNIQUE = 24  # SPEC §4's goal for the exact-mode index


def synthetic(path, megabytes: int) -> int:
    """Ethernet/IPv4/UDP frames numbered by a counter; every tenth repeats the fifth before it.

    Returns the number of frames and of duplicates.
    """
    head = bytes.fromhex("001122334455 66778899aabb 0800 4500") + struct.pack(">H", FRAME - 14)
    head += bytes.fromhex("00004000 40110000 0a000001 0a000002")
    body = (bytes(range(256)) * 6)[: FRAME - len(head) - 8]
    count = megabytes * 1_000_000 // (FRAME + 16) + 1
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for start in range(0, count, 4096):
            records = []
            for i in range(start, min(start + 4096, count)):
                number = i - 5 if i % 10 == 9 else i
                records.append(struct.pack("<IIII", i // 1000, i % 1000 * 1000, FRAME, FRAME))
                records.append(head + struct.pack(">Q", number) + body)
            f.write(b"".join(records))
    return count, count // 10


def traced_peak(src, out, **options) -> tuple[int, int]:
    """The tracemalloc peak of one dedup run, and the number of duplicates it dropped."""
    tracemalloc.start()
    try:
        result = pktmask_nb.run(src, out, Config(stages=("dedup",), dedup=DedupConfig(**options)), force=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak, result.stages["dedup"]["duplicates"]


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """(path, frames, duplicates) for a 20 MB and a 200 MB capture of the same traffic."""
    folder = tmp_path_factory.mktemp("memory")
    return {mb: (folder / f"{mb}.pcap", *synthetic(folder / f"{mb}.pcap", mb)) for mb in (20, 200)}


def test_exact_dedup_grows_only_by_its_index(captures, tmp_path):
    (small, small_frames, small_dups), (large, large_frames, large_dups) = captures[20], captures[200]
    assert large.stat().st_size >= 200_000_000
    small_peak, dropped = traced_peak(small, tmp_path / "out.pcap")
    assert dropped == small_dups
    large_peak, dropped = traced_peak(large, tmp_path / "out.pcap")
    assert dropped == large_dups
    assert large_peak < BOUND
    more_unique = (large_frames - large_dups) - (small_frames - small_dups)
    assert large_peak - small_peak <= INDEX_BYTES_PER_UNIQUE * more_unique


def test_windowed_dedup_is_flat(captures, tmp_path):
    (small, _, _), (large, _, large_dups) = captures[20], captures[200]
    small_peak, _ = traced_peak(small, tmp_path / "out.pcap", window_packets=1000)
    large_peak, dropped = traced_peak(large, tmp_path / "out.pcap", window_packets=1000)
    assert dropped == large_dups
    assert large_peak < BOUND
    assert large_peak <= small_peak + 256 * 1024


def large_records(path, megabytes: int, size: int = 65_535) -> int:
    """Raw IPv4/TCP segments of `size` bytes (hosts with receive offload capture such frames)."""
    head = bytes.fromhex("4500") + struct.pack(">H", size) + bytes.fromhex("00004000 40060000 0a000001 0a000002")
    head += bytes.fromhex("9c4001bb") + b"%s" + bytes.fromhex("00000000 50180200 00000000")
    body = bytes(size - len(head) - 2)  # "%s" becomes 4 bytes
    count = megabytes * 1_000_000 // (size + 16) + 1
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262_144, 101))
        for i in range(count):
            f.write(struct.pack("<IIII", i, 0, size, size) + head.replace(b"%s", struct.pack(">I", i * size)) + body)
    return count


def test_memory_is_bounded_by_bytes_with_large_records(tmp_path):
    """A chunk ends at 512 packets (of 64 KiB: 32 MiB) or 8 MiB of them (Config.chunk_bytes), whichever comes first."""
    peaks = []
    for megabytes in (20, 80):
        src = tmp_path / f"{megabytes}.pcap"
        large_records(src, megabytes)
        config = Config(stages=("anonymize", "mask"), processes=1)
        tracemalloc.start()
        try:
            result = pktmask_nb.run(src, tmp_path / "out.pcap", config, force=True)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert max(m.bytes_in for m in result.chunks) <= config.chunk_bytes + 65_535
    # a chunk is copied a few times on its way (stages, writer) and mask holds up to 8 MiB of a
    # stream joined mid-way: ~66 MiB at any size, where a 4096-packet chunk held 306 MiB at 80 MB
    assert peaks[1] < 1.1 * peaks[0] and peaks[1] < 10 * config.chunk_bytes, peaks
    with pytest.raises(pktmask_nb.UsageError, match="chunk bytes must be"):
        Config(chunk_bytes=1000)
