# C declarations for table.py (Cython's augmenting .pxd): the stage's kernel calls `see` once
# per address field as a C call and reads the entry's C members.
cimport cython

cdef class Entry:
    cdef public bytes anon
    cdef public long delta
    cdef public bint changed
    cdef public long long packets, mark, first_frame, first_order, last_frame
    cdef public object first_ts, last_ts
    cdef public bint dns


cdef class AddressTable:
    cdef public object anonymize
    cdef public bint hardware
    cdef public dict entries
    @cython.locals(entry=Entry)
    cpdef Entry create(self, bytes original, long long frame, object ts, long long order)
    @cython.locals(entry=Entry)
    cpdef Entry see(self, bytes original, long long frame, object ts, long long order)
