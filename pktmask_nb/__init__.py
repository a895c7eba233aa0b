"""pktmask_nb: make packet captures safe to share — dedup, anonymize, mask, in one streaming pass."""

from .api import RunResult, run
from .audit import AuditReport, audit  # the function shadows the subpackage name on purpose
from .capture import open_capture
from .config import Config, DedupConfig
from .errors import (
    AuditFailed,
    AuditMismatch,
    BadMagic,
    CaptureError,
    CorruptedFile,
    PktmaskError,
    ProcessDied,
    TruncatedFile,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "AuditFailed",
    "AuditMismatch",
    "AuditReport",
    "BadMagic",
    "CaptureError",
    "Config",
    "CorruptedFile",
    "DedupConfig",
    "PktmaskError",
    "ProcessDied",
    "RunResult",
    "TruncatedFile",
    "UsageError",
    "audit",
    "open_capture",
    "run",
]
