"""The mask stage's flow table: per-flow state and report rows, bounded by an LRU cap and timeouts.

Flows are keyed by the innermost 5-tuple in canonical order plus the (direction-free)
addresses of every outer IP header, so flows of different tunnels never share state
while both directions of a mirrored tunnel (same outer addresses both ways) still meet.
Expiry is driven by packet timestamps only, so the result does not depend on chunking.
A live flow holds 0.3 kB (UDP) to about 1 kB (TCP) of state, its slot in the
`~.flowindex.FlowIndex` included, and a TCP flow the kept bytes it remembers (all flows
together at most `MaskConfig.max_remembered_bytes`, `~.keeps.Remembered`); at the end of the input
`FlowTable.finish` reports every flow and frees them all.
"""

from __future__ import annotations

from array import array
from collections import deque
from functools import partial
from pickle import HIGHEST_PROTOCOL as PICKLE_PROTOCOL
from pickle import dumps as _dumps
from pickle import loads as _loads

from ...proto.ip import IPPROTO_TCP, IPPROTO_UDP
from ...proto.text import ip_text
from ...rows import Rows
from .flowindex import FlowIndex
from .frames import FlowKey, key_ends
from .stream import FAIL_EVENTS
from .tls import NO_RECORDS, TLS_COUNT_NAMES
from .upgrade import AwaitWalker, TlsOnlyWalker

MASK_CLOSE_LINGER = 5.0  # seconds a flow is kept after RST or both FINs, for retransmissions
MASK_REPORT_MAX_FLOWS = 10_000  # rows kept for the report; later flows are only counted
MASK_MAX_GONE = 65_536  # keys of flows evicted before their end, remembered to count their continuation
EXPIRY_CHECK_NS = 1_000_000_000  # idle expiry is checked when packet time advanced this much

PROTOCOL_RANK = {"": 0, "other": 1, "dns": 2, "dhcp": 2, "text": 2, "dtls": 3, "http": 4, "tls": 5}
FLOW_COLUMNS = (
    ("transport", "src", "sport", "dst", "dport", "protocol", "packets", "first_ts", "last_ts")
    + tuple(f"tls_{name}" for name in TLS_COUNT_NAMES)
    + ("http_messages", "bytes_kept", "bytes_zeroed", "held_back", "fail_closed_bytes", "fail_closed")
    + tuple(f"fail_{name}" for name in FAIL_EVENTS)
)  # the report's columns (SPEC §6), one `Flow.values` each
NO_METHODS = ()  # `Flow.http_methods` until a request waits
NO_HEADERS = frozenset()  # `Flow.http_zeroed` until the stage sets its own
NO_EVENTS = (0,) * len(FAIL_EVENTS)  # the event counts of a flow without fail-closed events


class Flow:
    """State and counters of one TCP or UDP flow."""

    # its fields are declared in flows.pxd

    def __init__(self, transport: int, client_side: int, key, ts: int, totals: dict):
        self.transport = transport
        self.client_side = client_side  # canonical side (0 or 1) of the client: the SYN sender, else the first sender
        self.totals = totals  # the stage's fail-closed event totals
        self.key = key  # the flow key (``bytes``, `~.frames.flow_key`): the ends are read from it when asked for
        self.first_ts = self.last_ts = ts
        self.dir0 = self.dir1 = None  # Direction by canonical side, created on first use (TCP only)
        self.protocol = ""
        self.tls_counts = NO_RECORDS  # by TLS_COUNT_NAMES: a list once a record is counted
        self.starttls = None  # the walker of the client's request for TLS, until the server answered
        self.ssl2 = False  # the client spoke SSLv2: the server may answer with an SSLv2 ServerHello
        self.http_methods = NO_METHODS  # requests waiting for their response (`~.http`), a list once there are some
        self.http_messages = 0
        self.http_zeroed = NO_HEADERS
        self.http_keep = False  # --keep http-headers
        self.tls_names = False  # --tls-names zero
        self.dns = self.dns_names = False  # --anon-dns, --keep dns-names
        self.events = None  # event name -> count, created on the first fail-closed event
        self.kept = self.zeroed = self.failed = self.held = self.packets = 0
        self.closed = False
        self.restarted = False  # a flow of this key was evicted before it ended: state was lost

    @property
    def server(self) -> tuple:
        """``(address bytes, port)`` of the server."""
        return key_ends(self.key)[1 - self.client_side]

    @property
    def dirs(self) -> tuple:
        """The Directions by canonical side (None where that side sent nothing, and in UDP flows)."""
        return (self.dir0, self.dir1)

    def direction(self, side: int):
        return self.dir1 if side else self.dir0

    def attach(self, side: int, d) -> None:
        if side:
            self.dir1 = d
        else:
            self.dir0 = d

    def set_protocol(self, name: str) -> None:
        if PROTOCOL_RANK[name] > PROTOCOL_RANK[self.protocol]:
            self.protocol = name

    def answer(self, accepted: bool) -> None:
        """The server answered the client's request for TLS (STARTTLS, SSLRequest): the client's
        bytes after its request, waiting (`~.upgrade.AwaitWalker`), are TLS or more prelude."""

        self.starttls = None
        d = self.direction(self.client_side)
        if d is not None and isinstance(d.walker, AwaitWalker):
            d.resume(TlsOnlyWalker() if accepted else d.walker.refused)

    def count_event(self, event: str, n: int = 1) -> None:
        if self.events is None:
            self.events = dict.fromkeys(FAIL_EVENTS, 0)
        self.events[event] += n
        self.totals[event] += n

    def values(self) -> tuple:
        """The report row (SPEC §6) in `FLOW_COLUMNS` order: 5-tuple as seen in the output, protocol, records, bytes, events."""
        events = tuple(self.events.values()) if self.events else NO_EVENTS
        ends = key_ends(self.key)
        client, server = ends[self.client_side], ends[1 - self.client_side]
        return (
            "tcp" if self.transport == IPPROTO_TCP else "udp",
            ip_text(client[0]),
            client[1],
            ip_text(server[0]),
            server[1],
            self.protocol or "other",
            self.packets,
            self.first_ts,
            self.last_ts,
            *self.tls_counts,
            self.http_messages,
            self.kept,
            self.zeroed,
            self.held,
            self.failed,
            sum(events),
            *events,
        )


class FlowTable:
    """Flows by key, least recently used first (`~.flowindex.FlowIndex`), with their expiry and report.

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
        self.index = FlowIndex()
        self.max_flows = max_flows
        self.idle_ns = int(idle_timeout * 1e9)
        self.udp_idle_ns = int(min(idle_timeout, udp_idle_timeout or idle_timeout) * 1e9)
        self.linger_ns = int(min(idle_timeout, MASK_CLOSE_LINGER) * 1e9)
        self.on_evict = on_evict
        self.closing: deque = deque()  # (closed at, key) in closing order
        self.now = 0
        self._due = EXPIRY_CHECK_NS  # packet time at which expiry is checked next
        self.rows: list[bytes] = []  # `Flow.values` of ended flows, pickled: ~160 bytes, against 460-700 as tuples
        self.unlisted = 0  # flows ended beyond MASK_REPORT_MAX_FLOWS
        self.evicted = {"idle": 0, "closed": 0, "lru": 0}
        self.finished = 0  # flows that were live when the input ended (`finish`)
        self.tls_ended = array("q", bytes(8 * len(TLS_COUNT_NAMES)))  # TLS records of ended flows, by type
        self.gone: dict = {}  # keys of flows evicted (idle, LRU) before they ended, oldest first

    def __len__(self) -> int:
        """Live flows, counting those that were live when the input ended (`finish`)."""
        return len(self.index) + self.finished

    def _expire(self, ts: int) -> None:
        """Expire idle and closed flows at packet time `ts` (ns)."""
        self._due = ts + EXPIRY_CHECK_NS
        index, closing = self.index, self.closing
        while closing and ts - closing[0][0] > self.linger_ns:
            _, key = closing.popleft()
            i = index.find_bytes(key)
            if i >= 0 and index.flow(i).closed:
                self._evict(i, "closed")
        while (i := index.oldest()) >= 0 and ts - index.flow(i).last_ts > self.idle_ns:
            self._evict(i, "idle")
        while (i := index.oldest(True)) >= 0 and ts - index.flow(i).last_ts > self.udp_idle_ns:
            self._evict(i, "idle")

    def get(self, key: FlowKey, ts):
        """The flow of `key`, now the most recently used (None if unknown), after time moved to `ts`."""
        if ts is not None and ts > self.now:
            self.now = ts
            if ts >= self._due:
                self._expire(ts)
        i = self.index.find(key)
        if i < 0:
            return None
        self.index.touch(i)
        return self.index.flow(i)

    def peek(self, key: FlowKey):
        """The flow of `key` (None if unknown), left where it is in the order."""
        i = self.index.find(key)
        return self.index.flow(i) if i >= 0 else None

    def add(self, flow: Flow) -> None:
        """A new flow; if a flow of its key was evicted before it ended, this one continues it
        without its state (`Flow.restarted`)."""
        if self.gone.pop(flow.key, 0) is None:
            flow.restarted = True
        index = self.index
        while len(index) >= self.max_flows:
            self._evict(index.oldest(), "lru")
        index.insert(flow.key, flow, flow.transport == IPPROTO_UDP)

    def close(self, flow: Flow) -> None:
        """Mark a flow closed (RST, both FINs): it goes MASK_CLOSE_LINGER seconds later.

        Without timestamps (pcapng simple packets) time never passes: the oldest closed
        flow goes as soon as more than `max_flows` wait, which bounds the queue.
        """
        if flow.closed:
            return
        flow.closed = True
        self.closing.append((self.now, flow.key))
        if len(self.closing) > self.max_flows:
            _, old = self.closing.popleft()
            i = self.index.find_bytes(old)
            if i >= 0 and self.index.flow(i).closed:
                self._evict(i, "closed")

    def evict(self, key: bytes, why: str) -> None:
        """Evict the flow of `key` (``bytes``) for reason `why` (idle, closed, lru)."""
        i = self.index.find_bytes(key)
        if i < 0:
            raise KeyError(key)
        self._evict(i, why)

    def _evict(self, i: int, why: str) -> None:
        flow = self.index.remove(i)
        self.evicted[why] += 1
        if why != "closed" and flow.transport == IPPROTO_TCP:
            self.gone[flow.key] = None
            if len(self.gone) > MASK_MAX_GONE:
                del self.gone[next(iter(self.gone))]
        self.on_evict(flow)
        self._end(flow)

    def flows(self) -> list[Flow]:
        """The live flows, least recently used first."""
        return self.index.flows()

    def finish(self) -> None:
        """The input ended: every live flow ends, in least-recently-used order; its state is freed."""
        flows = self.index.flows()
        self.finished += len(flows)
        for flow in flows:
            self._end(flow)
        self.index = FlowIndex()
        self.closing.clear()

    def _end(self, flow: Flow) -> None:
        """Report an ended flow, count its TLS records and break its cycles."""
        if len(self.rows) < MASK_REPORT_MAX_FLOWS:
            self.rows.append(_dumps(flow.values(), PICKLE_PROTOCOL))
        else:
            self.unlisted += 1
        tls, counts = self.tls_ended, flow.tls_counts
        for i in range(len(TLS_COUNT_NAMES)):
            tls[i] += counts[i]
        # a Direction points back at its flow: without this the pair would wait for the cycle
        # collector, which the pipeline runs rarely (pipeline.relaxed_gc), and memory would
        # grow with every flow ever seen
        flow.dir0 = flow.dir1 = None

    def tls_records(self) -> list[int]:
        """TLS records by type (`TLS_COUNT_NAMES`) of every flow, ended or live."""
        tls = list(self.tls_ended)
        for flow in self.index.flows():
            tls = [a + b for a, b in zip(tls, flow.tls_counts)]
        return tls

    def table(self) -> Rows:
        """Rows of ended flows, then of live ones, at most MASK_REPORT_MAX_FLOWS in all."""
        rows = [_loads(row) for row in self.rows[:MASK_REPORT_MAX_FLOWS]]
        for flow in self.index.flows():
            if len(rows) >= MASK_REPORT_MAX_FLOWS:
                break
            rows.append(flow.values())
        return Rows(len(rows), partial(_flow_row, rows))


def _flow_row(rows: list, k: int) -> dict:
    """Row `k` of the flow report from its values."""
    return dict(zip(FLOW_COLUMNS, rows[k]))
