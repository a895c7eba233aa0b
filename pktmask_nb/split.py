"""One capture on two cores: reader and early stages here, the last stages and the writer in a child.

The pipeline stays one pass with data flowing one way. This process reads chunks and runs
the stages before the split point; a child process (`CHILD_MAIN` in a fresh
interpreter, safe with threads as in Jupyter, and never re-running the caller's script as
multiprocessing's spawn would) runs the rest and writes the output. Chunks travel as a
few columns (lengths and small fields) through a pipe, and the packet data through
memory shared with the child (`Ring`, from which the child cuts its packets; joined through
the pipe where there is none). A thread writes them to the pipe from a bounded queue:
this process runs a few chunks ahead of the child (one in the pipe, SPLIT_AHEAD waiting,
one being made), so the child seldom waits for its next chunk, and memory stays flat.
The child answers each chunk with its part of the metrics and, at the end, its stages'
statistics and tables.

Output is byte-identical to a one-process run (tests check it); on any error the child
removes its temporary file and the error is raised here.
"""

from __future__ import annotations

import contextlib
import functools
import mmap
import multiprocessing
import os
import queue
import struct
import subprocess
import sys
import threading
import time
import traceback
from array import array
from itertools import accumulate
from multiprocessing.connection import Connection

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from .capture.writer import reserve_temp
from .errors import ProcessDied
from .pipeline import (
    ChunkMetrics,
    Step,
    current_rss,
    packet_bytes,
    peak_rss,
    relaxed_gc,
    release_free_memory,
    run_stages,
    steps,
)
from .record import Packet

PIPE_BYTES = 2**20  # /proc/sys/fs/pipe-max-size's default
SPLIT_MIN_BYTES = 32 * 2**20  # smaller inputs finish before a child has started (~0.5 s)
SPLIT_STAGES = ("dedup", "anonymize", "mask")
SPLIT_AHEAD = 1  # chunks waiting while another goes through the pipe (2: ~0.1 s less wait at 1 GB, ~8 MB more)
DATA_HEADER = struct.Struct("<Q")  # the length of a chunk's joined packet data, which follows it
DATA_BUFFER_MAX = 64 * 2**20  # the child keeps a receive buffer up to this size for the next chunks
RING_BYTES = 24 * 2**20  # memory shared with the child for chunks' packet data (6 chunks of 4096 bench frames)
IOV_MAX = 1024  # pieces one pwritev takes (Linux's limit; the ring is Linux only)
SPLITTER_MAX = 16384  # pieces of one length that a cached `struct.Struct` cuts at once
SPLIT_TRIM_CHUNKS = 16  # the reading side hands its C heap's free pages back this often (see `SplitRun`)
RING_POLL_SECONDS = 0.05  # while waiting for room in the ring, how often to check that the sender still works


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
    if (os.cpu_count() or 1) < 2 or multiprocessing.current_process().daemon:
        return False  # a daemonic process is a worker of a pool (Dask) that owns the cores
    return reader.source.size >= SPLIT_MIN_BYTES  # 0 for a pipe: its size is not known


# -- wire format ------------------------------------------------------------------------------
def pack(records: list) -> tuple[tuple, list, int]:
    """A chunk as columns: packet fields, joined byte strings with their lengths, and the blocks;
    the packet data apart, as a list of pieces with their total size, to go into the `Ring`
    (or joined through the pipe) without pickling."""
    packets = [r for r in records if r.__class__ is Packet]
    blocks = (
        [] if len(packets) == len(records) else [(i, r) for i, r in enumerate(records) if r.__class__ is not Packet]
    )
    heads = [p.head for p in packets]
    datas = [p.data for p in packets]
    tails = [p.tail for p in packets]
    data_lens = _lengths(datas)
    return (
        (
            array("q", [p.index for p in packets]),
            [p.ts for p in packets],
            array("q", [p.wirelen for p in packets]),
            array("i", [p.linktype for p in packets]),
            _lengths(heads),
            b"".join(heads),
            data_lens,
            _lengths(tails),
            b"".join(tails),
            blocks,
        ),
        datas,
        sum(data_lens),
    )


def unpack(columns: tuple, datas, start: int = 0) -> list:
    """The records `pack` took apart, in their order; their joined packet data is in `datas`
    (bytes, or the `Ring`'s map) from `start` on."""
    index, ts, wirelen, linktype, head_lens, heads, data_lens, tail_lens, tails, blocks = columns
    n = len(index)
    records = list(
        map(
            Packet,
            index,
            ts,
            _cut(datas, data_lens, n, start),
            wirelen,
            linktype,
            _cut(heads, head_lens, n),
            _cut(tails, tail_lens, n),
        )
    )
    for i, block in blocks:
        records.insert(i, block)
    return records


def _lengths(pieces: list) -> array:
    """The lengths of `pieces`, or an empty array when all are empty."""
    lengths = list(map(len, pieces))  # an array from a list, not from an iterator: 2x faster
    return array("q", lengths if any(lengths) else ())


def _cut(joined, lengths: array, count: int, start: int = 0) -> list:
    """`joined` from `start` on cut back into `count` pieces of `lengths` (`_lengths`: empty
    if all are). Slicing a map gives bytes as slicing bytes does."""
    if not lengths:
        return [b""] * count
    if count <= SPLITTER_MAX and lengths.count(lengths[0]) == count:  # all of one length (pcap record headers)
        return list(_splitter(lengths[0], count).unpack_from(joined, start))
    ends = list(accumulate(lengths, initial=start))
    return [joined[a:b] for a, b in zip(ends, ends[1:])]


@functools.lru_cache(maxsize=4)
def _splitter(size: int, count: int) -> struct.Struct:
    """A `struct.Struct` that cuts `count` pieces of `size` bytes."""
    return struct.Struct(f"{size}s" * count)


def send_data(fd: int, data: bytes) -> None:
    """Write `data` to `fd` after its length (`DATA_HEADER`), for a `DataReceiver` at the other end."""
    os.write(fd, DATA_HEADER.pack(len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class DataReceiver:
    """Reads what `send_data` wrote, into a buffer it keeps: a pipe read costs half of
    `Connection.recv_bytes`'s, which takes a fresh buffer of the whole size for every read
    and copies it twice more (1.6–1.9 against 0.9–1.0 s of CPU per GB in 4 MiB messages)."""

    def __init__(self, fd: int):
        self._file = open(fd, "rb", buffering=0, closefd=False)  # noqa: SIM115 - the Connection owns the fd
        self._buffer = memoryview(bytearray())

    def recv(self) -> bytes:
        (size,) = DATA_HEADER.unpack(self._read(DATA_HEADER.size))
        return self._read(size)

    def _read(self, size: int) -> bytes:
        view = self._buffer
        if size > len(view):
            view = memoryview(bytearray(size))
            if size <= DATA_BUFFER_MAX:
                self._buffer = view
        got = 0
        while got < size:
            n = self._file.readinto(view[got:size])
            if not n:
                raise EOFError
            got += n
        return bytes(view[:size])


class Ring:
    """Chunks' packet data in memory shared with the child (a Linux memfd), instead of the pipe.

    This side writes a chunk's pieces into the memfd with ``pwritev`` (no joined copy of
    the chunk, and no map of the ring here); the child maps it and cuts its packets straight
    from the map. That costs ~0.3 s of CPU per GB where the pipe's write and read cost ~1.4 s.
    Space is taken in order, wrapping around, and a chunk's space is freed when the child's
    result for that chunk arrives: the child has cut its packets out before it answers. `put`
    needs `fits`; data larger than the ring goes through the pipe. The bytes a chunk skips at
    the end of the ring stay taken until that chunk is freed; once all are, the ring starts
    again at 0, so anything up to its size fits.
    """

    def __init__(self, size: int):
        self.fd = os.memfd_create("pktmask-nb-chunks")
        try:
            os.ftruncate(self.fd, size)
        except BaseException:
            os.close(self.fd)
            raise
        self.size = size
        self.head = self.tail = 0  # bytes taken and freed since the start (a position is taken modulo size)
        self._ends: dict[int, int] = {}  # chunk number -> `head` after its data

    @classmethod
    def create(cls) -> Ring | None:
        """A ring, or None where shared memory is not available (not Linux)."""
        if not hasattr(os, "memfd_create"):
            return None
        try:
            return cls(RING_BYTES)
        except OSError:
            return None

    def _start(self, n: int) -> int:
        """Where data of `n` bytes goes, in `head`'s terms: not across the end of the ring."""
        at = self.head % self.size
        return self.head + (self.size - at if at + n > self.size else 0)

    def fits(self, n: int) -> bool:
        return self._start(n) + n - self.tail <= self.size

    def put(self, number: int, pieces: list, size: int) -> int:
        """Place chunk `number`'s data, `pieces` of `size` bytes in all; returns its offset in the ring."""
        start = self._start(size)
        at = start % self.size
        write_pieces(self.fd, pieces, at)
        self.head = start + size
        self._ends[number] = self.head
        return at

    def free(self, number: int) -> None:
        """The child is done with chunk `number`'s data (and every earlier chunk's)."""
        end = self._ends.pop(number, None)
        if end is not None:
            self.tail = end
            if self.tail == self.head:  # empty: start again at 0, where anything up to `size` fits
                self.head = self.tail = 0

    def close(self) -> None:
        os.close(self.fd)


def write_pieces(fd: int, pieces: list, offset: int) -> None:
    """Write `pieces` one after another into file `fd` from `offset` on (``pwritev``, IOV_MAX at a time)."""
    for i in range(0, len(pieces), IOV_MAX):
        batch = pieces[i : i + IOV_MAX]
        n = os.pwritev(fd, batch, offset)
        want = sum(map(len, batch))
        offset += n
        if n < want:  # a short write (a signal): the rest of this batch by plain writes
            rest = memoryview(b"".join(batch))[n:]
            while rest:
                n = os.pwrite(fd, rest, offset)
                rest, offset = rest[n:], offset + n


def _widen(fd: int) -> None:
    """Ask for a pipe buffer of PIPE_BYTES (Linux): fewer wake-ups per chunk."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl else None
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, set_size, PIPE_BYTES)


# -- the child --------------------------------------------------------------------------------
CHILD_MAIN = "import sys; from pktmask_nb.split import child_main; child_main(*sys.argv[1:])"


def child_env() -> dict[str, str]:
    """The child's environment: this one's, with OpenBLAS on one thread unless the user set it.

    NumPy's OpenBLAS starts a thread per core that spins for ~0.15 s of CPU after the import
    (measured: 0.28 s of CPU for ``import numpy`` and a 2 s sleep, 0.14 s with one thread),
    taking the core this process reads on; the stages never call BLAS.
    """
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def child_main(chunks_fd: str, results_fd: str, ring_fd: str, temp: str) -> None:
    """Entry point of the child process: the two pipe ends it was given, the `Ring`'s memory
    (-1: none) and the temporary output file to write ("": none)."""
    ring = mmap.mmap(int(ring_fd), 0, access=mmap.ACCESS_READ) if int(ring_fd) >= 0 else None
    chunks, results = Connection(int(chunks_fd), writable=False), Connection(int(results_fd), readable=False)
    _child(chunks, results, ring, temp or None)


def _child(chunks: Connection, results: Connection, ring: mmap.mmap | None, temp: str | None) -> None:
    """Run stages[split:] of the config received on the chunks received, and write them."""
    from .capture import open_writer
    from .stages import build_stages, stage_stats, stage_tables

    writer = None
    data = DataReceiver(chunks.fileno())
    try:
        config, output, split, replace = chunks.recv()
        stages = build_stages(config)[split:]
        writer = open_writer(output, temp, replace)
        with relaxed_gc():
            while True:
                message = chunks.recv()
                if message is None:  # the reader side failed: leave nothing behind
                    raise _Aborted
                number, flushing, columns, where = message
                # cut straight from the ring's map: no copy of the whole chunk first
                records = unpack(columns, data.recv()) if where is None else unpack(columns, ring, where)
                records, stage_seconds = run_stages(stages, records, flushing)
                t0 = time.perf_counter()
                if records:
                    writer.write(records)
                write_seconds = time.perf_counter() - t0
                results.send(
                    (
                        "chunk",
                        number,
                        bool(records),
                        stage_seconds,
                        write_seconds,
                        *packet_bytes(records),
                        current_rss(),
                    )
                )
                if flushing:
                    break
        writer.commit()
        results.send(("done", stage_stats(stages), stage_tables(stages), writer.bytes_written, peak_rss()))
    except BaseException as e:  # noqa: BLE001 - every failure goes back to the parent
        if writer is not None:
            writer.abort()
        elif temp is not None:  # the reader side failed before this side opened the file
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        if not isinstance(e, _Aborted | EOFError):
            try:
                results.send(("error", e))
            except OSError:  # the other side is gone (killed): nobody to tell
                pass
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                with contextlib.suppress(OSError):
                    results.send(("error", RuntimeError("".join(traceback.format_exception(e)))))


class _Aborted(Exception):
    pass


class _Sender(threading.Thread):
    """Writes packed chunks to the child's pipe, in order, while this side makes the next ones.

    `put` blocks while SPLIT_AHEAD chunks wait. After a failed write (``failed``: the
    exception, an OSError when the child is gone) the chunks still queued are dropped.
    """

    def __init__(self, chunks_out: Connection):
        super().__init__(name="pktmask-nb-split-sender", daemon=True)
        self.chunks_out = chunks_out
        self.queue: queue.Queue = queue.Queue(SPLIT_AHEAD)
        self.failed: BaseException | None = None

    def put(self, message: tuple, datas: bytes | None) -> None:
        """Send `message`, then `datas` unless it is None (the data went through the `Ring`)."""
        self.queue.put((message, datas))

    def run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.failed is None:
                try:
                    self.chunks_out.send(item[0])
                    if item[1] is not None:
                        send_data(self.chunks_out.fileno(), item[1])
                except BaseException as e:  # noqa: BLE001 - handed to the feeding thread
                    self.failed = e

    def close(self) -> None:
        """Wait until every queued chunk is written (or dropped after a failure)."""
        if self.is_alive():
            self.queue.put(None)
            self.join()


# -- this side --------------------------------------------------------------------------------
class SplitRun:
    """Run `stages` with stages[split:] and the writer in a child process.

    After `run`: ``metrics`` (ChunkMetrics per chunk, RSS of both processes),
    ``stats`` and ``tables`` of the child's stages, ``bytes_written`` and the child's
    ``child_peak_rss``.

    Every SPLIT_TRIM_CHUNKS chunks this side hands its C heap's free pages back
    (`~pktmask_nb.pipeline.release_free_memory`): here chunks' packets, parse buffers and
    pickled columns come and go, and without the trims the heap keeps their holes and grows
    with the file.
    """

    def __init__(self, stages: list, config, output, chunk_size: int, replace: bool = False):
        self.split = split_point(stages)
        self.here = stages[: self.split]
        self.config, self.output, self.chunk_size, self.replace = config, output, chunk_size, replace
        self.metrics: list[ChunkMetrics] = []
        self.stats: dict = {}
        self.tables: dict = {}
        self.bytes_written = 0
        self.child_peak_rss = 0
        self._pending: dict[int, Step] = {}
        self._ring: Ring | None = None
        self._child: subprocess.Popen | None = None

    def run(self, reader, on_chunk=None) -> list[ChunkMetrics]:
        # the child writes this temporary file and renames it; whatever becomes of the child,
        # the file does not outlive the run
        temp = None if self.output is None else reserve_temp(self.output)
        try:
            return self._run(reader, on_chunk, temp)
        finally:
            if temp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)

    def _run(self, reader, on_chunk, temp: str | None) -> list[ChunkMetrics]:
        chunks_r, chunks_w = os.pipe()
        results_r, results_w = os.pipe()
        _widen(chunks_w)
        self._ring = ring = Ring.create()
        fds = (chunks_r, results_w) if ring is None else (chunks_r, results_w, ring.fd)
        args = [
            str(chunks_r),
            str(results_w),
            str(-1 if ring is None else ring.fd),
            temp or "",
        ]  # as child_main takes them
        try:
            self._child = child = subprocess.Popen(
                [sys.executable, "-c", CHILD_MAIN, *args], pass_fds=fds, env=child_env()
            )
        except BaseException:
            if ring is not None:
                ring.close()
            raise
        os.close(chunks_r)
        os.close(results_w)
        chunks_out, results_in = Connection(chunks_w, readable=False), Connection(results_r, writable=False)
        self._start = time.perf_counter()
        sender = _Sender(chunks_out)
        try:
            chunks_out.send((self.config, self.output, self.split, self.replace))
            sender.start()
            with relaxed_gc():
                self._feed(reader, sender, results_in, on_chunk)
                while self._receive(results_in, on_chunk) != "done":
                    pass
        except BaseException:
            sender.close()  # the chunks already queued go first, then the abort
            with contextlib.suppress(OSError):  # the child may be gone already
                chunks_out.send(None)
            raise
        finally:
            sender.close()
            chunks_out.close()
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:  # pragma: no cover - a child stuck after an error
                child.kill()
                child.wait()
            results_in.close()
            if ring is not None:
                ring.close()
        return self.metrics

    def _feed(self, reader, sender, results_in, on_chunk) -> None:
        for step in steps(self.here, reader, self.chunk_size, self.config.chunk_bytes):
            if step.number % SPLIT_TRIM_CHUNKS == SPLIT_TRIM_CHUNKS - 1:  # the chunks before it are in the ring
                release_free_memory()
            columns, datas, size = pack(step.records)
            step.records = None  # sent: the child has them now
            self._pending[step.number] = step
            while results_in.poll():
                self._receive(results_in, on_chunk)
            where = None
            ring = self._ring
            if ring is not None and size <= ring.size:
                if not self._wait_for_room(ring, size, sender, results_in, on_chunk):
                    break
                where = ring.put(step.number, datas, size)
                datas = None
            else:
                datas = b"".join(datas)
            sender.put((step.number, step.flushing, columns, where), datas)
            if sender.failed:
                break
        sender.close()
        if isinstance(sender.failed, OSError):  # the child is gone: its error explains why
            while True:
                self._receive(results_in, on_chunk)
        if sender.failed:
            raise sender.failed

    def _died(self) -> ProcessDied:
        """The child ended without a result: say how (`run` removes its temporary output)."""
        try:
            code = self._child.wait(timeout=60)
        except subprocess.TimeoutExpired:  # pragma: no cover - it closed the pipe but lives on
            code = None
        how = "" if code is None else f" (killed by signal {-code})" if code < 0 else f" (exit status {code})"
        return ProcessDied(f"the pipeline's second process ended without a result{how}", path=self.output)

    def _wait_for_room(self, ring: Ring, n: int, sender, results_in, on_chunk) -> bool:
        """Take the child's results until `n` bytes fit in the ring. False if the sender failed
        meanwhile: the child never got that chunk, so it will not answer it."""
        while not ring.fits(n):
            if sender.failed:
                return False
            if results_in.poll(RING_POLL_SECONDS):
                self._receive(results_in, on_chunk)
        return True

    def _receive(self, results_in, on_chunk) -> str:
        try:
            message = results_in.recv()
        except EOFError:
            raise self._died() from None
        kind = message[0]
        if kind == "error":
            raise message[1]
        if kind == "done":
            _, self.stats, self.tables, self.bytes_written, self.child_peak_rss = message
            return kind
        _, number, wrote, child_seconds, write_seconds, packets_out, bytes_out, child_rss = message
        if self._ring is not None:
            self._ring.free(number)
        step = self._pending.pop(number)
        if step.flushing and not wrote:
            return kind
        stage_seconds = dict(step.stage_seconds)  # a stage's seconds on both sides (`prepare` here) add up
        for name, seconds in child_seconds.items():
            stage_seconds[name] = stage_seconds.get(name, 0.0) + seconds
        metrics = step.metrics(
            packets_out, bytes_out, stage_seconds, write_seconds, current_rss() + child_rss, self._start
        )
        self.metrics.append(metrics)
        if on_chunk is not None:
            on_chunk(metrics)
        return kind
