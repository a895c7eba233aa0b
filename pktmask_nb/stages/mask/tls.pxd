# C declarations for tls.py (Cython's augmenting .pxd): the record walk with C offsets, its
# keeps C calls on the direction.
cimport cython

from .stream cimport Direction

# the module's integer constants as C values: no lookup, no boxing where they are used
cdef long long SSL2_CLIENT_MASTER_KEY, SSL2_HLEN, SSL2_SERVER_HELLO, TLS_CHANGE_CIPHER_SPEC, TLS_HANDSHAKE
cdef long long TLS_APPLICATION_DATA, SSL2_BLOCK, SSL2_MAC_LEN
cdef long long TLS_HLEN, HANDSHAKE_HLEN, HANDSHAKE_WAIT_MAX, TLS_MAX_RECORD


@cython.locals(a=Py_ssize_t, b=Py_ssize_t)
cpdef keep_text(Direction d, data, Py_ssize_t start, Py_ssize_t end, Py_ssize_t offset, str reason, names=*)


cdef class TlsWalker:
    cdef public Py_ssize_t record_end
    cdef public object keep_body
    cdef public int ssl2
    cdef public list counts
    cdef public bint names, encrypted
    cdef public Py_ssize_t carry, framing
    @cython.locals(
        n=Py_ssize_t, end=Py_ssize_t, record_end=Py_ssize_t, pos=Py_ssize_t, undecided=Py_ssize_t,
        stop=Py_ssize_t, content_type=int, length=Py_ssize_t, header=Py_ssize_t, body=Py_ssize_t, kept=Py_ssize_t, clear=bint,
    )
    cpdef Py_ssize_t feed(self, Direction d, data, Py_ssize_t offset) except? -1
    @cython.locals(n=Py_ssize_t, at=Py_ssize_t, length=Py_ssize_t, complete=Py_ssize_t, carry=Py_ssize_t, size=Py_ssize_t)
    cpdef Py_ssize_t _named(self, Direction d, data, Py_ssize_t pos, Py_ssize_t offset) except? -2
    @cython.locals(framing=Py_ssize_t, body=Py_ssize_t, bad=Py_ssize_t)
    cdef tuple _framing_after(self, data, list bodies)
    cdef bint _not_waited(self, joined, Py_ssize_t complete) except -1
    cdef Py_ssize_t _wait(self, Direction d, data, Py_ssize_t pos, Py_ssize_t offset, list bodies) except? -2
