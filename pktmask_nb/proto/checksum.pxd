# What checksum.pyx offers other compiled modules as C calls.
from .spans cimport FrameMap


cpdef bint nonzero(data, Py_ssize_t start, Py_ssize_t end) except -1
cpdef bint any_nonzero(data, list ranges) except -1
cpdef zero(bytearray buf, FrameMap m, list ranges)
cpdef bytearray frame_copy(data)
cdef int rewrite(bytearray buf, FrameMap m, list changes, const long long* moved) except -1
