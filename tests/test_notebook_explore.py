"""The capture explorer: per-packet fields against tshark, streaming options, summaries."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal

import pytest

pd = pytest.importorskip("pandas")
nb = pytest.importorskip("pktmask_nb.notebook")

import tshark as ts  # noqa: E402
from conftest import DATA  # noqa: E402

from pktmask_nb.notebook.explore import tcp_flag_letters, vlan_ids  # noqa: E402

README = json.loads((DATA / "README.md").read_text().split("```json")[1].split("```")[0])
CAPTURES = sorted(README)
FIELDS = [
    "frame.number", "frame.len", "frame.cap_len", "frame.time_epoch", "ieee8021ad.id", "vlan.id", "ip.src", "ip.dst",
    "ipv6.src", "ipv6.dst", "arp.src.proto_ipv4", "arp.dst.proto_ipv4", "ip.proto", "ipv6.nxt",
    "tcp.srcport", "tcp.dstport", "tcp.flags", "tcp.len", "tcp.stream", "udp.srcport", "udp.dstport", "udp.length",
]  # fmt: skip


def _first(value: str) -> str:
    return value.split(",")[0]


def _ns(epoch: str) -> int:
    return int(Decimal(epoch) * 1_000_000_000)


@pytest.fixture(scope="module", params=CAPTURES)
def both(request, tshark):
    """(explorer frame, tshark rows by field name) for one sample capture."""
    path = DATA / request.param
    rows = [dict(zip(FIELDS, values)) for values in ts.fields(path, FIELDS)]
    return request.param, nb.capture_frame(path), rows


def test_frame_lengths_times_vlans(both):
    name, df, rows = both
    assert len(df) == len(rows) == README[name]["packets"]
    for row, t in zip(df.itertuples(index=False), rows):
        assert row.frame == int(t["frame.number"])
        assert (row.wirelen, row.caplen) == (int(t["frame.len"]), int(t["frame.cap_len"]))
        assert row.ts_ns == _ns(t["frame.time_epoch"])
        assert row.vlan == ",".join(v for v in (t["ieee8021ad.id"], t["vlan.id"]) if v)  # QinQ: outer tag first


def test_addresses_protocols_ports_flags(both):
    _, df, rows = both
    for row, t in zip(df.itertuples(index=False), rows):
        version = None if pd.isna(row.ip_version) else int(row.ip_version)
        if version == 4:
            assert (row.src, row.dst, row.ip_proto) == (
                _first(t["ip.src"]),
                _first(t["ip.dst"]),
                int(_first(t["ip.proto"])),
            )
        elif version == 6:
            assert (row.src, row.dst) == (_first(t["ipv6.src"]), _first(t["ipv6.dst"]))
        elif row.protocol == "arp":
            assert (row.src, row.dst) == (t["arp.src.proto_ipv4"], t["arp.dst.proto_ipv4"])
        else:
            pytest.fail(f"frame {row.frame}: neither IP nor ARP ({row.protocol})")
        if row.protocol == "tcp":
            assert (row.sport, row.dport) == (int(t["tcp.srcport"]), int(t["tcp.dstport"]))
            assert row.tcp_flags == int(t["tcp.flags"], 16)
            assert row.payload_len == int(t["tcp.len"])
        elif row.protocol == "udp":
            assert (row.sport, row.dport) == (int(t["udp.srcport"]), int(t["udp.dstport"]))
            assert row.payload_len == int(t["udp.length"]) - 8
        else:
            assert pd.isna(row.sport) and pd.isna(row.tcp_flags)


def test_flow_numbers_match_tcp_streams(both):
    name, df, rows = both
    pairs = {(row.flow, t["tcp.stream"]) for row, t in zip(df.itertuples(), rows) if row.protocol == "tcp"}
    flows, streams = {f for f, _ in pairs}, {s for _, s in pairs}
    assert len(pairs) == len(flows) == len(streams)  # one flow per TCP stream, one stream per flow
    assert len(streams) == len(README[name].get("tcp_streams", [])) or name == "duplicates.pcap"
    assert (df["flow"] == -1).sum() == (df["protocol"] == "arp").sum()


def test_flow_summary_counts_tcp_stream_packets(both):
    name, df, _ = both
    flows = nb.flow_summary(df)
    tcp = flows[flows["protocol"] == "tcp"].sort_values("first_time")
    for stream, flow in zip(README[name].get("tcp_streams", []), tcp.itertuples()):
        assert flow.packets == stream["packets"]
        assert f"{flow.src}:{flow.sport}" == stream["client"] or f"[{flow.src}]:{flow.sport}" == stream["client"]
    assert flows["packets"].sum() == (df["flow"] >= 0).sum()
    assert flows["bytes"].sum() == df.loc[df["flow"] >= 0, "wirelen"].sum()


def test_protocol_mix_and_talkers_add_up():
    df = nb.capture_frame(DATA / "vlan_ipv6.pcap")
    mix = nb.protocol_mix(df)
    facts = README["vlan_ipv6.pcap"]
    assert mix.loc["arp", "packets"] == facts["arp"] and mix.loc["icmp", "packets"] == facts["icmp_errors"]
    assert mix["packets"].sum() == len(df) and mix["bytes"].sum() == df["wirelen"].sum()
    assert mix["packet_share"].sum() == pytest.approx(1.0)
    talkers = nb.top_talkers(df, 100)
    assert talkers["packets_sent"].sum() == talkers["packets_received"].sum() == len(df)
    assert talkers["bytes_sent"].sum() == df["wirelen"].sum()
    assert talkers["bytes"].is_monotonic_decreasing
    assert len(nb.top_talkers(df, 3)) == 3


def test_two_interfaces_keep_their_link_types():
    df = nb.capture_frame(DATA / "two_interfaces.pcapng")
    facts = README["two_interfaces.pcapng"]
    counts = df["linktype"].value_counts()
    for interface, packets in zip(facts["interfaces"], facts["packets_per_interface"]):
        assert counts[interface["linktype"]] == packets
    assert (df["status"] == "ok").all()


@pytest.mark.parametrize("chunk_size", [1, 5, 4096])
def test_chunking_does_not_change_rows_or_flow_numbers(chunk_size):
    whole = nb.capture_frame(DATA / "duplicates.pcap")
    parts = pd.concat(list(nb.capture_frames(DATA / "duplicates.pcap", chunk_size=chunk_size)), ignore_index=True)
    pd.testing.assert_frame_equal(parts, whole)
    # 265 packets in chunks of 4: per-chunk aggregates are combined after 32 and 64 chunks (FOLD_PARTS) and at the end
    summary = nb.summarize_capture(DATA / "duplicates.pcap", chunk_size=max(chunk_size, 4), top=5)
    assert summary["packets"] == len(whole)
    pd.testing.assert_frame_equal(summary["protocols"], nb.protocol_mix(whole))
    pd.testing.assert_frame_equal(summary["talkers"], nb.top_talkers(whole, 5))
    pd.testing.assert_frame_equal(summary["flows"], nb.flow_summary(whole))


def test_limit_every_query_payload():
    path = DATA / "duplicates.pcap"
    whole = nb.capture_frame(path)
    assert nb.capture_frame(path, limit=5)["frame"].tolist() == [1, 2, 3, 4, 5]
    assert nb.capture_frame(path, limit=0).empty
    sampled = nb.capture_frame(path, every=10)
    assert sampled["frame"].tolist() == list(range(1, 266, 10))
    assert sampled["flow"].tolist() == whole.set_index("frame").loc[sampled["frame"], "flow"].tolist()
    https = nb.capture_frame(path, query="protocol == 'tcp' and dport == 443", limit=4)
    assert len(https) == 4 and (https["dport"] == 443).all()
    assert https["frame"].tolist() == whole.query("protocol == 'tcp' and dport == 443")["frame"].head(4).tolist()
    with_payload = nb.capture_frame(DATA / "tls_http.pcap", payload=True)
    assert (with_payload["payload"].map(len) == with_payload["payload_len"]).all()
    hello = with_payload.query("dport == 443 and payload_len > 0").iloc[0]
    assert hello["payload"][:1] == b"\x16" and hello["payload"][5:6] == b"\x01"  # a TLS handshake: ClientHello


def test_gzip_capture_reads_the_same(tmp_path):
    packed = tmp_path / "tls_http.pcap.gz"
    packed.write_bytes(gzip.compress((DATA / "tls_http.pcap").read_bytes()))
    pd.testing.assert_frame_equal(nb.capture_frame(packed), nb.capture_frame(DATA / "tls_http.pcap"))


def test_helpers():
    assert tcp_flag_letters(0x12) == "SA" and tcp_flag_letters(0x11) == "FA" and tcp_flag_letters(0) == ""
    tagged = bytes(12) + b"\x88\xa8\x01\x2c\x81\x00\x00\x14\x08\x00" + bytes(20)
    assert vlan_ids(tagged, 1) == (300, 20)
    assert vlan_ids(tagged, 101) == ()


def test_reading_stops_at_the_limit(monkeypatch):
    from pktmask_nb.notebook import explore

    reads = []
    real = explore.open_capture

    def counting(path, **kwargs):
        reader = real(path, **kwargs)
        chunk = reader.read_chunk
        reader.read_chunk = lambda n, *rest: reads.append(n) or chunk(n, *rest)
        return reader

    monkeypatch.setattr(explore, "open_capture", counting)
    monkeypatch.setattr(explore, "EXPLORE_CHUNK_PACKETS", 16)
    assert len(nb.capture_frame(DATA / "duplicates.pcap", limit=20)) == 20
    assert reads == [16, 16]  # two chunks of 16 packets read out of 265
    reads.clear()
    frames = nb.capture_frames(DATA / "duplicates.pcap", chunk_size=50)
    assert len(next(frames)) == 50 and reads == [50]  # a generator: one chunk at a time
    frames.close()
