"""The Jupyter layer: DataFrames, plots, widgets over the streaming core (needs the `notebook` extra).

The core never imports pandas, matplotlib, ipywidgets or IPython; this subpackage does, and
tells what is missing when one of them is not installed::

    pip install 'pktmask_nb[notebook]'
"""

from __future__ import annotations

import importlib

NOTEBOOK_DEPENDENCIES = ("pandas", "matplotlib", "ipywidgets", "IPython")
INSTALL_HINT = "pip install 'pktmask_nb[notebook]'"


def require(*modules: str) -> None:
    """Import `modules` or raise one ImportError naming every missing one and the extra to install."""
    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(
            f"pktmask_nb.notebook needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
            f"not installed: {INSTALL_HINT}"
        )


require(*NOTEBOOK_DEPENDENCIES)

from .audit import FrameView, audit_frame, compare, findings_frame, undecided_frame  # noqa: E402
from .explore import (  # noqa: E402
    capture_frame,
    capture_frames,
    flow_summary,
    protocol_mix,
    summarize_capture,
    top_talkers,
)
from .frames import (  # noqa: E402
    chunks_frame,
    duplicates_frame,
    flows_frame,
    ledger_frame,
    mapping_frame,
    run_frames,
    stage_times_frame,
    stages_frame,
    summary_frame,
)
from .panel import SanitizePanel  # noqa: E402
from .plots import plot_memory, plot_stage_times, plot_sweep, plot_throughput  # noqa: E402
from .tune import ChunkSizeTuner, recommend_chunk_size, sweep  # noqa: E402

__all__ = [
    "ChunkSizeTuner",
    "FrameView",
    "audit_frame",
    "compare",
    "findings_frame",
    "undecided_frame",
    "SanitizePanel",
    "capture_frame",
    "capture_frames",
    "chunks_frame",
    "duplicates_frame",
    "flow_summary",
    "flows_frame",
    "ledger_frame",
    "mapping_frame",
    "plot_memory",
    "plot_stage_times",
    "plot_sweep",
    "plot_throughput",
    "protocol_mix",
    "recommend_chunk_size",
    "require",
    "run_frames",
    "stage_times_frame",
    "stages_frame",
    "summarize_capture",
    "summary_frame",
    "sweep",
    "top_talkers",
]
