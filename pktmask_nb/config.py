"""The one validated, frozen configuration shared by the Python API, the CLI and the widgets."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from .errors import UsageError

STAGE_ORDER = ("dedup", "anonymize", "mask")  # SPEC §1: always in this order
DEFAULT_CHUNK_SIZE = 4096  # packets per chunk
MAX_CHUNK_SIZE = 1_000_000
DEDUP_KEYS = ("frame", "l3")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)


@dataclass(frozen=True, kw_only=True)
class DedupConfig:
    """Settings of the dedup stage (SPEC §4).

    Parameters
    ----------
    window_packets : int, optional
        Only a frame seen among the previous `window_packets` frames is a duplicate.
    window_seconds : float, optional
        Only a frame seen at most `window_seconds` earlier is a duplicate.
        With neither window the scope is the whole file (exact).
    key : {"frame", "l3"}
        ``"frame"`` compares captured bytes; ``"l3"`` compares from the outermost IP header
        to the end of its datagram with TTL/hop limit and the IPv4 checksum ignored, so
        the same packet seen on two links (other L2 header or VLAN tags) is a duplicate.
    top : int
        How many of the most duplicated frames the report lists.
    """

    window_packets: int | None = None
    window_seconds: float | None = None
    key: str = "frame"
    top: int = 10

    def __post_init__(self):
        _check(self.window_packets is None or self.window_packets >= 1, "dedup window_packets must be >= 1")
        _check(self.window_seconds is None or self.window_seconds > 0, "dedup window_seconds must be > 0")
        _check(self.key in DEDUP_KEYS, f"dedup key must be one of {DEDUP_KEYS}, not {self.key!r}")
        _check(self.top >= 0, "dedup top must be >= 0")

    @property
    def windowed(self) -> bool:
        return self.window_packets is not None or self.window_seconds is not None


@dataclass(frozen=True, kw_only=True)
class Config:
    """Everything a run needs to know, validated on construction.

    Parameters
    ----------
    stages : tuple of str
        Any of ``"dedup"``, ``"anonymize"``, ``"mask"``; they always run in that order.
        An empty tuple copies the capture unchanged.
    chunk_size : int
        Packets per chunk, 1 to 1 000 000. Output does not depend on it (SPEC §2.3).
    on_truncated : {"error", "warn"}
        A capture that ends inside a record is an error, or is processed up to the last
        complete record with a warning (SPEC §3).
    dedup : DedupConfig
    """

    stages: tuple[str, ...] = STAGE_ORDER
    chunk_size: int = DEFAULT_CHUNK_SIZE
    on_truncated: str = "error"
    dedup: DedupConfig = field(default_factory=DedupConfig)

    def __post_init__(self):
        stages = tuple(self.stages)
        unknown = [s for s in stages if s not in STAGE_ORDER]
        _check(not unknown, f"unknown stage {', '.join(unknown)}; choose from {', '.join(STAGE_ORDER)} or none")
        _check(len(set(stages)) == len(stages), "a stage is listed twice")
        object.__setattr__(self, "stages", tuple(s for s in STAGE_ORDER if s in stages))
        _check(
            isinstance(self.chunk_size, int) and 1 <= self.chunk_size <= MAX_CHUNK_SIZE,
            f"chunk size must be an integer from 1 to {MAX_CHUNK_SIZE}, not {self.chunk_size!r}",
        )
        _check(
            self.on_truncated in ("error", "warn"), f"on_truncated must be 'error' or 'warn', not {self.on_truncated!r}"
        )

    def replace(self, **changes) -> Config:
        """A copy with `changes` applied (and validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain settings for reports (never contains key material)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def parse_stages(text: str) -> tuple[str, ...]:
    """Parse the CLI form ``"dedup,anonymize"`` or ``"none"`` into a stage tuple."""
    text = text.strip()
    if text == "none":
        return ()
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _plain(value):
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple):
        return list(value)
    return value
