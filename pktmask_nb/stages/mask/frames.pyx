# cython: language_level=3
"""Flow keys of the mask stage, from a frame's map.

A flow key is the transport protocol, the outer addresses of a tunnel (the context: each
outer IP header's pair in canonical order) and the two (address, port) ends in canonical
(sorted) order, as one string of bytes. Untunnelled: the protocol byte, then both ends.
Tunnelled: the protocol byte with its high bit set, the context's length (two bytes) and
the context, the first end's length (one byte), then both ends; so the two kinds never meet
and equal keys mean equal parts.

A compiled kernel: `FlowKey` builds every TCP/UDP packet's key from the frame's bytes in
C, into a buffer it reuses, and hashes it; `~.flowindex.FlowIndex` finds flows by it.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcmp, memcpy

cdef enum:
    END_MAX = 18  # an address (at most 16 bytes) and a port
    TUNNELLED = 0x80  # the key's first byte: the protocol, with this bit when tunnelled


cdef extern from "Python.h":
    Py_hash_t _Py_HashBytes(const void* data, Py_ssize_t size)  # what hash(bytes) computes


cdef class FlowKey:
    """One flow key as C bytes, rebuilt in place for each packet (see the module doc).

    Parameters
    ----------
    key : bytes, optional
        A key `flow_key` made (tests, lookups by a key kept as ``bytes``).
    """

    def __init__(self, bytes key=b""):
        if len(key) > KEY_MAX:
            raise ValueError(f"a flow key of {len(key)} bytes")
        memcpy(self.data, PyBytes_AS_STRING(key), len(key))
        self.size = len(key)
        self.side = 0
        self.hash = _Py_HashBytes(self.data, self.size)

    def to_bytes(self) -> bytes:
        return PyBytes_FromStringAndSize(<char*>self.data, self.size)

    cdef int of_ends(self, int transport, const unsigned char* ctx, Py_ssize_t nctx,
                     const unsigned char* a, Py_ssize_t na, const unsigned char* b, Py_ssize_t nb) except -1:
        """The key of sender end `a` and receiver end `b` (address + port bytes) within
        context `ctx` (empty: untunnelled); `side` is the sender's canonical side (0, 1)."""
        self.side = 0 if _in_order(a, na, b, nb) else 1
        if self.side:
            a, na, b, nb = b, nb, a, na
        if 4 + nctx + na + nb > KEY_MAX or na > 255:
            raise ValueError(f"a flow key of {4 + nctx + na + nb} bytes")
        cdef unsigned char* k = self.data
        if nctx:
            k[0] = transport | TUNNELLED
            k[1], k[2] = nctx >> 8, nctx & 0xFF
            memcpy(k + 3, ctx, nctx)
            k[3 + nctx] = na
            k += 4 + nctx
        else:
            k[0] = transport
            k += 1
        memcpy(k, a, na)
        memcpy(k + na, b, nb)
        self.size = k + na + nb - self.data
        self.hash = _Py_HashBytes(self.data, self.size)
        return 0

    cdef bint of_frame(self, FrameMap m, int transport, Py_ssize_t layer, Py_ssize_t ports) except -1:
        """The key of the datagram of IP header `layer` of `m` with its ports at `ports`, in
        the context of the frame's outer IP headers; False if its addresses were cut."""
        cdef IpLayer ip = m.ips[layer]
        if ip.src < 0 or ip.dst < 0:
            return False
        cdef const FieldEntry* src = _field(m, ip.src)
        cdef const FieldEntry* dst = _field(m, ip.dst)
        if src.size > END_MAX - 2 or dst.size > END_MAX - 2:
            raise ValueError(f"an address of {max(src.size, dst.size)} bytes")
        cdef const unsigned char* p = frame_bytes(m.data)
        cdef Py_ssize_t n = len(m.data)
        cdef unsigned char a[END_MAX]
        cdef unsigned char b[END_MAX]
        cdef Py_ssize_t na = _end(p, n, src, ports, a), nb = _end(p, n, dst, ports + 2, b)
        cdef unsigned char ctx[KEY_MAX]
        cdef Py_ssize_t nctx = _context(m, p, ctx)
        self.of_ends(transport, ctx, nctx, a, na, b, nb)
        return True


def flow_key(int transport, bytes ctx, bytes a, bytes b) -> tuple:
    """``(key, side)``: the flow key of ends `a` (sender) and `b` (address + port bytes) in
    context `ctx`, and the sender's side (0, 1)."""
    cdef FlowKey k = FlowKey()
    k.of_ends(transport, <const unsigned char*>ctx, len(ctx), <const unsigned char*>a, len(a), <const unsigned char*>b, len(b))
    return k.to_bytes(), k.side


cpdef tuple key_ends(bytes key):
    """The two ends ``(address bytes, port)`` of a flow key, in canonical order."""
    cdef const unsigned char* k = <const unsigned char*>PyBytes_AS_STRING(key)
    cdef Py_ssize_t n = len(key), at = 1, na = n // 2
    if n and k[0] & TUNNELLED:
        at = 3 + ((k[1] << 8) | k[2]) + 1 if n >= 3 else n + 1
        if at > n:
            raise ValueError(f"flow key {key.hex()} is cut")
        na = k[at - 1]
    if at + na > n:
        raise ValueError(f"flow key {key.hex()} is cut")
    return _end_of(k + at, na), _end_of(k + at + na, n - at - na)


cdef tuple _end_of(const unsigned char* p, Py_ssize_t n):
    """``(address bytes, port)`` of an end: its last two bytes are the port (as far as captured)."""
    cdef Py_ssize_t address = max(0, n - 2), port = 0, i
    for i in range(address, n):
        port = (port << 8) | p[i]
    return PyBytes_FromStringAndSize(<const char*>p, address), port


cpdef long long be32(data, Py_ssize_t at) except -1:
    """The big-endian 32-bit number at `at` of a frame's bytes (which hold all four): a TCP sequence number."""
    if at < 0 or at + 4 > len(data):
        raise IndexError(f"no 4 bytes at {at} of a {len(data)}-byte frame")
    cdef const unsigned char* p = frame_bytes(data) + at
    return (<long long>p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]


cdef inline bint _in_order(const unsigned char* a, Py_ssize_t na, const unsigned char* b, Py_ssize_t nb) noexcept:
    """Whether ``a <= b`` as ``bytes`` compare: the canonical order of a key's ends and pairs."""
    cdef int order = memcmp(a, b, min(na, nb))
    return order < 0 or (order == 0 and na <= nb)


cdef inline const FieldEntry* _field(FrameMap m, Py_ssize_t index) except NULL:
    """The address field `index` of `m` (an IP layer's source or destination), which it must hold."""
    if not 0 <= index < m.field_count():
        raise IndexError(f"no address field {index} in the frame map")
    return m.field_at(index)


cdef Py_ssize_t _context(FrameMap m, const unsigned char* p, unsigned char* out) except -1:
    """Write the outer IP headers' address pairs (each in canonical order) to `out`: the
    context of the frame's innermost datagram; its length."""
    cdef Py_ssize_t n = 0, j
    cdef IpLayer ip
    cdef const FieldEntry* src
    cdef const FieldEntry* dst
    cdef list ips = m.ips
    for j in range(m.ip):
        ip = ips[j]
        if ip.quoted or ip.src < 0 or ip.dst < 0:
            continue
        src, dst = _field(m, ip.src), _field(m, ip.dst)
        if n + src.size + dst.size > KEY_MAX - 2 * END_MAX - 4:
            raise ValueError("a tunnel context too long for a flow key")
        if not _in_order(p + src.offset, src.size, p + dst.offset, dst.size):
            src, dst = dst, src
        memcpy(out + n, p + src.offset, src.size)
        memcpy(out + n + src.size, p + dst.offset, dst.size)
        n += src.size + dst.size
    return n


cdef Py_ssize_t _end(const unsigned char* p, Py_ssize_t n, const FieldEntry* address, Py_ssize_t port, unsigned char* out) noexcept:
    """Write an end (the address field's bytes, then as much of the port at `port` as was
    captured) to `out`; its length."""
    memcpy(out, p + address.offset, address.size)
    cdef Py_ssize_t size = min(2, max(0, n - port))
    memcpy(out + address.size, p + port, size)
    return address.size + size
