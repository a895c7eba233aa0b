"""One direction of a TCP connection in sequence space: placement, reassembly, the decision map.

Payload bytes are placed at stream offsets (sequence numbers relative to the stream start,
unwrapped past 2^32). Bytes arriving in order are fed once, first copy wins, to the
direction's walker (TLS, HTTP, STARTTLS prelude, ...), which records which offsets are
kept; everything below `Direction.decided` that is not kept is zero. Bytes past a gap wait
in a small out-of-order buffer until the gap fills or the stage gives up (fail closed).
"""

from __future__ import annotations

from array import array
from bisect import bisect_right, insort

SEQ_MOD = 1 << 32
SEQ_HALF = 1 << 31
STREAM_END = 1 << 62  # `decided` once nothing more can be kept: everything is zero
KEEP_MAX_INTERVALS = 32  # kept intervals remembered per direction for retransmissions
NO_PIECES = ()  # `Direction.ooo` while nothing waits past a gap (most directions, most of the time)
FED = object()  # `Direction.follow`: the segment was fed, but its decision must be asked for (or waited for)

# fail-closed events (SPEC §2.4, §6), counted per flow and in the stage stats
FAIL_GAP = "gap"  # a gap that never filled within the hold window, or at the end of input
FAIL_DESYNC = "desync"  # a record or message header that does not parse mid-stream
FAIL_BEFORE_START = "before_start"  # bytes before the first byte the stream was started from
FAIL_FORGOTTEN = "forgotten"  # a retransmission older than the remembered decisions
FAIL_FRAGMENT = "fragment"  # transport payload in IP fragments (never reassembled)
FAIL_ERROR = "error"  # an exception in the per-packet logic
FAIL_TRUNCATED = "truncated"  # headers cut by snaplen
FAIL_EVENTS = (FAIL_GAP, FAIL_DESYNC, FAIL_BEFORE_START, FAIL_FORGOTTEN, FAIL_FRAGMENT, FAIL_ERROR, FAIL_TRUNCATED)


class Direction:
    """Sequence space, walker and decision map of one TCP direction.

    Attributes
    ----------
    base : int or None
        Sequence number of stream offset 0 (ISN + 1 after a SYN, else the first data byte).
    next : int
        Stream offset of the first byte not yet fed to the walker.
    decided : int
        Every byte below it has a final decision; `STREAM_END` once all later bytes are zero.
    keeps : array of int
        Kept intervals as a flat sorted array ``[start0, end0, start1, end1, ...]`` (8 bytes an
        offset: a direction remembers up to KEEP_MAX_INTERVALS of them for each live flow).
    forgotten : int
        Decisions below this offset were dropped (bounded memory): such bytes are zero.
        Dropping happens when the next segment arrives and none of this direction's packets
        waits for its decisions (`held`), so a segment's own decisions are never dropped.
    held : int
        Packets of this direction held back, waiting for decisions (counted by the stage).
    fail_from : int
        Offset from which bytes are zero because of a fail-closed event (`STREAM_END` if none).
    walker : object or None
        Decides in-order bytes: ``walker.feed(direction, data, offset)`` records kept
        ranges with `keep` and returns how many trailing bytes of `data` it cannot decide
        yet (a header cut by the segment's end); None = all zero. ``walker.span(stop)``
        says, without reading them, that the bytes from `next` up to `stop` are all kept
        (True) or all zero (False), or None when it must read them (see `advance`).
    tail : bytes
        Those undecided trailing bytes, fed again in front of the next in-order bytes.
    """

    __slots__ = (
        "flow",
        "client",
        "base",
        "syn_seq",
        "next",
        "decided",
        "keeps",
        "forgotten",
        "fail_from",
        "walker",
        "tail",
        "ooo",
        "fin",
        "held",
    )

    def __init__(self, flow, client: bool, walker):
        self.flow = flow
        self.client = client
        self.base = None
        self.syn_seq = None
        self.next = 0
        self.decided = 0
        self.keeps = array("q")
        self.forgotten = 0
        self.fail_from = STREAM_END
        self.walker = walker
        self.tail = b""
        self.ooo = NO_PIECES  # (offset, bytes) pieces past a gap, sorted, no overlaps: a list once there are some
        self.fin = False
        self.held = 0

    # -- decisions (called by walkers) -------------------------------------------------

    def keep(self, start: int, end: int) -> None:
        """Keep stream bytes ``[start, end)``; walkers call this in increasing order."""
        keeps = self.keeps
        if keeps and keeps[-1] >= start:
            if end > keeps[-1]:
                keeps[-1] = end
            return
        keeps.append(start)
        keeps.append(end)

    def _forget(self) -> None:
        """Drop the older half of the kept intervals past KEEP_MAX_INTERVALS, unless a held packet needs them."""
        keeps = self.keeps
        if len(keeps) > 2 * KEEP_MAX_INTERVALS and not self.held:
            over = len(keeps) - 2 * KEEP_MAX_INTERVALS
            cut = -(-over // KEEP_MAX_INTERVALS) * KEEP_MAX_INTERVALS  # older halves (whole intervals) until within
            self.forgotten = keeps[cut - 1]
            del keeps[:cut]

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

    def switch(self, walker, data, offset: int) -> int:
        """Hand the rest of the stream, from `data` at `offset`, to another walker; returns its undecided tail length."""
        self.walker = walker
        return walker.feed(self, data, offset) if data else 0

    def _feed(self, data, offset: int) -> None:
        """Feed in-order bytes (after any undecided tail) to the walker; all but a new tail are decided."""
        if self.tail:
            data = self.tail + data
            offset -= len(self.tail)
        undecided = self.walker.feed(self, data, offset)
        if self.walker is None:  # zero from some point on: everything is decided
            return
        self.tail = bytes(data[len(data) - undecided :]) if undecided else b""
        self.decided = offset + len(data) - undecided

    # -- placement -----------------------------------------------------------------------

    def offset_of(self, seq: int) -> int:
        """Stream offset of sequence number `seq` (the one closest to `next`); needs `base`."""
        nxt = self.next
        return nxt + ((seq - self.base) % SEQ_MOD - nxt + SEQ_HALF) % SEQ_MOD - SEQ_HALF

    def place(self, seq: int, syn: int, data, start: int, stop: int) -> int:
        """Place the payload ``data[start:stop]`` of a segment; returns its stream offset.

        Bytes in order are fed to the walker (and any buffered bytes they reach); bytes past
        a gap are buffered; bytes seen before are left alone (the first copy decided them).
        """
        if self.base is None:
            self.base = (seq + syn) % SEQ_MOD
        if len(self.keeps) > 2 * KEEP_MAX_INTERVALS:
            self._forget()
        nxt = self.next
        offset = nxt + ((seq + syn - self.base) % SEQ_MOD - nxt + SEQ_HALF) % SEQ_MOD - SEQ_HALF
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
            self._feed(data[start + nxt - offset : stop], nxt)
            if self.ooo:
                self._drain()
        return offset

    def advance(self, seq: int, length: int) -> tuple[int, int] | None:
        """The short path of `place` for a segment whose decision is known without reading it.

        When the segment (no SYN) starts at `next`, nothing waits in the tail or the
        out-of-order buffer, and either everything from `next` on is zero (`zero_rest`)
        or the walker vouches for the whole segment (``walker.span``), the stream moves
        past it and the result is ``(kept, fail_closed)`` byte counts (kept bytes are
        recorded with `keep`; the rest are zero). Otherwise nothing changes: None.
        Needs `base`, as `offset_of`.
        """
        nxt = self.next
        if (seq - self.base - nxt) % SEQ_MOD or self.ooo or self.tail:
            return None
        stop = nxt + length
        walker = self.walker
        if walker is None:
            if self.fail_from <= nxt:
                self.next = stop
                return 0, length
            if self.fail_from == STREAM_END:
                self.next = stop
                return 0, 0
            return None
        kept = walker.span(stop)
        if kept is None or self.fail_from != STREAM_END:
            return None
        self.next = self.decided = stop
        if kept:
            if len(self.keeps) > 2 * KEEP_MAX_INTERVALS:
                self._forget()
            self.keep(nxt, stop)
            return length, 0
        return 0, 0

    def follow(self, seq: int, data, start: int, stop: int):
        """The in-order path of `place` followed by `zero_ranges`, for a segment that `advance` could not take.

        When the segment (no SYN) starts at `next`, nothing waits in the tail or the
        out-of-order buffer and no fail-closed event happened, its payload ``data[start:stop]``
        is fed to the walker and the result is the stream ranges of it to zero (the
        complement of what the walker kept), or `FED` when some of it is still undecided
        or the walker gave up (the caller then holds it back, or asks `zero_ranges`).
        Otherwise nothing changes: None (use `place`). Needs `base`, as `offset_of`.
        """
        nxt = self.next
        if (seq - self.base - nxt) % SEQ_MOD or self.ooo or self.tail:
            return None
        if self.walker is None or self.fail_from != STREAM_END:
            return None
        keeps = self.keeps
        if len(keeps) > 2 * KEEP_MAX_INTERVALS:
            self._forget()
        first = len(keeps)  # the kept intervals that can reach into the segment: the last one on
        if first and keeps[-1] >= nxt:
            first -= 2
        end = nxt + stop - start
        self.next = end
        self._feed(data[start:stop], nxt)
        if self.decided < end or self.fail_from != STREAM_END:
            return FED
        ranges = []
        pos = nxt
        for i in range(first, len(keeps), 2):
            kept = keeps[i]
            if kept > pos:
                ranges.append((pos, kept))
            kept = keeps[i + 1]
            if kept > pos:
                pos = kept
        if pos < end:
            ranges.append((pos, end))
        return ranges

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
                insort(self.ooo, (a, payload[a - offset : b - offset]))

    def _drain(self) -> None:
        """Feed buffered pieces that the stream has now reached."""
        ooo = self.ooo
        while ooo and ooo[0][0] <= self.next and self.walker is not None:
            start, data = ooo.pop(0)
            end = start + len(data)
            nxt = self.next
            if end > nxt:
                self.next = end
                self._feed(data[nxt - start :] if start < nxt else data, nxt)

    # -- applying decisions --------------------------------------------------------------

    def zero_ranges(self, start: int, end: int) -> tuple[list[tuple[int, int]], int]:
        """Stream ranges within ``[start, end)`` to zero, and how many of them are fail-closed bytes.

        Bytes below `forgotten` or from `fail_from` on, and undecided bytes (only asked
        for when the stage gives up on them), count as fail-closed.
        """
        keeps = self.keeps
        if (
            (not keeps or keeps[-1] <= start)
            and 0 <= self.forgotten <= start
            and end <= min(self.decided, self.fail_from)
        ):
            return [(start, end)], 0  # the common case: nothing kept, all zero by policy
        ranges = []
        pos = start
        i = bisect_right(keeps, start)
        if i & 1:  # start lies inside a kept interval
            pos = min(keeps[i], end)
            i += 1
        while pos < end:
            if i < len(keeps) and keeps[i] < end:
                if keeps[i] > pos:
                    ranges.append((pos, keeps[i]))
                pos = min(keeps[i + 1], end)
                i += 2
            else:
                ranges.append((pos, end))
                break
        failed = 0
        lo, hi = max(start, 0, self.forgotten), min(end, self.fail_from, self.decided)
        if ranges and (lo > start or hi < end):  # some of [start, end) counts as fail-closed
            for a, b in ranges:
                failed += (b - a) - max(0, min(b, hi) - max(a, lo))
        return ranges, failed
