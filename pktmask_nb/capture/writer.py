"""Atomic capture output: a temporary file beside the target, renamed into place on success (SPEC §2.7)."""

from __future__ import annotations

import contextlib
import gzip
import os
import tempfile

from ..errors import UsageError
from ..record import Packet


def check_output(inputs, output, *, force: bool = False) -> None:
    """Refuse an output that is one of the inputs, or exists without `force`.

    Raises
    ------
    UsageError
    """
    output = os.fspath(output)
    for path in inputs:
        if _is_same_file(path, output):
            raise UsageError("output is the same file as an input; refusing to overwrite it", path=output)
    if os.path.isdir(output):
        raise UsageError("output is a directory, expected a file name", path=output)
    if os.path.exists(output) and not force:
        raise UsageError("output exists; use --force to replace it", path=output)


def reserve_temp(path) -> str:
    """Create the (empty) temporary file beside output `path` that a `CaptureWriter` fills; its name.

    Raises
    ------
    UsageError
        The output directory does not exist.
    """
    fd, temp_path = _make_temp(path)
    os.close(fd)
    return temp_path


def _make_temp(path) -> tuple[int, str]:
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        raise UsageError("output directory does not exist", path=directory)
    return tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)


def _is_same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return os.path.realpath(a) == os.path.realpath(b)


class CaptureWriter:
    """Write records to `path` atomically; gzip-compress when the name ends in ``.gz``.

    Use as a context manager: the file appears under its name only when the block
    finishes without an exception; otherwise the temporary file is removed.

    Parameters
    ----------
    path : str or os.PathLike
        Final output path. Its directory must exist.
    temp_path : str, optional
        The temporary file to write, made by `reserve_temp` (another process may then remove
        it if this one dies); by default one is made here.
    """

    def __init__(self, path, temp_path: str | None = None):
        self.path = os.fspath(path)
        if temp_path is None:
            fd, self.temp_path = _make_temp(self.path)
            self._file = os.fdopen(fd, "wb")
        else:
            self.temp_path = temp_path
            self._file = open(temp_path, "wb")  # noqa: SIM115 - closed by commit or abort
        self._stream = (
            gzip.GzipFile(fileobj=self._file, mode="wb", compresslevel=6, mtime=0)
            if self.path.endswith(".gz")
            else self._file
        )
        self.bytes_written = 0
        self.packets_written = 0

    def write(self, records: list) -> None:
        """Write a chunk: ``head + data + tail`` of each packet, ``raw`` of each block."""
        parts = []
        append = parts.append
        packets = 0
        for r in records:
            if r.__class__ is Packet:
                append(r.head)
                append(r.data)
                append(r.tail)
                packets += 1
            else:
                append(r.raw)
        data = b"".join(parts)
        self._stream.write(data)
        self.bytes_written += len(data)
        self.packets_written += packets

    def commit(self) -> None:
        """Close the temporary file and rename it to the final name."""
        self._close()
        os.replace(self.temp_path, self.path)

    def abort(self) -> None:
        """Close and remove the temporary file; the target is left untouched."""
        self._close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp_path)

    def _close(self) -> None:
        if self._stream is not self._file:
            self._stream.close()
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class NullWriter:
    """The writer of a run without output: counts nothing, keeps nothing."""

    bytes_written = 0
    packets_written = 0

    def write(self, records: list) -> None:
        pass

    def commit(self) -> None:
        pass

    def abort(self) -> None:
        pass


def open_writer(path, temp_path: str | None = None) -> CaptureWriter | NullWriter:
    """A `CaptureWriter` for `path` (writing `temp_path` if given), or a `NullWriter` when `path` is None."""
    return NullWriter() if path is None else CaptureWriter(path, temp_path)
