# C declarations for ip.py (Cython's augmenting .pxd): what the IPv4 and IPv6 walks share, as C calls.
cimport cython

from .spans cimport FrameMap, IpLayer


@cython.locals(quoted=bint, ip=IpLayer, kind=int)
cpdef tuple new_layer(FrameMap m, Py_ssize_t offset, int version)
cpdef cut(FrameMap m, Py_ssize_t end)
cpdef bint may_cut(FrameMap m, Py_ssize_t end)
cpdef later_fragment(FrameMap m, Py_ssize_t offset, Py_ssize_t end, int protocol, IpLayer ip, Py_ssize_t ident)
cpdef first_fragment(FrameMap m, Py_ssize_t ident)
