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


cdef struct FieldEntry:
    # an address field (see `Field`)
    Py_ssize_t offset, size, prefix_at
    int width, kind, form, bits


cdef struct ChecksumEntry:
    # a checksum field (see `Checksum`); its pseudo-header's first `npseudo` field indices
    Py_ssize_t position, start, end
    Py_ssize_t pseudo[2]
    int kind, npseudo


cdef enum:
    SPANS_INLINE = 48  # span entries (3 each) a frame map holds without an allocation: 16 spans
    FIELDS_INLINE = 4  # address fields
    CHECKSUMS_INLINE = 4
    MACS_INLINE = 4
    UNSEEN_INLINE = 4  # entries (2 each)


cdef inline int reserve(void** items, void* inline_items, Py_ssize_t used, Py_ssize_t* capacity,
                        Py_ssize_t more, size_t size) except -1:
    """Room for `more` items of `size` bytes past `used`: a full array grows twofold, out of the
    map's inline one into an allocation (freed with the map)."""
    cdef void* grown
    cdef Py_ssize_t wanted = capacity[0]
    if used + more <= wanted:
        return 0
    while used + more > wanted:
        wanted *= 2
    grown = PyMem_Malloc(wanted * size)
    if grown == NULL:
        raise MemoryError()
    memcpy(grown, items[0], used * size)
    if items[0] != inline_items:
        PyMem_Free(items[0])
    items[0] = grown
    capacity[0] = wanted
    return 0


cdef inline void release(void* items, void* inline_items) noexcept:
    """Free an array `reserve` grew out of the map's inline one."""
    if items != inline_items:
        PyMem_Free(items)


cdef class FrameMap:
    cdef public object data
    cdef public Py_ssize_t n
    cdef public bint truncated
    cdef public Py_ssize_t pos
    # spans, address fields, checksums, MACs and unseen checksum fields as C entries in the map
    # (`spans`, `fields`, `checksums`, `macs` and `unseen` are them as new lists): the inline
    # arrays, then allocations once they are full
    cdef Py_ssize_t* _spans
    cdef Py_ssize_t _used, _capacity
    cdef Py_ssize_t _inline[SPANS_INLINE]
    cdef FieldEntry* _fields
    cdef Py_ssize_t _nfields, _fields_capacity
    cdef FieldEntry _fields_inline[FIELDS_INLINE]
    cdef ChecksumEntry* _checksums
    cdef Py_ssize_t _nchecksums, _checksums_capacity
    cdef ChecksumEntry _checksums_inline[CHECKSUMS_INLINE]
    cdef Py_ssize_t* _macs
    cdef Py_ssize_t _nmacs, _macs_capacity
    cdef Py_ssize_t _macs_inline[MACS_INLINE]
    cdef Py_ssize_t* _unseen
    cdef Py_ssize_t _nunseen, _unseen_capacity  # entries: twice the pairs
    cdef Py_ssize_t _unseen_inline[UNSEEN_INLINE]
    cdef public list ips
    cdef public int status
    cdef public Py_ssize_t transport, l4, ip, payload_start, payload_end
    cdef public int fragment, quoting, depth
    cdef public Py_ssize_t limit, frag_id
    cdef public object quote

    cdef inline void _init_entries(self) noexcept:
        self._spans = self._inline
        self._used = 0
        self._capacity = SPANS_INLINE
        self._fields = self._fields_inline
        self._nfields = 0
        self._fields_capacity = FIELDS_INLINE
        self._checksums = self._checksums_inline
        self._nchecksums = 0
        self._checksums_capacity = CHECKSUMS_INLINE
        self._macs = self._macs_inline
        self._nmacs = 0
        self._macs_capacity = MACS_INLINE
        self._unseen = self._unseen_inline
        self._nunseen = 0
        self._unseen_capacity = UNSEEN_INLINE

    cdef inline void _free_entries(self) noexcept:
        release(self._spans, self._inline)
        release(self._fields, self._fields_inline)
        release(self._checksums, self._checksums_inline)
        release(self._macs, self._macs_inline)
        release(self._unseen, self._unseen_inline)

    cdef inline int _push(self, Py_ssize_t start, Py_ssize_t end, Py_ssize_t reason) except -1:
        """Append a span's three entries."""
        reserve(<void**>&self._spans, self._inline, self._used, &self._capacity, 3, sizeof(Py_ssize_t))
        self._spans[self._used] = start
        self._spans[self._used + 1] = end
        self._spans[self._used + 2] = reason
        self._used += 3
        return 0

    cdef inline FieldEntry* _new_field(self) except NULL:
        reserve(<void**>&self._fields, self._fields_inline, self._nfields, &self._fields_capacity, 1, sizeof(FieldEntry))
        self._nfields += 1
        return &self._fields[self._nfields - 1]

    cdef inline ChecksumEntry* _new_checksum(self) except NULL:
        reserve(<void**>&self._checksums, self._checksums_inline, self._nchecksums, &self._checksums_capacity, 1,
                sizeof(ChecksumEntry))
        self._nchecksums += 1
        return &self._checksums[self._nchecksums - 1]

    cdef inline Py_ssize_t span_count(self) noexcept:
        return self._used // 3

    cdef inline Py_ssize_t span_start(self, Py_ssize_t i) noexcept:
        return self._spans[3 * i]

    cdef inline Py_ssize_t span_end(self, Py_ssize_t i) noexcept:
        return self._spans[3 * i + 1]

    cdef inline int span_reason(self, Py_ssize_t i) noexcept:
        return <int>self._spans[3 * i + 2]

    cdef inline Py_ssize_t field_count(self) noexcept:
        return self._nfields

    cdef inline const FieldEntry* field_at(self, Py_ssize_t i) noexcept:
        return &self._fields[i]

    cdef inline int _push_mac(self, Py_ssize_t offset) except -1:
        reserve(<void**>&self._macs, self._macs_inline, self._nmacs, &self._macs_capacity, 1, sizeof(Py_ssize_t))
        self._macs[self._nmacs] = offset
        self._nmacs += 1
        return 0

    cdef inline int _push_unseen(self, Py_ssize_t start, Py_ssize_t end) except -1:
        reserve(<void**>&self._unseen, self._unseen_inline, self._nunseen, &self._unseen_capacity, 2, sizeof(Py_ssize_t))
        self._unseen[self._nunseen] = start
        self._unseen[self._nunseen + 1] = end
        self._nunseen += 2
        return 0

    cdef inline Py_ssize_t mac_count(self) noexcept:
        return self._nmacs

    cdef inline Py_ssize_t mac_at(self, Py_ssize_t i) noexcept:
        return self._macs[i]

    cdef inline Py_ssize_t checksum_count(self) noexcept:
        return self._nchecksums

    cdef inline const ChecksumEntry* checksum_at(self, Py_ssize_t i) noexcept:
        return &self._checksums[i]

    cdef _setup(self, object data, bint truncated)
    @cython.locals(pos=Py_ssize_t, n=Py_ssize_t)
    cpdef put(self, Py_ssize_t end, int reason)
    cpdef fail(self, Py_ssize_t end, int reason=*)
    @cython.locals(field="FieldEntry*")
    cpdef Py_ssize_t address(self, Py_ssize_t offset, Py_ssize_t size, int width, int kind, int form=*, Py_ssize_t prefix_at=*, int bits=*)
    @cython.locals(i=Py_ssize_t, limit=Py_ssize_t)
    cpdef hardware(self, Py_ssize_t offset, Py_ssize_t count=*)
    @cython.locals(c="ChecksumEntry*", n=Py_ssize_t)
    cpdef checksum(self, Py_ssize_t position, Py_ssize_t start, Py_ssize_t end, int kind, pseudo=*)
    @cython.locals(c=ChecksumEntry, i=Py_ssize_t, kept=Py_ssize_t, n=Py_ssize_t, over=bint)
    cpdef seal(self)


cdef class IpLayer:
    cdef public Py_ssize_t offset, src, dst, end, index
    cdef public int version
    cdef public bint quoted
    cdef public object pseudo


cdef class Ledger:
    cdef public dict counts
    @cython.locals(by_reason=dict)
    cpdef add(self, str verdict, str reason, Py_ssize_t n)


@cython.locals(m=FrameMap)
cpdef FrameMap new_map(object data, bint truncated=*)
