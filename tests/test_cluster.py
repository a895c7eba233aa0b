"""Many captures on a real Dask LocalCluster give the same bytes as one process; misuse is one line."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest
from captures import frame, pcap

import pktmask_nb
from pktmask_nb import cluster
from pktmask_nb.config import Config
from pktmask_nb.errors import UsageError

needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None, reason="Dask not installed")

WITHOUT_DASK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("dask", "distributed"):
            raise ModuleNotFoundError("blocked: " + name)
sys.meta_path.insert(0, Block())
from pktmask_nb.cli import main
code = main(sys.argv[1:])
try:
    import distributed
except ImportError:
    print("distributed blocked")
sys.exit(code)
"""

WORKER_ENVIRON = """
import json, os, dask
from pktmask_nb import cluster
names = sorted(cluster.BLAS_THREADS)
dask.config.set({cluster.PRE_SPAWN_ENVIRON: {}})  # as an older distributed or a site config may leave it
client, local = cluster._client(1, None)
print(json.dumps(client.submit(lambda: {n: os.environ.get(n) for n in names}).result()))
client.close()
local.close()
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    src = root / "in"
    src.mkdir()
    for n in range(5):
        (src / f"c{n}.pcap").write_bytes(pcap([frame((i * (n + 1)) % 37, 60 + i % 50) for i in range(300)]))
    (src / "broken.pcap").write_bytes(b"not a capture")
    return root


@pytest.fixture(scope="module")
def scheduler():
    """A running Dask scheduler with one worker process, whose directory is not the tests' tmp dirs."""
    if importlib.util.find_spec("distributed") is None:
        pytest.skip("Dask not installed")
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local.scheduler_address


def cli(*args, cwd=None, script=None):
    start = ["-c", script] if script else ["-m", "pktmask_nb.cli"]
    return subprocess.run([sys.executable, *start, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def sequential(source, target):
    pktmask_nb.run(source, target, Config(stages=("dedup",)))
    return target.read_bytes()


@needs_dask
def test_local_cluster_matches_sequential_run(inputs):
    here, there = inputs / "here", inputs / "there"
    done = cli("run", inputs / "in", "-o", here, "--stages", "dedup", "-q")
    assert done.returncode == 1  # broken.pcap fails, the rest is written
    done = cli(
        "run", inputs / "in", "-o", there, "--stages", "dedup", "--workers", "2", "-q", "--report", inputs / "r.json"
    )
    assert done.returncode == 1, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("pktmask-nb: error:")]
    assert len(errors) == 1 and "broken.pcap" in errors[0]
    names = sorted(p.name for p in here.iterdir())
    assert names == [f"c{n}.pcap" for n in range(5)]
    assert names == sorted(p.name for p in there.iterdir())
    for name in names:
        assert (here / name).read_bytes() == (there / name).read_bytes()


@needs_dask
def test_local_workers_get_single_threaded_blas_unless_the_environment_says():
    env = {k: v for k, v in os.environ.items() if k not in cluster.BLAS_THREADS}
    env["OMP_NUM_THREADS"] = "3"
    done = subprocess.run([sys.executable, "-c", WORKER_ENVIRON], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen == {"MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "1"}


@needs_dask
def test_scheduler_run_resolves_relative_paths_here(inputs, scheduler, tmp_path):
    done = cli("run", "in", "-o", "remote", "--stages", "dedup", "--scheduler", scheduler, "-q", cwd=inputs)
    assert done.returncode == 1, done.stderr  # broken.pcap only
    (error,) = [line for line in done.stderr.splitlines() if "error" in line]
    assert error.startswith(f"pktmask-nb: error: {inputs / 'in' / 'broken.pcap'}: ")  # the path as submitted
    names = sorted(p.name for p in (inputs / "remote").iterdir())
    assert names == [f"c{n}.pcap" for n in range(5)]
    for name in names:
        assert (inputs / "remote" / name).read_bytes() == sequential(inputs / "in" / name, tmp_path / name)


@needs_dask
def test_scheduler_workers_must_see_every_path(inputs, scheduler, tmp_path):
    pairs = [
        (str(inputs / "in" / "c0.pcap"), str(tmp_path / "no_dir" / "c0.pcap")),
        (str(tmp_path / "gone.pcap"), str(tmp_path / "gone.pcap.out")),
    ]
    with pytest.raises(UsageError) as raised:
        cluster.run_on_dask(pairs, Config(stages=("dedup",)), scheduler=scheduler)
    message = str(raised.value)
    assert message.startswith("the Dask worker tcp://") and "\n" not in message
    assert f"cannot read {tmp_path / 'gone.pcap'} (and 1 more)" in message
    assert list(tmp_path.iterdir()) == []


def test_find_unreachable_names_unreadable_inputs_and_unwritable_directories(inputs, tmp_path):
    (tmp_path / "file").write_bytes(b"")
    good = (str(inputs / "in" / "c0.pcap"), str(tmp_path / "c0.pcap"))
    assert cluster.find_unreachable([good]) == []
    bad = [
        good,
        (str(tmp_path / "gone.pcap"), str(tmp_path / "file" / "x.pcap")),
        (str(inputs / "in"), str(tmp_path / "no_dir" / "y.pcap")),
    ]
    assert cluster.find_unreachable(bad) == [
        f"cannot read {tmp_path / 'gone.pcap'}",
        f"cannot read {inputs / 'in'}",
        f"cannot write into {tmp_path / 'file'}",
        f"cannot write into {tmp_path / 'no_dir'}",
    ]


def test_unreachable_scheduler_is_a_usage_error(inputs, tmp_path):
    scheduler = "tcp://127.0.0.1:9"
    done = cli("run", inputs / "in" / "c0.pcap", "-o", tmp_path / "o.pcap", "--scheduler", scheduler)
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"pktmask-nb: error: cannot reach the Dask scheduler at {scheduler}: ")
    assert not (tmp_path / "o.pcap").exists()


@needs_dask
def test_scheduler_connect_timeout_is_short(monkeypatch):
    import distributed
    from dask.utils import parse_timedelta

    asked = {}

    def unreachable(address, timeout):
        asked.update(address=address, timeout=timeout)
        raise OSError("Timed out trying to connect\nto the scheduler")

    monkeypatch.setattr(distributed, "Client", unreachable)
    with pytest.raises(UsageError) as raised:
        cluster._client(None, "tcp://192.0.2.1:8786")
    assert asked["address"] == "tcp://192.0.2.1:8786" and parse_timedelta(asked["timeout"]) <= 5
    assert str(raised.value) == (
        "cannot reach the Dask scheduler at tcp://192.0.2.1:8786: Timed out trying to connect to the scheduler"
    )


def test_workers_and_scheduler_together_is_a_usage_error(inputs, tmp_path):
    both = ["--workers", "2", "--scheduler", "tcp://127.0.0.1:9"]
    done = cli("run", inputs / "in" / "c0.pcap", "-o", tmp_path / "o.pcap", *both)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "pktmask-nb: error: --workers and --scheduler exclude each other: --workers starts a local cluster"
    ]
    assert not (tmp_path / "o.pcap").exists()


def test_workers_without_dask_say_how_to_install_it(inputs, tmp_path):
    args = ["run", inputs / "in" / "c0.pcap", "-o", tmp_path / "o.pcap", "--stages", "dedup", "--workers", "2"]
    done = cli(*args, script=WITHOUT_DASK)
    assert done.returncode == 2, done.stderr
    assert done.stdout.splitlines() == ["distributed blocked"]  # the probe really hid Dask
    assert done.stderr.splitlines() == [
        "pktmask-nb: error: --workers/--scheduler need Dask: pip install 'pktmask_nb[dask]'"
    ]
    assert not (tmp_path / "o.pcap").exists()
