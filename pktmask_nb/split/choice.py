"""Whether a run splits over two processes, and where (`should_split`, `split_point`).

Apart from the machinery so that a run in one process decides without importing it
(subprocess, threads, shared memory: ~20 ms of start-up).
"""

from __future__ import annotations

import os
import sys

SPLIT_MIN_BYTES = 32 * 2**20  # smaller inputs finish before a child has started (~0.5 s)
SPLIT_STAGES = ("dedup", "anonymize", "mask")


def split_point(stages: list) -> int | None:
    """Where the child's stages start: at the last of dedup/anonymize/mask (mask is the heaviest).

    Stages after it (pcapng metadata scrubbing) go with it; None when there is none of them.
    """
    points = [i for i, stage in enumerate(stages) if stage.name in SPLIT_STAGES]
    return points[-1] if points else None


def should_split(processes: int | None, reader, stages: list) -> bool:
    """Whether to use a second process: asked for (2), or automatic (None) when mask runs
    after another stage on a large input with a second CPU, from a process that may start
    children.

    Handing a chunk over costs CPU on both sides, so it pays only when the work on each side
    is large: stages before mask here and mask in the child (BENCHMARKS.md has the figures).
    """
    point = split_point(stages)
    if processes == 1 or point is None:
        return False
    if processes == 2:
        return True
    if point == 0 or stages[point].name != "mask":
        return False
    multiprocessing = sys.modules.get("multiprocessing")  # imported by any of its workers
    if (os.cpu_count() or 1) < 2 or (multiprocessing is not None and multiprocessing.current_process().daemon):
        return False  # a daemonic process is a worker of a pool (Dask) that owns the cores
    return reader.source.size >= SPLIT_MIN_BYTES  # 0 for a pipe: its size is not known
