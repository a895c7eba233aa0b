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
        code = KEEP_REASON_CODES[reason] = len(KEEP_REASONS)
        KEEP_REASONS.append(reason)
    return code


cdef class Keeps:
    """Kept stream intervals in order, why each is kept, and the bytes it was decided on, in
    three flat buffers (a live flow remembers up to `~.stream.KEEP_MAX_INTERVALS` of them).

    ``bounds`` holds ``start, end, at`` per interval (`at`: where its bytes begin in ``data``).
    """

    def __init__(self):
        self.bounds = array.array("q")
        self.reasons = bytearray()
        self.data = bytearray()

    def __len__(self) -> int:
        return len(self.reasons)

    cpdef Py_ssize_t last_end(self):
        return self.bounds.data.as_longlongs[len(self.bounds) - 2] if self.reasons else -1

    cpdef add(self, Py_ssize_t start, Py_ssize_t end, str reason, data):
        """Keep ``[start, end)`` (its bytes `data`), joined to the last interval if they touch and agree."""
        cdef int code = reason_code(reason)
        cdef array.array bounds = self.bounds
        cdef Py_ssize_t n = len(bounds)
        if self.reasons and bounds.data.as_longlongs[n - 2] == start and self.reasons[-1] == code:
            bounds.data.as_longlongs[n - 2] = end
        else:
            array.resize_smart(bounds, n + 3)
            bounds.data.as_longlongs[n] = start
            bounds.data.as_longlongs[n + 1] = end
            bounds.data.as_longlongs[n + 2] = len(self.data)
            self.reasons.append(code)
        self.data += data

    cpdef Py_ssize_t drop_first(self):
        """Forget the oldest interval; where it ended."""
        bounds = self.bounds
        end, size = bounds[1], bounds[1] - bounds[0]
        del bounds[:3], self.reasons[0], self.data[:size]
        for i in range(2, len(bounds), 3):
            bounds[i] -= size
        return end

    cdef bint same(self, Py_ssize_t i, Py_ssize_t a, data, Py_ssize_t at, Py_ssize_t n) except -1:
        """Whether the `n` bytes of `data` (a frame's) at `at` equal the kept bytes of interval
        `i` from stream offset `a` on (which it holds)."""
        cdef Py_ssize_t first = self.start(i), was = self.bounds.data.as_longlongs[3 * i + 2] + a - first
        if at < 0 or n < 0 or at + n > len(data) or a < first or a + n > self.end(i):
            raise IndexError(f"Keeps.same: [{at}, {at + n}) of {len(data)} bytes against interval {i} at {a}")
        return memcmp(frame_bytes(data) + at, PyByteArray_AS_STRING(self.data) + was, n) == 0
