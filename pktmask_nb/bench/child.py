"""The measured side of a benchmark run: ``python -m pktmask_nb.bench.child JOB`` runs one job and prints JSON.

The job (JSON) names the implementation (``"pipeline"``: `pktmask_nb.run`; ``"baseline"``:
`run_baseline`), input, output, stages, Crypto-PAn key, chunk size and processes. Everything the run
needs is imported and built before the clock starts; around the run itself this process
takes the deltas of its wall and CPU time and of ``/proc/self/io`` (``rchar``/``wchar``), so
the bytes it reports are those the run moved, without the interpreter's start-up. (Both CPU
time and ``/proc/self/io`` include the children a run may start once it has reaped them; the
children's CPU time is also reported on its own: in a two-process run, the second process's.)
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import resource
import sys
import time

from .. import api
from ..config import AnonymizeConfig, Config
from ..stages import build_stages
from .baseline import run_baseline
from .measure import read_proc_io

STAGES_PACKAGE = "pktmask_nb.stages"


def warm_up(config: Config) -> None:
    """Import what the run will import, before the measurement: no ``.pyc`` read falls inside it.

    Building the stages imports their modules; a stage that is a package of its own (mask)
    imports some of its modules only when it first needs them, so those are imported here.
    Nothing else is: the peak RSS stays that of a run of these stages.
    """
    for stage in build_stages(config):
        package = type(stage).__module__.rpartition(".")[0]
        if package != STAGES_PACKAGE:
            for info in pkgutil.walk_packages(sys.modules[package].__path__, f"{package}."):
                importlib.import_module(info.name)


def run_job(job: dict, config: Config) -> dict:
    """Run `job`; the pipeline's or the baseline's own counts."""
    if job["impl"] == "baseline":
        return run_baseline(job["input"], job["output"], config)
    result = api.run(job["input"], job["output"], config, force=True)
    dedup = result.stages.get("dedup") or {}
    return {
        "packets_in": result.packets_in,
        "packets_out": result.packets_out,
        "bytes_read": result.bytes_read,
        "bytes_written": result.bytes_written,
        "peak_rss_bytes": result.peak_rss_bytes,
        "processes": result.processes,
        "dedup_index_peak_bytes": dedup.get("index_peak_bytes"),  # None without whole-file dedup
    }


def cpu_times() -> tuple[float, float]:
    """User and system seconds of this process, and of the children it has reaped."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time(), children.ru_utime + children.ru_stime


def main(argv: list[str]) -> None:
    job = json.loads(argv[0])
    config = Config(
        stages=tuple(job["stages"]),
        chunk_size=job["chunk_size"],
        anonymize=AnonymizeConfig(key=bytes.fromhex(job["key"])),
        processes=job["processes"],
    )
    warm_up(config)
    io_before, (here_before, children_before) = read_proc_io(), cpu_times()
    start = time.perf_counter()
    counted = run_job(job, config)
    seconds = time.perf_counter() - start
    (here, children), io_after = cpu_times(), read_proc_io()
    here, children = here - here_before, children - children_before
    measured = {"rchar": None, "wchar": None}
    if io_before and io_after:
        measured = {key: io_after[key] - io_before[key] for key in measured}
    report = {
        "seconds": seconds,
        "cpu_seconds": here + children,
        "cpu_seconds_children": children,  # a run in two processes: the second one's
        "counted": counted,
        "io": measured,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
