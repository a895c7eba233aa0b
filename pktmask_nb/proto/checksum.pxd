# What checksum.pyx offers other compiled modules as C calls.
from .spans cimport FrameMap


cpdef bint nonzero(data, Py_ssize_t start, Py_ssize_t end) except -1
cdef int rewrite(bytearray buf, FrameMap m, list changes, const long long* moved) except -1
