"""The one exception family of pktmask_nb (SPEC §3): every user-facing failure is a PktmaskError."""

from __future__ import annotations


class PktmaskError(Exception):
    """Base of every error pktmask_nb raises on purpose.

    ``str(error)`` is a single line naming the file and, where it applies, the byte offset,
    so the CLI can print it as is.

    Parameters
    ----------
    message : str
        What was expected and what was found.
    path : str, optional
        The file the error is about.
    offset : int, optional
        Byte offset in the (decompressed) capture where the problem starts.
    """

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None):
        super().__init__(message)
        self.message = message
        self.path = path
        self.offset = offset

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path))
        if self.offset is not None:
            where.append(f"byte {self.offset}")
        return ": ".join(where + [self.message])

    def located(self, path: str) -> PktmaskError:
        """Return this error with `path` filled in if it had none."""
        if self.path is None:
            self.path = str(path)
        return self


class UsageError(PktmaskError):
    """Bad arguments: missing input, output that would overwrite something, invalid option."""


class CaptureError(PktmaskError):
    """The input is not a capture we can read."""


class BadMagic(CaptureError):
    """The file does not start with a pcap, pcapng or gzip magic number."""


class TruncatedFile(CaptureError):
    """The file ends in the middle of a header or record."""


class CorruptedFile(CaptureError):
    """A length or field is impossible (absurd caplen, block length mismatch, bad gzip data)."""


class OutputError(PktmaskError):
    """An output cannot be written: no space left, a read-only file system, no permission, a
    closed pipe. Nothing is left behind."""


class ProcessDied(PktmaskError):
    """The second process of a two-process run ended without a result (killed: out of memory, a signal)."""


class AuditMismatch(PktmaskError):
    """The sanitized capture is not a sanitized copy of the original: a frame has no counterpart
    (timestamps or lengths differ) and the original frame skipped is no copy of an earlier one."""


class AuditFailed(PktmaskError):
    """The leak audit (SPEC §8) found something, or could not judge everything; `report` is its
    `~pktmask_nb.audit.AuditReport` (``report.verdict``: "findings" or "undecided").

    ``str(error)`` is the report's one-line summary.
    """

    def __init__(self, report):
        super().__init__(report.summary())
        self.report = report
