"""pktmask_nb: make packet captures safe to share — dedup, anonymize, mask, in one streaming pass."""

from .api import RunResult, run
from .capture import open_capture
from .config import Config, DedupConfig
from .errors import BadMagic, CaptureError, CorruptedFile, PktmaskError, TruncatedFile, UsageError

__version__ = "0.1.0"

__all__ = [
    "BadMagic",
    "CaptureError",
    "Config",
    "CorruptedFile",
    "DedupConfig",
    "PktmaskError",
    "RunResult",
    "TruncatedFile",
    "UsageError",
    "open_capture",
    "run",
]
