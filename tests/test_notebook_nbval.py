"""Every notebook in notebooks/ executes cleanly under nbval (lax mode, timing outputs sanitized).

Each notebook runs in its own ``pytest --nbval-lax`` subprocess, so the README's
``pytest -n 2`` collects only tests/ (pyproject's testpaths) yet spreads the notebooks over
both workers, and a kernel that dies cannot take a test worker with it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import nbformat
import pytest
from conftest import ROOT, missing

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
CELL_TIMEOUT = 120  # seconds per cell
NOTEBOOK_TIMEOUT = 300


def _isolated_env(tmp_path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["IPYTHONDIR"] = str(tmp_path / "ipython")  # no shared history database between parallel kernels
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    return env


def test_every_notebook_is_here_with_outputs_cleared():
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01_explore.ipynb",
        "02_tune_chunk_size.ipynb",
        "03_benchmark_report.ipynb",
        "04_sanitize_and_audit.ipynb",
    ]
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        nbformat.validate(book)
        code = [c for c in book.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name} has outputs"
        assert book.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_under_nbval(notebook, tmp_path):
    for module in ("nbval", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            missing(f"the Python package {module}")
    cells = sum(c.cell_type == "code" for c in nbformat.read(notebook, as_version=4).cells)
    cmd = [
        sys.executable, "-m", "pytest", "--nbval-lax", f"--nbval-sanitize-with={SANITIZE}",
        f"--nbval-cell-timeout={CELL_TIMEOUT}", "-p", "no:cacheprovider", "-q", str(notebook),
    ]  # fmt: skip
    done = subprocess.run(
        cmd, cwd=ROOT, env=_isolated_env(tmp_path), capture_output=True, text=True, timeout=NOTEBOOK_TIMEOUT
    )
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert f"{cells} passed" in done.stdout, done.stdout[-2000:]
