"""This side of a two-process run: read, run the stages before the split point, hand the
chunks over, and gather the child's results into the run's metrics."""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

from ..capture.writer import drop_temp, reserve_temp
from ..errors import ProcessDied
from ..pipeline import ChunkLog, Step, current_rss, relaxed_gc, release_free_memory, steps
from .child import CHILD_MAIN, child_env
from .choice import split_point
from .messages import Chunk, ChunkDone, Failed, Finished, Setup
from .ring import Ring
from .wire import pack, send_data, widen

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

SPLIT_AHEAD = 1  # chunks waiting while another goes through the pipe
SPLIT_TRIM_PACKETS = 65_536  # the reading side hands its C heap's free pages back this often (see `SplitRun`)
RING_POLL_SECONDS = 0.05  # while waiting for room in the ring, how often to check that the sender still works


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

    def put(self, message: Chunk, datas: bytes | None) -> None:
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


class SplitRun:
    """Run `stages` with stages[split:] and the writer in a child process.

    After `run`: ``metrics`` (a `~pktmask_nb.pipeline.ChunkLog`, RSS of both processes),
    ``stats`` and ``tables`` of the child's stages, ``bytes_written`` and the child's
    ``child_peak_rss``.

    Every SPLIT_TRIM_PACKETS packets (in whole chunks) this side hands its C heap's free pages back
    (`~pktmask_nb.pipeline.release_free_memory`): here chunks' packets, parse buffers and
    pickled columns come and go, and without the trims the heap keeps their holes and grows
    with the file.
    """

    def __init__(self, stages: list, config, output, chunk_size: int, replace: bool = False):
        self.split = split_point(stages)
        self.here = stages[: self.split]
        self.config, self.output, self.chunk_size, self.replace = config, output, chunk_size, replace
        self.metrics = ChunkLog()
        self.stats: dict = {}
        self.tables: dict = {}
        self.bytes_written = 0
        self.child_peak_rss = 0
        self._pending: dict[int, Step] = {}
        self._ring: Ring | None = None
        self._child: subprocess.Popen | None = None

    def run(self, reader, on_chunk=None) -> ChunkLog:
        # the child writes this temporary file and renames it; whatever becomes of the child,
        # the file does not outlive the run
        temp = None if self.output is None else reserve_temp(self.output)
        try:
            return self._run(reader, on_chunk, temp)
        finally:
            if temp is not None:
                drop_temp(temp)

    def _run(self, reader, on_chunk, temp: str | None) -> ChunkLog:
        chunks_r, chunks_w = os.pipe()
        results_r, results_w = os.pipe()
        widen(chunks_w)
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
        from multiprocessing.connection import Connection  # here: a one-process run need not import it

        chunks_out, results_in = Connection(chunks_w, readable=False), Connection(results_r, writable=False)
        self._start = time.perf_counter()
        sender = _Sender(chunks_out)
        try:
            chunks_out.send(Setup(self.config, self.output, self.split, self.replace))
            sender.start()
            with relaxed_gc():
                self._feed(reader, sender, results_in, on_chunk)
                while not isinstance(self._receive(results_in, on_chunk), Finished):
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
        every = max(1, SPLIT_TRIM_PACKETS // self.chunk_size)  # chunks: each trim costs a walk of the heap
        for step in steps(self.here, reader, self.chunk_size, self.config.chunk_bytes):
            if step.number % every == every - 1:  # the chunks before it are in the ring
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
            sender.put(Chunk(step.number, step.flushing, columns, where), datas)
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

    def _receive(self, results_in, on_chunk) -> ChunkDone | Finished:
        try:
            message = results_in.recv()
        except EOFError:
            raise self._died() from None
        if isinstance(message, Failed):
            raise message.error
        if isinstance(message, Finished):
            self.stats, self.tables, self.bytes_written, self.child_peak_rss = message
            return message
        if self._ring is not None:
            self._ring.free(message.number)
        step = self._pending.pop(message.number)
        if step.flushing and not message.wrote:
            return message
        stage_seconds = dict(step.stage_seconds)  # a stage's seconds on both sides add up
        for name, seconds in message.stage_seconds.items():
            stage_seconds[name] = stage_seconds.get(name, 0.0) + seconds
        metrics = step.metrics(
            message.packets_out,
            message.bytes_out,
            stage_seconds,
            message.write_seconds,
            current_rss() + message.rss_bytes,
            self._start,
        )
        self.metrics.append(metrics)
        if on_chunk is not None:
            on_chunk(metrics)
        return message
