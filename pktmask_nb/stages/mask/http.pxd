# C declarations for http.py (Cython's augmenting .pxd): the HTTP walker's state as C members,
# its line loop with C offsets.
cimport cython


cdef class HttpWalker:
    cdef public object flow
    cdef public int state
    cdef public object remaining
    cdef public object zeroed
    cdef public object method
    cdef public int code
    cdef public object length
    cdef public bint chunked, last_zero, keeping
    @cython.locals(n=Py_ssize_t, pos=Py_ssize_t, state=int, nl=Py_ssize_t, take=Py_ssize_t)
    cpdef Py_ssize_t feed(self, d, data, Py_ssize_t offset) except? -1
