"""The single call: sanitize one capture file and get everything it did back as a `RunResult`."""

from __future__ import annotations

import _thread
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from .capture import TruncationWarning, check_output, open_capture, open_writer
from .capture.writer import is_stream, remove_temporaries, stream_name
from .config import Config
from .pipeline import ChunkLog, ChunkMetrics, Pipeline, peak_rss
from .rows import NO_ROWS, Rows
from .split import should_split
from .stages import build_stages, stage_stats, stage_tables


@dataclass
class RunResult:
    """What a run did.

    Attributes
    ----------
    input, output : str
        Paths; `output` is None when the run wrote nothing.
    format : str
        ``"pcap"`` or ``"pcapng"`` (output format = input format).
    packets_in, packets_out : int
    bytes_read, bytes_written : int
        Capture bytes read (decompressed) and written.
    seconds : float
        Wall-clock time of the run.
    peak_rss_bytes : int
        Peak resident memory of the process at the end of the run (of both processes, summed,
        when the run used two).
    processes : int
        1, or 2 when the last stages and the writer ran in a second process.
    stages : dict
        Per-stage statistics, by stage name.
    ledger : dict
        The kept-bytes ledger (SPEC §2.4) of the last stage that wrote packet bytes (mask,
        else anonymize): ``{verdict: {reason: bytes}}`` with verdicts ``kept``,
        ``rewritten`` and ``zeroed``; the bytes add up to the captured bytes written.
        Empty when neither ran.
    tables : dict
        Row tables by name (``"duplicates"``, ``"mapping"``, ``"flows"``): `~pktmask_nb.rows.Rows`,
        sequences of dicts made as they are read.
    chunks : ChunkLog
        The metrics of each chunk (`~pktmask_nb.pipeline.ChunkMetrics`, made as they are read).
    warnings : list of str
    config : dict
    """

    input: str
    output: str | None
    format: str
    packets_in: int = 0
    packets_out: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    peak_rss_bytes: int = 0
    processes: int = 1
    stages: dict[str, dict] = field(default_factory=dict)
    ledger: dict[str, dict[str, int]] = field(default_factory=dict)
    tables: dict[str, Rows] = field(default_factory=dict)
    chunks: ChunkLog = field(default_factory=ChunkLog)
    warnings: list[str] = field(default_factory=list)
    config: dict = field(default_factory=dict)

    @property
    def duplicates(self) -> Rows:
        return self.tables.get("duplicates", NO_ROWS)

    @property
    def mapping(self) -> Rows:
        return self.tables.get("mapping", NO_ROWS)

    @property
    def flows(self) -> Rows:
        return self.tables.get("flows", NO_ROWS)

    def to_dict(self, *, chunks: bool = False) -> dict:
        """The report's data, for `~pktmask_nb.files.write_json`; per-chunk metrics only if
        `chunks`. The tables are the result's own `Rows` (made as the report is written: at
        10^5 rows, made whole or copied, they took more memory than the run's flows)."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "chunks"}
        if chunks:
            log = self.chunks
            d["chunks"] = Rows(len(log), lambda i: log[i].to_dict())
        return d


def run(
    input,
    output=None,
    config: Config | None = None,
    *,
    force: bool = False,
    on_chunk: Callable[[ChunkMetrics], None] | None = None,
) -> RunResult:
    """Sanitize one capture: read `input` once, run the configured stages, write `output` once.

    Parameters
    ----------
    input : str, os.PathLike or binary file object
        A pcap or pcapng capture, optionally gzip-compressed; ``"-"`` is standard input.
        It is read once, from the start, without seeking.
    output : str, os.PathLike or binary file object, optional
        Where to write the result (same format as the input; gzip if a path ends in
        ``.gz``). A path appears only when the run succeeds; ``"-"`` (standard output) and
        file objects are written as the run goes. None runs the stages without writing.
    config : Config, optional
        Stages and their settings; the default runs every stage.
    force : bool
        Replace an existing `output`.
    on_chunk : callable, optional
        Called with each chunk's `ChunkMetrics` as the run goes (progress, live plots).

    Returns
    -------
    RunResult

    Raises
    ------
    PktmaskError
        Bad arguments (`UsageError`), an unreadable capture (`CaptureError`) or, in two
        processes, a second process that was killed (`ProcessDied`); no output file is left
        behind.
    """
    config = config or Config()
    if not is_stream(input):
        input = os.fspath(input)
    if output is not None:
        check_output([input], output, force=force)
    stages = build_stages(config)
    start = time.perf_counter()
    try:
        with (
            open_capture(input, on_truncated=config.on_truncated) as reader,
            warnings.catch_warnings(record=True) as caught,
        ):
            warnings.simplefilter("always", TruncationWarning)
            processes = 2 if not is_stream(output) and should_split(config.processes, reader, stages) else 1
            if processes == 2:
                from .split import SplitRun

                split = SplitRun(stages, config, output, config.chunk_size, replace=force)
                chunks = split.run(reader, on_chunk)
                stats, tables = stage_stats(split.here) | split.stats, stage_tables(split.here) | split.tables
                bytes_written, peak = split.bytes_written, peak_rss() + split.child_peak_rss
            else:
                chunks, bytes_written = _run_here(stages, config, reader, output, on_chunk, force)
                stats, tables, peak = stage_stats(stages), stage_tables(stages), peak_rss()
    except BaseException:  # a temporary file an interruption left before its writer existed
        remove_temporaries(_thread.get_ident())
        raise
    result = RunResult(
        input=reader.path,
        output=None if output is None else stream_name(output) if is_stream(output) else os.fspath(output),
        format=reader.format,
        packets_in=reader.packets,
        packets_out=sum(m.packets_out for m in chunks),
        bytes_read=reader.offset,
        bytes_written=bytes_written,
        seconds=time.perf_counter() - start,
        peak_rss_bytes=peak,
        processes=processes,
        stages=stats,
        ledger=last_ledger(stats),
        tables=tables,
        chunks=chunks,
        warnings=[str(w.message) for w in caught],
        config=config.to_dict(),
    )
    for w in caught:  # let callers' own warning filters see them too
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


def last_ledger(stats: dict[str, dict]) -> dict:
    """The kept-bytes ledger of the last stage that writes packet bytes: mask, else anonymize."""
    for name in ("mask", "anonymize"):
        if name in stats:
            return stats[name]["ledger"]
    return {}


def _run_here(stages, config, reader, output, on_chunk, force) -> tuple[ChunkLog, int]:
    """Every stage and the writer in this process; the metrics and the bytes written."""
    pipeline = Pipeline(stages, chunk_size=config.chunk_size, chunk_bytes=config.chunk_bytes)
    writer = open_writer(output, replace=force)
    try:
        pipeline.run(reader, writer.write, on_chunk)
    except BaseException:
        writer.abort()
        raise
    writer.commit()
    return pipeline.metrics, writer.bytes_written
