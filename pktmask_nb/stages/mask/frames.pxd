# What frames.pyx offers other compiled modules as C calls.
from ...proto.spans cimport FieldEntry, FrameMap, IpLayer, frame_bytes

cdef enum:
    KEY_MAX = 1024  # bytes of a flow key: two ends and the context of every outer IP header


cdef class FlowKey:
    cdef unsigned char data[KEY_MAX]
    cdef Py_ssize_t size
    cdef readonly int side  # the sender's canonical side (0, 1)
    cdef Py_hash_t hash  # hash(self.to_bytes())
    cdef int of_ends(self, int transport, const unsigned char* ctx, Py_ssize_t nctx,
                     const unsigned char* a, Py_ssize_t na, const unsigned char* b, Py_ssize_t nb) except -1
    cdef bint of_frame(self, FrameMap m, int transport, Py_ssize_t layer, Py_ssize_t ports) except -1


cpdef tuple key_ends(bytes key)
cpdef long long be32(data, Py_ssize_t at) except -1
