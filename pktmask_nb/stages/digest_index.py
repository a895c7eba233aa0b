"""A compact set of 128-bit digests for whole-file dedup: at most 20 bytes per entry (SPEC §4).

Recent digests live in a small open-addressing table of fixed size; when it is a quarter full
its entries are sorted and merged into sorted runs. Each run has a directory: for every
value of the top bits of the digest (about one bucket per entry), where its entries start.
A lookup probes the table, then in each run reads the few entries of its bucket, batch by
batch, in NumPy — a binary search over millions of entries per key was the cost that grew
with the file. Memory is 16 bytes per digest in the runs, at most 4 in the directories,
plus the fixed table; a merge briefly copies at most one run.
"""

from __future__ import annotations

import numpy as np

YOUNG_SLOTS = 1 << 18  # open-addressing table size (4 MiB)
YOUNG_MAX = YOUNG_SLOTS // 4  # spill to the runs at this load: probes stay short
YOUNG_STRAGGLERS = 16  # keys still probing that are finished one by one rather than in NumPy
RUN_MAX = 1 << 22  # entries per sorted run (64 MiB); a merge copies at most one run
DIRECTORY_SLICE = 1 << 16  # a run's directory is made and moved on this many buckets at a time (bounded temporaries)


def as_keys(digests: bytes) -> np.ndarray:
    """View concatenated 16-byte digests as an ``(n, 2)`` uint64 array, never all-zero."""
    keys = np.frombuffer(digests, dtype="<u8").reshape(-1, 2).copy()
    keys[:, 0] |= np.uint64(1)  # slot value 0 means "empty"; costs one digest bit
    return keys


class DigestIndex:
    """Set of digests supporting one vectorized operation: `add`.

    Examples
    --------
    >>> index = DigestIndex()
    >>> index.add(bytes(range(16)) + bytes(16)).tolist()
    [False, False]
    >>> index.add(bytes(range(16))).tolist()
    [True]
    """

    def __init__(self):
        self._table = np.zeros((YOUNG_SLOTS, 2), dtype=np.uint64)
        self._young = 0
        self._runs: list[Run] = []
        self.peak_nbytes = self.nbytes  # the most the index held at once, a merge's copies included

    def __len__(self) -> int:
        return self._young + sum(len(run.hi) for run in self._runs)

    @property
    def nbytes(self) -> int:
        """Bytes held by the index."""
        return self._table.nbytes + sum(run.nbytes for run in self._runs)

    def add(self, digests: bytes) -> np.ndarray:
        """Insert distinct 16-byte digests; return for each whether it was already present."""
        keys = as_keys(digests)
        present = self._in_runs(keys)
        fresh = np.flatnonzero(~present)
        start = 0
        while start < fresh.size:  # never fill the table past YOUNG_MAX
            take = fresh[start : start + YOUNG_MAX - self._young]
            present[take] = self._insert_young(keys[take])
            start += take.size
            if self._young >= YOUNG_MAX:
                self._spill()
        return present

    # -- sorted runs ----------------------------------------------------------------------
    def _in_runs(self, keys: np.ndarray) -> np.ndarray:
        found = np.zeros(len(keys), dtype=bool)
        for run in self._runs:
            todo = np.flatnonzero(~found)
            if not todo.size:
                break
            found[todo] = run.contains(keys[todo])
        return found

    def _spill(self) -> None:
        """Move the young table's entries into the runs."""
        used = self._table[self._table[:, 0] != 0]
        used = used[np.argsort(used[:, 0])]  # equal high halves may come in any order
        hi, lo = used[:, 0].copy(), used[:, 1].copy()
        spilled = used.nbytes + hi.nbytes + lo.nbytes
        if self._runs and len(self._runs[-1].hi) + len(hi) <= RUN_MAX:
            old = self._runs.pop()
            # alive until the merged run is made: the old entries, and NumPy's mask in `np.insert`
            spilled += old.hi.nbytes + old.lo.nbytes + len(old.hi) + len(hi)
            self._runs.append(old.merged(hi, lo))
        else:
            self._runs.append(Run(hi, lo))
        self.peak_nbytes = max(self.peak_nbytes, self.nbytes + spilled)
        self._table[:] = 0
        self._young = 0

    # -- young table ----------------------------------------------------------------------
    def _insert_young(self, keys: np.ndarray) -> np.ndarray:
        """Find-or-insert distinct keys with linear probing; True where a key was found."""
        table = self._table
        wrap = YOUNG_SLOTS - 1
        slot = (keys[:, 0] & np.uint64(wrap)).astype(np.intp)
        found = np.zeros(len(keys), dtype=bool)
        todo = np.arange(len(keys))
        while todo.size > YOUNG_STRAGGLERS:
            at = slot[todo]
            rows = table[at]
            want = keys[todo]
            hit = (rows[:, 0] == want[:, 0]) & (rows[:, 1] == want[:, 1])
            empty = rows[:, 0] == 0
            found[todo[hit]] = True
            # several keys may race for one empty slot: one of them lands, the others probe on
            racers = np.flatnonzero(empty)
            table[at[racers]] = want[racers]
            landed = (table[at[racers]] == want[racers]).all(axis=1)
            self._young += int(landed.sum())
            done = hit
            done[racers[landed]] = True
            slot[todo[~done]] = (at[~done] + 1) & wrap
            todo = todo[~done]
        for i in todo.tolist():  # the last few, whose probes run long, one by one
            key, at = keys[i].tolist(), int(slot[i])
            while True:
                row = table[at].tolist()
                if row == key:
                    found[i] = True
                    break
                if not row[0]:
                    table[at] = key
                    self._young += 1
                    break
                at = (at + 1) & wrap
        return found


def _bucket_bits(entries: int) -> int:
    """Bits of a run's directory: 2^bits <= entries, so one or two entries per bucket."""
    return max(1, entries.bit_length() - 1)


class Run:
    """Digests sorted by their high half, with a bucket directory over its top bits."""

    __slots__ = ("hi", "lo", "shift", "starts", "widest")

    def __init__(self, hi: np.ndarray, lo: np.ndarray, starts: np.ndarray | None = None, widest: int = 0):
        """`starts` and `widest`: the directory and fullest bucket of these entries (`merged`), else made here."""
        self.hi, self.lo = hi, lo
        self.shift = np.uint64(64 - _bucket_bits(len(hi)))
        if starts is None:  # where each bucket's entries start, and the end
            starts = np.zeros((1 << _bucket_bits(len(hi))) + 1, dtype=np.uint32 if len(hi) < 2**32 else np.int64)
            widest = self._move_on(starts, hi)
        self.starts = starts
        self.widest = widest  # entries in the fullest bucket

    def _move_on(self, starts: np.ndarray, hi: np.ndarray) -> int:
        """Add the sorted `hi` to the directory `starts` in place, DIRECTORY_SLICE buckets at a
        time: no temporary as large as the directory (at 4 M entries, 16-32 MiB), only slices.
        Returns the most entries of `hi` in one bucket."""
        total, most = len(starts) - 1, 0
        for first in range(0, total, DIRECTORY_SLICE):
            last = min(first + DIRECTORY_SLICE, total)
            a = int(np.searchsorted(hi, np.uint64(first) << self.shift))  # entries below bucket `first`
            b = len(hi) if last == total else int(np.searchsorted(hi, np.uint64(last) << self.shift))
            counts = np.bincount((hi[a:b] >> self.shift).astype(np.intp) - first, minlength=last - first)
            starts[first + 1 : last + 1] += (np.cumsum(counts) + a).astype(starts.dtype)
            most = max(most, int(counts.max()))
        return most

    def merged(self, hi: np.ndarray, lo: np.ndarray) -> Run:
        """This run with the sorted `hi` (and their `lo`) added; this run must not be used after.

        While the number of buckets stays the same, the new run takes this one's directory
        and moves it on by the new entries (`_move_on`); only their buckets can have become
        the fullest.
        """
        at = np.searchsorted(self.hi, hi)
        all_hi, all_lo = np.insert(self.hi, at, hi), np.insert(self.lo, at, lo)
        if _bucket_bits(len(all_hi)) != _bucket_bits(len(self.hi)) or len(all_hi) >= 2**32:
            return Run(all_hi, all_lo)
        starts = self.starts
        self._move_on(starts, hi)
        grown = (hi >> self.shift).astype(np.intp)
        widest = max(self.widest, int((starts[grown + 1] - starts[grown]).max(initial=0)))
        return Run(all_hi, all_lo, starts, widest)

    @property
    def nbytes(self) -> int:
        return self.hi.nbytes + self.lo.nbytes + self.starts.nbytes

    def contains(self, keys: np.ndarray) -> np.ndarray:
        """Membership of `keys` (``(n, 2)`` uint64): compare with every entry of their bucket."""
        bucket = (keys[:, 0] >> self.shift).astype(np.intp)
        start = self.starts[bucket].astype(np.intp)
        count = self.starts[bucket + 1].astype(np.intp) - start
        found = np.zeros(len(keys), dtype=bool)
        rows = np.arange(len(keys))
        for step in range(self.widest):  # equal high halves sit side by side in one bucket
            rows = rows[(count[rows] > step) & ~found[rows]]
            if not rows.size:
                break
            at = start[rows] + step
            found[rows[(self.hi[at] == keys[rows, 0]) & (self.lo[at] == keys[rows, 1])]] = True
        return found
