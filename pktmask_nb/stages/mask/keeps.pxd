# What keeps.pyx offers other compiled modules as C calls: the intervals read as C entries.
from cpython cimport array


cpdef int reason_code(str reason) except -1


cdef class Remembered:
    cdef public Py_ssize_t used


cdef enum:
    KEEP_FIELDS = 3  # entries of an interval in `Keeps.bounds`: start, end, at << 8 | reason


cdef class Keeps:
    cdef public array.array bounds
    cdef public bytearray data
    cdef public Remembered remembered
    cpdef Py_ssize_t last_end(self)
    cpdef add(self, Py_ssize_t start, Py_ssize_t end, str reason, data)
    cpdef Py_ssize_t drop_until(self, Py_ssize_t offset)
    cdef bint same(self, Py_ssize_t i, Py_ssize_t a, data, Py_ssize_t at, Py_ssize_t n) except -1

    cdef inline Py_ssize_t count(self) noexcept:
        return len(self.bounds) // KEEP_FIELDS

    cdef inline long long start(self, Py_ssize_t i) noexcept:
        return self.bounds.data.as_longlongs[KEEP_FIELDS * i]

    cdef inline long long end(self, Py_ssize_t i) noexcept:
        return self.bounds.data.as_longlongs[KEEP_FIELDS * i + 1]

    cdef inline Py_ssize_t at(self, Py_ssize_t i) noexcept:
        return <Py_ssize_t>(self.bounds.data.as_longlongs[KEEP_FIELDS * i + 2] >> 8)

    cdef inline int reason(self, Py_ssize_t i) noexcept:
        return <int>(self.bounds.data.as_longlongs[KEEP_FIELDS * i + 2] & 0xFF)
