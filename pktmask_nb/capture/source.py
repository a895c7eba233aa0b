"""Opening an input capture: plain or gzip (detected by magic), with byte offsets for errors."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import select
import stat
import sys
import zlib

from cython.cimports.cpython.exc import PyErr_CheckSignals

from ..errors import CorruptedFile, TruncatedFile, UsageError

GZIP_MAGIC = b"\x1f\x8b"  # RFC 1952 §2.3.1
READ_SIZE = 1 << 20
SIGNAL_POLL_SECONDS = 0.1  # a pipe is waited on this long at most before pending signals are handled


class Source:
    """A readable byte stream over a capture, decompressing gzip transparently.

    It never seeks, so pipes, standard input and sockets read as files do.

    Parameters
    ----------
    path : str, os.PathLike or binary file object
        The capture file; ``"-"`` reads standard input.

    Attributes
    ----------
    path : str
        The name errors give (``<stdin>``, a file object's name, or ``<stream>``).
    compressed : bool
        True when the data is gzip-compressed; offsets are then in the decompressed data.
    size : int
        Size of a regular file on disk; 0 for a pipe or a stream.
    """

    def __init__(self, path):
        self._owned = not hasattr(path, "read") and path != "-"
        if not self._owned:
            self._raw = sys.stdin.buffer if path == "-" else path
            name = "<stdin>" if path == "-" else getattr(path, "name", None)
            self.path = name if isinstance(name, str) else "<stream>"
        else:
            self.path = os.fspath(path)
            try:
                self._raw = open(self.path, "rb")  # noqa: SIM115 - closed by close()
            except FileNotFoundError:
                raise UsageError("no such file", path=self.path) from None
            except IsADirectoryError:
                raise UsageError("is a directory, expected a capture file", path=self.path) from None
            except OSError as e:
                raise UsageError(f"cannot open: {e.strerror}", path=self.path) from None
        self.size = 0
        reader, wait_fd = self._raw, -1
        with contextlib.suppress(OSError, AttributeError, ValueError, io.UnsupportedOperation):
            info = os.fstat(self._raw.fileno())
            self.size = info.st_size if stat.S_ISREG(info.st_mode) else 0
            if not stat.S_ISREG(info.st_mode) and (self._owned or path == "-") and type(self._raw) is io.BufferedReader:
                # a pipe is read unbuffered, so that nothing it sent waits in a buffer while we
                # wait on its descriptor (see `_Counted`)
                reader, wait_fd = self._raw.raw, self._raw.fileno()
        self._counted = _Counted(reader, wait_fd)
        self.compressed = self._counted.peek(2) == GZIP_MAGIC
        self._stream = gzip.GzipFile(fileobj=self._counted, mode="rb") if self.compressed else self._counted
        self.offset = 0  # bytes of (decompressed) data returned so far
        self._peeked = b""

    def peek(self, size: int) -> bytes:
        """Return the first `size` bytes (fewer if the data is shorter) without consuming them."""
        while len(self._peeked) < size:  # a pipe may give fewer bytes a read
            more = bytearray(size - len(self._peeked))
            n = self._readinto(memoryview(more))
            if not n:
                break
            self._peeked += more[:n]
        return self._peeked[:size]

    def readinto(self, view) -> int:
        """Read up to ``len(view)`` bytes into the writable buffer `view`; 0 only at the end of
        the data (or for an empty `view`). Bytes `peek` looked at come first."""
        if self._peeked:
            n = min(len(view), len(self._peeked))
            view[:n] = self._peeked[:n]
            self._peeked = self._peeked[n:]
            return n
        return self._readinto(view)

    def _readinto(self, view) -> int:
        try:
            n = self._stream.readinto(view)
        except EOFError:
            raise TruncatedFile("gzip stream ends before its end marker", path=self.path, offset=self.offset) from None
        except (gzip.BadGzipFile, zlib.error, OSError) as e:
            raise CorruptedFile(f"bad gzip data ({e})", path=self.path, offset=self.offset) from None
        self.offset += n
        return n

    def position(self) -> int:
        """Bytes of the file on disk consumed so far (for progress bars)."""
        return self._counted.consumed

    def close(self) -> None:
        if self._stream is not self._counted:
            self._stream.close()
        if self._owned:
            self._raw.close()


class _Counted:
    """A raw stream read through: bytes peeked at first are given again, bytes read counted.

    A signal that came while compiled code ran has run no handler yet, and one that comes
    after the handlers ran but before a blocking read starts interrupts nothing: a pipe's
    read would then wait for the next bytes (forever, if none come) before it stops the run.
    So pending handlers run before each read, and a pipe (`wait_fd`) is waited on in slices
    of `SIGNAL_POLL_SECONDS` with the handlers run between them.
    """

    def __init__(self, raw, wait_fd: int = -1):
        self._raw, self._head, self.consumed = raw, b"", 0
        self._wait_fd = wait_fd
        # what is there now, up to size: a pipe's reader must not wait for a whole megabyte
        self._read_raw = getattr(raw, "read1", raw.read)
        self._readinto_raw = getattr(raw, "readinto1", None) or getattr(raw, "readinto", None) or self._copy_into

    def _copy_into(self, view) -> int:
        """``readinto`` for a stream that only has ``read``."""
        data = self._read_raw(len(view))
        view[: len(data)] = data
        return len(data)

    def _wait(self) -> None:
        """Run pending signal handlers, and wait for a pipe to have bytes while running them."""
        PyErr_CheckSignals()
        if self._wait_fd >= 0:
            while not select.select([self._wait_fd], [], [], SIGNAL_POLL_SECONDS)[0]:
                PyErr_CheckSignals()

    def _read(self, size: int) -> bytes:
        self._wait()
        return self._read_raw(size)

    def peek(self, size: int) -> bytes:
        while len(self._head) < size:
            data = self._read(size - len(self._head))
            if not data:
                break
            self._head += data
        return self._head[:size]

    def read(self, size: int = -1) -> bytes:
        head = self._head
        if head and 0 <= size <= len(head):
            data, self._head = head[:size], head[size:]
        else:
            self._head = b""
            data = head + self._read(size if size < 0 else size - len(head))
        self.consumed += len(data)
        return data

    def readinto(self, view) -> int:
        """`read` into the writable buffer `view`: no new bytes object for what it reads."""
        if self._head:
            n = min(len(view), len(self._head))
            view[:n] = self._head[:n]
            self._head = self._head[n:]
        else:
            self._wait()
            n = self._readinto_raw(view)
        self.consumed += n
        return n
