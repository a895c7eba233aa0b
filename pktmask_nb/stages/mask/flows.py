"""The mask stage's flow table: per-flow state and report rows, bounded by an LRU cap and timeouts.

Flows are keyed by the innermost 5-tuple in canonical order plus the (direction-free)
addresses of every outer IP header, so flows of different tunnels never share state
while both directions of a mirrored tunnel (same outer addresses both ways) still meet.
Expiry is driven by packet timestamps only, so the result does not depend on chunking.
"""

from __future__ import annotations

import ipaddress
from collections import deque

from ...proto.dissect import IPPROTO_UDP
from .stream import FAIL_EVENTS

MASK_CLOSE_LINGER = 5.0  # seconds a flow is kept after RST or both FINs, for retransmissions
MASK_REPORT_MAX_FLOWS = 10_000  # rows kept for the report; later flows are only counted
EXPIRY_CHECK_NS = 1_000_000_000  # idle expiry is checked when packet time advanced this much

PROTOCOL_RANK = {"": 0, "other": 1, "text": 2, "dtls": 3, "http": 4, "tls": 5}
TLS_COUNT_NAMES = ("change_cipher_spec", "alert", "handshake", "application_data", "heartbeat", "sslv2")


class Flow:
    """State and counters of one TCP or UDP flow."""

    __slots__ = (
        "transport",
        "client_side",
        "totals",
        "client",
        "server",
        "first_ts",
        "last_ts",
        "dirs",
        "protocol",
        "tls_counts",
        "starttls",
        "http_methods",
        "http_messages",
        "http_zeroed",
        "events",
        "kept",
        "zeroed",
        "failed",
        "held",
        "packets",
        "fins",
        "closed",
    )

    def __init__(self, transport: int, client_side: int, client: tuple, server: tuple, ts: int, totals: dict):
        self.transport = transport
        self.client_side = client_side  # canonical side (0 or 1) of the client: the SYN sender, else the first sender
        self.totals = totals  # the stage's fail-closed event totals
        self.client, self.server = client, server  # (address bytes, port)
        self.first_ts = self.last_ts = ts
        self.dirs = [None, None]  # Direction by canonical side, created on first use
        self.protocol = ""
        self.tls_counts = [0] * len(TLS_COUNT_NAMES)
        self.starttls = False
        self.http_methods: list[bytes] = []
        self.http_messages = 0
        self.http_zeroed = frozenset()
        self.events = None  # event name -> count, created on the first fail-closed event
        self.kept = self.zeroed = self.failed = self.held = self.packets = 0
        self.fins = 0
        self.closed = False

    def set_protocol(self, name: str) -> None:
        if PROTOCOL_RANK[name] > PROTOCOL_RANK[self.protocol]:
            self.protocol = name

    def count_event(self, event: str, n: int = 1) -> None:
        if self.events is None:
            self.events = dict.fromkeys(FAIL_EVENTS, 0)
        self.events[event] += n
        self.totals[event] += n

    def row(self) -> dict:
        """The report row (SPEC §6): 5-tuple as seen in the output, protocol, records, bytes, events."""
        events = self.events or dict.fromkeys(FAIL_EVENTS, 0)
        row = {
            "transport": "tcp" if self.transport == 6 else "udp",
            "src": _address(self.client[0]),
            "sport": self.client[1],
            "dst": _address(self.server[0]),
            "dport": self.server[1],
            "protocol": self.protocol or "other",
            "packets": self.packets,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }
        row.update({f"tls_{name}": count for name, count in zip(TLS_COUNT_NAMES, self.tls_counts)})
        row["http_messages"] = self.http_messages
        row.update(bytes_kept=self.kept, bytes_zeroed=self.zeroed, held_back=self.held, fail_closed_bytes=self.failed)
        row["fail_closed"] = sum(events.values())
        row.update({f"fail_{name}": count for name, count in events.items()})
        return row


def _address(raw: bytes) -> str:
    try:
        return str(ipaddress.ip_address(bytes(raw)))
    except ValueError:
        return raw.hex()


class FlowTable:
    """Flows by key, in least-recently-used order (a dict re-inserted on every packet).

    Parameters
    ----------
    max_flows : int
        Beyond it the least recently used flow is evicted.
    idle_timeout : float
        Seconds without a packet after which a flow is evicted.
    on_evict : callable
        Called with each evicted `Flow` (to settle its held-back bytes).
    udp_idle_timeout : float, optional
        The idle timeout of UDP flows (at most `idle_timeout`); they are also kept in an
        order of their own so that expiry finds them behind younger TCP flows.
    """

    def __init__(self, max_flows: int, idle_timeout: float, on_evict, udp_idle_timeout: float | None = None):
        self.flows: dict = {}
        self.udp: dict = {}  # keys of the UDP flows, least recently used first
        self.max_flows = max_flows
        self.idle_ns = int(idle_timeout * 1e9)
        self.udp_idle_ns = int(min(idle_timeout, udp_idle_timeout or idle_timeout) * 1e9)
        self.linger_ns = int(min(idle_timeout, MASK_CLOSE_LINGER) * 1e9)
        self.on_evict = on_evict
        self.closing: deque = deque()  # (closed at, key) in closing order
        self.now = 0
        self._checked = 0
        self.rows: list[dict] = []
        self.unlisted = 0  # flows ended beyond MASK_REPORT_MAX_FLOWS
        self.evicted = {"idle": 0, "closed": 0, "lru": 0}

    def __len__(self) -> int:
        return len(self.flows)

    def tick(self, ts) -> None:
        """Advance packet time to `ts` (ns) and expire idle and closed flows."""
        if ts is None or ts <= self.now:
            return
        self.now = ts
        if ts - self._checked < EXPIRY_CHECK_NS:
            return
        self._checked = ts
        flows, closing = self.flows, self.closing
        while closing and ts - closing[0][0] > self.linger_ns:
            _, key = closing.popleft()
            flow = flows.get(key)
            if flow is not None and flow.closed:
                self.evict(key, "closed")
        while flows:
            key = next(iter(flows))
            if ts - flows[key].last_ts <= self.idle_ns:
                break
            self.evict(key, "idle")
        udp = self.udp
        while udp:
            key = next(iter(udp))
            if ts - flows[key].last_ts <= self.udp_idle_ns:
                break
            self.evict(key, "idle")

    def get(self, key, ts):
        """The flow of `key`, now the most recently used (None if unknown), after time moved to `ts`."""
        if ts is not None and ts > self.now:
            self.tick(ts)
        flows = self.flows
        flow = flows.pop(key, None)
        if flow is not None:
            flows[key] = flow
            if flow.transport == IPPROTO_UDP:
                udp = self.udp
                del udp[key]
                udp[key] = None
        return flow

    def add(self, key, flow: Flow) -> None:
        flows = self.flows
        while len(flows) >= self.max_flows:
            self.evict(next(iter(flows)), "lru")
        flows[key] = flow
        if flow.transport == IPPROTO_UDP:
            self.udp[key] = None

    def close(self, key, flow: Flow) -> None:
        """Mark a flow closed (RST, both FINs): it goes MASK_CLOSE_LINGER seconds later.

        Without timestamps (pcapng simple packets) time never passes: the oldest closed
        flow goes as soon as more than `max_flows` wait, which bounds the queue.
        """
        if flow.closed:
            return
        flow.closed = True
        self.closing.append((self.now, key))
        if len(self.closing) > self.max_flows:
            _, old = self.closing.popleft()
            if old in self.flows and self.flows[old].closed:
                self.evict(old, "closed")

    def evict(self, key, why: str) -> None:
        flow = self.flows.pop(key)
        self.udp.pop(key, None)
        self.evicted[why] += 1
        self.on_evict(flow)
        self._report(flow)
        # a Direction points back at its flow: without this the pair would wait for the cycle
        # collector, which the pipeline runs rarely (pipeline.relaxed_gc), and memory would
        # grow with every flow ever seen
        flow.dirs = [None, None]

    def _report(self, flow: Flow) -> None:
        if len(self.rows) < MASK_REPORT_MAX_FLOWS:
            self.rows.append(flow.row())
        else:
            self.unlisted += 1

    def table(self) -> list[dict]:
        """Rows of ended flows, then of live ones, at most MASK_REPORT_MAX_FLOWS in all."""
        rows = list(self.rows)
        for flow in self.flows.values():
            if len(rows) >= MASK_REPORT_MAX_FLOWS:
                break
            rows.append(flow.row())
        return rows
