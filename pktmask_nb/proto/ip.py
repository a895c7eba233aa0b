"""IPv4 (RFC 791) and IPv6 (RFC 8200) header fields and lengths, and what both walks share."""

from __future__ import annotations

from .spans import A_INNER, A_OUTER, A_QUOTED, FRAG_FIRST, FRAG_LATER, R_FRAGMENT, STATUS_TRUNCATED, FrameMap, IpLayer

IPV4_MIN_HLEN = 20
IPV4_TOTAL_LENGTH = 2  # offsets within the IPv4 header
IPV4_TTL = 8
IPV4_PROTOCOL = 9
IPV4_CHECKSUM = 10
IPV4_SRC = 12
IPV4_DST = 16

IPV6_HLEN = 40
MIN_FRAME_LEN = 64  # an Ethernet frame this short may carry padding after its datagram
IPV6_PAYLOAD_LENGTH = 4  # offsets within the IPv6 header
IPV6_NEXT_HEADER = 6
IPV6_HOP_LIMIT = 7
IPV6_SRC = 8
IPV6_DST = 24

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


def ipv4_datagram_end(data, offset: int) -> int:
    """End of the IPv4 datagram at `offset` by its total length, clipped to the captured bytes."""
    if offset + IPV4_MIN_HLEN > len(data):
        return len(data)
    return min(len(data), offset + ((data[offset + 2] << 8) | data[offset + 3]))


def ipv6_datagram_end(data, offset: int) -> int:
    """End of the IPv6 datagram at `offset` by its payload length, clipped to the captured bytes.

    A payload length of 0 (jumbogram) runs to the end of the captured bytes.
    """
    if offset + IPV6_HLEN > len(data):
        return len(data)
    payload = (data[offset + 4] << 8) | data[offset + 5]
    return min(len(data), offset + IPV6_HLEN + payload) if payload else len(data)


def ipv4_header_ok(data, offset: int, hlen: int) -> bool:
    """True if the IPv4 header at `offset` (`hlen` bytes, all captured) has a valid checksum."""
    value = int.from_bytes(data[offset : offset + hlen], "big")
    return value % 0xFFFF == 0


def plausible_ipv4(m: FrameMap, offset: int, end: int) -> bool:
    """Whether bytes guessed to be IPv4 (after MPLS, ...) hold a header that fits what is there:
    a valid checksum, or a total length that ends the datagram where the bytes end (Ethernet
    padding of a minimum-size frame or the capture's cut allowed)."""
    data = m.data
    if offset + IPV4_MIN_HLEN > end or data[offset] >> 4 != 4:
        return False
    hlen = (data[offset] & 0x0F) * 4
    total = (data[offset + 2] << 8) | data[offset + 3]
    if hlen < IPV4_MIN_HLEN or total < hlen or offset + hlen > end:
        return False
    stop = offset + total
    return (
        ipv4_header_ok(data, offset, hlen)
        or stop == end
        or (stop < end <= MIN_FRAME_LEN)
        or (stop > end >= m.n and m.truncated)
    )


def plausible_ipv6(m: FrameMap, offset: int, end: int) -> bool:
    """Whether bytes guessed to be IPv6 (after MPLS, in Teredo, ...) hold a header whose payload
    length ends the datagram where the bytes end (allowing as for `plausible_ipv4`)."""
    data = m.data
    if offset + IPV6_HLEN > end or data[offset] >> 4 != 6:
        return False
    stop = offset + IPV6_HLEN + ((data[offset + 4] << 8) | data[offset + 5])
    return stop == end or (stop < end <= MIN_FRAME_LEN) or (stop > end >= m.n and m.truncated)


def new_layer(m: FrameMap, offset: int, version: int) -> tuple[IpLayer, int]:
    """A new IP layer of the walk and the kind of its address fields (outer, inner, quoted)."""
    quoted = m.quoting > 0
    ip = IpLayer.__new__(IpLayer)  # compiled: one allocation, no argument parsing
    ip.offset, ip.version, ip.quoted, ip.index = offset, version, quoted, len(m.ips)
    ip.src = ip.dst = -1
    ip.pseudo = ()
    ip.end = offset
    kind = A_QUOTED if quoted else A_OUTER
    if not quoted:
        for outer in m.ips:
            if not outer.quoted:  # an IP header already walked, not quoted: this one is inner
                kind = A_INNER
                break
    m.ips.append(ip)
    return ip, kind


def cut(m: FrameMap, end: int) -> None:
    """A header does not fit before `end`: cut short by the capture or in an ICMP quote (kept as
    far as it goes), else malformed (zeroed)."""
    if end >= m.n and m.truncated:
        m.status = STATUS_TRUNCATED
    elif not m.quoting:
        m.fail(end)


def cut_short(m: FrameMap, end: int, reason: int) -> None:
    """A header that does not fit before `end`: kept as far as it goes (as `reason`) when the
    capture or an ICMP quote cut it short, else zeroed whole: its length is not believed."""
    if may_cut(m, end):
        m.put(end, reason)
        cut(m, end)
    else:
        m.fail(end)


def ip_ethertype(m: FrameMap, pos: int, end: int) -> int:
    """The EtherType of the IP header whose version nibble is at `pos` (0: neither IPv4 nor IPv6)."""
    version = m.data[pos] >> 4 if pos < end else 0
    return 0x0800 if version == 4 else 0x86DD if version == 6 else 0


def may_cut(m: FrameMap, end: int) -> bool:
    """Whether a header that does not fit before `end` was cut short, rather than lying about its length."""
    return m.quoting > 0 or (end >= m.n and m.truncated)


def later_fragment(m: FrameMap, offset: int, end: int, protocol: int, ip: IpLayer, ident: int) -> None:
    """The payload of a non-first fragment (identification at `ident`): no header of it can be read."""
    if not m.quoting:
        m.transport, m.l4, m.ip, m.fragment, m.frag_id = protocol, -1, ip.index, FRAG_LATER, ident
    m.put(end, R_FRAGMENT)


def first_fragment(m: FrameMap, ident: int) -> None:
    """The datagram being walked is a first fragment (identification at `ident`): its
    transport payload is incomplete."""
    if not m.quoting and m.fragment < FRAG_FIRST:
        m.fragment, m.frag_id = FRAG_FIRST, ident
