"""Zeroing, deferred to the end of each chunk and done for the chunk's frames together in NumPy.

A frame's TCP/UDP checksum follows the zeroing incrementally (RFC 1624): it needs the
one's-complement sum of the bytes that become zero, which costs microseconds per frame in
Python (``int.from_bytes`` and a modulo over ~1.4 kB). Here `ZeroWriter.add` only notes a
frame's checksum and ranges as numbers. At the end of the chunk the frames are
concatenated; one ``reduceat`` over the buffer as 32-bit words sums every range, the
checksums are adjusted as arrays, and each changed frame is cut back out. Frames whose
changes touch more than one checksum (tunnels, ICMP quotes) go through
`~pktmask_nb.proto.checksum.patch` instead.
"""

from __future__ import annotations

import numpy as np

from ...proto.checksum import ONES_MOD, OPTIONAL_KINDS, adjust_transport, patch

WRITER_BATCH = 4096  # frames changed together (bounds the joined copy)
ZEROS = memoryview(bytes(1 << 18))  # SPEC §3: no record is longer than 256 KiB
NO_CHECKSUM = (-1, 0, 0, -1, -1)


class ZeroWriter:
    """Collect ``(packet, checksums, changes)`` and apply them together.

    Attributes
    ----------
    changed : int
        Frames whose bytes changed.
    """

    def __init__(self):
        self.changed = 0
        self._clear()

    def _clear(self) -> None:
        self._packets: list = []  # frames under one checksum (or none)
        self._scopes: list = []  # that checksum's ``(position, first, last, pseudo, kind)`` for each, flat
        self._ranges: list = []  # ``(frame, offset, length)`` for each range to zero, flat
        self._several: list = []  # ``(packet, checksums, changes)`` of frames under several

    def add(self, packet, checksums, changes: list) -> None:
        """Zero the ``(offset, length)`` ranges of `changes` in `packet` when `apply` runs."""
        if not changes:
            return
        if len(checksums) == 1:
            c = checksums[0]
            scope = (c.position, c.start, c.end, -1, 1 if c.kind in OPTIONAL_KINDS else 0)
        elif not checksums:
            scope = NO_CHECKSUM
        else:
            scope = _scope(checksums, changes)
            if scope is None:
                self._several.append((packet, checksums, changes))
                return
        k = len(self._packets)
        self._packets.append(packet)
        self._scopes += scope  # flat lists: 10x cheaper than array("q").extend
        ranges = self._ranges
        for p, n in changes:
            if n > 0:
                ranges += (k, p, n)

    def apply(self) -> None:
        """Zero what `add` noted; a changed frame's data becomes a copy of its new bytes."""
        packets, scopes, ranges, several = self._packets, self._scopes, self._ranges, self._several
        self._clear()
        for packet, checksums, changes in several:
            self._patch(packet, checksums, changes)
        scope = np.fromiter(scopes, np.int64, len(scopes)).reshape(-1, 5)  # from a list of ints: 2x np.array's speed
        zero = np.fromiter(ranges, np.int64, len(ranges)).reshape(-1, 3)
        for lo in range(0, len(packets), WRITER_BATCH):
            hi = min(lo + WRITER_BATCH, len(packets))
            a, b = np.searchsorted(zero[:, 0], [lo, hi]).tolist()
            if a < b:
                self._batch(packets[lo:hi], scope[lo:hi], zero[a:b] - [lo, 0, 0])

    def _batch(self, packets: list, scope: np.ndarray, zero: np.ndarray) -> None:
        """Zero the ranges `zero` (frame, offset, length) of `packets` whose bytes are not all
        zero, and adjust the checksums `scope` of the frames."""
        datas = [p.data for p in packets]
        n = len(datas)
        lengths = np.fromiter(map(len, datas), np.int64, n)
        at = np.cumsum(lengths) - lengths  # where each frame starts in the buffer
        size = int(at[-1] + lengths[-1])
        datas.append(bytes(8 - (size & 3)))  # whole 32-bit words, and one past the last range
        buf = bytearray().join(datas)
        b = np.frombuffer(buf, np.uint8)
        first, last = scope[:, 1], scope[:, 2]
        owner, offset, length = zero[:, 0], zero[:, 1], zero[:, 2]
        start = at[owner] + offset
        end = start + length
        sums = _range_sums(b, start, end)
        nonzero = sums != 0  # an all-zero range sums to 0: nothing to do
        if not nonzero.any():
            return
        counted = nonzero & (first[owner] <= offset) & (offset + length <= last[owner])
        total = np.bincount(owner[counted], weights=sums[counted] % ONES_MOD, minlength=n).astype(np.int64)
        # The sums are of little-endian words from even offsets of the buffer (mod 0xFFFF a 32-bit
        # word sums as its two 16-bit halves). Where a frame's checksummed region starts at an
        # even offset, they are its big-endian words byte-swapped: rotate8 (RFC 1071 §2(B)).
        total = total * np.where((at + first) & 1, 1, 256) % ONES_MOD
        for a, z in zip(start[nonzero].tolist(), end[nonzero].tolist()):
            buf[a:z] = ZEROS[: z - a]
        changed = np.flatnonzero(np.bincount(owner[nonzero], minlength=n))
        self.changed += len(changed)
        at, lengths = at[changed], lengths[changed]
        self._fix(b, at, scope[changed], total[changed])
        for k, a, z in zip(changed.tolist(), at.tolist(), (at + lengths).tolist()):
            packets[k].data, packets[k].frame = buf[a:z], None  # payloads zeroed: the map is no longer its

    def _fix(self, b: np.ndarray, at: np.ndarray, scope: np.ndarray, total: np.ndarray) -> None:
        """Adjust the checksums `scope` of the frames at `at` in buffer `b` after big-endian
        words summing to `total` became zero."""
        position = scope[:, 0]
        due = (position >= 0) & (total != 0)
        where = (at + position)[due]
        udp = scope[due, 4] == 1  # 0 means "no checksum"
        write16(b, where, adjust_transport(u16(b, where), -total[due], udp))

    def _patch(self, packet, checksums, changes) -> None:
        data = packet.data
        todo = [(p, bytes(n)) for p, n in changes if n > 0 and data.count(0, p, p + n) != n]
        if todo:
            buf = bytearray(data)
            patch(buf, checksums, todo)
            packet.data, packet.frame = buf, None
            self.changed += 1


def _range_sums(b: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Exact sums of bytes ``[start, end)`` of `b` as little-endian 32-bit words from offsets divisible by 4.

    Zero exactly when the range is all zero. Each range is summed over the whole words
    covering it, less the bytes of its first word before it and of its last word after it.
    `b`'s length is a multiple of 4, with a word past every range.
    """
    words = b.view("<u4")
    index = np.empty(2 * len(start), np.int64)
    index[0::2], index[1::2] = start >> 2, (end + 3) >> 2
    sums = np.add.reduceat(words, index, dtype=np.uint64)[0::2].astype(np.int64)  # (the gaps between: unused)
    sums -= words[start >> 2] & ((1 << 8 * (start & 3)) - 1)  # the bytes before the range
    tail = 8 * (end & 3)
    sums -= words[end >> 2] & np.where(tail, -(1 << tail) & 0xFFFFFFFF, 0)  # the bytes after it
    return sums


def _scope(checksums, changes):
    """The one checksum the changes lie in, as a scope row (NO_CHECKSUM if none); None if several: use `patch`."""
    found = NO_CHECKSUM
    for c in checksums:
        first, last = c.start, c.end
        inside = [p + n <= last for p, n in changes if first <= p < last]
        if inside:
            if found is not NO_CHECKSUM or not all(inside):
                return None  # several checksums, or a range running past one's end
            found = (c.position, first, last, -1, 1 if c.kind in OPTIONAL_KINDS else 0)
    return found


def u16(b: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The big-endian 16-bit values at offsets `at` of `b`."""
    return (b[at].astype(np.int64) << 8) | b[at + 1]


def write16(b: np.ndarray, at: np.ndarray, value: np.ndarray) -> None:
    """Write `value` as big-endian 16-bit values at offsets `at` of `b`."""
    b[at] = value >> 8
    b[at + 1] = value & 0xFF
