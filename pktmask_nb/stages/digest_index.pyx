# cython: language_level=3
"""A compact set of 128-bit digests for whole-file dedup: at most 20 bytes per entry (SPEC §4).

Recent digests live in an open-addressing table of fixed size (linear probing); when it is a
quarter full its entries are sorted and merged into sorted runs. Each run has a directory: for
every value of the top bits of the digest (about one bucket per entry), where its entries
start, so a lookup reads the one or two entries of its bucket. Memory is 16 bytes per digest
in the runs, at most 4 in the directories, plus the fixed table.

A compiled kernel: a lookup is a few C comparisons. A run's arrays sit in anonymous mappings
of their own, sized for its capacity; only the pages its entries reach hold memory. A merge
moves the entries within them from the last one down (the last step of a merge sort), so a
run never moves and needs no temporaries: arrays copied on every merge left holes in the C
heap, which the heap kept.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memset
from posix.mman cimport MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE, PROT_READ, PROT_WRITE, mmap, munmap

YOUNG_SLOTS = 1 << 18  # open-addressing table size (4 MiB)
YOUNG_MAX = YOUNG_SLOTS // 4  # spill to the runs at this load: probes stay short
RUN_MAX = 1 << 22  # entries per sorted run (64 MiB of mappings, reserved, used as they fill)

cdef enum:
    KEY_BYTES = 16
    C_YOUNG_SLOTS = 1 << 18
    C_YOUNG_MAX = 1 << 16  # a quarter of C_YOUNG_SLOTS


ctypedef struct Key:
    uint64_t hi  # the digest's first 8 bytes (little-endian), bit 0 set: 0 marks an empty slot
    uint64_t lo


cdef inline uint64_t _load(const unsigned char* p) noexcept nogil:
    """Eight bytes as a little-endian integer, on any machine."""
    cdef uint64_t v = 0
    cdef int i
    for i in range(7, -1, -1):
        v = (v << 8) | p[i]
    return v


cdef inline void _store(unsigned char* p, uint64_t v) noexcept nogil:
    cdef int i
    for i in range(8):
        p[i] = v & 0xFF
        v >>= 8


cdef int _by_key(const void* a, const void* b) noexcept nogil:
    cdef const Key* x = <const Key*>a
    cdef const Key* y = <const Key*>b
    if x.hi != y.hi:
        return -1 if x.hi < y.hi else 1
    if x.lo != y.lo:
        return -1 if x.lo < y.lo else 1
    return 0


cdef void* _map(size_t size) except NULL:
    """Zeroed memory in an anonymous mapping of its own: pages take memory once written, and
    it goes back to the system whole when unmapped."""
    cdef void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if p == MAP_FAILED:
        raise MemoryError(f"cannot map {size} bytes for the dedup index")
    return p


cdef inline int _bucket_bits(Py_ssize_t entries) noexcept:
    """Bits of a run's directory: 2^bits <= entries, so one or two entries per bucket."""
    cdef int bits = 0
    while entries >> (bits + 1):
        bits += 1
    return bits if bits > 1 else 1


cdef class Run:
    """Digests sorted by their high half, with a bucket directory over its top bits.

    `entries` as ``(hi, lo)`` pairs of little-endian 64-bit integers, sorted by ``hi``; the
    run holds at most `capacity` of them (at least their number).
    """

    cdef Key* keys
    cdef uint32_t* starts  # where each bucket's entries start, and the end
    cdef readonly Py_ssize_t n, capacity
    cdef int bits
    cdef size_t _keys_size, _starts_size

    def __cinit__(self, bytes entries=b"", Py_ssize_t capacity=RUN_MAX):
        cdef Py_ssize_t n = len(entries) // KEY_BYTES
        if len(entries) % KEY_BYTES:
            raise ValueError("run entries are 16 bytes each")
        self.capacity = max(n, capacity)
        if self.capacity >= (<Py_ssize_t>1) << 32:
            raise ValueError("a run holds fewer than 2^32 entries")
        self._keys_size = max(self.capacity, 1) * sizeof(Key)  # a mapping is never empty
        self._starts_size = ((1 << _bucket_bits(self.capacity)) + 1) * sizeof(uint32_t)
        self.keys = <Key*>_map(self._keys_size)
        self.starts = <uint32_t*>_map(self._starts_size)
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(entries)
        cdef Py_ssize_t i
        for i in range(n):
            self.keys[i].hi = _load(p + KEY_BYTES * i)
            self.keys[i].lo = _load(p + KEY_BYTES * i + 8)
        self.n = n
        self._index()

    def __dealloc__(self):
        if self.keys != NULL:
            munmap(self.keys, self._keys_size)
        if self.starts != NULL:
            munmap(self.starts, self._starts_size)

    cdef void _index(self) noexcept:
        """Make the directory afresh for the run's entries (one pass)."""
        cdef int bits = _bucket_bits(self.n)
        cdef int shift = 64 - bits
        cdef Py_ssize_t buckets = 1 << bits, b = 0, i
        cdef uint64_t bucket
        for i in range(self.n):
            bucket = self.keys[i].hi >> shift
            while b <= <Py_ssize_t>bucket:
                self.starts[b] = i
                b += 1
        while b <= buckets:
            self.starts[b] = self.n
            b += 1
        self.bits = bits

    cdef bint has(self, Key key) noexcept:
        cdef uint64_t bucket = key.hi >> (64 - self.bits)
        cdef uint32_t i
        for i in range(self.starts[bucket], self.starts[bucket + 1]):
            if self.keys[i].hi == key.hi and self.keys[i].lo == key.lo:
                return True
        return False

    cdef int _merge(self, const Key* new, Py_ssize_t k) except -1:
        """Add the `k` entries of `new` (sorted) where a stable insertion by ``hi`` puts them:
        before old entries of an equal high half."""
        if self.n + k > self.capacity:
            raise ValueError(f"a run holds at most {self.capacity} entries")
        cdef Py_ssize_t i = self.n - 1, j = k - 1, w = self.n + k - 1
        while j >= 0:
            if i >= 0 and self.keys[i].hi >= new[j].hi:
                self.keys[w] = self.keys[i]
                i -= 1
            else:
                self.keys[w] = new[j]
                j -= 1
            w -= 1
        self.n += k
        self._index()
        return 0

    def merge(self, bytes entries) -> None:
        """Add `entries` (as for the constructor, sorted by ``hi``) in place."""
        cdef Run other = Run(entries, 0)
        self._merge(other.keys, other.n)

    @property
    def nbytes(self) -> int:
        """Bytes the run's entries and directory take."""
        return self.n * sizeof(Key) + ((1 << self.bits) + 1) * sizeof(uint32_t)

    def entries(self) -> bytes:
        """The entries, as given to the constructor."""
        out = PyBytes_FromStringAndSize(NULL, self.n * KEY_BYTES)
        cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
        cdef Py_ssize_t i
        for i in range(self.n):
            _store(p + KEY_BYTES * i, self.keys[i].hi)
            _store(p + KEY_BYTES * i + 8, self.keys[i].lo)
        return out

    def directory(self) -> list:
        """Where each bucket's entries start, and the end."""
        return [self.starts[b] for b in range((1 << self.bits) + 1)]


cdef class DigestIndex:
    """Set of 128-bit digests supporting one operation: `add`.

    Parameters
    ----------
    run_max : int
        Entries per sorted run.

    Examples
    --------
    >>> index = DigestIndex()
    >>> list(index.add(bytes(range(16)) + bytes(16)))
    [0, 0]
    >>> list(index.add(bytes(range(16))))
    [1]
    """

    cdef Key* table
    cdef Py_ssize_t young, run_max
    cdef list runs
    cdef readonly Py_ssize_t peak_nbytes  # the most the index held at once, a spill's sorted copy included

    def __cinit__(self, Py_ssize_t run_max=RUN_MAX):
        self.table = <Key*>_map(C_YOUNG_SLOTS * sizeof(Key))
        self.young = 0
        self.run_max = run_max
        self.runs = []
        self.peak_nbytes = self.nbytes

    def __dealloc__(self):
        if self.table != NULL:
            munmap(self.table, C_YOUNG_SLOTS * sizeof(Key))

    def __len__(self) -> int:
        cdef Run run
        cdef Py_ssize_t n = self.young
        for run in self.runs:
            n += run.n
        return n

    @property
    def nbytes(self) -> int:
        """Bytes held by the index."""
        return C_YOUNG_SLOTS * sizeof(Key) + sum(run.nbytes for run in self.runs)

    @property
    def run_count(self) -> int:
        return len(self.runs)

    def add(self, digests) -> bytes:
        """Insert 16-byte digests (concatenated); return one byte per digest, 1 where it was
        already present (an earlier one of the same call included)."""
        cdef const unsigned char[::1] view = digests
        cdef Py_ssize_t count = view.shape[0] // KEY_BYTES, i
        if view.shape[0] % KEY_BYTES:
            raise ValueError("digests are 16 bytes each")
        out = PyBytes_FromStringAndSize(NULL, count)
        cdef unsigned char* present = <unsigned char*>PyBytes_AS_STRING(out)
        cdef Key key
        for i in range(count):
            key.hi = _load(&view[KEY_BYTES * i]) | 1  # costs one digest bit
            key.lo = _load(&view[KEY_BYTES * i + 8])
            present[i] = self._add(key)
        return out

    cdef bint _add(self, Key key) except -1:
        cdef Run run
        for run in self.runs:
            if run.has(key):
                return True
        cdef Py_ssize_t wrap = C_YOUNG_SLOTS - 1
        cdef Py_ssize_t at = (key.hi >> 1) & wrap  # bit 0 is always set
        while self.table[at].hi:
            if self.table[at].hi == key.hi and self.table[at].lo == key.lo:
                return True
            at = (at + 1) & wrap
        self.table[at] = key
        self.young += 1
        if self.young >= C_YOUNG_MAX:
            self.spill()
        return False

    def spill(self) -> None:
        """Move the young table's entries into the runs."""
        cdef Key* used = <Key*>malloc(max(self.young, 1) * sizeof(Key))
        if used == NULL:
            raise MemoryError("cannot sort the dedup index's young table")
        cdef Py_ssize_t k = 0, at
        cdef Run run
        try:
            for at in range(C_YOUNG_SLOTS):
                if self.table[at].hi:
                    used[k] = self.table[at]
                    k += 1
            qsort(used, k, sizeof(Key), _by_key)
            if self.runs and (<Run>self.runs[-1]).n + k <= (<Run>self.runs[-1]).capacity:
                run = self.runs[-1]
            else:
                run = Run(b"", max(k, self.run_max))
                self.runs.append(run)
            run._merge(used, k)
            self.peak_nbytes = max(self.peak_nbytes, self.nbytes + k * sizeof(Key))
        finally:
            free(used)
        memset(self.table, 0, C_YOUNG_SLOTS * sizeof(Key))
        self.young = 0
