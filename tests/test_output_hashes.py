"""Outputs stay byte for byte what they were when recorded (tests/fixtures/record_hashes.py):
the yardstick of a redesign of the engine, which must change no output unless it says so."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED_CAPTURES, missing
from fixtures import record_hashes


@pytest.fixture(scope="module")
def recorded():
    if not SHARED_CAPTURES.is_dir():
        missing(str(SHARED_CAPTURES))
    return json.loads(record_hashes.HASHES.read_text())


@pytest.mark.parametrize("name", list(record_hashes.CONFIGS))
def test_every_shared_capture_gives_the_recorded_output(recorded, name):
    found = record_hashes.output_hashes(record_hashes.captures(None), names=[name])
    expected = {key: value for key, value in recorded.items() if key.endswith(f"|{name}")}
    assert len(found) == len(expected) > 40
    assert [key for key in found if found[key] != expected.get(key)] == []


def test_chunk_size_and_a_second_process_change_nothing(recorded):
    found = record_hashes.output_hashes(record_hashes.captures(None), chunk_size=7, processes=2, names=["all"])
    assert found == {key: value for key, value in recorded.items() if key.endswith("|all")}
