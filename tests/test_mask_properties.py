"""Properties of mask: chunk-size invariance, idempotence, no leak on random flows, bounded memory."""

from __future__ import annotations

import gc
import struct
import tracemalloc
from collections import OrderedDict

import craft
import pytest
from craft import Flow, app_data, handshake, record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_mask_tcp import check, mask_frames

from pktmask_nb.config import MaskConfig
from pktmask_nb.pipeline import current_rss
from pktmask_nb.record import Packet
from pktmask_nb.stages.mask import MaskStage
from pktmask_nb.stages.mask import flows as mask_flows
from pktmask_nb.stages.mask.frames import FlowKey, flow_key

HTTP = (
    b"GET /a HTTP/1.1\r\nCookie: x=1\r\nContent-Length: 5\r\n\r\nhello"
    + b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
)

pieces = st.sampled_from(
    [
        handshake(40),
        handshake(300, kind=11),
        app_data(7),
        app_data(200),
        record(21, b"\x02\x28"),
        record(20, b"\x01"),
        HTTP,
        b"\x00\x01garbage\xff" * 3,
    ]
)


@st.composite
def captures(draw):
    """A few flows, each a random stream cut at random places, segments reordered and repeated."""
    frames = []
    for n in range(draw(st.integers(1, 3))):
        f = Flow(client=(f"10.0.0.{n + 1}", 40000 + n), server=("10.9.9.9", draw(st.sampled_from([443, 80, 25]))))
        data = b"".join(draw(st.lists(pieces, min_size=1, max_size=5)))
        cuts = sorted(set(draw(st.lists(st.integers(1, max(1, len(data) - 1)), max_size=6))))
        segs = [f.frame(True, data[a:b], seq=a) for a, b in zip([0] + cuts, cuts + [len(data)]) if a < b]
        for _ in range(draw(st.integers(0, 2))):  # local reordering
            i = draw(st.integers(0, len(segs) - 1))
            segs[i : i + 2] = segs[i : i + 2][::-1]
        if draw(st.booleans()):  # a retransmission
            segs.append(segs[draw(st.integers(0, len(segs) - 1))])
        frames += (f.handshake() if draw(st.booleans()) else []) + segs
    return frames


SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@SETTINGS
@given(captures(), st.integers(1, 9), st.booleans())
def test_chunk_size_invariance_and_no_leak(frames, chunk, http):
    keep = ("http-headers",) if http else ()
    whole, stage = mask_frames(frames, chunk_size=len(frames), keep=keep)
    parts, other = mask_frames(frames, chunk_size=chunk, keep=keep)
    assert parts == whole
    assert other.stats() == stage.stats() and other.tables() == stage.tables()
    if not http:
        check(frames, whole, stage, exact=False)


@SETTINGS
@given(captures(), st.booleans())
def test_masking_is_idempotent(frames, http):
    keep = ("http-headers",) if http else ()
    once, _ = mask_frames(frames, keep=keep)
    twice, _ = mask_frames(once, keep=keep)
    assert twice == once


@SETTINGS
@given(captures(), st.integers(0, 3))
def test_small_hold_windows_never_leak(frames, window):
    out, stage = mask_frames(frames, max_held_packets=window, max_held_bytes=window * 500)
    check(frames, out, stage, exact=False)
    assert stage.stats()["max_held_packets"] <= window + 1


ETH = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"


def raw_tcp(i: int, seq: int, flags: int, payload: bytes = b"") -> bytes:
    src = struct.pack("!I", 0x0A000000 + i)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40 + len(payload), 0, 0, 64, 6, 0, src, b"\xc0\x00\x02\x01")
    return ETH + ip + struct.pack("!HHIIBBHHH", 1024 + i % 60000, 443, seq, 0, 0x50, flags, 65535, 0, 0) + payload


def many_flow_chunks(flows: int, chunk: int = 4096):
    """SYN of every flow, then every flow's second segment (out of order), then every first segment."""
    first, second = handshake(100), app_data(300)
    rounds = [
        lambda i: raw_tcp(i, 999, 0x02),
        lambda i: raw_tcp(i, 1000 + len(first), 0x18, second),
        lambda i: raw_tcp(i, 1000, 0x18, first),
    ]
    n = 0
    for make in rounds:
        for start in range(0, flows, chunk):
            batch = []
            for i in range(start, min(flows, start + chunk)):
                n += 1
                data = make(i)
                batch.append(Packet(n, 1_700_000_000_000_000_000 + n * 1000, data, len(data), 1, b""))
            yield batch


def run_many(flows: int, **options) -> tuple[MaskStage, int, int]:
    gc.collect()
    before = current_rss()
    stage = MaskStage(MaskConfig(**options))
    peak = out = 0
    for batch in many_flow_chunks(flows):
        out += len(stage.process(batch))
        peak = max(peak, current_rss() - before)
    out += len(stage.flush())
    return stage, out, peak


def test_bounded_memory_with_100k_concurrent_flows_and_reordering():
    stage, out, peak = run_many(100_000)
    stats = stage.stats()
    assert out == 300_000
    assert stats["flows_live"] == 100_000
    assert stats["max_held_packets"] <= 2048 + 1 and stats["max_held_bytes"] <= 8 * 2**20 + 2000
    assert peak < 600 * 2**20, f"{peak / 2**20:.0f} MiB for 100k flows"


def test_flow_table_cap_bounds_memory():
    stage, out, peak = run_many(100_000, max_flows=5_000, max_held_packets=500)
    stats = stage.stats()
    assert out == 300_000 and stats["flows_live"] <= 5_000 and stats["flows_evicted"]["lru"] >= 95_000
    assert len(stage.tables()["flows"]) <= 10_000 and stats["flows_unlisted"] > 0
    assert peak < 150 * 2**20, f"{peak / 2**20:.0f} MiB with a 5k-flow table"


def raw_udp(i: int, payload: bytes) -> bytes:
    src = struct.pack("!I", 0x0A000000 + i)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, src, b"\xc0\x00\x02\x01")
    return ETH + ip + struct.pack("!HHHH", 1024 + i % 60000, 53, 8 + len(payload), 0) + payload


def heap_per_flow(flows: int, make, config: MaskConfig | None = None) -> tuple[float, MaskStage]:
    """Python heap (tracemalloc) the mask stage holds per flow after each flow's frames ``make(i)``, and the stage."""
    stage = MaskStage(config)
    stage.process([Packet(1, 1_700_000_000_000_000_000, raw_udp(0, b"warm"), 40, 1, b"")])  # lazy imports, first tables
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        n = 1
        for start in range(0, flows, 1000):
            batch = []
            for i in range(start + 1, min(flows, start + 1000) + 1):
                for data in make(i):
                    n += 1
                    batch.append(Packet(n, 1_700_000_000_000_000_000 + n, data, len(data), 1, b""))
            stage.process(batch)
        del batch, data
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return grown / flows, stage


def live_flow_bytes(flows: int, make) -> float:
    """Python heap held by the mask stage per live flow after each flow's frames ``make(i)``."""
    grown, stage = heap_per_flow(flows, make)
    assert stage.stats()["flows_live"] == flows + 1
    return grown


def test_live_flows_cost_under_3_kb_of_state():
    """What a live flow costs decides the memory of long captures (flows linger after FIN and
    DNS exchanges stay until the UDP idle timeout): a TLS flow after its handshake and 40
    records of application data (whose last 32 kept ranges it remembers, with their bytes, to
    judge retransmissions), a DNS-like flow."""
    first = handshake(100)
    records = app_data(200) * 40

    def tls(i):
        return [raw_tcp(i, 999, 0x02), raw_tcp(i, 1000, 0x18, first), raw_tcp(i, 1000 + len(first), 0x18, records)]

    tcp = live_flow_bytes(5_000, tls)
    udp = live_flow_bytes(5_000, lambda i: [raw_udp(i, b"\x12\x34" + bytes(30))])
    assert tcp < 3_000 and udp < 400, f"{tcp:.0f} bytes per TLS flow, {udp:.0f} per UDP flow"


def test_a_tcp_flow_that_keeps_nothing_costs_under_600_bytes():
    """Most directions of real captures keep nothing (HTTP without ``--keep http-headers``,
    protocols mask does not know, and those that forgot what they kept): they share one empty
    `Keeps`, and a flow without TLS has no record counts of its own (876 bytes a flow before)."""
    tcp = live_flow_bytes(5_000, lambda i: [raw_tcp(i, 999, 0x02), raw_tcp(i, 1000, 0x18, b"not tls, " * 20)])
    assert tcp < 600, f"{tcp:.0f} bytes per flow"


def test_ended_flows_rows_cost_under_250_bytes():
    """Up to MASK_REPORT_MAX_FLOWS ended flows keep their report row until the end: 10 000
    of them must not weigh on memory (tuples with their strings cost ~700 bytes a row)."""
    grown, stage = heap_per_flow(5_000, lambda i: [raw_udp(i, b"\x12\x34" + bytes(30))], MaskConfig(max_flows=1))
    assert stage.stats()["flows_evicted"]["lru"] == 5_000 and len(stage._flows.rows) == 5_000
    assert grown < 250, f"{grown:.0f} bytes per ended flow"
    ended, live = stage.tables()["flows"][-2:]  # flow 4 999 was the last to end; 5 000 is live
    assert (ended["src"], ended["sport"], ended["dport"], ended["packets"]) == ("10.0.19.135", 1024 + 4_999, 53, 1)
    assert live["src"] == "10.0.19.136"


def test_flows_live_at_the_end_are_reported_and_freed():
    """At the end of the input every live flow ends: the report lists it, its state goes."""
    frames = [raw_tcp(i, 999, 0x02) for i in range(50)] + [raw_udp(i, b"\x01\x02") for i in range(30)]
    stage = MaskStage()
    stage.process([Packet(n, n, data, len(data), 1, b"") for n, data in enumerate(frames, 1)])
    rows = stage.tables()["flows"]
    stage.flush()
    stats = stage.stats()
    assert stats["flows_live"] == len(rows) == 80 and stats["flows"] == 80
    assert stage.tables()["flows"] == rows and [r["transport"] for r in rows] == ["tcp"] * 50 + ["udp"] * 30
    assert not stage._flows.flows() and not stage._flows.index.keys_in_order(udp=True)


def test_unknown_link_types_and_wlan():
    radiotap = b"\x00\x00\x08\x00\x00\x00\x00\x00"
    wlan_data = b"\x08\x01" + bytes(22) + b"\xaa\xaa\x03\x00\x00\x00\x08\x00" + b"secret-payload"
    (out,), stage = mask_frames([radiotap + wlan_data], linktype=127)
    assert out == radiotap + wlan_data[:24] + bytes(len(wlan_data) - 24)
    (out,), _ = mask_frames([b"opaque link layer bytes"], linktype=147)
    assert out == bytes(23)
    assert stage.stats()["not_dissected"] == 1


def test_exception_fails_closed(monkeypatch):
    f = Flow()
    frames = f.handshake() + f.stream(True, handshake(100) + app_data(100), [])
    from pktmask_nb.stages.mask import tls

    def boom(*args):
        raise RuntimeError("bug")

    monkeypatch.setattr(tls, "record_header", boom)  # the walker's types are compiled: patch what it calls
    out, stage = mask_frames(frames)
    assert craft.Ether(out[3])[craft.TCP].payload.load == bytes(214)
    assert stage.stats()["errors"] == 1 and stage.stats()["fail_closed"]["error"] >= 1


def test_closed_flows_without_timestamps_stay_bounded():
    """Simple packets carry no time: closed flows still leave, so nothing grows with the file."""
    stage = MaskStage(MaskConfig(max_flows=50))
    for i in range(500):
        frames = [raw_tcp(i, 999, 0x02), raw_tcp(i, 1000, 0x18, handshake(20)), raw_tcp(i, 1040, 0x04)]
        stage.process([Packet(3 * i + k, None, f, len(f), 1, b"") for k, f in enumerate(frames)])
    assert len(stage._flows.closing) <= 50 and len(stage._flows) <= 50
    assert sum(stage.stats()["flows_evicted"].values()) >= 450


@SETTINGS
@given(captures(), st.booleans())
def test_bytearray_input_same_as_bytes(frames, http):
    """Earlier stages may hand over ``bytearray`` data: same output, no errors."""
    keep = ("http-headers",) if http else ()
    plain, _ = mask_frames(frames, keep=keep)
    mutable, stage = mask_frames([bytearray(f) for f in frames], keep=keep)
    assert mutable == plain and stage.stats()["errors"] == 0


def test_evicted_flows_are_freed_without_the_cycle_collector():
    """The pipeline runs the cycle collector rarely (records are acyclic): an evicted flow must
    not stay alive in a reference cycle (flow -> direction -> flow) until a full collection."""
    from pktmask_nb.stages.mask.flows import Flow as MaskFlow

    gc.collect()
    gc.disable()
    try:
        stage = MaskStage(MaskConfig(max_flows=100))
        for batch in many_flow_chunks(3_000, chunk=500):
            stage.process(batch)
        alive = sum(1 for o in gc.get_objects() if o.__class__ is MaskFlow)
    finally:
        gc.enable()
    assert stage.stats()["flows_evicted"]["lru"] >= 2_900
    assert alive <= 100 + 10, f"{alive} Flow objects alive with a 100-flow table"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["find", "add", "add", "touch", "remove"]), st.integers(0, 699)), max_size=1500)
)
def test_flow_index_against_an_ordered_dict(ops):
    """`FlowIndex` (open addressing over C slots, two LRU lists) against ordered dicts, with
    enough keys that its table grows several times and removals shift runs of colliding keys."""
    from pktmask_nb.stages.mask.flowindex import FlowIndex

    index, model, udp = FlowIndex(), OrderedDict(), OrderedDict()
    slots: dict = {}  # key -> the slot `insert` gave it

    def key(k):  # keys of different lengths, as IPv4, IPv6 and tunnelled keys are
        return bytes([k % 7]) * (k % 3) + k.to_bytes(2, "big") + bytes(1 + k % 5)

    for op, k in ops:
        kb = key(k)
        if op == "add" and kb not in model:
            model[kb] = flow = object()
            if k & 1:
                udp[kb] = None
            slots[kb] = index.insert(kb, flow, bool(k & 1))
        elif op == "touch" and kb in model:
            index.move_to_end(slots[kb])
            model.move_to_end(kb)
            if kb in udp:
                udp.move_to_end(kb)
        elif op == "remove" and kb in model:
            assert index.remove(slots.pop(kb)) is model.pop(kb)
            udp.pop(kb, None)
        assert index.find_bytes(kb) == slots.get(kb, -1)
        assert FlowKey(kb).to_bytes() == kb
    assert len(index) == len(model)
    assert index.keys_in_order() == list(model) and index.flows() == list(model.values())
    assert index.keys_in_order(udp=True) == list(udp)
    assert all(index.find_bytes(kb) == i for kb, i in slots.items())
    for bad in (-1, 10**6, *(set(range(len(model) + 1)) - set(slots.values()))):
        with pytest.raises(IndexError):
            index.remove(bad)


def test_flow_keys_of_tunnels_never_meet_plain_ones():
    """Untunnelled keys are the protocol byte and both ends; a tunnelled key also holds the
    outer addresses with their lengths, so a context cannot pass for ends, nor ends of
    different lengths for each other."""
    a, b = bytes([10, 0, 0, 1, 0, 80]), bytes([10, 0, 0, 2, 0x1F, 0x90])
    plain, side = flow_key(6, b"", b, a)
    assert (plain, side) == (b"\x06" + a + b, 1)
    tunnelled, _ = flow_key(6, bytes(8), a, b)
    assert tunnelled != plain and tunnelled[0] == 0x86
    assert mask_flows.key_ends(tunnelled) == mask_flows.key_ends(plain) == ((a[:4], 80), (b[:4], 8080))
    assert flow_key(6, bytes(8), a, b)[0] != flow_key(6, bytes(4), bytes(4) + a, b)[0]
    assert flow_key(6, bytes(8), a + b"\1", b[:-1])[0] != flow_key(6, bytes(8), a, b)[0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["get", "get", "add", "evict"]), st.integers(0, 4)), max_size=80))
def test_flow_table_finds_each_flow_and_keeps_lru_order(ops):
    """`FlowTable` against an LRU model (an ordered dict moved on every use): the flow `get`
    returns, the order of the table and of its UDP flows, and which flow a full table
    evicts. Keys are equal but never the same objects, as frames bring them."""
    evicted = []
    table = mask_flows.FlowTable(max_flows=3, idle_timeout=1e6, on_evict=evicted.append)
    model: OrderedDict = OrderedDict()
    totals = dict.fromkeys(mask_flows.FAIL_EVENTS, 0)

    def key(k):  # odd: UDP, which the table also keeps in an order of its own
        return flow_key(6 + 11 * (k & 1), b"", bytes([10, 0, 0, k, 0, 80]), bytes([10, 0, 1, k, 0x1F, 0x90]))[0]

    for op, k in ops:
        if op == "get":
            want = model.get(key(k))
            if want is not None:
                model.move_to_end(key(k))
            assert table.get(FlowKey(key(k)), None) is want
        elif op == "add" and key(k) not in model:
            flow = mask_flows.Flow(6 + 11 * (k & 1), 0, key(k), 0, totals)
            oldest = model.popitem(last=False)[1] if len(model) >= 3 else None
            table.add(flow)
            model[key(k)] = flow
            if oldest is not None:  # the table was full: the least recently used flow went
                assert evicted[-1] is oldest
        elif op == "evict" and key(k) in model:
            table.evict(key(k), "idle")
            del model[key(k)]
        assert table.index.keys_in_order() == list(model)
        assert table.index.keys_in_order(udp=True) == [k for k, flow in model.items() if flow.transport == 17]
        assert table.flows() == list(model.values())
