"""The core never imports the notebook stack (SPEC §7, STYLE: imports go one way)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

BLOCKED = ("pandas", "matplotlib", "ipywidgets", "IPython")

PROBE = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {BLOCKED!r}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import pktmask_nb, pktmask_nb.cli, pktmask_nb.capture, pktmask_nb.pipeline, pktmask_nb.stages
from pktmask_nb.stages import build_stages
from pktmask_nb.config import Config
build_stages(Config(stages=("dedup",)))
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {BLOCKED!r})
print(loaded)
"""


def test_core_imports_with_notebook_stack_blocked():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_blocking_really_blocks():
    done = subprocess.run([sys.executable, "-c", PROBE + "\nimport pandas"], capture_output=True, text=True)
    assert done.returncode != 0 and "blocked: pandas" in done.stderr


def test_the_audit_shares_no_code_with_the_stages():
    """SPEC §8: the audit reads capture records and the declared policy tables, nothing else of ours."""
    import ast
    import pathlib

    allowed = {"capture", "capture.pcapng", "config", "errors", "record", "policy", "words"}
    package = pathlib.Path(__file__).resolve().parents[1] / "pktmask_nb" / "audit"
    used = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                used.add(node.module)
            elif isinstance(node, ast.ImportFrom | ast.Import) and "pktmask_nb" in ast.unparse(node):
                used.add(ast.unparse(node))
    assert used and used <= allowed, used - allowed


def test_a_run_does_not_import_numpy_nor_multiprocessing_in_one_process(tmp_path):
    """A run pays for no NumPy import (about half of the core's import time): dedup's index
    is a C kernel and the audit imports NumPy only when an audit runs; nor, in one process,
    for multiprocessing's (its pipes are the second process's) or the split's machinery
    (subprocess, threads, shared memory)."""
    data = pathlib.Path(__file__).resolve().parents[1] / "data" / "tls_http.pcap"
    code = f"""
import sys
from pktmask_nb.cli import main
code = main(["run", {str(data)!r}, "-o", {str(tmp_path / "out.pcap")!r}, "-q", "--no-progress", "--key", "ab" * 32])
assert not code, code
split = ("numpy", "multiprocessing", "subprocess", "threading", "mmap", "pktmask_nb.split.run")
print(sorted(m for m in sys.modules if m.split(".")[0] in split or m in split)[:3])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "out.pcap").stat().st_size > 0
