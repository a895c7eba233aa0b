"""The audit's own frame walk, kept apart from the stages' dissector (SPEC §8): every IP header, every checksum, the payload.

Walk a frame to its innermost payload (SPEC §3): every IP header, every checksum, the payload.

`dissect` follows link layers, VLAN/QinQ, MPLS, PPPoE, IPv4/IPv6 (with extension headers
and fragments), IP-in-IP (4in4, 6in4, 4in6, 6in6), GRE (with checksum, key, sequence;
ERSPAN I/II/III), VXLAN, Geneve, GTP-U, Teredo, and the IP header quoted in ICMP and
ICMPv6 errors. Anonymize rewrites the addresses it lists; mask keeps what lies before
``payload_start`` and decides or zeroes the rest. Whatever the walk does not understand
ends the headers: the bytes after it are payload, which mask zeroes (fail closed).
"""

from __future__ import annotations

from .link import (
    ETH_P_ARP,
    ETH_P_ERSPAN,
    ETH_P_ERSPAN3,
    ETH_P_IP,
    ETH_P_IPV6,
    ETH_P_RARP,
    ETH_P_TEB,
    LINK_DISSECTORS,
    ethernet,
    network_header,
    raw_ip,
    walk_ethertype,
)

IPV4_MIN_HLEN = 20
IPV6_HLEN = 40

IPPROTO_HOPOPTS = 0
IPPROTO_ICMP = 1
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_GRE = 47
IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_ICMPV6 = 58
IPPROTO_NONE = 59
IPPROTO_DSTOPTS = 60
IPPROTO_MOBILITY = 135
IPPROTO_HIP = 139
IPPROTO_SHIM6 = 140
IPV6_EXTENSION_HEADERS = frozenset(
    (IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS, IPPROTO_MOBILITY, IPPROTO_HIP, IPPROTO_SHIM6)
)

UDP_HLEN = 8
TCP_MIN_HLEN = 20
ICMP_HLEN = 8
GRE_MIN_HLEN = 4
ARP_FIXED_LEN = 8  # htype, ptype, hlen, plen, oper (RFC 826)

UDP_PORT_VXLAN = 4789  # RFC 7348
UDP_PORT_GENEVE = 6081  # RFC 8926
UDP_PORT_GTPU = 2152  # 3GPP TS 29.281
UDP_PORT_TEREDO = 3544  # RFC 4380
VXLAN_HLEN = 8
GENEVE_HLEN = 8
GTPU_HLEN = 8
GTPU_G_PDU = 0xFF
GRE_FLAG_CHECKSUM = 0x8000
GRE_FLAG_ROUTING = 0x4000
GRE_FLAG_KEY = 0x2000
GRE_FLAG_SEQUENCE = 0x1000
ERSPAN2_HLEN = 8
ERSPAN3_HLEN = 12
ERSPAN3_SUBHEADER_LEN = 8

# ICMP types whose body quotes the offending datagram (RFC 792, RFC 4443)
ICMP_ERROR_TYPES = frozenset((3, 4, 5, 11, 12))
ICMPV6_ERROR_TYPES = frozenset((1, 2, 3, 4))

MAX_NESTING = 8  # encapsulations followed before giving up (fail closed)

# Checksum kinds (Layers.checksums)
CK_IPV4_HEADER = 0
CK_TCP = 1
CK_UDP = 2  # 0 means "none" and stays 0
CK_ICMP = 3
CK_ICMPV6 = 4
CK_GRE = 5

# Layers.status
STATUS_OK = 0
STATUS_NOT_DISSECTED = 1  # link type outside SPEC §3 (802.11, radiotap, ...)
STATUS_TRUNCATED = 2  # the capture ends inside a header
STATUS_UNKNOWN = 3  # a protocol we do not parse: headers end there

# Layers.fragment
FRAG_NONE = 0
FRAG_FIRST = 1  # offset 0, more fragments follow: transport header present, payload partial
FRAG_LATER = 2  # offset > 0: no transport header


class Layers:
    """What `dissect` found in one frame.

    Attributes
    ----------
    ips : list of (offset, version, quoted)
        Every IP header, outermost first; ``quoted`` is True inside an ICMP error.
        Only headers whose first byte was captured are listed; check lengths before use.
    arps : list of int
        Offsets of ARP/RARP packets.
    checksums : list of (position, start, end, pseudo, kind)
        Every checksum field: its offset, the covered byte range on the wire (``end`` may
        lie beyond the captured bytes), the index in `ips` of the IP header whose
        pseudo-header it covers (-1 for none), and a CK_* kind.
    transport : int
        IP protocol number of the innermost payload (-1 when there is no IP).
    transport_offset : int
        Offset of the innermost transport header (TCP/UDP/...), -1 if none.
    ip_index : int
        Index in `ips` of the innermost IP header carrying the payload (-1 if none).
    payload_start, payload_end : int
        The innermost payload: bytes before ``payload_start`` are protocol headers; bytes
        from ``payload_end`` on are padding and trailers. Both are within the captured data.
    payload_wire_len : int
        Payload length the headers declare (more than captured when snaplen cut it).
    fragment : int
        FRAG_* of the innermost IP datagram.
    status : int
        STATUS_* of the walk.
    """

    __slots__ = (
        "ips",
        "arps",
        "checksums",
        "transport",
        "transport_offset",
        "ip_index",
        "payload_start",
        "payload_end",
        "payload_wire_len",
        "fragment",
        "status",
    )

    def __init__(self):
        self.ips = []
        self.arps = []
        self.checksums = []
        self.transport = -1
        self.transport_offset = -1
        self.ip_index = -1
        self.payload_start = 0
        self.payload_end = 0
        self.payload_wire_len = 0
        self.fragment = FRAG_NONE
        self.status = STATUS_OK

    def __repr__(self) -> str:
        return (
            f"Layers(ips={self.ips}, arps={self.arps}, transport={self.transport}, "
            f"payload=[{self.payload_start}:{self.payload_end}], status={self.status})"
        )


def dissect(data, linktype: int) -> Layers:
    """Dissect a frame of the given LINKTYPE_* into `Layers`."""
    layers = Layers()
    n = len(data)
    layers.payload_start = layers.payload_end = n
    if linktype not in LINK_DISSECTORS:
        layers.status = STATUS_NOT_DISSECTED
        layers.payload_start = 0
        return layers
    offset, ethertype = network_header(data, linktype)
    _network(data, offset, ethertype, n, layers, 0)
    return layers


def _stop(layers: Layers, offset: int, end: int, status: int) -> None:
    """End of the headers we understand: the rest up to `end` is payload."""
    layers.payload_start = min(offset, end)
    layers.payload_end = end
    layers.payload_wire_len = max(end - offset, 0)
    layers.status = status


def _network(data, offset: int, ethertype: int, end: int, layers: Layers, depth: int) -> None:
    """Dissect from a network header of `ethertype` at `offset`; `end` bounds the bytes."""
    if depth > MAX_NESTING:
        return _stop(layers, offset, end, STATUS_UNKNOWN)
    if ethertype == ETH_P_IP:
        return _ipv4(data, offset, end, layers, depth)
    if ethertype == ETH_P_IPV6:
        return _ipv6(data, offset, end, layers, depth)
    if ethertype in (ETH_P_ARP, ETH_P_RARP):
        return _arp(data, offset, end, layers)
    return _stop(layers, offset, end, STATUS_UNKNOWN if offset < end else STATUS_TRUNCATED)


def _arp(data, offset: int, end: int, layers: Layers) -> None:
    if offset + ARP_FIXED_LEN > end:
        return _stop(layers, offset, end, STATUS_TRUNCATED)
    hlen, plen = data[offset + 4], data[offset + 5]
    layers.arps.append(offset)
    stop = offset + ARP_FIXED_LEN + 2 * (hlen + plen)
    _stop(layers, min(stop, end), end, STATUS_OK if stop <= end else STATUS_TRUNCATED)
    layers.payload_end = layers.payload_start  # nothing after ARP is payload worth keeping


def _short_ip(data, offset: int, end: int, version: int, layers: Layers) -> None:
    """An IP header cut short by the capture, or not an IP header of `version` at all."""
    if offset < end and data[offset] >> 4 == version:
        layers.ips.append((offset, version, False))  # anonymize must deal with partial addresses
        return _stop(layers, offset, end, STATUS_TRUNCATED)
    _stop(layers, offset, end, STATUS_UNKNOWN if offset < end else STATUS_TRUNCATED)


def _ipv4(data, offset: int, end: int, layers: Layers, depth: int) -> None:
    if offset + IPV4_MIN_HLEN > end or data[offset] >> 4 != 4:
        return _short_ip(data, offset, end, 4, layers)
    hlen = (data[offset] & 0x0F) * 4
    total = (data[offset + 2] << 8) | data[offset + 3]
    index = len(layers.ips)
    layers.ips.append((offset, 4, False))
    layers.checksums.append((offset + 10, offset, offset + hlen, -1, CK_IPV4_HEADER))
    if hlen < IPV4_MIN_HLEN or total < hlen:
        return _stop(layers, offset + min(max(hlen, IPV4_MIN_HLEN), end - offset), end, STATUS_UNKNOWN)
    wire_end = offset + total
    datagram_end = min(end, wire_end)
    frag = ((data[offset + 6] << 8) | data[offset + 7]) & 0x3FFF
    fragment = FRAG_NONE if not frag else FRAG_FIRST if not frag & 0x1FFF else FRAG_LATER
    _payload(data, offset + hlen, datagram_end, wire_end, data[offset + 9], index, fragment, layers, depth)


def _ipv6(data, offset: int, end: int, layers: Layers, depth: int) -> None:
    if offset + IPV6_HLEN > end or data[offset] >> 4 != 6:
        return _short_ip(data, offset, end, 6, layers)
    index = len(layers.ips)
    layers.ips.append((offset, 6, False))
    payload_len = (data[offset + 4] << 8) | data[offset + 5]
    wire_end = offset + IPV6_HLEN + payload_len if payload_len else end
    datagram_end = min(end, wire_end)
    next_header, pos, fragment = skip_extensions(data, offset + IPV6_HLEN, datagram_end, data[offset + 6])
    if pos > datagram_end:
        return _stop(layers, datagram_end, datagram_end, STATUS_TRUNCATED)
    _payload(data, pos, datagram_end, wire_end, next_header, index, fragment, layers, depth)


def skip_extensions(data, pos: int, end: int, next_header: int) -> tuple[int, int, int]:
    """Walk IPv6 extension headers (RFC 8200 §4) from `pos`.

    Returns ``(next_header, offset, fragment)``: the upper-layer protocol and where it
    starts (past `end` when the capture ends inside an extension header), and FRAG_*.
    """
    fragment = FRAG_NONE
    while pos < end:
        if next_header in IPV6_EXTENSION_HEADERS or next_header == IPPROTO_AH:
            if pos + 2 > end:
                return next_header, end + 1, fragment
            length = (data[pos + 1] + 2) * 4 if next_header == IPPROTO_AH else (data[pos + 1] + 1) * 8
            next_header, pos = data[pos], pos + length
        elif next_header == IPPROTO_FRAGMENT:
            if pos + 8 > end:
                return next_header, end + 1, fragment
            frag = (data[pos + 2] << 8) | data[pos + 3]
            fragment = FRAG_LATER if frag & 0xFFF8 else FRAG_FIRST if frag & 1 else fragment
            next_header, pos = data[pos], pos + 8
        else:
            break
    return next_header, pos, fragment


def carried(data, offset: int, version: int, end: int) -> tuple[int, int]:
    """What the IP header at `offset` carries: ``(protocol, offset)``, IPv6 extension headers
    skipped (for a header quoted in an ICMP error, whose datagram `dissect` does not follow)."""
    if version == 4:
        return data[offset + 9], offset + (data[offset] & 0x0F) * 4
    protocol, start, _ = skip_extensions(data, offset + 40, end, data[offset + 6])
    return protocol, start


def _payload(data, offset, end, wire_end, protocol, ip_index, fragment, layers: Layers, depth) -> None:
    """Dissect what an IP header at `ip_index` carries: protocol `protocol` at `offset`."""
    layers.transport = protocol
    layers.ip_index = ip_index
    layers.fragment = fragment
    if fragment == FRAG_LATER:
        layers.transport_offset = -1
        return _stop(layers, offset, end, STATUS_OK)
    layers.transport_offset = offset
    if protocol == IPPROTO_TCP:
        return _tcp(data, offset, end, wire_end, ip_index, layers)
    if protocol == IPPROTO_UDP:
        return _udp(data, offset, end, wire_end, ip_index, layers, depth, fragment)
    if protocol in (IPPROTO_ICMP, IPPROTO_ICMPV6):
        return _icmp(data, offset, end, wire_end, ip_index, protocol, layers, depth)
    if fragment == FRAG_FIRST:  # a tunnel inside a fragment cannot be followed
        return _stop(layers, offset, end, STATUS_OK)
    if protocol == IPPROTO_IPIP:
        return _network(data, offset, ETH_P_IP, end, layers, depth + 1)
    if protocol == IPPROTO_IPV6:
        return _network(data, offset, ETH_P_IPV6, end, layers, depth + 1)
    if protocol == IPPROTO_GRE:
        return _gre(data, offset, end, wire_end, layers, depth)
    _stop(layers, offset, end, STATUS_OK if protocol in (IPPROTO_ESP, IPPROTO_NONE) else STATUS_UNKNOWN)


def _tcp(data, offset, end, wire_end, ip_index, layers: Layers) -> None:
    layers.checksums.append((offset + 16, offset, wire_end, ip_index, CK_TCP))
    if offset + TCP_MIN_HLEN > end:
        return _stop(layers, end, end, STATUS_TRUNCATED)
    hlen = (data[offset + 12] >> 4) * 4
    start = offset + max(hlen, TCP_MIN_HLEN)
    _stop(layers, start, end, STATUS_OK if start <= end else STATUS_TRUNCATED)
    layers.payload_wire_len = max(wire_end - start, 0)


def _udp(data, offset, end, wire_end, ip_index, layers: Layers, depth, fragment) -> None:
    layers.checksums.append((offset + 6, offset, wire_end, ip_index, CK_UDP))
    if offset + UDP_HLEN > end:
        return _stop(layers, end, end, STATUS_TRUNCATED)
    start = offset + UDP_HLEN
    _stop(layers, start, end, STATUS_OK)
    layers.payload_wire_len = max(wire_end - start, 0)
    if fragment == FRAG_NONE:
        sport = (data[offset] << 8) | data[offset + 1]
        dport = (data[offset + 2] << 8) | data[offset + 3]
        _udp_tunnel(data, start, end, sport, dport, layers, depth)


def _udp_tunnel(data, offset, end, sport, dport, layers: Layers, depth) -> None:
    """Follow VXLAN, Geneve, GTP-U and Teredo; leave anything else as UDP payload."""
    if dport == UDP_PORT_VXLAN and offset + VXLAN_HLEN + 14 <= end and data[offset] & 0x08:
        inner, ethertype = ethernet(data, offset + VXLAN_HLEN)
        return _network(data, inner, ethertype, end, layers, depth + 1)
    if dport == UDP_PORT_GENEVE and offset + GENEVE_HLEN <= end and data[offset] >> 6 == 0:
        inner = offset + GENEVE_HLEN + (data[offset] & 0x3F) * 4
        protocol = (data[offset + 2] << 8) | data[offset + 3]
        return _tunnel_protocol(data, inner, protocol, end, layers, depth)
    if UDP_PORT_GTPU in (sport, dport) and offset + GTPU_HLEN <= end:
        return _gtpu(data, offset, end, layers, depth)
    if UDP_PORT_TEREDO in (sport, dport) and offset + IPV6_HLEN <= end and data[offset] >> 4 == 6:
        return _network(data, offset, ETH_P_IPV6, end, layers, depth + 1)


def _tunnel_protocol(data, inner, protocol, end, layers: Layers, depth) -> None:
    """Continue at `inner`, which holds an Ethernet frame or an IP packet by EtherType."""
    if inner > end:
        return _stop(layers, end, end, STATUS_TRUNCATED)
    if protocol == ETH_P_TEB:
        inner, protocol = ethernet(data, inner)
    else:
        inner, protocol = walk_ethertype(data, inner, protocol)
    _network(data, inner, protocol, end, layers, depth + 1)


def _gtpu(data, offset, end, layers: Layers, depth) -> None:
    flags, message_type = data[offset], data[offset + 1]
    if flags >> 5 != 1 or not flags & 0x10 or message_type != GTPU_G_PDU:
        return  # GTP' or signalling: opaque UDP payload
    pos = offset + GTPU_HLEN
    if flags & 0x07:  # sequence number, N-PDU number, next extension header type
        if pos + 4 > end:
            return _stop(layers, end, end, STATUS_TRUNCATED)
        next_ext, pos = data[pos + 3], pos + 4
        while next_ext:
            if pos + 1 > end or data[pos] == 0:
                return _stop(layers, min(pos, end), end, STATUS_TRUNCATED)
            length = data[pos] * 4
            next_ext, pos = data[pos + length - 1] if pos + length <= end else 0, pos + length
    inner, ethertype = raw_ip(data, pos)
    _network(data, inner, ethertype, end, layers, depth + 1)


def _gre(data, offset, end, wire_end, layers: Layers, depth) -> None:
    if offset + GRE_MIN_HLEN > end:
        return _stop(layers, offset, end, STATUS_TRUNCATED)
    flags = (data[offset] << 8) | data[offset + 1]
    protocol = (data[offset + 2] << 8) | data[offset + 3]
    if flags & 0x0007 or flags & GRE_FLAG_ROUTING:  # version 1 (PPTP) or source routing: opaque
        return _stop(layers, offset + GRE_MIN_HLEN, end, STATUS_UNKNOWN)
    pos = offset + GRE_MIN_HLEN
    if flags & GRE_FLAG_CHECKSUM:
        layers.checksums.append((pos, offset, wire_end, -1, CK_GRE))
        pos += 4
    pos += 4 * bool(flags & GRE_FLAG_KEY) + 4 * bool(flags & GRE_FLAG_SEQUENCE)
    if protocol == ETH_P_ERSPAN:  # type II has a sequence number and an 8-byte header; type I neither
        pos += ERSPAN2_HLEN if flags & GRE_FLAG_SEQUENCE else 0
        protocol = ETH_P_TEB
    elif protocol == ETH_P_ERSPAN3:
        if pos + ERSPAN3_HLEN > end:
            return _stop(layers, pos, end, STATUS_TRUNCATED)
        pos += ERSPAN3_HLEN + (ERSPAN3_SUBHEADER_LEN if data[pos + 11] & 0x01 else 0)
        protocol = ETH_P_TEB
    _tunnel_protocol(data, pos, protocol, end, layers, depth)


def _icmp(data, offset, end, wire_end, ip_index, protocol, layers: Layers, depth) -> None:
    v6 = protocol == IPPROTO_ICMPV6
    layers.checksums.append((offset + 2, offset, wire_end, ip_index if v6 else -1, CK_ICMPV6 if v6 else CK_ICMP))
    if offset + ICMP_HLEN > end:
        return _stop(layers, end, end, STATUS_TRUNCATED)
    _stop(layers, offset + ICMP_HLEN, end, STATUS_OK)
    layers.payload_wire_len = max(wire_end - offset - ICMP_HLEN, 0)
    if data[offset] not in (ICMPV6_ERROR_TYPES if v6 else ICMP_ERROR_TYPES) or depth >= MAX_NESTING:
        return
    _quoted(data, offset + ICMP_HLEN, end, layers)


def _quoted(data, offset, end, layers: Layers) -> None:
    """The datagram quoted by an ICMP error: its IP header and transport header are kept.

    The innermost payload becomes the quoted transport payload (zeroed by mask); the
    error's own transport stays the ICMP message.
    """
    if offset >= end:
        return
    version = data[offset] >> 4
    if version == 4 and offset + IPV4_MIN_HLEN <= end:
        hlen = max((data[offset] & 0x0F) * 4, IPV4_MIN_HLEN)
        protocol, transport = data[offset + 9], offset + hlen
    elif version == 6 and offset + IPV6_HLEN <= end:
        protocol, transport, _ = skip_extensions(data, offset + IPV6_HLEN, end, data[offset + 6])
    else:
        if version in (4, 6):
            layers.ips.append((offset, version, True))
        return
    index = len(layers.ips)
    layers.ips.append((offset, version, True))
    if version == 4:
        layers.checksums.append((offset + 10, offset, offset + hlen, -1, CK_IPV4_HEADER))
    header = {IPPROTO_TCP: TCP_MIN_HLEN, IPPROTO_UDP: UDP_HLEN, IPPROTO_ICMP: ICMP_HLEN, IPPROTO_ICMPV6: ICMP_HLEN}
    size = header.get(protocol, 0)
    if protocol == IPPROTO_TCP and transport + 13 <= end:
        size = max((data[transport + 12] >> 4) * 4, TCP_MIN_HLEN)
    position = {IPPROTO_TCP: 16, IPPROTO_UDP: 6}.get(protocol)
    if position is not None:
        # the quoted datagram is incomplete: this checksum only follows the pseudo-header
        layers.checksums.append(
            (transport + position, transport, transport, index, CK_TCP if protocol == IPPROTO_TCP else CK_UDP)
        )
    layers.payload_start = min(transport + size, end)
