"""A compact set of 128-bit digests for whole-file dedup: at most 20 bytes per entry (SPEC §4).

Recent digests live in a small open-addressing table of fixed size; when it is a quarter full
its entries are sorted and merged into sorted runs. Each run has a directory: for every
value of the top bits of the digest (about one bucket per entry), where its entries start.
A lookup probes the table, then in each run reads the few entries of its bucket, batch by
batch, in NumPy — a binary search over millions of entries per key was the cost that grew
with the file. Memory is 16 bytes per digest in the runs, at most 4 in the directories,
plus the fixed table.

A run's arrays sit in anonymous mappings of their own, sized for RUN_MAX entries; only the
pages its entries reach hold memory. A merge moves the entries within them, a block at a
time from the end, and writes the new ones into the gaps. So a run never moves: growing
arrays that were copied on every merge left holes in the C heap, which the heap kept (at
1 GB the peak RSS of dedup alone was 14 MB higher, of the full pipeline 13-24 MB).
"""

from __future__ import annotations

import mmap

import numpy as np

YOUNG_SLOTS = 1 << 18  # open-addressing table size (4 MiB)
YOUNG_MAX = YOUNG_SLOTS // 4  # spill to the runs at this load: probes stay short
YOUNG_STRAGGLERS = 16  # keys still probing that are finished one by one rather than in NumPy
RUN_MAX = 1 << 22  # entries per sorted run (64 MiB of mappings, reserved, used as they fill)
MERGE_BLOCK = 1 << 16  # entries a merge moves at a time (bounded temporaries)
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
            spilled += self._runs[-1].merge(hi, lo)
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
    """Digests sorted by their high half, with a bucket directory over its top bits.

    ``hi``, ``lo`` and ``starts`` are views of the first entries of arrays mapped for
    `capacity` entries (RUN_MAX unless given), which `merge` fills in place.
    """

    __slots__ = ("hi", "lo", "shift", "starts", "widest", "_hi", "_lo", "_starts")

    def __init__(self, hi: np.ndarray, lo: np.ndarray, capacity: int | None = None):
        capacity = max(len(hi), capacity or RUN_MAX)
        self._hi, self._lo = mapped(capacity, np.uint64), mapped(capacity, np.uint64)
        self._starts = mapped((1 << _bucket_bits(capacity)) + 1, np.uint32 if capacity < 2**32 else np.int64)
        self._hi[: len(hi)], self._lo[: len(hi)] = hi, lo
        self._take(len(hi))

    def _take(self, n: int) -> None:
        """Let the first `n` entries be the run's, with a directory made afresh."""
        self.hi, self.lo = self._hi[:n], self._lo[:n]
        bits = _bucket_bits(n)
        self.shift = np.uint64(64 - bits)
        self.starts = self._starts[: (1 << bits) + 1]  # where each bucket's entries start, and the end
        self.starts[:] = 0
        self.widest = self._move_on(self.starts, self.hi)  # entries in the fullest bucket

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

    def merge(self, hi: np.ndarray, lo: np.ndarray) -> int:
        """Add the sorted `hi` (and their `lo`) in place, where `np.insert` would put them.

        The entries move towards the end, a MERGE_BLOCK at a time from the last one, each
        by the number of new entries that go before it; the new entries fill the gaps left.
        While the number of buckets stays the same the directory is moved on by the new
        entries (`_move_on`), and only their buckets can have become the fullest. Returns
        the bytes of the temporaries it held at once.
        """
        n, k = len(self.hi), len(hi)
        if n + k > len(self._hi):
            raise ValueError(f"a run holds at most {len(self._hi)} entries")
        at = np.searchsorted(self.hi, hi)  # the new entries' places among the old ones
        held = 2 * at.nbytes
        end = n
        while k and end > at[0]:  # the entries before the first new one stay
            start = max(int(at[0]), end - MERGE_BLOCK)
            a, b = np.searchsorted(at, [start, end])  # the new entries that go before `start`, before `end`
            moved = np.cumsum(np.bincount(at[a:b] - start, minlength=end - start)) + a  # new entries before each
            moved += np.arange(start, end)  # where each goes
            self._hi[moved], self._lo[moved] = self._hi[start:end].copy(), self._lo[start:end].copy()
            held = max(held, 2 * at.nbytes + 3 * moved.nbytes)
            end = start
        at += np.arange(k)
        self._hi[at], self._lo[at] = hi, lo
        if _bucket_bits(n + k) != _bucket_bits(n):
            self._take(n + k)
            return held
        self.hi, self.lo = self._hi[: n + k], self._lo[: n + k]
        self._move_on(self.starts, hi)
        grown = (hi >> self.shift).astype(np.intp)
        self.widest = max(self.widest, int((self.starts[grown + 1] - self.starts[grown]).max(initial=0)))
        return held

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


def mapped(count: int, dtype) -> np.ndarray:
    """A zeroed array of `count` items in an anonymous mapping of its own: its pages take
    memory once written, and it goes back to the system whole when the array is freed."""
    dtype = np.dtype(dtype)
    return np.frombuffer(mmap.mmap(-1, max(count * dtype.itemsize, 1)), dtype, count)
