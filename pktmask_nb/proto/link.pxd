# C declarations for link.py (Cython's augmenting .pxd): Ethernet and VLAN tags with C offsets.
cimport cython

from .ip cimport cut
from .spans cimport FrameMap
from .walk cimport network, u16


cpdef link_ethernet(FrameMap m)
@cython.locals(ethertype=int, stop=Py_ssize_t)
cpdef ethernet(FrameMap m, Py_ssize_t offset, Py_ssize_t end)
cpdef vlan(FrameMap m, Py_ssize_t offset, Py_ssize_t end)
