"""The second process: stages after the split point and the writer, on the chunks it receives."""

from __future__ import annotations

import contextlib
import mmap
import os
import time
import traceback
from typing import TYPE_CHECKING

from ..pipeline import current_rss, packet_bytes, peak_rss, relaxed_gc, run_stages
from .messages import Chunk, ChunkDone, Failed, Finished, Setup
from .wire import DataReceiver, unpack

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

CHILD_MAIN = "import sys; from pktmask_nb.split.child import child_main; child_main(*sys.argv[1:])"


def child_env() -> dict[str, str]:
    """The child's environment: this one's, with OpenBLAS on one thread unless the user set it.

    NumPy's OpenBLAS starts a thread per core that spins after the import, taking the core
    this process reads on; the stages never call BLAS.
    """
    env = dict(os.environ)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    return env


def child_main(chunks_fd: str, results_fd: str, ring_fd: str, temp: str) -> None:
    """Entry point of the child process: the two pipe ends it was given, the `Ring`'s memory
    (-1: none) and the temporary output file to write ("": none)."""
    from multiprocessing.connection import Connection  # here: a one-process run need not import it

    ring = mmap.mmap(int(ring_fd), 0, access=mmap.ACCESS_READ) if int(ring_fd) >= 0 else None
    chunks, results = Connection(int(chunks_fd), writable=False), Connection(int(results_fd), readable=False)
    serve(chunks, results, ring, temp or None)


def serve(chunks: Connection, results: Connection, ring: mmap.mmap | None, temp: str | None) -> None:
    """Run stages[split:] of the `Setup` received on the chunks received, and write them."""
    from ..capture import open_writer
    from ..stages import build_stages, stage_stats, stage_tables

    writer = None
    data = DataReceiver(chunks.fileno())
    try:
        setup: Setup = chunks.recv()
        stages = build_stages(setup.config)[setup.split :]
        writer = open_writer(setup.output, temp, setup.replace)
        with relaxed_gc():
            while True:
                chunk: Chunk | None = chunks.recv()
                if chunk is None:  # the reader side failed: leave nothing behind
                    raise _Aborted
                # cut straight from the ring's map: no copy of the whole chunk first
                if chunk.where is None:
                    records = unpack(chunk.columns, data.recv())
                else:
                    records = unpack(chunk.columns, ring, chunk.where)
                records, stage_seconds = run_stages(stages, records, chunk.flushing)
                t0 = time.perf_counter()
                if records:
                    writer.write(records)
                write_seconds = time.perf_counter() - t0
                packets, size = packet_bytes(records)
                results.send(
                    ChunkDone(chunk.number, bool(records), stage_seconds, write_seconds, packets, size, current_rss())
                )
                if chunk.flushing:
                    break
        writer.commit()
        results.send(Finished(stage_stats(stages), stage_tables(stages), writer.bytes_written, peak_rss()))
    except BaseException as e:  # noqa: BLE001 - every failure goes back to the parent
        if writer is not None:
            writer.abort()
        elif temp is not None:  # the reader side failed before this side opened the file
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        if not isinstance(e, _Aborted | EOFError):
            try:
                results.send(Failed(e))
            except OSError:  # the other side is gone (killed): nobody to tell
                pass
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                with contextlib.suppress(OSError):
                    results.send(Failed(RuntimeError("".join(traceback.format_exception(e)))))


class _Aborted(Exception):
    pass
