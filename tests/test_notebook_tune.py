"""Chunk-size tuning: the recommendation rule on known numbers, a real sweep, the tuner widget."""

from __future__ import annotations

import math

import pytest

pd = pytest.importorskip("pandas")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
nb = pytest.importorskip("pktmask_nb.notebook")

from conftest import DATA  # noqa: E402

import pktmask_nb  # noqa: E402
from pktmask_nb.config import Config  # noqa: E402
from pktmask_nb.notebook.tune import render_tuner, sweep_table  # noqa: E402

MB = 10**6


def _sweep(rows) -> pd.DataFrame:
    """(chunk_size, seconds, peak MB) rows as a sweep frame."""
    return pd.DataFrame(
        [{"chunk_size": c, "seconds": s, "peak_rss_bytes": m * MB, "rss_growth_bytes": 0, "mb_per_second": 1.0}
         for c, s, m in rows]
    )  # fmt: skip


SWEEP = _sweep(
    [
        (1, 1.00, 40), (1, 1.20, 40), (1, 0.90, 40),
        (4, 0.30, 41), (4, 0.31, 41), (4, 9.00, 41),  # one outlier: the median ignores it
        (16, 0.105, 44), (16, 0.104, 44), (16, 0.106, 44),
        (64, 0.100, 60), (64, 0.101, 60), (64, 0.099, 60),
    ]
)  # fmt: skip


def test_smallest_size_within_tolerance_of_the_fastest():
    assert nb.recommend_chunk_size(SWEEP) == 16  # 0.105 <= 1.1 * 0.100
    assert nb.recommend_chunk_size(SWEEP, tolerance=0.0) == 64
    assert nb.recommend_chunk_size(SWEEP, tolerance=2.5) == 4  # 0.31 <= 3.5 * 0.1; the outlier does not count
    assert nb.recommend_chunk_size(SWEEP, tolerance=100) == 1


def test_memory_budget():
    assert nb.recommend_chunk_size(SWEEP, memory_budget=50 * MB, tolerance=0.0) == 16  # 64 is over budget
    assert nb.recommend_chunk_size(SWEEP, memory_budget=41 * MB) == 4
    assert nb.recommend_chunk_size(SWEEP, memory_budget=1 * MB) == 1  # nothing fits: least memory


def test_empty_sweep_is_an_error():
    with pytest.raises(ValueError, match="no runs"):
        nb.recommend_chunk_size(SWEEP.iloc[:0])


def test_sweep_table():
    table = sweep_table(SWEEP)
    assert list(table.index) == [1, 4, 16, 64]
    assert table.loc[4, "seconds_median"] == 0.31 and table.loc[4, "seconds_max"] == 9.0
    assert table.loc[64, "peak_rss_bytes"] == 60 * MB


def test_real_sweep_measures_every_size_and_repeat():
    seen = []
    df = nb.sweep(DATA / "tls_http.pcap", sizes=(1, 16, 4096), repeat=2, on_run=seen.append)
    assert len(df) == len(seen) == 6
    assert df["chunk_size"].tolist() == [1, 16, 4096, 1, 16, 4096] and df["repeat"].tolist() == [0, 0, 0, 1, 1, 1]
    assert (df["packets"] == 97).all() and (df["bytes"] == (DATA / "tls_http.pcap").stat().st_size).all()
    for size in (1, 16, 4096):
        chunks = len(pktmask_nb.run(DATA / "tls_http.pcap", config=Config(chunk_size=size)).chunks)
        assert (df.loc[df["chunk_size"] == size, "chunks"] == chunks).all()
        assert chunks >= math.ceil(97 / size)
    assert (df["seconds"] > 0).all() and (df["peak_rss_bytes"] > 10 * 2**20).all()
    assert df["mb_per_second"].tolist() == pytest.approx((df["bytes"] / MB / df["seconds"]).tolist())
    assert nb.recommend_chunk_size(df) in (1, 16, 4096)


def test_render_tuner():
    state = {
        "sizes": [1, 4, 16],
        "repeat": 2,
        "status": "idle",
        "done": 0,
        "total": 0,
        "error": "",
        "recommended": None,
    }
    assert render_tuner(state)["status_text"] == "Ready: 3 sizes × 2 runs"
    running = render_tuner({**state, "status": "running", "done": 3, "total": 6})
    assert running["progress"] == 0.5 and running["run_disabled"] and running["status_text"] == "Sweeping: run 3 of 6"
    done = render_tuner({**state, "status": "done", "done": 6, "total": 6, "recommended": 4096})
    assert done["status_text"] == "Recommended chunk size: 4,096 packets" and done["bar_style"] == "success"
    failed = render_tuner({**state, "status": "error", "error": "OSError: gone"})
    assert failed["error"] == "OSError: gone" and not failed["run_disabled"]
    assert render_tuner({**state, "sizes": []})["run_disabled"]


def test_tuner_widget_runs_a_sweep():
    tuner = nb.ChunkSizeTuner(DATA / "tls_http.pcap", exponents=(0, 4), repeat=1)
    assert tuner.state["sizes"] == [1, 4, 16]
    tuner.repeats.value = 2
    df = tuner.run()
    assert len(df) == 6 and tuner.state["status"] == "done" and tuner.state["done"] == 6
    assert tuner.state["recommended"] == nb.recommend_chunk_size(df)
    assert tuner.progress.value == 1.0 and "Recommended chunk size" in tuner.status.value


def test_tuner_failure_shows_the_error_and_reraises():
    tuner = nb.ChunkSizeTuner(DATA / "missing.pcap", exponents=(0, 2), repeat=1)
    with pytest.raises(pktmask_nb.PktmaskError):
        tuner.run()
    assert tuner.state["status"] == "error" and "missing.pcap" in tuner.error.value
    assert tuner.progress.bar_style == "danger"
