# C declarations for writer.py (Cython's augmenting .pxd): the stage notes each changed frame
# with a C call.
cimport cython

from ...proto.spans cimport FrameMap
from ...record cimport Packet


cdef class ZeroWriter:
    cdef public Py_ssize_t changed
    cdef public list _pending
    cpdef add(self, packet, FrameMap m, list changes)
    @cython.locals(packet=Packet)
    cpdef apply(self)
