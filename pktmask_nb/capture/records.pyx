# cython: language_level=3
"""Classic pcap records as `Packet`s, parsed in C: no Python-level step per record."""

from cpython.bytearray cimport PyByteArray_AS_STRING
from cpython.bytes cimport PyBytes_FromStringAndSize

from ..record cimport Packet

RECORD_LIMIT, RECORD_NEEDS_HEADER, RECORD_NEEDS_BODY, RECORD_BAD_CAPLEN = range(4)  # why `pcap_records` stopped

cdef enum:
    RECORD_HEADER_LEN = 16

cdef bytes NO_TAIL = b""


cdef inline unsigned long long _u32(const unsigned char* p, bint big_endian) noexcept:
    if big_endian:
        return (<unsigned long long>p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]
    return (<unsigned long long>p[3] << 24) | (p[2] << 16) | (p[1] << 8) | p[0]


def pcap_records(
    bytearray buf, Py_ssize_t pos, Py_ssize_t end, list out, Py_ssize_t index, Py_ssize_t stop_index,
    Py_ssize_t taken, Py_ssize_t max_bytes, bint big_endian, long long ns_per_unit, int linktype, Py_ssize_t max_caplen,
) -> tuple:
    """Append the whole records of ``buf[pos:end]`` to `out` as `Packet`s (numbered after `index`)
    while `index` < `stop_index` and `taken` (captured bytes) < `max_bytes`.

    Returns ``(pos, index, taken, why, value)``: `why` is RECORD_LIMIT when a limit stopped it,
    RECORD_NEEDS_HEADER or RECORD_NEEDS_BODY when the record at `pos` needs `value` bytes from
    `pos` that `buf` does not hold before `end`, RECORD_BAD_CAPLEN when its caplen (`value`) exceeds `max_caplen`.
    """
    if not 0 <= pos <= end <= len(buf):
        raise IndexError(f"pcap_records: [{pos}, {end}) is not within the {len(buf)}-byte buffer")
    cdef const unsigned char* p = <const unsigned char*>PyByteArray_AS_STRING(buf)
    cdef Py_ssize_t stop
    cdef unsigned long long sec, frac, caplen, wirelen
    cdef Packet packet
    while index < stop_index and taken < max_bytes:
        if end - pos < RECORD_HEADER_LEN:
            return pos, index, taken, RECORD_NEEDS_HEADER, RECORD_HEADER_LEN
        sec, frac = _u32(p + pos, big_endian), _u32(p + pos + 4, big_endian)
        caplen, wirelen = _u32(p + pos + 8, big_endian), _u32(p + pos + 12, big_endian)
        if caplen > <unsigned long long>max_caplen:
            return pos, index, taken, RECORD_BAD_CAPLEN, caplen
        stop = pos + RECORD_HEADER_LEN + <Py_ssize_t>caplen
        if stop > end:
            return pos, index, taken, RECORD_NEEDS_BODY, RECORD_HEADER_LEN + caplen
        index += 1
        taken += caplen
        packet = Packet.__new__(Packet)
        packet.index = index
        packet.ts = <long long>sec * 1_000_000_000 + <long long>frac * ns_per_unit
        packet.data = PyBytes_FromStringAndSize(<const char*>p + pos + RECORD_HEADER_LEN, caplen)
        packet.wirelen = wirelen
        packet.linktype = linktype
        packet.head = PyBytes_FromStringAndSize(<const char*>p + pos, RECORD_HEADER_LEN)
        packet.tail = NO_TAIL
        packet.frame = None
        out.append(packet)
        pos = stop
    return pos, index, taken, RECORD_LIMIT, 0
