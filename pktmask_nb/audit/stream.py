"""One TCP direction of the sanitized file, for rules 2 and 3 of the audit (SPEC §8).

A direction is audited from its SYN only. Its in-order bytes are fed to a walker
(`~pktmask_nb.audit.walkers`) that marks which stream ranges may be non-zero (`allow`:
record headers, handshakes, HTTP headers, ...) and which are TLS application-data
bodies (`app`); every other byte must be zero. Segments past a gap wait in a reorder
buffer (bounded for all directions together by `Hold`) and are fed when the gap fills;
bytes still waiting at the end of the input must be zero, since mask zeroes what it
cannot place (SPEC §6, fail closed). Bytes a walker cannot decide yet (a header cut by the
segment's end) wait for the next segment, and must be zero at the end too.

What is not judged is counted as unaudited, never guessed: a direction without its SYN,
the rest of a direction once the reorder budget is spent or the peer direction needed
to read it is unknown, retransmissions older than the decisions remembered for the last
``MEMORY_INTERVALS`` ranges.
"""

from __future__ import annotations

from bisect import bisect_right, insort

from .report import KIND_PAYLOAD, KIND_TLS_APP_DATA, WHERE_PAYLOAD

SEQ_MOD = 1 << 32
SEQ_HALF = 1 << 31
MEMORY_INTERVALS = 64  # remembered intervals of each kind per direction
HOLD_MAX_BYTES = 32 << 20  # out-of-order bytes held by all directions together
HOLD_MAX_PIECES = 16384

ALLOW, APP, ZERO = 0, 1, 2
SPAN_KIND = {APP: KIND_TLS_APP_DATA, ZERO: KIND_PAYLOAD}
SPAN_TEXT = {APP: "a TLS application-data body", ZERO: "a zeroed payload"}


class Hold:
    """The reorder budget shared by every direction."""

    __slots__ = ("bytes", "pieces")

    def __init__(self):
        self.bytes = self.pieces = 0

    def take(self, n: int, pieces: int) -> bool:
        if self.bytes + n > HOLD_MAX_BYTES or self.pieces + pieces > HOLD_MAX_PIECES:
            return False
        self.bytes, self.pieces = self.bytes + n, self.pieces + pieces
        return True

    def give(self, n: int, pieces: int) -> None:
        self.bytes, self.pieces = self.bytes - n, self.pieces - pieces


class Direction:
    """Stream offsets, walker, reorder buffer and remembered decisions of one direction.

    Walkers call `allow` and `app` (in increasing order), `zero_rest`, `switch`, `give_up`.
    """

    __slots__ = (
        "flow",
        "client",
        "label",
        "hold",
        "base",
        "syn_seq",
        "seen_data",
        "stopped",
        "next",
        "decided",
        "walker",
        "pending",
        "ooo",
        "spans",
        "floor",
        "given_up",
    )

    def __init__(self, flow, client: bool, label: str, hold: Hold):
        self.flow, self.client, self.label, self.hold = flow, client, label, hold
        self.base = self.syn_seq = self.given_up = None
        self.seen_data = self.stopped = False
        self.next = self.decided = self.floor = 0
        self.walker = None
        self.pending: list[tuple[int, bytes, int, int]] = []  # (offset, bytes, frame, file offset) undecided
        self.ooo: list[tuple[int, bytes, int, int]] = []  # the same, past a gap, disjoint, sorted
        self.spans = ([], [])  # flat [start, end, ...] of ALLOW and APP intervals

    # -- called by walkers -------------------------------------------------------------------

    def allow(self, start: int, end: int) -> None:
        """Stream bytes ``[start, end)`` may be non-zero."""
        _mark(self.spans[ALLOW], start, end)

    def app(self, start: int, end: int) -> None:
        """Stream bytes ``[start, end)`` are a TLS application-data body (must be zero)."""
        _mark(self.spans[APP], start, end)

    def zero_rest(self) -> int:
        """Everything from here on must be zero."""
        self.walker = None
        return 0

    def switch(self, walker, data, offset: int) -> int:
        self.walker = walker
        return walker.feed(self, data, offset) if len(data) else 0

    def give_up(self, offset: int) -> int:
        """What follows `offset` cannot be judged (it depends on a direction not audited)."""
        self.walker = None
        self.given_up = offset
        return 0

    def peer_known(self) -> bool:
        """True if the other direction is audited from its start (its requests, its STARTTLS)."""
        peer = self.flow.dirs[self.flow.dirs[0] is self]
        return peer is not None and peer.base is not None and not peer.stopped

    # -- segments ----------------------------------------------------------------------------

    def segment(self, seq: int, syn: int, payload: bytes, frame: int, where: int, sink) -> None:
        """A segment's `payload` (at file offset `where`): check what is known, place what is new."""
        if self.base is None:
            return sink.skip("no_syn", payload)
        nxt = self.next
        off = nxt + ((seq + syn - self.base) % SEQ_MOD - nxt + SEQ_HALF) % SEQ_MOD - SEQ_HALF
        if off < nxt:
            old = min(len(payload), nxt - off)
            self.recheck(off, payload[:old], frame, where, sink)
            payload, where, off = payload[old:], where + old, nxt
        if not payload:
            return None
        if self.stopped:
            return sink.skip("stopped", payload)
        if off > nxt:
            return self._buffer(off, payload, frame, where, sink)
        self._in_order(payload, frame, where, sink)
        while self.ooo and self.ooo[0][0] <= self.next and not self.stopped:
            off, payload, frame, where = self.ooo.pop(0)
            self.hold.give(len(payload), 1)
            cut = min(len(payload), self.next - off)
            self.recheck(off, payload[:cut], frame, where, sink)  # a later copy was fed first
            if cut < len(payload):
                self._in_order(payload[cut:], frame, where + cut, sink)
        return None

    def _buffer(self, off: int, payload: bytes, frame: int, where: int, sink) -> None:
        """Hold the parts of an out-of-order segment no held piece covers (first copy wins)."""
        pieces, end = [(off, off + len(payload))], off + len(payload)
        for start, data, _, _ in self.ooo:
            stop = start + len(data)
            if stop > off and start < end:
                pieces = [p for a, b in pieces for p in ((a, min(b, start)), (max(a, stop), b)) if p[0] < p[1]]
        if not self.hold.take(sum(b - a for a, b in pieces), len(pieces)):
            self.stop("held", sink)
            return sink.skip("held", payload)
        pos = off
        for a, b in pieces + [(end, end)]:  # bytes another held piece covers: not judged
            sink.skip("undecided", payload[pos - off : a - off])
            pos = b
        for a, b in pieces:
            insort(self.ooo, (a, payload[a - off : b - off], frame, where + a - off))
        return None

    def _in_order(self, payload: bytes, frame: int, where: int, sink) -> None:
        self.pending.append((self.next, payload, frame, where))
        self.next += len(payload)
        upto = self.next
        if self.walker is not None:
            pending = self.pending
            data = pending[0][1] if len(pending) == 1 else b"".join(p[1] for p in pending)
            undecided = self.walker.feed(self, data, self.decided)
            if self.walker is not None:
                upto -= undecided
        if self.given_up is not None:
            self.check_pending(self.given_up, sink)
            return self.stop("peer_unknown", sink)
        self.check_pending(upto, sink)
        return None

    def stop(self, reason: str, sink) -> None:
        """Nothing more of this direction is judged."""
        self.stopped, self.walker = True, None
        for piece in self.pending + self.ooo:
            sink.skip(reason, piece[1])
        self.hold.give(sum(len(p[1]) for p in self.ooo), len(self.ooo))
        self.pending, self.ooo = [], []

    def check_pending(self, upto: int, sink) -> None:
        """Judge the pending bytes below `upto`; they are decided."""
        pending = self.pending
        while pending and pending[0][0] < upto:
            off, data, frame, where = pending[0]
            cut = min(len(data), upto - off)
            self.check(off, data[:cut], frame, where, sink)
            if cut < len(data):
                pending[0] = (off + cut, data[cut:], frame, where + cut)
                break
            pending.pop(0)
        self.decided = max(self.decided, upto)
        for spans in self.spans:  # keep the last MEMORY_INTERVALS intervals of each kind
            if len(spans) > 4 * MEMORY_INTERVALS and spans[len(spans) - 2 * MEMORY_INTERVALS - 1] <= self.decided:
                cut = len(spans) - 2 * MEMORY_INTERVALS
                self.floor = max(self.floor, spans[cut - 1])
                del spans[:cut]

    def recheck(self, off: int, data: bytes, frame: int, where: int, sink) -> None:
        """A retransmitted range: judged by the remembered decisions where they reach."""
        end = off + len(data)
        lo, hi = max(off, 0, self.floor), min(end, self.decided)
        sink.skip("before_start", data[: max(min(end, 0) - off, 0)])
        sink.skip("forgotten", data[max(off, 0) - off : max(min(end, lo) - off, 0)])
        sink.skip("undecided", data[max(hi, lo) - off :])
        if lo < hi:
            self.check(lo, data[lo - off : hi - off], frame, where + lo - off, sink)

    def known(self, off: int, end: int) -> bool:
        """True if the decisions for stream range ``[off, end)`` are remembered."""
        return self.base is not None and max(0, self.floor) <= off and end <= self.decided

    def offset_of(self, seq: int) -> int:
        nxt = self.next
        return nxt + ((seq - self.base) % SEQ_MOD - nxt + SEQ_HALF) % SEQ_MOD - SEQ_HALF

    # -- judging -------------------------------------------------------------------------------

    def check(self, off: int, data: bytes, frame: int, where: int, sink) -> None:
        """Report non-zero bytes of ``data`` (stream offset `off`) outside the allowed ranges."""
        if data.count(0) == len(data):
            return
        for start, end, kind in self._cover(off, off + len(data)):
            if kind == ALLOW:
                continue
            part = data[start - off : end - off]
            nonzero = len(part) - part.count(0)
            if nonzero:
                first = where + start - off + len(part) - len(part.lstrip(b"\0"))
                sink.nonzero_bytes += nonzero
                detail = f"{nonzero} non-zero bytes in {SPAN_TEXT[kind]} ({self.label})"
                sink.add(SPAN_KIND[kind], frame, first, detail, WHERE_PAYLOAD)

    def _cover(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """``(start, end, kind)`` pieces covering ``[start, end)`` in order."""
        marks = []
        for kind in (ALLOW, APP):
            spans = self.spans[kind]
            i = bisect_right(spans, start)
            i -= i & 1  # the interval that may contain `start`
            while i < len(spans) and spans[i] < end:
                a, b = max(spans[i], start), min(spans[i + 1], end)
                if a < b:
                    marks.append((a, b, kind))
                i += 2
        marks.sort()
        pieces, pos = [], start
        for a, b, kind in marks:
            if a > pos:
                pieces.append((pos, a, ZERO))
            pieces.append((a, b, kind))
            pos = max(pos, b)
        if pos < end:
            pieces.append((pos, end, ZERO))
        return pieces

    def finish(self, sink) -> None:
        """The end of the input: undecided and held bytes must be zero (mask zeroes them)."""
        if self.stopped:
            return
        self.walker = None
        self.check_pending(self.next, sink)
        for off, data, frame, where in self.ooo:
            self.check(off, data, frame, where, sink)

    def forget(self, sink) -> None:
        """The flow is dropped (table full, 4-tuple reused): its waiting bytes are not judged."""
        self.stop("evicted", sink)


def _mark(spans: list, start: int, end: int) -> None:
    if start >= end:
        return
    if spans and spans[-1] >= start:
        spans[-1] = max(spans[-1], end)
    else:
        spans += (start, end)
