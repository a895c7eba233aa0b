# C declarations for ip.py (Cython's augmenting .pxd): what the IPv4 and IPv6 walks share, as C calls.
cimport cython

from .spans cimport FrameMap, IpLayer

# the module's integer constants as C values: no lookup, no boxing where they are used
cdef long long A_INNER, A_OUTER, A_QUOTED, FRAG_FIRST, FRAG_LATER, R_FRAGMENT, STATUS_TRUNCATED
cdef long long IPV4_TOTAL_LENGTH, IPV4_PROTOCOL, IPV4_SRC, IPV4_DST, MIN_FRAME_LEN, IPV6_PAYLOAD_LENGTH
cdef long long IPV6_NEXT_HEADER, IPV6_SRC, IPV6_DST
cdef long long IPPROTO_GRE


@cython.locals(quoted=bint, ip=IpLayer, kind=int)
cpdef tuple new_layer(FrameMap m, Py_ssize_t offset, int version)
cpdef cut(FrameMap m, Py_ssize_t end)
cpdef bint may_cut(FrameMap m, Py_ssize_t end)
cpdef cut_short(FrameMap m, Py_ssize_t end, int reason)
cpdef int ip_ethertype(FrameMap m, Py_ssize_t pos, Py_ssize_t end)
cpdef later_fragment(FrameMap m, Py_ssize_t offset, Py_ssize_t end, int protocol, IpLayer ip, Py_ssize_t ident)
cpdef first_fragment(FrameMap m, Py_ssize_t ident)
