# C declarations for table.py (Cython's augmenting .pxd): the stage's kernel calls `see` once
# per address field as a C call.

cdef class AddressTable:
    cdef public object anonymize
    cdef public bint hardware
    cdef public dict entries
    cpdef list create(self, bytes original, object frame, object ts, object order)
    cpdef list see(self, bytes original, object frame, object ts, object order)
