"""The whole-file, stage-by-stage baseline of SPEC §9: load all records → stage → temp file → next stage.

It runs the same stage objects as the streaming pipeline (`build_stages`), each over the
whole capture held in memory at once, with a file between stages: what a tool that is not
streaming does. The benchmark suite times it against `pktmask_nb.run`; for the same config
and key its output must be byte-identical to the pipeline's.
"""

from __future__ import annotations

import contextlib
import os
import time

from ..capture import CaptureWriter, open_capture
from ..config import MAX_CHUNK_SIZE, Config
from ..record import Packet
from ..stages import build_stages


def read_all(path) -> tuple[list, int, int]:
    """Every record of the capture at `path` in one list; also its packet count and bytes read."""
    records = []
    with open_capture(path) as reader:
        for chunk in reader.chunks(MAX_CHUNK_SIZE):
            records += chunk
        return records, reader.packets, reader.offset


def write_all(path, records: list) -> int:
    """Write `records` to `path` atomically; returns the bytes written."""
    writer = CaptureWriter(path, replace=True)  # the stage files of one baseline run, and --force outputs
    try:
        writer.write(records)
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    return writer.bytes_written


def run_stage(stage, records: list) -> list:
    """One stage over the whole capture: a single chunk, then the end of the input."""
    return stage.process(records) + stage.flush()


def run_baseline(input, output, config: Config | None = None) -> dict:
    """Sanitize `input` into `output` stage by stage, each stage over the whole file in memory.

    Stage ``i`` reads the file stage ``i - 1`` wrote (``<output>.stage<i>``, removed when
    the next stage has read it) and writes the next one; the last writes `output`.

    Parameters
    ----------
    input, output : str or os.PathLike
    config : Config, optional
        Stages and their settings, as for `pktmask_nb.run` (default: every stage).

    Returns
    -------
    dict
        ``seconds``, ``packets_in``, ``packets_out``, ``bytes_read`` and ``bytes_written``
        (summed over every stage's file), ``stages`` (the stage names in order) and
        ``processes`` (1: it never starts a second one).
    """
    start = time.perf_counter()
    stages = build_stages(config or Config())
    output = os.fspath(output)
    steps = [f"{output}.stage{i}" for i in range(len(stages) - 1)] + [output]
    source, read_total, written_total, packets_in = os.fspath(input), 0, 0, None
    try:
        for stage, target in zip(stages or [None], steps, strict=True):
            records, packets, read = read_all(source)
            packets_in = packets if packets_in is None else packets_in
            if stage is not None:
                records = run_stage(stage, records)
            written_total += write_all(target, records)
            read_total += read
            packets_out = sum(type(r) is Packet for r in records)
            del records  # the next stage loads the file this one wrote
            if source != os.fspath(input):
                os.remove(source)
            source = target
    finally:
        for step in steps[:-1]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(step)
    return {
        "seconds": time.perf_counter() - start,
        "packets_in": packets_in,
        "packets_out": packets_out,
        "bytes_read": read_total,
        "bytes_written": written_total,
        "stages": [s.name for s in stages],
        "processes": 1,
    }
