"""Buffered, chunked reading shared by the pcap and pcapng readers."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

from ..errors import TruncatedFile, UsageError
from .source import READ_SIZE, Source

TRUNCATED_POLICIES = ("error", "warn")
ITER_CHUNK_PACKETS = 1024
ITER_CHUNK_BYTES = 8 << 20
UNBOUNDED = 1 << 62


class TruncationWarning(UserWarning):
    """The capture ends inside a record; the complete records before it were read."""


class CaptureReader:
    """Base of the format readers: a byte buffer refilled from a `Source`.

    Subclasses implement `read_chunk`. Memory is bounded by one read buffer plus the largest
    record, never by the file.

    Parameters
    ----------
    source : Source
        The opened input; the reader owns it and closes it.
    on_truncated : {"error", "warn"}
        What a file that ends inside a record gets: `TruncatedFile`, or a
        `TruncationWarning` after the complete records (SPEC §3), recorded in `truncated`.
    """

    format = "?"

    def __init__(self, source: Source, *, on_truncated: str = "error"):
        if on_truncated not in TRUNCATED_POLICIES:
            raise UsageError(f"on_truncated must be one of {', '.join(TRUNCATED_POLICIES)}, not {on_truncated!r}")
        self.source = source
        self.path = source.path
        self.on_truncated = on_truncated
        self.truncated: TruncatedFile | None = None
        self.packets = 0  # packets returned so far
        # the bytes read and not consumed are ``_buf[_pos:_end]``: one buffer, read into again and
        # again (a new bytes object a read, joined to what was left, cost twice reading the file)
        self._buf = bytearray()
        self._pos = self._end = 0
        self._base = 0  # stream offset of _buf[0]
        self._done = False

    # -- buffer ---------------------------------------------------------------------------
    def _fill(self, need: int) -> bool:
        """Make `need` bytes available at ``_buf[_pos:_end]``; False if the data ends first.

        What is left moves to the front of the buffer and the source reads into the rest;
        the buffer grows only for a record longer than a read.
        """
        have = self._end - self._pos
        if have >= need:
            return True
        buf = self._buf
        if have:
            buf[:have] = buf[self._pos : self._end]
        self._base += self._pos
        self._pos, self._end = 0, have
        room = max(READ_SIZE, need)
        if len(buf) < room:
            buf.extend(bytes(room - len(buf)))
        with memoryview(buf) as view:
            while self._end < need:
                n = self.source.readinto(view[self._end :])
                if not n:
                    break
                self._end += n
        return self._end >= need

    def _refill(self, need: int, what: str) -> bool:
        """`_fill`, and at the end of data tell a clean end from a truncated `what`.

        Returns False at the end of data (after `_truncate` when some bytes were left).
        """
        if self._fill(need):
            return True
        have = self._end - self._pos
        if have:
            self._truncate(f"file ends inside {what} ({have} of {need} bytes present)")
        self._done = True
        return False

    def _truncate(self, what: str) -> None:
        """Handle a record cut short at the current position, by policy."""
        error = TruncatedFile(what, path=self.path, offset=self._base + self._pos)
        if self.on_truncated == "error" or not self._whole_header():
            if self._whole_header():
                error.message += "; --allow-truncated (on_truncated='warn') keeps the records before it"
            else:
                error.message += ": no whole capture header, so nothing to keep"
            raise error
        self.truncated = error
        self._done = True
        warnings.warn(str(error), TruncationWarning, stacklevel=3)

    def _whole_header(self) -> bool:
        """Whether the file's own header (pcap file header, first section header) was read."""
        return True

    @property
    def offset(self) -> int:
        """Stream offset of the next unread byte."""
        return self._base + self._pos

    # -- reading --------------------------------------------------------------------------
    def read_chunk(self, max_packets: int, max_bytes: int = UNBOUNDED) -> list:
        """Return the next records: up to `max_packets` packets and the blocks among them,
        ending early after the packet whose data reaches `max_bytes`.

        An empty list means the end of the capture.
        """
        raise NotImplementedError

    def chunks(self, chunk_size: int, chunk_bytes: int = UNBOUNDED) -> Iterator[list]:
        """Yield lists of records holding `chunk_size` packets each, or fewer packets holding
        `chunk_bytes` bytes of packet data (the last chunk may hold less)."""
        while True:
            chunk = self.read_chunk(chunk_size, chunk_bytes)
            if not chunk:
                return
            yield chunk

    def __iter__(self):
        for chunk in self.chunks(ITER_CHUNK_PACKETS, ITER_CHUNK_BYTES):
            yield from chunk

    def position(self) -> int:
        """Bytes of the file on disk consumed so far."""
        return self.source.position()

    def close(self) -> None:
        self.source.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
