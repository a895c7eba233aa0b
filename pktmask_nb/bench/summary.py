"""What a benchmark document says in short: derived ratios, and the table the CLI prints."""

from __future__ import annotations

BENCH_TOOL = "pktmask_nb"
# (our job, peer tool): full/tcprewrite, anonymize/tcprewrite, dedup/editcap, passthrough/cat, full/baseline
COMPARISONS = (
    ("full", "tcprewrite"),
    ("anonymize", "tcprewrite"),
    ("dedup", "editcap"),
    ("passthrough", "cat"),
    ("full", "baseline"),
)
PEER_NAMES = {"tcprewrite": "anonymize", "editcap": "dedup", "cat": "passthrough", "baseline": "full"}


def _ratio(a: float, b: float) -> float | None:
    return float(f"{a / b:.6g}") if b else None


def compare(ours: dict, peer: dict) -> dict:
    """``seconds_ratio`` (ours / peer), ``speedup`` (peer / ours) and ``peak_rss_ratio`` (ours / peer)."""
    return {
        "size_label": ours["size_label"],
        "ratio": f"{ours['name']}/{peer['tool']}",
        "ours": f"{ours['tool']}/{ours['name']}",
        "peer": f"{peer['tool']}/{peer['name']}",
        "seconds_ratio": _ratio(ours["seconds"], peer["seconds"]),
        "speedup": _ratio(peer["seconds"], ours["seconds"]),
        "peak_rss_ratio": _ratio(ours["peak_rss_bytes"], peer["peak_rss_bytes"]),
    }


def rss_growth(rows: list[dict]) -> dict | None:
    """Peak RSS at the largest size over that at the smallest, for one tool/job (None below two sizes).

    With whole-file dedup, also the same ratio apart from the dedup index
    (``peak_rss_ratio_apart_from_dedup_index``: each peak less its run's
    ``dedup_index_peak_bytes``), the figure SPEC §9's memory target is about; else None.
    The index's peak and the process's need not be at the same moment, but the index is at
    its largest in the last merge, when everything else has long been at its steady size.
    """
    rows = sorted(rows, key=lambda r: r["input_bytes"])
    small, large = rows[0], rows[-1]
    if small["size_label"] == large["size_label"]:
        return None
    indexes = small.get("dedup_index_peak_bytes"), large.get("dedup_index_peak_bytes")
    apart = None
    if None not in indexes:
        apart = _ratio(large["peak_rss_bytes"] - indexes[1], small["peak_rss_bytes"] - indexes[0])
    return {
        "run": f"{small['tool']}/{small['name']}",
        "smallest": small["size_label"],
        "largest": large["size_label"],
        "input_ratio": _ratio(large["input_bytes"], small["input_bytes"]),
        "peak_rss_ratio": _ratio(large["peak_rss_bytes"], small["peak_rss_bytes"]),
        "peak_rss_ratio_apart_from_dedup_index": apart,
    }


def derive(runs: list[dict]) -> dict:
    """The ratios SPEC §9 asks for, from the run rows.

    Returns
    -------
    dict
        ``ratios``: per size, each of `COMPARISONS` whose two runs exist (`compare`);
        ``peak_rss_growth``: per tool/job measured at two sizes or more (`rss_growth`).
    """
    by_key = {(r["tool"], r["name"], r["size_label"]): r for r in runs}
    sizes = dict.fromkeys(r["size_label"] for r in runs)
    ratios = []
    for size in sizes:
        for name, peer in COMPARISONS:
            ours, theirs = by_key.get((BENCH_TOOL, name, size)), by_key.get((peer, PEER_NAMES[peer], size))
            if ours and theirs:
                ratios.append(compare(ours, theirs))
    groups: dict[tuple, list] = {}
    for r in runs:
        groups.setdefault((r["tool"], r["name"]), []).append(r)
    growth = [g for g in map(rss_growth, groups.values()) if g]
    return {"ratios": ratios, "peak_rss_growth": growth}


def _g(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _io(done: int | None, size: int) -> str:
    return "-" if done is None or not size else f"{done / size:.3f}"


def format_runs(runs: list[dict]) -> list[str]:
    """One line per run: seconds, throughput, peak RSS, CPU, bytes read / input and written / output."""
    lines = [
        f"{'size':>6} {'run':<22} {'seconds':>8} {'MB/s':>8} {'pkt/s':>9} {'peak MB':>8} {'CPU %':>6} "
        f"{'read/in':>8} {'written/out':>11} {'procs':>5} {'CPU s 1st/2nd':>13}"
    ]
    for r in runs:
        lines.append(
            f"{r['size_label']:>6} {r['tool'] + '/' + r['name']:<22} {r['seconds']:>8.3f} {r['mb_per_second']:>8.1f} "
            f"{r['packets_per_second']:>9.0f} {r['peak_rss_bytes'] / 1e6:>8.1f} {r['cpu_percent']:>6.0f} "
            f"{_io(r['bytes_read'], r['input_bytes']):>8} {_io(r['bytes_written'], r['output_bytes']):>11} "
            f"{r.get('processes') or '-':>5} {_split_cpu(r):>13}"
        )
    return lines


def _split_cpu(run: dict) -> str:
    """CPU seconds of the reading side and of the second process, for a run in two processes."""
    second = run.get("cpu_seconds_second_process")
    return "-" if second is None else f"{run['cpu_seconds'] - second:.2f}/{second:.2f}"


def format_summary(doc: dict) -> str:
    """The human summary of a benchmark document: runs, ratios, RSS growth, skipped runs, regression."""
    lines = format_runs(doc["runs"])
    for c in doc["derived"]["ratios"]:
        lines.append(
            f"{c['size_label']:>6} {c['ratio']:<22} time ratio {_g(c['seconds_ratio'])} "
            f"(speed-up {_g(c['speedup'])}), peak RSS ratio {_g(c['peak_rss_ratio'])}"
        )
    for g in doc["derived"]["peak_rss_growth"]:
        apart = g.get("peak_rss_ratio_apart_from_dedup_index")
        lines.append(
            f"peak RSS {g['run']}: {g['largest']} / {g['smallest']} = {_g(g['peak_rss_ratio'])} "
            f"(input {_g(g['input_ratio'])}x)" + ("" if apart is None else f", apart from the dedup index {_g(apart)}")
        )
    for s in doc.get("skipped", []):
        lines.append(f"skipped {s['size_label']} {s['tool']}: {s['reason']}")
    regression = doc.get("regression")
    if regression:
        checks = regression["checks"]
        failed = [c for c in checks if not c["ok"]]
        lines.append(
            f"regression against {regression['baseline_file']}: {len(checks) - len(failed)} of {len(checks)} ok"
        )
        lines += [
            f"  REGRESSION {c['name']} {c['metric']}: {c['current']} vs {c['baseline']} (ratio {c['ratio']}, "
            f"limit {c['limit']})"
            for c in failed
        ]
        if regression["unmatched"]:
            lines.append(f"  not in the baseline (not checked): {', '.join(regression['unmatched'])}")
    return "\n".join(lines)
