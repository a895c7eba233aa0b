"""The regression check of SPEC §9: this benchmark against a saved one, run by run.

A pktmask_nb run regresses when its time is above 1.1x the saved one, its peak RSS above
1.2x, or its throughput below 0.9x. Exactly at a limit is not a regression. Runs are
compared only with the saved run of the same name on a capture of the same size label
and bytes, in as many processes; on the same capture throughput is bytes over seconds, so
its check fails together with the time's (a time above 1.1x is a throughput below 0.91x).
"""

from __future__ import annotations

import json
import os

from ..errors import UsageError

BENCH_TOOL = "pktmask_nb"
# (metric, limit, which side of the limit is worse)
REGRESSION_LIMITS = (("seconds", 1.1, "above"), ("peak_rss_bytes", 1.2, "above"), ("mb_per_second", 0.9, "below"))
LIMIT_TOLERANCE = 1e-9  # relative: a ratio that is the limit up to float rounding is at the limit


def load_baseline(path) -> dict:
    """Read a saved benchmark JSON.

    Raises
    ------
    UsageError
        The file cannot be read, is not JSON, has no list of ``runs``, or a pktmask_nb run
        of it lacks a number the check needs: so a bad file fails before the long run.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise UsageError(f"cannot read baseline: {e.strerror}", path=path) from None
    except ValueError as e:
        raise UsageError(f"baseline is not valid JSON ({e})", path=path) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise UsageError("baseline is not a benchmark JSON: no list of runs", path=path)
    for run in doc["runs"]:
        if not isinstance(run, dict):
            raise UsageError("baseline is not a benchmark JSON: a run is not an object", path=path)
        if run.get("tool") != BENCH_TOOL:
            continue
        for metric, _, _ in REGRESSION_LIMITS:
            value = run.get(metric)
            if isinstance(value, bool) or not isinstance(value, int | float):
                name = f"{run.get('name')}/{run.get('size_label')}"
                raise UsageError(f"baseline run {BENCH_TOOL}/{name} has no number for {metric}", path=path)
    return doc


def check(name: str, metric: str, current: float, baseline: float, limit: float) -> dict:
    """One check: ``current / baseline`` against `limit` (above for time and memory, below for throughput)."""
    above = dict((m, w) for m, _, w in REGRESSION_LIMITS)[metric] == "above"
    ratio = current / baseline if baseline else float("inf")
    ok = ratio <= limit * (1 + LIMIT_TOLERANCE) if above else ratio >= limit * (1 - LIMIT_TOLERANCE)
    return {
        "name": name,
        "metric": metric,
        "current": current,
        "baseline": baseline,
        "ratio": float(f"{ratio:.6g}"),
        "limit": limit,
        "ok": ok,
    }


def _key(run: dict) -> tuple:
    """What must agree for two runs to be compared: the run, its capture and its processes."""
    return run.get("tool"), run.get("name"), run.get("size_label"), run.get("input_bytes"), run.get("processes")


def compare_runs(current: list[dict], saved: list[dict]) -> tuple[list[dict], list[str]]:
    """Checks of every pktmask_nb run present in both (`_key`); and the current runs the saved file lacks.

    `saved` is checked by `load_baseline`.
    """
    by_key = {_key(r): r for r in saved}
    checks, unmatched = [], []
    for run in current:
        if run["tool"] != BENCH_TOOL:
            continue
        old = by_key.get(_key(run))
        if old is None:
            unmatched.append(f"{run['name']}/{run['size_label']}")
            continue
        name = f"{run['name']}/{run['size_label']}"
        for metric, limit, _ in REGRESSION_LIMITS:
            checks.append(check(name, metric, run[metric], old[metric], limit))
    return checks, unmatched


def regression_block(current: dict, saved: dict, baseline_file) -> dict:
    """The ``regression`` block of a benchmark JSON: ``checks`` (CHECK_FIELDS) and whether all are ``ok``."""
    checks, unmatched = compare_runs(current["runs"], saved["runs"])
    return {
        "baseline_file": os.fspath(baseline_file),
        "baseline_date": saved.get("date"),
        "baseline_machine": saved.get("machine"),
        "limits": {
            metric: f"{'<=' if worse == 'above' else '>='} {limit}x" for metric, limit, worse in REGRESSION_LIMITS
        },
        "checks": checks,
        "unmatched": unmatched,
        "ok": all(c["ok"] for c in checks),
    }
