# C declarations for ipv4.py (Cython's augmenting .pxd): the IPv4 header walk with C offsets.
cimport cython

from .ip cimport cut, first_fragment, later_fragment, may_cut, new_layer
from .spans cimport FrameMap, IpLayer
from .walk cimport ip_payload, u16

# the module's integer constants as C values: no lookup, no boxing where they are used
cdef long long IPV4_MIN_HLEN, A_OPTION, CK_IPV4_HEADER, R_IP, R_IP_OPTION, R_PADDING, R_TRAILER
cdef long long R_UNKNOWN, IPOPT_EOL, IPOPT_NOP, IPOPT_RR, IPOPT_LSRR, IPOPT_SSRR, IPOPT_TS, IPOPT_TRACEROUTE
cdef long long IPOPT_TS_ONLY, IPOPT_TS_ADDRESSES, IPOPT_TS_PRESPECIFIED, IPOPT_ROUTE_MIN_POINTER
cdef long long IPOPT_TS_MIN_POINTER, IPOPT_SECURITY
cdef long long ETH_P_IP


@cython.locals(
    data=bytes, ip=IpLayer, kind=int, hlen=Py_ssize_t, total=Py_ssize_t, dend=Py_ssize_t, hend=Py_ssize_t,
    frag=int, protocol=int,
)
cpdef ipv4(FrameMap m, Py_ssize_t offset, Py_ssize_t end)
