"""One direction of a TCP connection in sequence space: placement, reassembly, the decision map.

Payload bytes are placed at stream offsets (sequence numbers relative to the stream start,
unwrapped past 2^32). Bytes arriving in order are fed once, first copy wins, to the
direction's walker (TLS, HTTP, STARTTLS prelude, ...), which records which offsets are
kept and why; everything below `Direction.decided` that is not kept is zero. A kept range
remembers the bytes it was decided on: a later copy (a retransmission) keeps its bytes
only where they are the same (SPEC §6). Bytes past a gap wait in a small out-of-order
buffer until the gap fills or the stage gives up (fail closed).
"""

from __future__ import annotations

from array import array
from bisect import insort

SEQ_MOD = 1 << 32
SEQ_HALF = 1 << 31
STREAM_END = 1 << 62  # `decided` once nothing more can be kept: everything is zero
KEEP_MAX_INTERVALS = 32  # kept intervals remembered per direction for retransmissions
KEEP_MAX_BYTES = 64 * 1024  # and the bytes they were decided on, at most this many
NO_PIECES = ()  # `Direction.ooo` while nothing waits past a gap (most directions, most of the time)

# fail-closed events (SPEC §2.4, §6), counted per flow and in the stage stats
FAIL_GAP = "gap"  # a gap that never filled within the hold window, or at the end of input
FAIL_DESYNC = "desync"  # a record or message header that does not parse mid-stream
FAIL_BEFORE_START = "before_start"  # bytes before the first byte the stream was started from
FAIL_FORGOTTEN = "forgotten"  # a retransmission older than the remembered decisions
FAIL_MISMATCH = "mismatch"  # a later copy of kept bytes that differs from the first copy
FAIL_FRAGMENT = "fragment"  # transport payload in IP fragments (never reassembled)
FAIL_ERROR = "error"  # an exception in the per-packet logic
FAIL_TRUNCATED = "truncated"  # headers cut by snaplen
FAIL_EVENTS = (
    FAIL_GAP,
    FAIL_DESYNC,
    FAIL_BEFORE_START,
    FAIL_FORGOTTEN,
    FAIL_MISMATCH,
    FAIL_FRAGMENT,
    FAIL_ERROR,
    FAIL_TRUNCATED,
)


KEEP_REASONS: list[str] = []  # reason names by the small number `Keeps` stores
KEEP_REASON_CODES: dict[str, int] = {}


def reason_code(reason: str) -> int:
    codes = KEEP_REASON_CODES
    code = codes.get(reason)
    if code is None:
        code = codes[reason] = len(KEEP_REASONS)
        KEEP_REASONS.append(reason)
    return code


class Keeps:
    """Kept stream intervals in order, why each is kept, and the bytes it was decided on, in
    three flat buffers (a live flow remembers up to KEEP_MAX_INTERVALS of them).

    ``bounds`` holds ``start, end, at`` per interval (`at`: where its bytes begin in ``data``).
    """

    # its fields are declared in stream.pxd

    def __init__(self):
        self.bounds = array("q")
        self.reasons = bytearray()
        self.data = bytearray()

    def __len__(self) -> int:
        return len(self.reasons)

    def last_end(self) -> int:
        return self.bounds[-2] if self.reasons else -1

    def add(self, start: int, end: int, reason: str, data) -> None:
        """Keep ``[start, end)`` (its bytes `data`), joined to the last interval if they touch and agree."""
        code = reason_code(reason)
        bounds = self.bounds
        if self.reasons and bounds[-2] == start and self.reasons[-1] == code:
            bounds[-2] = end
        else:
            bounds.extend((start, end, len(self.data)))
            self.reasons.append(code)
        self.data += data

    def drop_first(self) -> int:
        """Forget the oldest interval; where it ended."""
        bounds = self.bounds
        end, size = bounds[1], bounds[1] - bounds[0]
        del bounds[:3], self.reasons[0], self.data[:size]
        for i in range(2, len(bounds), 3):
            bounds[i] -= size
        return end


class Decision:
    """What to do with one segment's payload: stream ranges to zero, kept bytes by reason,
    and the zeroed bytes that count as fail-closed (with the event that caused them)."""

    # its fields are declared in stream.pxd

    def __init__(self):
        self.zero: list[tuple[int, int]] = []
        self.kept: list[tuple[int, str]] = []
        self.failed = 0
        self.events: dict[str, int] = {}

    def fail(self, a: int, b: int, event: str | None) -> None:
        """Zero ``[a, b)`` as fail-closed bytes; `event` is counted (None: counted when it happened)."""
        if b > a:
            self.zero.append((a, b))
            self.failed += b - a
            if event is not None:
                self.events[event] = self.events.get(event, 0) + 1


class Direction:
    """Sequence space, walker and decision map of one TCP direction.

    Attributes
    ----------
    base : int or None
        Sequence number of stream offset 0 (ISN + 1 after a SYN, else the first data byte).
    start_known : bool
        Offset 0 is the stream's first byte (the SYN was seen): a walker may take a record
        header there as a stream start.
    next : int
        Stream offset of the first byte not yet fed to the walker.
    decided : int
        Every byte below it has a final decision; `STREAM_END` once all later bytes are zero.
    keeps : Keeps
        Kept intervals in order (at most KEEP_MAX_INTERVALS, KEEP_MAX_BYTES of their bytes).
    forgotten : int
        Decisions below this offset were dropped (bounded memory): such bytes are zero.
        Dropping happens when the next segment arrives and none of this direction's packets
        waits for its decisions (`held`), so a segment's own decisions are never dropped.
    held : int
        Packets of this direction held back, waiting for decisions (counted by the stage).
    fail_from : int
        Offset from which bytes are zero because of a fail-closed event (`STREAM_END` if none).
    walker : object or None
        Decides in-order bytes: ``walker.feed(direction, data, offset)`` records kept ranges
        with `keep` and returns how many trailing bytes of `data` it cannot decide yet (a
        header cut by the segment's end); None = all zero.
    tail : bytes
        Those undecided trailing bytes, fed again in front of the next in-order bytes.
    segment : int
        Stream offset where the bytes being fed began arriving as one segment, -1 if they
        continue one (walkers that need segment boundaries, `~.detect.MidStreamWalker`, read it).
    """

    # its fields are declared in stream.pxd

    def __init__(self, flow, client: bool, walker):
        self.flow = flow
        self.client = client
        self.base = None
        self.syn_seq = None
        self.start_known = False
        self.next = 0
        self.decided = 0
        self.keeps = Keeps()
        self.forgotten = 0
        self.fail_from = STREAM_END
        self.walker = walker
        self.tail = b""
        self.ooo = NO_PIECES  # (offset, bytes) pieces past a gap, sorted, no overlaps: a list once there are some
        self.fin = False
        self.held = 0
        self.segment = 0
        self._data = b""  # the bytes being fed, starting at stream offset `_offset`
        self._offset = 0

    # -- decisions (called by walkers) -------------------------------------------------

    def keep(self, start: int, end: int, reason: str) -> None:
        """Keep stream bytes ``[start, end)`` (within the bytes being fed) for `reason`;
        walkers call this in increasing order."""
        keeps = self.keeps
        last = keeps.last_end()
        if last > start:
            start = last
        if start < end:
            keeps.add(start, end, reason, self._data[start - self._offset : end - self._offset])

    def _forget(self) -> None:
        """Drop the oldest kept intervals past the limits, unless a held packet needs them."""
        keeps = self.keeps
        while keeps and not self.held and (len(keeps) > KEEP_MAX_INTERVALS or len(keeps.data) > KEEP_MAX_BYTES):
            self.forgotten = keeps.drop_first()

    def zero_rest(self, offset: int, event: str | None = None) -> int:
        """Nothing from `offset` on is kept; with `event`, that is a fail-closed event. Returns 0."""
        self.walker = None
        self.decided = STREAM_END
        self.tail = b""
        self.ooo = NO_PIECES
        if event is not None:
            if offset < self.fail_from:
                self.fail_from = offset
            self.flow.count_event(event)
        return 0

    def resume(self, walker) -> None:
        """Hand the undecided bytes (and what follows) to `walker`: the answer a waiting walker
        waited for has come (`~.detect.AwaitWalker`)."""
        tail, self.tail = self.tail, b""
        self.walker = walker
        if tail:
            self._feed(tail, self.decided, self.decided)
        elif walker is None:
            self.zero_rest(self.decided)

    def switch(self, walker, data, offset: int) -> int:
        """Hand the rest of the stream, from `data` at `offset`, to another walker; returns its undecided tail length."""
        self.walker = walker
        return walker.feed(self, data, offset) if data else 0

    def _feed(self, data, offset: int, segment: int = -1) -> None:
        """Feed in-order bytes (after any undecided tail) to the walker; all but a new tail are decided.

        `segment` is `offset` when the bytes start a segment (-1 when they continue one)."""
        self.segment = segment
        if self.tail:
            data = self.tail + data
            offset -= len(self.tail)
        self._data, self._offset = data, offset
        undecided = self.walker.feed(self, data, offset)
        self._data = b""
        if self.walker is None:  # zero from some point on: everything is decided
            return
        self.tail = bytes(data[len(data) - undecided :]) if undecided else b""
        self.decided = offset + len(data) - undecided

    # -- placement -----------------------------------------------------------------------

    def offset_of(self, seq: int) -> int:
        """Stream offset of sequence number `seq` (the one closest to `next`); needs `base`."""
        nxt, base = self.next, self.base
        return nxt + ((seq - base) % SEQ_MOD - nxt + SEQ_HALF) % SEQ_MOD - SEQ_HALF

    def place(self, seq: int, syn: int, data, start: int, stop: int) -> int:
        """Place the payload ``data[start:stop]`` of a segment; returns its stream offset.

        Bytes in order are fed to the walker (and any buffered bytes they reach); bytes past
        a gap are buffered; bytes seen before are left alone (the first copy decided them).
        """
        if self.base is None:
            self.base = (seq + syn) % SEQ_MOD
        keeps = self.keeps
        if len(keeps.reasons) > KEEP_MAX_INTERVALS or len(keeps.data) > KEEP_MAX_BYTES:
            self._forget()
        nxt, base = self.next, self.base
        offset = nxt + ((seq + syn - base) % SEQ_MOD - nxt + SEQ_HALF) % SEQ_MOD - SEQ_HALF
        end = offset + stop - start
        if end <= nxt:
            return offset
        walker = self.walker
        if offset > nxt:
            if walker is not None:
                self._buffer(offset, data[start:stop])
            return offset
        self.next = end
        if walker is not None:
            self._feed(data[start + nxt - offset : stop], nxt, nxt if offset == nxt else -1)
            if self.ooo:
                self._drain()
        return offset

    def _buffer(self, offset: int, payload: bytes) -> None:
        """Keep the parts of an out-of-order segment that no earlier copy covers."""
        end = offset + len(payload)
        pieces = [(offset, end)]
        for start, data in self.ooo:
            stop = start + len(data)
            if stop <= offset or start >= end:
                continue
            cut = []
            for a, b in pieces:
                if a < start:
                    cut.append((a, min(b, start)))
                if b > stop:
                    cut.append((max(a, stop), b))
            pieces = cut
        if not self.ooo:
            self.ooo = []
        for a, b in pieces:
            if a < b:
                insort(self.ooo, (a, bytes(payload[a - offset : b - offset])))

    def _drain(self) -> None:
        """Feed buffered pieces that the stream has now reached."""
        ooo = self.ooo
        while ooo and ooo[0][0] <= self.next and self.walker is not None:
            start, data = ooo.pop(0)
            end = start + len(data)
            nxt = self.next
            if end > nxt:
                self.next = end
                self._feed(data[nxt - start :] if start < nxt else data, nxt, nxt if start == nxt else -1)

    # -- applying decisions --------------------------------------------------------------

    def decide(self, start: int, payload, restrict=None) -> Decision:
        """The decision for `payload`, a copy of stream bytes from `start` on.

        Kept intervals keep the payload's bytes that equal the first copy's; everything else
        is zero. Bytes below `forgotten`, from `fail_from` on, not decided yet (only asked
        for when the stage gives up on them), or differing from the kept first copy count as
        fail-closed. With `restrict`, ``(reason, allowed)``, an interval kept for `reason` is
        kept only where it is one of the ``(start, end)`` of `allowed` (what this very copy
        may show, as the stage knows it); elsewhere it is zero.
        """
        end = start + len(payload)
        decision = Decision()
        pos = start
        lo = max(0, self.forgotten)
        hi = min(self.decided, self.fail_from)
        if pos < lo:
            decision.fail(pos, min(lo, end), FAIL_BEFORE_START if pos < 0 else FAIL_FORGOTTEN)
            pos = min(lo, end)
        keeps = self.keeps
        bounds, reasons, data = keeps.bounds, keeps.reasons, keeps.data
        begin = pos
        for i in range(len(reasons)):  # the kept intervals meeting [begin, end), in order
            first, last, at = bounds[3 * i], bounds[3 * i + 1], bounds[3 * i + 2]
            if last <= begin:
                continue
            if first >= end:
                break
            reason = KEEP_REASONS[reasons[i]]
            a, b = max(first, pos), min(last, end)
            if a > pos:
                decision.zero.append((pos, a))
            if restrict is not None and reason == restrict[0] and (a, b) not in restrict[1]:
                decision.zero.append((a, b))
                pos = b
                continue
            at += a - first
            if payload[a - start : b - start] == data[at : at + b - a]:
                decision.kept.append((b - a, reason))
            else:
                decision.fail(a, b, FAIL_MISMATCH)
            pos = b
        if pos < end:
            if pos < hi:
                decision.zero.append((pos, min(hi, end)))
                pos = min(hi, end)
            decision.fail(pos, end, None)  # past a fail-closed event (counted then) or given up on
        return decision
