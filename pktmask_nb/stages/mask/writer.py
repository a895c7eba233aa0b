"""Zeroing, deferred to the end of each chunk and done for the chunk's frames together in NumPy.

A frame's TCP/UDP checksum follows the zeroing incrementally (RFC 1624): it needs the
one's-complement sum of the bytes that become zero, which costs microseconds per frame in
Python (``int.from_bytes`` and a modulo over ~1.4 kB). Here the frames to change are
concatenated, each placed so that its checksummed region starts at an even offset; one
``reduceat`` over the buffer as 16-bit words sums every range, the checksums are adjusted
as arrays, and each changed frame is cut back out. Frames whose changes touch more than
one checksum (tunnels, ICMP quotes) go through `~pktmask_nb.proto.checksum.patch` instead.
"""

from __future__ import annotations

import numpy as np

from ...proto.checksum import CK_KIND_UDP, ONES_MOD, adjust_transport, patch
from ...proto.plain import u16, write16

WRITER_BATCH = 4096  # frames changed together (bounds the joined copy)
ZEROS = memoryview(bytes(1 << 18))  # SPEC §3: no record is longer than 256 KiB
PAD = b"\0"
SUM32_MAX_BYTES = 131_070  # ranges up to this long (65 536 words of at most 0xFFFF) sum within uint32, 4x faster


class ZeroWriter:
    """Collect ``(packet, checksums, changes)`` and apply them together.

    Attributes
    ----------
    changed : int
        Frames whose bytes changed.
    unfixable : int
        Checksums that needed an update but were cut off by snaplen.
    """

    def __init__(self):
        self.pending: list = []
        self.changed = 0
        self.unfixable = 0

    def add(self, packet, checksums, changes: list) -> None:
        """Zero the ``(offset, length)`` ranges of `changes` in `packet` when `apply` runs."""
        if changes:
            scope = (
                checksums[0] if len(checksums) == 1 else NO_CHECKSUM if not checksums else _scope(checksums, changes)
            )
            self.pending.append((packet, scope, changes, checksums))

    def apply(self) -> None:
        pending, self.pending = self.pending, []
        for i in range(0, len(pending), WRITER_BATCH):
            self._batch(pending[i : i + WRITER_BATCH])

    def _batch(self, items: list) -> None:
        """Zero the ranges of `items` whose bytes are not all zero and adjust their checksums."""
        pieces, frames = [], []  # frames: (packet, offset in the buffer, length, scope)
        starts, ends, owners, inside = [], [], [], []
        at = 0
        for packet, scope, changes, checksums in items:
            if scope is None:
                self._patch(packet, checksums, changes)
                continue
            data = packet.data
            first, last = scope[1], scope[2]
            if (at + first) & 1:  # the checksummed region starts on a word boundary of the buffer
                pieces.append(PAD)
                at += 1
            k = len(frames)
            for p, n in changes:
                if n > 0:
                    starts.append(at + p)
                    ends.append(at + p + n)
                    owners.append(k)
                    inside.append(first <= p and p + n <= last)
            frames.append((packet, at, len(data), scope))
            pieces.append(data)
            at += len(data)
        if not starts:
            return
        pieces.append(bytes(4 - (at & 1)))  # an even length, and a word past the last range
        buf = bytearray().join(pieces)
        b = np.frombuffer(buf, np.uint8)
        start, end = np.array(starts, np.int64), np.array(ends, np.int64)
        sums = _range_sums(b, start, end)
        nonzero = sums != 0  # an all-zero range sums to 0: nothing to do
        if not nonzero.any():
            return
        owner = np.array(owners, np.int64)
        counted = nonzero & np.array(inside, bool)
        total = np.bincount(owner[counted], weights=sums[counted], minlength=len(frames)).astype(np.int64)
        total = total * 256 % ONES_MOD  # rotate8: from little-endian to big-endian words (RFC 1071 §2(B))
        for a, z in zip(start[nonzero].tolist(), end[nonzero].tolist()):
            buf[a:z] = ZEROS[: z - a]
        changed = np.flatnonzero(np.bincount(owner[nonzero], minlength=len(frames))).tolist()
        self.changed += len(changed)
        self._fix(b, [frames[k] for k in changed], total[changed])
        for k in changed:
            packet, at, length, _ = frames[k]
            packet.data = buf[at : at + length]

    def _fix(self, b: np.ndarray, frames: list, total: np.ndarray) -> None:
        """Adjust the checksums of `frames` (in buffer `b`) after big-endian words summing to `total` became zero."""
        position = np.array([scope[0] for _, _, _, scope in frames], np.int64)
        length = np.array([length for _, _, length, _ in frames], np.int64)
        udp = np.array([scope[4] == CK_KIND_UDP for _, _, _, scope in frames], bool)
        at = np.array([at for _, at, _, _ in frames], np.int64) + position
        due = (position >= 0) & (total != 0)
        cut = due & (position + 2 > length)
        self.unfixable += int(cut.sum())
        due &= ~cut
        at = at[due]
        write16(b, at, adjust_transport(u16(b, at), -total[due], udp[due]))

    def _patch(self, packet, checksums, changes) -> None:
        data = packet.data
        todo = [(p, bytes(n)) for p, n in changes if n > 0 and data.count(0, p, p + n) != n]
        if todo:
            buf = bytearray(data)
            self.unfixable += patch(buf, checksums, [(p, z, -1) for p, z in todo])
            packet.data = buf
            self.changed += 1


NO_CHECKSUM = (-1, 0, 0, -1, -1)


def _range_sums(b: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Exact sums of bytes ``[start, end)`` of `b` as little-endian 16-bit words from even offsets.

    Zero exactly when the range is all zero. Each range is summed over the whole words
    covering it, less the byte before it (when it starts at an odd offset) and the byte
    after it (when it ends at one). `b` has an even length and a word past every range.
    """
    words = b.view("<u2")
    index = np.empty(2 * len(start), np.int64)
    index[0::2], index[1::2] = start >> 1, (end + 1) >> 1
    wide = len(start) and int((end - start).max()) > SUM32_MAX_BYTES  # (the gaps between ranges may wrap: unused)
    sums = np.add.reduceat(words, index, dtype=np.uint64 if wide else np.uint32)[0::2].astype(np.int64)
    odd = (start & 1).astype(bool)
    sums[odd] -= b[start[odd] - 1]
    odd = (end & 1).astype(bool)
    sums[odd] -= b[end[odd]].astype(np.int64) << 8
    return sums


def _scope(checksums, changes):
    """The one checksum the changes lie in (NO_CHECKSUM if none); None if several: use `patch`."""
    found = NO_CHECKSUM
    for checksum in checksums:
        first, last = checksum[1], checksum[2]
        inside = [p + n <= last for p, n in changes if first <= p < last]
        if inside:
            if found is not NO_CHECKSUM or not all(inside):
                return None  # several checksums, or a range running past one's end
            found = checksum
    return found
