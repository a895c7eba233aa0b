"""Pass 2 of the audit: each sanitized frame judged byte by byte against its original.

A byte that is zero is always fine. A non-zero byte equal to the original's must lie where
the audit's own reading allows it (`~.layers` classes, `~.streams` intervals); one that
differs must lie in an address or checksum field, or in a hardware address that may change:
any when MACs were anonymized, else a solicited-node multicast MAC (RFC 2464 §7: the tail
of an IPv6 address, which follows that address's mapping). What the reading says must be zero and
is kept is a finding; what it does not read is undecided, never clean.
"""

from __future__ import annotations

import numpy as np

from .layers import ADDR, CLASS_NAMES, KEPT, OPEN, PAY, PROTO_TCP, ZERO, Frame, read
from .report import (
    KIND_ADDRESS,
    KIND_HEADER,
    KIND_PAYLOAD,
    KIND_TLS_APP_DATA,
    WHERE_ADDRESS_FIELD,
    WHERE_HEADERS,
    WHERE_PAYLOAD,
    Sink,
)
from .streams import CODES, OPEN_CODES, REWRITTEN_CODES, TLS_APPDATA, StreamReader, datagram

SOLICITED_MAC = b"\x33\x33\xff"
PAYLOAD_LABELS = frozenset(("trailer", "non-first fragment", "icmp echo data", "bytes after the udp datagram"))


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``(start, end)`` of the runs of True in `mask`."""
    at = np.flatnonzero(mask)
    if not len(at):
        return []
    breaks = np.flatnonzero(np.diff(at) != 1)
    starts = np.concatenate(([at[0]], at[breaks + 1]))
    ends = np.concatenate((at[breaks], [at[-1]])) + 1
    return list(zip(starts.tolist(), ends.tolist()))


class Judge:
    """Judges pairs of (original, sanitized) packets into a `Sink`.

    Parameters
    ----------
    explain : set of int
        Sanitized frame numbers whose judgement is also kept in `explained`.
    macs : bool
        MACs were anonymized: every hardware address may change.
    dns : bool or None
        DNS addresses were rewritten (``--anon-dns``): DNS over UDP keeps its structure, and
        its names if this is True (``--keep dns-names``).
    """

    def __init__(self, sink: Sink, streams: StreamReader, explain=(), macs: bool = False, dns=None):
        self.sink, self.streams, self.macs, self.dns = sink, streams, macs, dns
        self.explain = set(explain)
        self.explained: dict[int, dict] = {}

    def pair(self, original, sanitized, base: int) -> Frame:
        """Judge one pair; `base` is the file offset of the sanitized frame's data. Returns the
        original's reading (for locating identifiers, with `layer_at`)."""
        frame = read(original.data, original.linktype, original.wirelen)
        s = np.frombuffer(sanitized.data, np.uint8)
        explain = [] if sanitized.index in self.explain else None
        nonzero = s != 0
        if nonzero.any() or explain is not None:
            o = np.frombuffer(original.data, np.uint8)
            kept = nonzero & (s == o)
            changed = nonzero & ~kept
            for at in frame.macs:
                if self.macs or original.data[at : at + 3] == SOLICITED_MAC:
                    changed[at : at + 6] = False  # the search for the original's MACs judges them
            self._frame(frame, original, sanitized.index, base, kept, changed, explain)
        if explain is not None:
            self.explained[sanitized.index] = {
                "original": bytes(original.data),
                "sanitized": bytes(sanitized.data),
                "regions": explain,
                "base": base,  # file offset of the sanitized frame's first byte
            }
        return frame

    def _frame(self, frame: Frame, original, number: int, base: int, kept, changed, explain) -> None:
        pos = 0
        for start, end, cls, label in frame.regions + [(frame.n, frame.n, OPEN, "")]:
            if pos < start:  # a gap: not read
                self._open(kept, changed, pos, start, "not read by the audit", number, base, explain)
            if start >= end:
                break
            if cls == PAY:
                self._payload(frame, original, start, end, label, number, base, kept, changed, explain)
            elif cls == ZERO:
                self._zero(kept, changed, start, end, label, number, base, explain)
            elif cls == OPEN:
                self._open(kept, changed, start, end, label, number, base, explain)
            else:
                if cls == KEPT:
                    self._open(None, changed, start, end, f"changed bytes in {label}", number, base, None)
                elif cls == ADDR and end - start not in (4, 16) and kept[start:end].any():
                    self._partial(frame, kept, start, end, label, number, base)
                if explain is not None:
                    explain.append((start, end, label, CLASS_NAMES[cls]))
            pos = end

    def _partial(self, frame: Frame, kept, start: int, end: int, label: str, number: int, base: int) -> None:
        """A compressed address (its whole addresses are searched for everywhere): the same bytes
        as the original's, non-zero, were not rewritten."""
        data = frame.data
        if kept[start:end].sum() + data.count(0, start, end) == end - start:
            detail = f"{end - start} bytes of an address kept in the {label} field"
            self.sink.add(KIND_ADDRESS, number, base + start, detail, WHERE_ADDRESS_FIELD, label)

    def _zero(self, kept, changed, start: int, end: int, label: str, number: int, base: int, explain, kind=None):
        """`[start, end)` must be zero (SPEC §2.4, §6): every run of non-zero bytes is a finding,
        whether it repeats the original or not."""
        if explain is not None:
            explain.append((start, end, label, "zero"))
        if kind is None:
            kind = KIND_PAYLOAD if label in PAYLOAD_LABELS else KIND_HEADER
        where = WHERE_HEADERS if kind == KIND_HEADER else WHERE_PAYLOAD
        for a, b in runs(kept[start:end] | changed[start:end]):
            n = b - a
            self.sink.nonzero_bytes += n
            original = " (the original's)" if kept[start + a : start + b].all() else ""
            detail = f"{n} non-zero byte{'s' if n > 1 else ''} in {label}{original}"
            self.sink.add(kind, number, base + start + a, detail, where, label)

    def _open(self, kept, changed, start: int, end: int, label: str, number: int, base: int, explain) -> None:
        """`[start, end)` is not judged: its non-zero bytes make the verdict undecided."""
        if explain is not None:
            explain.append((start, end, label, "open"))
        for mask in (kept, changed):
            if mask is None:
                continue
            part = mask[start:end]
            n = int(part.sum())
            if n:
                self.sink.open(label, number, base + start + int(np.argmax(part)), n)

    def layer_at(self, frame: Frame, original, at: int) -> str:
        """What the audit read at offset `at` of the original frame: a header field, or in a
        payload the stream structure there (``tls-application-data``, ``http-head``...)."""
        for start, end, cls, label in frame.regions:
            if start <= at < end:
                if cls != PAY:
                    return label
                for a, b, code in self._pieces(frame, original, start, end, label)[0]:
                    if a <= at < b:
                        return CODES[code][0] if code >= 0 else label
                return label
        return "bytes not read"

    def _pieces(self, frame: Frame, original, start: int, end: int, label: str) -> tuple[list, list]:
        """``(pieces, notes)`` of the payload ``[start, end)``: ``(a, b, code)`` intervals in
        frame offsets (code -1: must be zero), and where later copies must repeat the first."""
        streams = self.streams
        pieces, notes = [(start, end, -1)], []
        if label == "quoted payload":
            where = streams.quotes.get(original.index)
            notes = streams.notes.get((original.index, True), [])
        elif frame.payload is not None and frame.payload.protocol == PROTO_TCP:
            where = streams.where(original.index)
            notes = streams.notes.get((original.index, False), [])
        else:
            where = None
            found = datagram(original.data, start, end, frame.payload.key[2:] if frame.payload else (), self.dns)
            if found:
                pieces = _fill(found, start, end)
        if where is not None and where[0] >= 0:
            intervals, pos = streams.intervals[where[0]], where[1]
            shift = start - pos  # stream position -> frame offset
            pieces = [(a + shift, b + shift, code) for a, b, code in intervals.pieces(pos, pos + end - start)]
            notes = [(max(a + shift, start), min(b + shift, end), what) for a, b, what in notes]
        return pieces, notes

    def _payload(self, frame, original, start, end, label, number, base, kept, changed, explain) -> None:
        pieces, notes = self._pieces(frame, original, start, end, label)
        for a, b, code in pieces:
            name = CODES[code][0] if code >= 0 else f"{label} (must be zero)"
            if code == -1 or code == TLS_APPDATA:
                kind = KIND_TLS_APP_DATA if code == TLS_APPDATA else KIND_PAYLOAD
                self._zero(kept, changed, a, b, name, number, base, explain, kind)
            elif code in OPEN_CODES:
                self._open(kept, changed, a, b, name, number, base, explain)
            elif code in REWRITTEN_CODES:  # an address: any value (the original's is searched for everywhere)
                if explain is not None:
                    explain.append((a, b, name, "address"))
            else:
                if explain is not None:
                    explain.append((a, b, name, "kept"))
                self._open(None, changed, a, b, f"changed bytes in {name}", number, base, None)
                self._copies(kept, a, b, name, notes, number, base)

    def _copies(self, kept, a: int, b: int, name: str, notes: list, number: int, base: int) -> None:
        """Kept bytes of a later copy are allowed only where they repeat the first copy."""
        for na, nb, what in notes:
            lo, hi = max(a, na), min(b, nb)
            if lo >= hi:
                continue
            if what == "differs":
                for ra, rb in runs(kept[lo:hi]):
                    self.sink.nonzero_bytes += rb - ra
                    detail = f"{rb - ra} bytes of a later copy that differs from the first kept in {name}"
                    self.sink.add(KIND_PAYLOAD, number, base + lo + ra, detail, WHERE_PAYLOAD, name)
            else:
                self._open(kept, None, lo, hi, "later copy of bytes the audit no longer remembers", number, base, None)


def _fill(pieces: list, start: int, end: int) -> list[tuple[int, int, int]]:
    out, pos = [], start
    for a, b, code in pieces:
        if a > pos:
            out.append((pos, a, -1))
        out.append((a, b, code))
        pos = b
    if pos < end:
        out.append((pos, end, -1))
    return out
