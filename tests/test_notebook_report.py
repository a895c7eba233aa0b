"""The benchmark report's tables hold the JSON's numbers; the example JSON follows the bench schema."""

from __future__ import annotations

import json

import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("pktmask_nb.notebook")

from conftest import ROOT  # noqa: E402

from pktmask_nb.notebook import report  # noqa: E402

EXAMPLE = ROOT / "notebooks" / "example_bench.json"
TOOLS = {"pktmask_nb", "baseline", "tcprewrite", "editcap", "cat"}
RUN_TYPES = {
    "tool": str, "name": str, "stages": list, "size_label": str, "input_bytes": int, "packets": int,
    "seconds": float, "peak_rss_bytes": int, "packets_per_second": float, "mb_per_second": float,
    "bytes_read": int, "bytes_written": int, "cpu_percent": float, "memory_efficiency": float,
}  # fmt: skip
CHECK_TYPES = {"name": str, "metric": str, "ratio": float, "limit": float, "ok": bool}


@pytest.fixture(scope="module")
def doc():
    return json.loads(EXAMPLE.read_text())


def test_example_follows_the_bench_schema(doc):
    assert "EXAMPLE" in doc["note"]  # labelled: not the bench suite's measurements
    machine = doc["machine"]
    assert isinstance(machine["cpu"], str) and isinstance(machine["cores"], int) and machine["ram_bytes"] > 0
    assert isinstance(machine["python"], str) and isinstance(machine["platform"], str)
    assert pd.Timestamp(doc["date"]).tzinfo is not None and doc["command"]
    for run in doc["runs"]:
        for key, kind in RUN_TYPES.items():
            assert isinstance(run[key], kind) or (kind is float and isinstance(run[key], int)), (key, run)
        assert run["tool"] in TOOLS
        assert run["mb_per_second"] == pytest.approx(run["input_bytes"] / 1e6 / run["seconds"], rel=1e-3)
        assert run["packets_per_second"] == pytest.approx(run["packets"] / run["seconds"], rel=1e-3)
        assert run["memory_efficiency"] == pytest.approx(run["input_bytes"] / run["peak_rss_bytes"], abs=1e-4)
    for check in doc["regression"]["checks"]:
        for key, kind in CHECK_TYPES.items():
            assert isinstance(check[key], kind)
        assert check["ratio"] == pytest.approx(check["current"] / check["baseline"], rel=1e-3)


def test_runs_frame_keeps_every_run_in_size_order(doc):
    bench = report.load_bench(EXAMPLE)
    runs = bench["runs"]
    assert len(runs) == len(doc["runs"])
    by_size = sorted({(r["input_bytes"], r["size_label"]) for r in doc["runs"]})
    assert list(runs["size_label"].cat.categories) == [label for _, label in by_size]
    originals = {(r["tool"], r["name"], r["size_label"]): r for r in doc["runs"]}
    for row in runs.itertuples():
        original = originals[(row.tool, row.name, row.size_label)]
        assert (row.seconds, row.peak_rss_bytes, row.packets) == (
            original["seconds"],
            original["peak_rss_bytes"],
            original["packets"],
        )
        assert row.stages == ",".join(original["stages"]) and row.peak_rss_mb == original["peak_rss_bytes"] / 1e6
    assert bench["regression"].to_dict("records") == doc["regression"]["checks"]
    assert bench["note"] == doc["note"] and bench["baseline_file"] == doc["regression"]["baseline_file"]


def test_throughput_table_and_ratios_come_from_the_runs(doc):
    runs = report.load_bench(EXAMPLE)["runs"]
    table = report.throughput_table(runs)
    originals = {(r["tool"], r["name"], r["size_label"]): r for r in doc["runs"]}
    for (tool, name, size), run in originals.items():
        assert table.loc[size, f"{tool}/{name}"] == run["mb_per_second"]
    ratios = report.ratios_frame(runs)
    assert len(ratios) > 0
    for row in ratios.itertuples():
        ours, theirs = (
            originals[("pktmask_nb", row.name, row.size_label)],
            originals[(row.peer, row.name, row.size_label)],
        )
        assert row.speedup == pytest.approx(theirs["seconds"] / ours["seconds"])
        assert row.memory_ratio == pytest.approx(ours["peak_rss_bytes"] / theirs["peak_rss_bytes"])
    assert set(ratios["peer"]) <= TOOLS - {"pktmask_nb"}


def test_missing_fields_are_named(tmp_path, doc):
    broken = json.loads(json.dumps(doc))
    del broken["runs"][1]["peak_rss_bytes"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"runs\[1\] lacks peak_rss_bytes"):
        report.load_bench(path)
    del broken["machine"]
    path.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="lacks machine"):
        report.load_bench(path)


def test_regression_block_is_optional(tmp_path, doc):
    plain = {k: v for k, v in doc.items() if k not in ("regression", "note")}
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(plain))
    bench = report.load_bench(path)
    assert bench["regression"].empty and list(bench["regression"].columns) == list(report.CHECK_FIELDS)
    assert bench["baseline_file"] is None and bench["note"] is None
