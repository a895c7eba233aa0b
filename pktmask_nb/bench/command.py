"""``pktmask-nb bench``: its options, and the command that runs the suite, writes the JSON and checks regressions.

Only the standard library and `pktmask_nb.errors` are imported at module level, so the
``pktmask-nb`` parser stays light.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from ..errors import PktmaskError, UsageError
from ..files import check_side_file, write_json

DEFAULT_SIZES = "10MB,100MB"
DEFAULT_CACHE = "~/.cache/pktmask_nb/bench"
EXIT_OK, EXIT_REGRESSION = 0, 1


def add_bench_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``pktmask-nb bench``."""
    p.add_argument(
        "--sizes", default=DEFAULT_SIZES, help="comma-separated: 1MB, 10MB, 100MB, 1GB, 10GB (default %(default)s)"
    )
    p.add_argument(
        "--runs",
        metavar="NAME,...",
        help="comma-separated, of full, dedup, anonymize, mask, passthrough, baseline, tcprewrite, editcap, cat "
        "(default: all)",
    )
    p.add_argument("--cache-dir", default=DEFAULT_CACHE, metavar="DIR", help="generated captures (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="generator seed (default %(default)s)")
    p.add_argument(
        "--mix",
        choices=("realistic", "synthetic"),
        default="realistic",
        help="the real captures of --corpus replayed (flows shifted apart, 10%% duplicates), or generated flows "
        "(default %(default)s)",
    )
    p.add_argument("--corpus", metavar="DIR", help="real captures for the realistic mix (default ../shared/captures)")
    p.add_argument("-o", "--output", metavar="RESULTS.json", help="write the results as JSON")
    p.add_argument("--baseline", metavar="SAVED.json", help="compare with a saved results JSON; exit 1 on a regression")
    p.add_argument("--repeat", type=int, default=1, metavar="N", help="measure every run N times (default %(default)s)")
    p.add_argument(
        "--pick", choices=("median", "best"), default="median", help="which of the N to report (default %(default)s)"
    )
    p.add_argument(
        "--processes",
        choices=("1", "2", "auto"),
        default="auto",
        help="processes of the streaming runs, as for run (default %(default)s)",
    )
    p.add_argument("--no-external", action="store_true", help="skip tcprewrite, editcap and cat")
    p.add_argument("--no-baseline-impl", action="store_true", help="skip the whole-file stage-by-stage baseline")
    p.add_argument("--note", help="a note stored in the JSON")


def split(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def options_from_args(args):
    """A `BenchOptions` from the parsed arguments (UsageError on a bad size, run or count)."""
    from .suite import EXTERNAL_TOOLS, RUN_NAMES, BenchOptions

    runs = split(args.runs) if args.runs else RUN_NAMES
    if args.no_external:
        runs = tuple(r for r in runs if r not in EXTERNAL_TOOLS)
    if args.no_baseline_impl:
        runs = tuple(r for r in runs if r != "baseline")
    return BenchOptions(
        sizes=split(args.sizes),
        runs=runs,
        cache_dir=Path(os.path.expanduser(args.cache_dir)),
        seed=args.seed,
        mix=args.mix,
        **({"corpus": Path(args.corpus)} if args.corpus else {}),
        repeat=args.repeat,
        pick=args.pick,
        processes=None if args.processes == "auto" else int(args.processes),
    )


def check_cache_dir(path: Path) -> None:
    """Create the capture cache directory, or refuse it (UsageError), before the long run."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot use as the capture cache: {e.strerror}", path=str(path)) from None
    if not os.access(path, os.W_OK):
        raise UsageError("cannot use as the capture cache: not writable", path=str(path))


def command_line(args) -> str:
    """The command as it was given, with every option spelled out (cache dir, note: only if given)."""
    words = ["pktmask-nb", "bench", "--sizes", ",".join(split(args.sizes))]
    if args.runs:
        words += ["--runs", ",".join(split(args.runs))]
    words += ["--seed", str(args.seed), "--mix", args.mix]
    words += ["--corpus", args.corpus] if args.corpus else []
    words += ["--repeat", str(args.repeat), "--pick", args.pick]
    words += ["--processes", args.processes]
    if args.cache_dir != DEFAULT_CACHE:
        words += ["--cache-dir", args.cache_dir]
    for flag, value in (("--no-external", args.no_external), ("--no-baseline-impl", args.no_baseline_impl)):
        words += [flag] if value else []
    for flag, value in (("-o", args.output), ("--baseline", args.baseline), ("--note", args.note)):
        words += [flag, value] if value else []
    return shlex.join(words)


def run_bench_command(args) -> int:
    """Run the suite; write the JSON; print the summary; 1 if a regression check failed, else 0."""
    from .regress import load_baseline, regression_block
    from .suite import run_suite
    from .summary import format_summary

    options = options_from_args(args)
    saved = load_baseline(args.baseline) if args.baseline else None  # a bad file fails before the long run
    if args.output:
        check_side_file(args.output, "output")
    check_cache_dir(options.cache_dir)
    try:
        result = run_suite(options)
    except OSError as e:  # a full disk while generating or writing a run's output, say
        raise PktmaskError(f"bench stopped: {e.strerror}", path=e.filename) from None
    doc = {"note": args.note, "machine": result.pop("machine"), "date": result.pop("date")}
    doc["command"] = command_line(args)
    doc.update(result)
    if saved is not None:
        doc["regression"] = regression_block(doc, saved, args.baseline)
    if args.output:
        write_json(args.output, doc)
    print(format_summary(doc), file=sys.stderr)
    if saved is None:
        return EXIT_OK
    if not doc["regression"]["checks"]:
        raise UsageError("no run to compare: none of this benchmark's runs is in the baseline", path=args.baseline)
    return EXIT_OK if doc["regression"]["ok"] else EXIT_REGRESSION
