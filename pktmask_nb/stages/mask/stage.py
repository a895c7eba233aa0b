"""The mask stage (SPEC §6): zero payload bytes, keep TLS/DTLS record structure (and HTTP headers on request).

Every packet is dissected (`~pktmask_nb.proto.dissect`); TCP payload goes through its
direction's `Direction` (sequence space, first copy wins, walkers), UDP payload through
the DTLS walker, everything else is zeroed. A packet whose bytes cannot be decided yet
(out of order, a header split across segments) is held back with every record after it,
so output order equals input order; past the hold window, at the end of the input or when
its flow is evicted, undecided bytes are zeroed and counted (fail closed).
"""

from __future__ import annotations

from collections import deque

from ...config import MaskConfig
from ...proto.dissect import (
    CK_TCP,
    FRAG_NONE,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    STATUS_NOT_DISSECTED,
    STATUS_OK,
    STATUS_TRUNCATED,
    dissect,
)
from ...record import Packet
from .control import control_keeps
from .detect import DetectWalker
from .dtls import dtls_keeps
from .flows import NO_RECORDS, TLS_COUNT_NAMES, Flow, FlowTable
from .frames import PlainSegments, addresses, context, flow_key, segment, zero_outside
from .icmp import quoted_changes, quoted_checksums
from .stream import (
    FAIL_BEFORE_START,
    FAIL_DESYNC,
    FAIL_ERROR,
    FAIL_EVENTS,
    FAIL_FORGOTTEN,
    FAIL_FRAGMENT,
    FAIL_GAP,
    FED,
    STREAM_END,
    Direction,
)
from .wlan import wlan_body_start
from .writer import ZeroWriter

TCP_FIN, TCP_SYN, TCP_RST, TCP_ACK = 0x01, 0x02, 0x04, 0x10
TCP_SYN_FIN_RST = TCP_SYN | TCP_FIN | TCP_RST  # the flags that change a connection's state


class _Held:
    """A packet waiting for decisions on its TCP payload (stream bytes ``[offset, offset + length)``)."""

    __slots__ = ("checksums", "changes", "d", "offset", "start", "length")

    def __init__(self, checksums, changes, d, offset, start, length):
        self.checksums, self.changes, self.d = checksums, changes, d
        self.offset, self.start, self.length = offset, start, length


class MaskStage:
    """Zero payloads, keeping protocol structure (SPEC §6).

    Parameters
    ----------
    config : MaskConfig

    Notes
    -----
    Link types the dissector does not know: 802.11 and radiotap keep their radiotap and
    MAC headers and get zeroed bodies; any other such frame is zeroed whole. The flow
    report (`tables`) lists at most ``MASK_REPORT_MAX_FLOWS`` flows, ended ones first.

    Wireshark agreement (SPEC §2.6) has limits where zeros meet a strict dissector chosen
    by port: zeroed payload on tcp/5000 decodes as IPA/RSL and shows as malformed;
    zeroed non-IP payloads (LLDP, STP, ...) may too. PPP control packets and ICMPv6
    Neighbor Discovery keep their option skeleton (`control`), ICMP-quoted TLS headers
    their stream's decision (`icmp`), HTTP bodies lose a Content-Encoding or a strict
    Content-Type (`http`), STARTTLS dialogues keep their framing (`starttls`).
    """

    name = "mask"

    def __init__(self, config: MaskConfig | None = None):
        self.config = config = config or MaskConfig()
        self._http = config.http_headers
        self._http_zeroed = frozenset(h.encode() for h in config.sensitive_headers)
        self._flows = FlowTable(config.max_flows, config.idle_timeout, self._evicted, config.udp_idle_timeout)
        self._queue: deque = deque()
        self._writer = ZeroWriter()
        self._held_packets = self._held_bytes = 0
        self._flushing = False
        self._current = None  # the direction being fed, for the fail-closed handler
        self._events = dict.fromkeys(FAIL_EVENTS, 0)
        self._s = dict.fromkeys(
            (
                "packets",
                "packets_changed",
                "packets_held",
                "payload_bytes_kept",
                "payload_bytes_zeroed",
                "fail_closed_bytes",
                "trailer_bytes_zeroed",
                "other_bytes_zeroed",
                "not_dissected",
                "fragments",
                "truncated",
                "errors",
                "checksums_unfixable",
                "flows",
                "max_held_packets",
                "max_held_bytes",
            ),
            0,
        )

    # -- the stage contract ----------------------------------------------------------------

    def prepare(self, chunk: list) -> PlainSegments:
        """The NumPy parse of the chunk's plain TCP frames (`~.frames.PlainSegments`): stateless."""
        return PlainSegments(chunk)

    views = False  # zeroed frames' data as views of the writer's buffer (`~pktmask_nb.stages.base.Stage`)

    def process(self, chunk: list, prepared: PlainSegments | None = None) -> list:
        out: list = []
        queue, mask, s = self._queue, self._mask, self._s
        segments = (PlainSegments(chunk) if prepared is None else prepared).rows()
        blocks = 0
        for record, seg in zip(chunk, segments):
            if record.__class__ is not Packet:
                blocks += 1
                if queue:
                    queue.append((record, None))
                else:
                    out.append(record)
                continue
            try:
                held = mask(record, seg)
            except Exception:
                self._fail(record)
                held = None
            if held is None and not queue:
                out.append(record)
                continue
            queue.append((record, held))
            self._held_packets += 1
            self._held_bytes += len(record.data)
            if held is not None:
                s["packets_held"] += 1
            self._release(out)
        s["packets"] += len(chunk) - blocks
        self._writer.apply(self.views)
        return out

    def flush(self) -> list:
        out: list = []
        self._flushing = True
        self._release(out)
        self._writer.apply(self.views)
        self._flows.finish()
        return out

    def stats(self) -> dict:
        s = dict(self._s)
        s["packets_changed"] = self._writer.changed
        s["checksums_unfixable"] += self._writer.unfixable
        s["flows_live"] = len(self._flows)
        s["flows_evicted"] = dict(self._flows.evicted)
        s["flows_unlisted"] = self._flows.unlisted
        s["fail_closed"] = dict(self._events)
        s["fail_closed_events"] = sum(self._events.values())
        s["tls_records"] = dict(zip(TLS_COUNT_NAMES, self._flows.tls_records()))
        s["keep"] = list(self.config.keep)
        return s

    def tables(self) -> dict[str, list[dict]]:
        return {"flows": self._flows.table()}

    # -- holding back --------------------------------------------------------------------

    def _release(self, out: list) -> None:
        """Pass on records from the head of the queue whose decisions are known."""
        queue, cfg, s = self._queue, self.config, self._s
        if self._held_packets > s["max_held_packets"]:
            s["max_held_packets"] = self._held_packets
        if self._held_bytes > s["max_held_bytes"]:
            s["max_held_bytes"] = self._held_bytes
        while queue:
            record, held = queue[0]
            if held is not None:
                d = held.d
                if d.decided < held.offset + held.length:
                    over = self._held_packets > cfg.max_held_packets or self._held_bytes > cfg.max_held_bytes
                    if not (over or self._flushing):
                        return
                    d.zero_rest(d.decided, FAIL_GAP)
                try:
                    self._finish(record, held)
                except Exception:
                    self._fail(record)
            queue.popleft()
            if record.__class__ is Packet:
                self._held_packets -= 1
                self._held_bytes -= len(record.data)
            out.append(record)

    def _evicted(self, flow: Flow) -> None:
        """A flow leaves the table: bytes still undecided are zeroed (fail closed)."""
        for d in flow.dirs:
            if d is not None and d.decided != STREAM_END and (d.ooo or d.decided < d.next):
                d.zero_rest(d.decided, FAIL_GAP)

    # -- one packet ----------------------------------------------------------------------

    def _fail(self, packet: Packet) -> None:
        """Something went wrong: zero everything past the headers we are sure of, and count it."""
        self._s["errors"] += 1
        d, self._current = self._current, None
        if d is not None:
            d.zero_rest(d.decided, FAIL_ERROR)  # counted on the flow and in the totals
        else:
            self._events[FAIL_ERROR] += 1
        try:
            layers = dissect(packet.data, packet.linktype)
            start = 0 if layers.status == STATUS_NOT_DISSECTED else layers.payload_start
        except Exception:
            start = 0
        buf = bytearray(packet.data)
        buf[start:] = bytes(len(buf) - start)
        packet.data = buf

    def _mask(self, packet: Packet, seg: tuple | None):
        """Decide one packet (`seg`: its `~.frames.segment` if it is a plain TCP frame); a `_Held` if it must wait."""
        data = packet.data
        if seg is not None:
            t, end = seg[0], seg[2]
            trailer = len(data) - end
            if trailer:
                self._s["trailer_bytes_zeroed"] += trailer
                return self._tcp(packet, seg, [(t + 16, t, end, 0, CK_TCP)], [(end, trailer)])
            return self._tcp(packet, seg, [(t + 16, t, end, 0, CK_TCP)], [])
        layers = dissect(data, packet.linktype)
        n = len(data)
        status, start, end = layers.status, layers.payload_start, layers.payload_end
        if status == STATUS_NOT_DISSECTED:
            self._s["not_dissected"] += 1
            start = wlan_body_start(data, packet.linktype)
            self._write(packet, (), [(start, n - start)] if start < n else [])
            return None
        changes = []
        if end < n:
            changes.append((end, n - end))
            self._s["trailer_bytes_zeroed"] += n - end
        transport = layers.transport
        if status == STATUS_OK and layers.fragment == FRAG_NONE:
            if transport == IPPROTO_TCP:
                ip_offset, version, _ = layers.ips[layers.ip_index]
                src, dst = addresses(data, ip_offset, version)
                ctx = context(data, layers) if layers.ip_index else b""
                seg = segment(data, layers.transport_offset, start, end, src, dst, ctx)
                return self._tcp(packet, seg, layers.checksums, changes)
            if transport == IPPROTO_UDP and start < end:
                self._udp(packet, layers, changes)
                return None
        elif transport in (IPPROTO_TCP, IPPROTO_UDP) and layers.fragment != FRAG_NONE:
            self._s["fragments"] += 1  # never reassembled: the transport checksum lives in
            self._s["checksums_unfixable"] += start < end  # the first fragment, other frames
            self._events[FAIL_FRAGMENT] += 1
        elif status == STATUS_TRUNCATED:
            self._s["truncated"] += 1
        checksums = layers.checksums
        if start < end:
            if transport in (IPPROTO_ICMP, IPPROTO_ICMPV6) and layers.ips[-1][2]:
                quoted_changes(data, layers, self._flows.flows, changes)
                checksums = quoted_checksums(data, layers)
            else:
                zero_outside(changes, control_keeps(data, layers), start, end)
            self._s["other_bytes_zeroed"] += end - start
        self._write(packet, checksums, changes)
        return None

    def _new_flow(self, key, transport: int, side: int, client_is_sender: bool) -> Flow:
        """A flow whose sender is on canonical `side`; the client is the sender or the receiver."""
        client_side = side if client_is_sender else 1 - side
        flow = Flow(transport, client_side, key, self._flows.now, self._events)
        flow.http_zeroed = self._http_zeroed
        self._flows.add(key, flow)
        self._s["flows"] += 1
        return flow

    def _tcp(self, packet: Packet, seg: tuple, checksums, changes: list):
        """A TCP segment: place it, decide it or hold it back.

        `seg` is ``(tcp_offset, payload_start, payload_end, flags, seq, flow_key, side)``
        (`~.frames.segment`); `changes` the zeroing already decided.

        The common segments take a short path: those without payload, and those that
        continue their direction in order where the decision is already known for all
        their bytes (`~.stream.Direction.advance`: the direction zeroes everything from
        here on, or the segment lies inside the body of the current TLS record). Other
        segments of a direction under way go to `_place`; new flows and directions and
        SYN/FIN/RST segments to `_tcp_general`.
        """
        t, start, end, flags, seq, key, side = seg
        flow = self._flows.get(key, packet.ts)
        if flow is None or flags & TCP_SYN_FIN_RST:
            return self._tcp_general(packet, seg, checksums, changes, flow)
        d = flow.dirs[side]
        if d is None or d.base is None:
            return self._tcp_general(packet, seg, checksums, changes, flow)
        flow.packets += 1
        flow.last_ts = self._flows.now
        if start >= end:
            if changes:
                self._writer.add(packet, checksums, changes)
            return None
        taken = d.advance(seq, end - start)
        if taken is None:
            return self._follow(packet, d, seq, start, end, checksums, changes)
        kept, failed = taken
        s = self._s
        if kept:
            flow.kept += kept
            s["payload_bytes_kept"] += kept
        else:
            length = end - start
            changes.append((start, length))
            flow.zeroed += length
            s["payload_bytes_zeroed"] += length
            if failed:
                flow.failed += failed
                s["fail_closed_bytes"] += failed
        if changes:
            self._writer.add(packet, checksums, changes)
        return None

    def _tcp_general(self, packet: Packet, seg: tuple, checksums, changes: list, flow):
        """Any TCP segment (see `_tcp`): connection state, placement in the stream, decision or holding back."""
        t, start, end, flags, seq, key, side = seg
        syn = flags & TCP_SYN
        if flow is not None and syn and not flags & TCP_ACK:
            d = flow.dirs[side]
            if d is not None and d.syn_seq is not None and d.syn_seq != seq:  # the 4-tuple is reused
                self._flows.evict(key, "closed")
                flow = None
        if flow is None:
            flow = self._new_flow(key, IPPROTO_TCP, side, not (syn and flags & TCP_ACK))
        flow.packets += 1
        flow.last_ts = self._flows.now
        d = flow.dirs[side]
        if d is None:
            d = flow.dirs[side] = Direction(flow, side == flow.client_side, DetectWalker(flow.tls_counts, self._http))
        if syn:
            d.syn_seq = seq
            if d.base is None:
                d.base = (seq + 1) & 0xFFFFFFFF
        if flags & (TCP_FIN | TCP_RST):
            d.fin = d.fin or bool(flags & TCP_FIN)
            other = flow.dirs[1 - side]
            if flags & TCP_RST or (d.fin and other is not None and other.fin):
                self._flows.close(key, flow)
        if start >= end:
            self._write(packet, checksums, changes)
            return None
        if d.base is None and end - start == 1:  # a keep-alive probe (one old byte) cannot start a stream
            flow.count_event(FAIL_BEFORE_START)
            flow.failed += 1
            flow.zeroed += 1
            self._write(packet, checksums, changes + [(start, 1)])
            return None
        return self._place(packet, d, seq, 1 if syn else 0, start, end, checksums, changes)

    def _place(self, packet: Packet, d, seq: int, syn: int, start: int, end: int, checksums, changes: list):
        """Place the payload ``[start, end)`` in `d`'s stream; decide it now, or hold it back (a `_Held`)."""
        self._current = d
        offset = d.place(seq, syn, packet.data, start, end)
        self._current = None
        return self._decide_or_hold(packet, d, offset, start, end - start, checksums, changes)

    def _decide_or_hold(self, packet: Packet, d, offset: int, start: int, length: int, checksums, changes: list):
        """Decide the payload at `start` (stream ``offset``) if `d` has decided all of it, else hold it back (a `_Held`)."""
        if offset + length <= d.decided:
            self._decide(packet, d, offset, start, length, checksums, changes)
            return None
        d.flow.held += 1
        d.held += 1
        return _Held(checksums, changes, d, offset, start, length)

    def _follow(self, packet: Packet, d, seq: int, start: int, end: int, checksums, changes: list):
        """A segment continuing `d` in order whose bytes the walker must read (`~.stream.Direction.follow`),
        else any other segment of a direction under way (`_place`)."""
        self._current = d
        ranges = d.follow(seq, packet.data, start, end)
        self._current = None
        if ranges is None:
            return self._place(packet, d, seq, 0, start, end, checksums, changes)
        length = end - start
        offset = d.next - length
        if ranges is FED:  # undecided, or the walker gave up (zero_ranges counts the fail-closed bytes)
            return self._decide_or_hold(packet, d, offset, start, length, checksums, changes)
        self._apply(packet, d, offset, start, length, checksums, changes, ranges, 0)
        return None

    def _finish(self, packet: Packet, held: _Held) -> None:
        """Apply a held packet's decisions, now known."""
        held.d.held -= 1
        self._decide(packet, held.d, held.offset, held.start, held.length, held.checksums, held.changes)

    def _decide(self, packet: Packet, d, offset: int, start: int, length: int, checksums, changes: list) -> None:
        """Zero what `d` does not keep of the payload at `start` (stream ``offset``) and write the changes."""
        ranges, failed = d.zero_ranges(offset, offset + length)
        self._apply(packet, d, offset, start, length, checksums, changes, ranges, failed)

    def _apply(self, packet: Packet, d, offset: int, start: int, length: int, checksums, changes, ranges, failed):
        """Zero the stream `ranges` of the payload at `start` (stream ``offset``), `failed` bytes of them fail-closed."""
        zeroed = 0
        for a, b in ranges:
            changes.append((start + a - offset, b - a))
            zeroed += b - a
        flow, s = d.flow, self._s
        flow.kept += length - zeroed
        flow.zeroed += zeroed
        s["payload_bytes_kept"] += length - zeroed
        s["payload_bytes_zeroed"] += zeroed
        if failed:
            flow.failed += failed
            s["fail_closed_bytes"] += failed
            if offset < 0:
                flow.count_event(FAIL_BEFORE_START)
            elif offset < d.forgotten:
                flow.count_event(FAIL_FORGOTTEN)
        self._write(packet, checksums, changes)

    def _udp(self, packet: Packet, layers, changes: list) -> None:
        data = packet.data
        ip_offset, version, _ = layers.ips[layers.ip_index]
        src, dst = addresses(data, ip_offset, version)
        ctx = context(data, layers) if layers.ip_index else b""
        t = layers.transport_offset
        key, side = flow_key(IPPROTO_UDP, ctx, bytes(src + data[t : t + 2]), bytes(dst + data[t + 2 : t + 4]))
        flow = self._flows.get(key, packet.ts)
        if flow is None:
            flow = self._new_flow(key, IPPROTO_UDP, side, True)
        flow.packets += 1
        flow.last_ts = self._flows.now
        start, end = layers.payload_start, layers.payload_end
        counts = flow.tls_counts
        if counts is NO_RECORDS:
            counts = [0] * len(TLS_COUNT_NAMES)
        keeps, broken = dtls_keeps(data, start, end, counts)
        if keeps:
            flow.tls_counts = counts
        pos = zero_outside(changes, keeps, start, end)
        kept = sum(b - a for a, b in keeps)
        flow.set_protocol("dtls" if keeps else "other")
        if broken:
            flow.count_event(FAIL_DESYNC)
            flow.failed += end - pos
            self._s["fail_closed_bytes"] += end - pos
        flow.kept += kept
        flow.zeroed += end - start - kept
        self._s["payload_bytes_kept"] += kept
        self._s["payload_bytes_zeroed"] += end - start - kept
        self._write(packet, layers.checksums, changes)

    def _write(self, packet: Packet, checksums, changes: list) -> None:
        """Zero the byte ranges ``(offset, length)`` of `changes` (RFC 1624 checksums) at the chunk's end."""
        if changes:
            self._writer.add(packet, checksums, changes)
