"""What the two processes say to each other, in order: `Setup`, then a `Chunk` per chunk (or
None: the reading side failed, leave nothing behind); the child answers each chunk with a
`ChunkDone`, and ends with `Finished` or `Failed`."""

from __future__ import annotations

from typing import NamedTuple


class Setup(NamedTuple):
    """The run: its config, the output path, where the child's stages start, replace or not."""

    config: object
    output: str | None
    split: int
    replace: bool


class Chunk(NamedTuple):
    """A chunk's columns (`~.wire.pack`); its packet data is at `where` in the ring, or (None)
    follows through the pipe."""

    number: int
    flushing: bool
    columns: tuple
    where: int | None


class ChunkDone(NamedTuple):
    """The child's part of a chunk's metrics."""

    number: int
    wrote: bool
    stage_seconds: dict
    write_seconds: float
    packets_out: int
    bytes_out: int
    rss_bytes: int


class Finished(NamedTuple):
    """The output is committed: the child's stages' statistics and tables, its counts."""

    stats: dict
    tables: dict
    bytes_written: int
    peak_rss: int


class Failed(NamedTuple):
    """The child failed with `error` (its temporary output is gone)."""

    error: BaseException
