# C declarations for stream.py (Cython's augmenting .pxd): a TCP direction's state as C
# members, its per-segment methods as C calls with C integers for stream offsets.
cimport cython

from .keeps cimport Keeps, Remembered

# the module's integer constants as C values: a segment is placed with C arithmetic (Python's
# modulo rules)
cdef long long SEQ_MOD, SEQ_HALF, STREAM_END, KEEP_MAX_BYTES
cdef Keeps NO_KEEPS


cdef class Direction:
    cdef public object flow
    cdef public bint client, start_known, fin  # together: one word of padding, not three
    cdef public long long base, syn_seq
    cdef public Py_ssize_t next
    cdef public Py_ssize_t decided
    cdef public Keeps keeps
    cdef public Remembered remembered
    cdef public Py_ssize_t forgotten
    cdef public Py_ssize_t acked
    cdef public Py_ssize_t fail_from
    cdef public object walker
    cdef public object tail
    cdef public object ooo
    cdef public Py_ssize_t held
    cdef public Py_ssize_t segment
    cdef public object _data
    cdef public Py_ssize_t _offset
    @cython.locals(keeps=Keeps, last=Py_ssize_t)
    cpdef keep(self, Py_ssize_t start, Py_ssize_t end, str reason)
    @cython.locals(offset=Py_ssize_t)
    cpdef acknowledged(self, long long seq)
    @cython.locals(end=Py_ssize_t)
    cpdef forget(self, Py_ssize_t offset)
    cpdef Py_ssize_t zero_rest(self, Py_ssize_t offset, event=*) except? -1
    @cython.locals(undecided=Py_ssize_t)
    cpdef _feed(self, data, Py_ssize_t offset, Py_ssize_t segment=*)
    @cython.locals(nxt=Py_ssize_t, base="long long")
    cpdef Py_ssize_t offset_of(self, long long seq) except? -1
    @cython.locals(nxt=Py_ssize_t, offset=Py_ssize_t, end=Py_ssize_t, base="long long", keeps=Keeps)
    cpdef Py_ssize_t place(self, long long seq, int syn, data, Py_ssize_t start, Py_ssize_t stop) except? -1
    @cython.locals(
        end=Py_ssize_t, pos=Py_ssize_t, lo=Py_ssize_t, hi=Py_ssize_t, first=Py_ssize_t, last=Py_ssize_t,
        a=Py_ssize_t, b=Py_ssize_t, keeps=Keeps, begin=Py_ssize_t, i=Py_ssize_t, shift=Py_ssize_t, kept=Py_ssize_t,
    )
    cdef Py_ssize_t decide(self, Py_ssize_t start, data, Py_ssize_t at, Py_ssize_t length, list changes,
                           long long* kept_bytes, Py_ssize_t* failed, bint count, restrict=*) except -1
