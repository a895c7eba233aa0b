# C declarations for flows.py (Cython's augmenting .pxd): a flow's state as C members, the
# table's per-packet lookup as a C call.
cimport cython

from .flowindex cimport FlowIndex
from .frames cimport FlowKey, key_ends

# the module's integer constants as C values: no lookup, no boxing where they are used
cdef long long IPPROTO_TCP, IPPROTO_UDP, MASK_MAX_GONE, EXPIRY_CHECK_NS
cdef long long MASK_REPORT_MAX_FLOWS


cdef class Flow:
    cdef public int transport
    cdef public int client_side
    cdef public dict totals
    cdef public object key
    cdef public long long first_ts, last_ts  # packet times (ns; 0 before any)
    cdef public object dir0, dir1  # the Direction of each canonical side (TCP), None until it sends
    cdef public str protocol
    cdef public object tls_counts
    cdef public object starttls
    cdef public bint ssl2
    cdef public object http_methods
    cdef public bint http_keep
    cdef public bint tls_names
    cdef public bint dns, dns_names
    cdef public Py_ssize_t http_messages
    cdef public object http_zeroed
    cdef public object events
    cdef public Py_ssize_t kept, zeroed, failed, held, packets
    cdef public bint closed
    cdef public bint restarted
    cpdef object direction(self, int side)
    cpdef attach(self, int side, object d)
    cpdef count_event(self, str event, Py_ssize_t n=*)
    cpdef tuple values(self)


cdef class FlowTable:
    cdef public FlowIndex index
    cdef public Py_ssize_t max_flows
    cdef public object idle_ns, udp_idle_ns, linger_ns
    cdef public object on_evict
    cdef public object closing
    cdef public object now
    cdef public object _due
    cdef public list rows
    cdef public Py_ssize_t unlisted
    cdef public dict evicted
    cdef public Py_ssize_t finished
    cdef public object tls_ended
    cdef public dict gone
    @cython.locals(index=FlowIndex, i=Py_ssize_t)
    cpdef _expire(self, ts)
    @cython.locals(i=Py_ssize_t)
    cpdef Flow get(self, FlowKey key, ts)
    @cython.locals(i=Py_ssize_t)
    cpdef Flow peek(self, FlowKey key)
    @cython.locals(index=FlowIndex)
    cpdef add(self, Flow flow)
    @cython.locals(i=Py_ssize_t)
    cpdef close(self, Flow flow)
    @cython.locals(flow=Flow)
    cpdef _evict(self, Py_ssize_t i, str why)
    @cython.locals(tls="long long[::1]", i=Py_ssize_t)
    cpdef _end(self, Flow flow)
    @cython.locals(columns=tuple, values=tuple, i=Py_ssize_t)
    cpdef object table(self)
