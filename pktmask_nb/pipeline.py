"""The streaming engine: reader → stages → writer in one pass, with per-chunk metrics."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import math
import os
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field

from .config import DEFAULT_CHUNK_BYTES, DEFAULT_CHUNK_SIZE
from .record import Packet
from .rows import MadeOnRead

try:
    _PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
    _PAGE_SIZE = 4096


def current_rss() -> int:
    """Resident set size of this process in bytes (0 where /proc is unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE_SIZE
    except OSError:  # pragma: no cover - non-Linux
        return 0


def peak_rss() -> int:
    """Peak resident set size of this process in bytes.

    Read from /proc (VmHWM) where it exists: getrusage's ru_maxrss survives exec, so a
    process started by a large one would report its parent's peak.
    """
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # pragma: no cover - non-Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


GC_GEN0_THRESHOLD = 200_000  # records are acyclic: let refcounting free them, collect rarely


@contextlib.contextmanager
def relaxed_gc():
    """Run the cyclic garbage collector rarely while the body runs (records never form cycles).

    With the default threshold of 700 allocations the collector rescans every live chunk
    many times per chunk, which costs about a third of a pass-through run.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], GC_GEN0_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl, Windows)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


def release_free_memory() -> None:
    """Hand the free pages of the C heap back to the system (glibc's ``malloc_trim``; elsewhere
    nothing). It frees only what is free; pages used again later fault in afresh."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@dataclass(slots=True)
class ChunkMetrics:
    """What one chunk cost: a plain record the notebook layer turns into a DataFrame row.

    Sizes are captured packet bytes; times are wall-clock seconds.
    """

    chunk: int
    packets_in: int
    packets_out: int
    bytes_in: int
    bytes_out: int
    read_seconds: float
    stage_seconds: dict[str, float]
    write_seconds: float
    rss_bytes: int
    elapsed_seconds: float
    input_position: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


_INT_COLUMNS = ("chunk", "packets_in", "packets_out", "bytes_in", "bytes_out", "rss_bytes", "input_position")
_FLOAT_COLUMNS = ("read_seconds", "write_seconds", "elapsed_seconds")


class ChunkLog(MadeOnRead):
    """The `ChunkMetrics` of a run's chunks, kept as columns; reading one makes it.

    A 10 GB capture is some 30,000 chunks: as objects (each with its dict of stage times)
    their metrics took about 530 bytes a chunk, here about 110. Pickled (the second
    process, Dask) the log travels as its columns. It equals a list of the same metrics.
    """

    __slots__ = ("_ints", "_floats", "_stages")

    def __init__(self, metrics: Iterable[ChunkMetrics] = ()):
        self._ints = {name: array("q") for name in _INT_COLUMNS}
        self._floats = {name: array("d") for name in _FLOAT_COLUMNS}
        self._stages: dict[str, array] = {}  # seconds by stage, NaN in chunks the stage did not run in
        for m in metrics:
            self.append(m)

    def append(self, m: ChunkMetrics) -> None:
        n = len(self)
        for name, column in self._ints.items():
            column.append(getattr(m, name))
        for name, column in self._floats.items():
            column.append(getattr(m, name))
        for name in m.stage_seconds:
            if name not in self._stages:
                self._stages[name] = array("d", [math.nan]) * n
        for name, column in self._stages.items():
            column.append(m.stage_seconds.get(name, math.nan))

    def __len__(self) -> int:
        return len(self._ints["chunk"])

    def _item(self, i: int) -> ChunkMetrics:
        stages = {name: column[i] for name, column in self._stages.items() if not math.isnan(column[i])}
        return ChunkMetrics(
            stage_seconds=stages,
            **{name: column[i] for name, column in self._ints.items()},
            **{name: column[i] for name, column in self._floats.items()},
        )

    def __repr__(self) -> str:
        return f"<ChunkLog: {len(self)} chunks>"

    def __reduce__(self):
        return _chunk_log, (self._ints, self._floats, self._stages)


def _chunk_log(ints: dict, floats: dict, stages: dict) -> ChunkLog:
    """A ChunkLog of these columns (unpickling)."""
    log = ChunkLog()
    log._ints, log._floats, log._stages = ints, floats, stages
    return log


def packet_bytes(records: list) -> tuple[int, int]:
    """How many packets `records` holds, and their captured bytes."""
    n = size = 0
    for r in records:
        if type(r) is Packet:
            p = r
            n += 1
            size += len(p.data)
    return n, size


@dataclass
class Pipeline:
    """Run records through stages in one pass.

    Parameters
    ----------
    stages : list of Stage
        Applied in order to every chunk.
    chunk_size : int
        Packets per chunk read.
    chunk_bytes : int
        A chunk also ends once its packets hold this many bytes.

    Examples
    --------
    >>> from pktmask_nb.capture import open_capture  # doctest: +SKIP
    >>> with open_capture("in.pcap") as reader:  # doctest: +SKIP
    ...     metrics = Pipeline([DedupStage()], chunk_size=4096).run(reader, writer.write)
    """

    stages: list
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    metrics: ChunkLog = field(default_factory=ChunkLog)

    def run(
        self,
        reader,
        write: Callable[[list], None],
        on_chunk: Callable[[ChunkMetrics], None] | None = None,
    ) -> ChunkLog:
        """Read every chunk from `reader`, pass it through the stages, hand it to `write`.

        At the end of the input each stage is flushed in order, its held-back records going
        through the stages after it. Returns the per-chunk metrics (also kept in `metrics`).
        """
        start = time.perf_counter()
        with relaxed_gc():
            for step in steps(self.stages, reader, self.chunk_size, self.chunk_bytes):
                t0 = time.perf_counter()
                if step.records:
                    write(step.records)
                write_seconds = time.perf_counter() - t0
                if step.flushing and not step.records:
                    break
                packets_out, bytes_out = packet_bytes(step.records)
                metrics = step.metrics(packets_out, bytes_out, step.stage_seconds, write_seconds, current_rss(), start)
                self.metrics.append(metrics)
                if on_chunk is not None:
                    on_chunk(metrics)
        return self.metrics


@dataclass(slots=True)
class Step:
    """One chunk after the stages (or, last, what flushing them gave), and what it cost so far."""

    number: int
    flushing: bool
    records: list | None
    packets_in: int
    bytes_in: int
    read_seconds: float
    stage_seconds: dict[str, float]
    input_position: int

    def metrics(self, packets_out, bytes_out, stage_seconds, write_seconds, rss_bytes, start) -> ChunkMetrics:
        """The chunk's metrics, completed by what happened after the stages ran here."""
        return ChunkMetrics(
            chunk=self.number,
            packets_in=self.packets_in,
            packets_out=packets_out,
            bytes_in=self.bytes_in,
            bytes_out=bytes_out,
            read_seconds=self.read_seconds,
            stage_seconds=stage_seconds,
            write_seconds=write_seconds,
            rss_bytes=rss_bytes,
            elapsed_seconds=time.perf_counter() - start,
            input_position=self.input_position,
        )


def steps(stages: list, reader, chunk_size: int, chunk_bytes: int) -> Iterator[Step]:
    """Read `reader` chunk by chunk and pass each chunk through `stages`.

    The last step has ``flushing`` set: every stage is flushed in order, its held-back
    records going through the stages after it.
    """
    chunks = iter(reader.chunks(chunk_size, chunk_bytes))
    number = 0
    while True:
        t0 = time.perf_counter()
        chunk = next(chunks, None)
        read_seconds = time.perf_counter() - t0
        flushing = chunk is None
        records = [] if flushing else chunk
        packets_in, bytes_in = packet_bytes(records)
        records, stage_seconds = run_stages(stages, records, flushing)
        yield Step(
            number,
            flushing,
            records,
            packets_in,
            bytes_in,
            0.0 if flushing else read_seconds,
            stage_seconds,
            reader.position(),
        )
        if flushing:
            return
        number += 1


def run_stages(stages: list, records: list, flushing: bool) -> tuple[list, dict[str, float]]:
    """Pass `records` through `stages` in order; when `flushing`, each stage's held-back
    records join the ones going to the stages after it. Returns the records and the seconds
    each stage took."""
    stage_seconds = {}
    for stage in stages:
        t0 = time.perf_counter()
        if records:
            records = stage.process(records)
        if flushing:
            records = records + stage.flush()
        stage_seconds[stage.name] = time.perf_counter() - t0
    return records, stage_seconds
