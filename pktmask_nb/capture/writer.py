"""Capture output: atomic for files (a temporary file beside the target, linked or renamed
into place on success, SPEC §2.7), straight through for standard output and file objects."""

from __future__ import annotations

import _thread
import contextlib
import gzip
import os
import stat
import sys

from ..errors import OutputError, UsageError
from ..record import Packet

STDIO = "-"  # standard input as an input, standard output as an output


def is_stream(target) -> bool:
    """Whether `target` is ``"-"`` or a file object rather than a path."""
    return hasattr(target, "write") or hasattr(target, "read") or target == STDIO


def check_output(inputs, output, *, force: bool = False) -> None:
    """Refuse an output that is one of the inputs, exists without `force`, or is no regular
    file (a FIFO, a device, a symlink: never replaced).

    Raises
    ------
    UsageError
    """
    if is_stream(output):
        return
    output = os.fspath(output)
    if not output:
        raise UsageError("the output name is empty")
    for path in inputs:
        if not is_stream(path) and _is_same_file(path, output):
            raise UsageError("output is the same file as an input; refusing to overwrite it", path=output)
    if os.path.isdir(output):
        raise UsageError("output is a directory, expected a file name", path=output)
    _check_replaceable(output)
    if os.path.lexists(output) and not force:
        raise UsageError("output exists; pass force=True (--force on the command line) to replace it", path=output)


def _check_replaceable(output: str) -> None:
    try:
        mode = os.lstat(output).st_mode
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise UsageError("a file is in the way of the output's directory", path=output) from None
    except OSError as e:
        raise UsageError(f"cannot check the output: {e.strerror}", path=output) from None
    if not stat.S_ISREG(mode):
        kinds = ((stat.S_ISLNK, "a symlink"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"))
        kind = next((name for test, name in kinds if test(mode)), "no regular file")
        raise UsageError(f"output exists and is {kind}; refusing to replace it", path=output)


def reserve_temp(path) -> str:
    """Create the (empty) temporary file beside output `path` that a `CaptureWriter` fills; its name.

    Raises
    ------
    UsageError
        The output directory does not exist.
    OutputError
        No file can be created there.
    """
    fd, temp_path = make_temp(path)
    os.close(fd)
    return temp_path


# Temporary files made here and not yet renamed or removed, with the thread that made each.
# A name is entered before its file exists, so a signal that arrives at any point (even
# before the file's owner has a name for it) leaves nothing `remove_temporaries` cannot find.
_temporaries: dict[str, int] = {}


def make_temp(path, *, private: bool = False) -> tuple[int, str]:
    """``(fd, name)`` of a new temporary file beside `path`: readable as the umask allows,
    or by the owner only when `private` (an address mapping). Give its name to `drop_temp`
    once it is renamed or removed."""
    directory, name = os.path.split(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(directory):
        raise UsageError("output directory does not exist", path=directory)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        temp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.part")
        _temporaries[temp] = _thread.get_ident()
        try:
            return os.open(temp, flags, 0o600 if private else 0o666), temp
        except FileExistsError:
            del _temporaries[temp]
        except OSError as e:
            del _temporaries[temp]
            raise OutputError(f"cannot create a file here: {e.strerror}", path=directory) from None
    raise OutputError("cannot create a file here: no unused temporary name", path=directory)


def drop_temp(temp: str, *, remove: bool = True) -> None:
    """Remove temporary file `temp` (unless it was renamed: not `remove`) and forget it."""
    if remove:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
    _temporaries.pop(temp, None)


def remove_temporaries(thread: int | None = None) -> int:
    """Remove the temporary files still left (those `thread` made, or all); how many there were.

    For interruptions: a writer removes its own file when it fails, but a signal can come
    before the writer exists.
    """
    left = [temp for temp, maker in list(_temporaries.items()) if thread is None or maker == thread]
    for temp in left:
        drop_temp(temp)
    return len(left)


def _is_same_file(a, b) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist yet
        return os.path.realpath(a) == os.path.realpath(b)


class StreamWriter:
    """Write records straight to a binary file object (standard output for ``"-"``): what
    was written before an error stays written, as a pipe cannot take bytes back."""

    def __init__(self, target):
        self.path = stream_name(target)
        self._stream = sys.stdout.buffer if target == STDIO else target
        self.bytes_written = 0
        self.packets_written = 0

    def write(self, records: list) -> None:
        """Write a chunk: ``head + data + tail`` of each packet, ``raw`` of each block."""
        data, packets = _join(records)
        try:
            self._stream.write(data)
        except OSError as e:
            raise _output_error(e, self.path) from None
        self.bytes_written += len(data)
        self.packets_written += packets

    def commit(self) -> None:
        try:
            self._stream.flush()
        except OSError as e:
            raise _output_error(e, self.path) from None

    def abort(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()


def stream_name(target) -> str:
    """``<stdout>`` for ``"-"``, else a file object's name, or ``<stream>``."""
    name = "<stdout>" if target == STDIO else getattr(target, "name", None)
    return name if isinstance(name, str) else "<stream>"


class CaptureWriter(StreamWriter):
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
    replace : bool
        Replace a file that exists at `path` when the run ends; otherwise one that appeared
        meanwhile (another run) is an error and stays as it is.
    """

    def __init__(self, path, temp_path: str | None = None, replace: bool = False):
        self.path = os.fspath(path)
        self.replace = replace
        if temp_path is None:
            fd, self.temp_path = make_temp(self.path)
            try:
                self._file = os.fdopen(fd, "wb")
            except BaseException:
                os.close(fd)
                drop_temp(self.temp_path)
                raise
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

    def commit(self) -> None:
        """Close the temporary file and give it the final name."""
        try:
            self._close()
            if self.replace:
                _check_replaceable(self.path)
                os.replace(self.temp_path, self.path)
                drop_temp(self.temp_path, remove=False)
            else:
                self._link()
        except BaseException as e:
            self.abort()
            if isinstance(e, OSError):
                raise _output_error(e, self.path) from None
            raise

    def _link(self) -> None:
        """The final name, only if nothing took it while this run wrote (a hard link fails then)."""
        try:
            os.link(self.temp_path, self.path)
        except FileExistsError:
            raise UsageError(
                "output appeared while this run wrote it; pass force=True (--force) to replace it", path=self.path
            ) from None
        except OSError:  # a file system without hard links
            if os.path.lexists(self.path):
                raise UsageError("output appeared while this run wrote it", path=self.path) from None
            os.replace(self.temp_path, self.path)
            drop_temp(self.temp_path, remove=False)
            return
        drop_temp(self.temp_path)

    def abort(self) -> None:
        """Close and remove the temporary file; the target is left untouched."""
        with contextlib.suppress(OSError):
            self._close()
        drop_temp(self.temp_path)

    def _close(self) -> None:
        try:
            if self._stream is not self._file:
                self._stream.close()
        finally:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _join(records: list) -> tuple[bytes, int]:
    """``head + data + tail`` of each packet, ``raw`` of each block, and the packets."""
    parts = []
    packets = 0
    for r in records:
        if type(r) is Packet:
            p = r
            parts.append(p.head)
            parts.append(p.data)
            parts.append(p.tail)
            packets += 1
        else:
            parts.append(r.raw)
    return b"".join(parts), packets


def _output_error(e: OSError, path: str) -> OutputError:
    if isinstance(e, BrokenPipeError):
        return OutputError("the reading end of the output pipe closed", path=path)
    return OutputError(f"cannot write: {e.strerror or e}", path=path)


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


def open_writer(target, temp_path: str | None = None, replace: bool = False):
    """A `NullWriter` when `target` is None, a `StreamWriter` for ``"-"`` or a file object,
    else a `CaptureWriter` for the path (writing `temp_path` if given)."""
    if target is None:
        return NullWriter()
    if is_stream(target):
        return StreamWriter(target)
    return CaptureWriter(target, temp_path, replace)
