"""Chunk-size tuning: time and memory of runs over a range of chunk sizes, a recommendation, a widget."""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Sequence

import ipywidgets as w
import pandas as pd
from IPython.display import display
from matplotlib.figure import Figure

from .. import api
from ..config import Config
from ..pipeline import current_rss
from .frames import MB
from .panel import MAX_CHUNK_EXPONENT, chunk_size_for
from .plots import plot_sweep
from .show import show, show_figure

SWEEP_SIZES = (16, 64, 256, 1024, 4096, 16384, 65536)
SWEEP_TOLERANCE = 0.10  # a size within 10% of the fastest median time counts as fast enough
SWEEP_COLUMNS = (
    "chunk_size", "repeat", "seconds", "chunks", "packets", "bytes", "peak_rss_bytes", "rss_growth_bytes",
    "packets_per_second", "mb_per_second",
)  # fmt: skip


def _measure(path, config: Config, chunk_size: int, repeat: int) -> dict:
    before = current_rss()
    result = api.run(path, config=config.replace(chunk_size=chunk_size))
    peak = max((m.rss_bytes for m in result.chunks), default=before)
    seconds = result.seconds
    return {
        "chunk_size": chunk_size,
        "repeat": repeat,
        "seconds": seconds,
        "chunks": len(result.chunks),
        "packets": result.packets_in,
        "bytes": result.bytes_read,
        "peak_rss_bytes": peak,
        "rss_growth_bytes": max(peak - before, 0),
        "packets_per_second": result.packets_in / seconds if seconds else float("nan"),
        "mb_per_second": result.bytes_read / MB / seconds if seconds else float("nan"),
    }


def sweep(
    path,
    sizes: Sequence[int] = SWEEP_SIZES,
    config: Config | None = None,
    *,
    repeat: int = 3,
    on_run: Callable[[dict], None] | None = None,
) -> pd.DataFrame:
    """Run the pipeline on `path` once per chunk size and repeat (nothing is written).

    One unmeasured warm-up run comes first; the repeats go round the sizes in turn so
    slow drifts of the machine spread over all sizes alike.

    Parameters
    ----------
    path : str or os.PathLike
    sizes : sequence of int
        Chunk sizes to try.
    config : Config, optional
        Stages and settings (its chunk size is replaced); default all stages.
    repeat : int
        Runs per size.
    on_run : callable, optional
        Called with each measurement row as it is made (progress).

    Returns
    -------
    DataFrame
        One row per run: ``chunk_size, repeat, seconds, chunks, packets, bytes,
        peak_rss_bytes`` (largest RSS sample of the run), ``rss_growth_bytes`` (over the
        RSS before it), ``packets_per_second, mb_per_second``.
    """
    config = config or Config()
    api.run(path, config=config)  # warm-up: imports, caches, page cache
    rows = []
    for r in range(repeat):
        for size in sizes:
            rows.append(_measure(path, config, int(size), r))
            if on_run is not None:
                on_run(rows[-1])
    return pd.DataFrame(rows, columns=list(SWEEP_COLUMNS))


def sweep_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per chunk size: median, min and max seconds, peak memory and median throughput."""
    by_size = df.groupby("chunk_size")
    table = by_size["seconds"].agg(["median", "min", "max"]).add_prefix("seconds_")
    table["peak_rss_bytes"] = by_size["peak_rss_bytes"].max()
    table["rss_growth_bytes"] = by_size["rss_growth_bytes"].max()
    table["mb_per_second"] = by_size["mb_per_second"].median()
    return table


def recommend_chunk_size(
    df: pd.DataFrame, *, tolerance: float = SWEEP_TOLERANCE, memory_budget: int | None = None
) -> int:
    """The smallest chunk size whose median time is within `tolerance` of the fastest.

    Smaller chunks hold less memory and report progress more often, so among sizes that
    are about as fast as the best, the smallest wins. With a `memory_budget` (bytes of
    peak RSS) only sizes within it are considered; when none is, the size with the
    least peak memory is returned.

    Parameters
    ----------
    df : DataFrame
        A `sweep` frame (or any frame with ``chunk_size``, ``seconds``, ``peak_rss_bytes``).
    tolerance : float
        Allowed slowdown over the fastest median, as a fraction.
    memory_budget : int, optional

    Returns
    -------
    int
    """
    if df.empty:
        raise ValueError("the sweep has no runs")
    table = sweep_table(df)
    if memory_budget is not None:
        within = table[table["peak_rss_bytes"] <= memory_budget]
        if within.empty:
            return int(table["peak_rss_bytes"].idxmin())
        table = within
    fast = table[table["seconds_median"] <= table["seconds_median"].min() * (1 + tolerance)]
    return int(fast.index.min())


def render_tuner(state: dict) -> dict:
    """What the tuner shows for its `state` (pure): status text, progress, button, error."""
    status, done, total = state["status"], state["done"], state["total"]
    texts = {
        "idle": f"Ready: {len(state['sizes'])} sizes × {state['repeat']} runs",
        "running": f"Sweeping: run {done} of {total}",
        "done": f"Recommended chunk size: {state['recommended']:,} packets" if state["recommended"] else "Done",
        "error": "Sweep failed",
    }
    return {
        "status_text": texts[status],
        "progress": done / total if total else 0.0,
        "bar_style": {"idle": "", "running": "info", "done": "success", "error": "danger"}[status],
        "run_disabled": status == "running" or not state["sizes"],
        "error": state["error"] if status == "error" else "",
    }


class ChunkSizeTuner:
    """A widget that sweeps chunk sizes on a capture, plots time and memory, and recommends one.

    Parameters
    ----------
    path : str or os.PathLike
    config : Config, optional
    exponents : (int, int)
        Initial range of the log slider: sizes 2**lo ... 2**hi, every second power.
    repeat : int
    """

    def __init__(self, path, config: Config | None = None, *, exponents=(4, 16), repeat: int = 3):
        self.config = config or Config()
        self.state = {"path": os.fspath(path), "sizes": [], "repeat": repeat, "status": "idle", "done": 0}
        self.state.update(total=0, error="", recommended=None, results=None)
        self.range = w.IntRangeSlider(value=exponents, min=0, max=MAX_CHUNK_EXPONENT, description="chunk 2ⁿ")
        self.repeats = w.IntSlider(value=repeat, min=1, max=9, description="repeats")
        self.button = w.Button(description="Sweep", icon="play", button_style="primary").add_class("pktmask-sweep")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0)
        self.status, self.error = w.HTML(), w.HTML()
        self.plot, self.table = w.Output(), w.Output()
        self.range.observe(lambda _: self._settings(), "value")
        self.repeats.observe(lambda _: self._settings(), "value")
        self.button.on_click(lambda _: self.run())
        self.widget = w.VBox(
            [w.HBox([self.range, self.repeats, self.button]), w.HBox([self.progress, self.status]), self.error]
            + [self.plot, self.table]
        ).add_class("pktmask-tuner")
        self._settings()

    def _settings(self) -> None:
        lo, hi = self.range.value
        self.state.update(sizes=[chunk_size_for(e) for e in range(lo, hi + 1, 2)], repeat=self.repeats.value)
        self._refresh()

    def _refresh(self) -> None:
        view = render_tuner(self.state)
        self.status.value = html.escape(view["status_text"])
        self.progress.value, self.progress.bar_style = view["progress"], view["bar_style"]
        self.button.disabled = view["run_disabled"]
        self.error.value = f"<pre style='color:#b00020'>{html.escape(view['error'])}</pre>" if view["error"] else ""

    def _ipython_display_(self) -> None:
        display(self.widget)

    def run(self) -> pd.DataFrame:
        """Sweep with the widget's settings; returns the `sweep` frame (error state and re-raise on failure)."""
        s = self.state
        s.update(status="running", done=0, total=len(s["sizes"]) * s["repeat"], error="", recommended=None)
        self._refresh()
        try:
            df = sweep(s["path"], s["sizes"], self.config, repeat=s["repeat"], on_run=self._on_run)
            s.update(results=df, recommended=recommend_chunk_size(df), status="done")
        except BaseException as error:
            s.update(status="error", error=f"{type(error).__name__}: {error}")
            self._refresh()
            raise
        fig = Figure(figsize=(7, 3.5), layout="constrained")
        plot_sweep(df, fig.add_subplot(), recommended=s["recommended"])
        show_figure(self.plot, fig)
        show(self.table, sweep_table(df))
        self._refresh()
        return df

    def _on_run(self, row: dict) -> None:
        self.state["done"] += 1
        self._refresh()
