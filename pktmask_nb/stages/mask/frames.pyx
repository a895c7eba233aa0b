# cython: language_level=3
"""Flow keys of the mask stage, from a frame's map.

A flow key is the transport protocol, the outer addresses of a tunnel (`context`) and the
two (address, port) ends in canonical (sorted) order; untunnelled keys are one ``bytes``
(protocol byte, then both ends), tunnelled ones a tuple, so the two kinds never meet.

A compiled kernel: every TCP/UDP packet's key is built from the frame's bytes in C.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcmp, memcpy

from ...proto.ip import IPPROTO_TCP, IPPROTO_UDP

KEY_PREFIX = {proto: bytes((proto,)) for proto in (IPPROTO_TCP, IPPROTO_UDP)}

cdef enum:
    END_MAX = 18  # an address (at most 16 bytes) and a port


cpdef tuple flow_key(int transport, bytes ctx, bytes a, bytes b):
    """``(key, side)``: the flow key of ends `a` (sender) and `b` (address + port bytes), and the sender's side (0, 1)."""
    if a <= b:
        return (KEY_PREFIX[transport] + a + b if not ctx else (transport, ctx, a, b)), 0
    return (KEY_PREFIX[transport] + b + a if not ctx else (transport, ctx, b, a)), 1


def key_ends(key) -> tuple:
    """The two ends ``(address bytes, port)`` of a flow key, in canonical order."""
    if type(key) is tuple:
        a, b = key[2], key[3]
    else:
        half = len(key) // 2
        a, b = key[1 : 1 + half], key[1 + half :]
    return (a[:-2], int.from_bytes(a[-2:], "big")), (b[:-2], int.from_bytes(b[-2:], "big"))


cpdef long long be32(data, Py_ssize_t at) except -1:
    """The big-endian 32-bit number at `at` of a frame's bytes (which hold all four): a TCP sequence number."""
    if at < 0 or at + 4 > len(data):
        raise IndexError(f"no 4 bytes at {at} of a {len(data)}-byte frame")
    cdef const unsigned char* p = frame_bytes(data) + at
    return (<long long>p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]


cdef inline const FieldEntry* _field(FrameMap m, Py_ssize_t index) except NULL:
    """The address field `index` of `m` (an IP layer's source or destination), which it must hold."""
    if not 0 <= index < m.field_count():
        raise IndexError(f"no address field {index} in the frame map")
    return m.field_at(index)


cpdef tuple addresses(FrameMap m, IpLayer ip):
    """Source and destination address bytes of the IP header `ip`, None if the capture cut them."""
    if ip.src < 0 or ip.dst < 0:
        return None
    cdef const FieldEntry* src = _field(m, ip.src)
    cdef const FieldEntry* dst = _field(m, ip.dst)
    cdef const char* p = <const char*>frame_bytes(m.data)
    return PyBytes_FromStringAndSize(p + src.offset, src.size), PyBytes_FromStringAndSize(p + dst.offset, dst.size)


cpdef bytes context(FrameMap m):
    """The outer IP addresses of a tunnelled packet, each pair in canonical order (part of flow keys)."""
    parts = []
    cdef IpLayer ip
    for ip in m.ips[: m.ip]:
        if not ip.quoted:
            pair = addresses(m, ip)
            if pair is not None:
                a, b = pair
                parts.append(a + b if a <= b else b + a)
    return b"".join(parts)


cdef Py_ssize_t _end(const unsigned char* p, Py_ssize_t n, const FieldEntry* address, Py_ssize_t port, unsigned char* out) noexcept:
    """Write an end (the address field's bytes, then as much of the port at `port` as was
    captured) to `out`; its length."""
    memcpy(out, p + address.offset, address.size)
    cdef Py_ssize_t size = min(2, max(0, n - port))
    memcpy(out + address.size, p + port, size)
    return address.size + size


cpdef tuple transport_key(FrameMap m, int transport):
    """``(key, side)`` of the frame's TCP/UDP datagram (see `flow_key`), None if its addresses were cut."""
    cdef IpLayer ip = m.ips[m.ip]
    if ip.src < 0 or ip.dst < 0:
        return None
    cdef const FieldEntry* src = _field(m, ip.src)
    cdef const FieldEntry* dst = _field(m, ip.dst)
    if src.size > END_MAX - 2 or dst.size > END_MAX - 2:
        raise ValueError(f"an address of {max(src.size, dst.size)} bytes")
    data = m.data
    cdef const unsigned char* p = frame_bytes(data)
    cdef Py_ssize_t n = len(data), t = m.l4
    cdef unsigned char a[END_MAX]
    cdef unsigned char b[END_MAX]
    cdef Py_ssize_t na = _end(p, n, src, t, a), nb = _end(p, n, dst, t + 2, b)
    cdef int order = memcmp(a, b, min(na, nb))
    cdef bint sender_first = order < 0 or (order == 0 and na <= nb)  # bytes order: a <= b
    if m.ip:  # tunnelled: the outer addresses are part of the key
        return flow_key(transport, context(m), PyBytes_FromStringAndSize(<char*>a, na), PyBytes_FromStringAndSize(<char*>b, nb))
    key = PyBytes_FromStringAndSize(NULL, 1 + na + nb)
    cdef unsigned char* k = <unsigned char*>PyBytes_AS_STRING(key)
    k[0] = transport
    if sender_first:
        memcpy(k + 1, a, na)
        memcpy(k + 1 + na, b, nb)
    else:
        memcpy(k + 1, b, nb)
        memcpy(k + 1 + nb, a, na)
    return key, 0 if sender_first else 1
