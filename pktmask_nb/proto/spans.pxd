# C declarations for spans.py (Cython's augmenting .pxd): FrameMap and its records become
# extension types, their fields C members and the map's building methods C calls, where the
# walk spends its time; the compiled kernels (checksum, anonymize, mask's frames) read them
# and the frame's bytes without the interpreter.
cimport cython
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_CheckExact
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memcpy

# the module's integer constants as C values: no lookup, no boxing where they are used
cdef long long R_ADDRESS, FORM_PLAIN


cdef inline const unsigned char* frame_bytes(object data) except NULL:
    """The bytes of a frame's data (``bytes`` or ``bytearray``, which nothing resizes meanwhile)."""
    if PyBytes_CheckExact(data):
        return <const unsigned char*>PyBytes_AS_STRING(data)
    if PyByteArray_CheckExact(data):
        return <const unsigned char*>PyByteArray_AS_STRING(data)
    raise TypeError(f"frame data must be bytes or bytearray, not {type(data).__name__}")


cdef enum:
    SPANS_INLINE = 48  # span entries (3 each) a frame map holds without an allocation: 16 spans


cdef class FrameMap:
    cdef public object data
    cdef public Py_ssize_t n
    cdef public bint truncated
    cdef public Py_ssize_t pos
    # the spans: ``start, end, reason`` of each, in C entries (`spans` is them as a list)
    cdef Py_ssize_t* _spans
    cdef Py_ssize_t _used, _capacity
    cdef Py_ssize_t _inline[SPANS_INLINE]
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

    cdef inline void _init_spans(self) noexcept:
        self._spans = self._inline
        self._used = 0
        self._capacity = SPANS_INLINE

    cdef inline void _free_spans(self) noexcept:
        if self._spans != self._inline:
            PyMem_Free(self._spans)

    cdef inline int _push(self, Py_ssize_t start, Py_ssize_t end, Py_ssize_t reason) except -1:
        """Append a span's three entries (growing the entries twofold when full)."""
        cdef Py_ssize_t* grown
        if self._used + 3 > self._capacity:
            grown = <Py_ssize_t*>PyMem_Malloc(2 * self._capacity * sizeof(Py_ssize_t))
            if grown == NULL:
                raise MemoryError()
            memcpy(grown, self._spans, self._used * sizeof(Py_ssize_t))
            if self._spans != self._inline:
                PyMem_Free(self._spans)
            self._spans = grown
            self._capacity *= 2
        self._spans[self._used] = start
        self._spans[self._used + 1] = end
        self._spans[self._used + 2] = reason
        self._used += 3
        return 0

    cdef inline Py_ssize_t span_count(self) noexcept:
        return self._used // 3

    cdef inline Py_ssize_t span_start(self, Py_ssize_t i) noexcept:
        return self._spans[3 * i]

    cdef inline Py_ssize_t span_end(self, Py_ssize_t i) noexcept:
        return self._spans[3 * i + 1]

    cdef inline int span_reason(self, Py_ssize_t i) noexcept:
        return <int>self._spans[3 * i + 2]

    @cython.locals(pos=Py_ssize_t, n=Py_ssize_t)
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
    @cython.locals(by_reason=dict)
    cpdef add(self, str verdict, str reason, Py_ssize_t n)
