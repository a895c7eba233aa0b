"""Chunks' packet data in memory shared with the child (Linux)."""

from __future__ import annotations

import os

from .wire import write_pieces

RING_BYTES = 24 * 2**20  # memory shared with the child for chunks' packet data (48 chunks of 512 bench frames)


class Ring:
    """Chunks' packet data in memory shared with the child (a Linux memfd), instead of the pipe.

    This side writes a chunk's pieces into the memfd with ``pwritev`` (no joined copy of
    the chunk, and no map of the ring here); the child maps it and cuts its packets straight
    from the map, which costs a fraction of the pipe's write and read.
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
