# C declarations for http.py (Cython's augmenting .pxd): the HTTP walker's state as C members,
# its line loop with C offsets, its per-line methods and the direction's keeps as C calls.
cimport cython

from ...proto.http cimport field_colon, field_name, field_value, is_token, line_end_len, next_line
from .stream cimport Direction

# the module's integer constants as C values: no lookup, no boxing where they are used
cdef long long HTTP_MAX_LINE, HTTP_PENDING_METHODS_MAX, S_START, S_HEADERS, S_BODY, S_CHUNK_SIZE
cdef long long S_CHUNK_DATA, S_CHUNK_END, S_TRAILERS, S_CLOSE


cdef class HttpWalker:
    cdef public object flow
    cdef public int state
    cdef public object remaining
    cdef public object zeroed
    cdef public object method
    cdef public int code
    cdef public object length
    cdef public bint chunked, last_zero, keeping
    @cython.locals(n=Py_ssize_t, pos=Py_ssize_t, state=int, take=Py_ssize_t, line=bytes)
    cpdef Py_ssize_t feed(self, Direction d, data, Py_ssize_t offset) except? -1
    cpdef _reset_message(self)
    @cython.locals(a=Py_ssize_t, b=Py_ssize_t)
    cpdef _keep(self, Direction d, Py_ssize_t at, bytes line, Py_ssize_t start=*, end=*, str reason=*)
    @cython.locals(state=int)
    cpdef _line(self, Direction d, bytes line, Py_ssize_t at)
    cpdef bint _connecting(self)
    cpdef _start_line(self, Direction d, bytes line, Py_ssize_t at)
    @cython.locals(eol=Py_ssize_t)
    cpdef _keep_framing(self, Direction d, bytes line, Py_ssize_t at)
    @cython.locals(eol=Py_ssize_t, colon=Py_ssize_t, name=bytes, value=bytes, token=bint)
    cpdef bint _field(self, Direction d, bytes line, Py_ssize_t at) except -1
    cpdef _end_of_headers(self)
    cpdef bint _done(self)
