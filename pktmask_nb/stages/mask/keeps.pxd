# What keeps.pyx offers other compiled modules as C calls: the intervals read as C entries.
from cpython cimport array
from cpython.bytearray cimport PyByteArray_AS_STRING


cpdef int reason_code(str reason) except -1


cdef class Keeps:
    cdef public array.array bounds
    cdef public bytearray reasons
    cdef public bytearray data
    cpdef Py_ssize_t last_end(self)
    cpdef add(self, Py_ssize_t start, Py_ssize_t end, str reason, data)
    cpdef Py_ssize_t drop_first(self)
    cdef bint same(self, Py_ssize_t i, Py_ssize_t a, data, Py_ssize_t at, Py_ssize_t n) except -1

    cdef inline Py_ssize_t count(self) noexcept:
        return len(self.reasons)

    cdef inline long long start(self, Py_ssize_t i) noexcept:
        return self.bounds.data.as_longlongs[3 * i]

    cdef inline long long end(self, Py_ssize_t i) noexcept:
        return self.bounds.data.as_longlongs[3 * i + 1]

    cdef inline int reason(self, Py_ssize_t i) noexcept:
        return <unsigned char>PyByteArray_AS_STRING(self.reasons)[i]
