"""TCP flows of the sanitized file for rules 2 and 3 of the audit (SPEC §8): keys, SYNs, the table.

Flows are keyed as mask keys them (innermost addresses and ports in canonical order,
plus the addresses of every outer IP header), so both directions of a connection meet.
The table is bounded (least recently used flows are dropped, their waiting bytes counted
as unaudited); a SYN with a new sequence number on a known 4-tuple starts a new flow.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict

from .stream import SEQ_MOD, Direction, Hold
from .walkers import DetectWalk

MAX_FLOWS = 100_000  # two directions each: the 200 000-direction cap
TCP_SYN, TCP_ACK = 0x02, 0x10


class Flow:
    """What both directions of a connection share."""

    __slots__ = ("dirs", "client_side", "server_port", "starttls", "methods")

    def __init__(self, client_side: int, server_port: int):
        self.dirs = [None, None]
        self.client_side = client_side  # canonical side of the SYN sender (else the first sender)
        self.server_port = server_port
        self.starttls = False  # the client asked for TLS: True (STARTTLS line) or PG_SSL_REQUESTED (SSLRequest)
        self.methods: list[bytes] = []  # HTTP request methods awaiting their responses


class FlowTable:
    """TCP flows by key, least recently used first; at most `max_flows`."""

    def __init__(self, sink, max_flows: int = MAX_FLOWS):
        self.flows: OrderedDict = OrderedDict()
        self.sink = sink
        self.max_flows = max_flows

    def get(self, key):
        flow = self.flows.get(key)
        if flow is not None:
            self.flows.move_to_end(key)
        return flow

    def add(self, key, flow: Flow) -> None:
        self.flows[key] = flow
        if len(self.flows) > self.max_flows:
            self.drop(next(iter(self.flows)))

    def drop(self, key) -> None:
        """Forget a flow (evicted, or its 4-tuple reused): its undecided bytes are not judged."""
        for d in self.flows.pop(key).dirs:
            if d is not None:
                d.forget(self.sink)

    def finish(self) -> None:
        for flow in self.flows.values():
            for d in flow.dirs:
                if d is not None:
                    d.finish(self.sink)


def endpoints(data, layers) -> tuple[bytes, bytes, bytes]:
    """``(context, source, destination)`` of the innermost TCP/UDP header: outer addresses
    (each pair in canonical order, as mask keys tunnelled flows), then address + port."""
    parts = []
    for offset, version, quoted in layers.ips[: layers.ip_index]:
        if not quoted:
            a, b = addresses(data, offset, version)
            parts.append(a + b if a <= b else b + a)
    offset, version, _ = layers.ips[layers.ip_index]
    src, dst = addresses(data, offset, version)
    t = layers.transport_offset
    return b"".join(parts), src + bytes(data[t : t + 2]), dst + bytes(data[t + 2 : t + 4])


def addresses(data, offset: int, version: int) -> tuple[bytes, bytes]:
    if version == 4:
        return bytes(data[offset + 12 : offset + 16]), bytes(data[offset + 16 : offset + 20])
    return bytes(data[offset + 8 : offset + 24]), bytes(data[offset + 24 : offset + 40])


def _label(a: bytes, b: bytes) -> str:
    def end(x: bytes) -> str:
        return f"{ipaddress.ip_address(x[:-2])}:{int.from_bytes(x[-2:], 'big')}"

    return f"tcp {end(a)} > {end(b)}"


class TcpAuditor(FlowTable):
    """TCP segments of the sanitized file, by direction (flow key as mask: context + ends)."""

    def __init__(self, sink, http: bool, max_flows: int = MAX_FLOWS):
        super().__init__(sink, max_flows)
        self.http = http
        self.hold = Hold()

    def segment(self, data, layers, frame: int, base: int) -> None:
        """A TCP segment; `base` is the file offset of ``data[0]``."""
        ctx, a, b = endpoints(data, layers)
        t = layers.transport_offset
        flags, seq = data[t + 13], int.from_bytes(data[t + 4 : t + 8], "big")
        syn, ack = flags & TCP_SYN, flags & TCP_ACK
        side = 0 if a <= b else 1
        key = (ctx, a, b) if side == 0 else (ctx, b, a)
        flow = self.get(key)
        if flow is not None and syn and not ack:
            d = flow.dirs[side]
            if d is not None and d.syn_seq is not None and d.syn_seq != seq:  # the 4-tuple is reused
                self.drop(key)
                flow = None
        if flow is None:
            client = side if not (syn and ack) else 1 - side
            flow = Flow(client, int.from_bytes((b if client == side else a)[-2:], "big"))
            self.add(key, flow)
        d = flow.dirs[side]
        if d is None:
            d = flow.dirs[side] = Direction(flow, side == flow.client_side, _label(a, b), self.hold)
        if syn:
            d.syn_seq = seq
            if d.base is None and not d.seen_data:
                d.base = (seq + 1) % SEQ_MOD
                d.walker = DetectWalk(self.http)
        start, end = layers.payload_start, layers.payload_end
        if start < end:
            d.seen_data = True
            d.segment(seq, 1 if syn else 0, bytes(data[start:end]), frame, base + start, self.sink)

    def quoted(self, data, layers, t: int, frame: int, base: int) -> None:
        """TCP payload quoted in an ICMP error (quoted TCP header at `t`): judged as its stream decided."""
        start, end = layers.payload_start, layers.payload_end
        offset, version, _ = layers.ips[-1]
        src, dst = addresses(data, offset, version)
        ctx = endpoints(data, layers)[0] if layers.ip_index > 0 else b""
        a, b = src + bytes(data[t : t + 2]), dst + bytes(data[t + 2 : t + 4])
        flow = self.flows.get((ctx, a, b) if a <= b else (ctx, b, a))
        d = None if flow is None else flow.dirs[0 if a <= b else 1]
        payload = bytes(data[start:end])
        if d is None or d.base is None or d.stopped:
            return self.sink.skip("quoted", payload)
        at = d.offset_of(int.from_bytes(data[t + 4 : t + 8], "big"))
        if not d.known(at, at + len(payload)):
            return self.sink.skip("quoted", payload)
        d.check(at, payload, frame, base + start, self.sink)
        return None
