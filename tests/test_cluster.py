"""Many captures on a real Dask LocalCluster give the same bytes as one process."""

from __future__ import annotations

import subprocess
import sys

import pytest
from captures import frame, pcap

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    src = root / "in"
    src.mkdir()
    for n in range(5):
        (src / f"c{n}.pcap").write_bytes(pcap([frame((i * (n + 1)) % 37, 60 + i % 50) for i in range(300)]))
    (src / "broken.pcap").write_bytes(b"not a capture")
    return root


def cli(*args):
    return subprocess.run([sys.executable, "-m", "pktmask_nb.cli", *map(str, args)], capture_output=True, text=True)


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


def test_unreachable_scheduler_is_a_usage_error(inputs, tmp_path):
    done = cli(
        "run",
        inputs / "in" / "c0.pcap",
        "-o",
        tmp_path / "o.pcap",
        "--stages",
        "dedup",
        "--scheduler",
        "tcp://127.0.0.1:9",
    )
    assert done.returncode == 2
    assert "cannot reach the Dask scheduler" in done.stderr.splitlines()[-1]
    assert not (tmp_path / "o.pcap").exists()
