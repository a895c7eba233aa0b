"""ICMP (RFC 792) and ICMPv6 (RFC 4443) messages, by type.

Errors quote the offending datagram: it is walked like any datagram (tunnels and nested
quotes followed, its addresses mapped) with its transport payload marked "data", never
the payload of a flow. RFC 4884 lengths separate the quote from an extension structure
(its checksum kept right), whose objects are read by class: MPLS stacks (RFC 4950),
interface information (RFC 5837: addresses mapped, names zeroed), interface identification
(RFC 8335). Also: Redirect gateways, router advertisements, Neighbor Discovery targets,
prefixes, DNS servers and redirected headers (RFC 4861, 4191, 8106), MLD (RFC 2710, 3810),
extended echo (RFC 8335). Types not listed keep type, code and checksum; the rest is zeroed,
as are the reserved and unused bytes of the others.
"""

from __future__ import annotations

from .ip import IPPROTO_ICMP, IPPROTO_ICMPV6, cut, may_cut
from .spans import (
    A_ICMP,
    CK_ICMP,
    CK_ICMPV6,
    CK_OPTIONAL,
    FORM_PREFIX,
    R_DATA,
    R_ICMP,
    R_IDENTIFIER,
    R_MAC,
    R_PADDING,
    R_TRAILER,
    R_UNKNOWN,
    FrameMap,
)
from .walk import IP_PROTOCOLS, network, u16, within

ICMP_HLEN = 8
ICMP_ECHO_TYPES = frozenset((0, 8))
ICMP_ERRORS = frozenset((3, 4, 11, 12))
ICMP_RFC4884_ERRORS = frozenset((3, 11, 12))  # a length at byte 5, in 32-bit words
ICMP_UNREACHABLE, ICMP_FRAG_NEEDED, ICMP_PARAMETER_PROBLEM = 3, 4, 12  # a next-hop MTU (RFC 1191), a pointer
ICMP_REDIRECT = 5
ICMP_ROUTER_ADVERTISEMENT = 9
ICMP_FIXED = {10: 8, 13: 20, 14: 20, 15: 8, 16: 8, 17: 12, 18: 12, 43: 8}  # type -> message length
ICMP_EXTENDED_ECHO = 42

ICMPV6_ERRORS = frozenset((1, 2, 3, 4))
ICMPV6_RFC4884_ERRORS = frozenset((1, 3))  # a length at byte 4, in 64-bit words
ICMPV6_ECHO_TYPES = frozenset((128, 129))
ICMPV6_MLD = frozenset((130, 131, 132))
ICMPV6_MLD2_REPORT = 143
MLD2_RECORD_TYPES = 6  # record types 1-6 (RFC 3810 §5.2.12)
ICMPV6_EXTENDED_ECHO = 160
ICMPV6_EXTENDED_ECHO_REPLY = 161
# Neighbor Discovery: type -> (offset of the options, offsets of target/destination addresses)
ICMPV6_ND = {133: (8, ()), 134: (16, ()), 135: (24, (8,)), 136: (24, (8,)), 137: (40, (8, 24))}
# type -> the bytes [first, last) of bytes 4-7 that are fields (the rest is reserved or unused,
# zeroed): RFC 4884 lengths, MTU, pointer, echo identifier and sequence, MLD maximum delay,
# MLDv2 record count, RA hop limit, flags and lifetime, NA flags, extended echo fields
# (RFC 4443, 4861, 3810, 8335)
ICMPV6_REST = {
    1: (4, 5), 2: (4, 8), 3: (4, 5), 4: (4, 8), 128: (4, 8), 129: (4, 8), 130: (4, 6), 131: (4, 6),
    132: (4, 6), 133: (4, 4), 134: (4, 8), 135: (4, 4), 136: (4, 5), 137: (4, 4), 143: (6, 8),
    160: (4, 8), 161: (4, 8),
}  # fmt: skip

EXTENSION_VERSION = 2  # RFC 4884 §7
EXT_MPLS, EXT_INTERFACE_INFO, EXT_INTERFACE_ID = 1, 2, 3
AFI_LENGTHS = {1: 4, 2: 16}  # IANA address family -> address length

ND_SOURCE_LLA, ND_TARGET_LLA, ND_PREFIX, ND_REDIRECTED, ND_MTU = 1, 2, 3, 4, 5
ND_NONCE, ND_ROUTE_INFO, ND_RDNSS, ND_RA_FLAGS, ND_DNSSL = 14, 24, 25, 26, 31
ND_KEPT = frozenset((ND_MTU, ND_NONCE, ND_RA_FLAGS))
ND_UNIT = 8


def icmp(m: FrameMap, offset: int, end: int, ip) -> None:
    """An ICMP message (checksum over the message, no pseudo-header)."""
    if offset + ICMP_HLEN > end and not may_cut(m, end):
        return m.fail(end)  # shorter than its fixed header: not believed
    _message(m, offset, ip, IPPROTO_ICMP)
    m.checksum(offset + 2, offset, ip.end, CK_ICMP)
    m.put(offset + 4, R_ICMP)
    if offset + ICMP_HLEN > end:
        return cut(m, end)
    data, kind = m.data, m.data[offset]
    if kind in ICMP_ECHO_TYPES:
        m.put(offset + ICMP_HLEN, R_ICMP)
        m.put(end, R_DATA)
    elif kind in ICMP_ERRORS or kind == ICMP_REDIRECT:
        if kind == ICMP_REDIRECT:
            m.address(offset + 4, 4, 4, A_ICMP)
        else:  # the pointer, the RFC 4884 length and the next-hop MTU are fields; the rest is unused
            m.put(offset + 5, R_ICMP if kind == ICMP_PARAMETER_PROBLEM else R_PADDING)
            m.put(offset + 6, R_ICMP if kind in ICMP_RFC4884_ERRORS else R_PADDING)
            m.put(
                offset + 8, R_ICMP if kind == ICMP_UNREACHABLE and data[offset + 1] == ICMP_FRAG_NEEDED else R_PADDING
            )
        m.put(offset + ICMP_HLEN, R_ICMP)
        length = data[offset + 5] * 4 if kind in ICMP_RFC4884_ERRORS else 0
        error_body(m, offset + ICMP_HLEN, end, length, 4)
    elif kind == ICMP_ROUTER_ADVERTISEMENT:
        _router_advertisement(m, offset, end)
    elif kind in ICMP_FIXED:
        m.put(offset + ICMP_FIXED[kind], R_ICMP)
        m.put(end, R_TRAILER)
    elif kind == ICMP_EXTENDED_ECHO:
        m.put(offset + ICMP_HLEN, R_ICMP)
        extensions(m, offset + ICMP_HLEN, end)
    else:
        m.put(end, R_UNKNOWN)


def icmpv6(m: FrameMap, offset: int, end: int, ip) -> None:
    """An ICMPv6 message (checksum with the IPv6 pseudo-header)."""
    if offset + ICMP_HLEN > end and not may_cut(m, end):
        return m.fail(end)  # shorter than its fixed header: not believed
    _message(m, offset, ip, IPPROTO_ICMPV6)
    m.checksum(offset + 2, offset, ip.end, CK_ICMPV6, ip.pseudo)
    m.put(offset + 4, R_ICMP)
    if offset + ICMP_HLEN > end:
        return cut(m, end)
    data, kind = m.data, m.data[offset]
    if kind not in ICMPV6_REST or (kind == ICMPV6_EXTENDED_ECHO and data[offset + 7] & 0xFE):
        return m.put(end, R_UNKNOWN)  # a type not listed, or reserved bits set
    mark = m.mark()
    first, last = ICMPV6_REST[kind]  # bytes 4-7: fields, or reserved (zeroed)
    m.put(offset + first, R_PADDING)
    m.put(offset + last, R_ICMP)
    m.put(offset + ICMP_HLEN, R_PADDING)
    if kind in ICMPV6_ERRORS:
        length = data[offset + 4] * 8 if kind in ICMPV6_RFC4884_ERRORS else 0
        error_body(m, offset + ICMP_HLEN, end, length, 6)
    elif kind in ICMPV6_ECHO_TYPES:
        m.put(end, R_DATA)
    elif kind in ICMPV6_ND:
        options, targets = ICMPV6_ND[kind]
        for at in targets:
            m.put(offset + at, R_ICMP)
            m.address(offset + at, 16, 16, A_ICMP)
        m.put(offset + options, R_ICMP)
        if not nd_options(m, offset + options, end):
            m.rewind(mark)  # a message whose options do not parse is not one: its fields go too
            m.put(end, R_UNKNOWN)
    elif kind in ICMPV6_MLD:
        _mld(m, offset, end)
    elif kind == ICMPV6_MLD2_REPORT:
        _mld2_report(m, offset, end)
    elif kind == ICMPV6_EXTENDED_ECHO:
        extensions(m, offset + ICMP_HLEN, end)
    elif kind == ICMPV6_EXTENDED_ECHO_REPLY:
        m.put(end, R_TRAILER)


def _message(m: FrameMap, offset: int, ip, protocol: int) -> None:
    if not m.quoting:
        m.transport, m.l4, m.ip = protocol, offset, ip.index
        m.payload_start = m.payload_end = 0


def error_body(m: FrameMap, start: int, end: int, length: int, version: int) -> None:
    """The quoted datagram of an error (of IP `version`, the error's own: an ICMP error quotes
    what its IP header's sender sent), and after it (RFC 4884 `length` > 0) an extension structure."""
    stop = start + length if length and start + length <= end else end
    quote(m, start, stop, version)
    if stop < end:
        extensions(m, stop, end)


def quote(m: FrameMap, start: int, stop: int, version: int = 6) -> None:
    """A datagram quoted by an error (or an NDP redirected header), walked as such."""
    if start >= stop:
        return
    m.quoting += 1
    network(m, start, 0x0800 if version == 4 else 0x86DD, stop)
    m.quoting -= 1


def extensions(m: FrameMap, pos: int, end: int) -> None:
    """An ICMP extension structure (RFC 4884 §7): header with checksum, then objects by class."""
    if pos + 4 > end or m.data[pos] >> 4 != EXTENSION_VERSION:
        return m.put(end, R_UNKNOWN)
    m.checksum(pos + 2, pos, end, CK_OPTIONAL)
    m.put(pos + 4, R_ICMP)
    data, pos = m.data, pos + 4
    while pos + 4 <= end:
        length, kind, ctype = u16(data, pos), data[pos + 2], data[pos + 3]
        if length < 4 or pos + length > end:
            break
        m.put(pos + 4, R_ICMP)
        if kind == EXT_MPLS:
            m.put(pos + length, R_ICMP)
        elif kind == EXT_INTERFACE_INFO:
            within(m, pos + length, _interface_information, pos + 4, pos + length, ctype)
        elif kind == EXT_INTERFACE_ID:
            within(m, pos + length, _interface_identification, pos + 4, pos + length, ctype)
        m.put(pos + length, R_UNKNOWN)
        pos += length
    m.put(end, R_UNKNOWN)


def _interface_information(m: FrameMap, pos: int, stop: int, ctype: int) -> None:
    """RFC 5837 §4.1: sub-objects ifIndex, IP address, name, MTU, as C-Type bits 4-7 say."""
    data = m.data
    if ctype & 0x08:  # ifIndex
        m.put(pos + 4, R_ICMP)
        pos += 4
    if ctype & 0x04:  # IP address sub-object: AFI, reserved, address
        if pos + 4 > stop:
            return
        size = AFI_LENGTHS.get(u16(data, pos))
        if size is None:
            return
        m.put(pos + 4, R_ICMP)
        m.address(pos + 4, size, size, A_ICMP)
        pos += 4 + size
    if ctype & 0x02:  # name sub-object: a length byte, then the name
        if pos >= stop:
            return
        length = data[pos]
        m.put(pos + 1, R_ICMP)
        m.put(pos + length, R_IDENTIFIER)
        pos += max(length, 1)
    if ctype & 0x01:  # MTU
        m.put(pos + 4, R_ICMP)


def _interface_identification(m: FrameMap, pos: int, stop: int, ctype: int) -> None:
    """RFC 8335 §2.1: by name (zeroed), by index (kept) or by address (mapped)."""
    data = m.data
    if ctype == 2:
        m.put(stop, R_ICMP)
    elif ctype == 3 and pos + 4 <= stop:
        size = AFI_LENGTHS.get(u16(data, pos))
        if size is not None and data[pos + 2] == size:
            m.put(pos + 4, R_ICMP)
            m.address(pos + 4, size, size, A_ICMP)
    m.put(stop, R_IDENTIFIER)


def _router_advertisement(m: FrameMap, offset: int, end: int) -> None:
    """RFC 1256: entries of (router address, preference level)."""
    data = m.data
    count, words = data[offset + 4], data[offset + 5]
    m.put(offset + ICMP_HLEN, R_ICMP)
    if words != 2:
        return m.put(end, R_UNKNOWN)
    pos = offset + ICMP_HLEN
    for _ in range(count):
        if pos + 8 > end:
            break
        m.address(pos, 4, 4, A_ICMP)
        m.put(pos + 8, R_ICMP)
        pos += 8
    m.put(end, R_TRAILER)


def _mld(m: FrameMap, offset: int, end: int) -> None:
    """MLDv1 messages and the MLDv2 query (RFC 3810 §5.1): multicast address and sources."""
    m.address(offset + ICMP_HLEN, 16, 16, A_ICMP)
    if end - offset < 28:
        return m.put(end, R_TRAILER)
    count = u16(m.data, offset + 26)
    m.put(offset + 28, R_ICMP)
    _addresses(m, offset + 28, end, count)
    m.put(end, R_TRAILER)


def _mld2_report(m: FrameMap, offset: int, end: int) -> None:
    """An MLDv2 report (RFC 3810 §5.2): records of type, aux length, sources, address; aux data zeroed."""
    data, pos = m.data, offset + ICMP_HLEN
    for _ in range(u16(data, offset + 6)):
        if pos + 20 > end or not 1 <= data[pos] <= MLD2_RECORD_TYPES:
            break
        aux, count = data[pos + 1] * 4, u16(data, pos + 2)
        m.put(pos + 4, R_ICMP)
        m.address(pos + 4, 16, 16, A_ICMP)
        pos = _addresses(m, pos + 20, end, count)
        m.put(pos + aux, R_UNKNOWN)
        pos += aux
    m.put(end, R_TRAILER)


def _addresses(m: FrameMap, pos: int, end: int, count: int) -> int:
    for _ in range(count):
        if pos + 16 > end:
            break
        m.address(pos, 16, 16, A_ICMP)
        pos += 16
    return pos


def nd_options(m: FrameMap, pos: int, end: int) -> bool:
    """Neighbor Discovery options (RFC 4861 §4.6): each keeps type and length, values by type;
    False if they do not fill ``[pos, end)`` exactly (the rest is zeroed)."""
    data = m.data
    while pos + 2 <= end:
        kind, length = data[pos], data[pos + 1] * ND_UNIT
        if not length or pos + length > end:
            break
        within(m, pos + length, _nd_option, kind, pos, length)
        pos += length
    m.fail(end)
    return pos == end or may_cut(m, end)


def _nd_option(m: FrameMap, kind: int, pos: int, length: int) -> None:
    data, stop = m.data, pos + length
    m.put(pos + 2, R_ICMP)
    if kind in (ND_SOURCE_LLA, ND_TARGET_LLA):
        if length == 8:  # an Ethernet address (RFC 2464 §6)
            m.hardware(pos + 2)
        m.put(stop, R_MAC)
    elif kind == ND_PREFIX and length == 32:
        m.put(pos + 16, R_ICMP)
        m.address(pos + 16, 16, 16, A_ICMP, FORM_PREFIX, bits=data[pos + 2])
    elif kind == ND_ROUTE_INFO and length in (8, 16, 24):
        m.put(pos + 8, R_ICMP)
        if length > 8:
            m.address(pos + 8, length - 8, 16, A_ICMP, FORM_PREFIX, bits=data[pos + 2])
    elif kind == ND_RDNSS and length >= 24 and (length - 8) % 16 == 0:
        m.put(pos + 8, R_ICMP)
        _addresses(m, pos + 8, stop, (length - 8) // 16)
    elif kind == ND_REDIRECTED:
        m.put(pos + 8, R_ICMP)
        quote(m, pos + 8, stop)
    elif kind in ND_KEPT:
        m.put(stop, R_ICMP)
    elif kind == ND_DNSSL:
        m.put(pos + 8, R_ICMP)
        m.put(stop, R_IDENTIFIER)
    m.put(stop, R_UNKNOWN)


IP_PROTOCOLS.update({IPPROTO_ICMP: icmp, IPPROTO_ICMPV6: icmpv6})
