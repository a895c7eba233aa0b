# What table.pyx offers the anonymize stage as C calls: an address field looked up from the
# frame's bytes, its record read in place.
from libc.stdint cimport int32_t, int64_t, uint8_t


cdef struct Address:  # 88 bytes
    uint8_t original[16]
    uint8_t size  # 4, 6 or 16
    uint8_t changed  # whether the rewrite changes it
    uint8_t dns  # DNS data carried it
    int32_t delta  # the word-sum change (mod 0xFFFF) of the rewrite
    Py_hash_t hash
    int64_t packets, mark  # packets it was seen in; the last frame counted
    int64_t first_frame, first_order, last_frame
    int64_t first_ts, last_ts  # ns; NO_TS for None, BIG_TS past 62 bits (then in `_big`)


cdef class AddressTable:
    cdef Address* records
    cdef int32_t* index  # record by hash, open addressing (linear probing); -1 where empty
    cdef Py_ssize_t count, capacity
    cdef size_t mask  # of the index's positions (twice the records': at most half of them full)
    cdef public object anonymize
    cdef public bint hardware
    cdef list anon  # the anonymized bytes by record
    cdef dict _big  # (record, last) -> a timestamp past 62 bits

    cdef int _grow(self) except -1
    cdef Py_ssize_t _probe(self, const unsigned char* p, Py_ssize_t size, Py_hash_t h) noexcept
    cdef void _place(self, Py_ssize_t i) noexcept
    cdef Py_ssize_t see_at(self, const unsigned char* p, Py_ssize_t size, int64_t frame, object ts, int64_t order) except -1
    cpdef Py_ssize_t see(self, bytes original, int64_t frame, object ts, int64_t order) except -1
    cdef Py_ssize_t _create(self, const unsigned char* p, Py_ssize_t size, Py_hash_t h, int64_t frame, object ts,
                            int64_t order) except -1
    cdef int _set_ts(self, Py_ssize_t i, int last, object ts) except -1
    cdef object _ts(self, Py_ssize_t i, int last)
    cdef Py_ssize_t _check(self, Py_ssize_t i) except -1
    cdef Py_ssize_t _find(self, bytes original)
    cdef dict _row(self, Py_ssize_t i)

    cdef inline bytes anon_of(self, Py_ssize_t i):
        return <bytes>self.anon[i]

    cdef inline long delta_of(self, Py_ssize_t i) noexcept:
        return self.records[i].delta

    cdef inline bint changed_of(self, Py_ssize_t i) noexcept:
        return self.records[i].changed
