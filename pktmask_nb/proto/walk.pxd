# C declarations for walk.py (Cython's augmenting .pxd): the dispatch and the TLV loop as C
# calls over the frame's bytes (the walk reads ``bytes``, see `dissect`).
cimport cython

from .spans cimport FrameMap, IpLayer

# the module's integer constants as C values: no lookup, no boxing where they are used
cdef long long R_FAIL, R_OVERRUN, R_PADDING, MAX_NESTING, NOWHERE


@cython.locals(limit=Py_ssize_t, table=dict)
cpdef network(FrameMap m, Py_ssize_t offset, int ethertype, Py_ssize_t end)
@cython.locals(limit=Py_ssize_t, table=dict)
cpdef ip_payload(FrameMap m, Py_ssize_t offset, Py_ssize_t end, int protocol, IpLayer ip)
cpdef Py_ssize_t bound(FrameMap m, Py_ssize_t end)
cpdef unbound(FrameMap m, Py_ssize_t end, Py_ssize_t limit)
@cython.locals(data=bytes, n=Py_ssize_t, kind=int, size=Py_ssize_t)
cpdef bint options(FrameMap m, Py_ssize_t pos, Py_ssize_t stop, option, int pad1, int reason, int eol=*, bint counted=*)
@cython.locals(i=Py_ssize_t)
cpdef bint failed_since(FrameMap m, tuple mark, Py_ssize_t before=*) except -1
cpdef int u16(bytes data, Py_ssize_t offset)
