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

from bisect import insort

from .keeps import KEEP_REASONS, Keeps

SEQ_MOD = 1 << 32
SEQ_HALF = 1 << 31
NO_SEQ = -1  # `Direction.base` and `syn_seq` until known (sequence numbers are 0 .. 2^32 - 1)
STREAM_END = 1 << 62  # `decided` once nothing more can be kept: everything is zero
KEEP_MAX_INTERVALS = 32  # kept intervals remembered per direction for retransmissions
KEEP_MAX_BYTES = 64 * 1024  # and the bytes they were decided on, at most this many
NO_PIECES = ()  # `Direction.ooo` while nothing waits past a gap (most directions, most of the time)
NO_KEEPS = Keeps()  # `Direction.keeps` while it keeps nothing (most directions): never added to

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


class Direction:
    """Sequence space, walker and decision map of one TCP direction.

    Attributes
    ----------
    base : int
        Sequence number of stream offset 0 (ISN + 1 after a SYN, else the first data byte);
        `NO_SEQ` until a segment tells it.
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
        Dropping happens when the next segment arrives (past the limits) or the stage
        remembers too many bytes (`forget`), and none of this direction's packets waits for
        its decisions (`held`), so a segment's own decisions are never dropped.
    acked : int
        Stream offset up to which the other side acknowledged the bytes (0 until it did).
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

    def __init__(self, flow, client: bool, walker, remembered=None):
        self.flow = flow
        self.client = client
        self.base = NO_SEQ
        self.syn_seq = NO_SEQ
        self.start_known = False
        self.next = 0
        self.decided = 0
        self.keeps = NO_KEEPS
        self.remembered = remembered  # counts the bytes of the Keeps it makes on its first keep
        self.forgotten = 0
        self.acked = 0
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
            if keeps is NO_KEEPS:
                keeps = self.keeps = Keeps(self.remembered)
            keeps.add(start, end, reason, self._data[start - self._offset : end - self._offset])

    def _forget(self) -> None:
        """Drop the oldest kept intervals past the limits, unless a held packet needs them."""
        keeps = self.keeps
        while keeps and not self.held and (len(keeps) > KEEP_MAX_INTERVALS or len(keeps.data) > KEEP_MAX_BYTES):
            self.forgotten = keeps.drop_until(keeps.bounds[1])
        if not keeps:
            self.keeps = NO_KEEPS

    def acknowledged(self, seq: int) -> None:
        """The other side acknowledged the bytes before sequence number `seq` (`acked`)."""
        if self.base >= 0:
            offset = self.offset_of(seq)
            if offset > self.acked:
                self.acked = offset

    def forget(self, offset: int) -> None:
        """Drop the kept intervals that end at or before `offset`, unless a held packet needs
        them: a later copy of their bytes is zeroed (`forgotten`)."""
        if self.held or not self.keeps:
            return
        end = self.keeps.drop_until(offset)
        if end >= 0:
            self.forgotten = end
        if not self.keeps:
            self.keeps = NO_KEEPS

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
        if self.base < 0:
            self.base = (seq + syn) % SEQ_MOD
        keeps = self.keeps
        if len(keeps) > KEEP_MAX_INTERVALS or len(keeps.data) > KEEP_MAX_BYTES:
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

    def decide(
        self, start: int, data, at: int, length: int, changes: list, kept_bytes, failed, count: bool, restrict=None
    ):
        """Decide `length` bytes of `data` at `at`, a copy of stream bytes from `start` on.

        Kept intervals keep the bytes that equal the first copy's, counted in `kept_bytes` by
        the code of their reason (`~.keeps.reason_code`); everything else is zero: its
        ``(frame offset, length)`` ranges are appended to `changes`. Bytes below `forgotten`,
        from `fail_from` on, not decided yet (only asked for when the stage gives up on them),
        or differing from the kept first copy count as fail-closed, added to ``failed[0]``;
        with `count`, the events that caused them are counted on the flow. With `restrict`,
        ``(reason, allowed)``, an interval kept for `reason` is kept only where it is one of
        the ``(start, end)`` of `allowed` (what this very copy may show, as the stage knows
        it); elsewhere it is zero. Returns the bytes kept.
        """
        if at < 0 or length < 0 or at + length > len(data):
            raise IndexError(f"decide: [{at}, {at + length}) is not within {len(data)} bytes")
        shift = at - start  # frame offset minus stream offset
        end = start + length
        kept = 0
        pos = start
        lo = max(0, self.forgotten)
        hi = min(self.decided, self.fail_from)
        if pos < lo:
            b = min(lo, end)
            if b > pos:
                changes.append((pos + shift, b - pos))
                failed[0] += b - pos
                if count:
                    self.flow.count_event(FAIL_BEFORE_START if pos < 0 else FAIL_FORGOTTEN)
            pos = b
        keeps = self.keeps
        begin = pos
        for i in range(keeps.count()):  # the kept intervals meeting [begin, end), in order
            first, last = keeps.start(i), keeps.end(i)
            if last <= begin:
                continue
            if first >= end:
                break
            a, b = max(first, pos), min(last, end)
            if a > pos:
                changes.append((pos + shift, a - pos))
            if restrict is not None and KEEP_REASONS[keeps.reason(i)] == restrict[0] and (a, b) not in restrict[1]:
                changes.append((a + shift, b - a))
                pos = b
                continue
            if keeps.same(i, a, data, a + shift, b - a):
                kept_bytes[keeps.reason(i)] += b - a
                kept += b - a
            else:
                changes.append((a + shift, b - a))
                failed[0] += b - a
                if count:
                    self.flow.count_event(FAIL_MISMATCH)
            pos = b
        if pos < end:
            if pos < hi:
                changes.append((pos + shift, min(hi, end) - pos))
                pos = min(hi, end)
            if end > pos:  # past a fail-closed event (counted then) or given up on
                changes.append((pos + shift, end - pos))
                failed[0] += end - pos
        return kept
