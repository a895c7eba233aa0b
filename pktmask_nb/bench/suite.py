"""The benchmark suite of SPEC §9: per capture size, every run measured the same way, as one JSON document.

Per size: a cached capture (by default real captures replayed, `~.replay`; or synthetic
flows, `~.generate`); the streaming pipeline for each stage alone, all three
(``full``) and none (``passthrough``); the whole-file baseline for ``full``; and, when they are
on PATH, tcprewrite (anonymize peer), editcap (dedup peer) and cat (the I/O floor). Each run
is a child process measured by `measure`; our own runs also report what they measured from
inside (`child`).
"""

from __future__ import annotations

import datetime
import filecmp
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config import DEFAULT_CHUNK_SIZE, STAGE_ORDER
from ..errors import PktmaskError, UsageError
from .generate import MIXES, SIZE_LABELS, cached_capture
from .measure import Measurement, RunFailed, measure

PIPELINE_RUNS = {"full": STAGE_ORDER, "dedup": ("dedup",), "anonymize": ("anonymize",), "mask": ("mask",)}
PIPELINE_RUNS["passthrough"] = ()
PEER_JOBS = {"baseline": "full", "tcprewrite": "anonymize", "editcap": "dedup", "cat": "passthrough"}  # tool: job
EXTERNAL_TOOLS = ("tcprewrite", "editcap", "cat")
RUN_NAMES = (*PIPELINE_RUNS, *PEER_JOBS)
BENCH_TOOL = "pktmask_nb"
BENCH_KEY = bytes(range(32))  # a fixed Crypto-PAn key: every run and the baseline map addresses alike
TCPREWRITE_SEED, EDITCAP_WINDOW = 42, 100
PICKS = ("median", "best")
RSS_VMHWM_SUM = "vmhwm-sum"  # a run in two processes: the sum of their peaks, as RunResult reports it
BASELINE_MEMORY_FACTOR = 4  # the baseline holds the capture as records (about 3x its size at 100 MB)


@dataclass(frozen=True, kw_only=True)
class BenchOptions:
    """What `run_suite` measures.

    Parameters
    ----------
    sizes : tuple of str
        Size labels of `SIZE_LABELS`, smallest first in the output.
    runs : tuple of str
        Names of `RUN_NAMES`: pipeline jobs, ``baseline`` and the external tools.
    cache_dir : Path
        Where the generated captures are kept (and the runs' outputs, while they run).
    seed : int
        Generator seed.
    mix : {"realistic", "synthetic"}
        The real captures of `corpus` replayed, or generated flows.
    corpus : Path
        The directory of real captures for the realistic mix.
    repeat : int
        Measurements of every run; the one reported is picked by `pick`.
    pick : {"median", "best"}
        The repetition with the median (lower middle for an even count) or the lowest seconds.
    chunk_size : int
        Packets per chunk of the streaming runs.
    processes : {None, 1, 2}
        `Config.processes` of the streaming runs (None: automatic, as users get it).
    gnu_time : str or None
        GNU time's path, ``"auto"``, or None for the rusage fallback (see `measure`).
    """

    sizes: tuple[str, ...] = ("10MB", "100MB")
    runs: tuple[str, ...] = RUN_NAMES
    cache_dir: Path = Path("~/.cache/pktmask_nb/bench").expanduser()
    seed: int = 0
    mix: str = "realistic"
    corpus: Path = field(default_factory=lambda: default_corpus())
    repeat: int = 1
    pick: str = "median"
    chunk_size: int = DEFAULT_CHUNK_SIZE
    processes: int | None = None
    gnu_time: str | None = field(default="auto", repr=False)

    def __post_init__(self):
        for label in self.sizes:
            if label not in SIZE_LABELS:
                raise UsageError(f"unknown size {label!r}; sizes are {', '.join(SIZE_LABELS)}")
        for name in self.runs:
            if name not in RUN_NAMES:
                raise UsageError(f"unknown run {name!r}; runs are {', '.join(RUN_NAMES)}")
        if not self.sizes or not self.runs:
            raise UsageError("give at least one size and one run")
        if self.repeat < 1:
            raise UsageError("--repeat must be >= 1")
        if self.processes not in (None, 1, 2):
            raise UsageError(f"processes must be 1, 2 or automatic, not {self.processes!r}")
        if self.mix not in MIXES:
            raise UsageError(f"mix must be one of {', '.join(MIXES)}, not {self.mix!r}")
        if self.pick not in PICKS:
            raise UsageError(f"pick must be one of {', '.join(PICKS)}, not {self.pick!r}")


@dataclass(frozen=True)
class Capture:
    """The input of one size: its label, path, size in bytes and packet count."""

    label: str
    path: Path
    bytes: int
    packets: int


def sig(value: float, digits: int = 6) -> float:
    """`value` rounded to `digits` significant digits (ratios of rounded fields stay exact to 1e-5)."""
    return float(f"{value:.{digits}g}")


def machine() -> dict:
    """CPU model, cores, RAM, Python version and platform of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 1,
        "ram_bytes": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def default_corpus() -> Path:
    """``../shared/captures`` beside the source tree (a checkout), else beside the working directory."""
    beside_source = Path(__file__).resolve().parents[3] / "shared" / "captures"
    return beside_source if beside_source.is_dir() else Path("..", "shared", "captures")


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes, or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            line = next(line for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration):
        return None
    return int(line.split()[1]) * 1024


def prepare_capture(options: BenchOptions, label: str) -> Capture:
    """The cached capture of `label` (generated on first use) and its recorded packet count."""
    path = cached_capture(options.cache_dir, label, seed=options.seed, mix=options.mix, corpus=options.corpus)
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    return Capture(label, path, path.stat().st_size, sidecar["packets"])


def child_command(impl: str, capture: Capture, output: Path, stages, options: BenchOptions) -> list[str]:
    """The command of one of our runs: `pktmask_nb.bench.child` with its job as JSON."""
    job = {
        "impl": impl,
        "input": str(capture.path),
        "output": str(output),
        "stages": list(stages),
        "key": BENCH_KEY.hex(),
        "chunk_size": options.chunk_size,
        "processes": options.processes,
    }
    return [sys.executable, "-m", "pktmask_nb.bench.child", json.dumps(job)]


def external_command(tool: str, capture: Capture, output: Path) -> list[str]:
    """The command of a peer tool; ``cat`` writes to standard output (redirected to `output`).

    editcap writes pcapng unless told otherwise: ``-F pcap`` keeps the input's format, as we do.
    """
    source = str(capture.path)
    return {
        "tcprewrite": ["tcprewrite", f"--seed={TCPREWRITE_SEED}", "--fixcsum", "-i", source, "-o", str(output)],
        "editcap": ["editcap", "-F", "pcap", "-D", str(EDITCAP_WINDOW), source, str(output)],
        "cat": ["cat", source],
    }[tool]


MEMORY_FIELDS = (  # a row's fields that come from its repetition picked by peak RSS
    "peak_rss_bytes",
    "memory_efficiency",
    "rss_source",
    "counted_peak_rss_bytes",
    "process_peak_rss_bytes",
    "dedup_index_peak_bytes",
)


def pick_one(rows: list[dict], pick: str) -> dict:
    """The repetitions as one row: the median (or best) by seconds, with its memory fields
    (MEMORY_FIELDS) from the median (or best) by peak RSS, picked on their own; every
    repetition's seconds and peak RSS in ``seconds_all`` and ``peak_rss_bytes_all``."""

    def chosen(metric: str) -> dict:
        ranked = sorted(rows, key=lambda r: r[metric])
        return ranked[0] if pick == "best" else ranked[(len(ranked) - 1) // 2]

    by_memory = chosen("peak_rss_bytes")
    return {
        **chosen("seconds"),
        **{field: by_memory[field] for field in MEMORY_FIELDS},
        "repeat": len(rows),
        "pick": pick,
        "seconds_all": [r["seconds"] for r in rows],
        "peak_rss_bytes_all": [r["peak_rss_bytes"] for r in rows],
    }


def make_row(head: dict, capture: Capture, m: Measurement, inside: dict | None, output: Path) -> dict:
    """One run as a JSON row: `head` (tool, name, stages), the capture, the measurement.

    `inside` is what our child measured around the run itself (None for external tools,
    whose whole process is the run).
    """
    if inside is None:
        seconds, cpu, io, counted, scope = m.seconds, m.cpu_seconds, {"rchar": m.rchar, "wchar": m.wchar}, {}, "process"
    else:
        seconds, cpu, io, counted, scope = (
            inside["seconds"],
            inside["cpu_seconds"],
            inside["io"],
            inside["counted"],
            "run",
        )
    seconds = sig(seconds)
    peak, rss_source = m.peak_rss_bytes, m.rss_source
    if counted.get("processes", 1) > 1:  # from outside: the larger process only; the pipeline sums both
        peak, rss_source = counted["peak_rss_bytes"], RSS_VMHWM_SUM
    return {
        **head,
        "size_label": capture.label,
        "input_bytes": capture.bytes,
        "packets": capture.packets,
        "seconds": seconds,
        "peak_rss_bytes": peak,
        "packets_per_second": sig(capture.packets / seconds),
        "mb_per_second": sig(capture.bytes / 1e6 / seconds),
        "bytes_read": io["rchar"],
        "bytes_written": io["wchar"],
        "cpu_percent": sig(100 * cpu / seconds),
        "memory_efficiency": sig(capture.bytes / peak),
        "output_bytes": output.stat().st_size,
        "packets_out": counted.get("packets_out"),
        "cpu_seconds": sig(cpu),
        "cpu_seconds_second_process": sig(inside["cpu_seconds_children"]) if counted.get("processes", 1) > 1 else None,
        "io_scope": scope,
        "counted_bytes_read": counted.get("bytes_read"),
        "counted_bytes_written": counted.get("bytes_written"),
        "counted_peak_rss_bytes": counted.get("peak_rss_bytes"),
        "dedup_index_peak_bytes": counted.get("dedup_index_peak_bytes"),
        "process_seconds": sig(m.seconds),
        "process_bytes_read": m.rchar,
        "process_bytes_written": m.wchar,
        "rss_source": rss_source,
        "process_peak_rss_bytes": m.peak_rss_bytes,
        "processes": counted.get("processes"),
    }


def output_path(work: Path, tool: str, name: str) -> Path:
    return work / f"{tool}-{name}.pcap"


def measure_ours(options: BenchOptions, tool: str, name: str, capture: Capture, work: Path) -> dict:
    """A run of the pipeline (tool ``pktmask_nb``) or of the baseline, repeated; output left in `work`.

    Raises
    ------
    PktmaskError
        The run failed (its standard error's end in the message).
    """
    stages = PIPELINE_RUNS[name]
    output = output_path(work, tool, name)
    impl = "baseline" if tool == "baseline" else "pipeline"
    cmd = child_command(impl, capture, output, stages, options)
    rows = []
    for _ in range(options.repeat):
        try:
            m = measure(cmd, work, gnu_time=options.gnu_time)
        except RunFailed as e:
            raise PktmaskError(f"bench run {tool}/{name} failed: {e}", path=str(capture.path)) from None
        head = {"tool": tool, "name": name, "stages": list(stages)}
        rows.append(make_row(head, capture, m, json.loads(m.stdout), output))
    return pick_one(rows, options.pick)


def measure_external(options: BenchOptions, tool: str, capture: Capture, work: Path) -> dict:
    """A run of tcprewrite, editcap or cat, repeated; output removed."""
    output = work / f"{tool}.pcap"
    cmd = external_command(tool, capture, output)
    stdout_path = output if tool == "cat" else None
    rows = []
    for _ in range(options.repeat):
        m = measure(cmd, work, stdout_path=stdout_path, gnu_time=options.gnu_time)
        head = {"tool": tool, "name": PEER_JOBS[tool], "stages": list(PIPELINE_RUNS[PEER_JOBS[tool]])}
        rows.append(make_row(head, capture, m, None, output))
    output.unlink()
    return pick_one(rows, options.pick)


def baseline_obstacle(capture: Capture) -> str | None:
    """Why the whole-file baseline should not run on `capture` (too little memory), or None."""
    free = available_memory()
    if free is not None and capture.bytes * BASELINE_MEMORY_FACTOR > free:
        return f"needs about {BASELINE_MEMORY_FACTOR}x the capture in memory; MemAvailable is {free // 10**6} MB"
    return None


def run_size(options: BenchOptions, capture: Capture, log: Callable[[str], None]) -> tuple[list, list]:
    """Every selected run on one capture; returns ``(rows, skipped)``."""
    rows, skipped = [], []
    obstacle = baseline_obstacle(capture) if "baseline" in options.runs else None
    compare = "baseline" in options.runs and obstacle is None  # keep the full run's output for the baseline's
    with tempfile.TemporaryDirectory(dir=options.cache_dir, prefix="run-") as tmp:
        work = Path(tmp)
        for name in PIPELINE_RUNS:
            if name in options.runs:
                rows.append(log_row(log, measure_ours(options, BENCH_TOOL, name, capture, work)))
                if not (name == "full" and compare):
                    output_path(work, BENCH_TOOL, name).unlink()
        if obstacle:
            skipped.append(log_skip(log, "baseline", capture, obstacle))
        elif compare:
            row = measure_ours(options, "baseline", "full", capture, work)
            rows.append(log_row(log, {**row, "output_matches_pipeline": same_output(work)}))
            for tool in (BENCH_TOOL, "baseline"):
                output_path(work, tool, "full").unlink(missing_ok=True)
        for tool in EXTERNAL_TOOLS:
            if tool not in options.runs:
                continue
            if shutil.which(tool) is None:
                skipped.append(log_skip(log, tool, capture, "not on PATH"))
                continue
            try:
                rows.append(log_row(log, measure_external(options, tool, capture, work)))
            except RunFailed as e:
                skipped.append(log_skip(log, tool, capture, str(e)))
    return rows, skipped


def same_output(work: Path) -> bool | None:
    """Whether the baseline wrote the same bytes as the streaming ``full`` run (None: no such run)."""
    ours = output_path(work, BENCH_TOOL, "full")
    if not ours.exists():
        return None
    return filecmp.cmp(ours, output_path(work, "baseline", "full"), shallow=False)


def log_row(log: Callable[[str], None], row: dict) -> dict:
    log(
        f"{row['size_label']} {row['tool']}/{row['name']}: {row['seconds']:.3f} s, {row['mb_per_second']:.1f} MB/s, "
        f"peak RSS {row['peak_rss_bytes'] / 1e6:.0f} MB"
    )
    return row


def log_skip(log: Callable[[str], None], tool: str, capture: Capture, reason: str) -> dict:
    log(f"{capture.label} {tool}: skipped ({reason})")
    return {"tool": tool, "size_label": capture.label, "reason": reason}


DEFINITIONS = {
    "seconds": "pktmask_nb and baseline: the run itself, timed inside the child process (no interpreter start-up); "
    "external tools: the whole process",
    "bytes_read, bytes_written": "rchar/wchar of /proc io: pktmask_nb and baseline: deltas of /proc/self/io around "
    "the run inside the child; external tools: /proc/<pid>/io of the whole process",
    "process_*": "the whole child process seen from outside (interpreter start-up and imports included)",
    "counted_*": "the pipeline's (or baseline's) own counters (peak RSS: RunResult.peak_rss_bytes)",
    "peak_rss_bytes": "the whole child process (interpreter included), see rss_source; a run in two processes "
    "(processes: 2): the sum of both peaks (rss_source vmhwm-sum), process_peak_rss_bytes the larger one",
    "processes": "pktmask_nb runs: 1, or 2 when the pipeline ran its last stage and the writer in a second process; "
    "then bytes_read and bytes_written also count the hand-off between the two (the pipe, and the packet data "
    "written into the memory they share) and the second interpreter's start-up",
    "cpu_percent": "100 * cpu_seconds / seconds, over the same span as seconds",
    "cpu_seconds_second_process": "a run in two processes: the part of cpu_seconds spent in the second process "
    "(the last stage and the writer, its interpreter's start-up and imports included: ~0.3 s); the rest is the "
    "reading side's. The run is as fast as the busier of the two",
    "memory_efficiency": "input_bytes / peak_rss_bytes",
    "seconds_all, peak_rss_bytes_all": "every repetition's; with --repeat N the row is the median (or best, --pick) "
    "repetition by seconds, and its memory fields (peak RSS, its source and the figures made from it) those of the "
    "median (or best) repetition by peak RSS",
    "dedup_index_peak_bytes": "runs with whole-file dedup: the most its digest index held at once (it grows with "
    "the unique frames, 16-20 bytes each; a merge briefly holds the old run and the new one); SPEC §9's memory "
    "target leaves it out (see derived.peak_rss_growth)",
}


def run_suite(options: BenchOptions, log: Callable[[str], None] | None = None) -> dict:
    """Measure every selected run on every selected size.

    Returns
    -------
    dict
        ``machine``, ``date``, ``settings``, ``definitions``, ``runs`` (one row per tool,
        job and size), ``skipped`` (runs that could not be made, with the reason) and
        ``derived`` (see `pktmask_nb.bench.summary.derive`). The CLI adds ``command``,
        ``note`` and ``regression``.
    """
    from .summary import derive

    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    date = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    runs, skipped = [], []
    for label in sorted(options.sizes, key=SIZE_LABELS.__getitem__):
        capture = prepare_capture(options, label)
        log(f"{label}: {capture.path} ({capture.bytes} bytes, {capture.packets} packets)")
        rows, missed = run_size(options, capture, log)
        runs += rows
        skipped += missed
    settings = {
        "sizes": sorted(options.sizes, key=SIZE_LABELS.__getitem__),
        "seed": options.seed,
        "mix": options.mix,
        "corpus": str(options.corpus) if options.mix == "realistic" else None,
        "anonymize_key": BENCH_KEY.hex(),
        "chunk_size": options.chunk_size,
        "processes": "auto" if options.processes is None else options.processes,
        "repeat": options.repeat,
        "pick": options.pick,
        "cache_dir": str(options.cache_dir),
        "tcprewrite": f"--seed={TCPREWRITE_SEED} --fixcsum",
        "editcap": f"-F pcap -D {EDITCAP_WINDOW}",
    }
    return {
        "machine": machine(),
        "date": date,
        "settings": settings,
        "definitions": DEFINITIONS,
        "runs": runs,
        "skipped": skipped,
        "derived": derive(runs),
    }
