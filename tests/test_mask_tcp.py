"""Crafted edge cases for mask: TCP sequence space, TLS records across segments, encapsulations."""

from __future__ import annotations

import craft
import mask_model
import pytest
from conftest import DATA
from craft import Flow, app_data, handshake, record
from scapy.layers.inet import IP, TCP, fragment
from scapy.layers.l2 import Ether
from scapy.packet import Raw

import pktmask_nb
from pktmask_nb import Config
from pktmask_nb.config import MaskConfig
from pktmask_nb.record import Packet
from pktmask_nb.stages.mask import MaskStage
from pktmask_nb.stages.mask.stream import KEEP_MAX_INTERVALS


def mask_frames(frames: list[bytes], chunk_size: int = 1000, linktype: int = 1, **options):
    """Run the mask stage on raw frames; returns (output frames, stage)."""
    stage = MaskStage(MaskConfig(**options))
    packets = [
        Packet(i + 1, 1_700_000_000_000_000_000 + i * 1_000_000, f, len(f), linktype, b"") for i, f in enumerate(frames)
    ]
    out = []
    for i in range(0, len(packets), chunk_size):
        out += stage.process(packets[i : i + chunk_size])
    out += stage.flush()
    assert [p.index for p in out] == [p.index for p in packets], "order or count changed"
    return [bytes(p.data) for p in out], stage


def check(frames: list[bytes], out: list[bytes], stage, exact: bool = True, linktype: int = 1) -> dict:
    """No leak against the ideal model; over-masking only where the stage counted fail-closed bytes."""
    ins = [(f, linktype) for f in frames]
    found = mask_model.compare(ins, [(f, linktype) for f in out], mask_model.expected(ins))
    assert found["leaks"] == [], found["leaks"][:10]
    assert found["corrupt"] == [], found["corrupt"][:10]
    if exact:
        assert found["over"] == {}, found["over"]
    failed = sum(row["fail_closed_bytes"] for row in stage.tables()["flows"])
    assert sum(found["over"].values()) <= failed
    return found


def payload(frame: bytes) -> bytes:
    return bytes(Ether(frame)[TCP].payload)


TLS = handshake(300) + record(20, b"\x01") + app_data(400) + handshake(50, kind=4) + app_data(1000)


def test_in_order_records_kept_app_data_zeroed():
    f = Flow()
    frames = f.handshake() + f.stream(True, TLS, [700, 700])
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    stream = b"".join(payload(o) for o in out[3:])
    assert stream[: len(handshake(300)) + 6] == TLS[: len(handshake(300)) + 6]
    body_at = len(handshake(300)) + 6 + 5
    assert stream[body_at : body_at + 400] == bytes(400)
    rows = stage.tables()["flows"]
    assert rows[0]["protocol"] == "tls" and rows[0]["tls_application_data"] == 2 and rows[0]["tls_handshake"] == 2


@pytest.mark.parametrize("cut", [1, 2, 3, 4])
def test_header_split_across_segments(cut):
    """An app-data header split cut+(5-cut): the first part waits for the second (held, not guessed)."""
    f = Flow()
    head = handshake(100)
    data = head + app_data(200) + app_data(50)
    frames = f.handshake() + f.stream(True, data, [len(head) + cut])
    out, stage = mask_frames(frames, chunk_size=1)
    check(frames, out, stage)
    assert stage.stats()["packets_held"] >= 1
    assert payload(out[3])[-cut:] == data[len(head) : len(head) + cut]  # header bytes kept


def test_record_over_many_segments_and_several_per_segment():
    f = Flow()
    data = handshake(3000) + app_data(5000) + b"".join(app_data(20) for _ in range(30)) + handshake(10)
    frames = f.handshake() + f.stream(True, data, [1000] * 20)
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert stage.stats()["fail_closed_events"] == 0


def test_sequence_wrap_inside_a_record():
    f = Flow(isn=(2**32 - 700, 5000))
    frames = f.handshake() + f.stream(True, TLS, [300, 300, 300])
    out, stage = mask_frames(frames)
    check(frames, out, stage)


def test_out_of_order_held_then_released_in_input_order():
    f = Flow()
    segs = f.stream(True, TLS, [500, 500, 500])
    frames = f.handshake() + [segs[1], segs[3], segs[0], segs[2]]
    out, stage = mask_frames(frames, chunk_size=1)
    check(frames, out, stage)
    assert stage.stats()["packets_held"] >= 2


def test_retransmission_with_other_segmentation_gets_same_decisions():
    f = Flow()
    first = f.stream(True, TLS, [600, 600])
    again = f.stream(True, TLS, [250, 250, 250, 250, 250])
    frames = f.handshake() + first + again
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert b"".join(payload(o) for o in out[3 : 3 + len(first)]) == b"".join(payload(o) for o in out[3 + len(first) :])


def test_partial_overlap_first_copy_wins():
    """A later copy claims a handshake where the first copy had app data: the first copy decides."""
    f = Flow()
    head = handshake(100)
    real = head + app_data(600)
    fake = head + handshake(595)  # same length, different bytes from the record header on
    frames = f.handshake() + [
        f.frame(True, real[:400], seq=0),
        f.frame(True, fake[300:], seq=300),
        f.frame(True, real[400:], seq=400),
    ]
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert payload(out[4]) == bytes(len(fake) - 300)  # app-data body in the first copy: zeroed


def test_mid_stream_start_needs_a_chain_of_two_headers_at_segment_starts():
    """SPEC §6: joined mid-stream, TLS starts only where a record ends exactly at the start of
    the next segment, which holds a valid header too; bytes before are zero."""
    f = Flow()
    chain = [f.frame(True, craft.random_bytes(120, 1), seq=9_880)]  # the end of an earlier record
    chain += f.stream(True, app_data(300) + handshake(40), [305], start=10_000)
    g = Flow(client=("10.0.0.3", 40001))
    one_segment = [g.frame(True, app_data(300) + handshake(40), seq=10_000)]  # both in one segment: not a chain
    h = Flow(client=("10.0.0.4", 40002))
    inside = h.stream(True, craft.random_bytes(700, 3), [350], start=10_000)
    frames = chain + one_segment + inside
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert payload(out[0]) == bytes(120)
    assert payload(out[1]) == app_data(300)[:5] + bytes(300) and payload(out[2]) == handshake(40)
    assert payload(out[3]) == bytes(len(app_data(300) + handshake(40)))
    assert payload(out[4]) == bytes(350) and payload(out[5]) == bytes(350)


def test_lost_segment_zeroes_the_rest_and_counts_it():
    f = Flow()
    segs = f.stream(True, TLS, [400, 400, 400])
    frames = f.handshake() + [segs[0], segs[2], segs[3]]  # segs[1] never comes
    out, stage = mask_frames(frames)
    check(frames, out, stage)  # the model stops at the gap too
    assert stage.stats()["fail_closed"]["gap"] >= 1
    assert payload(out[4]) == bytes(len(payload(out[4])))


def test_hold_window_overflow_fails_closed():
    f = Flow()
    segs = f.stream(True, handshake(2000), [100] * 25)
    frames = f.handshake() + segs[1:] + [segs[0]]  # the first segment comes last
    out, stage = mask_frames(frames, max_held_packets=5)
    check(frames, out, stage, exact=False)
    stats = stage.stats()
    assert stats["fail_closed"]["gap"] >= 1 and stats["max_held_packets"] <= 6


def test_ipv6():
    f = Flow(client=("2001:db8::1", 40000), server=("2001:db8::2", 443), v6=True)
    frames = f.handshake() + f.stream(True, TLS, [800]) + f.stream(False, TLS, [900])
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert payload(out[3]) != bytes(len(payload(out[3])))


def remembering_flows(n: int) -> tuple[list[bytes], list[Flow]]:
    """`n` flows, each: a handshake, a client record the server acknowledges, a (smaller) server
    record it does not (yet)."""
    flows = [Flow(client=(f"10.3.{i // 250}.{i % 250 + 1}", 41000 + i)) for i in range(n)]
    frames = []
    for f in flows:
        frames += f.handshake()
        frames.append(f.frame(True, TLS_REMEMBERED, seq=0))
        frames.append(f.frame(False, SERVER_HELLO, seq=0, ack=len(TLS_REMEMBERED)))
    return frames, flows


TLS_REMEMBERED = handshake(300) + app_data(100)
SERVER_HELLO = handshake(40, kind=2)


@pytest.mark.parametrize("chunk_size", [1, 7, 1000])
def test_remembered_bytes_stay_bounded_acknowledged_ones_forgotten_first(chunk_size):
    # A live TCP flow remembers the bytes it kept, to keep a retransmission's copy only where it
    # equals the first; over `max_remembered_bytes` the least recently used flows forget, what
    # the other side acknowledged first. A later copy of forgotten bytes is zeroed and counted.
    frames, flows = remembering_flows(40)
    old, recent = flows[0], flows[-1]
    again = [old.frame(True, TLS_REMEMBERED, seq=0), recent.frame(True, TLS_REMEMBERED, seq=0)]
    unacknowledged = [old.frame(False, SERVER_HELLO, seq=0)]
    frames += again + unacknowledged
    limit = 8000
    out, stage = mask_frames(frames, chunk_size=chunk_size, max_remembered_bytes=limit)
    check(frames, out, stage, exact=False)
    assert stage._remembered.used <= limit
    old_copy, recent_copy, server_copy = (payload(o) for o in out[-3:])
    assert old_copy == bytes(len(TLS_REMEMBERED))  # acknowledged, forgotten: zeroed
    assert recent_copy == payload(out[5 * len(flows) - 2])  # remembered: decided as its first copy
    assert recent_copy[:310] == TLS_REMEMBERED[:310]
    assert server_copy == SERVER_HELLO  # not acknowledged: the old flow still remembers it
    assert stage.stats()["fail_closed"]["forgotten"] == 1
    reference, _ = mask_frames(frames, chunk_size=1, max_remembered_bytes=limit)
    assert out == reference


def test_without_memory_pressure_an_acknowledged_retransmission_keeps_its_bytes():
    frames, flows = remembering_flows(40)
    frames.append(flows[0].frame(True, TLS_REMEMBERED, seq=0))
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert payload(out[-1]) == payload(out[3]) and payload(out[3])[:310] == TLS_REMEMBERED[:310]
    assert stage._remembered.used == 0  # the flows ended with the input: nothing is remembered


def test_keeps_count_the_bytes_they_remember_until_they_go():
    from pktmask_nb.stages.mask.keeps import Keeps, Remembered

    remembered = Remembered()
    keeps = Keeps(remembered)
    keeps.add(0, 10, "tls-record-header", b"a" * 10)
    keeps.add(20, 25, "tls-handshake", b"b" * 5)
    keeps.add(25, 30, "tls-record-header", b"c" * 5)
    assert remembered.used == 20
    assert keeps.drop_until(19) == 10 and remembered.used == 10 and len(keeps) == 2
    assert keeps.drop_until(24) == -1
    b = keeps.bounds
    intervals = [[b[i], b[i + 1], b[i + 2] >> 8] for i in range(0, len(b), 3)]  # start, end, where its bytes are
    assert intervals == [[20, 25, 0], [25, 30, 5]] and keeps.data == b"bbbbbccccc"
    other = Keeps(remembered)
    other.add(5, 9, "tls-handshake", b"dddd")
    assert remembered.used == 14
    del keeps
    assert remembered.used == 4
    assert other.drop_until(100) == 9 and remembered.used == 0 and len(other) == 0


def test_a_direction_that_forgot_everything_it_kept_gives_its_keeps_back():
    """Most directions keep nothing or forgot it (the remembered bytes are capped): they share
    one empty `Keeps` instead of holding their own."""
    d = _direction_after(craft.handshake(40))
    assert len(d.keeps) == 2 and d.remembered is None
    nothing = _direction_after(b"")
    assert not nothing.keeps and nothing.keeps is _direction_after(b"GET").keeps
    d.forget(10)  # below the record's end: the header's interval goes, the body's stays
    assert len(d.keeps) == 1 and d.keeps is not nothing.keeps
    d.forget(d.next)
    assert d.keeps is nothing.keeps and d.forgotten == d.next


@pytest.mark.parametrize("kind", ["vlan", "qinq", "mpls", "pppoe", "vxlan", "gre", "ipip"])
@pytest.mark.parametrize("v6", [False, True])
def test_encapsulations(kind, v6):
    ends = (("2001:db8::1", 40000), ("2001:db8::2", 443)) if v6 else (("10.0.0.1", 40000), ("10.0.0.2", 443))
    f = Flow(*ends, v6=v6, wrap=craft.encapsulation(kind))
    frames = f.handshake() + f.stream(True, TLS, [700]) + f.stream(False, TLS, [1000])
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert stage.stats()["payload_bytes_kept"] > 0
    assert stage.stats()["tls_records"]["application_data"] == 4


@pytest.mark.parametrize("kind", ["vxlan", "gre", "ipip"])
def test_tunnel_with_same_outer_addresses_both_ways(kind):
    """A mirror tunnel: both directions inside carry the same outer addresses; they still meet as one flow."""
    f = Flow(wrap=craft.encapsulation(kind, mirrored=True))
    frames = f.handshake() + f.stream(True, TLS, [700]) + f.stream(False, TLS, [600, 600])
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    rows = stage.tables()["flows"]
    assert len(rows) == 1 and rows[0]["protocol"] == "tls" and rows[0]["src"] == "10.0.0.1"


def test_same_inner_flow_in_two_tunnels_is_two_flows():
    a = Flow(wrap=craft.encapsulation("gre"))
    b = Flow(wrap=lambda p, c: Ether() / IP(src="198.51.100.1", dst="198.51.100.2") / craft.GRE() / p)
    frames = a.handshake() + b.handshake() + a.stream(True, TLS, [700]) + b.stream(True, app_data(900), [])
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert len(stage.tables()["flows"]) == 2


def test_ip_fragments_are_zeroed_and_counted():
    f = Flow()
    segment = (
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=443, seq=1001, flags="PA") / Raw(TLS)
    )
    frags = [bytes(Ether() / p) for p in fragment(segment[IP], fragsize=400)]
    frames = f.handshake() + frags
    out, stage = mask_frames(frames)
    check(frames, out, stage, exact=False)
    assert stage.stats()["fragments"] == len(frags)
    assert stage.stats()["checksums_not_updated"] == 1  # the first fragment's TCP checksum sums the others
    for o in out[3:]:
        ip = Ether(o)[IP]
        start = 20 + (20 if ip.frag == 0 else 0)
        assert bytes(ip)[start:] == bytes(len(bytes(ip)) - start)


def test_many_concurrent_flows_interleaved_and_evicted():
    flows = [Flow(client=(f"10.1.{i // 250}.{i % 250 + 1}", 40000 + i % 1000)) for i in range(600)]
    frames = []
    for step in range(3):
        for f in flows:
            frames += (
                f.handshake()
                if step == 0
                else f.stream(True, TLS, [len(TLS)])
                if step == 1
                else [f.frame(False, app_data(30))]
            )
    out, stage = mask_frames(frames, chunk_size=257, max_flows=400)
    check(frames, out, stage, exact=False)
    stats = stage.stats()
    assert stats["flows_live"] <= 400 and stats["flows_evicted"]["lru"] > 0


@pytest.mark.parametrize("kind", ["vlan", "qinq", "mpls", "pppoe", "vxlan", "gre", "ipip"])
def test_encapsulations_tshark_agrees(kind, tmp_path, tshark):
    """tshark: same TLS records, same checksum verdicts (outer UDP/GRE too), no new malformed frames."""
    import tshark as ts

    f = Flow(wrap=craft.encapsulation(kind))
    frames = f.handshake() + f.stream(True, TLS, [700]) + f.stream(False, TLS, [1000])
    out, _ = mask_frames(frames)
    a, b = craft.write(tmp_path / "in.pcap", frames), craft.write(tmp_path / "out.pcap", out)
    fields = [
        "tls.record.content_type",
        "tls.record.length",
        "ip.checksum.status",
        "tcp.checksum.status",
        "udp.checksum.status",
    ]
    assert ts.fields(b, fields, prefs=ts.CHECKSUM_PREFS) == ts.fields(a, fields, prefs=ts.CHECKSUM_PREFS)
    assert ts.count(b, "tls.record") >= 2 and ts.malformed(b) <= ts.malformed(a)


def test_flows_expire_on_idle_and_after_close():
    a, b, c = Flow(), Flow(client=("10.0.0.3", 40001)), Flow(client=("10.0.0.4", 40002))
    second = 1_000_000_000
    timeline = [
        (0, a.handshake()[0]),
        (0, b.handshake()[0]),
        (1 * second, b.frame(False, flags="R")),  # b is reset: it goes after the close linger
        (20 * second, c.handshake()[0]),
        (310 * second, c.frame(True, handshake(20))),  # a has been idle for 310 s > 300 s, c for 290 s
    ]
    stage = MaskStage(MaskConfig(idle_timeout=300))
    stage.process([Packet(i + 1, ts, f, len(f), 1, b"") for i, (ts, f) in enumerate(timeline)])
    assert stage.stats()["flows_evicted"] == {"idle": 1, "closed": 1, "lru": 0}
    assert [r["src"] for r in stage.tables()["flows"]] == ["10.0.0.3", "10.0.0.1", "10.0.0.4"]


def test_a_segment_with_more_records_than_a_direction_remembers_keeps_every_header():
    """A large (GRO/TSO) segment can carry more records than a direction remembers for
    retransmissions (KEEP_MAX_INTERVALS): forgetting old decisions must not reach its own."""
    f = Flow()
    stream = handshake(100) + app_data(20) * (2 * KEEP_MAX_INTERVALS + 5)
    frames = f.handshake() + f.stream(True, stream, [len(stream)])
    out, stage = mask_frames(frames)
    check(frames, out, stage)  # exact: every header kept
    assert stage.stats()["fail_closed_events"] == 0


def test_a_held_segment_keeps_its_decisions_while_later_segments_add_many():
    """A segment ending inside a record header waits for the next one; when that one brings
    more records than a direction remembers, the waiting segment's decisions still hold."""
    f = Flow()
    stream = handshake(100) + app_data(20) * (2 * KEEP_MAX_INTERVALS + 5)
    cut = len(handshake(100)) + 2
    frames = f.handshake() + f.stream(True, stream, [cut, len(stream) - cut])
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert stage.stats()["packets_held"] == 1 and stage.stats()["fail_closed_events"] == 0
    assert stage.stats()["packets"] == len(frames)


@pytest.mark.parametrize("chunk_size", [1, 3, 4096])
def test_the_packet_count_leaves_out_container_blocks(tmp_path, chunk_size):
    config = Config(stages=("mask",), chunk_size=chunk_size, processes=1)
    result = pktmask_nb.run(DATA / "two_interfaces.pcapng", tmp_path / "out.pcapng", config)
    assert result.stages["mask"]["packets"] == result.packets_in > 0


def _direction_after(stream: bytes):
    """A client direction that has read `stream` from its start (ISN 999, so stream offset 0 is seq 1000)."""
    from pktmask_nb.stages.mask.detect import StartWalker
    from pktmask_nb.stages.mask.flows import Flow as FlowState
    from pktmask_nb.stages.mask.frames import flow_key
    from pktmask_nb.stages.mask.stream import Direction

    events = dict.fromkeys(("gap", "desync", "before_start", "forgotten", "fragment", "error", "truncated"), 0)
    flow = FlowState(6, 0, flow_key(6, b"", b"\1" * 4 + b"\0\1", b"\2" * 4 + b"\1\xbb")[0], 0, events)
    d = Direction(flow, True, StartWalker())
    d.place(999, 1, b"", 0, 0)  # the SYN
    d.place(1000, 0, stream, 0, len(stream))
    return d


def test_udp_flows_expire_after_their_own_idle_timeout_without_changing_the_output():
    """A DNS-like UDP flow is forgotten after udp_idle_timeout while a TCP flow idle as long
    stays; a UDP datagram decides alone, so the bytes are those of a run that never forgets."""
    a = Flow()
    second = 1_000_000_000
    timeline = [
        (0, a.handshake()[0]),
        (0, craft.udp_frame(craft.dtls_handshake(1, 29), src=("10.0.0.7", 5353), dst=("10.0.0.8", 53))),
        (1 * second, craft.udp_frame(b"\x12" * 30, src=("10.0.0.8", 53), dst=("10.0.0.7", 5353))),
        (70 * second, craft.udp_frame(b"\x34" * 30, src=("10.0.0.9", 5353), dst=("10.0.0.8", 53))),  # ticks: 69 s idle
        (71 * second, craft.udp_frame(b"\x56" * 30, src=("10.0.0.8", 53), dst=("10.0.0.7", 5353))),  # a new flow row
        (72 * second, a.frame(True, handshake(20))),  # the TCP flow (idle 72 s) is still known
    ]
    outputs = []
    for udp_idle in (60, 300):
        stage = MaskStage(MaskConfig(udp_idle_timeout=udp_idle))
        packets = [Packet(i + 1, ts, f, len(f), 1, b"") for i, (ts, f) in enumerate(timeline)]
        done = stage.process(packets) + stage.flush()
        outputs.append([bytes(p.data) for p in done])
        stats = stage.stats()
        if udp_idle == 60:  # only the first UDP flow goes, though the older TCP flow heads the LRU order
            assert stats["flows_evicted"]["idle"] == 1 and stats["flows"] == 4
        else:
            assert stats["flows_evicted"]["idle"] == 0 and stats["flows"] == 3
    assert outputs[0] == outputs[1]


# A stream joined mid-way whose first record header is cut by its segment's end (found by
# test_small_hold_windows_never_leak): an alert in segments of 2 and 5 bytes, then a handshake.
SPLIT_HEADER = [
    bytes.fromhex("0200000000020200000000010800450000" "2a000100004006 5dbb0a0000010a0909099c4001bb000003e90000000150182000bbcf0000".replace(" ", "")) + b"\x15\x03",
    bytes.fromhex("02000000000202000000000108004500002d0001000040065db80a0000010a0909099c4001bb000003eb0000000150182000a3cb0000") + b"\x03\x00\x02\x02\x28",
    bytes.fromhex("020000000002020000000001080045000059000100004006 5d8c0a0000010a0909099c4001bb000003f00000000150182000 6fb80000".replace(" ", "")) + b"\x16\x03\x03\x00\x2c\x01\x00\x00\x28" + b"ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGHIJKLMN",
]  # fmt: skip


def test_a_mid_stream_record_header_cut_by_its_segment_is_still_a_candidate():
    out, stage = mask_frames(SPLIT_HEADER)
    check(SPLIT_HEADER, out, stage)
    assert out == SPLIT_HEADER  # alert and handshake records: every byte kept
    out, stage = mask_frames(SPLIT_HEADER, max_held_packets=1)  # forced out before the chain: counted
    assert check(SPLIT_HEADER, out, stage, exact=False)["over"] and stage.stats()["fail_closed_bytes"] == 56


# -- cleartext bodies must be what their type says (found by mutating record types in real captures)

HEARTBEAT = b"\x01\x00\x0b" + b"SECRET-DATA" + bytes(range(16))  # request, payload of 11, padding
NOT_WHAT_THEY_SAY = {
    "ccs-not-1": record(20, b"\x02"),
    "ccs-long": record(20, b"\x01\x01"),
    "alert-odd": record(21, b"\x02"),
    "alert-level": record(21, b"\x03\x28"),
    "alert-unregistered": record(21, b"\x02\xff"),
    "handshake-encrypted-type": record(22, b"\x14\x00\x00\x0c" + b"SECRET-DATA!"),  # a Finished in the clear
    "handshake-random": record(22, bytes.fromhex("8c74509c96e7d2fa62480d7170a155feefd2a3")),
    "heartbeat-overlong": record(24, b"\x01\x40\x00" + b"SECRET-DATA" + bytes(16)),
    "heartbeat-type": record(24, b"\x07" + HEARTBEAT[1:]),
}


@pytest.mark.parametrize("case", NOT_WHAT_THEY_SAY)
def test_a_cleartext_record_that_is_not_what_its_type_says_zeroes_the_rest(case):
    f = Flow()
    bad = NOT_WHAT_THEY_SAY[case]
    data = handshake(100) + bad + handshake(60, kind=2)
    frames = f.handshake() + f.stream(True, data, [len(handshake(100)) + 2, 30])
    out, stage = mask_frames(frames, chunk_size=2)
    check(frames, out, stage)  # the model stops at that record too
    stream = b"".join(payload(o) for o in out[3:])
    assert stream[: len(handshake(100))] == handshake(100)
    assert stream[len(handshake(100)) :] == bytes(len(data) - len(handshake(100)))
    assert stage.stats()["fail_closed"]["desync"] == 1


def test_valid_cleartext_bodies_are_kept_but_a_heartbeats_payload():
    f = Flow()
    hello_request = record(22, b"\x00\x00\x00\x00")
    # a handshake message whose header the record boundary cuts after two bytes, then its rest
    message = b"\x0b" + (300).to_bytes(3, "big") + bytes(range(44)) * 6 + bytes(36)
    data = hello_request + record(22, message[:2]) + record(22, message[2:]) + record(21, b"\x01\x00\x02\x28")
    data += record(24, HEARTBEAT) + record(20, b"\x01") + app_data(50)
    frames = f.handshake() + f.stream(True, data, [7, 9, 100])
    out, stage = mask_frames(frames, chunk_size=1)
    check(frames, out, stage)
    stream = b"".join(payload(o) for o in out[3:])
    beat = data.index(record(24, HEARTBEAT))
    assert stream[:beat] == data[:beat]  # the handshake and both alerts, every byte
    assert stream[beat : beat + 8] == data[beat : beat + 8] and b"SECRET" not in stream
    assert stream[beat + 5 + len(HEARTBEAT) :].startswith(record(20, b"\x01") + b"\x17\x03\x03\x00\x32")
    assert not any(stage.stats()["fail_closed"].values())


def test_after_a_change_cipher_spec_bodies_are_ciphertext_kept_as_the_spec_says():
    f = Flow()
    encrypted_finished = record(22, bytes.fromhex("8c74509c96e7d2fa62480d7170a155feefd2a3"))
    data = handshake(100) + record(20, b"\x01") + encrypted_finished + record(21, bytes(range(26)))
    frames = f.handshake() + f.stream(True, data, [60])
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert b"".join(payload(o) for o in out[3:]) == data
