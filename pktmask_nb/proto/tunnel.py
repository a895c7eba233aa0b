"""Tunnels (SPEC §3): GRE (RFC 2784, 2890, 1701 routing; PPTP's version 1, RFC 2637), ERSPAN
I/II/III, VXLAN (RFC 7348, also on udp/8472 and with the I flag clear), VXLAN-GPE, Geneve
(RFC 8926), GTP-U (3GPP TS 29.281), Teredo (RFC 4380, with authentication and origin
indication), L2TPv2 (RFC 2661), GRE-in-UDP and MPLS-in-UDP (RFC 8086, 7510).

Tunnel headers keep their fields; option data the walk does not know (Geneve options,
unknown GTP-U extension headers, L2TP AVP values but the message type) is zeroed. A UDP
handler returns False when the bits its protocol fixes (versions, reserved bits, message
types) say the payload is not that protocol (a port is only a hint), so the datagram stays
plain UDP payload; a header whose fixed bits hold but whose lengths lie, or that does not
carry what it says, is zeroed whole, header included.
"""

from __future__ import annotations

from .ip import cut_short, ip_ethertype, may_cut, plausible_ipv4, plausible_ipv6
from .link import plausible_ethernet
from .spans import (
    A_TUNNEL,
    CK_GRE,
    FORM_OBSCURED,
    FRAG_FIRST,
    R_IDENTIFIER,
    R_OVERRUN,
    R_PADDING,
    R_TUNNEL,
    R_UNKNOWN,
    FrameMap,
)
from .walk import IP_PROTOCOLS, UDP_PORTS, UDP_SOURCE_PORTS, network, u16

IPPROTO_GRE = 47
ETH_P_IP, ETH_P_IPV6, ETH_P_TEB, ETH_P_MPLS_UC = 0x0800, 0x86DD, 0x6558, 0x8847
ETH_P_ERSPAN, ETH_P_ERSPAN3, ETH_P_PPP = 0x88BE, 0x22EB, 0x880B

GRE_CHECKSUM, GRE_ROUTING, GRE_KEY, GRE_SEQUENCE, GRE_ACK = 0x8000, 0x4000, 0x2000, 0x1000, 0x0080
GRE_VERSION = 0x0007
GRE_RESERVED = 0x0078  # flags no version defines
# PPTP's GRE (version 1) has no checksum, routing, strict source route or recursion
GRE_PPTP_ZERO = GRE_CHECKSUM | GRE_ROUTING | 0x0800 | 0x0700
GRE_SRE_AF_IP = 0x0800
ERSPAN2_HLEN = 8
ERSPAN3_HLEN = 12
ERSPAN3_SUBHEADER = 8

UDP_PORT_VXLAN, UDP_PORT_VXLAN_LINUX, UDP_PORT_VXLAN_GPE = 4789, 8472, 4790
UDP_PORT_GENEVE = 6081
UDP_PORT_GTPU = 2152
UDP_PORT_TEREDO = 3544
UDP_PORT_L2TP = 1701
UDP_PORT_GRE = 4754
UDP_PORT_MPLS = 6635
VXLAN_HLEN = 8
GPE_PROTOCOLS = {1: ETH_P_IP, 2: ETH_P_IPV6, 3: ETH_P_TEB, 5: ETH_P_MPLS_UC}
GENEVE_HLEN = 8
GENEVE_OPTION_HLEN = 4
GTPU_HLEN = 8
GTPU_T_PDU = 0xFF
# echo request/response, error indication, supported extension headers, tunnel status, end marker, T-PDU (TS 29.281 §6.1)
GTPU_MESSAGES = frozenset((1, 2, 26, 31, 253, 254, GTPU_T_PDU))
GTPU_KNOWN_EXTENSIONS = frozenset((0x20, 0x40, 0x81, 0x82, 0x85, 0xC0))  # content kept
TEREDO_AUTH, TEREDO_ORIGIN = 0x0001, 0x0000
TEREDO_ORIGIN_LEN = 8
L2TP_TYPE, L2TP_LENGTH, L2TP_SEQUENCE, L2TP_OFFSET = 0x8000, 0x4000, 0x0800, 0x0200
L2TP_VERSION_2 = 2
L2TP_RESERVED = 0x34F0  # the x bits of RFC 2661 §3.1
L2TP_PRIORITY = 0x0100
L2TP_CONTROL_FLAGS = L2TP_LENGTH | L2TP_SEQUENCE | L2TP_OFFSET | L2TP_PRIORITY
L2TP_AVP_HLEN = 6
L2TP_MESSAGE_TYPE = 0


def gre(m: FrameMap, offset: int, end: int, ip) -> None:
    """GRE: optional checksum, offset, key, sequence (and PPTP's acknowledgment), source
    route entries (IPv4 addresses mapped), then the payload by protocol type."""
    data = m.data
    if offset + 4 > end:
        return cut_short(m, end, R_TUNNEL)
    flags, protocol = u16(data, offset), u16(data, offset + 2)
    version = flags & GRE_VERSION
    if version > 1 or flags & GRE_RESERVED or (flags & GRE_PPTP_ZERO if version else flags & GRE_ACK):
        return m.fail(end, R_UNKNOWN)  # bits RFC 2784/1701 (version 0) or RFC 2637 (1) leave clear: not GRE
    pos = offset + 4
    mark = m.mark()
    if flags & (GRE_CHECKSUM | GRE_ROUTING):
        if flags & GRE_CHECKSUM:
            m.checksum(pos, offset, end if ip is None else ip.end, CK_GRE)
        pos += 4
    pos += 4 * bool(flags & GRE_KEY) + 4 * bool(flags & GRE_SEQUENCE) + 4 * bool(version and flags & GRE_ACK)
    if pos > end and not may_cut(m, end):
        m.rewind(mark)
        return m.fail(end, R_OVERRUN)
    m.put(pos, R_TUNNEL)
    if flags & GRE_ROUTING:
        pos = _source_routes(m, pos, end)
    if pos < 0 or not plausible_payload(m, pos, protocol, end):
        m.rewind(mark)  # flags that place the payload elsewhere are not believed
        return m.fail(end)
    if protocol == ETH_P_ERSPAN:  # type II has a sequence number and an 8-byte header; type I neither
        if flags & GRE_SEQUENCE:
            m.put(pos + ERSPAN2_HLEN, R_TUNNEL)
            pos += ERSPAN2_HLEN
        protocol = ETH_P_TEB
    elif protocol == ETH_P_ERSPAN3:
        if pos + ERSPAN3_HLEN > end:
            return m.fail(end, R_OVERRUN)
        size = ERSPAN3_HLEN + (ERSPAN3_SUBHEADER if data[pos + 11] & 0x01 else 0)
        m.put(pos + size, R_TUNNEL)
        pos += size
        protocol = ETH_P_TEB
    elif protocol == ETH_P_PPP:
        from .ppp import ppp

        return ppp(m, pos, end, address_control=True)
    if pos > end:
        return m.fail(end, R_OVERRUN)
    network(m, pos, protocol, end)


def plausible_payload(m: FrameMap, pos: int, protocol: int, end: int) -> bool:
    """Whether what a tunnel header says follows at `pos` looks like it: an IPv4 or IPv6 header
    that fits, an Ethernet frame of a known EtherType, a PPP frame, an MPLS label stack."""
    if pos >= end:
        return end >= m.n and m.truncated
    if protocol == ETH_P_IP:
        return plausible_ipv4(m, pos, end)
    if protocol == ETH_P_IPV6:
        return plausible_ipv6(m, pos, end)
    if protocol in (ETH_P_TEB, ETH_P_ERSPAN, ETH_P_ERSPAN3):
        return protocol != ETH_P_TEB or plausible_ethernet(m, pos, end)
    if protocol == ETH_P_PPP:
        return (
            bytes(m.data[pos : pos + 2]) == b"\xff\x03"
            or m.data[pos] & 1
            or m.data[pos + 1 : pos + 2] in (b"\x21", b"\x57")
        )
    return protocol == ETH_P_MPLS_UC


def _source_routes(m: FrameMap, pos: int, end: int) -> int:
    """RFC 1701 source route entries: address family, offset, length, routing information; -1 if broken."""
    data = m.data
    while pos + 4 <= end:
        family, length = u16(data, pos), data[pos + 3]
        m.put(pos + 4, R_TUNNEL)
        if not family and not length:
            return pos + 4
        if pos + 4 + length > end:
            break
        if family == GRE_SRE_AF_IP and length % 4 == 0:
            for at in range(pos + 4, pos + 4 + length, 4):
                m.address(at, 4, 4, A_TUNNEL)
        m.put(pos + 4 + length, R_UNKNOWN)
        pos += 4 + length
    return -1


def vxlan(m: FrameMap, offset: int, end: int) -> bool:
    """VXLAN (RFC 7348): flags, VNI, an Ethernet frame — followed whether or not the I flag is
    set, but not with reserved bits set. With the P flag it is VXLAN-GPE
    (draft-ietf-nvo3-vxlan-gpe): a next-protocol byte names IPv4, IPv6, Ethernet or MPLS."""
    data = m.data
    if offset + VXLAN_HLEN > end:
        return False
    flags = data[offset]
    if flags & 0x04 and not flags & 0xC3:  # VXLAN-GPE: version 0, no O or reserved bits
        protocol = GPE_PROTOCOLS.get(data[offset + 3], 0)
    elif flags & ~0x08 or any(data[offset + 1 : offset + 4]) or data[offset + 7]:
        return False
    else:
        protocol = ETH_P_TEB
    if not plausible_payload(m, offset + VXLAN_HLEN, protocol, end):
        m.fail(end)  # VXLAN by its fixed bits, but not carrying what it says: none of it kept
        return True
    m.put(offset + VXLAN_HLEN, R_TUNNEL)
    network(m, offset + VXLAN_HLEN, protocol, end)
    return True


def geneve(m: FrameMap, offset: int, end: int) -> bool:
    """Geneve: fixed header, options (class, type, length kept; data zeroed), protocol type."""
    data = m.data
    if offset + GENEVE_HLEN > end or data[offset] >> 6 or data[offset + 1] & 0x3F or data[offset + 7]:
        return False  # version 0, reserved bits clear (RFC 8926 §3.4), or not Geneve
    stop = offset + GENEVE_HLEN + (data[offset] & 0x3F) * 4
    protocol = u16(data, offset + 2)
    if stop > end:
        if may_cut(m, end):
            m.put(offset + GENEVE_HLEN, R_TUNNEL)
        m.fail(end, R_OVERRUN)  # (Geneve by its fixed bits, whose option length lies: none of it kept)
        return True
    options = []
    pos = offset + GENEVE_HLEN
    while pos + GENEVE_OPTION_HLEN <= stop:
        length = GENEVE_OPTION_HLEN + (data[pos + 3] & 0x1F) * 4
        options.append((pos, length))
        pos += length
    if pos != stop or not plausible_payload(m, stop, protocol, end):  # an option length that lies
        m.fail(end)
        return True
    m.put(offset + GENEVE_HLEN, R_TUNNEL)
    for at, length in options:
        m.put(at + GENEVE_OPTION_HLEN, R_TUNNEL)
        m.put(at + length, R_UNKNOWN)
    network(m, stop, protocol, end)
    return True


def gtpu(m: FrameMap, offset: int, end: int) -> bool:
    """GTP-U: header, optional sequence / N-PDU / extension headers, an IP packet in a T-PDU.

    Other messages (echo, error indication with a peer address, end marker) keep the header
    only.
    """
    data = m.data
    if offset + GTPU_HLEN > end:
        return False
    flags, message = data[offset], data[offset + 1]
    if flags >> 5 != 1 or not flags & 0x10 or flags & 0x08 or message not in GTPU_MESSAGES:
        return False  # GTP', a reserved bit, an unknown message: not GTP-U, plain UDP payload
    stop = offset + GTPU_HLEN + u16(data, offset + 2)
    if stop > end and not may_cut(m, end) and m.fragment != FRAG_FIRST:
        m.fail(end, R_OVERRUN)  # GTP-U by its fixed bits, but a length that lies: none of it kept
        return True
    stop = min(end, stop)
    mark = m.mark()
    m.put(offset + GTPU_HLEN, R_TUNNEL)
    pos = offset + GTPU_HLEN
    if flags & 0x07:
        if pos + 4 > stop:
            return _short(m, mark, end)
        next_type, pos = data[pos + 3], pos + 4
        m.put(pos, R_TUNNEL)
        while next_type:
            if pos + 4 > stop or not data[pos] or pos + data[pos] * 4 > stop:
                return _short(m, mark, end)
            length = data[pos] * 4
            m.put(pos + 1, R_TUNNEL)
            m.put(pos + length - 1, R_TUNNEL if next_type in GTPU_KNOWN_EXTENSIONS else R_UNKNOWN)
            next_type, pos = data[pos + length - 1], pos + length
            m.put(pos, R_TUNNEL)
    if message != GTPU_T_PDU:
        m.put(stop, R_UNKNOWN)
    else:
        protocol = ip_ethertype(m, pos, stop)
        if not plausible_payload(m, pos, protocol, stop):
            m.rewind(mark)  # a T-PDU that carries no IP packet: none of it kept
            m.fail(end)
        elif pos < stop:
            network(m, pos, protocol, stop)
    m.put(end, R_PADDING)
    return True


def _short(m: FrameMap, mark: tuple, end: int) -> bool:
    """GTP-U extension headers that do not fit: cut short by the capture (the rest zeroed as
    an overrun), or lengths that lie (none of the header kept)."""
    if not may_cut(m, end):
        m.rewind(mark)
    m.fail(end, R_OVERRUN)
    return True


def teredo(m: FrameMap, offset: int, end: int) -> bool:
    """Teredo (RFC 4380 §5.1.1): authentication and origin indication headers (the obscured
    client address mapped), then IPv6 — taken only if that header is believable."""
    data, pos = m.data, offset
    for _ in range(2):
        if pos + 2 > end:
            return False
        indicator = u16(data, pos)
        if indicator == TEREDO_AUTH and pos + 4 <= end:
            ids, auth = data[pos + 2], data[pos + 3]
            stop = pos + 4 + ids + auth + 9
            if stop > end:
                return False
            m.put(pos + 4, R_TUNNEL)
            m.put(pos + 4 + ids + auth, R_IDENTIFIER)  # client identifier and authentication value
            m.put(stop, R_TUNNEL)  # nonce and confirmation byte
            pos = stop
        elif indicator == TEREDO_ORIGIN and pos + TEREDO_ORIGIN_LEN <= end:
            m.put(pos + 4, R_TUNNEL)
            m.address(pos + 4, 4, 4, A_TUNNEL, FORM_OBSCURED)
            pos += TEREDO_ORIGIN_LEN
        else:
            break
    if not plausible_ipv6(m, pos, end):
        return False
    network(m, pos, ETH_P_IPV6, end)
    return True


def l2tp(m: FrameMap, offset: int, end: int) -> bool:
    """L2TPv2: header by its flags; data messages carry PPP, control messages AVPs whose
    headers and message type are kept, values zeroed."""
    data = m.data
    if offset + 6 > end:
        return False
    flags = u16(data, offset)
    if flags & 0x000F != L2TP_VERSION_2 or flags & L2TP_RESERVED:
        return False
    if flags & L2TP_TYPE and flags & L2TP_CONTROL_FLAGS != L2TP_LENGTH | L2TP_SEQUENCE:
        return False  # a control message has a length and sequence numbers, no offset or priority
    pos = offset + 2 + 2 * bool(flags & L2TP_LENGTH) + 4 + 4 * bool(flags & L2TP_SEQUENCE)
    stop = end
    if flags & L2TP_LENGTH:
        stop = offset + u16(data, offset + 2)
        if stop < pos or (stop > end and not may_cut(m, end) and m.fragment != FRAG_FIRST):
            m.fail(end, R_OVERRUN)  # L2TP by its fixed bits, but a length that lies: none of it kept
            return True
        stop = min(end, stop)
    pad = 0
    if flags & L2TP_OFFSET:
        if pos + 2 > stop:
            m.fail(end, R_OVERRUN)
            return True
        pad = u16(data, pos)
    start = pos + 2 + pad if flags & L2TP_OFFSET else pos
    if start > stop or not (flags & L2TP_TYPE or plausible_payload(m, start, ETH_P_PPP, stop)):
        m.fail(end)  # an offset past its message, or data that is no PPP frame
        return True
    if flags & L2TP_OFFSET:
        m.put(pos + 2, R_TUNNEL)
        m.put(start, R_PADDING)
    pos = start
    m.put(pos, R_TUNNEL)
    if flags & L2TP_TYPE:
        _avps(m, pos, stop)
    else:
        from .ppp import ppp

        ppp(m, pos, stop, address_control=True)
    m.put(end, R_PADDING)
    return True


def _avps(m: FrameMap, pos: int, stop: int) -> None:
    data = m.data
    while pos + L2TP_AVP_HLEN <= stop:
        length = u16(data, pos) & 0x03FF
        if length < L2TP_AVP_HLEN or pos + length > stop:
            break
        m.put(pos + L2TP_AVP_HLEN, R_TUNNEL)
        kept = u16(data, pos + 2) == 0 and u16(data, pos + 4) == L2TP_MESSAGE_TYPE
        m.put(pos + length, R_TUNNEL if kept else R_IDENTIFIER)
        pos += length
    m.fail(stop)


def gre_in_udp(m: FrameMap, offset: int, end: int) -> bool:
    if offset + 4 > end or m.data[offset + 1] & GRE_VERSION:
        return False
    gre(m, offset, end, None)  # its checksum covers the UDP payload
    return True


def mpls_in_udp(m: FrameMap, offset: int, end: int) -> bool:
    network(m, offset, ETH_P_MPLS_UC, end)
    return True


IP_PROTOCOLS[IPPROTO_GRE] = gre
UDP_PORTS.update({
    UDP_PORT_VXLAN: vxlan,
    UDP_PORT_VXLAN_LINUX: vxlan,
    UDP_PORT_VXLAN_GPE: vxlan,
    UDP_PORT_GENEVE: geneve,
    UDP_PORT_GTPU: gtpu,
    UDP_PORT_TEREDO: teredo,
    UDP_PORT_L2TP: l2tp,
    UDP_PORT_GRE: gre_in_udp,
    UDP_PORT_MPLS: mpls_in_udp,
})  # fmt: skip
UDP_SOURCE_PORTS.update({UDP_PORT_GTPU: gtpu, UDP_PORT_TEREDO: teredo, UDP_PORT_L2TP: l2tp})
