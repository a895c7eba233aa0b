# cython: language_level=3
"""Internet checksums (RFC 1071) updated incrementally (RFC 1624) from the bytes that change.

A compiled kernel: every frame whose bytes change goes through `patch` (anonymize's address
rewrites, mask's zeroing), so its sums run as C loops over the frame's bytes.
"""

from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_FromStringAndSize, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memcpy, memset

from array import array

from .spans cimport ChecksumEntry, FrameMap, frame_bytes
from .spans import CK_OPTIONAL, CK_UDP

cdef enum:
    ONES = 0xFFFF  # 2**16 ≡ 1 (mod 0xFFFF): sums of 16-bit words are taken mod 0xFFFF
    STACK_CHECKSUMS = 32  # checksums of a frame kept on the C stack (more: on the heap)
    LANES_MAX = 256  # 8-byte words summed per lane before folding: 256 * 255 fits a 16-bit lane

# 0 means "no checksum" and stays 0 for these (RFC 768, RFC 4884 §7)
cdef int _ck_udp = CK_UDP
cdef int _ck_optional = CK_OPTIONAL

cdef unsigned long long EVEN_BYTES = 0x00FF00FF00FF00FFULL
cdef unsigned short _one = 1
cdef bint LITTLE_ENDIAN = (<unsigned char*>&_one)[0] == 1  # a loaded word's first byte is its lowest


cdef inline unsigned long long _fold(unsigned long long lanes) noexcept nogil:
    """The sum of a word's four 16-bit lanes."""
    return (lanes & 0xFFFF) + ((lanes >> 16) & 0xFFFF) + ((lanes >> 32) & 0xFFFF) + (lanes >> 48)


cdef inline long _sum(const unsigned char* p, Py_ssize_t n, int parity) noexcept nogil:
    """Word sum mod 0xFFFF of `n` bytes: a byte at an even distance from a word start (counting
    `parity`) is a high byte. Eight bytes at a time: their high and low bytes go to separate
    16-bit lanes of two accumulators, folded every LANES_MAX words."""
    cdef unsigned long long high = 0, low = 0, first, second, word
    cdef Py_ssize_t i = 0, stop
    if parity and n > 0:
        low = p[0]
        i = 1
    while i + 8 <= n:
        stop = min(n, i + 8 * LANES_MAX)
        first = second = 0
        while i + 8 <= stop:
            memcpy(&word, p + i, 8)
            first += word & EVEN_BYTES  # the bytes at i, i + 2, ... on a little-endian machine
            second += (word >> 8) & EVEN_BYTES
            i += 8
        if LITTLE_ENDIAN:
            high += _fold(first)
            low += _fold(second)
        else:
            high += _fold(second)
            low += _fold(first)
    while i + 1 < n:
        high += p[i]
        low += p[i + 1]
        i += 2
    if i < n:
        high += p[i]
    return <long>(((high % ONES) << 8) + low % ONES) % ONES


cdef inline long _mod(long long value) noexcept nogil:
    """`value` mod 0xFFFF in [0, 0xFFFF) (C's % keeps the sign)."""
    value %= ONES
    return <long>(value + ONES if value < 0 else value)


cpdef long word_sum(const unsigned char[:] data, Py_ssize_t start, Py_ssize_t end, int parity=0) except -1:
    """One's-complement sum (mod 0xFFFF) of ``data[start:end]`` as 16-bit big-endian words.

    Parameters
    ----------
    parity : int
        1 when `start` falls on the second byte of a word of the checksummed region
        (its distance from the region start is odd).
    """
    if not 0 <= start <= end <= data.shape[0]:
        raise IndexError(f"word_sum: [{start}, {end}) is not within {data.shape[0]} bytes")
    if start == end:
        return 0
    return _sum(&data[start], end - start, parity)


cpdef int adjust(long checksum, long long delta) noexcept:
    """New checksum after the covered words' sum changed by `delta` (RFC 1624 eqn. 3).

    ``delta = word_sum(new) - word_sum(old)``, any integer.
    """
    cdef long x = (~checksum & 0xFFFF) + _mod(delta)
    x = (x & 0xFFFF) + (x >> 16)
    return ~((x & 0xFFFF) + (x >> 16)) & 0xFFFF


def internet_checksum(data, Py_ssize_t start=0, end=None, long long initial=0) -> int:
    """The RFC 1071 checksum of ``data[start:end]`` with `initial` (e.g. a pseudo-header sum) added."""
    stop = len(data) if end is None else end
    cdef long total = _mod(word_sum(data, start, stop) + initial)
    return ~total & 0xFFFF if total else 0xFFFF


def patch(bytearray buf, FrameMap m, list changes, dict pseudo=None) -> None:
    """Write byte changes into `buf` and update every checksum they affect (RFC 1624).

    Parameters
    ----------
    buf : bytearray
        The frame, changed in place.
    m : FrameMap
        Its map: the checksums (`~pktmask_nb.proto.spans.FrameMap.checksums`, outermost
        first) and the address fields their pseudo-headers hold.
    changes : list of (offset, new_bytes)
        Bytes to write at `offset` (within `buf`).
    pseudo : dict, optional
        Word-sum change (mod 0xFFFF) of each address field (by index) whose value changed:
        checksums whose pseudo-header holds that field follow it.

    A checksum is updated when a change lies inside its covered range or in an address of
    its pseudo-header, and again when an inner checksum field it covers changes. A correct
    checksum stays correct, a wrong one stays wrong by the same amount, and a UDP checksum
    (or an RFC 4884 one) of 0 stays 0. Every checksum field lies in `buf` (the frame map
    lists no checksum of bytes the frame lacks).
    """
    cdef Py_ssize_t count = m.field_count()
    cdef long long[::1] moved = None
    if pseudo:
        moved = array("q", bytes(8 * count))
        for field, delta in pseudo.items():
            if 0 <= field < count:
                moved[field] = delta
    rewrite(buf, m, changes, &moved[0] if moved is not None and count else NULL)


cpdef bytearray frame_copy(data):
    """A frame's bytes (``bytes`` or ``bytearray``) as a new ``bytearray`` to change: copied in C,
    where ``bytearray(data)`` goes through the buffer protocol."""
    return PyByteArray_FromStringAndSize(<const char*>frame_bytes(data), len(data))


cpdef zero(bytearray buf, FrameMap m, list ranges):
    """Zero the ``(offset, length)`` ranges of `buf` (within it; a length of 0 or less: none)
    and update every checksum of its map `m` they affect, as `patch` does."""
    _write(buf, m, ranges, NULL, True)


cdef int rewrite(bytearray buf, FrameMap m, list changes, const long long* moved) except -1:
    """`patch` with the address fields' word-sum changes in `moved` (one per field of `m`, or NULL)."""
    return _write(buf, m, changes, moved, False)


cdef inline bint _nonzero(const unsigned char* p, Py_ssize_t start, Py_ssize_t end) noexcept:
    cdef Py_ssize_t i
    for i in range(start, end):
        if p[i]:
            return True
    return False


cpdef bint nonzero(data, Py_ssize_t start, Py_ssize_t end) except -1:
    """Whether a byte of ``data[start:end]`` (``bytes`` or ``bytearray``, within it) is not
    zero: whether zeroing it changes anything."""
    if start < 0 or end > len(data):
        raise IndexError(f"nonzero: range [{start}, {end}) is not within {len(data)} bytes")
    return _nonzero(frame_bytes(data), start, end)


cpdef bint any_nonzero(data, list ranges) except -1:
    """`nonzero` of any of the ``(offset, length)`` ranges: whether `zero` would change anything."""
    cdef const unsigned char* p = frame_bytes(data)
    cdef Py_ssize_t size = len(data), offset, n
    for offset, n in ranges:
        if offset < 0 or offset + n > size:
            raise IndexError(f"any_nonzero: range [{offset}, {offset + n}) is not within {size} bytes")
        if _nonzero(p, offset, offset + n):
            return True
    return False


cdef int _write(bytearray buf, FrameMap m, list changes, const long long* moved, bint zeros) except -1:
    """`patch` (``(offset, new_bytes)`` changes) or, with `zeros`, `zero` (``(offset, length)``)."""
    cdef Py_ssize_t count = m.checksum_count(), size = PyByteArray_GET_SIZE(buf), fields = m.field_count()
    cdef long on_stack[STACK_CHECKSUMS]
    cdef long[::1] heap
    cdef long* deltas = on_stack
    if count > STACK_CHECKSUMS:
        heap = memoryview(bytearray(count * sizeof(long))).cast("l")
        deltas = &heap[0]
    cdef unsigned char* p = <unsigned char*>PyByteArray_AS_STRING(buf)
    cdef Py_ssize_t j, k, offset, stop, position, n, field
    cdef bytes new
    cdef long delta, old, value
    cdef const ChecksumEntry* c
    for j in range(count):
        deltas[j] = 0
    for offset, item in changes:
        if zeros:
            n = item
            if n <= 0:
                continue
        else:
            new = item
            n = PyBytes_GET_SIZE(new)
        stop = offset + n
        if offset < 0 or stop > size:
            raise IndexError(f"patch: change [{offset}, {stop}) is not within {size} bytes")
        if zeros:
            delta = _mod(-<long long>_sum(p + offset, n, 0))
            memset(p + offset, 0, n)
        else:
            delta = _mod(<long long>_sum(<const unsigned char*>PyBytes_AS_STRING(new), n, 0) - _sum(p + offset, n, 0))
            memcpy(p + offset, PyBytes_AS_STRING(new), n)
        if delta:
            _spread(m, deltas, count, offset, stop, delta)
    if moved != NULL:
        for j in range(count):
            c = m.checksum_at(j)
            for k in range(c.npseudo):
                field = c.pseudo[k]
                if 0 <= field < fields:
                    deltas[j] = _mod(deltas[j] + moved[field])
    for j in range(count - 1, -1, -1):
        if not deltas[j]:
            continue
        c = m.checksum_at(j)
        position = c.position
        if position < 0 or position + 2 > size:
            raise IndexError(f"patch: checksum field at {position} is not within {size} bytes")
        old = (p[position] << 8) | p[position + 1]
        optional = c.kind == _ck_udp or c.kind == _ck_optional
        if optional and old == 0:
            continue
        value = adjust(old, deltas[j])
        if optional and value == 0:
            value = 0xFFFF
        p[position] = value >> 8
        p[position + 1] = value & 0xFF
        _spread(m, deltas, j, position, position + 2, _mod(value - old))
    return 0


cdef inline void _spread(FrameMap m, long* deltas, Py_ssize_t count, Py_ssize_t start, Py_ssize_t stop, long delta) noexcept:
    """Add a change of `delta` (word sum, aligned at `start`) to the first `count` checksums covering it."""
    cdef Py_ssize_t j, first
    cdef const ChecksumEntry* c
    for j in range(count):
        c = m.checksum_at(j)
        first = c.start
        if first <= start and stop <= c.end:
            # a change at an odd distance from the region start sums byte-swapped (RFC 1071 §2(B))
            deltas[j] = (deltas[j] + (delta * 256 % ONES if (start - first) & 1 else delta)) % ONES
