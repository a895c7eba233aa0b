"""Plots return the Axes they drew on, with one artist per value of the frame they were given."""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402

nb = pytest.importorskip("pktmask_nb.notebook")

from conftest import DATA, ROOT  # noqa: E402

import pktmask_nb  # noqa: E402
from pktmask_nb.config import Config  # noqa: E402
from pktmask_nb.notebook import report  # noqa: E402

MB = 1e6


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def chunks():
    return nb.chunks_frame(pktmask_nb.run(DATA / "duplicates.pcap", config=Config(chunk_size=40)))


def test_stage_times_stacks_one_bar_per_chunk_and_step(chunks):
    ax = nb.plot_stage_times(chunks)
    steps = nb.frames.step_columns(chunks)
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == len(steps) == 6
    bottom = [0.0] * len(chunks)
    for container, column in zip(bars, steps):
        assert len(container) == len(chunks)
        for i, patch in enumerate(container):
            assert patch.get_height() == pytest.approx(chunks[column].iloc[i] * 1000)
            assert patch.get_y() == pytest.approx(bottom[i])
            bottom[i] += patch.get_height()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["read", "dedup", "anonymize", "mask", "scrub", "write"]
    top = [sum(chunks[c].iloc[i] for c in steps) * 1000 for i in range(len(chunks))]
    assert bottom == pytest.approx(top)


def test_plots_draw_on_the_axes_they_are_given(chunks):
    fig, axes = plt.subplots(1, 3)
    assert nb.plot_stage_times(chunks, axes[0]) is axes[0]
    assert nb.plot_memory(chunks, axes[1]) is axes[1]
    assert nb.plot_throughput(chunks, axes[2]) is axes[2]
    assert len(fig.axes) == 3


def test_memory_line_is_the_rss_samples(chunks):
    ax = nb.plot_memory(chunks)
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == pytest.approx(chunks["elapsed_seconds"].tolist())
    assert list(line.get_ydata()) == pytest.approx((chunks["rss_bytes"] / MB).tolist())
    assert ax.get_ylim()[0] == 0


@pytest.mark.skipif(importlib.util.find_spec("memory_profiler") is None, reason="memory-profiler not installed")
def test_memory_profiler_samples_plot_the_same_way():
    from pktmask_nb.notebook.memory import profile_memory

    samples, result = profile_memory(DATA / "tls_http.pcap", Config(chunk_size=8), interval=0.001)
    assert result.packets_in == 97
    assert len(samples) >= 2 and samples["elapsed_seconds"].is_monotonic_increasing
    assert (samples["rss_bytes"] > 10 * 2**20).all()
    (line,) = nb.plot_memory(samples).get_lines()
    assert len(line.get_xdata()) == len(samples)


@pytest.mark.parametrize("metric", ["mb_per_second", "packets_per_second"])
def test_throughput_bars_and_whole_run_line(chunks, metric):
    ax = nb.plot_throughput(chunks, metric=metric)
    (bars,) = ax.containers
    assert [p.get_height() for p in bars] == pytest.approx(chunks[metric].fillna(0).tolist())
    (line,) = ax.get_lines()
    amount = chunks["bytes_in"].sum() / MB if metric == "mb_per_second" else chunks["packets_in"].sum()
    assert line.get_ydata()[0] == pytest.approx(amount / chunks["total_seconds"].sum())


def test_sweep_plot_time_memory_and_recommendation():
    import pandas as pd

    df = pd.DataFrame(
        {
            "chunk_size": [1, 1, 16, 16, 256, 256],
            "seconds": [0.9, 1.1, 0.2, 0.3, 0.25, 0.2],
            "peak_rss_bytes": [40e6, 41e6, 42e6, 42e6, 50e6, 52e6],
        }
    )
    ax = nb.plot_sweep(df, recommended=16)
    (errorbar,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    line = errorbar.lines[0]
    assert list(line.get_xdata()) == [1, 16, 256]
    assert list(line.get_ydata()) == pytest.approx([1.0, 0.25, 0.225])
    (memory,) = ax.right_ax.get_lines()
    assert list(memory.get_ydata()) == pytest.approx([41, 42, 52])
    assert ax.get_xscale() == "log"
    marks = [line for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert len(marks) == 1 and marks[0].get_xdata()[0] == 16
    assert "recommended: 16" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert list(ax.get_xticks()) == [1, 16, 256] and list(ax.get_xticks(minor=True)) == []
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "16", "256"]
    # Every marker sits below the top by a margin, so none is cut in half.
    assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 1.1 * 1.1  # the highest error bar
    assert ax.right_ax.get_ylim()[0] == 0 and ax.right_ax.get_ylim()[1] >= 52 * 1.1


def test_sweep_of_one_size_ticks_that_size():
    import pandas as pd

    df = pd.DataFrame({"chunk_size": [4096, 4096], "seconds": [0.2, 0.2], "peak_rss_bytes": [40e6, 40e6]})
    ax = nb.plot_sweep(df)
    ax.figure.canvas.draw()
    assert list(ax.get_xticks()) == [4096] and [t.get_text() for t in ax.get_xticklabels()] == ["4,096"]
    low, high = ax.get_xlim()
    assert low < 4096 < high
    assert ax.get_ylim()[1] >= 0.2 * 1.1 and ax.right_ax.get_ylim()[1] >= 40 * 1.1


@pytest.mark.parametrize("plot", [nb.plot_stage_times, nb.plot_throughput])
def test_one_chunk_has_one_tick(plot):
    one = nb.chunks_frame(pktmask_nb.run(DATA / "tls_http.pcap", config=Config(chunk_size=4096)))
    assert len(one) == 1
    ax = plot(one)
    ax.figure.canvas.draw()
    low, high = ax.get_xlim()
    assert [t for t in ax.get_xticks() if low <= t <= high] == [0]


def test_bench_plots_have_one_artist_per_run():
    bench = report.load_bench(ROOT / "notebooks" / "example_bench.json")
    runs = bench["runs"]
    ax = report.plot_bench_throughput(runs)
    combos = runs.groupby(["tool", "name"]).ngroups
    sizes = runs["size_label"].nunique()
    assert len(ax.containers) == combos and all(len(c) == sizes for c in ax.containers)
    ratios = report.ratios_frame(runs)
    (bars,) = report.plot_bench_ratios(ratios).containers
    assert [p.get_width() for p in bars] == pytest.approx(ratios["speedup"].tolist())
    ax = report.plot_bench_rss(runs)
    assert len(ax.get_lines()) == combos
