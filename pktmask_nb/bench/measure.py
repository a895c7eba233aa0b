"""Measuring one benchmark run in a child process: wall and CPU seconds, peak RSS, bytes read and written.

Peak RSS comes from GNU time (``/usr/bin/time -f %M``) when it is installed; otherwise from
``getrusage(RUSAGE_CHILDREN)`` in a fresh intermediate Python process. A process started
straight from the (large) benchmark process would inherit its memory high-water mark: Linux
carries it over fork and exec into the child's rusage. The intermediate's own RSS (a few MB)
is then a floor under what tiny tools such as ``cat`` can report, and an external tool's
seconds and bytes read include the intermediate's start-up (~15 ms and ~30 kB): a
difference only for the fastest runs (``cat`` of 1 MB), which GNU time does not have.

Bytes read and written are the kernel's counts, ``rchar`` and ``wchar`` of ``/proc/<pid>/io``
(every byte ``read``/``write``/``copy_file_range`` moved, whatever the program believes it
did). They are read from the wrapper (GNU time or the intermediate) after it has exited but
before it is reaped, and so include the measured command, which the wrapper reaped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

GNU_TIME = "/usr/bin/time"  # Debian/Ubuntu: apt-get install time
RSS_GNU_TIME, RSS_RUSAGE = "gnu-time", "rusage-children"
RUSAGE_RUNNER = """\
import os, resource, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
status = os.waitpid(pid, 0)[1]
with open(sys.argv[1], "w") as f:
    f.write(f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""  # run with python -S: RSS_FILE CMD ARG...; writes the peak RSS of CMD in KiB, like GNU time -f %M
STDERR_TAIL = 400  # characters of a failed command's standard error kept in the exception


class RunFailed(Exception):
    """A measured command exited with a non-zero status."""


@dataclass(frozen=True)
class Measurement:
    """What one child process cost, seen from outside.

    Attributes
    ----------
    seconds : float
        Wall-clock time from start to exit.
    cpu_seconds : float
        User plus system time of the process and its children.
    peak_rss_bytes : int
    rss_source : str
        ``"gnu-time"`` or ``"rusage-children"`` (see the module docstring).
    rchar, wchar : int or None
        Bytes the process (and its children) read and wrote, from ``/proc/<pid>/io``; None
        where ``/proc`` has no such file.
    stdout : str
        Its standard output (empty when it went to a file).
    """

    seconds: float
    cpu_seconds: float
    peak_rss_bytes: int
    rss_source: str
    rchar: int | None
    wchar: int | None
    stdout: str


def find_gnu_time() -> str | None:
    """The path of GNU time, or None (the shell keyword ``time`` cannot measure memory)."""
    path = GNU_TIME if os.access(GNU_TIME, os.X_OK) else shutil.which("time")
    return path or None


def read_proc_io(pid: int | str = "self") -> dict[str, int] | None:
    """The counters of ``/proc/<pid>/io`` (``rchar``, ``wchar``, ...), or None if unavailable."""
    try:
        with open(f"/proc/{pid}/io", encoding="ascii") as f:
            return {key: int(value) for key, value in (line.split(":") for line in f)}
    except (OSError, ValueError):
        return None


def wrapper(rss_file: Path, gnu_time: str | None) -> list[str]:
    """The command prefix that reports the peak RSS of what follows into `rss_file`."""
    if gnu_time:
        return [gnu_time, "-f", "%M", "-o", str(rss_file)]
    return [sys.executable, "-S", "-c", RUSAGE_RUNNER, str(rss_file)]


def measure(cmd: list[str], work_dir, *, stdout_path=None, gnu_time: str | None = "auto") -> Measurement:
    """Run `cmd` in a child process and measure it.

    Parameters
    ----------
    cmd : list of str
    work_dir : str or os.PathLike
        Where the small files of the measurement (peak RSS, standard error) go.
    stdout_path : str or os.PathLike, optional
        Send standard output to this file (``cat IN > OUT``) instead of capturing it.
    gnu_time : str or None
        Path of GNU time, ``"auto"`` to look for it, or None to use the intermediate process.

    Raises
    ------
    RunFailed
        `cmd` exited with a non-zero status.
    """
    gnu_time = find_gnu_time() if gnu_time == "auto" else gnu_time
    rss_file, err_file = Path(work_dir) / "peak_rss.txt", Path(work_dir) / "stderr.txt"
    with open(err_file, "wb") as err, open(stdout_path, "wb") if stdout_path else contextlib.nullcontext() as out:
        start = time.perf_counter()
        with subprocess.Popen([*wrapper(rss_file, gnu_time), *cmd], stdout=out or subprocess.PIPE, stderr=err) as proc:
            text = proc.stdout.read().decode() if out is None else ""
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # exited, not yet reaped: /proc still there
            seconds = time.perf_counter() - start
            io = read_proc_io(proc.pid) or {}
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        tail = err_file.read_text(errors="replace")[-STDERR_TAIL:].strip()
        raise RunFailed(f"{cmd[0]} exited with status {proc.returncode}: {tail}")
    return Measurement(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_bytes=int(rss_file.read_text().split()[-1]) * 1024,
        rss_source=RSS_GNU_TIME if gnu_time else RSS_RUSAGE,
        rchar=io.get("rchar"),
        wchar=io.get("wchar"),
        stdout=text,
    )
