# C declarations for ipv4.py (Cython's augmenting .pxd): the IPv4 header walk with C offsets.
cimport cython

from .ip cimport cut, first_fragment, later_fragment, may_cut, new_layer
from .spans cimport FrameMap, IpLayer
from .walk cimport ip_payload, u16


@cython.locals(
    data=bytes, ip=IpLayer, kind=int, hlen=Py_ssize_t, total=Py_ssize_t, dend=Py_ssize_t, hend=Py_ssize_t,
    frag=int, protocol=int,
)
cpdef ipv4(FrameMap m, Py_ssize_t offset, Py_ssize_t end)
