# What flowindex.pyx offers flows.py as C calls.
cimport cython
from libc.stdint cimport int32_t, uint32_t

from .frames cimport FlowKey

cdef enum:
    EVERY = 0  # the order of every flow
    UDP = 1  # the order of the UDP flows
    NOT_LISTED = -2  # `Slot.prev[UDP]` of a flow that is not in the UDP order


cdef struct Slot:  # 20 bytes: with the lists and the table a flow costs ~50 bytes, as in a dict
    uint32_t hash  # of the key (its low bits)
    int32_t prev[2]  # neighbours in each order (EVERY, UDP), -1 at its ends
    int32_t next[2]  # `next[EVERY]` also links the free slots


@cython.final
cdef class FlowIndex:
    cdef Slot* slots
    cdef int32_t* table  # slot by hash, open addressing; -1 where empty
    cdef Py_ssize_t capacity, count, free  # slots, slots in use, first free slot
    cdef size_t mask  # of the table's positions (a power of two; the slots fill at most 2/3 of them)
    cdef Py_ssize_t head[2]  # least recently used slot of each order, -1 when empty
    cdef Py_ssize_t tail[2]  # most recently used
    cdef list keys, values  # by slot: the flow keys (bytes) and flows, None where free

    cdef Py_ssize_t _find(self, const char* key, Py_ssize_t size, Py_hash_t h) noexcept
    cdef Py_ssize_t find(self, FlowKey key) noexcept
    cpdef Py_ssize_t find_bytes(self, bytes key) except -2
    cdef object flow(self, Py_ssize_t i)
    cpdef Py_ssize_t oldest(self, bint udp=*) noexcept
    cdef void touch(self, Py_ssize_t i) noexcept
    cdef void _unlink(self, Py_ssize_t i, int order) noexcept
    cdef void _append(self, Py_ssize_t i, int order) noexcept
    cdef int _check(self, Py_ssize_t i) except -1
    cpdef Py_ssize_t insert(self, bytes key, flow, bint udp) except -1
    cpdef object remove(self, Py_ssize_t i)
    cdef int _grow(self) except -1
    cdef void _place(self, Py_ssize_t i) noexcept
