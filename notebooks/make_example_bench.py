"""Write notebooks/example_bench.json: an EXAMPLE benchmark file for 03_benchmark_report.ipynb.

It has the schema of `pktmask-nb bench` (SPEC §9) and real measurements, but of this script,
not of the bench suite: small captures made by `pktmask_nb.bench.generate`, every run in its
own process (peak RSS measured by GNU time, so it includes the Python interpreter), a
simple whole-file stage-by-stage baseline written here, tcprewrite (``--seed``, IP
rewriting), editcap (``-D 1000``, dedup within 1000 frames) and cat when they are installed.
The regression block compares two measurements of the same run made by this script.

Usage (from the repository root)::

    .venv/bin/python notebooks/make_example_bench.py [--sizes 1MB,10MB] [-o notebooks/example_bench.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pktmask_nb.bench.generate import generate_capture

GNU_TIME = "/usr/bin/time"  # apt-get install time
SIZES = {"1MB": 10**6, "10MB": 10**7, "100MB": 10**8}
KEY = "00" * 32
STAGE_SETS = {
    "full": ["dedup", "anonymize", "mask"],
    "dedup": ["dedup"],
    "anonymize": ["anonymize"],
    "mask": ["mask"],
    "passthrough": [],
}
RUN_PKTMASK = """
import json, sys, time
import pktmask_nb
from pktmask_nb.config import AnonymizeConfig, Config
stages = tuple(json.loads(sys.argv[3]))
config = Config(stages=stages, anonymize=AnonymizeConfig(key=bytes.fromhex(sys.argv[4])))
cpu = time.process_time()
r = pktmask_nb.run(sys.argv[1], sys.argv[2], config, force=True)
cpu = time.process_time() - cpu
print(json.dumps({"seconds": r.seconds, "cpu": cpu, "packets": r.packets_in, "bytes_read": r.bytes_read,
                  "bytes_written": r.bytes_written}))
"""
RUN_BASELINE = """
import json, sys, time
from pktmask_nb.capture import CaptureWriter, open_capture
from pktmask_nb.config import AnonymizeConfig, Config
from pktmask_nb.stages import build_stages
start = time.perf_counter()
source, target, key = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[4])
for i, name in enumerate(json.loads(sys.argv[3])):          # load all -> stage -> temp file -> next stage
    with open_capture(source) as reader:
        records = [r for chunk in reader.chunks(1 << 30) for r in chunk]
    for stage in build_stages(Config(stages=(name,), anonymize=AnonymizeConfig(key=key))):
        records = stage.process(records) + stage.flush()
    step = f"{target}.{i}"
    writer = CaptureWriter(step)
    writer.write(records)
    writer.commit()
    del records
    source = step
import os
os.replace(source, target)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def machine() -> dict:
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


def measure(cmd: list[str], stdout=subprocess.PIPE) -> tuple[float, dict, str]:
    """Run `cmd` under GNU time; wall seconds, peak RSS and CPU seconds, and its standard output.

    Peak RSS comes from GNU time (``%M``): a process started straight from this one would
    inherit this interpreter's memory high-water mark in its rusage.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [GNU_TIME, "-f", "%M", "-o", rss.name, *cmd], stdout=stdout, stderr=subprocess.PIPE, text=True
        )
        out = proc.stdout.read() if stdout == subprocess.PIPE else ""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status):
            raise RuntimeError(f"{cmd[0]} failed: {proc.stderr.read()}")
        peak = int(rss.read().split()[-1]) * 1024
    return wall, {"peak_rss_bytes": peak, "cpu": usage.ru_utime + usage.ru_stime}, out


def row(tool, name, stages, label, path, out_path, packets, seconds, usage) -> dict:
    size = path.stat().st_size
    return {
        "tool": tool,
        "name": name,
        "stages": stages,
        "size_label": label,
        "input_bytes": size,
        "packets": packets,
        "seconds": round(seconds, 6),
        "peak_rss_bytes": usage["peak_rss_bytes"],
        "packets_per_second": round(packets / seconds, 1),
        "mb_per_second": round(size / 1e6 / seconds, 3),
        "bytes_read": size,
        "bytes_written": out_path.stat().st_size,
        "cpu_percent": round(100 * usage["cpu"] / seconds, 1),
        "memory_efficiency": round(size / usage["peak_rss_bytes"], 4),
    }


def pktmask_run(name, label, path, out_path) -> dict:
    stages = STAGE_SETS[name]
    cmd = [sys.executable, "-c", RUN_PKTMASK, str(path), str(out_path), json.dumps(stages), KEY]
    _, usage, out = measure(cmd)
    report = json.loads(out)
    usage["cpu"] = report["cpu"]  # of the run alone, without the interpreter's start-up
    return row("pktmask_nb", name, stages, label, path, out_path, report["packets"], report["seconds"], usage)


def peer_runs(label, path, tmp, packets) -> list[dict]:
    rows = []
    baseline = [
        sys.executable,
        "-c",
        RUN_BASELINE,
        str(path),
        str(tmp / "baseline.pcap"),
        json.dumps(STAGE_SETS["full"]),
        KEY,
    ]
    _, usage, out = measure(baseline)
    seconds = json.loads(out)["seconds"]
    rows.append(
        row("baseline", "full", STAGE_SETS["full"], label, path, tmp / "baseline.pcap", packets, seconds, usage)
    )
    peers = [
        (
            "tcprewrite",
            "anonymize",
            ["anonymize"],
            ["tcprewrite", "--seed=42", "-i", str(path), "-o", str(tmp / "tcprewrite.pcap")],
        ),
        ("editcap", "dedup", ["dedup"], ["editcap", "-D", "1000", str(path), str(tmp / "editcap.pcap")]),
    ]
    for tool, name, stages, cmd in peers:
        if shutil.which(tool):
            seconds, usage, _ = measure(cmd)
            rows.append(row(tool, name, stages, label, path, Path(cmd[-1]), packets, seconds, usage))
    with open(tmp / "cat.pcap", "w") as out:
        seconds, usage, _ = measure(["cat", str(path)], stdout=out)
    rows.append(row("cat", "passthrough", [], label, path, tmp / "cat.pcap", packets, seconds, usage))
    return rows


def regression(label, path, tmp, first: dict) -> dict:
    again = pktmask_run("full", label, path, tmp / "again.pcap")
    checks = []
    for metric, limit, worse in (
        ("seconds", 1.1, "above"),
        ("peak_rss_bytes", 1.2, "above"),
        ("mb_per_second", 0.9, "below"),
    ):
        ratio = again[metric] / first[metric]
        ok = ratio <= limit if worse == "above" else ratio >= limit
        checks.append(
            {"name": f"full/{label}", "metric": metric, "current": again[metric], "baseline": first[metric],
             "ratio": round(ratio, 4), "limit": limit, "ok": ok}
        )  # fmt: skip
    return {"baseline_file": "(an earlier run of the same measurement in make_example_bench.py)", "checks": checks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1MB,10MB", help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("-o", "--output", default=str(Path(__file__).with_name("example_bench.json")))
    args = parser.parse_args()
    labels = [s.strip() for s in args.sizes.split(",")]
    if not os.access(GNU_TIME, os.X_OK):
        sys.exit(f"{GNU_TIME} (GNU time) is needed to measure peak memory: apt-get install time")
    runs = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for label in labels:
            path = tmp / f"bench_{label}.pcap"
            generate_capture(path, SIZES[label], seed=0)
            rows = [pktmask_run(name, label, path, tmp / f"out_{name}.pcap") for name in STAGE_SETS]
            runs += rows + peer_runs(label, path, tmp, rows[0]["packets"])
            print(f"{label}: {len(runs)} runs so far", file=sys.stderr)
        checks = regression(labels[-1], path, tmp, rows[0])  # rows[0]: the full run of the largest size
    doc = {
        "note": "EXAMPLE for 03_benchmark_report.ipynb, measured by notebooks/make_example_bench.py on small "
        "generated captures; not the output of `pktmask-nb bench`.",
        "machine": machine(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": "python notebooks/make_example_bench.py --sizes " + ",".join(labels),
        "runs": runs,
        "regression": checks,
    }
    Path(args.output).write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
