# C declarations for spans.py (Cython's augmenting .pxd): FrameMap and its records become
# extension types, their fields C members and the map's building methods C calls, where the
# walk spends its time; the compiled kernels (checksum, anonymize, mask's frames) read them
# and the frame's bytes without the interpreter.
cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_CheckExact
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact


cdef inline const unsigned char* frame_bytes(object data) except NULL:
    """The bytes of a frame's data (``bytes`` or ``bytearray``, which nothing resizes meanwhile)."""
    if PyBytes_CheckExact(data):
        return <const unsigned char*>PyBytes_AS_STRING(data)
    if PyByteArray_CheckExact(data):
        return <const unsigned char*>PyByteArray_AS_STRING(data)
    raise TypeError(f"frame data must be bytes or bytearray, not {type(data).__name__}")


cdef class FrameMap:
    cdef public object data
    cdef public Py_ssize_t n
    cdef public bint truncated
    cdef public Py_ssize_t pos
    cdef public list spans
    cdef public list fields
    cdef public list checksums
    cdef public list unseen
    cdef public list ips
    cdef public list macs
    cdef public int status
    cdef public Py_ssize_t transport, l4, ip, payload_start, payload_end
    cdef public int fragment, quoting, depth
    cdef public Py_ssize_t limit, frag_id
    cdef public object quote
    @cython.locals(pos=Py_ssize_t, spans=list)
    cpdef put(self, Py_ssize_t end, int reason)
    cpdef fail(self, Py_ssize_t end, int reason=*)
    @cython.locals(field=Field)
    cpdef Py_ssize_t address(self, Py_ssize_t offset, Py_ssize_t size, int width, int kind, int form=*, Py_ssize_t prefix_at=*, int bits=*)
    @cython.locals(i=Py_ssize_t, limit=Py_ssize_t, macs=list)
    cpdef hardware(self, Py_ssize_t offset, Py_ssize_t count=*)
    @cython.locals(checksum=Checksum)
    cpdef checksum(self, Py_ssize_t position, Py_ssize_t start, Py_ssize_t end, int kind, pseudo=*)
    @cython.locals(c=Checksum, n=Py_ssize_t, over=bint)
    cpdef seal(self)


cdef class Field:
    cdef public Py_ssize_t offset, size, prefix_at
    cdef public int width, kind, form, bits


cdef class Checksum:
    cdef public Py_ssize_t position, start, end
    cdef public int kind
    cdef public object pseudo


cdef class IpLayer:
    cdef public Py_ssize_t offset, src, dst, end, index
    cdef public int version
    cdef public bint quoted
    cdef public object pseudo


cdef class Ledger:
    cdef public dict counts
    cpdef add(self, str verdict, str reason, Py_ssize_t n)
