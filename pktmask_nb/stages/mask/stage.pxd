# C declarations for stage.py (Cython's augmenting .pxd): the per-packet methods as C calls
# over the frame map's, the flow's and the direction's C fields.
cimport cython

from ...proto.spans cimport FrameMap
from ...record cimport Packet
from .flows cimport Flow, FlowTable
from .frames cimport addresses, context, flow_key, transport_key
from .stream cimport Decision, Direction


cdef class _Held:
    cdef public object checksums
    cdef public object changes
    cdef public Direction d
    cdef public Py_ssize_t offset, start, length


cdef class MaskStage:
    cdef public object config
    cdef public object _http_zeroed
    cdef public FlowTable _flows
    cdef public object _queue
    cdef public object _writer
    cdef public Py_ssize_t _held_packets, _held_bytes
    cdef public bint _flushing
    cdef public object _current
    cdef public tuple _verdicts
    cdef public bint _dns, _dns_names
    cdef public object ledger
    cdef public list _kept_bytes, _zeroed_bytes
    cdef public dict _events
    cdef public dict _s
    @cython.locals(held=_Held, d=Direction, queue=object)
    cpdef _release(self, list out)
    @cython.locals(m=FrameMap, start=Py_ssize_t, end=Py_ssize_t)
    cpdef _mask(self, Packet packet)
    @cython.locals(
        spans=list, kept=list, zeroed=list, s=dict, i=Py_ssize_t, start=Py_ssize_t, end=Py_ssize_t,
        reason=int, action=int, quoted=Py_ssize_t,
    )
    cpdef list _headers(self, FrameMap m)
    @cython.locals(
        t=Py_ssize_t, start=Py_ssize_t, end=Py_ssize_t, flags=int, syn=int, flow=Flow, d=Direction,
        offset=Py_ssize_t, length=Py_ssize_t,
    )
    cpdef _tcp(self, Packet packet, FrameMap m, list changes)
    @cython.locals(decision=Decision, flow=Flow, kept=Py_ssize_t, zeroed=Py_ssize_t, s=dict)
    cpdef _decide(self, Packet packet, Direction d, Py_ssize_t offset, Py_ssize_t start, Py_ssize_t length, checksums, list changes)
    cpdef _write(self, Packet packet, checksums, list changes)
