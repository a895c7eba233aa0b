"""The stages: dedup → anonymize → mask, built from a `Config`."""

from __future__ import annotations

from ..config import Config
from ..rows import Rows
from .base import Stage
from .dedup import DedupStage

__all__ = ["DedupStage", "Stage", "build_stages", "stage_stats", "stage_tables"]


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

        anonymized = "anonymize" in config.stages
        macs, dns = anonymized and config.anonymize.mac != "none", anonymized and config.anonymize.dns
        stages.append(MaskStage(config.mask, anonymized, macs_mapped=macs, dns=dns))
    if not config.keep_metadata and ("anonymize" in config.stages or "mask" in config.stages):
        from .scrub import ScrubStage

        stages.append(ScrubStage())
    return stages


def stage_stats(stages: list) -> dict[str, dict]:
    """Each stage's statistics, by stage name."""
    return {s.name: s.stats() for s in stages}


def stage_tables(stages: list) -> dict[str, Rows]:
    """Every stage's report tables, by table name."""
    return {name: rows for s in stages for name, rows in s.tables().items()}
