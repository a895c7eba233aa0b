"""The benchmark report notebook takes its JSON as a papermill parameter and runs outside the repository."""

from __future__ import annotations

import importlib.util
import json

import nbformat
from conftest import ROOT, missing

REPORT = ROOT / "notebooks" / "03_benchmark_report.ipynb"


def _text(book) -> str:
    parts = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_report_notebook_reads_the_json_it_is_given(tmp_path, monkeypatch):
    for module in ("papermill", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            missing(f"the Python package {module}")
    import papermill

    doc = json.loads((ROOT / "notebooks" / "example_bench.json").read_text())
    doc.pop("regression")
    doc["note"] = "a copy made by test_notebook_papermill"
    doc["runs"] = [r for r in doc["runs"] if r["tool"] in ("pktmask_nb", "editcap")]
    bench = tmp_path / "my_bench.json"
    bench.write_text(json.dumps(doc))
    out = tmp_path / "report.ipynb"
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    papermill.execute_notebook(
        str(REPORT), str(out), parameters={"bench_json": str(bench)}, kernel_name="python3",
        cwd=str(tmp_path), progress_bar=False,
    )  # fmt: skip
    book = nbformat.read(out, as_version=4)
    injected = [c for c in book.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and f'bench_json = "{bench}"' in injected[0].source
    text = _text(book)
    assert "my_bench.json:" in text and "NOTE: a copy made by test_notebook_papermill" in text
    assert "no regression block in this file" in text
    assert "tcprewrite" not in text and "editcap" in text  # only the runs of the given file
    images = sum("image/png" in o.get("data", {}) for c in book.cells for o in c.get("outputs", []))
    assert images == 3  # throughput, ratios (pktmask_nb against editcap), peak RSS
