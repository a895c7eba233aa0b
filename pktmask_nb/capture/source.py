"""Opening an input capture: plain or gzip (detected by magic), with byte offsets for errors."""

from __future__ import annotations

import gzip
import os
import zlib

from ..errors import CorruptedFile, TruncatedFile, UsageError

GZIP_MAGIC = b"\x1f\x8b"  # RFC 1952 §2.3.1
READ_SIZE = 1 << 20


class Source:
    """A readable byte stream over a capture file, decompressing gzip transparently.

    Parameters
    ----------
    path : str or os.PathLike
        The capture file.

    Attributes
    ----------
    path : str
    compressed : bool
        True when the file is gzip-compressed; offsets are then in the decompressed data.
    size : int
        Size of the file on disk.
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            self._raw = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except FileNotFoundError:
            raise UsageError("no such file", path=self.path) from None
        except IsADirectoryError:
            raise UsageError("is a directory, expected a capture file", path=self.path) from None
        except OSError as e:
            raise UsageError(f"cannot open: {e.strerror}", path=self.path) from None
        self.size = os.fstat(self._raw.fileno()).st_size
        self.compressed = self._raw.read(2) == GZIP_MAGIC
        self._raw.seek(0)
        self._stream = gzip.GzipFile(fileobj=self._raw, mode="rb") if self.compressed else self._raw
        self.offset = 0  # bytes of (decompressed) data returned so far
        self._peeked = b""

    def peek(self, size: int) -> bytes:
        """Return the first `size` bytes (fewer if the data is shorter) without consuming them."""
        if len(self._peeked) < size:
            self._peeked += self._read(size - len(self._peeked))
        return self._peeked[:size]

    def read(self, size: int = READ_SIZE) -> bytes:
        """Return up to `size` bytes; ``b""`` only at the end of the data."""
        if not self._peeked:
            return self._read(size)
        data, self._peeked = self._peeked[:size], self._peeked[size:]
        if len(data) < size:
            data += self._read(size - len(data))
        return data

    def _read(self, size: int) -> bytes:
        try:
            data = self._stream.read(size)
        except EOFError:
            raise TruncatedFile("gzip stream ends before its end marker", path=self.path, offset=self.offset) from None
        except (gzip.BadGzipFile, zlib.error, OSError) as e:
            raise CorruptedFile(f"bad gzip data ({e})", path=self.path, offset=self.offset) from None
        self.offset += len(data)
        return data

    def position(self) -> int:
        """Bytes of the file on disk consumed so far (for progress bars)."""
        return self._raw.tell()

    def close(self) -> None:
        if self._stream is not self._raw:
            self._stream.close()
        self._raw.close()
