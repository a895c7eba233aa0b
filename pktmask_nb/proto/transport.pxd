# C declarations for transport.py (Cython's augmenting .pxd): TCP and UDP headers with C offsets.
cimport cython

from .ip cimport cut, may_cut
from .spans cimport FrameMap, IpLayer
from .walk cimport options, u16

# the module's integer constants as C values: no lookup, no boxing where they are used
cdef long long IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, A_TCP_OPTION, CK_TCP, CK_UDP, R_DATA
cdef long long R_IDENTIFIER, R_OVERRUN, R_PAYLOAD, R_TCP, R_TCP_OPTION, R_TRAILER, R_TRUNCATED, R_UDP
cdef long long R_UNKNOWN, TCP_MIN_HLEN, TCPOPT_EOL, TCPOPT_NOP, TCPOPT_SACK, TCPOPT_MD5, TCPOPT_AO
cdef long long TCPOPT_MPTCP, TCPOPT_FASTOPEN, MPTCP_ADD_ADDR
cdef long long UDP_HLEN, FRAG_FIRST


cpdef _payload(FrameMap m, Py_ssize_t start, Py_ssize_t end)
cpdef _transport(FrameMap m, int protocol, Py_ssize_t offset, IpLayer ip)
@cython.locals(data=bytes, hlen=Py_ssize_t, stop=Py_ssize_t)
cpdef tcp(FrameMap m, Py_ssize_t t, Py_ssize_t end, IpLayer ip)
cpdef bint tcp_options(FrameMap m, Py_ssize_t pos, Py_ssize_t stop)
@cython.locals(stop=Py_ssize_t)
cpdef bint _option(FrameMap m, int kind, Py_ssize_t pos, Py_ssize_t length)
@cython.locals(data=bytes, length=Py_ssize_t, stop=Py_ssize_t, sport=int, dport=int)
cpdef udp(FrameMap m, Py_ssize_t u, Py_ssize_t end, IpLayer ip)
