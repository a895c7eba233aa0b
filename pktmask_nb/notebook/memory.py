"""Memory over time with memory-profiler: RSS sampled at a fixed interval while a run goes."""

from __future__ import annotations

import pandas as pd

from .. import api
from ..config import Config

MEMORY_INTERVAL = 0.005  # seconds between samples
MIB = 1024 * 1024


def profile_memory(path, config: Config | None = None, *, interval: float = MEMORY_INTERVAL):
    """Run the pipeline on `path` (writing nothing) while memory-profiler samples the process.

    The engine's own samples (`chunks_frame`'s ``rss_bytes``, one per chunk) need no extra
    package; this gives evenly spaced samples, also inside long chunks.

    Parameters
    ----------
    path : str or os.PathLike
    config : Config, optional
    interval : float
        Seconds between samples.

    Returns
    -------
    (DataFrame, RunResult)
        Samples with ``elapsed_seconds`` and ``rss_bytes`` (plot with `plot_memory`), and
        the run's result.

    Raises
    ------
    ImportError
        memory-profiler is not installed.
    """
    try:
        from memory_profiler import memory_usage
    except ImportError as error:
        raise ImportError(
            "profile_memory needs memory-profiler: pip install memory-profiler "
            "(or use chunks_frame's rss_bytes, the engine's own samples)"
        ) from error
    samples, result = memory_usage(
        (api.run, (path,), {"config": config}), interval=interval, timestamps=True, retval=True, include_children=False
    )
    df = pd.DataFrame(samples, columns=["rss_mib", "timestamp"])
    df["elapsed_seconds"] = df["timestamp"] - df["timestamp"].iloc[0]
    df["rss_bytes"] = (df["rss_mib"] * MIB).round().astype("int64")
    return df[["elapsed_seconds", "rss_bytes"]], result
