"""Zeroing, deferred to the end of each chunk: the word sums of every zeroed range in one NumPy pass.

A frame's TCP/UDP checksum follows the zeroing incrementally (RFC 1624): it needs the
one's-complement sum of the bytes that become zero, which costs microseconds per frame in
Python (``int.from_bytes`` and a modulo over ~1.4 kB) and a fraction of that per frame in
NumPy over a whole chunk. Frames whose changes touch more than one checksum (tunnels, ICMP
quotes) go through `~pktmask_nb.proto.checksum.patch` instead.
"""

from __future__ import annotations

import numpy as np

from ...proto.checksum import CK_KIND_UDP, ONES_MOD, adjust, patch

WRITER_BATCH = 4096  # frames whose ranges are summed together (bounds the joined copy)
ZEROS = memoryview(bytes(1 << 18))  # SPEC §3: no record is longer than 256 KiB
PAD = b"\0"


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
        """Sum the words of every range in one pass, then zero and fix each frame."""
        parts, starts = [], []
        append, words = parts.append, 0
        for packet, scope, changes, _ in items:
            if scope is None:
                continue
            first = scope[1]
            data = memoryview(packet.data)
            for p, n in changes:
                if n > 0:
                    odd = (p - first) & 1  # word alignment from the checksummed region's start
                    if odd:
                        append(PAD)
                    append(data[p : p + n])
                    if (odd + n) & 1:
                        append(PAD)
                    starts.append(words)
                    words += (odd + n + 1) // 2
        if starts:
            # little-endian words sum ~3x faster than big-endian ones; rotate8 turns the
            # one's-complement sum into the big-endian one (RFC 1071 §2(B))
            array = np.frombuffer(b"".join(parts), dtype="<u2")
            sums = np.add.reduceat(array, np.array(starts, dtype=np.int64), dtype=np.uint64).tolist()
        k = 0
        for packet, scope, changes, checksums in items:
            if scope is None:
                self._patch(packet, checksums, changes)
                continue
            # zero the ranges whose word sum is not 0 (all-zero ranges sum to 0)
            buf = None
            total = 0
            first, last = scope[1], scope[2]
            for p, n in changes:
                if n > 0:
                    s = sums[k]
                    k += 1
                    if s:
                        if buf is None:
                            buf = bytearray(packet.data)
                        buf[p : p + n] = ZEROS[:n]
                        if first <= p and p + n <= last:
                            total += s
            if buf is not None:
                packet.data = buf
                self.changed += 1
                total = total * 256 % ONES_MOD  # rotate8: the sum of the big-endian words
                if scope[0] >= 0 and total:
                    self._fix(buf, scope, total)

    def _fix(self, buf: bytearray, scope, total: int) -> None:
        """Update the checksum at ``scope[0]`` after big-endian words summing to `total` became zero."""
        position, kind = scope[0], scope[4]
        if position + 2 > len(buf):
            self.unfixable += 1
            return
        old = (buf[position] << 8) | buf[position + 1]
        if kind == CK_KIND_UDP and old == 0:
            return
        new = adjust(old, -total)
        if kind == CK_KIND_UDP and new == 0:
            new = 0xFFFF
        buf[position] = new >> 8
        buf[position + 1] = new & 0xFF

    def _patch(self, packet, checksums, changes) -> None:
        data = packet.data
        todo = [(p, bytes(n)) for p, n in changes if n > 0 and data.count(0, p, p + n) != n]
        if todo:
            buf = bytearray(data)
            self.unfixable += patch(buf, checksums, [(p, z, -1) for p, z in todo])
            packet.data = buf
            self.changed += 1


NO_CHECKSUM = (-1, 0, 0, -1, -1)


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
