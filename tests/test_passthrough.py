"""SPEC §2.2: with no stage, output is byte-identical to the (decompressed) input."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest
from captures import epb, frame, idb, pcap, shb
from conftest import SHARED_CAPTURES, missing

import pktmask_nb

NONE = pktmask_nb.Config(stages=())


def original_bytes(path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def test_shared_capture_passes_through_unchanged(shared_capture, tmp_path):
    out = tmp_path / "out"
    result = pktmask_nb.run(shared_capture, out, NONE.replace(chunk_size=7))
    assert out.read_bytes() == original_bytes(shared_capture)
    assert result.packets_in == result.packets_out
    assert result.bytes_written == result.bytes_read == len(original_bytes(shared_capture))


def test_cli_copies_the_whole_shared_directory(tmp_path):
    if not SHARED_CAPTURES.is_dir():
        missing(str(SHARED_CAPTURES))
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "pktmask_nb.cli",
        "run",
        str(SHARED_CAPTURES),
        "-o",
        str(out),
        "--stages",
        "none",
        "-q",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    inputs = [p for p in SHARED_CAPTURES.iterdir() if p.name.endswith((".pcap", ".pcapng", ".gz"))]
    assert len(inputs) > 30
    for path in inputs:
        name = path.name[:-3] if path.name.endswith(".gz") else path.name
        assert (out / name).read_bytes() == original_bytes(path), name


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanosecond", [False, True])
@pytest.mark.parametrize("chunk_size", [1, 3, 4096])
def test_generated_pcap_passes_through_unchanged(tmp_path, order, nanosecond, chunk_size):
    data = pcap([frame(i, 60 + 13 * i) for i in range(40)], order, nanosecond)
    src = tmp_path / "in.pcap"
    src.write_bytes(data)
    pktmask_nb.run(src, tmp_path / "out.pcap", NONE.replace(chunk_size=chunk_size))
    assert (tmp_path / "out.pcap").read_bytes() == data


@pytest.mark.parametrize("order", ["<", ">"])
def test_generated_pcapng_passes_through_unchanged(tmp_path, order):
    data = (
        shb(order, [(1, b"hi")])
        + idb(1, order, opts=[(2, b"eth0")])
        + b"".join(epb(frame(i), 0, i, order, [(1, b"c")]) for i in range(9))
    )
    src = tmp_path / "in.pcapng"
    src.write_bytes(data)
    result = pktmask_nb.run(src, tmp_path / "out.pcapng", NONE.replace(chunk_size=2))
    assert (tmp_path / "out.pcapng").read_bytes() == data
    assert result.format == "pcapng"
