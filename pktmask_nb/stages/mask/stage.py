"""The mask stage (SPEC §6): zero payloads, keep TLS/DTLS record structure (and HTTP headers on request).

Every packet is dissected (`~pktmask_nb.proto.dissect`): bytes the frame map zeroes
(unknown options, overruns, trailers, quoted and fragment payloads) are zeroed, TCP payload
goes through its direction's `~.stream.Direction` (sequence space, first copy wins,
walkers), UDP payload through the datagram rules (`~.datagrams`). A packet whose bytes
cannot be decided yet (out of order, a header split across segments, a STARTTLS reply
awaited) is held back with every record after it, so output order equals input order; past
the hold window, at the end of the input or when its flow is evicted, undecided bytes are
zeroed and counted (fail closed). Every written byte is counted in the kept-bytes ledger.
"""

from __future__ import annotations

from array import array
from collections import deque

import cython

from ...config import MaskConfig
from ...proto.checksum import nonzero
from ...proto.dhcp import DHCP_PORTS
from ...proto.dissect import dissect, frame_of
from ...proto.dns import DNS_PORT, segment_addresses
from ...proto.ip import IPPROTO_TCP, IPPROTO_UDP
from ...proto.spans import (
    ADDRESS,
    FRAG_FIRST,
    FRAG_NONE,
    KEEP,
    PAYLOAD,
    R_DATA,
    R_MAC,
    R_PAYLOAD,
    R_UNSEEN_CHECKSUM,
    REASON_ACTIONS,
    REASONS,
    STATUS_NOT_DISSECTED,
    STATUS_TRUNCATED,
    FrameMap,
    Ledger,
)
from ...record import Packet
from ...rows import Rows
from .datagrams import KEEP_DNS_ADDRESS, dhcp_keeps, dns_keeps, dtls_keeps
from .detect import MidStreamWalker, StartWalker
from .flows import Flow, FlowTable
from .frames import FlowKey, be32
from .keeps import KEEP_REASONS, Remembered
from .stream import (
    FAIL_BEFORE_START,
    FAIL_DESYNC,
    FAIL_ERROR,
    FAIL_EVENTS,
    FAIL_FORGOTTEN,
    FAIL_FRAGMENT,
    FAIL_GAP,
    Direction,
)
from .tls import NO_RECORDS, TLS_COUNT_NAMES
from .writer import ZeroWriter

TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10


MASK_COUNTS = (
    "packets",
    "packets_changed",
    "packets_held",
    "payload_bytes_kept",
    "payload_bytes_zeroed",
    "fail_closed_bytes",
    "header_bytes_zeroed",
    "other_bytes_zeroed",
    "not_dissected",
    "fragments",
    "truncated",
    "errors",
    "checksums_not_updated",
    "flows",
    "max_held_packets",
    "max_held_bytes",
)  # the stage's counters, in the order its stats list them


class MaskCounts:
    """The mask stage's counters (`MASK_COUNTS`), as C members while it runs."""

    # its fields are declared in stage.pxd

    def __init__(self):
        self.packets = 0
        self.packets_changed = 0
        self.packets_held = 0
        self.payload_bytes_kept = 0
        self.payload_bytes_zeroed = 0
        self.fail_closed_bytes = 0
        self.header_bytes_zeroed = 0
        self.other_bytes_zeroed = 0
        self.not_dissected = 0
        self.fragments = 0
        self.truncated = 0
        self.errors = 0
        self.checksums_not_updated = 0
        self.flows = 0
        self.max_held_packets = 0
        self.max_held_bytes = 0

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in MASK_COUNTS}


class _Held:
    """A packet waiting for decisions on its TCP payload (stream bytes from `offset`, at frame offset `start`)."""

    # its fields are declared in stage.pxd

    def __init__(self, m, changes, d, offset, start, length):
        self.m, self.changes, self.d = m, changes, d
        self.offset, self.start, self.length = offset, start, length


class MaskStage:
    """Zero payloads, keeping protocol structure (SPEC §6).

    Parameters
    ----------
    config : MaskConfig
    anonymized : bool
        Whether the anonymize stage ran before: the ledger counts address fields as
        rewritten rather than kept.
    macs_mapped : bool
        Whether it also mapped hardware addresses: the ledger counts them as rewritten too.
    dns : bool
        Whether it also rewrote DNS addresses (``--anon-dns``): DNS keeps its structure
        (`~.datagrams.dns_keeps`) instead of being zeroed; over TCP a segment keeps only the
        addresses anonymize rewrote in it.

    Notes
    -----
    The flow report (`tables`) lists at most ``MASK_REPORT_MAX_FLOWS`` flows, ended ones
    first. Wireshark agreement (SPEC §2.6) has limits where zeros meet a strict dissector
    chosen by port: zeroed payload on tcp/5000 decodes as IPA/RSL and shows as malformed.
    """

    name = "mask"

    def __init__(
        self, config: MaskConfig | None = None, anonymized: bool = False, macs_mapped: bool = False, dns: bool = False
    ):
        self.config = config = config or MaskConfig()
        self._http_zeroed = frozenset(h.encode() for h in config.sensitive_headers)
        self._flows = FlowTable(config.max_flows, config.idle_timeout, self._evicted, config.udp_idle_timeout)
        self._key = FlowKey()  # the flow key of the packet at hand, rebuilt in place
        self._queue: deque = deque()
        self._writer = ZeroWriter()
        self._held_packets = self._held_bytes = 0
        self._hold_packets, self._hold_bytes = config.max_held_packets, config.max_held_bytes  # the hold window
        self._flushing = False
        self._current = None  # the direction being fed, for the fail-closed handler
        self._dns = dns
        self._dns_names = "dns-names" in config.keep
        self._verdicts = tuple(  # the ledger's verdict on a kept span, by reason code
            "rewritten" if (anonymized and action == ADDRESS) or (macs_mapped and code == R_MAC) else "kept"
            for code, (_, action) in enumerate(REASONS)
        )
        self.ledger = Ledger()
        # header bytes by reason code in this chunk: added to the ledger once per chunk
        self._kept_bytes = array("q", bytes(8 * len(REASONS)))
        self._zeroed_bytes = array("q", bytes(8 * len(REASONS)))
        self._kept_payload = array("q", bytes(8 * 256))  # TCP payload bytes kept, by `reason_code`
        self._payload_zeroed = self._payload_failed = 0  # TCP payload bytes zeroed (not / as fail-closed)
        self._events = dict.fromkeys(FAIL_EVENTS, 0)
        self._s = MaskCounts()
        self._remembered = Remembered()  # kept bytes the directions remember to judge retransmissions
        self._forget_at = config.max_remembered_bytes  # past it, `_forget_remembered`

    # -- the stage contract ----------------------------------------------------------------

    def process(self, chunk: list) -> list:
        out: list = []
        queue, s = self._queue, self._s
        for record in chunk:
            if type(record) is not Packet:
                if queue:
                    queue.append((record, None))
                else:
                    out.append(record)
                continue
            packet = record
            s.packets += 1
            try:
                held = self._mask(packet)
            except Exception:
                self._fail(packet)
                held = None
            if self._remembered.used > self._forget_at:
                self._forget_remembered()
            if held is None and not queue:
                out.append(packet)
                continue
            queue.append((packet, held))
            self._held_packets += 1
            self._held_bytes += len(packet.data)
            if held is not None:
                s.packets_held += 1
            self._release(out)
        self._writer.apply()
        self._tally()
        return out

    def flush(self) -> list:
        out: list = []
        self._flushing = True
        self._release(out)
        self._writer.apply()
        self._flows.finish()
        self._tally()
        return out

    def stats(self) -> dict:
        s = self._s.to_dict()
        s["packets_changed"] = self._writer.changed
        s["flows_live"] = len(self._flows)
        s["flows_evicted"] = dict(self._flows.evicted)
        s["flows_unlisted"] = self._flows.unlisted
        s["fail_closed"] = dict(self._events)
        s["fail_closed_events"] = sum(self._events.values())
        s["tls_records"] = dict(zip(TLS_COUNT_NAMES, self._flows.tls_records()))
        s["keep"] = list(self.config.keep)
        s["ledger"] = self.ledger.to_dict()
        return s

    def tables(self) -> dict[str, Rows]:
        return {"flows": self._flows.table()}

    # -- holding back --------------------------------------------------------------------

    def _release(self, out: list) -> None:
        """Pass on records from the head of the queue whose decisions are known."""
        queue, s = self._queue, self._s
        if self._held_packets > s.max_held_packets:
            s.max_held_packets = self._held_packets
        if self._held_bytes > s.max_held_bytes:
            s.max_held_bytes = self._held_bytes
        while queue:
            item = queue[0]
            record, held = item[0], item[1]
            if held is not None:
                d = held.d
                if d.decided < held.offset + held.length:
                    over = self._held_packets > self._hold_packets or self._held_bytes > self._hold_bytes
                    if not (over or self._flushing):
                        return
                    d.zero_rest(d.decided, FAIL_GAP)
                try:
                    held.d.held -= 1
                    self._decide(record, held.d, held.offset, held.start, held.length, held.m, held.changes)
                except Exception:
                    self._fail(record)
            queue.popleft()
            if type(record) is Packet:
                packet = record
                self._held_packets -= 1
                self._held_bytes -= len(packet.data)
            out.append(record)

    def _forget_remembered(self) -> None:
        """The directions remember more kept bytes than `MaskConfig.max_remembered_bytes`: down
        to half of it, least recently used flows first, they forget what the other side
        acknowledged (a later copy of it is a spurious retransmission), then, if that is not
        enough, any. Their later copies are zeroed and counted (``forgotten``)."""
        remembered, limit = self._remembered, self.config.max_remembered_bytes
        flows = self._flows.flows()
        for acked in (True, False):
            for flow in flows:
                for d in flow.dirs:
                    if d is not None and d.keeps:
                        d.forget(d.acked if acked else d.next)  # every kept interval lies below `next`
                        if remembered.used <= limit // 2:
                            self._forget_at = limit
                            return
        self._forget_at = max(limit, remembered.used + limit // 2)  # held packets need the rest: not every packet

    def _evicted(self, flow: Flow) -> None:
        """A flow leaves the table: bytes still undecided are zeroed (fail closed)."""
        for d in flow.dirs:
            if d is not None and d.walker is not None and (d.ooo or d.decided < d.next or d.tail):
                d.zero_rest(d.decided, FAIL_GAP)

    # -- one packet ----------------------------------------------------------------------

    def _fail(self, packet: Packet) -> None:
        """Something went wrong: zero everything but the headers the frame map keeps, and count it."""
        self._s.errors += 1
        d, self._current = self._current, None
        if d is not None:
            d.zero_rest(d.decided, FAIL_ERROR)  # counted on the flow and in the totals
        else:
            self._events[FAIL_ERROR] += 1
        buf = bytearray(packet.data)
        try:
            m = dissect(packet.data, packet.linktype, packet.wirelen)
            zero = [(a, b) for a, b, r in m.iter_spans() if REASON_ACTIONS[r] not in (KEEP, ADDRESS)]
        except Exception:
            zero = [(0, len(buf))]
        for a, b in zero:
            buf[a:b] = bytes(b - a)
        packet.data, packet.frame = buf, None

    def _mask(self, packet: Packet):
        """Decide one packet; a `_Held` if its payload must wait for decisions."""
        m = frame_of(packet)
        s = self._s
        if m.status == STATUS_NOT_DISSECTED:
            s.not_dissected += 1
        elif m.status == STATUS_TRUNCATED:
            s.truncated += 1
        changes = self._headers(m)
        start, end = m.payload_start, m.payload_end
        if m.fragment != FRAG_NONE:  # never reassembled: zeroed
            s.fragments += 1
            self._events[FAIL_FRAGMENT] += 1
            if start < end:  # the transport checksum also sums the other fragments, zeroed in theirs
                s.checksums_not_updated += m.fragment == FRAG_FIRST
                self._zero_payload(start, end, changes, end - start)
        elif m.transport == IPPROTO_TCP and m.l4 >= 0:
            return self._tcp(packet, m, changes)
        elif start < end and m.transport == IPPROTO_UDP:
            self._udp(packet, m, changes)
        self._write(packet, m, changes)
        return None

    def _tally(self) -> None:
        """Add the chunk's header and TCP payload byte counts to the ledger."""
        ledger, kept, zeroed = self.ledger, self._kept_bytes, self._zeroed_bytes
        for code, (name, _) in enumerate(REASONS):
            ledger.add(self._verdicts[code], name, kept[code])
            ledger.add("zeroed", name, zeroed[code])
            kept[code] = zeroed[code] = 0
        payload = self._kept_payload
        for code, name in enumerate(KEEP_REASONS):
            ledger.add("kept", name, payload[code])
            payload[code] = 0
        ledger.add("zeroed", "payload", self._payload_zeroed)
        ledger.add("zeroed", "fail-closed", self._payload_failed)
        self._payload_zeroed = self._payload_failed = 0

    def _headers(self, m: FrameMap) -> list:
        """Zeroing of every span but the TCP/UDP payload, counted in the ledger."""
        changes, kept, zeroed, data, s = [], self._kept_bytes, self._zeroed_bytes, m.data, self._s
        q = m.quote
        quoted = q.payload_start if q is not None and q.payload_start < q.payload_end else -1
        for i in range(m.span_count()):
            start, end, reason = m.span_start(i), m.span_end(i), m.span_reason(i)
            action = REASON_ACTIONS[reason]
            if reason == R_PAYLOAD:
                continue
            if start == quoted and reason == R_DATA:
                self._quoted(m, changes)
                continue
            if action in (KEEP, ADDRESS):
                kept[reason] += end - start
            else:
                zeroed[reason] += end - start
                if action == PAYLOAD:
                    s.other_bytes_zeroed += end - start
                else:
                    s.header_bytes_zeroed += end - start
                s.checksums_not_updated += reason == R_UNSEEN_CHECKSUM
                if nonzero(data, start, end):
                    changes.append((start, end - start))
        return changes

    def _quoted(self, m: FrameMap, changes: list) -> None:
        """A TCP payload quoted by an ICMP error keeps the bytes that equal what its stream kept
        there (they add nothing to the output); the rest is zero, as every other quoted payload."""
        protocol, t, index, start, end = m.quote
        data = m.data
        if protocol == IPPROTO_TCP and t + 8 <= len(data):
            key = self._key
            if key.of_frame(m, IPPROTO_TCP, index, t):
                flow = self._flows.peek(key)
                d = flow.direction(key.side) if flow is not None else None
                if d is not None and d.base >= 0:
                    offset = d.offset_of(int.from_bytes(data[t + 4 : t + 8], "big"))
                    failed = 0  # counted as zeroed "data" with the rest
                    n = min(end, len(data)) - start
                    kept = d.decide(
                        offset, data, start, n, changes, self._payload_counts(), cython.address(failed), False
                    )
                    self.ledger.add("zeroed", "data", end - start - kept)
                    return
        changes.append((start, end - start))
        self.ledger.add("zeroed", "data", end - start)

    def _zero_payload(self, start: int, end: int, changes: list, failed: int) -> None:
        """Zero a payload ``[start, end)``, `failed` bytes of it fail-closed."""
        changes.append((start, end - start))
        self.ledger.add("zeroed", "payload", end - start - failed)
        self.ledger.add("zeroed", "fail-closed", failed)
        self._s.payload_bytes_zeroed += end - start
        self._s.fail_closed_bytes += failed

    def _new_flow(self, transport: int, client_is_sender: bool) -> Flow:
        """A flow of the packet's key, whose client is its sender or its receiver."""
        key = self._key
        client_side = key.side if client_is_sender else 1 - key.side
        flow = Flow(transport, client_side, key.to_bytes(), self._flows.now, self._events)
        flow.http_zeroed = self._http_zeroed
        flow.http_keep = self.config.http_headers
        flow.tls_names = self.config.tls_names == "zero"
        flow.dns, flow.dns_names = self._dns, self._dns_names
        self._flows.add(flow)
        self._s.flows += 1
        return flow

    def _tcp(self, packet: Packet, m: FrameMap, changes: list):
        """A TCP segment: connection state, placement in the stream, decision or holding back."""
        data, t = packet.data, m.l4
        start, end = m.payload_start, m.payload_end
        key = self._key
        if t + 14 > len(data) or not key.of_frame(m, IPPROTO_TCP, m.ip, t):
            if start < end:
                self._zero_payload(start, end, changes, end - start)
            self._write(packet, m, changes)
            return None
        side = key.side
        flags, seq = data[t + 13], be32(data, t + 4)
        flow = self._flows.get(key, packet.ts)
        syn = flags & TCP_SYN
        if flow is not None and syn and not flags & TCP_ACK:
            d = flow.direction(side)
            if d is not None and d.syn_seq >= 0 and d.syn_seq != seq:  # the 4-tuple is reused
                self._flows.evict(flow.key, "closed")
                flow = None
        if flow is None:
            flow = self._new_flow(IPPROTO_TCP, not (syn and flags & TCP_ACK))
        flow.packets += 1
        flow.last_ts = self._flows.now
        d = flow.direction(side)
        if d is None:
            d = Direction(flow, side == flow.client_side, None, self._remembered)
            flow.attach(side, d)
            if flow.restarted:  # its flow was evicted mid-way: what cannot be resynchronised is fail-closed
                d.fail_from = 0
                flow.count_event(FAIL_FORGOTTEN)
        if syn:
            d.syn_seq = seq
            if d.base < 0:
                d.base = (seq + 1) & 0xFFFFFFFF
                d.start_known = True
        other = flow.direction(1 - side)
        if flags & TCP_ACK and other is not None:
            other.acknowledged(be32(data, t + 8))
        if flags & (TCP_FIN | TCP_RST):
            d.fin = d.fin or bool(flags & TCP_FIN)
            if flags & TCP_RST or (d.fin and other is not None and other.fin):
                self._flows.close(flow)
        if start >= end:
            self._write(packet, m, changes)
            return None
        if d.base < 0 and end - start == 1:  # a keep-alive probe (one old byte) cannot start a stream
            flow.count_event(FAIL_BEFORE_START)
            flow.failed += 1
            flow.zeroed += 1
            self._zero_payload(start, end, changes, 1)
            self._write(packet, m, changes)
            return None
        if d.walker is None and d.next == 0 and d.decided == 0:
            d.walker = StartWalker() if d.start_known else MidStreamWalker()
        self._current = d
        offset = d.place(seq, 1 if syn else 0, data, start, end)
        self._current = None
        length = end - start
        if offset + length <= d.decided:
            self._decide(packet, d, offset, start, length, m, changes)
            return None
        flow.held += 1
        d.held += 1
        return _Held(m, changes, d, offset, start, length)

    def _decide(self, packet: Packet, d: Direction, offset: int, start: int, length: int, m: FrameMap, changes) -> None:
        """Zero what `d` does not keep of the payload at frame offset `start` (stream `offset`), count it, write."""
        flow, s = d.flow, self._s
        restrict = None
        if flow.dns and flow.protocol == "dns":  # DNS over TCP: keep only the addresses anonymize rewrote here
            shift = offset - start
            found = segment_addresses(packet.data, start, start + length)
            restrict = (KEEP_DNS_ADDRESS, {(a.offset + shift, a.offset + a.size + shift) for a in found})
        failed = 0
        kept = d.decide(
            offset, packet.data, start, length, changes, self._payload_counts(), cython.address(failed), True, restrict
        )
        zeroed = length - kept
        self._payload_zeroed += zeroed - failed
        self._payload_failed += failed
        flow.kept += kept
        flow.zeroed += zeroed
        flow.failed += failed
        s.payload_bytes_kept += kept
        s.payload_bytes_zeroed += zeroed
        s.fail_closed_bytes += failed
        self._write(packet, m, changes)

    def _udp(self, packet: Packet, m: FrameMap, changes: list) -> None:
        data, start, end = packet.data, m.payload_start, m.payload_end
        key = self._key
        if not key.of_frame(m, IPPROTO_UDP, m.ip, m.l4):
            return self._zero_payload(start, end, changes, end - start)
        flow = self._flows.get(key, packet.ts)
        if flow is None:
            flow = self._new_flow(IPPROTO_UDP, True)
        flow.packets += 1
        flow.last_ts = self._flows.now
        counts = flow.tls_counts
        if counts is NO_RECORDS:
            counts = [0] * len(TLS_COUNT_NAMES)
        keeps, broken = dtls_keeps(data, start, end, counts, flow.tls_names)
        if keeps:
            flow.tls_counts = counts
            flow.set_protocol("dtls")
        else:
            t = m.l4
            ports = ((data[t] << 8) | data[t + 1], (data[t + 2] << 8) | data[t + 3])
            if self._dns and DNS_PORT in ports:
                keeps = dns_keeps(data, start, end, self._dns_names)
                flow.set_protocol("dns")
            else:
                keeps = dhcp_keeps(data, start, end) if ports[0] in DHCP_PORTS or ports[1] in DHCP_PORTS else []
                flow.set_protocol("dhcp" if keeps else "other")
        pos, kept = start, 0
        for a, b, reason in keeps:
            if a > pos:
                changes.append((pos, a - pos))
            self.ledger.add("kept", reason, b - a)
            kept += b - a
            pos = b
        failed = end - pos if broken else 0
        if broken:
            flow.count_event(FAIL_DESYNC)
        if pos < end:
            changes.append((pos, end - pos))
        self.ledger.add("zeroed", "payload", end - start - kept - failed)
        self.ledger.add("zeroed", "fail-closed", failed)
        flow.kept += kept
        flow.zeroed += end - start - kept
        flow.failed += failed
        self._s.payload_bytes_kept += kept
        self._s.payload_bytes_zeroed += end - start - kept
        self._s.fail_closed_bytes += failed

    def _write(self, packet: Packet, m: FrameMap, changes: list) -> None:
        """Zero the byte ranges ``(offset, length)`` of `changes` (the checksums of its map `m`
        kept right) at the chunk's end."""
        if changes:
            self._writer.add(packet, m, changes)
