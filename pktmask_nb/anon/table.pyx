# cython: language_level=3
"""The per-address cache of a run and the mapping table it reports (SPEC §5 Report).

A compiled kernel: an address field is looked up straight from the frame's bytes in an
open-addressing index over C records, not an object and a dict slot an address, since a
capture of many hosts holds its whole mapping until the end of the run.
"""

from cpython cimport array
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from libc.stdint cimport INT64_MIN, int32_t, int64_t, uint8_t
from libc.stdlib cimport qsort
from libc.string cimport memcmp, memcpy

import array

from ..proto.checksum import word_sum
from ..proto.text import ip_text
from ..rows import Rows
from .mac import mac_text

VERSIONS = {4: 4, 16: 6, 6: "mac"}  # the mapping table's `version` by address length

cdef extern from "Python.h":
    Py_hash_t _Py_HashBytes(const void* data, Py_ssize_t size)  # keyed per process (no collisions chosen by a capture)

cdef enum:
    FIRST_CAPACITY = 64  # records of a new table; the index has twice as many positions (at most half full)
cdef int64_t NO_TS = INT64_MIN  # a timestamp stored as None (pcapng Simple Packet Blocks)
cdef int64_t BIG_TS = INT64_MIN + 1  # a timestamp beyond ±2^62: the object is in `AddressTable._big`


cdef int64_t _ts_value(object ts) except? -1:
    cdef int overflow = 0
    if ts is None:
        return NO_TS
    cdef long long value = PyLong_AsLongLongAndOverflow(ts, &overflow)
    if overflow or not -(1LL << 62) <= value < (1LL << 62):
        return BIG_TS
    return value


cdef class AddressTable:
    """Original address bytes → what the run knows of it, filled on first sight by `anonymize`
    (an `AddressMapper`'s for IP addresses, its ``anonymize_mac`` for a table of MACs,
    `hardware`): its anonymized bytes, the word-sum change (mod 0xFFFF) the rewrite makes and
    whether it changes anything, the packets it was seen in, its first and last sightings
    (timestamps, frame numbers, the position of the first inside its frame), and whether DNS
    data carried it (``--anon-dns``).

    First and last sightings are kept as minimum and maximum frame numbers, so the table
    does not depend on the order in which frames are looked at.
    """

    def __cinit__(self):
        self.records, self.index = NULL, NULL
        self.count = self.capacity = 0

    def __init__(self, anonymize, hardware: bool = False):
        self.anonymize = anonymize
        self.hardware = hardware
        self.anon = []
        self._big = {}
        self._grow()

    def __dealloc__(self):
        PyMem_Free(self.records)
        PyMem_Free(self.index)

    def __len__(self) -> int:
        return self.count

    cdef int _grow(self) except -1:
        cdef Py_ssize_t capacity = self.capacity * 2 if self.capacity else FIRST_CAPACITY, i
        cdef Address* records = <Address*>PyMem_Realloc(self.records, capacity * sizeof(Address))
        if records == NULL:
            raise MemoryError()
        self.records = records
        cdef int32_t* index = <int32_t*>PyMem_Realloc(self.index, 2 * capacity * sizeof(int32_t))
        if index == NULL:
            raise MemoryError()
        self.index, self.capacity, self.mask = index, capacity, 2 * capacity - 1
        for i in range(2 * capacity):
            index[i] = -1
        for i in range(self.count):
            self._place(i)
        return 0

    cdef Py_ssize_t _probe(self, const unsigned char* p, Py_ssize_t size, Py_hash_t h) noexcept:
        """The record of the `size` bytes at `p` (hash `h`), or -1."""
        cdef size_t pos = <size_t>h & self.mask
        cdef Py_ssize_t i = self.index[pos]
        cdef Address* a
        while i >= 0:
            a = &self.records[i]
            if a.hash == h and a.size == size and memcmp(a.original, p, size) == 0:
                return i
            pos = (pos + 1) & self.mask
            i = self.index[pos]
        return -1

    cdef void _place(self, Py_ssize_t i) noexcept:
        cdef size_t pos = <size_t>self.records[i].hash & self.mask
        while self.index[pos] >= 0:
            pos = (pos + 1) & self.mask
        self.index[pos] = <int32_t>i

    cdef Py_ssize_t see_at(self, const unsigned char* p, Py_ssize_t size, int64_t frame, object ts, int64_t order) except -1:
        """The record of the address of `size` bytes at `p` (created on first sight), sighted in
        `frame` at field position `order`."""
        if size > 16:
            raise ValueError(f"an address of {size} bytes")
        cdef Py_hash_t h = _Py_HashBytes(p, size)
        cdef Py_ssize_t i = self._probe(p, size, h)
        if i < 0:
            i = self._create(p, size, h, frame, ts, order)
        cdef Address* a = &self.records[i]
        if a.mark != frame:
            a.mark = frame
            a.packets += 1
            if frame > a.last_frame:
                a.last_frame = frame
                self._set_ts(i, 1, ts)
            if frame < a.first_frame:
                a.first_frame, a.first_order = frame, order
                self._set_ts(i, 0, ts)
        return i

    cpdef Py_ssize_t see(self, bytes original, int64_t frame, object ts, int64_t order) except -1:
        """`see_at` of the bytes `original`."""
        return self.see_at(<const unsigned char*>PyBytes_AS_STRING(original), len(original), frame, ts, order)

    cdef Py_ssize_t _create(self, const unsigned char* p, Py_ssize_t size, Py_hash_t h, int64_t frame, object ts,
                            int64_t order) except -1:
        original = PyBytes_FromStringAndSize(<const char*>p, size)
        anonymized = self.anonymize(original)
        if len(anonymized) != size:
            raise ValueError(f"{size} address bytes anonymized to {len(anonymized)}")
        if self.count == self.capacity:
            self._grow()
        cdef Py_ssize_t i = self.count
        cdef Address* a = &self.records[i]
        memcpy(a.original, p, size)
        a.size, a.hash = <uint8_t>size, h
        a.delta = (word_sum(anonymized, 0, size) - word_sum(original, 0, size)) % 0xFFFF
        a.changed = anonymized != original
        a.dns = False
        a.packets = a.mark = 0
        a.first_frame = a.last_frame = frame
        a.first_order = order
        self.anon.append(anonymized)
        self.count += 1
        self._place(i)
        self._set_ts(i, 0, ts)
        self._set_ts(i, 1, ts)
        return i

    cdef int _set_ts(self, Py_ssize_t i, int last, object ts) except -1:
        cdef int64_t value = _ts_value(ts)
        if last:
            self.records[i].last_ts = value
        else:
            self.records[i].first_ts = value
        if value == BIG_TS:
            self._big[(i, last)] = ts
        return 0

    cdef object _ts(self, Py_ssize_t i, int last):
        cdef int64_t value = self.records[i].last_ts if last else self.records[i].first_ts
        if value == NO_TS:
            return None
        if value == BIG_TS:
            return self._big[(i, last)]
        return value

    def set_dns(self, Py_ssize_t i) -> None:
        """Record `i` was carried by DNS data."""
        self.records[self._check(i)].dns = True

    cdef Py_ssize_t _check(self, Py_ssize_t i) except -1:
        if not 0 <= i < self.count:
            raise IndexError(f"address record {i} of {self.count}")
        return i

    def entry(self, original: bytes) -> dict | None:
        """What the table knows of `original` (the fields of its mapping row, as bytes and
        numbers), or None: for tests and notebooks."""
        cdef Py_ssize_t i = self._find(original)
        if i < 0:
            return None
        cdef Address* a = &self.records[i]
        return {
            "anon": self.anon[i], "delta": a.delta, "changed": bool(a.changed), "packets": a.packets,
            "first_ts": self._ts(i, 0), "last_ts": self._ts(i, 1), "first_frame": a.first_frame,
            "first_order": a.first_order, "last_frame": a.last_frame, "dns": bool(a.dns),
        }  # fmt: skip

    cdef Py_ssize_t _find(self, bytes original):
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(original)
        return self._probe(p, len(original), _Py_HashBytes(p, len(original)))

    def counts(self) -> dict[str, int]:
        """Distinct addresses by kind: ``ipv4``, ``ipv6`` (and ``mac`` in a table of MACs)."""
        found = {"mac": 0} if self.hardware else {"ipv4": 0, "ipv6": 0}
        cdef Py_ssize_t i
        for i in range(self.count):
            size = self.records[i].size
            found["mac" if size == 6 else "ipv4" if size == 4 else "ipv6"] += 1
        return found

    def rows(self) -> Rows:
        """The mapping table, one row per address in order of first sighting (made as read).

        ``version`` is 4, 6 or ``"mac"``; ``first_seen``/``last_seen`` are capture timestamps
        in ns (None for pcapng Simple Packet Blocks); ``first_frame``/``last_frame`` are
        frame numbers; ``in_dns`` tells an address DNS data carried (``--anon-dns``).
        """
        cdef Sighting* keys = <Sighting*>PyMem_Malloc(max(self.count, 1) * sizeof(Sighting))
        if keys == NULL:
            raise MemoryError()
        cdef array.array order = array.clone(_INDEX_ARRAY, self.count, zero=False)
        cdef Py_ssize_t i
        try:
            for i in range(self.count):
                keys[i].frame, keys[i].order, keys[i].record = self.records[i].first_frame, self.records[i].first_order, i
            qsort(keys, self.count, sizeof(Sighting), _by_sighting)
            for i in range(self.count):
                order.data.as_ints[i] = keys[i].record
        finally:
            PyMem_Free(keys)
        return Rows(self.count, lambda k: self._row(order[k]))

    cdef dict _row(self, Py_ssize_t i):
        cdef Address* a = &self.records[i]
        original = PyBytes_FromStringAndSize(<const char*>a.original, a.size)
        text = mac_text if a.size == 6 else ip_text
        return {
            "original": text(original),
            "anonymized": text(self.anon[i]),
            "version": VERSIONS[a.size],
            "packets": a.packets,
            "first_seen": self._ts(i, 0),
            "last_seen": self._ts(i, 1),
            "first_frame": a.first_frame,
            "last_frame": a.last_frame,
            "in_dns": bool(a.dns),
        }  # fmt: skip


cdef struct Sighting:  # a record's first sighting, to put the rows in order
    int64_t frame, order
    int32_t record


cdef int _by_sighting(const void* a, const void* b) noexcept nogil:
    cdef const Sighting* x = <const Sighting*>a
    cdef const Sighting* y = <const Sighting*>b
    if x.frame != y.frame:
        return -1 if x.frame < y.frame else 1
    if x.order != y.order:
        return -1 if x.order < y.order else 1
    return -1 if x.record < y.record else x.record > y.record


cdef array.array _INDEX_ARRAY = array.array("i")
