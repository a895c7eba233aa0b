# C declarations for writer.py (Cython's augmenting .pxd): the stage notes each changed frame
# with a C call, and the writer zeroes it through the checksum kernel's C calls.
cimport cython

from ...proto.checksum cimport any_nonzero, frame_copy, zero
from ...proto.spans cimport FrameMap
from ...record cimport Packet


cdef class ZeroWriter:
    cdef public Py_ssize_t changed
    cdef public list _pending
    cpdef add(self, packet, FrameMap m, list changes)
    @cython.locals(packet=Packet, m=FrameMap, changes=list)
    cpdef apply(self)
