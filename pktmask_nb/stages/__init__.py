"""The stages: dedup → anonymize → mask, built from a `Config`."""

from __future__ import annotations

from ..config import Config
from ..errors import UsageError
from .base import Stage
from .dedup import DedupStage

__all__ = ["DedupStage", "Stage", "build_stages"]


def build_stages(config: Config) -> list[Stage]:
    """Fresh stage objects for one input, in pipeline order."""
    builders = {"dedup": lambda: DedupStage(config.dedup)}
    missing = [name for name in config.stages if name not in builders]
    if missing:
        raise UsageError(f"stage {missing[0]!r} is not available in this version")
    return [builders[name]() for name in config.stages]
