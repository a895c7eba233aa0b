"""The stages: dedup → anonymize → mask, built from a `Config`."""

from __future__ import annotations

from ..config import Config
from .base import Stage
from .dedup import DedupStage

__all__ = ["DedupStage", "Stage", "build_stages"]


def build_stages(config: Config) -> list[Stage]:
    """Fresh stage objects for one input, in pipeline order (SPEC §1)."""
    stages: list[Stage] = []
    if "dedup" in config.stages:
        stages.append(DedupStage(config.dedup))
    if "anonymize" in config.stages:
        from .anonymize import AnonymizeStage

        stages.append(AnonymizeStage(config.anonymize))
    if "mask" in config.stages:
        from .mask import MaskStage

        stages.append(MaskStage(config.mask))
    if not config.keep_metadata and ("anonymize" in config.stages or "mask" in config.stages):
        from .scrub import ScrubStage

        stages.append(ScrubStage())
    return stages
