"""The benchmark report: `pktmask-nb bench` JSON (SPEC §9) as DataFrames and plots."""

from __future__ import annotations

import json
import os

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from .frames import MB
from .plots import axes_or_new

BENCH_TOOL = "pktmask_nb"
PEER_TOOLS = ("baseline", "tcprewrite", "editcap", "cat")
RUN_FIELDS = (
    "tool", "name", "stages", "size_label", "input_bytes", "packets", "seconds", "peak_rss_bytes",
    "packets_per_second", "mb_per_second", "bytes_read", "bytes_written", "cpu_percent", "memory_efficiency",
)  # fmt: skip
MACHINE_FIELDS = ("cpu", "cores", "ram_bytes", "python", "platform")
CHECK_FIELDS = ("name", "metric", "current", "baseline", "ratio", "limit", "ok")


def _plain_log(axis) -> None:
    """Log-scale ticks at 1, 2, 5 per decade as plain numbers instead of powers of ten."""
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FormatStrFormatter("%g"))
    axis.set_minor_formatter(NullFormatter())


def _missing(where: str, item: dict, fields) -> None:
    absent = [f for f in fields if f not in item]
    if absent:
        raise ValueError(f"bench JSON: {where} lacks {', '.join(absent)}")


def load_bench(path) -> dict:
    """Read a benchmark JSON and check it has the fields the report uses.

    Returns
    -------
    dict
        ``machine`` (DataFrame of one column), ``date``, ``command``, ``note`` (or None), ``runs`` (see
        `runs_frame`), ``regression`` (DataFrame of checks; empty when absent) and
        ``baseline_file`` (or None).

    Raises
    ------
    ValueError
        A required field is missing.
    """
    with open(os.fspath(path), encoding="utf-8") as f:
        doc = json.load(f)
    _missing("the document", doc, ("machine", "date", "command", "runs"))
    _missing("machine", doc["machine"], MACHINE_FIELDS)
    for i, run in enumerate(doc["runs"]):
        _missing(f"runs[{i}]", run, RUN_FIELDS)
    regression = doc.get("regression") or {}
    checks = regression.get("checks", [])
    for i, check in enumerate(checks):
        _missing(f"regression.checks[{i}]", check, CHECK_FIELDS)
    machine = pd.DataFrame({"value": pd.Series(doc["machine"], dtype=object)}).rename_axis("field")
    return {
        "machine": machine,
        "date": doc["date"],
        "command": doc["command"],
        "note": doc.get("note"),
        "runs": runs_frame(doc["runs"]),
        "regression": pd.DataFrame(checks, columns=list(CHECK_FIELDS)),
        "baseline_file": regression.get("baseline_file"),
    }


def runs_frame(runs: list[dict]) -> pd.DataFrame:
    """One row per run; ``size_label`` ordered by input size, ``stages`` joined, ``peak_rss_mb`` added."""
    df = pd.DataFrame(runs, columns=list(RUN_FIELDS))
    df["stages"] = df["stages"].map(lambda s: ",".join(s) if isinstance(s, list | tuple) else s)
    order = df.groupby("size_label")["input_bytes"].max().sort_values().index
    df["size_label"] = pd.Categorical(df["size_label"], categories=list(order), ordered=True)
    df["peak_rss_mb"] = df["peak_rss_bytes"] / MB
    return df.sort_values(["size_label", "tool", "name"], kind="stable").reset_index(drop=True)


def throughput_table(runs: pd.DataFrame, metric: str = "mb_per_second") -> pd.DataFrame:
    """`metric` per size (rows) and ``tool/name`` (columns)."""
    table = runs.assign(run=runs["tool"] + "/" + runs["name"])
    return table.pivot_table(index="size_label", columns="run", values=metric, aggfunc="median", observed=True)


def ratios_frame(runs: pd.DataFrame, peers=PEER_TOOLS) -> pd.DataFrame:
    """pktmask_nb against each peer tool doing the same job (same ``name``) at the same size.

    Returns
    -------
    DataFrame
        Columns ``size_label, name, peer, seconds, peer_seconds, speedup`` (peer seconds
        over ours: above 1 means pktmask_nb is faster), ``peak_rss_mb, peer_peak_rss_mb``
        and ``memory_ratio`` (ours over the peer's).
    """
    keys = ["size_label", "name"]
    ours = runs[runs["tool"] == BENCH_TOOL].groupby(keys, observed=True)[["seconds", "peak_rss_mb"]].median()
    theirs = runs[runs["tool"].isin(peers)].groupby([*keys, "tool"], observed=True)[["seconds", "peak_rss_mb"]].median()
    joined = theirs.add_prefix("peer_").join(ours, on=keys, how="inner").reset_index().rename(columns={"tool": "peer"})
    joined["speedup"] = joined["peer_seconds"] / joined["seconds"]
    joined["memory_ratio"] = joined["peak_rss_mb"] / joined["peer_peak_rss_mb"]
    columns = [*keys, "peer", "seconds", "peer_seconds", "speedup", "peak_rss_mb", "peer_peak_rss_mb", "memory_ratio"]
    return joined[columns]


def plot_bench_throughput(runs: pd.DataFrame, ax: Axes | None = None, *, metric: str = "mb_per_second") -> Axes:
    """Grouped bars: throughput per input size, one bar per ``tool/name``."""
    ax = axes_or_new(ax, figsize=(8, 4))
    table = throughput_table(runs, metric)
    table.plot.bar(ax=ax, rot=0, width=0.85)
    ax.set_yscale("log")
    _plain_log(ax.yaxis)
    ax.set_xlabel("input size")
    ax.set_ylabel(("MB/s" if metric == "mb_per_second" else metric) + " (log scale)")
    ax.set_title("Throughput per tool and size")
    ax.legend(fontsize="x-small", ncols=2)
    return ax


def plot_bench_ratios(ratios: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Horizontal bars: speedup of pktmask_nb over each peer doing the same job (1 = as fast)."""
    ax = axes_or_new(ax, figsize=(8, 4))
    labels = ratios["name"] + " vs " + ratios["peer"] + " (" + ratios["size_label"].astype(str) + ")"
    colors = ["#2ca02c" if s >= 1 else "#d62728" for s in ratios["speedup"]]
    bars = ax.barh(labels, ratios["speedup"], color=colors)
    ax.bar_label(bars, labels=[f"{s:.2f}×" for s in ratios["speedup"]], padding=3, fontsize="small")
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    _plain_log(ax.xaxis)
    ax.margins(x=0.15)
    ax.set_xlabel("speedup (peer seconds / pktmask_nb seconds, log scale)")
    ax.set_title("pktmask_nb against other tools")
    ax.invert_yaxis()
    return ax


def plot_bench_rss(runs: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Peak RSS against input size (log–log), one line per ``tool/name``."""
    ax = axes_or_new(ax, figsize=(8, 4))
    for (tool, name), group in runs.groupby(["tool", "name"]):
        group = group.sort_values("input_bytes")
        style = "-" if tool == BENCH_TOOL else "--"
        ax.plot(group["input_bytes"] / MB, group["peak_rss_mb"], style, marker="o", label=f"{tool}/{name}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_log(ax.xaxis)
    _plain_log(ax.yaxis)
    ax.set_xlabel("input size (MB)")
    ax.set_ylabel("peak RSS (MB)")
    ax.set_title("Peak memory against input size")
    ax.legend(fontsize="x-small", ncols=2)
    return ax
