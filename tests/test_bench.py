"""The benchmark suite (SPEC §9): what it measures, the baseline implementation, the regression check, the CLI.

Small captures and no timing assertions: speed belongs in benchmarks, not in tests.
"""

from __future__ import annotations

import copy
import filecmp
import json
import shutil
import subprocess
import sys

import pytest

import pktmask_nb
from pktmask_nb.bench import regress
from pktmask_nb.bench.baseline import run_baseline
from pktmask_nb.bench.generate import generate_capture
from pktmask_nb.bench.measure import RSS_GNU_TIME, RSS_RUSAGE, RunFailed, find_gnu_time, measure
from pktmask_nb.bench.suite import RUN_NAMES, BenchOptions, run_suite
from pktmask_nb.bench.summary import derive, format_runs, format_summary
from pktmask_nb.cli import main
from pktmask_nb.config import AnonymizeConfig, Config

# the report's schema (pktmask_nb.notebook.report, which needs pandas; compared below when it is there)
RUN_FIELDS = (
    "tool", "name", "stages", "size_label", "input_bytes", "packets", "seconds", "peak_rss_bytes",
    "packets_per_second", "mb_per_second", "bytes_read", "bytes_written", "cpu_percent", "memory_efficiency",
)  # fmt: skip
CHECK_FIELDS = ("name", "metric", "current", "baseline", "ratio", "limit", "ok")
KEY = bytes(range(32))
STARTUP_READ = 64 << 10  # an external tool's own start-up reads (shared libraries, locale) counted in rchar
PROC_IO_READ = 16 << 10  # a run measured from inside also reads /proc files (self/io, self/status, statm)
TOOL_WRITE = 1 << 10  # what a tool says about itself (editcap's summary), GNU time's peak RSS line


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    """One suite run of every run on the 1MB capture; its document and capture counts."""
    cache = tmp_path_factory.mktemp("bench-cache")
    doc = run_suite(BenchOptions(sizes=("1MB",), cache_dir=cache, mix="synthetic"), log=lambda line: None)
    sidecar = json.loads((cache / "synthetic-1MB-seed0.pcap.json").read_text())
    return doc, sidecar


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A 300 kB generated pcap and pcapng."""
    folder = tmp_path_factory.mktemp("bench-small")
    for fmt in ("pcap", "pcapng"):
        generate_capture(folder / f"small.{fmt}", 300_000, seed=5, fmt=fmt)
    return folder


def rows_of(doc, **match):
    return [r for r in doc["runs"] if all(r[k] == v for k, v in match.items())]


# ---------------------------------------------------------------- what a run measures


def test_every_run_has_the_report_schema_and_consistent_fields(suite):
    doc, capture = suite
    assert {"pktmask_nb", "baseline"} <= {r["tool"] for r in doc["runs"]}
    for run in doc["runs"]:
        assert set(RUN_FIELDS) <= set(run), run
        assert run["input_bytes"] == capture["bytes"] and run["packets"] == capture["packets"]
        assert run["mb_per_second"] == pytest.approx(run["input_bytes"] / 1e6 / run["seconds"], rel=1e-5)
        assert run["packets_per_second"] == pytest.approx(run["packets"] / run["seconds"], rel=1e-5)
        assert run["memory_efficiency"] == pytest.approx(run["input_bytes"] / run["peak_rss_bytes"], rel=1e-5)
        assert run["cpu_percent"] == pytest.approx(100 * run["cpu_seconds"] / run["seconds"], rel=1e-4)
        assert run["peak_rss_bytes"] > 0 and run["seconds"] > 0 and run["seconds_all"] == [run["seconds"]]
        assert run["peak_rss_bytes_all"] == [run["peak_rss_bytes"]]
        assert run["rss_source"] in (RSS_GNU_TIME, RSS_RUSAGE)
    pipeline = {r["name"]: r for r in rows_of(doc, tool="pktmask_nb")}
    assert set(pipeline) == {"full", "dedup", "anonymize", "mask", "passthrough"}
    assert pipeline["passthrough"]["stages"] == [] and pipeline["full"]["stages"] == ["dedup", "anonymize", "mask"]
    assert pipeline["dedup"]["packets_out"] == capture["packets"] - capture["duplicates"]
    assert pipeline["passthrough"]["output_bytes"] == capture["bytes"]
    assert {r["processes"] for r in pipeline.values()} == {1}  # automatic: one process below 32 MiB
    assert {r["cpu_seconds_second_process"] for r in doc["runs"]} == {None}
    # the dedup index, which the memory target leaves out: in the runs with whole-file dedup only
    assert pipeline["full"]["dedup_index_peak_bytes"] == pipeline["dedup"]["dedup_index_peak_bytes"] >= 4 << 20
    assert {r["dedup_index_peak_bytes"] for r in doc["runs"] if r["name"] not in ("full", "dedup")} == {None}


def test_a_run_in_two_processes_reports_the_sum_of_their_peaks_and_each_ones_cpu(tmp_path):
    options = BenchOptions(sizes=("1MB",), runs=("full",), cache_dir=tmp_path, processes=2, mix="synthetic")
    (run,) = run_suite(options, log=lambda line: None)["runs"]
    assert run["processes"] == 2 and run["rss_source"] == "vmhwm-sum"
    # seen from outside, the peak is that of the larger process; the pipeline adds both
    assert run["peak_rss_bytes"] == run["counted_peak_rss_bytes"] > run["process_peak_rss_bytes"]
    # rchar also counts the pipe between the two processes and the second interpreter's start-up
    assert run["counted_bytes_read"] == run["input_bytes"] < run["bytes_read"]
    # each side's CPU time: the second process ran mask and the writer, the first the rest
    assert 0 < run["cpu_seconds_second_process"] < run["cpu_seconds"]
    assert run["dedup_index_peak_bytes"] >= 4 << 20  # dedup ran on the reading side, its statistics came back
    first, second = run["cpu_seconds"] - run["cpu_seconds_second_process"], run["cpu_seconds_second_process"]
    assert format_runs([run])[1].endswith(f"{first:.2f}/{second:.2f}")


def test_our_runs_read_the_input_once_and_write_the_output_once(suite):
    """Measured by the kernel (rchar/wchar around the run), not by the pipeline's counters."""
    doc, _ = suite
    for run in rows_of(doc, tool="pktmask_nb"):
        assert run["io_scope"] == "run"
        assert 0 <= run["bytes_read"] - run["input_bytes"] <= PROC_IO_READ, run
        assert run["bytes_written"] == run["output_bytes"], run
        assert (run["counted_bytes_read"], run["counted_bytes_written"]) == (run["input_bytes"], run["output_bytes"])
        # the whole process also read the interpreter's and the package's files; it wrote its JSON line
        assert run["process_bytes_read"] > run["bytes_read"] and run["process_bytes_written"] >= run["bytes_written"]


def test_the_baseline_reads_and_writes_every_intermediate_file(suite):
    doc, _ = suite
    (run,) = rows_of(doc, tool="baseline")
    assert run["output_matches_pipeline"] is True
    assert 0 <= run["bytes_read"] - run["counted_bytes_read"] <= PROC_IO_READ
    assert run["bytes_written"] == run["counted_bytes_written"]
    # dedup, anonymize, mask, scrub: four files written, the input and three of them read
    assert run["bytes_read"] > 3 * run["input_bytes"] and run["bytes_written"] > 3 * run["output_bytes"]


def test_external_tools_are_measured_as_whole_processes(suite):
    doc, _ = suite
    external = [r for r in doc["runs"] if r["tool"] in ("tcprewrite", "editcap", "cat")]
    if not external:
        pytest.skip("none of tcprewrite, editcap, cat on PATH")
    for run in external:
        assert run["io_scope"] == "process" and run["counted_bytes_read"] is None
        assert 0 <= run["bytes_read"] - run["input_bytes"] <= STARTUP_READ, run
        assert 0 <= run["bytes_written"] - run["output_bytes"] <= TOOL_WRITE, run


def test_derived_ratios_come_from_the_rows(suite):
    doc, _ = suite
    by = {(r["tool"], r["name"]): r for r in doc["runs"]}
    ratios = {c["ratio"]: c for c in doc["derived"]["ratios"]}
    assert "full/baseline" in ratios
    for c in ratios.values():
        ours, peer = by[tuple(c["ours"].split("/"))], by[tuple(c["peer"].split("/"))]
        assert c["speedup"] == pytest.approx(peer["seconds"] / ours["seconds"], rel=1e-5)
        assert c["seconds_ratio"] == pytest.approx(ours["seconds"] / peer["seconds"], rel=1e-5)
        assert c["peak_rss_ratio"] == pytest.approx(ours["peak_rss_bytes"] / peer["peak_rss_bytes"], rel=1e-5)
    assert doc["derived"]["peak_rss_growth"] == []  # one size only
    assert "full/baseline" in format_summary(doc)


def test_peak_rss_growth_is_largest_over_smallest_size():
    rows = [
        {"tool": "pktmask_nb", "name": "full", "size_label": label, "input_bytes": size, "peak_rss_bytes": rss}
        for label, size, rss in (("100MB", 10**8, 60), ("1MB", 10**6, 40), ("10MB", 10**7, 50))
    ]
    (growth,) = derive(rows)["peak_rss_growth"]
    assert growth == {
        "run": "pktmask_nb/full",
        "smallest": "1MB",
        "largest": "100MB",
        "input_ratio": 100.0,
        "peak_rss_ratio": 1.5,
        "peak_rss_ratio_apart_from_dedup_index": None,  # no dedup_index_peak_bytes in these rows
    }


def test_peak_rss_growth_apart_from_the_dedup_index_takes_each_runs_index_off_its_peak():
    rows = [
        {"tool": "pktmask_nb", "name": "full", "size_label": label, "input_bytes": size, "peak_rss_bytes": rss}
        | ({} if index is False else {"dedup_index_peak_bytes": index})
        for label, size, rss, index in (("1MB", 10**6, 40, 4), ("1GB", 10**9, 70, 34))
    ]
    (growth,) = derive(rows)["peak_rss_growth"]
    assert growth["peak_rss_ratio"] == 1.75 and growth["peak_rss_ratio_apart_from_dedup_index"] == 1.0
    line = format_summary({"runs": [], "derived": {"ratios": [], "peak_rss_growth": [growth]}})
    assert line.endswith("= 1.75 (input 1e+03x), apart from the dedup index 1")
    rows[1]["dedup_index_peak_bytes"] = None  # a run without whole-file dedup at one size: no such ratio
    assert derive(rows)["peak_rss_growth"][0]["peak_rss_ratio_apart_from_dedup_index"] is None


def test_measure_without_gnu_time_uses_a_fresh_intermediate(tmp_path, small):
    """A command started from this (now large) process would inherit its memory high-water mark."""
    source = small / "small.pcap"
    ballast = bytearray(300 << 20)  # noqa: F841 (held while measuring: the high-water mark a child would inherit)
    ballast[:: 1 << 12] = b"\x01" * len(range(0, 300 << 20, 1 << 12))  # touched: resident
    m = measure(["cat", str(source)], tmp_path, stdout_path=tmp_path / "copy.pcap", gnu_time=None)
    assert m.rss_source == RSS_RUSAGE and 0 < m.peak_rss_bytes < 50 << 20 and m.stdout == ""
    assert filecmp.cmp(source, tmp_path / "copy.pcap", shallow=False)
    assert source.stat().st_size <= m.rchar and m.wchar >= source.stat().st_size
    with pytest.raises(RunFailed, match="status 1"):
        measure([sys.executable, "-c", "import sys; sys.exit(1)"], tmp_path, gnu_time=None)


def test_measure_with_gnu_time(tmp_path):
    if find_gnu_time() is None:
        pytest.skip("GNU time not installed")
    m = measure([sys.executable, "-c", "print('hello')"], tmp_path)
    assert m.rss_source == RSS_GNU_TIME and m.stdout == "hello\n" and m.peak_rss_bytes > 1 << 20
    with pytest.raises(RunFailed, match="status 3: boom"):
        measure([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"], tmp_path)


# ---------------------------------------------------------------- the baseline implementation


@pytest.mark.parametrize(
    ("fmt", "stages"),
    [
        ("pcap", ("dedup", "anonymize", "mask")),
        ("pcap", ("mask",)),
        ("pcap", ()),
        ("pcapng", ("dedup", "anonymize", "mask")),
    ],
)
def test_baseline_writes_the_same_bytes_as_the_streaming_pipeline(tmp_path, small, fmt, stages):
    config = Config(stages=stages, chunk_size=512, anonymize=AnonymizeConfig(key=KEY))
    source = small / f"small.{fmt}"
    streamed = pktmask_nb.run(source, tmp_path / f"streamed.{fmt}", config)
    counts = run_baseline(source, tmp_path / f"baseline.{fmt}", config)
    assert filecmp.cmp(tmp_path / f"streamed.{fmt}", tmp_path / f"baseline.{fmt}", shallow=False)
    assert (counts["packets_in"], counts["packets_out"]) == (streamed.packets_in, streamed.packets_out)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"baseline.{fmt}", f"streamed.{fmt}"]  # no stage file left


# ---------------------------------------------------------------- the regression check


def bench_doc(seconds: float, peak_rss: int, mb_per_second: float) -> dict:
    run = {"tool": "pktmask_nb", "name": "full", "size_label": "10MB", "seconds": seconds}
    return {"runs": [{**run, "peak_rss_bytes": peak_rss, "mb_per_second": mb_per_second}]}


SAVED = bench_doc(16.83, 100_000_000, 0.01)


def failed(current: dict) -> set[str]:
    block = regress.regression_block(current, SAVED, "saved.json")
    assert all(set(CHECK_FIELDS) <= set(c) for c in block["checks"]) and len(block["checks"]) == 3
    assert block["ok"] == all(c["ok"] for c in block["checks"])
    return {c["metric"] for c in block["checks"] if not c["ok"]}


def test_each_threshold_triggers():
    """On the same capture throughput is bytes over seconds: it fails with the time, and
    alone only in a document where the two disagree."""
    assert failed(bench_doc(18.52, 100_000_000, 0.01 * 16.83 / 18.52)) == {"seconds"}  # 1.1004x, 0.909x
    assert failed(bench_doc(18.71, 100_000_000, 0.01 * 16.83 / 18.71)) == {"seconds", "mb_per_second"}  # 0.8995x
    assert failed(bench_doc(16.83, 120_000_001, 0.01)) == {"peak_rss_bytes"}
    assert failed(bench_doc(16.83, 100_000_000, 0.00899)) == {"mb_per_second"}
    assert failed(bench_doc(20.0, 200_000_000, 0.005)) == {"seconds", "peak_rss_bytes", "mb_per_second"}


def test_exactly_at_the_limit_is_not_a_regression():
    assert 18.513 / 16.83 > 1.1 and 0.009 / 0.01 < 0.9  # float rounding puts these just past the limits
    assert failed(bench_doc(18.513, 120_000_000, 0.009)) == set()
    assert failed(bench_doc(1.0, 50_000_000, 1.0)) == set()  # better is fine


def test_runs_missing_from_the_saved_file_are_listed_not_checked():
    current = copy.deepcopy(SAVED)
    current["runs"].append({**SAVED["runs"][0], "size_label": "1GB"})
    current["runs"].append({**SAVED["runs"][0], "tool": "editcap"})  # peers are not our regressions
    current["runs"].append({**SAVED["runs"][0], "input_bytes": 123})  # another capture of the same label
    current["runs"].append({**SAVED["runs"][0], "processes": 2})  # two processes' peaks summed
    block = regress.regression_block(current, SAVED, "saved.json")
    assert block["unmatched"] == ["full/1GB", "full/10MB", "full/10MB"] and len(block["checks"]) == 3 and block["ok"]
    summary = format_summary({"runs": [], "derived": {"ratios": [], "peak_rss_growth": []}, "regression": block})
    assert "not in the baseline (not checked): full/1GB, full/10MB, full/10MB" in summary


def test_repetitions_picked_by_time_and_by_memory_on_their_own():
    from pktmask_nb.bench.suite import MEMORY_FIELDS, pick_one

    rows = [
        {"seconds": s, "peak_rss_bytes": m, "memory_efficiency": 1e9 / m, "rss_source": "gnu-time", "mark": s}
        | dict.fromkeys(MEMORY_FIELDS[3:], m)
        for s, m in ((3.0, 50), (1.0, 90), (2.0, 70), (4.0, 60))
    ]
    median, best = pick_one(rows, "median"), pick_one(rows, "best")
    assert (median["seconds"], median["mark"], median["peak_rss_bytes"]) == (2.0, 2.0, 60)
    assert median["memory_efficiency"] == 1e9 / 60 and median["process_peak_rss_bytes"] == 60
    assert (best["seconds"], best["peak_rss_bytes"], best["dedup_index_peak_bytes"]) == (1.0, 50, 50)
    assert median["seconds_all"] == [3.0, 1.0, 2.0, 4.0] and median["peak_rss_bytes_all"] == [50, 90, 70, 60]
    assert median["repeat"] == 4 and median["pick"] == "median"


def test_a_run_output_is_kept_only_for_the_baseline_to_compare(tmp_path, monkeypatch):
    """At 10 GB every output kept is 10 GB of disk: the full run's waits only for the baseline."""
    from pktmask_nb.bench import suite as suite_module

    seen, measure_ours = [], suite_module.measure_ours

    def watched(options, tool, name, capture, work):
        seen.append((tool, name, sorted(p.name for p in work.glob("*.pcap"))))  # outputs, not measure()'s files
        return measure_ours(options, tool, name, capture, work)

    monkeypatch.setattr(suite_module, "measure_ours", watched)
    for runs in (("full", "mask"), ("full", "mask", "baseline")):
        seen.clear()
        options = BenchOptions(sizes=("1MB",), runs=runs, cache_dir=tmp_path, mix="synthetic")
        doc = run_suite(options, log=lambda line: None)
        kept = [files for tool, name, files in seen if (tool, name) != ("pktmask_nb", "full")]
        full = ["pktmask_nb-full.pcap"] if "baseline" in runs else []
        assert kept == [full] * len(kept) and len(kept) == len(runs) - 1
    assert rows_of(doc, tool="baseline")[0]["output_matches_pipeline"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["synthetic-1MB-seed0.pcap", "synthetic-1MB-seed0.pcap.json"]


# ---------------------------------------------------------------- the command line

QUICK = ["bench", "--sizes", "1MB", "--runs", "passthrough", "--no-baseline-impl", "--mix", "synthetic"]


def run_cli(args: list[str]) -> int:
    """`main`'s exit code, also when argparse exits."""
    try:
        return main(args)
    except SystemExit as e:
        return e.code


def bench_cli(tmp_path, *args) -> int:
    return run_cli([*QUICK, "--cache-dir", str(tmp_path / "cache"), *args])


def test_cli_writes_the_json_and_exits_1_on_a_regression(tmp_path, capsys):
    first = tmp_path / "first.json"
    assert bench_cli(tmp_path, "-o", str(first)) == 0
    doc = json.loads(first.read_text())
    assert doc["command"].startswith("pktmask-nb bench --sizes 1MB --runs passthrough") and "regression" not in doc
    ((run,),) = [doc["runs"]]
    assert (run["tool"], run["name"]) == ("pktmask_nb", "passthrough")
    assert "pktmask_nb/passthrough" in capsys.readouterr().err

    slow, fast = copy.deepcopy(doc), copy.deepcopy(doc)
    slow["runs"][0].update(seconds=1e6, peak_rss_bytes=1 << 50, mb_per_second=1e-6)
    fast["runs"][0].update(seconds=1e-6, peak_rss_bytes=1, mb_per_second=1e12)
    (tmp_path / "slow.json").write_text(json.dumps(slow))
    (tmp_path / "fast.json").write_text(json.dumps(fast))
    assert bench_cli(tmp_path, "--baseline", str(tmp_path / "slow.json"), "-o", str(tmp_path / "ok.json")) == 0
    assert json.loads((tmp_path / "ok.json").read_text())["regression"]["ok"] is True
    assert bench_cli(tmp_path, "--baseline", str(tmp_path / "fast.json"), "-o", str(tmp_path / "bad.json")) == 1
    block = json.loads((tmp_path / "bad.json").read_text())["regression"]
    assert not block["ok"] and {c["metric"] for c in block["checks"] if not c["ok"]} == {
        "seconds",
        "peak_rss_bytes",
        "mb_per_second",
    }
    assert "REGRESSION passthrough/1MB" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sizes", "5MB"], "unknown size '5MB'"),
        (["--runs", "full,fastest"], "unknown run 'fastest'"),
        (["--repeat", "0"], "--repeat must be >= 1"),
        (["--baseline", "{dir}/missing.json"], "cannot read baseline"),
        (["--baseline", "{dir}/bad.json"], "baseline is not valid JSON"),
        (["--baseline", "{dir}/list.json"], "no list of runs"),
        (["--baseline", "{dir}/runs-of-ints.json"], "a run is not an object"),
        (["--baseline", "{dir}/no-seconds.json"], "baseline run pktmask_nb/full/1MB has no number for seconds"),
        (["--baseline", "{dir}/true-seconds.json"], "has no number for seconds"),
        (["-o", "{dir}/nowhere/out.json"], "output directory does not exist"),
        (["-o", "{dir}"], "output is a directory"),
        (["-o", "{dir}/new/"], "output is a directory"),
        (["--cache-dir", "{dir}/bad.json/sub"], "cannot use as the capture cache"),
        (["--pick", "worst"], "invalid choice"),
    ],
    ids=[
        "size",
        "run",
        "repeat",
        "missing-baseline",
        "bad-json",
        "not-bench-json",
        "baseline-run-not-object",
        "baseline-run-without-seconds",
        "baseline-seconds-true",
        "output-dir",
        "output-is-dir",
        "output-slash",
        "cache-dir-under-a-file",
        "pick",
    ],
)
def test_user_mistakes_are_one_line_errors_with_exit_2(tmp_path, capsys, args, message):
    """Each refused before the run: no capture generated, no traceback."""
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "runs-of-ints.json").write_text('{"runs": [1]}')
    run = {"tool": "pktmask_nb", "name": "full", "size_label": "1MB", "peak_rss_bytes": 1, "mb_per_second": 1}
    (tmp_path / "no-seconds.json").write_text(json.dumps({"runs": [{"tool": "cat"}, run]}))
    (tmp_path / "true-seconds.json").write_text(json.dumps({"runs": [{**run, "seconds": True}]}))
    args = [a.format(dir=tmp_path) for a in args]
    code = run_cli(["bench", "--cache-dir", str(tmp_path / "cache"), *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("pktmask-nb") and message in err, err
    assert not (tmp_path / "cache").exists()  # refused before generating anything


def test_a_baseline_with_no_matching_run_is_an_error_after_the_results_are_written(tmp_path, capsys):
    first = tmp_path / "first.json"
    assert bench_cli(tmp_path, "-o", str(first)) == 0
    other = json.loads(first.read_text())
    other["runs"][0]["size_label"] = "1GB"
    (tmp_path / "other.json").write_text(json.dumps(other))
    capsys.readouterr()
    assert bench_cli(tmp_path, "--baseline", str(tmp_path / "other.json"), "-o", str(tmp_path / "new.json")) == 2
    err = capsys.readouterr().err
    assert "not in the baseline (not checked): passthrough/1MB" in err
    assert err.splitlines()[-1].endswith("no run to compare: none of this benchmark's runs is in the baseline")
    assert json.loads((tmp_path / "new.json").read_text())["regression"]["checks"] == []


def test_every_run_name_is_accepted_and_documented(tmp_path):
    from pktmask_nb.bench.command import options_from_args
    from pktmask_nb.cli import build_parser

    parser = build_parser()
    bench = parser._subparsers._group_actions[0].choices["bench"]
    (runs_option,) = [a for a in bench._actions if "--runs" in a.option_strings]
    assert all(name in runs_option.help for name in RUN_NAMES)
    for name in RUN_NAMES:
        assert options_from_args(parser.parse_args(["bench", "--runs", name])).runs == (name,)


def test_report_reads_the_suite_output(suite, tmp_path):
    report = pytest.importorskip("pktmask_nb.notebook.report")
    assert report.RUN_FIELDS == RUN_FIELDS and report.CHECK_FIELDS == CHECK_FIELDS
    path = tmp_path / "bench.json"
    path.write_text(json.dumps({**suite[0], "command": "pktmask-nb bench --sizes 1MB"}))
    runs = report.load_bench(path)["runs"]
    assert len(runs) == len(suite[0]["runs"]) and len(report.ratios_frame(runs)) > 0


def test_bench_modules_do_not_import_the_notebook_stack():
    probe = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pandas", "matplotlib", "ipywidgets", "IPython"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import pktmask_nb.bench.suite, pktmask_nb.bench.child, pktmask_nb.bench.command, pktmask_nb.bench.regress
"""
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_external_tools_missing_from_path_are_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    doc = run_suite(
        BenchOptions(sizes=("1MB",), runs=("passthrough", "cat", "editcap"), cache_dir=tmp_path, mix="synthetic"),
        log=lambda line: None,
    )
    assert [r["tool"] for r in doc["runs"]] == ["pktmask_nb"]
    assert {(s["tool"], s["reason"]) for s in doc["skipped"]} == {("cat", "not on PATH"), ("editcap", "not on PATH")}
