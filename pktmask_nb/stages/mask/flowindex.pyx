# cython: language_level=3
"""Flows by key in least-recently-used order, in C arrays: the mask's flow table underneath.

An open-addressing index (linear probing, backward-shift deletion) over slots that form two
doubly linked lists, least recently used first: every flow, and the UDP flows alone (they
idle out sooner, and expiry must find them behind younger TCP flows). A packet's lookup
compares the key `~.frames.FlowKey` built in place and moves two links: nothing is
allocated, nothing hashed twice. The keys and flows themselves stay in two lists by slot,
so the cycle collector sees the flows.
"""

from cpython.bytes cimport PyBytes_AS_STRING
from cpython.list cimport PyList_GET_ITEM
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject_Hash
from cpython.ref cimport PyObject
from libc.string cimport memcmp

cdef extern from "Python.h":
    const char* bytes_of "PyBytes_AS_STRING" (PyObject* key)  # of a borrowed reference
    Py_ssize_t size_of "PyBytes_GET_SIZE" (PyObject* key)

cdef enum:
    FIRST_TABLE = 128  # positions of a new index's table


cdef class FlowIndex:
    """Flows by key (``bytes``), least recently used first."""

    def __cinit__(self):
        self.slots, self.table = NULL, NULL

    def __init__(self):
        PyMem_Free(self.slots)
        PyMem_Free(self.table)
        self.slots, self.table = NULL, NULL
        self.keys, self.values = [], []
        self.capacity = self.count = 0
        self.free = -1
        self.head[EVERY] = self.head[UDP] = self.tail[EVERY] = self.tail[UDP] = -1
        self._grow()

    def __dealloc__(self):
        PyMem_Free(self.slots)
        PyMem_Free(self.table)

    def __len__(self) -> int:
        return self.count

    cdef Py_ssize_t _find(self, const char* key, Py_ssize_t size, Py_hash_t h) noexcept:
        cdef size_t pos = <size_t>h & self.mask
        cdef Py_ssize_t i = self.table[pos]
        cdef PyObject* k
        while i >= 0:
            if self.slots[i].hash == <uint32_t>h:
                k = <PyObject*>PyList_GET_ITEM(self.keys, i)
                if size_of(k) == size and memcmp(bytes_of(k), key, size) == 0:
                    return i
            pos = (pos + 1) & self.mask
            i = self.table[pos]
        return -1

    cdef Py_ssize_t find(self, FlowKey key) noexcept:
        """The slot of `key`'s flow, -1 if none."""
        return self._find(<const char*>key.data, key.size, key.hash)

    cpdef Py_ssize_t find_bytes(self, bytes key) except -2:
        """The slot of the flow of `key` (as ``bytes``), -1 if none."""
        return self._find(PyBytes_AS_STRING(key), len(key), PyObject_Hash(key))

    cdef object flow(self, Py_ssize_t i):
        return self.values[i]

    cpdef Py_ssize_t oldest(self, bint udp=False) noexcept:
        """The least recently used slot (of the UDP flows), -1 if none."""
        return self.head[UDP if udp else EVERY]

    def flows(self) -> list:
        """The flows, least recently used first."""
        return [self.values[i] for i in self._order(EVERY)]

    def keys_in_order(self, bint udp=False) -> list:
        """The keys of every flow (of the UDP flows), least recently used first."""
        return [self.keys[i] for i in self._order(UDP if udp else EVERY)]

    def _order(self, int order) -> list:
        out = []
        cdef Py_ssize_t i = self.head[order]
        while i >= 0:
            out.append(i)
            i = self.slots[i].next[order]
        return out

    def move_to_end(self, Py_ssize_t i) -> None:
        """Slot `i` becomes the most recently used (`touch`, checked)."""
        self._check(i)
        self.touch(i)

    cdef int _check(self, Py_ssize_t i) except -1:
        if not 0 <= i < self.capacity or self.values[i] is None:
            raise IndexError(f"no flow in slot {i}")
        return 0

    cdef void touch(self, Py_ssize_t i) noexcept:
        """Slot `i` becomes the most recently used (of the UDP flows too, if one)."""
        if i != self.tail[EVERY]:
            self._unlink(i, EVERY)
            self._append(i, EVERY)
        if self.slots[i].prev[UDP] != NOT_LISTED and i != self.tail[UDP]:
            self._unlink(i, UDP)
            self._append(i, UDP)

    cdef void _unlink(self, Py_ssize_t i, int order) noexcept:
        cdef Slot* s = &self.slots[i]
        if s.prev[order] >= 0:
            self.slots[s.prev[order]].next[order] = s.next[order]
        else:
            self.head[order] = s.next[order]
        if s.next[order] >= 0:
            self.slots[s.next[order]].prev[order] = s.prev[order]
        else:
            self.tail[order] = s.prev[order]

    cdef void _append(self, Py_ssize_t i, int order) noexcept:
        cdef Slot* s = &self.slots[i]
        s.prev[order], s.next[order] = self.tail[order], -1
        if self.tail[order] >= 0:
            self.slots[self.tail[order]].next[order] = i
        else:
            self.head[order] = i
        self.tail[order] = i

    cpdef Py_ssize_t insert(self, bytes key, flow, bint udp) except -1:
        """Add `flow` under `key` as the most recently used; its slot."""
        cdef Py_hash_t h = PyObject_Hash(key)
        if self._find(PyBytes_AS_STRING(key), len(key), h) >= 0:
            raise KeyError(f"flow key {key.hex()} is in the table already")
        if self.free < 0:
            self._grow()
        cdef Py_ssize_t i = self.free
        cdef Slot* s = &self.slots[i]
        self.free = s.next[EVERY]
        self.keys[i], self.values[i] = key, flow
        s.hash = <uint32_t>h
        self._append(i, EVERY)
        s.prev[UDP] = s.next[UDP] = NOT_LISTED
        if udp:
            self._append(i, UDP)
        self._place(i)
        self.count += 1
        return i

    cpdef object remove(self, Py_ssize_t i):
        """Take the flow of slot `i` out; the flow."""
        self._check(i)
        cdef Slot* s = &self.slots[i]
        self._unlink(i, EVERY)
        if s.prev[UDP] != NOT_LISTED:
            self._unlink(i, UDP)
        # backward-shift deletion: pull later entries of the probe run into the hole, so
        # that no lookup stops at an empty position before its key
        cdef size_t hole = <size_t>s.hash & self.mask, pos, home
        while self.table[hole] != i:
            hole = (hole + 1) & self.mask
        pos = hole
        while True:
            pos = (pos + 1) & self.mask
            if self.table[pos] < 0:
                break
            home = <size_t>self.slots[self.table[pos]].hash & self.mask
            if ((pos - home) & self.mask) >= ((pos - hole) & self.mask):
                self.table[hole] = self.table[pos]
                hole = pos
        self.table[hole] = -1
        flow = self.values[i]
        self.keys[i] = self.values[i] = None
        s.next[EVERY], self.free = self.free, i
        self.count -= 1
        return flow

    cdef int _grow(self) except -1:
        """Double the table (the first time: FIRST_TABLE positions), fill 2/3 of it with slots
        at most (as a dict does) and rebuild the index over them."""
        cdef Py_ssize_t old = self.capacity, size = 2 * (self.mask + 1) if self.table else FIRST_TABLE, i
        if size > 0x40000000:
            raise MemoryError("more flows than a flow index holds")
        cdef Py_ssize_t capacity = size * 2 // 3
        cdef Slot* slots = <Slot*>PyMem_Realloc(self.slots, capacity * sizeof(Slot))
        if slots is NULL:
            raise MemoryError()
        self.slots = slots
        cdef int32_t* table = <int32_t*>PyMem_Malloc(size * sizeof(int32_t))
        if table is NULL:
            raise MemoryError()
        PyMem_Free(self.table)
        self.table, self.mask, self.capacity = table, size - 1, capacity
        for i in range(size):
            table[i] = -1
        self.keys.extend([None] * (capacity - old))
        self.values.extend([None] * (capacity - old))
        for i in range(capacity - 1, old - 1, -1):  # the new slots, first ones first
            slots[i].next[EVERY], self.free = self.free, i
        i = self.head[EVERY]
        while i >= 0:
            self._place(i)
            i = slots[i].next[EVERY]
        return 0

    cdef void _place(self, Py_ssize_t i) noexcept:
        cdef size_t pos = <size_t>self.slots[i].hash & self.mask
        while self.table[pos] >= 0:
            pos = (pos + 1) & self.mask
        self.table[pos] = i
