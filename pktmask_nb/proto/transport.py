"""TCP (RFC 9293 §3.1) and UDP (RFC 768) headers, TCP options, and IP-in-IP.

TCP options are read strictly, like IPv4's: a kind IANA never assigned, a length that is
wrong for its kind or runs past the header, makes the rest of the frame zero: a data
offset that does not match the header is likelier than a broken option, and then where
the payload starts is not known either. MPTCP ADD_ADDR
addresses (RFC 8684 §3.4.1) are mapped and their HMAC, a digest of the original address,
zeroed; so are TCP-MD5 and TCP-AO digests and TFO cookies (derived from the client address).

UDP payloads go to the handler registered for their port (tunnels), which may decline.
"""

from __future__ import annotations

from .ip import IPPROTO_IPIP, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, cut, may_cut
from .spans import (
    A_TCP_OPTION,
    CK_TCP,
    CK_UDP,
    FRAG_FIRST,
    R_DATA,
    R_IDENTIFIER,
    R_OVERRUN,
    R_PAYLOAD,
    R_TCP,
    R_TCP_OPTION,
    R_TRAILER,
    R_TRUNCATED,
    R_UDP,
    R_UNKNOWN,
    FrameMap,
    Quote,
)
from .walk import IP_PROTOCOLS, UDP_PORTS, UDP_SOURCE_PORTS, network, options, u16, within

TCP_MIN_HLEN = 20
UDP_HLEN = 8

TCPOPT_EOL, TCPOPT_NOP = 0, 1
TCPOPT_FIXED = {
    2: 4,
    3: 3,
    4: 2,
    8: 10,
    27: 8,
    28: 4,
}  # MSS, window scale, SACK permitted, timestamps, quick-start, UTO
TCPOPT_SACK = 5
TCPOPT_SACK_LENGTHS = frozenset((10, 18, 26, 34))
TCPOPT_MD5 = 19  # RFC 2385
TCPOPT_AO = 29  # RFC 5925: key ids kept, MAC zeroed
TCPOPT_MPTCP = 30
TCPOPT_FASTOPEN = 34  # RFC 7413: the cookie is a MAC of the client's address
TCPOPT_ACCECN = frozenset((172, 174))
TCPOPT_EXPERIMENT = frozenset((253, 254))  # RFC 6994: a 2-byte ExID, then data
TCPOPT_ASSIGNED = frozenset(range(31)) | {34, 69, 172, 174, 253, 254}
MPTCP_ADD_ADDR = 3
MPTCP_KNOWN = frozenset((0, 1, 2, 4, 5, 6, 7, 8))  # capable, join, DSS, remove, prio, fail, fastclose, reset
# ADD_ADDR length -> (address size, port, truncated HMAC): RFC 8684 §3.4.1 (and RFC 6824 without HMAC)
MPTCP_ADD_ADDR_LAYOUT = {
    8: (4, False, False),
    10: (4, True, False),
    16: (4, False, True),
    18: (4, True, True),
    20: (16, False, False),
    22: (16, True, False),
    28: (16, False, True),
    30: (16, True, True),
}


def _payload(m: FrameMap, start: int, end: int) -> None:
    """The TCP/UDP payload ``[start, end)`` of the datagram being walked."""
    if m.quoting:
        if m.quote is not None:
            m.quote = m.quote._replace(payload_start=min(start, end), payload_end=end)
        return m.put(end, R_DATA)
    m.payload_start, m.payload_end = min(start, end), end
    m.put(end, R_PAYLOAD)


def _transport(m: FrameMap, protocol: int, offset: int, ip) -> None:
    if m.quoting:
        m.quote = Quote(protocol, offset, ip.index, 0, 0)
    else:
        m.transport, m.l4, m.ip = protocol, offset, ip.index
        m.payload_start = m.payload_end = 0


def tcp(m: FrameMap, t: int, end: int, ip) -> None:
    """A TCP header at `t`: fixed header, options, then payload up to `end`."""
    data = m.data
    if t + TCP_MIN_HLEN > end:
        if not may_cut(m, end):
            return m.fail(end)
    elif data[t + 12] >> 4 < TCP_MIN_HLEN // 4:
        return m.fail(end)  # a data offset shorter than the header: not TCP, none of it kept
    elif t + (data[t + 12] >> 4) * 4 > end and not may_cut(m, end):
        return m.fail(end, R_OVERRUN)  # a data offset that lies
    _transport(m, IPPROTO_TCP, t, ip)
    m.checksum(t + 16, t, ip.end, CK_TCP, ip.pseudo)
    m.put(t + TCP_MIN_HLEN, R_TCP)
    if t + TCP_MIN_HLEN > end:
        return cut(m, end)
    hlen = (data[t + 12] >> 4) * 4
    stop = t + hlen
    if hlen > TCP_MIN_HLEN:
        mark = m.mark()
        if not tcp_options(m, t + TCP_MIN_HLEN, stop):
            m.rewind(mark)
            return m.fail(end)
    if stop > end:
        return cut(m, end)
    _payload(m, stop, end)


def tcp_options(m: FrameMap, pos: int, stop: int) -> bool:
    """The option area ``[pos, stop)``; False if an option in it is not valid."""
    return options(m, pos, stop, _option, TCPOPT_NOP, R_TCP_OPTION, TCPOPT_EOL, counted=True)


def _option(m: FrameMap, kind: int, pos: int, length: int) -> bool:
    """One option of `kind` and `length` at `pos`; False if the kind was never assigned or the
    length is wrong for it."""
    stop = pos + length
    if kind not in TCPOPT_ASSIGNED:
        return False
    if kind in TCPOPT_FIXED:
        if length != TCPOPT_FIXED[kind]:
            return False
        m.put(stop, R_TCP_OPTION)
    elif kind == TCPOPT_SACK:
        if length not in TCPOPT_SACK_LENGTHS:
            return False
        m.put(stop, R_TCP_OPTION)
    elif kind in TCPOPT_ACCECN:
        m.put(stop, R_TCP_OPTION)
    elif kind == TCPOPT_MD5:
        if length != 18:
            return False
        m.put(pos + 2, R_TCP_OPTION)
        m.put(stop, R_IDENTIFIER)
    elif kind == TCPOPT_AO:
        if length < 4:
            return False
        m.put(pos + 4, R_TCP_OPTION)
        m.put(stop, R_IDENTIFIER)
    elif kind == TCPOPT_FASTOPEN:
        if length != 2 and (length < 6 or length > 18 or length & 1):
            return False
        m.put(pos + 2, R_TCP_OPTION)
        m.put(stop, R_IDENTIFIER)
    elif kind == TCPOPT_MPTCP:
        return _mptcp(m, pos, length)
    elif kind in TCPOPT_EXPERIMENT:
        if length < 4:
            return False
        m.put(pos + 4, R_TCP_OPTION)
        m.put(stop, R_UNKNOWN)
    else:
        m.put(pos + 2, R_TCP_OPTION)
        m.put(stop, R_UNKNOWN)
    return True


def _mptcp(m: FrameMap, pos: int, length: int) -> bool:
    """Multipath TCP (RFC 8684 §3): ADD_ADDR's address mapped and HMAC zeroed; others kept."""
    if length < 3:
        return False
    if pos + 2 >= m.limit:
        m.put(pos + length, R_TRUNCATED)
        return True
    subtype = m.data[pos + 2] >> 4
    if subtype == MPTCP_ADD_ADDR:
        layout = MPTCP_ADD_ADDR_LAYOUT.get(length)
        if layout is None:
            return False
        size, port, hmac = layout
        m.put(pos + 4, R_TCP_OPTION)
        m.address(pos + 4, size, size, A_TCP_OPTION)
        at = pos + 4 + size + 2 * port
        m.put(at, R_TCP_OPTION)
        if hmac:
            m.put(at + 8, R_IDENTIFIER)
    elif subtype in MPTCP_KNOWN:
        m.put(pos + length, R_TCP_OPTION)
    else:
        m.put(pos + 3, R_TCP_OPTION)
        m.put(pos + length, R_UNKNOWN)
    return True


def udp(m: FrameMap, u: int, end: int, ip) -> None:
    """A UDP header at `u`, then its payload: a tunnel's when a handler for its port takes it."""
    data = m.data
    if u + UDP_HLEN > end:
        if not may_cut(m, end):
            return m.fail(end)
    else:
        length = u16(data, u + 4)
        past = u + length > max(end, ip.end) and m.fragment != FRAG_FIRST and not may_cut(m, end)
        if length and (length < UDP_HLEN or past):
            return m.fail(end)  # a length past even what the IP header claims: not UDP, none of it kept
    _transport(m, IPPROTO_UDP, u, ip)
    m.put(u + UDP_HLEN, R_UDP)
    if u + UDP_HLEN > end:
        m.checksum(u + 6, u, ip.end, CK_UDP, ip.pseudo)
        return cut(m, end)
    length = u16(data, u + 4)
    stop = end if length < UDP_HLEN or u + length > end else u + length  # 0: a jumbogram's
    m.checksum(u + 6, u, u + length if length >= UDP_HLEN else ip.end, CK_UDP, ip.pseudo)
    sport, dport = u16(data, u), u16(data, u + 2)
    handler = UDP_PORTS.get(dport) or UDP_SOURCE_PORTS.get(sport)
    if handler is not None:
        mark = m.mark()
        saved = (m.transport, m.l4, m.ip, m.status)
        if within(m, stop, handler, u + UDP_HLEN, stop):
            return m.put(end, R_TRAILER)
        m.rewind(mark)  # its header says it is not that tunnel (a port is only a hint): the datagram's payload
        if not m.quoting:
            m.transport, m.l4, m.ip, m.status = saved
        else:
            m.status = saved[3]
    _payload(m, u + UDP_HLEN, stop)
    m.put(end, R_TRAILER)


def ipip(m: FrameMap, offset: int, end: int, ip) -> None:
    """IPv4 or IPv6 carried directly by IP (RFC 2003, RFC 4213)."""
    network(m, offset, 0x0800, end)


def ipv6_in_ip(m: FrameMap, offset: int, end: int, ip) -> None:
    network(m, offset, 0x86DD, end)


IP_PROTOCOLS.update({IPPROTO_TCP: tcp, IPPROTO_UDP: udp, IPPROTO_IPIP: ipip, IPPROTO_IPV6: ipv6_in_ip})
