"""The synthetic capture generator (SPEC §9): deterministic, sized, valid, with the duplicates it claims."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from tshark import CHECKSUM_PREFS, fields

import pktmask_nb
from pktmask_nb import Config, UsageError
from pktmask_nb.bench import generate
from pktmask_nb.bench.generate import TrafficMix, cached_capture, generate_capture
from pktmask_nb.bench.replay import corpus_fingerprint, replay_capture

SMALL = 300_000
TSHARK_SIZE = 2_000_000
MAX_RECORD = 1518 + 32  # largest frame (VLAN-tagged) plus a pcapng EPB's overhead
BAD_OR_MALFORMED = (
    'ip.checksum.status=="Bad" || tcp.checksum.status=="Bad" || udp.checksum.status=="Bad" || _ws.malformed'
)


def pcap_frames(path) -> list[bytes]:
    """The frames of a little-endian pcap, read independently of the package."""
    data = Path(path).read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1"
    frames, pos = [], 24
    while pos < len(data):
        _, _, caplen, wirelen = struct.unpack_from("<IIII", data, pos)
        assert caplen == wirelen
        frames.append(data[pos + 16 : pos + 16 + caplen])
        pos += 16 + caplen
    assert pos == len(data)
    return frames


def word_sum(data: bytes) -> int:
    """One's-complement sum of 16-bit words, folded: 0xFFFF over data that holds a correct checksum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def check_frame(frame: bytes) -> tuple[bool, int, int, int]:
    """Verify the IPv4 header and TCP/UDP checksums; returns ``(vlan, ip version, protocol, port)``.

    `port` is the lower of the two ports (the service's).
    """
    offset, ethertype, vlan = 14, struct.unpack_from("!H", frame, 12)[0], False
    while ethertype == 0x8100:
        ethertype, offset, vlan = struct.unpack_from("!H", frame, offset + 2)[0], offset + 4, True
    ip = frame[offset:]
    if ethertype == 0x0800:
        ihl, total, protocol = (ip[0] & 0x0F) * 4, struct.unpack_from("!H", ip, 2)[0], ip[9]
        assert word_sum(ip[:ihl]) == 0xFFFF, "IPv4 header checksum"
        l4, pseudo = ip[ihl:total], ip[12:20] + struct.pack("!BBH", 0, protocol, total - ihl)
    else:
        assert ethertype == 0x86DD
        length, protocol = struct.unpack_from("!HB", ip, 4)
        l4, pseudo = ip[40 : 40 + length], ip[8:40] + struct.pack("!I3xB", length, protocol)
    assert ip.endswith(l4) and protocol in (6, 17), "the IP datagram fills the frame"
    assert word_sum(pseudo + l4) == 0xFFFF, "TCP/UDP checksum"
    return vlan, ip[0] >> 4, protocol, min(struct.unpack_from("!HH", l4))


def duplicates_of_recent(frames: list[bytes], recent: int = 8) -> int:
    """Frames equal to an earlier frame; each must equal one of the `recent` frames before it."""
    seen, count = set(), 0
    for i, frame in enumerate(frames):
        if frame in seen:
            assert frame in frames[max(0, i - recent) : i], f"frame {i + 1} repeats an old frame"
            count += 1
        seen.add(frame)
    return count


@pytest.fixture(scope="module")
def two_mb(tmp_path_factory):
    path = tmp_path_factory.mktemp("generated") / "two_mb.pcap"
    return path, generate_capture(path, TSHARK_SIZE, seed=5)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, fmt):
    paths = [tmp_path / f"{name}.{fmt}" for name in ("a", "b", "c")]
    for path, seed in zip(paths, (11, 11, 12)):
        generate_capture(path, SMALL, seed=seed, fmt=fmt)
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b
    assert a != c


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("size", [50_000, 777_777])
def test_requested_size_reached_within_one_frame(tmp_path, fmt, size):
    path = tmp_path / f"sized.{fmt}"
    counts = generate_capture(path, size, seed=1, fmt=fmt)
    actual = path.stat().st_size
    assert counts["bytes"] == actual
    assert size <= actual <= size + 2 * MAX_RECORD  # the last frame and its duplicate


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25])
def test_duplicate_fraction_is_as_requested_and_reported(tmp_path, fraction):
    path = tmp_path / "dups.pcap"
    counts = generate_capture(path, 1_500_000, seed=2, mix=TrafficMix(duplicate_fraction=fraction))
    frames = pcap_frames(path)
    duplicates = duplicates_of_recent(frames)
    assert len(frames) == counts["packets"]
    assert duplicates == counts["duplicates"]  # no accidental repeats among the other frames
    assert abs(duplicates / len(frames) - fraction) < 0.025


def test_every_checksum_is_correct_and_the_mix_is_present(two_mb):
    path, counts = two_mb
    kinds = [check_frame(frame) for frame in pcap_frames(path)]
    assert len(kinds) == counts["packets"]
    assert any(vlan for vlan, *_ in kinds)
    assert {version for _, version, _, _ in kinds} == {4, 6}
    services = {(protocol, port) for _, _, protocol, port in kinds}
    assert {(6, 443), (6, 80), (17, 53)} <= services
    assert counts["tcp_flows"] > 100 and counts["dns_exchanges"] > 50


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_the_package_reads_every_packet(tmp_path, fmt):
    path = tmp_path / f"read.{fmt}"
    counts = generate_capture(path, 1_000_000, seed=3, fmt=fmt)
    result = pktmask_nb.run(path, None, Config(stages=()))
    assert result.format == fmt
    assert result.packets_in == counts["packets"]
    assert result.bytes_read == counts["bytes"]


def test_tshark_finds_no_bad_checksum_and_nothing_malformed(two_mb, tshark):
    path, counts = two_mb
    assert fields(path, ["frame.number"], display_filter=BAD_OR_MALFORMED, prefs=CHECKSUM_PREFS) == []
    assert len(fields(path, ["frame.number"])) == counts["packets"]


def test_tshark_recognises_tls_records_on_port_443(two_mb, tshark):
    path, _ = two_mb
    rows = fields(path, ["tcp.port", "tls.record.content_type"], display_filter="tls")
    assert rows and all("443" in ports.split(",") for ports, _ in rows)
    content_types = {t for _, types in rows for t in types.split(",") if t}
    assert {"20", "22", "23"} <= content_types
    http = fields(path, ["http.request.method"], display_filter="http.request")
    assert {"GET", "POST"} <= {method for (method,) in http}


def test_pcapng_is_valid_for_tshark(tmp_path, tshark):
    path = tmp_path / "small.pcapng"
    counts = generate_capture(path, SMALL, seed=4, fmt="pcapng")
    assert fields(path, ["frame.number"], display_filter=BAD_OR_MALFORMED, prefs=CHECKSUM_PREFS) == []
    assert len(fields(path, ["frame.number"])) == counts["packets"]


def test_cached_capture_is_reused_and_regenerated_when_stale(tmp_path, monkeypatch):
    monkeypatch.setitem(generate.SIZE_LABELS, "10MB", SMALL)  # keep the test fast
    path = cached_capture(tmp_path, "10MB", seed=3)
    sidecar = path.with_name(path.name + ".json")
    recorded = json.loads(sidecar.read_text())
    assert recorded["seed"] == 3 and recorded["bytes"] == path.stat().st_size >= SMALL
    first = path.stat().st_mtime_ns
    assert cached_capture(tmp_path, "10MB", seed=3) == path and path.stat().st_mtime_ns == first

    sidecar.write_text(json.dumps({**recorded, "generator_version": -1}))
    assert cached_capture(tmp_path, "10MB", seed=3) == path and path.stat().st_mtime_ns != first
    with open(path, "r+b") as f:
        f.truncate(1000)
    cached_capture(tmp_path, "10MB", seed=3)
    assert path.stat().st_size == recorded["bytes"]
    assert cached_capture(tmp_path, "10MB", seed=4) != path


@pytest.mark.parametrize(
    "call",
    [
        lambda p: generate_capture(p, 1000, fmt="erf"),
        lambda p: generate_capture(p, 0),
        lambda p: cached_capture(p, "5MB"),
    ],
    ids=["format", "size", "label"],
)
def test_bad_arguments_are_usage_errors(tmp_path, call):
    with pytest.raises(UsageError):
        call(tmp_path / "x.pcap")


# -- the realistic mix: real captures replayed ---------------------------------------------------


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    """A corpus (a generated capture with valid checksums, and multicast and fragmented frames
    from scapy) and 600 kB of it replayed."""
    from scapy.layers.inet import IP, UDP, fragment
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    corpus = tmp_path_factory.mktemp("corpus")
    generate_capture(corpus / "a.pcap", 60_000, seed=9)
    extra = [Ether() / IP(src="10.1.2.3", dst="224.0.0.251") / UDP(sport=40000, dport=9) / (b"m" * 40)]
    extra += [Ether() / f for f in fragment(IP(src="10.1.2.3", dst="10.9.8.7") / UDP(sport=1, dport=2) / (b"f" * 3000))]
    wrpcap(str(corpus / "b.pcap"), extra)
    path = tmp_path_factory.mktemp("replayed") / "r.pcap"
    counts = replay_capture(path, 600_000, corpus, seed=1)
    return corpus, path, counts


def test_replayed_frames_keep_valid_checksums(replayed, tshark):
    _, path, counts = replayed
    assert fields(path, ["frame.number"], display_filter=BAD_OR_MALFORMED, prefs=CHECKSUM_PREFS) == []
    assert len(fields(path, ["frame.number"])) == counts["packets"] and counts["repetitions"] > 8


def tcp_flows(path) -> set:
    return {tuple(row) for row in fields(path, ["ip.src", "ip.dst", "tcp.srcport", "tcp.dstport"], display_filter="tcp && ip")}  # fmt: skip


def answered(flows: set) -> float:
    """The share of flows whose other direction is there too."""
    return sum((dst, src, dport, sport) in flows for src, dst, sport, dport in flows) / len(flows)


def test_replayed_flows_are_shifted_apart_and_both_directions_meet(replayed, tshark):
    corpus, path, _ = replayed
    flows, original = tcp_flows(path), tcp_flows(corpus / "a.pcap")
    assert len(flows) > 2 * len(original) and {dport for *_, dport in flows} >= {"443", "80"}
    # a host is shifted alike as source and destination (players cut at the end lose a few answers)
    assert answered(flows) > answered(original) - 0.05 > 0.5
    multicast = fields(path, ["ip.dst"], display_filter="udp.dstport == 9")
    assert multicast and {d for (d,) in multicast} == {"224.0.0.251"}  # never shifted


def test_replayed_duplicates_and_timestamps(replayed):
    _, path, counts = replayed
    data = Path(path).read_bytes()
    pos, last, previous, copies = 24, -1, None, 0
    while pos < len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, pos)
        ts, frame = sec * 1_000_000 + usec, data[pos + 16 : pos + 16 + caplen]
        assert ts > last
        if ts == last + 1:
            assert frame == previous  # a copy, 1 µs after its original
            copies += 1
        last, previous, pos = ts, frame, pos + 16 + caplen
    assert copies == counts["duplicates"] and 0.07 < copies / counts["packets"] < 0.13


def test_replay_is_deterministic_and_cached_by_corpus(replayed, tmp_path):
    corpus, path, _ = replayed
    again = tmp_path / "again.pcap"
    replay_capture(again, 600_000, corpus, seed=1)
    assert again.read_bytes() == Path(path).read_bytes()
    cached = cached_capture(tmp_path / "cache", "1MB", mix="realistic", corpus=corpus)
    sidecar = json.loads(cached.with_name(cached.name + ".json").read_text())
    assert cached.name == "realistic-1MB-seed0.pcap" and sidecar["corpus"] == corpus_fingerprint(corpus)
    with pytest.raises(UsageError, match="no corpus of real captures"):
        cached_capture(tmp_path / "cache", "1MB", mix="realistic", corpus=tmp_path / "nowhere")


def test_the_bench_replays_the_shared_captures_by_default():
    from conftest import SHARED_CAPTURES, missing

    from pktmask_nb.bench.suite import BenchOptions, default_corpus

    if not SHARED_CAPTURES.is_dir():
        missing(str(SHARED_CAPTURES))
    options = BenchOptions()
    assert options.mix == "realistic" and default_corpus().resolve() == SHARED_CAPTURES.resolve()
