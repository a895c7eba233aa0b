"""Zeroing, deferred to the end of each chunk: every changed frame through one RFC 1624 kernel.

`ZeroWriter.add` notes a frame's map and the ranges to zero as they are decided (a
held-back frame's decision may come chunks later); `apply` zeroes them with
`~pktmask_nb.proto.checksum.zero`, which keeps every checksum they lie under right.
"""

from __future__ import annotations

from ...proto.checksum import any_nonzero, frame_copy, zero


class ZeroWriter:
    """Collect ``(packet, frame map, changes)`` and apply them together.

    Attributes
    ----------
    changed : int
        Frames whose bytes changed.
    """

    def __init__(self):
        self.changed = 0
        self._pending: list = []

    def add(self, packet, m, changes: list) -> None:
        """Zero the ``(offset, length)`` ranges of `changes` in `packet` (its checksums those of
        its map `m`) when `apply` runs."""
        if changes:
            self._pending.append((packet, m, changes))

    def apply(self) -> None:
        """Zero what `add` noted; a changed frame's data becomes a copy of its new bytes."""
        pending, self._pending = self._pending, []
        for packet, m, changes in pending:
            if any_nonzero(packet.data, changes):
                buf = frame_copy(packet.data)
                zero(buf, m, changes)
                packet.data, packet.frame = buf, None  # payloads zeroed: the map is no longer its
                self.changed += 1
