"""The anonymize stage on every real capture, with tshark as the oracle (SPEC §5, §2.5, §2.6)."""

from __future__ import annotations

import csv
import ipaddress
import subprocess
import sys
from functools import cache

import pytest
from conftest import DATA, SHARED_CAPTURES, missing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tshark import CHECKSUM_PREFS, fields

from pktmask_nb.anon import AddressMapper
from pktmask_nb.anon.ranges import PRIVATE_IPV4, PRIVATE_IPV6
from pktmask_nb.api import run
from pktmask_nb.config import AnonymizeConfig, Config

KEY = bytes.fromhex("5a" * 16 + "c3" * 16)
ADDRESS_FIELDS = [
    "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "arp.src.proto_ipv4", "arp.dst.proto_ipv4",
    "icmpv6.nd.ns.target_address", "icmpv6.nd.na.target_address", "icmp.redir_gw",
]  # fmt: skip
CHECKSUM_FIELDS = [
    "ip.checksum.status", "tcp.checksum.status", "udp.checksum.status",
    "icmp.checksum.status", "icmpv6.checksum.status",
]  # fmt: skip
FRAME_FIELDS = ["frame.time_epoch", "frame.len", "frame.cap_len"]
PREFS = CHECKSUM_PREFS


@cache
def dissection(path: str) -> list[list[str]]:
    return fields(path, ["frame.number"] + FRAME_FIELDS + ADDRESS_FIELDS + CHECKSUM_FIELDS, prefs=PREFS)


@cache
def malformed_frames(path: str) -> frozenset[str]:
    rows = fields(path, ["frame.number"], display_filter="_ws.malformed || _ws.expert.severity == error")
    return frozenset(r[0] for r in rows)


def anonymized(tmp_path, path, keep: str = "special", chunk_size: int = 4096):
    out = tmp_path / ("out.pcapng" if ".pcapng" in path.name else "out.pcap")
    config = Config(stages=("anonymize",), chunk_size=chunk_size, anonymize=AnonymizeConfig(key=KEY, keep=keep))
    return run(path, out, config, force=True), out


def address_pairs(before: list[list[str]], after: list[list[str]]) -> list[tuple[str, str]]:
    """(original, anonymized) for every address occurrence, aligned field by field and frame by frame."""
    start = 1 + len(FRAME_FIELDS)
    pairs = []
    assert len(before) == len(after)
    for row_before, row_after in zip(before, after):
        for column in range(start, start + len(ADDRESS_FIELDS)):
            old = [a for a in row_before[column].split(",") if a]
            new = [a for a in row_after[column].split(",") if a]
            assert len(old) == len(new), (row_before[0], ADDRESS_FIELDS[column - start])
            pairs += zip(old, new)
    return pairs


def common_prefix(a, b) -> int:
    return a.max_prefixlen - (int(a) ^ int(b)).bit_length()


def test_no_original_address_survives_and_mapping_is_prefix_preserving(tmp_path, shared_capture, tshark):
    result, out = anonymized(tmp_path, shared_capture)
    before, after = (
        dissection(str(shared_capture)),
        fields(out, ["frame.number"] + FRAME_FIELDS + ADDRESS_FIELDS + CHECKSUM_FIELDS, prefs=PREFS),
    )
    mapper = AddressMapper(KEY)
    mapping: dict = {}
    for old, new in address_pairs(before, after):
        old, new = ipaddress.ip_address(old), ipaddress.ip_address(new)
        assert mapping.setdefault(old, new) == new, f"{old} maps to {mapping[old]} and {new}"
        assert new.packed == mapper.anonymize(old.packed)
    if not mapping:
        pytest.skip("no addresses in this capture")
    survivors = {
        str(a)
        for row in after
        for column in row[1 + len(FRAME_FIELDS) : 1 + len(FRAME_FIELDS) + len(ADDRESS_FIELDS)]
        for a in column.split(",")
        if a
    }
    for old, new in mapping.items():
        if mapper.is_kept(old.packed):
            assert new == old
        else:
            assert str(old) not in survivors, f"{old} survives"
            assert not mapper.is_kept(new.packed), f"{old} mapped into a kept range: {new}"
    items = list(mapping.items())
    assert len({new for _, new in items}) == len(items)  # one-to-one
    for i, (a, a2) in enumerate(items):
        for b, b2 in items[i + 1 :]:
            if a.version == b.version:
                assert common_prefix(a, b) == common_prefix(a2, b2), (a, b, a2, b2)
    table = {row["original"]: row["anonymized"] for row in result.mapping}
    for old, new in mapping.items():
        assert table[str(old)] == str(new)


def test_checksum_verdicts_sizes_and_timestamps_unchanged(tmp_path, shared_capture, tshark):
    _, out = anonymized(tmp_path, shared_capture)
    before = dissection(str(shared_capture))
    after = fields(out, ["frame.number"] + FRAME_FIELDS + ADDRESS_FIELDS + CHECKSUM_FIELDS, prefs=PREFS)
    frames = slice(0, 1 + len(FRAME_FIELDS))
    checks = slice(1 + len(FRAME_FIELDS) + len(ADDRESS_FIELDS), None)
    assert [r[frames] for r in after] == [r[frames] for r in before]
    # per frame and per header: good stays good, bad stays bad, unverified stays unverified
    assert [r[checks] for r in after] == [r[checks] for r in before]


def test_no_new_malformed_packets_or_expert_errors(tmp_path, shared_capture, tshark):
    _, out = anonymized(tmp_path, shared_capture)
    assert malformed_frames(str(out)) <= malformed_frames(str(shared_capture))


def test_pure_cryptopan_leaves_no_address_behind(tmp_path, shared_capture, tshark):
    result, out = anonymized(tmp_path, shared_capture, keep="none")
    mapper = AddressMapper(KEY, "none")
    for row in result.mapping:
        original = ipaddress.ip_address(row["original"])
        assert row["anonymized"] == str(ipaddress.ip_address(mapper.anonymize(original.packed)))
        assert row["anonymized"] != row["original"]


def shared(name: str):
    path = SHARED_CAPTURES / name
    if not path.exists():
        missing(str(path))
    return path


def test_same_key_same_mapping_in_a_second_process(tmp_path):
    capture = shared("tls_1_2_single_vlan.pcap")
    result, out = anonymized(tmp_path, capture)
    other, csv_path = tmp_path / "other.pcap", tmp_path / "mapping.csv"
    cmd = [sys.executable, "-m", "pktmask_nb.cli", "run", str(capture), "-o", str(other),
           "--stages", "anonymize", "--key", KEY.hex(), "--mapping-out", str(csv_path), "--no-progress"]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    assert other.read_bytes() == out.read_bytes()
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["original"], r["anonymized"], r["version"], r["packets"]) for r in rows] == [
        (r["original"], r["anonymized"], str(r["version"]), str(r["packets"])) for r in result.mapping
    ]


def test_same_key_same_mapping_across_files(tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    one, _ = anonymized(tmp_path / "a", shared("get.pcap"))
    two, _ = anonymized(tmp_path / "b", shared("http-vlan-0.pcap"))
    first = {r["original"]: r["anonymized"] for r in one.mapping}
    second = {r["original"]: r["anonymized"] for r in two.mapping}
    common = first.keys() & second.keys()
    assert len(common) >= 2
    assert {a: first[a] for a in common} == {a: second[a] for a in common}
    assert len(set(first.values()) | set(second.values())) == len(first.keys() | second.keys())


@pytest.mark.parametrize("name", ["tls_1_2_single_vlan.pcap", "pcapng-multi-interface.pcapng"])
def test_output_and_reports_do_not_depend_on_chunk_size(tmp_path, name):
    capture = shared(name)
    reference, out = anonymized(tmp_path, capture, chunk_size=4096)
    expected = out.read_bytes()

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.integers(1, 100_000))
    def check(chunk_size):
        result, again = anonymized(tmp_path, capture, chunk_size=chunk_size)
        assert again.read_bytes() == expected
        assert result.stages == reference.stages
        assert result.mapping == reference.mapping

    check()


def test_fast_path_and_general_path_agree(shared_capture):
    from pktmask_nb.capture import open_capture
    from pktmask_nb.record import Packet
    from pktmask_nb.stages.anonymize import AnonymizeStage

    results = []
    for fast in (True, False):
        stage = AnonymizeStage(AnonymizeConfig(key=KEY))
        stage.fast_path = fast
        out = []
        with open_capture(shared_capture) as reader:
            while chunk := reader.read_chunk(500):
                out += [bytes(r.data) for r in stage.process(chunk) if r.__class__ is Packet]
        results.append((out, stage.stats(), stage.tables()))
    assert results[0] == results[1]


def test_cli_class_preservation_keeps_private_addresses_private(tmp_path):
    """--anon-preserve-class: every private address of the samples maps to a private one, and
    only private ones do; without it, the same key moves private addresses out."""
    import ipaddress

    def mapping(*extra):
        csv_path = tmp_path / f"mapping{len(extra)}.csv"
        cmd = [sys.executable, "-m", "pktmask_nb.cli", "run", str(DATA), "-o", str(tmp_path / f"out{len(extra)}"),
               "--stages", "anonymize", "--key", KEY.hex(), "--mapping-out", str(csv_path), "-q", *extra]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        with open(csv_path, newline="") as f:
            return [
                (ipaddress.ip_address(r["original"]), ipaddress.ip_address(r["anonymized"])) for r in csv.DictReader(f)
            ]

    networks = [ipaddress.ip_network(n) for n in PRIVATE_IPV4 + PRIVATE_IPV6]

    def is_private(address):
        return any(address in n for n in networks if n.version == address.version)

    preserved = mapping("--anon-preserve-class")
    assert sum(is_private(a) for a, _ in preserved) >= 4
    assert all(is_private(a) == is_private(b) for a, b in preserved)
    plain = mapping()
    assert any(is_private(a) and not is_private(b) for a, b in plain)
