# C declarations for tls.py (Cython's augmenting .pxd): the record walk with C offsets.
cimport cython


cdef class TlsWalker:
    cdef public Py_ssize_t record_end
    cdef public object keep_body
    cdef public int ssl2
    cdef public list counts
    cdef public bint names, encrypted, carry_named
    cdef public Py_ssize_t carry
    @cython.locals(
        n=Py_ssize_t, end=Py_ssize_t, record_end=Py_ssize_t, pos=Py_ssize_t, undecided=Py_ssize_t,
        stop=Py_ssize_t, content_type=int, length=Py_ssize_t, header=Py_ssize_t,
    )
    cpdef Py_ssize_t feed(self, d, data, Py_ssize_t offset) except? -1
    @cython.locals(n=Py_ssize_t, at=Py_ssize_t, length=Py_ssize_t, complete=Py_ssize_t, carry=Py_ssize_t, size=Py_ssize_t)
    cpdef Py_ssize_t _named(self, d, data, Py_ssize_t pos, Py_ssize_t offset) except? -2
