"""Dedup (SPEC §4) against plain reference models, on real and generated captures."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import oracle
import pytest
from captures import frame, pcap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether

import pktmask_nb
from pktmask_nb import Config, DedupConfig
from pktmask_nb.stages.digest_index import YOUNG_MAX, YOUNG_SLOTS, DigestIndex, Run


def reference_exact(frames: list[bytes]) -> list[bytes]:
    """First occurrence of every distinct frame, in order."""
    seen, out = set(), []
    for f in frames:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out


def reference_window(rows, key=lambda data: data, packets=None, seconds=None) -> list[bytes]:
    """Brute force: a frame is dropped if an identical key appeared among the earlier frames in the window."""
    keys = [key(data) for data, _, _ in rows]
    out = []
    for i, (data, ts, _) in enumerate(rows):
        dup = False
        for j in range(i - 1, -1, -1):
            if packets is not None and i - j > packets:
                break
            if seconds is not None and ts - rows[j][1] > seconds + 1e-9:
                continue
            if keys[j] == keys[i]:
                dup = True
                break
        if not dup:
            out.append(data)
    return out


def dedup(tmp_path, src, chunk_size=4096, **options):
    out = tmp_path / ("out" + "".join(src.suffixes).replace(".gz", ""))
    result = pktmask_nb.run(
        src, out, Config(stages=("dedup",), chunk_size=chunk_size, dedup=DedupConfig(**options)), force=True
    )
    return out, result


def with_duplicates(tmp_path, name="dups.pcap", n=600, seed=1):
    """A capture where about a third of the frames repeat an earlier one, near or far."""
    rng = random.Random(seed)
    frames = []
    for i in range(n):
        r = rng.random()
        if frames and r < 0.2:
            frames.append(frames[-1])  # SPAN-port style, right after
        elif frames and r < 0.35:
            frames.append(rng.choice(frames))  # anywhere earlier
        else:
            frames.append(frame(i, rng.randrange(42, 300)))
    path = tmp_path / name
    path.write_bytes(pcap(frames))
    return path, frames


def test_exact_dedup_matches_reference_on_shared_capture(shared_capture, tmp_path):
    out, result = dedup(tmp_path, shared_capture, chunk_size=5)
    before = [f for f, _, _ in oracle.frames(shared_capture)]
    after = [f for f, _, _ in oracle.frames(out)]
    assert after == reference_exact(before)
    stats = result.stages["dedup"]
    assert stats["duplicates"] == len(before) - len(after)
    assert stats["bytes_saved"] == sum(map(len, before)) - sum(map(len, after))


def test_exact_dedup_matches_reference_on_generated_capture(tmp_path):
    path, frames = with_duplicates(tmp_path)
    out, result = dedup(tmp_path, path, chunk_size=7)
    expected = reference_exact(frames)
    assert [f for f, _, _ in oracle.frames(out)] == expected
    assert len(frames) - len(expected) > 150  # the test has teeth
    assert result.stages["dedup"]["duplicates"] == len(frames) - len(expected)


@pytest.mark.parametrize("packets,seconds", [(1, None), (5, None), (None, 3.0), (20, 10.0)])
def test_window_dedup_matches_brute_force(tmp_path, packets, seconds):
    path, _ = with_duplicates(tmp_path)
    out, _ = dedup(tmp_path, path, chunk_size=11, window_packets=packets, window_seconds=seconds)
    expected = reference_window(oracle.frames(path), packets=packets, seconds=seconds)
    assert [f for f, _, _ in oracle.frames(out)] == expected


def test_window_matches_editcap_semantics(tmp_path):
    """editcap -D N compares with the previous N-1 frames; our window N is the previous N."""
    frames = [frame(1), frame(2), frame(1), frame(3), frame(4), frame(1)]
    path = tmp_path / "w.pcap"
    path.write_bytes(pcap(frames))
    out, _ = dedup(tmp_path, path, window_packets=2)
    assert [f for f, _, _ in oracle.frames(out)] == [frame(1), frame(2), frame(3), frame(4), frame(1)]


def l3_key(data: bytes):
    """Independent l3 key with scapy: the outermost IP datagram without TTL/hop limit/checksum."""
    packet = Ether(data)
    ip = packet.getlayer(IP) or packet.getlayer(IPv6)
    if ip is None:
        return data
    ip = ip.copy()
    if isinstance(ip, IP):
        ip.ttl, ip.chksum = 0, 0
        return bytes(ip)[: ip.len]
    ip.hlim = 0
    return bytes(ip)[: 40 + ip.plen]


def test_l3_key_finds_the_same_packet_on_two_links(tmp_path):
    from scapy.layers.inet import TCP
    from scapy.layers.l2 import Dot1Q

    base = IP(src="10.0.0.1", dst="10.0.0.2", ttl=64) / TCP(sport=1, dport=2) / b"payload"
    link_a = Ether(src="00:00:00:00:00:01") / base
    link_b = Ether(src="00:00:00:00:00:02") / Dot1Q(vlan=7) / IP(bytes(base))
    link_b[IP].ttl, link_b[IP].chksum = 63, None
    other = Ether() / IP(src="10.0.0.1", dst="10.0.0.3") / TCP(sport=1, dport=2) / b"payload"
    padded = Ether(bytes(link_a) + b"\0" * 6)  # Ethernet trailer padding does not count
    frames = [bytes(link_a), bytes(other), bytes(link_b), bytes(padded)]
    path = tmp_path / "links.pcap"
    path.write_bytes(pcap(frames))
    out, result = dedup(tmp_path, path, key="l3")
    assert [f for f, _, _ in oracle.frames(out)] == frames[:2]
    rows = oracle.frames(path)
    assert [f for f, _, _ in oracle.frames(out)] == reference_window(rows, key=l3_key)
    out, _ = dedup(tmp_path, path, key="frame")
    assert len(oracle.frames(out)) == 4


def test_l3_key_matches_scapy_reference_on_shared_capture(shared_capture, tmp_path):
    rows = oracle.frames(shared_capture)
    if any(linktype != 1 for _, _, linktype in rows):
        pytest.skip("the scapy reference key is written for Ethernet")
    out, _ = dedup(tmp_path, shared_capture, key="l3", window_packets=50)
    assert [f for f, _, _ in oracle.frames(out)] == reference_window(rows, key=l3_key, packets=50)


def test_report_lists_top_duplicates(tmp_path):
    frames = [frame(1)] * 5 + [frame(2)] * 3 + [frame(3)] + [frame(4)] * 2
    path = tmp_path / "top.pcap"
    path.write_bytes(pcap(frames))
    _, result = dedup(tmp_path, path, top=2)
    stats = result.stages["dedup"]
    assert [(t["duplicates"], t["first_duplicate_frame"]) for t in stats["top"]] == [(4, 2), (2, 7)]
    assert stats["top_exact"]
    assert (stats["packets_in"], stats["packets_out"], stats["duplicates"]) == (11, 4, 7)
    assert [row["duplicates"] for row in result.duplicates] == [4, 2, 1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk_size=st.integers(min_value=1, max_value=100_000), window=st.sampled_from([None, 3, 50]))
def test_output_does_not_depend_on_chunk_size(tmp_path, chunk_size, window):
    path, _ = with_duplicates(tmp_path, n=400, seed=2)
    out, result = dedup(tmp_path, path, chunk_size=4096, window_packets=window)
    expected, expected_stats = out.read_bytes(), result.stages
    out, result = dedup(tmp_path, path, chunk_size=chunk_size, window_packets=window)
    assert out.read_bytes() == expected
    assert result.stages == expected_stats


def test_digest_index_spills_into_runs_and_still_finds_everything():
    rng = np.random.default_rng(5)
    digests = rng.integers(0, 2**63, size=(3 * YOUNG_MAX + 123, 2), dtype=np.uint64)
    index = DigestIndex()
    for start in range(0, len(digests), 50_000):
        assert not any(index.add(digests[start : start + 50_000].tobytes()))
    assert len(index) == len(digests) and index.run_count == 1
    assert all(index.add(digests[::997].tobytes()))
    fresh = rng.integers(0, 2**63, size=(1000, 2), dtype=np.uint64)
    assert not any(index.add(fresh.tobytes()))
    bytes_per_entry = (index.nbytes - 16 * YOUNG_SLOTS) / len(index)  # apart from the young table
    assert bytes_per_entry <= 20  # 16 in the runs, at most 4 in their directories


def test_digest_index_probes_past_a_crowded_slot():
    """40 digests aimed at one slot of the young table: each probes past the ones before it;
    all are found again after, in the table and once spilled."""
    hi = (np.arange(40, dtype=np.uint64) << np.uint64(32)) | np.uint64(5)
    digests = np.stack([hi, np.arange(40, dtype=np.uint64)], axis=1)
    index = DigestIndex()
    assert not any(index.add(digests[:30].tobytes()))
    assert len(index) == 30
    assert list(index.add(digests[::-1].tobytes())) == [0] * 10 + [1] * 30
    assert all(index.add(digests.tobytes()))
    index.spill()
    assert all(index.add(digests.tobytes())) and len(index) == 40


def test_digest_index_tells_a_repeat_within_one_call():
    index = DigestIndex()
    assert list(index.add(bytes(range(16)) * 2 + bytes(16))) == [0, 1, 0]


def test_digest_index_spills_an_empty_table():
    index = DigestIndex()
    index.spill()
    assert list(index.add(bytes(16))) == [0]
    assert list(index.add(bytes(16))) == [1]


def test_digest_index_tells_digests_with_equal_high_halves_apart():
    index = DigestIndex()
    a = np.array([[7, 1]], dtype=np.uint64).tobytes()
    b = np.array([[7, 2]], dtype=np.uint64).tobytes()
    assert list(index.add(a)) == [0]
    index.spill()
    assert list(index.add(b)) == [0]
    index.spill()
    assert list(index.add(a + b)) == [1, 1]


def test_digest_index_refuses_a_partial_digest():
    with pytest.raises(ValueError, match="16 bytes"):
        DigestIndex().add(bytes(17))


DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLES = json.loads((DATA / "README.md").read_text().split("```json")[1].split("```")[0])
KNOWN = SAMPLES["duplicates.pcap"]["duplicates"]


@pytest.mark.parametrize(
    "options,kinds,expected_key",
    [
        ({}, ("span", "far"), "frame"),
        ({"key": "l3"}, ("span", "far", "two_links"), "l3"),
        ({"window_packets": 1}, ("span",), "frame_window_packets_1"),
        ({"window_seconds": 0.001}, ("span",), "frame_window_seconds_0.001"),
    ],
)
def test_bundled_sample_loses_exactly_its_known_duplicates(tmp_path, options, kinds, expected_key):
    """data/duplicates.pcap: the frames dropped are the ones data/README.md lists, no more, no fewer."""
    src = DATA / "duplicates.pcap"
    out, result = dedup(tmp_path, src, **options)
    dropped = {dup for kind in kinds for dup, _ in KNOWN[kind]["frames"]}
    frames = [f for f, _, _ in oracle.frames(src)]
    assert [f for f, _, _ in oracle.frames(out)] == [f for n, f in enumerate(frames, 1) if n not in dropped]
    assert (
        result.stages["dedup"]["duplicates"]
        == len(dropped)
        == SAMPLES["duplicates.pcap"]["expected_removed"][expected_key]
    )


def _pairs(hi, lo) -> bytes:
    return np.stack([hi, lo], axis=1).astype("<u8").tobytes()


def _directory(hi):
    """Where each bucket starts (top bits of the high half), and the end."""
    bits = max(1, len(hi).bit_length() - 1)
    counts = np.bincount((hi >> np.uint64(64 - bits)).astype(np.intp), minlength=1 << bits)
    return [0, *np.cumsum(counts).tolist()]


def test_a_merged_run_has_the_entries_and_directory_of_one_built_whole():
    """A merge moves the entries in place to where `np.insert` puts them, and makes the
    directory of all of them; crowded buckets, the very last bucket, doubling buckets."""
    rng = np.random.default_rng(7)
    keys = np.sort(rng.integers(0, 2**63, size=5000, dtype=np.uint64))
    keys[100:140] = keys[100]  # crowded buckets (equal high halves), the fullest one the last
    keys[-60:] = np.uint64(2**64 - 1)  # in the very last bucket
    hi, lo = keys[:4000], np.arange(4000, dtype=np.uint64)
    run = Run(_pairs(hi, lo), len(keys))
    # the last one doubles the buckets; equal high halves go in front of the old ones, as np.insert puts them
    for new in (keys[4000:4600], keys[4600:4601], keys[4601:4601], keys[[100, 4999]], keys[4601:4998]):
        new = np.sort(new)
        new_lo = rng.integers(0, 2**63, size=len(new), dtype=np.uint64)
        at = np.searchsorted(hi, new)
        hi, lo = np.insert(hi, at, new), np.insert(lo, at, new_lo)
        run.merge(_pairs(new, new_lo))
        assert run.entries() == _pairs(hi, lo)
        assert run.directory() == _directory(hi)
        assert run.nbytes == 16 * len(hi) + 4 * len(_directory(hi))
    with pytest.raises(ValueError, match="at most 5000 entries"):
        run.merge(_pairs(keys[:10], keys[:10]))
    fresh = Run(_pairs(np.sort(keys), np.zeros(len(keys), np.uint64)))  # a run built whole
    assert fresh.directory() == _directory(np.sort(keys))


@settings(max_examples=60, deadline=None)
@given(
    old=st.lists(st.integers(0, 40), max_size=60),
    new=st.lists(st.lists(st.integers(0, 40), max_size=25), max_size=4),
)
def test_merging_in_place_is_np_insert(old, new):
    """Whatever the entries: the run's are `np.insert`'s (few distinct high halves, so equal
    ones meet often), and its directory is the one made afresh."""
    hi = np.sort(np.array(old, np.uint64) << np.uint64(58))
    lo = np.arange(len(hi), dtype=np.uint64)
    run = Run(_pairs(hi, lo), len(old) + sum(map(len, new)))
    for i, batch in enumerate(new):
        add = np.sort(np.array(batch, np.uint64) << np.uint64(58))
        add_lo = np.arange(len(add), dtype=np.uint64) + np.uint64(1000 * (i + 1))
        at = np.searchsorted(hi, add)
        hi, lo = np.insert(hi, at, add), np.insert(lo, at, add_lo)
        run.merge(_pairs(add, add_lo))
        assert run.entries() == _pairs(hi, lo)
        assert run.directory() == _directory(hi)


def test_the_index_peak_is_the_memory_the_process_grew_by():
    """`peak_nbytes` (dedup's index_peak_bytes) against the peak RSS of a fresh process that
    adds 1.3 M digests: the runs are mapped apart from the C heap, so the process grows by
    what the index holds at its fullest, not by the holes copies would have left."""
    code = """
import numpy as np
from pktmask_nb.pipeline import current_rss, peak_rss
from pktmask_nb.stages.digest_index import DigestIndex

rng = np.random.default_rng(8)
batches = [rng.integers(0, 2**63, size=(20_000, 2), dtype=np.uint64).tobytes() for _ in range(65)]
before = current_rss()
assert peak_rss() < before + 4 * 2**20  # the peak so far is not what the index will add
index = DigestIndex()
for batch in batches:
    index.add(batch)
print(peak_rss() - before, index.peak_nbytes, index.nbytes, index.run_count)
"""
    grown, peak, held, runs = map(
        int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    )
    assert runs == 1 and peak > held  # merges happened; a spill's sorted copy counts
    assert 0.95 * peak <= grown <= 1.12 * peak  # with copies on the heap: 1.15 (58.2 MB against 50.5)


def test_digest_index_searches_every_run_when_runs_are_capped():
    rng = np.random.default_rng(6)
    digests = rng.integers(0, 2**63, size=(3 * YOUNG_MAX + 5, 2), dtype=np.uint64)
    index = DigestIndex(run_max=YOUNG_MAX)  # every spill starts a new run
    assert not any(index.add(digests.tobytes()))
    assert index.run_count == 3
    assert all(index.add(digests[::501].tobytes()))
    assert not any(index.add(rng.integers(0, 2**63, size=(1000, 2), dtype=np.uint64).tobytes()))
