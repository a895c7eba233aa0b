"""matplotlib plots of runs and sweeps: each ``plot_x(df, ax=None) -> Axes`` draws one DataFrame."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator, NullLocator

from .frames import MB, step_columns

MS = 1000.0
HEADROOM = 1.15  # y axes reach this far above the highest value, so its marker is drawn whole
STEP_COLORS = {
    "read": "#9e9e9e",
    "dedup": "#1f77b4",
    "anonymize": "#ff7f0e",
    "mask": "#2ca02c",
    "scrub": "#9467bd",
    "write": "#616161",
}


def axes_or_new(ax: Axes | None, figsize=(7, 3.5)) -> Axes:
    """`ax`, or the axes of a new figure (pyplot, so a notebook shows it) when None."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def top_of(values: pd.Series, floor: float) -> float:
    """An upper y limit with `HEADROOM` over the largest of `values`, at least `floor` (also when empty)."""
    top = values.max() if len(values) else float("nan")
    return max(float(top) * HEADROOM, floor) if pd.notna(top) else floor


def chunk_ticks(ax: Axes) -> None:
    """Whole chunk numbers only on the x axis, also for a single chunk (one tick, not -0.4 … 0.4)."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))


def plot_stage_times(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Stacked bars: milliseconds per chunk spent reading, in each stage, writing.

    Parameters
    ----------
    df : DataFrame
        A `chunks_frame`.
    ax : Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    Axes
        One bar container per step (read, stages..., write), one bar per chunk.
    """
    ax = axes_or_new(ax)
    bottom = pd.Series(0.0, index=df.index)
    for column in step_columns(df):
        step = column.removesuffix("_seconds")
        values = df[column].astype(float) * MS
        ax.bar(df["chunk"], values, bottom=bottom, label=step, color=STEP_COLORS.get(step), width=0.85)
        bottom = bottom + values
    ax.set_xlabel("chunk")
    chunk_ticks(ax)
    ax.set_ylabel("time (ms)")
    ax.set_title("Time per chunk and stage")
    if len(df):
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    return ax


def plot_memory(df: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Resident memory (MB) over elapsed time.

    Parameters
    ----------
    df : DataFrame
        Any frame with ``elapsed_seconds`` and ``rss_bytes``: a `chunks_frame` (the
        engine's sample after every chunk) or `profile_memory` (memory-profiler samples).
    ax : Axes, optional

    Returns
    -------
    Axes
        One line; the y axis starts at 0 so growth is seen at its true scale.
    """
    ax = axes_or_new(ax)
    rss = df["rss_bytes"] / MB
    ax.plot(df["elapsed_seconds"], rss, marker="." if len(df) < 200 else None, label="RSS")
    ax.set_xlabel("elapsed (s)")
    ax.set_ylabel("resident memory (MB)")
    ax.set_ylim(0, top_of(rss, 1.0))
    ax.set_title("Memory over time")
    return ax


def plot_throughput(df: pd.DataFrame, ax: Axes | None = None, *, metric: str = "mb_per_second") -> Axes:
    """Throughput per chunk as bars, with the whole run's rate as a dashed line.

    Parameters
    ----------
    df : DataFrame
        A `chunks_frame`.
    ax : Axes, optional
    metric : {"mb_per_second", "packets_per_second"}

    Returns
    -------
    Axes
        One bar per chunk and one horizontal line (input over the summed chunk time).
    """
    ax = axes_or_new(ax)
    ax.bar(df["chunk"], df[metric].fillna(0.0), color="#1f77b4", width=0.85, label="per chunk")
    amount = df["bytes_in"].sum() / MB if metric == "mb_per_second" else df["packets_in"].sum()
    seconds = df["total_seconds"].sum()
    if seconds > 0:
        ax.axhline(amount / seconds, color="#d62728", linestyle="--", label="whole run")
    ax.set_xlabel("chunk")
    chunk_ticks(ax)
    ax.set_ylabel("MB/s" if metric == "mb_per_second" else "packets/s")
    ax.set_title("Throughput per chunk")
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_sweep(df: pd.DataFrame, ax: Axes | None = None, *, recommended: int | None = None) -> Axes:
    """Chunk-size sweep: run time (left axis) and peak memory (right axis) against chunk size.

    Parameters
    ----------
    df : DataFrame
        A `sweep` frame: ``chunk_size, seconds`` (one row per repeat) and ``peak_rss_bytes``.
    ax : Axes, optional
    recommended : int, optional
        Chunk size to mark with a vertical line.

    Returns
    -------
    Axes
        The time axis (median with min–max error bars); the memory axis is its
        ``right_ax`` attribute. The x axis is logarithmic (base 2) with a tick at each
        chunk size; both y axes start at 0 and leave room above the highest marker.
    """
    ax = axes_or_new(ax)
    by_size = df.groupby("chunk_size")
    seconds = by_size["seconds"].agg(["median", "min", "max"])
    error = [seconds["median"] - seconds["min"], seconds["max"] - seconds["median"]]
    ax.errorbar(seconds.index, seconds["median"], yerr=error, marker="o", color="#1f77b4", label="time", capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_xticks(seconds.index, [f"{size:,}" for size in seconds.index])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("chunk size (packets)")
    ax.set_ylabel("time (s)", color="#1f77b4")
    ax.set_ylim(0, top_of(seconds["max"], 1e-3))
    right = ax.twinx()
    peak = by_size["peak_rss_bytes"].max() / MB
    right.plot(peak.index, peak.to_numpy(), marker="s", color="#d62728", label="peak RSS")
    right.set_ylabel("peak memory (MB)", color="#d62728")
    right.set_ylim(0, top_of(peak, 1.0))
    right.ticklabel_format(axis="y", useOffset=False, style="plain")
    ax.right_ax = right
    if recommended is not None:
        ax.axvline(recommended, color="#2ca02c", linestyle=":", label=f"recommended: {recommended:,}")
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="lower left", fontsize="small")
    ax.set_title("Chunk-size sweep")
    return ax
