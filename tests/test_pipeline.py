"""The engine's per-chunk metrics (pktmask_nb.pipeline.ChunkLog): what a run keeps of each chunk."""

from __future__ import annotations

import pickle
import tracemalloc

import pytest
from conftest import DATA

import pktmask_nb
from pktmask_nb import Config
from pktmask_nb.pipeline import ChunkLog, ChunkMetrics


def metrics(i: int, stages: dict | None = None) -> ChunkMetrics:
    stages = {"dedup": 0.001 * i, "anonymize": 0.002 * i, "mask": 0.003 * i} if stages is None else stages
    return ChunkMetrics(
        chunk=i,
        packets_in=512,
        packets_out=500 - i % 7,
        bytes_in=300_000 + i,
        bytes_out=290_000 + i,
        read_seconds=0.0004 * i,
        stage_seconds=stages,
        write_seconds=0.0001 * i,
        rss_bytes=80_000_000 + 4096 * i,
        elapsed_seconds=0.01 * i,
        input_position=300_016 * i,
    )


def test_the_log_gives_back_each_chunk_as_it_came():
    came = [metrics(i) for i in range(50)]
    came[7] = metrics(7, {"dedup": 0.5})  # a chunk some stages did not run in
    came[9] = metrics(9, {"dedup": 0.1, "anonymize": 0.0, "mask": 0.2, "scrub": 1e-9})  # a stage first seen late
    log = ChunkLog(came)
    assert len(log) == 50 and log == came and came == log
    assert [log[i] for i in range(50)] == came and list(log) == came
    assert log[-1] == came[-1] and log[3:6] == came[3:6]
    assert list(log[9].stage_seconds) == ["dedup", "anonymize", "mask", "scrub"]  # the order they ran in
    assert log[7].stage_seconds == {"dedup": 0.5} and "scrub" not in log[8].stage_seconds
    assert log != came[:-1] and log != [*came[:-1], metrics(99)]
    with pytest.raises(IndexError):
        log[50]


def test_the_log_pickles_as_its_columns():
    came = [metrics(i) for i in range(2000)]
    log = ChunkLog(came)
    assert pickle.loads(pickle.dumps(log)) == came
    assert len(pickle.dumps(log)) < len(pickle.dumps(came))  # 8 bytes a column a chunk


def test_a_chunk_costs_about_a_hundred_bytes():
    """A 10 GB capture is some 30,000 chunks of 512 packets: as ChunkMetrics objects with their
    dict of stage times their metrics took about 530 bytes a chunk, and grew with the file."""
    came = [metrics(i) for i in range(20_000)]
    log = ChunkLog()
    tracemalloc.start()
    try:
        for m in came:
            log.append(m)
        kept = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert kept / len(came) < 160


def test_a_run_keeps_its_chunks_in_a_log(tmp_path):
    seen = []
    out = tmp_path / "out.pcap"
    result = pktmask_nb.run(DATA / "duplicates.pcap", out, Config(chunk_size=64), on_chunk=seen.append)
    assert type(result.chunks) is ChunkLog and len(result.chunks) > 1 and result.chunks == seen
    assert sum(m.packets_in for m in result.chunks) == result.packets_in
    report = result.to_dict(chunks=True)["chunks"]
    assert list(report) == [m.to_dict() for m in seen]
