"""Without the notebook extra, the notebook layer says what is missing and how to install it."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
"""


def _run(blocked: tuple[str, ...], code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK.format(blocked=blocked) + code], capture_output=True, text=True, cwd=ROOT
    )


def test_notebook_layer_names_the_missing_packages():
    done = _run(("pandas",), "import pktmask_nb.notebook")
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "ImportError: pktmask_nb.notebook needs pandas, which is not installed: pip install 'pktmask_nb[notebook]'"
    )
    done = _run(("ipywidgets", "IPython"), "from pktmask_nb.notebook import frames")
    assert "needs ipywidgets, IPython, which are not installed: pip install 'pktmask_nb[notebook]'" in done.stderr


def test_core_still_works_without_the_notebook_stack():
    code = """
import pktmask_nb
r = pktmask_nb.run("data/tls_http.pcap", config=pktmask_nb.Config(stages=("dedup",)))
try:
    import pktmask_nb.notebook
except ImportError as e:
    print(r.packets_in, "notebook:", e)
"""
    done = _run(("pandas", "matplotlib", "ipywidgets", "IPython"), code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("97 notebook: pktmask_nb.notebook needs pandas, matplotlib, ipywidgets, IPython")


def test_memory_profiler_is_optional():
    code = """
import pktmask_nb.notebook
from pktmask_nb.notebook.memory import profile_memory
try:
    profile_memory("data/tls_http.pcap")
except ImportError as e:
    print(e)
"""
    done = _run(("memory_profiler",), code)
    assert done.returncode == 0, done.stderr
    assert "pip install memory-profiler" in done.stdout
