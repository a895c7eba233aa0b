# C declarations for stage.py (Cython's augmenting .pxd): the per-packet methods as C calls
# over the frame map's, the flow's and the direction's C fields.
cimport cython

from ...proto.checksum cimport nonzero
from ...proto.dissect cimport frame_of
from ...proto.spans cimport FrameMap, Ledger
from ...record cimport Packet
from .flows cimport Flow, FlowTable
from .keeps cimport Remembered
from .frames cimport FlowKey, be32
from .stream cimport Direction
from .writer cimport ZeroWriter

# the module's integer constants as C values: no lookup, no boxing where they are used
cdef long long DNS_PORT, IPPROTO_TCP, IPPROTO_UDP, ADDRESS, FRAG_FIRST, FRAG_NONE, KEEP, PAYLOAD, R_DATA
cdef long long R_MAC, R_PAYLOAD, R_UNSEEN_CHECKSUM, STATUS_NOT_DISSECTED, STATUS_TRUNCATED, TCP_RST
cdef long long TCP_FIN, TCP_SYN, TCP_ACK
cdef tuple REASON_ACTIONS


cdef class MaskCounts:
    cdef public Py_ssize_t packets
    cdef public Py_ssize_t packets_changed
    cdef public Py_ssize_t packets_held
    cdef public Py_ssize_t payload_bytes_kept
    cdef public Py_ssize_t payload_bytes_zeroed
    cdef public Py_ssize_t fail_closed_bytes
    cdef public Py_ssize_t header_bytes_zeroed
    cdef public Py_ssize_t other_bytes_zeroed
    cdef public Py_ssize_t not_dissected
    cdef public Py_ssize_t fragments
    cdef public Py_ssize_t truncated
    cdef public Py_ssize_t errors
    cdef public Py_ssize_t checksums_not_updated
    cdef public Py_ssize_t flows
    cdef public Py_ssize_t max_held_packets
    cdef public Py_ssize_t max_held_bytes


cdef class _Held:
    cdef public FrameMap m
    cdef public object changes
    cdef public Direction d
    cdef public Py_ssize_t offset, start, length


cdef class MaskStage:
    cdef public object config
    cdef public object _http_zeroed
    cdef public FlowTable _flows
    cdef FlowKey _key
    cdef public object _queue
    cdef public ZeroWriter _writer
    cdef public Py_ssize_t _held_packets, _held_bytes, _hold_packets, _hold_bytes
    cdef public bint _flushing
    cdef public object _current
    cdef public tuple _verdicts
    cdef public bint _dns, _dns_names
    cdef public Ledger ledger
    cdef long long[::1] _kept_bytes, _zeroed_bytes  # header bytes by reason code in this chunk
    cdef long long[::1] _kept_payload  # TCP payload bytes kept in this chunk, by keep reason code
    cdef Py_ssize_t _payload_zeroed, _payload_failed

    cdef inline long long* _payload_counts(self) noexcept:
        return &self._kept_payload[0]
    cdef public dict _events
    cdef public MaskCounts _s
    cdef public Remembered _remembered
    cdef public Py_ssize_t _forget_at
    @cython.locals(remembered=Remembered, limit=Py_ssize_t, flow=Flow, d=Direction, acked=bint)
    cpdef _forget_remembered(self)
    @cython.locals(held=_Held, queue=object, s=MaskCounts, packet=Packet)
    cpdef list process(self, list chunk)
    @cython.locals(held=_Held, d=Direction, queue=object, s=MaskCounts, packet=Packet, item=tuple, over=bint)
    cpdef _release(self, list out)
    @cython.locals(m=FrameMap, start=Py_ssize_t, end=Py_ssize_t, s=MaskCounts)
    cpdef _mask(self, Packet packet)
    @cython.locals(
        d=Direction, offset=Py_ssize_t, start=Py_ssize_t, end=Py_ssize_t, t=Py_ssize_t, n=Py_ssize_t, kept=Py_ssize_t,
        failed=Py_ssize_t, key=FlowKey, flow=Flow,
    )
    cpdef _quoted(self, FrameMap m, list changes)
    @cython.locals(
        kept="long long[::1]", zeroed="long long[::1]", s=MaskCounts, i=Py_ssize_t,
        start=Py_ssize_t, end=Py_ssize_t, reason=int, action=int, quoted=Py_ssize_t,
    )
    cpdef list _headers(self, FrameMap m)
    @cython.locals(
        t=Py_ssize_t, start=Py_ssize_t, end=Py_ssize_t, flags=int, syn=int, flow=Flow, d=Direction,
        offset=Py_ssize_t, length=Py_ssize_t, key=FlowKey, side=int, other=Direction,
    )
    cpdef _tcp(self, Packet packet, FrameMap m, list changes)
    @cython.locals(flow=Flow, kept=Py_ssize_t, failed=Py_ssize_t, zeroed=Py_ssize_t, s=MaskCounts)
    cpdef _decide(self, Packet packet, Direction d, Py_ssize_t offset, Py_ssize_t start, Py_ssize_t length, FrameMap m, list changes)
    @cython.locals(key=FlowKey, flow=Flow)
    cpdef Flow _new_flow(self, int transport, bint client_is_sender)
    @cython.locals(key=FlowKey, flow=Flow, start=Py_ssize_t, end=Py_ssize_t, t=Py_ssize_t)
    cpdef _udp(self, Packet packet, FrameMap m, list changes)
    cpdef _write(self, Packet packet, FrameMap m, list changes)
