"""Shared fixtures: the real captures of ../shared/captures, tshark, generated captures."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_CAPTURES = ROOT.parent / "shared" / "captures"
DATA = ROOT / "data"
REQUIRE = os.environ.get("PKTMASK_REQUIRE_SHARED") == "1"


def missing(what: str):
    """Skip on a fresh clone; fail where PKTMASK_REQUIRE_SHARED=1 (CI) says it must exist."""
    if REQUIRE:
        pytest.fail(f"{what} is required (PKTMASK_REQUIRE_SHARED=1) but missing")
    pytest.skip(f"{what} not available")


def shared_capture_paths() -> list[Path]:
    """Every capture in ../shared/captures (empty when the directory is absent)."""
    if not SHARED_CAPTURES.is_dir():
        return []
    return sorted(
        p for p in SHARED_CAPTURES.iterdir() if p.name.endswith((".pcap", ".pcapng", ".pcap.gz", ".pcapng.gz"))
    )


def shared_params():
    """pytest parameters over the shared captures; one skipped/failing placeholder when absent."""
    paths = shared_capture_paths()
    if paths:
        return [pytest.param(p, id=p.name) for p in paths]
    return [pytest.param(None, id="no-shared-captures")]


@pytest.fixture
def shared_capture(request):
    path = request.param
    if path is None:
        missing(f"{SHARED_CAPTURES}")
    return path


def pytest_generate_tests(metafunc):
    if "shared_capture" in metafunc.fixturenames:
        metafunc.parametrize("shared_capture", shared_params(), indirect=True)


@pytest.fixture(scope="session")
def tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        missing("tshark")
    return path


def stale_extensions() -> list[str]:
    """Compiled modules older than their source (.py or .pyx, or its .pxd): Python would import the old code."""
    stale = []
    for built in (ROOT / "pktmask_nb").rglob("*.so"):
        for suffix in (".py", ".pyx", ".pxd"):
            source = built.parent / (built.name.split(".")[0] + suffix)
            if source.exists() and source.stat().st_mtime > built.stat().st_mtime:
                stale.append(str(source.relative_to(ROOT)))
    return sorted(stale)


def pytest_sessionstart(session):
    stale = stale_extensions()
    if stale:
        pytest.exit(
            f"{', '.join(stale)} changed since it was compiled: rebuild with `pip install --no-deps -e .`",
            returncode=4,
        )
