# cython: language_level=3
"""The kept intervals of a TCP direction: which stream bytes its walker kept, why, and the bytes
they were decided on, which a later copy (a retransmission) must equal to be kept (SPEC §6).

A compiled kernel: walkers add intervals and every segment is compared with them, in C over
three flat buffers.
"""

from cpython cimport array
from cpython.bytearray cimport PyByteArray_AS_STRING
from libc.string cimport memcmp

from ...proto.spans cimport frame_bytes

import array

KEEP_REASONS: list = []  # reason names by the small number `Keeps` stores
KEEP_REASON_CODES: dict = {}


cpdef int reason_code(str reason) except -1:
    """The small number `Keeps` stores for `reason` (a ledger reason), given on first use."""
    code = KEEP_REASON_CODES.get(reason)
    if code is None:
        if len(KEEP_REASONS) > 0xFF:
            raise ValueError("more than 256 keep reasons")  # a code is stored in 8 bits
        code = KEEP_REASON_CODES[reason] = len(KEEP_REASONS)
        KEEP_REASONS.append(reason)
    return code


cdef class Remembered:
    """The bytes the `Keeps` of one stage remember (`used`): the stage bounds them."""

    def __init__(self):
        self.used = 0


cdef class Keeps:
    """Kept stream intervals in order, why each is kept, and the bytes it was decided on, in
    two flat buffers (a live flow remembers up to `~.stream.KEEP_MAX_INTERVALS` of them).

    ``bounds`` holds ``start, end, at << 8 | reason`` per interval (`at`: where its bytes
    begin in ``data``; `reason`: its `reason_code`). The bytes are counted in `remembered`,
    shared by the stage's directions.
    """

    def __init__(self, Remembered remembered=None):
        self.bounds = array.array("q")
        self.data = bytearray()
        self.remembered = remembered if remembered is not None else Remembered()

    def __dealloc__(self):
        if self.remembered is not None and self.data is not None:
            self.remembered.used -= len(self.data)

    def __len__(self) -> int:
        return self.count()

    cpdef Py_ssize_t last_end(self):
        return self.end(self.count() - 1) if self.count() else -1

    cpdef add(self, Py_ssize_t start, Py_ssize_t end, str reason, data):
        """Keep ``[start, end)`` (its bytes `data`), joined to the last interval if they touch and agree."""
        cdef int code = reason_code(reason)
        cdef array.array bounds = self.bounds
        cdef Py_ssize_t n = len(bounds)
        if n and bounds.data.as_longlongs[n - 2] == start and bounds.data.as_longlongs[n - 1] & 0xFF == code:
            bounds.data.as_longlongs[n - 2] = end
        else:
            array.resize_smart(bounds, n + KEEP_FIELDS)
            bounds.data.as_longlongs[n] = start
            bounds.data.as_longlongs[n + 1] = end
            bounds.data.as_longlongs[n + 2] = (<long long>len(self.data) << 8) | code
        self.data += data
        self.remembered.used += len(data)

    cpdef Py_ssize_t drop_until(self, Py_ssize_t offset):
        """Forget the intervals that end at or before `offset`; where the last of them ended, -1
        if none did. Forgetting all of them gives their buffers' memory back."""
        cdef Py_ssize_t n = 0, count = self.count(), size, i
        cdef long long last
        while n < count and self.end(n) <= offset:
            n += 1
        if n == 0:
            return -1
        last = self.end(n - 1)
        if n == count:
            self.remembered.used -= len(self.data)
            self.bounds, self.data = array.array("q"), bytearray()
            return last
        size = self.at(n)
        self.remembered.used -= size
        del self.bounds[: KEEP_FIELDS * n], self.data[:size]
        for i in range(2, len(self.bounds), KEEP_FIELDS):
            self.bounds.data.as_longlongs[i] -= <long long>size << 8
        return last

    cdef bint same(self, Py_ssize_t i, Py_ssize_t a, data, Py_ssize_t at, Py_ssize_t n) except -1:
        """Whether the `n` bytes of `data` (a frame's) at `at` equal the kept bytes of interval
        `i` from stream offset `a` on (which it holds)."""
        cdef Py_ssize_t first = self.start(i), was = self.at(i) + a - first
        if at < 0 or n < 0 or at + n > len(data) or a < first or a + n > self.end(i):
            raise IndexError(f"Keeps.same: [{at}, {at + n}) of {len(data)} bytes against interval {i} at {a}")
        return memcmp(frame_bytes(data) + at, PyByteArray_AS_STRING(self.data) + was, n) == 0
