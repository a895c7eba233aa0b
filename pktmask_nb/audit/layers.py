"""The audit's own reading of a frame's headers, from the RFCs (SPEC §3, §5, §8).

`read` gives each byte range of an original frame a *class* that says what the sanitized
copy may hold there:

- ``KEPT``: structure without identifiers (lengths, types, ports, MACs): may equal the original;
- ``ADDR``: an address field: must differ from the original unless special (`special`);
- ``CSUM``: a checksum: anything (it follows the bytes it covers);
- ``ZERO``: SPEC §2.4 zeroes it (unknown option data, padding, bytes past a length that
  overruns, trailers): a kept non-zero byte is a finding;
- ``PAY``: a TCP/UDP payload, judged by `~.streams`;
- ``OPEN``: not read by the audit: a kept non-zero byte leaves the verdict undecided.

Bytes no range covers are ``OPEN``. The reading shares no code with the stages: it is a
second, simpler opinion, and where it is unsure it says ``OPEN`` rather than guess.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

KEPT, ADDR, CSUM, ZERO, PAY, OPEN = range(6)
CLASS_NAMES = ("kept", "address", "checksum", "zero", "payload", "open")

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
ETH_ARPS = frozenset((0x0806, 0x8035))  # ARP, RARP (RFC 826, 903)
ETH_VLANS = frozenset((0x8100, 0x88A8, 0x9100))
ETH_MPLS = frozenset((0x8847, 0x8848))
ETH_PPPOE_DISCOVERY, ETH_PPPOE_SESSION = 0x8863, 0x8864
ETH_TEB = 0x6558  # transparent Ethernet bridging (GRE, NVGRE)
ETH_LLDP = 0x88CC
LLC_SNAP, LLC_STP = b"\xaa\xaa\x03", b"\x42\x42\x03"  # RFC 1042; IEEE 802.1D
STP_BPDU = 36  # protocol id ... forward delay, and RSTP's version 1 length (802.1D-2004 §9.3)
OUI_CISCO, CDP_PID = b"\x00\x00\x0c", 0x2000
CDP_KEPT = frozenset((0x0004, 0x000A, 0x000B))  # capabilities, native VLAN, duplex
CDP_ADDRESSES = frozenset((0x0002, 0x0016))  # addresses, management addresses
LLDP_KEPT = frozenset((3, 7))  # time to live, system capabilities (IEEE 802.1AB §8.5)
LLDP_CHASSIS, LLDP_PORT, LLDP_MANAGEMENT, LLDP_ORGANIZATION = 1, 2, 8, 127
PROTO_ICMP, PROTO_IPIP, PROTO_TCP, PROTO_UDP, PROTO_IPV6, PROTO_GRE = 1, 4, 6, 17, 41, 47
PROTO_ESP, PROTO_AH, PROTO_ICMPV6, PROTO_NONE, PROTO_MOBILITY, PROTO_HIP = 50, 51, 58, 59, 135, 139
IPV6_OPTIONS_HEADERS = frozenset((0, 60))  # hop-by-hop, destination options
IPV6_ROUTING, IPV6_FRAGMENT = 43, 44
UDP_VXLAN, UDP_VXLAN_LINUX, UDP_VXLAN_GPE, UDP_GENEVE, UDP_GTPU = 4789, 8472, 4790, 6081, 2152
UDP_TEREDO, UDP_L2TP, UDP_GRE, UDP_MPLS = 3544, 1701, 4754, 6635
MAX_DEPTH = 8

# IPv4 options (RFC 791, 1393, 2113): type -> data that is plain structure after type and length
# probe and reply MTU, quick-start, basic security, stream id, router alert
IPV4_OPTIONS_KEPT = frozenset((11, 12, 25, 130, 136, 148))
IPV4_RR, IPV4_LSRR, IPV4_SSRR, IPV4_TS, IPV4_TRACEROUTE = 7, 131, 137, 68, 82
# TCP options (RFC 9293, 7323, 2018, 6691, 5482): kinds whose value is plain structure
TCP_OPTIONS_KEPT = frozenset((2, 3, 4, 5, 8, 28))  # MSS, window scale, SACK permitted, SACK, timestamps, UTO
TCP_MPTCP = 30
# IPv6 options (RFC 8200, 2711, 2675): Pad1, PadN, router alert, jumbo payload, home address
IPV6_PAD1, IPV6_PADN, IPV6_HOME_ADDRESS = 0, 1, 0xC9
IPV6_OPTIONS_KEPT = frozenset((0x05, 0xC2))
# PPP (RFC 1661, 1332): protocol -> option types whose values are parameters, and address options
PPP_IPV4, PPP_IPV6, PPP_LCP, PPP_IPCP, PPP_PAP, PPP_CHAP = 0x0021, 0x0057, 0xC021, 0x8021, 0xC023, 0xC223
PPP_IPV6CP, PPP_CCP = 0x8057, 0x80FD  # RFC 5072, 1962
PPP_OPTIONS_KEPT = {
    PPP_LCP: frozenset((1, 2, 3, 4, 7, 8)),  # MRU, ACCM, auth and quality protocols, PFC, ACFC (not the magic number)
    PPP_IPCP: frozenset((2,)),  # IP compression protocol
    PPP_IPV6CP: frozenset((2,)),  # compression protocol (not the interface identifier)
    PPP_CCP: frozenset(range(256)),  # compression parameters
}
PPP_ADDRESS_OPTIONS = {PPP_IPCP: frozenset((3, 129, 130, 131, 132))}
# ICMP (RFC 792, 4443): types with a quoted datagram after 8 bytes
ICMP_ERRORS = frozenset((3, 4, 5, 11, 12))
ICMPV6_ERRORS = frozenset((1, 2, 3, 4))
ICMP_ECHO = frozenset((0, 8))
ICMPV6_ECHO = frozenset((128, 129))
ICMP_REDIRECT = 5
ICMPV6_ND = {133: 8, 134: 16, 135: 24, 136: 24, 137: 40}  # message -> where its options start
ICMPV6_ND_TARGETS = {135: (8,), 136: (8,), 137: (8, 24)}
ICMPV6_MLD, ICMPV6_MLD2_REPORT = frozenset((130, 131, 132)), 143  # RFC 2710, 3810
ND_LINK_ADDRESS, ND_PREFIX, ND_REDIRECTED, ND_MTU = (1, 2), 3, 4, 5

# SPEC §5: what the anonymizer keeps unchanged by default
SPECIAL = tuple(
    ipaddress.ip_network(n)
    for n in ("0.0.0.0/32", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "255.255.255.255/32")
    + ("::/128", "::1/128", "fe80::/10", "ff00::/8")
)
SOLICITED_NODE = ipaddress.ip_network("ff02::1:ff00:0/104")  # its low 24 bits are a unicast address's


def special(value: bytes) -> bool:
    """Whether an address is in a range SPEC §5 keeps unchanged (``--anon-keep special``)."""
    address = ipaddress.ip_address(bytes(value))
    if address in SOLICITED_NODE:
        return False
    return any(address in net for net in SPECIAL if net.version == address.version)


class Segment(NamedTuple):
    """A TCP/UDP payload as the audit reads it."""

    protocol: int
    key: tuple  # (source, destination, sport, dport): address bytes and ports
    seq: int  # TCP only (else 0), as flags
    flags: int
    start: int
    end: int


class Frame:
    """What `read` found in one frame.

    Attributes
    ----------
    regions : list of (start, end, cls, label)
        In order, not overlapping; a byte outside all of them is ``OPEN``.
    payload : Segment or None
        The innermost TCP/UDP payload.
    quotes : list of Segment
        TCP payloads quoted by ICMP errors.
    l3 : int
        Offset of the first IP header (-1 if none).
    """

    __slots__ = ("data", "n", "cut", "limit", "regions", "macs", "payload", "quotes", "l3", "_quoted", "_depth")

    def __init__(self, data, cut: bool = False):
        self.data = data
        self.cut = cut  # the capture cut the frame short: lengths past its end are not lies
        self.n = self.limit = len(data)  # `limit`: the end of what the current reader may describe
        self.regions: list[tuple[int, int, int, str]] = []
        self.macs: list[int] = []  # offsets of whole 6-byte hardware addresses (kept regions)
        self.payload = None
        self.quotes: list[Segment] = []
        self.l3 = -1
        self._quoted = 0
        self._depth = 0

    def add(self, start: int, end: int, cls: int, label: str) -> None:
        end = min(end, self.limit)
        if start < end:
            self.regions.append((start, end, cls, label))

    def mac(self, at: int, count: int = 1) -> None:
        """`count` 6-byte hardware addresses at `at` (inside a kept region)."""
        self.macs += [at + 6 * i for i in range(count) if at + 6 * (i + 1) <= self.limit]

    def addresses(self) -> list[tuple[int, int]]:
        """``(offset, size)`` of every whole 4- or 16-byte address field."""
        return [(s, e - s) for s, e, c, _ in self.regions if c == ADDR and e - s in (4, 16)]

    def class_at(self, offset: int) -> tuple[int, str]:
        for start, end, cls, label in self.regions:
            if start <= offset < end:
                return cls, label
        return OPEN, "not read by the audit"

    def within(self, end: int, reader, *args) -> None:
        """Call ``reader(self, *args)`` with what it may describe bounded to `end`."""
        limit = self.limit
        self.limit = min(limit, end)
        reader(self, *args)
        self.limit = limit


def u16(data, at: int) -> int:
    return (data[at] << 8) | data[at + 1]


def read(data, linktype: int, wirelen: int | None = None) -> Frame:
    """The regions of one frame captured on `linktype` (`wirelen` long on the wire)."""
    f = Frame(data, wirelen is not None and wirelen > len(data))
    n = f.n
    if linktype == 1:
        _ethernet(f, 0, n)
    elif linktype in (101, 12, 14, 228, 229):
        _ip_by_version(f, 0, n)
    elif linktype == 113 and n >= 16:  # Linux cooked (SLL): address, protocol
        f.add(0, 16, KEPT, "linux cooked header")
        if u16(data, 4) == 6:
            f.mac(6)
        _cooked(f, 16, n, u16(data, 14))
    elif linktype == 276 and n >= 20:  # SLL2
        f.add(0, 20, KEPT, "linux cooked header")
        if data[11] == 6:
            f.mac(12)
        _cooked(f, 20, n, u16(data, 0))
    elif linktype in (0, 108) and n >= 4:  # BSD loopback: the address family in host or network order
        family = int.from_bytes(data[:4], "little" if data[0] else "big")
        f.add(0, 4, KEPT, "loopback header")
        if family == 2:
            _ipv4(f, 4, n)
        elif family in (24, 28, 30):
            _ipv6(f, 4, n)
    elif linktype == 105:
        _wlan(f, 0)
    elif linktype == 127 and n >= 8:  # radiotap: its length, little-endian, then 802.11
        length = data[2] | data[3] << 8
        if length < 8 or length > n:
            f.add(0, 4, KEPT, "radiotap header")
            f.add(4, n, ZERO, "bytes past the radiotap length")
        else:
            f.add(0, length, KEPT, "radiotap header")
            _wlan(f, length)
    else:
        f.add(0, n, OPEN, f"link type {linktype}")
    f.regions.sort()
    return f


# -- link layers --------------------------------------------------------------------------


def _cooked(f: Frame, at: int, end: int, protocol: int) -> None:
    """What a Linux cooked header's protocol field announces: an EtherType or 802.2 LLC (4)."""
    if protocol == 4:
        _llc(f, at, end)
    else:
        _ethertype(f, at, end, protocol)


def _wlan(f: Frame, at: int) -> None:
    """An 802.11 MAC header (IEEE 802.11-2020 §9.2, §9.3): kept (addresses are MACs); the body,
    not read by the pipeline either, must be zero."""
    data, n = f.data, f.n
    if at + 2 > n:
        return f.add(at, n, KEPT, "802.11 header")
    control, kind, subtype = data[at + 1], (data[at] >> 2) & 3, data[at] >> 4
    if kind == 1:  # control frames: fixed fields only
        size = 10 if subtype in (12, 13) else 16 if subtype in (10, 11, 14, 15) else 20 if subtype in (8, 9) else 10
    else:
        size = 24 + (6 if kind == 2 and control & 3 == 3 else 0)
        size += 2 if kind == 2 and subtype & 8 else 0  # QoS control
        size += 4 if control & 0x80 and (kind == 0 or subtype & 8) else 0  # HT control
    f.add(at, at + size, KEPT, "802.11 header")
    if kind == 1:
        f.mac(at + 4, 2 if size >= 16 else 1)  # receiver, transmitter
    else:
        f.mac(at + 4, 3)
        if kind == 2 and control & 3 == 3:
            f.mac(at + 24)  # a fourth address, after the sequence control
    f.add(at + size, n, ZERO, "802.11 body")


def _ethernet(f: Frame, at: int, end: int) -> None:
    if at + 14 > end:
        return f.add(at, end, KEPT, "ethernet header")
    f.add(at, at + 14, KEPT, "ethernet header")  # MACs are kept unless MAC anonymization runs (SPEC §5)
    f.mac(at, 2)
    kind = u16(f.data, at + 12)
    if kind >= 0x600:
        return _ethertype(f, at + 14, end, kind)
    stop = min(end, at + 14 + kind)  # an 802.3 length
    _llc(f, at + 14, stop)
    f.add(stop, end, ZERO, "trailer")


def _llc(f: Frame, at: int, end: int) -> None:
    """IEEE 802.2 LLC: SNAP with an EtherType (RFC 1042) or Cisco's CDP; spanning tree BPDUs
    (bridge ids are priorities and MACs); the rest of other LLC frames is not kept."""
    data, head = f.data, bytes(f.data[at : at + 3])
    if head == LLC_SNAP and at + 8 <= end:
        f.add(at, at + 8, KEPT, "llc snap header")
        oui, pid = bytes(data[at + 3 : at + 6]), u16(data, at + 6)
        if oui == b"\0\0\0":
            return _ethertype(f, at + 8, end, pid)
        if oui == OUI_CISCO and pid == CDP_PID:
            return _cdp(f, at + 8, end)
        return f.add(at + 8, end, ZERO, "snap payload")
    if head == LLC_STP:
        f.add(at, min(end, at + 3 + STP_BPDU), KEPT, "spanning tree bpdu")
        if at + 3 + 25 <= end and data[at + 6] in (0x00, 0x02):  # configuration and RST BPDUs
            f.mac(at + 3 + 7)  # root and bridge identifiers: a priority, then a MAC
            f.mac(at + 3 + 19)
        return f.add(at + 3 + STP_BPDU, end, ZERO, "spanning tree extension")
    f.add(at, at + 3, KEPT, "llc header")
    f.add(at + 3, end, ZERO, "llc payload")


def _lldp(f: Frame, at: int, end: int) -> None:
    """LLDP (IEEE 802.1AB §8): every TLV's type and length; the values of TTL and capabilities,
    the subtypes of chassis and port ids, an organisation's OUI and subtype, and of a management
    address its lengths, subtype, the address (an address field) and interface number."""
    data, pos = f.data, at
    while pos + 2 <= end:
        kind, length = data[pos] >> 1, ((data[pos] & 1) << 8) | data[pos + 1]
        value, stop = pos + 2, min(end, pos + 2 + length)
        f.add(pos, value, KEPT, "lldp tlv header")
        kept = {LLDP_CHASSIS: 1, LLDP_PORT: 1, LLDP_ORGANIZATION: 4}.get(kind, length if kind in LLDP_KEPT else 0)
        if kind == LLDP_MANAGEMENT and length >= 2 and value + 2 <= stop:  # its two lengths are there
            size = data[value]  # the address string: subtype and address
            address = value + 2
            f.add(value, address, KEPT, "lldp management address subtype")
            family = {1: 4, 2: 16}.get(data[value + 1])
            f.add(address, min(stop, value + 1 + size), ADDR if family == size - 1 else ZERO, "lldp management address")
            tail = value + 1 + size
            f.add(tail, min(stop, tail + 5), KEPT, "lldp interface number")
            f.add(tail + 5, stop, ZERO, "lldp object identifier")
        else:
            f.add(value, min(stop, value + kept), KEPT, "lldp value")
            f.add(value + kept, stop, ZERO, "lldp value")
        pos = value + length
        if kind == 0:  # end of LLDPDU
            break
    f.add(min(pos, end), end, ZERO, "trailer")


def _cdp(f: Frame, at: int, end: int) -> None:
    """Cisco Discovery Protocol: version and TTL, the checksum; each TLV's type and length, the
    values of capabilities, native VLAN and duplex, the IP addresses in address TLVs."""
    data = f.data
    f.add(at, at + 2, KEPT, "cdp header")
    f.add(at + 2, at + 4, CSUM, "cdp checksum")
    pos = at + 4
    while pos + 4 <= end and u16(data, pos + 2) >= 4:
        kind, stop = u16(data, pos), min(end, pos + u16(data, pos + 2))
        f.add(pos, pos + 4, KEPT, "cdp tlv header")
        if kind in CDP_KEPT:
            f.add(pos + 4, stop, KEPT, "cdp value")
        else:
            done = _cdp_addresses(f, pos + 4, stop) if kind in CDP_ADDRESSES else pos + 4
            f.add(done, stop, ZERO, "cdp value")
        pos = stop
    f.add(pos, end, ZERO, "bytes after the cdp tlvs")


def _cdp_addresses(f: Frame, pos: int, stop: int) -> int:
    """A count, then addresses: protocol type, length, protocol, address length, address.
    Returns where the reading stopped."""
    data = f.data
    if pos + 4 > stop:
        return pos
    f.add(pos, pos + 4, KEPT, "cdp address count")
    pos += 4
    for _ in range(int.from_bytes(data[pos - 4 : pos], "big")):
        head = pos + 2 + data[pos + 1] if pos + 2 <= stop else stop
        if head + 2 > stop:
            break
        size = u16(data, head)
        f.add(pos, head + 2, KEPT, "cdp address protocol")
        ip = bytes(data[pos : pos + 3]) == b"\x01\x01\xcc" and size == 4
        f.add(head + 2, min(stop, head + 2 + size), ADDR if ip else ZERO, "cdp address")
        pos = min(stop, head + 2 + size)
    return pos


def _ethertype(f: Frame, at: int, end: int, kind: int) -> None:
    data = f.data
    f._depth += 1
    if f._depth > MAX_DEPTH:
        return
    if kind in ETH_VLANS:
        if at + 4 <= end:
            f.add(at, at + 4, KEPT, "vlan tag")
            _ethertype(f, at + 4, end, u16(data, at + 2))
    elif kind in ETH_MPLS:
        while at + 4 <= end:
            f.add(at, at + 4, KEPT, "mpls label")
            at += 4
            if data[at - 2] & 1:  # bottom of stack: IP by its version, or a pseudowire control word
                if at < end and data[at] >> 4 == 0:
                    f.add(at, at + 4, KEPT, "pseudowire control word")
                    return _ethernet(f, at + 4, end)
                return _ip_by_version(f, at, end)
    elif kind == ETH_PPPOE_SESSION:
        if at + 8 <= end and data[at] == 0x11 and data[at + 1] == 0:
            f.add(at, at + 6, KEPT, "pppoe header")
            stop = min(end, at + 6 + u16(data, at + 4))
            _ppp(f, at + 6, stop)
            f.add(stop, end, ZERO, "trailer")
    elif kind == ETH_PPPOE_DISCOVERY and at + 6 <= end:  # RFC 2516 §5: tag values are names, cookies, ids
        f.add(at, at + 6, KEPT, "pppoe discovery header")
        stop, pos = min(end, at + 6 + u16(data, at + 4)), at + 6
        while pos + 4 <= stop:
            f.add(pos, pos + 4, KEPT, "pppoe tag")
            f.add(pos + 4, min(stop, pos + 4 + u16(data, pos + 2)), ZERO, "pppoe tag value")
            pos += 4 + u16(data, pos + 2)
        f.add(max(pos, stop), end, ZERO, "trailer")
    elif kind == ETH_IPV4:
        _ipv4(f, at, end)
    elif kind == ETH_IPV6:
        _ipv6(f, at, end)
    elif kind in ETH_ARPS:
        _arp(f, at, end)
    elif kind == ETH_LLDP:
        _lldp(f, at, end)


def _ppp(f: Frame, at: int, end: int) -> None:
    """A PPP frame (RFC 1661): address and control (if there), the protocol, what it carries."""
    data = f.data
    if bytes(data[at : at + 2]) == b"\xff\x03":
        f.add(at, at + 2, KEPT, "ppp address and control")
        at += 2
    if at + 2 > end:
        return f.add(at, end, KEPT, "ppp protocol")
    size = 1 if data[at] & 1 else 2  # protocol field compression (§6.5)
    protocol = data[at] if size == 1 else u16(data, at)
    f.add(at, at + size, KEPT, "ppp protocol")
    body = at + size
    if protocol == PPP_IPV4:
        return _ipv4(f, body, end)
    if protocol == PPP_IPV6:
        return _ipv6(f, body, end)
    if protocol in (PPP_PAP, PPP_CHAP) and body + 4 <= end:
        return _ppp_authentication(f, protocol, body, min(end, body + u16(data, body + 2)))
    if protocol not in PPP_OPTIONS_KEPT or body + 4 > end:
        return
    f.add(body, body + 4, KEPT, "ppp control header")
    if not 1 <= data[body] <= 4:  # only Configure-Request/Ack/Nak/Reject carry options
        return
    stop = min(end, body + u16(data, body + 2))
    pos = body + 4
    while pos + 2 <= stop:
        kind, length = data[pos], data[pos + 1]
        if length < 2 or pos + length > stop:
            return f.add(pos, stop, ZERO, "ppp option past its packet")
        f.add(pos, pos + 2, KEPT, "ppp option")
        if kind in PPP_OPTIONS_KEPT[protocol]:
            f.add(pos + 2, pos + length, KEPT, "ppp option value")
        elif kind in PPP_ADDRESS_OPTIONS.get(protocol, ()) and length == 6:
            f.add(pos + 2, pos + 6, ADDR, "ipcp address")
        else:
            f.add(pos + 2, pos + length, ZERO, f"ppp option {kind} value")
        pos += length


def _ppp_authentication(f: Frame, protocol: int, at: int, stop: int) -> None:
    """PAP (RFC 1334 §2.2) and CHAP (RFC 1994 §4): lengths kept; names, passwords, digests zeroed."""
    data, code = f.data, f.data[at]
    f.add(at, at + 4, KEPT, "ppp authentication header")
    pos = at + 4
    if protocol == PPP_PAP and code == 1:  # Authenticate-Request: peer id and password, each after its length
        for label in ("pap peer id", "pap password"):
            if pos >= stop:
                return
            size = data[pos]
            f.add(pos, pos + 1, KEPT, f"{label} length")
            f.add(pos + 1, pos + 1 + size, ZERO, label)
            pos += 1 + size
    elif protocol == PPP_CHAP and code in (1, 2) and pos < stop:  # Challenge, Response: value size, value, name
        f.add(pos, pos + 1, KEPT, "chap value size")
        f.add(pos + 1, pos + 1 + data[pos], ZERO, "chap value")
        pos += 1 + data[pos]
    elif protocol == PPP_PAP and pos < stop:  # Ack, Nak: message length, message
        f.add(pos, pos + 1, KEPT, "pap message length")
        pos += 1
    f.add(pos, stop, ZERO, "ppp authentication data")


def _arp(f: Frame, at: int, end: int) -> None:
    data = f.data
    if at + 8 > end:
        return
    hlen, plen = data[at + 4], data[at + 5]
    f.add(at, at + 8, KEPT, "arp header")
    pos = at
    for _ in range(2):
        f.add(pos + 8, pos + 8 + hlen, KEPT, "arp hardware address")
        if hlen == 6:
            f.mac(pos + 8)
        if plen in (4, 16):
            f.add(pos + 8 + hlen, pos + 8 + hlen + plen, ADDR, "arp protocol address")
        pos += hlen + plen
    f.add(at + 8 + 2 * (hlen + plen), end, ZERO, "trailer")


# -- IP ------------------------------------------------------------------------------------


def _ip_by_version(f: Frame, at: int, end: int) -> None:
    if at < end:
        version = f.data[at] >> 4
        if version == 4:
            _ipv4(f, at, end)
        elif version == 6:
            _ipv6(f, at, end)


def _ipv4(f: Frame, at: int, end: int) -> None:
    data = f.data
    if f.l3 < 0 and not f._quoted:
        f.l3 = at
    if at + 20 > f.limit or data[at] >> 4 != 4:
        f.add(at, at + 10, KEPT, "ipv4 header")
        f.add(at + 10, at + 12, CSUM, "ipv4 checksum")
        return f.add(at + 12, end, ZERO, "address cut short")  # SPEC §3: zeroed where it cannot be rewritten
    hlen = (data[at] & 15) * 4
    total = u16(data, at + 2) or (end - at)  # 0: segmentation offload
    f.add(at, at + 10, KEPT, "ipv4 header")
    f.add(at + 10, at + 12, CSUM, "ipv4 checksum")
    f.add(at + 12, at + 16, ADDR, "ipv4 source")
    f.add(at + 16, at + 20, ADDR, "ipv4 destination")
    if hlen < 20 or total < hlen or (at + hlen > end and not f.cut and not f._quoted):
        return f.add(at + 20, end, ZERO, "bytes after an ipv4 header that does not parse")
    stop = min(end, at + total)
    if hlen > 20:
        options_end = min(at + hlen, stop)
        failed = _options(f, at + 20, options_end, "ipv4", _ipv4_option)
        if failed >= 0:
            f.add(failed, options_end, ZERO, "ipv4 options after an invalid length")
    fragment = u16(data, at + 6)
    if fragment & 0x1FFF:
        f.add(at + hlen, stop, ZERO, "non-first fragment")
    elif at + hlen <= stop:
        addresses = (data[at + 12 : at + 16], data[at + 16 : at + 20])
        f.within(stop, _ip_payload, data[at + 9], at + hlen, stop, addresses)
    if not f._quoted:
        f.add(stop, end, ZERO, "trailer")


def _options(f: Frame, pos: int, stop: int, name: str, value, *, single=(1,), end=0, strict=False) -> int:
    """A list of type-length-value options (IPv4 RFC 791 §3.1, TCP RFC 9293 §3.1; IPv6 RFC 8200
    §4.2 with ``end=None``, ``single=(0,)`` and a length that leaves out the two header bytes):
    each type and length kept, each value classed by ``value(f, kind, start, stop)``. After
    the `end` option only zero may follow (`strict`: else the list does not parse).

    Returns -1, or the offset where the list stops parsing (the caller decides what follows)."""
    data, header = f.data, 2 if end is None else 0
    while pos < min(stop, f.limit):
        kind = data[pos]
        if kind == end:
            if strict and any(data[pos + 1 : min(stop, f.limit)]):
                return pos
            f.add(pos, pos + 1, KEPT, f"{name} option end")
            f.add(pos + 1, stop, ZERO, f"{name} option padding")
            return -1
        if kind in single:
            f.add(pos, pos + 1, KEPT, f"{name} option")
            pos += 1
            continue
        length = data[pos + 1] + header if pos + 1 < f.limit else 2
        if length < 2 or pos + length > stop:
            return pos
        f.add(pos, pos + 2, KEPT, f"{name} option {kind}")
        value(f, kind, pos + 2, pos + length)
        pos += length
    return -1


def _ipv4_option(f: Frame, kind: int, body: int, stop: int) -> None:
    """The value of an IPv4 option: route and timestamp addresses are address fields."""
    data = f.data
    if kind in (IPV4_RR, IPV4_LSRR, IPV4_SSRR):
        f.add(body, body + 1, KEPT, "ipv4 route pointer")
        pointer = data[body] if body < f.limit else 0
        for slot in range(body + 1, stop - 3, 4):
            recorded = kind != IPV4_RR or slot - body + 2 < pointer - 1
            f.add(slot, slot + 4, ADDR if recorded else ZERO, "ipv4 route address")
    elif kind == IPV4_TS and stop - body >= 2:
        f.add(body, body + 2, KEPT, "ipv4 timestamp pointer and flags")
        flag = data[body + 1] & 15 if body + 1 < f.limit else 0
        step = 4 if flag == 0 else 8
        for slot in range(body + 2, stop - step + 1, step):
            if flag:
                f.add(slot, slot + 4, ADDR, "ipv4 timestamp address")
            f.add(slot + step - 4, slot + step, KEPT, "ipv4 timestamp")
    elif kind == IPV4_TRACEROUTE and stop - body == 10:
        f.add(body, body + 6, KEPT, "ipv4 traceroute")
        f.add(body + 6, body + 10, ADDR, "ipv4 traceroute originator")
    elif kind in IPV4_OPTIONS_KEPT:
        f.add(body, stop, KEPT, f"ipv4 option {kind}")
    else:
        f.add(body, stop, ZERO, f"ipv4 option {kind} data")


def _ipv6(f: Frame, at: int, end: int) -> None:
    data = f.data
    if f.l3 < 0 and not f._quoted:
        f.l3 = at
    f.add(at, at + 8, KEPT, "ipv6 header")
    if at + 40 > f.limit:
        return f.add(at + 8, end, ZERO, "address cut short")
    f.add(at + 8, at + 24, ADDR, "ipv6 source")
    f.add(at + 24, at + 40, ADDR, "ipv6 destination")
    stop = min(end, at + 40 + u16(data, at + 4)) if u16(data, at + 4) else end
    src, dst = data[at + 8 : at + 24], data[at + 24 : at + 40]
    nxt, pos = data[at + 6], at + 40
    for _ in range(MAX_DEPTH):
        if nxt in IPV6_OPTIONS_HEADERS or nxt == IPV6_ROUTING:
            if pos + 8 > stop:
                f.add(pos, pos + 2, KEPT, "ipv6 extension header")
                return f.add(pos + 2, end, ZERO, "bytes past an ipv6 extension header's length")
            size = (data[pos + 1] + 1) * 8
            f.add(pos, pos + 2, KEPT, "ipv6 extension header")
            if pos + size > stop:
                return f.add(pos + 2, end, ZERO, "bytes past an ipv6 extension header's length")
            if nxt == IPV6_ROUTING:
                if not _ipv6_routing(f, pos, pos + size):
                    f.add(pos + 2, pos + size, OPEN, f"ipv6 routing header type {data[pos + 2]}")
            else:
                failed = _options(f, pos + 2, pos + size, "ipv6", _ipv6_option, single=(IPV6_PAD1,), end=None)
                if failed >= 0:
                    f.add(failed, pos + size, ZERO, "ipv6 options after an invalid length")
            nxt, pos = data[pos], pos + size
        elif nxt == PROTO_AH:
            size = _ah(f, pos, stop)
            if size < 0:
                return f.add(pos, end, ZERO, "bytes past an authentication header's length")
            nxt, pos = data[pos], pos + size
        elif nxt == IPV6_FRAGMENT:
            if pos + 8 > stop:
                return f.add(pos, end, ZERO, "bytes past an ipv6 extension header's length")
            f.add(pos, pos + 8, KEPT, "ipv6 fragment header")
            if u16(data, pos + 2) & 0xFFF8:
                f.add(pos + 8, stop, ZERO, "non-first fragment")
                break
            nxt, pos = data[pos], pos + 8
        else:
            if nxt != PROTO_NONE:
                f.within(stop, _ip_payload, nxt, pos, stop, (src, dst))
            break
    if not f._quoted:
        f.add(stop, end, ZERO, "trailer")


def _ipv6_option(f: Frame, kind: int, value: int, stop: int) -> None:
    """The value of an IPv6 hop-by-hop or destination option."""
    if kind == IPV6_PADN:
        f.add(value, stop, ZERO, "ipv6 padding")
    elif kind == IPV6_HOME_ADDRESS and stop - value == 16:
        f.add(value, stop, ADDR, "ipv6 home address")
    elif kind in IPV6_OPTIONS_KEPT:
        f.add(value, stop, KEPT, f"ipv6 option {kind:#x}")
    else:
        f.add(value, stop, ZERO, f"ipv6 option {kind:#x} data")


def _ah(f: Frame, at: int, stop: int) -> int:
    """An authentication header (RFC 4302 §2): its size, or -1 if it overruns; the ICV, a keyed
    digest of the original packet, must be zero."""
    if at + 12 > stop:
        return -1
    size = (f.data[at + 1] + 2) * 4
    if size < 12 or at + size > stop:
        return -1
    f.add(at, at + 12, KEPT, "authentication header")
    f.add(at + 12, at + size, ZERO, "authentication icv")
    return size


def _mobility(f: Frame, at: int, end: int) -> None:
    """A Mobility Header (RFC 6275 §6.1): binding update, acknowledgement and error; options."""
    data = f.data
    if at + 6 > end:
        return f.add(at, end, ZERO, "bytes past a mobility header's length")
    size = (data[at + 1] + 1) * 8
    stop = min(end, at + size)
    f.add(at, at + 4, KEPT, "mobility header")
    f.add(at + 4, at + 6, CSUM, "mobility checksum")
    kind, pos = data[at + 2], at + 6
    if kind == 5 or kind == 6:  # binding update / acknowledgement: sequence, flags, lifetime
        f.add(pos, pos + 6, KEPT, "mobility binding")
        pos += 6
    elif kind == 7:  # binding error: status, reserved, home address
        f.add(pos, pos + 2, KEPT, "mobility binding error")
        f.add(pos + 2, pos + 18, ADDR, "mobility home address")
        pos += 18
    else:
        return f.add(pos, stop, OPEN, f"mobility message {kind}")
    while pos < stop:  # options (§6.2): Pad1, PadN, alternate care-of address
        if data[pos] == 0:
            f.add(pos, pos + 1, KEPT, "mobility option")
            pos += 1
            continue
        if pos + 2 > stop or pos + 2 + data[pos + 1] > stop:
            return f.add(pos, stop, ZERO, "mobility options after an invalid length")
        kind, length = data[pos], data[pos + 1]
        f.add(pos, pos + 2, KEPT, f"mobility option {kind}")
        if kind == 3 and length == 16:
            f.add(pos + 2, pos + 18, ADDR, "mobility alternate care-of address")
        else:
            f.add(pos + 2, pos + 2 + length, ZERO if kind == 1 else OPEN, f"mobility option {kind}")
        pos += 2 + length
    f.add(stop, end, ZERO, "trailer")


def _hip(f: Frame, at: int, end: int) -> None:
    """HIP (RFC 7401 §5): the fixed header; the HITs, hashes of host keys, must be zero; the
    LOCATOR_SET (RFC 8046 §4) addresses; other parameters are not read."""
    data = f.data
    if at + 40 > end:
        return f.add(at, end, ZERO, "bytes past a hip header's length")
    stop = min(end, at + (data[at + 1] + 1) * 8)
    f.add(at, at + 4, KEPT, "hip header")
    f.add(at + 4, at + 6, CSUM, "hip checksum")
    f.add(at + 6, at + 8, KEPT, "hip controls")
    f.add(at + 8, at + 40, ZERO, "hip host identity tags")
    pos = at + 40
    while pos + 4 <= stop:
        kind, length = u16(data, pos), u16(data, pos + 2)
        size = (4 + length + 7) // 8 * 8
        if pos + size > stop:
            return f.add(pos, stop, ZERO, "hip parameters after an invalid length")
        f.add(pos, pos + 4, KEPT, f"hip parameter {kind}")
        if kind == 193:  # LOCATOR_SET
            item = pos + 4
            while item + 8 <= pos + 4 + length:
                size_item = 8 + data[item + 2] * 4
                f.add(item, item + 8, KEPT, "hip locator header")
                if data[item + 2] == 4:
                    f.add(item + 8, item + 24, ADDR, "hip locator")
                elif data[item + 2] == 5:
                    f.add(item + 8, item + 12, KEPT, "hip locator spi")
                    f.add(item + 12, item + 28, ADDR, "hip locator")
                else:
                    f.add(item + 8, item + size_item, OPEN, "hip locator")
                item += size_item
            f.add(item, pos + size, ZERO, "hip padding")
        else:
            f.add(pos + 4, pos + size, OPEN, f"hip parameter {kind}")
        pos += size
    f.add(pos, end, ZERO, "trailer")


def _ipv6_routing(f: Frame, pos: int, stop: int) -> bool:
    """Routing types 0 and 2 (RFC 8200, 6275) and segment routing (RFC 8754); False for others."""
    data = f.data
    kind = data[pos + 2]
    if kind in (0, 2):
        f.add(pos + 2, pos + 8, KEPT, "ipv6 routing header")
        for slot in range(pos + 8, stop - 15, 16):
            f.add(slot, slot + 16, ADDR, "ipv6 route address")
        return (stop - pos - 8) % 16 == 0
    if kind == 3:  # RPL source route (RFC 6554 §3): addresses with CmprI/CmprE bytes elided
        elided_i, elided_e, pad = data[pos + 4] >> 4, data[pos + 4] & 15, data[pos + 5] >> 4
        area = stop - pos - 8 - pad
        each, last = 16 - elided_i, 16 - elided_e
        if area < last or (area - last) % each:
            return False
        f.add(pos + 2, pos + 8, KEPT, "rpl source route header")
        at = pos + 8
        for _ in range((area - last) // each):
            f.add(at, at + each, ADDR, "rpl address")
            at += each
        f.add(at, at + last, ADDR, "rpl address")
        f.add(at + last, stop, ZERO, "rpl padding")
        return True
    if kind == 4:
        last = (data[pos + 4] + 1) * 16 + pos + 8
        if last > stop:
            return False
        f.add(pos + 2, pos + 8, KEPT, "segment routing header")
        for slot in range(pos + 8, last, 16):
            f.add(slot, slot + 16, ADDR, "segment")
        f.add(last, stop, OPEN, "segment routing tlvs")
        return True
    return False


def _ip_payload(f: Frame, protocol: int, at: int, end: int, addresses) -> None:
    f._depth += 1
    if f._depth > MAX_DEPTH:
        return
    if protocol == PROTO_TCP:
        _tcp(f, at, end, addresses)
    elif protocol == PROTO_UDP:
        _udp(f, at, end, addresses)
    elif protocol == PROTO_ICMP:
        _icmp(f, at, end, ICMP_ERRORS, ICMP_ECHO)
    elif protocol == PROTO_ICMPV6:
        _icmp(f, at, end, ICMPV6_ERRORS, ICMPV6_ECHO)
    elif protocol == PROTO_IPIP:
        _ipv4(f, at, end)
    elif protocol == PROTO_IPV6:
        _ipv6(f, at, end)
    elif protocol == PROTO_GRE:
        _gre(f, at, end)
    elif protocol == PROTO_AH:
        size = _ah(f, at, end)
        if size < 0:
            return f.add(at, end, ZERO, "bytes past an authentication header's length")
        _ip_payload(f, f.data[at], at + size, end, addresses)
    elif protocol == PROTO_ESP:  # RFC 4303: SPI and sequence number, then ciphertext
        f.add(at, at + 8, KEPT, "esp header")
        f.add(at + 8, end, ZERO, "esp payload (encrypted)")
    elif protocol == PROTO_MOBILITY:
        _mobility(f, at, end)
    elif protocol == PROTO_HIP:
        _hip(f, at, end)


# -- transports ---------------------------------------------------------------------------


def _tcp(f: Frame, at: int, end: int, addresses) -> None:
    data = f.data
    f.add(at, at + 16, KEPT, "tcp header")
    f.add(at + 16, at + 18, CSUM, "tcp checksum")
    f.add(at + 18, at + 20, KEPT, "tcp header")
    if at + 20 > f.limit:
        return
    hlen = (data[at + 12] >> 4) * 4
    if hlen < 20 or (at + hlen > end and end < f.n and not f._quoted):
        return f.add(at + 20, end, ZERO, "bytes past a tcp header that does not parse")
    if _options(f, at + 20, at + hlen, "tcp", _tcp_option, strict=True) >= 0:
        return f.add(at + 20, end, ZERO, "tcp options that do not parse, and what follows")
    key = (bytes(addresses[0]), bytes(addresses[1]), u16(data, at), u16(data, at + 2))
    seq = int.from_bytes(data[at + 4 : at + 8], "big")
    segment = Segment(PROTO_TCP, key, seq, data[at + 13], at + hlen, max(end, at + hlen))
    _transport_payload(f, segment)


def _tcp_option(f: Frame, kind: int, value: int, stop: int) -> None:
    """The value of a TCP option: MPTCP ADD_ADDR's address is an address field."""
    data, length = f.data, stop - value + 2
    add_addr = kind == TCP_MPTCP and value < f.limit and data[value] >> 4 == 3
    if kind in TCP_OPTIONS_KEPT:
        f.add(value, stop, KEPT, f"tcp option {kind}")
    elif kind in (253, 254) and length >= 4:  # RFC 6994: the experiment identifier, then its data
        f.add(value, value + 2, KEPT, "tcp experiment id")
        f.add(value + 2, stop, ZERO, f"tcp option {kind} data")
    elif add_addr and length in (8, 10, 16, 18, 20, 22, 28, 30):  # RFC 8684 §3.4.1
        size = 4 if length < 20 else 16
        port = value + 2 + size
        f.add(value, value + 2, KEPT, "mptcp add_addr")
        f.add(value + 2, port, ADDR, "mptcp add_addr address")
        f.add(port, port + 2 if length in (10, 18, 22, 30) else port, KEPT, "mptcp add_addr port")
        f.add(stop - 8 if length in (16, 18, 28, 30) else stop, stop, ZERO, "mptcp add_addr hmac")
    elif kind == TCP_MPTCP:
        f.add(value, stop, OPEN, "mptcp option")
    else:
        f.add(value, stop, ZERO, f"tcp option {kind} data")


def _udp(f: Frame, at: int, end: int, addresses) -> None:
    data = f.data
    f.add(at, at + 6, KEPT, "udp header")
    f.add(at + 6, at + 8, CSUM, "udp checksum")
    if at + 8 > f.limit:
        return
    length = u16(data, at + 4)
    stop = min(end, at + length) if length >= 8 else end
    sport, dport = u16(data, at), u16(data, at + 2)
    if not f._quoted and _tunnel(f, at + 8, stop, sport, dport):
        return
    key = (bytes(addresses[0]), bytes(addresses[1]), sport, dport)
    _transport_payload(f, Segment(PROTO_UDP, key, 0, 0, at + 8, stop))
    f.add(stop, end, ZERO, "bytes after the udp datagram")


def _transport_payload(f: Frame, segment: Segment) -> None:
    start, end = segment.start, segment.end
    if f._quoted:
        if segment.protocol == PROTO_TCP:
            f.quotes.append(segment)
        f.add(start, end, PAY, "quoted payload")
    else:
        f.payload = segment
        f.add(start, end, PAY, "payload")


def _icmp(f: Frame, at: int, end: int, errors, echoes) -> None:
    data = f.data
    if at + 4 > f.limit:
        return f.add(at, end, KEPT, "icmp header")
    kind = data[at]
    f.add(at, at + 2, KEPT, "icmp type and code")
    f.add(at + 2, at + 4, CSUM, "icmp checksum")
    v6 = errors is ICMPV6_ERRORS
    if kind in errors:
        f.add(at + 4, at + 8, ADDR if not v6 and kind == ICMP_REDIRECT else KEPT, "icmp error field")
        stop, length = end, 0
        if at + 8 <= f.limit:  # RFC 4884: the quote's length in words, extensions after it
            length = data[at + 4] * 8 if v6 and kind in (1, 3) else data[at + 5] * 4 if kind in (3, 11, 12) else 0
        if length and at + 8 + length < end:
            stop = at + 8 + length
        f._quoted += 1
        f.within(stop, _ip_by_version, at + 8, stop)
        f._quoted -= 1
        if stop < end:
            _icmp_extensions(f, stop, end)
    elif kind in ((42, 43) if not v6 else (160, 161)):  # RFC 8335 extended echo
        f.add(at + 4, at + 8, KEPT, "extended echo identifier, sequence and flags")
        if kind in (42, 160):
            _icmp_extensions(f, at + 8, end)
        else:
            f.add(at + 8, end, ZERO, "bytes after an extended echo reply")
    elif kind in echoes:
        f.add(at + 4, at + 8, KEPT, "icmp echo identifier and sequence")
        f.add(at + 8, end, ZERO, "icmp echo data")
    elif v6 and kind in ICMPV6_MLD:
        f.add(at + 4, at + 8, KEPT, "mld header")
        f.add(at + 8, at + 24, ADDR, "mld multicast address")
        if kind == 130 and at + 28 <= end:  # MLDv2 query: flags, QQIC, sources
            f.add(at + 24, at + 28, KEPT, "mld query")
            for source in range(at + 28, end - 15, 16):
                f.add(source, source + 16, ADDR, "mld source")
    elif v6 and kind == ICMPV6_MLD2_REPORT:
        f.add(at + 4, at + 8, KEPT, "mld report header")
        pos = at + 8
        while pos + 20 <= min(end, f.limit):
            aux, sources = data[pos + 1] * 4, u16(data, pos + 2)
            f.add(pos, pos + 4, KEPT, "mld record header")
            f.add(pos + 4, pos + 20, ADDR, "mld multicast address")
            for source in range(pos + 20, pos + 20 + 16 * sources, 16):
                f.add(source, source + 16, ADDR, "mld source")
            pos += 20 + 16 * sources
            f.add(pos, pos + aux, ZERO, "mld auxiliary data")
            pos += aux
    elif v6 and kind in ICMPV6_ND:
        targets = ICMPV6_ND_TARGETS.get(kind, ())
        options = at + ICMPV6_ND[kind]
        f.add(at + 4, at + targets[0] if targets else options, KEPT, "neighbor discovery")
        for target in targets:
            f.add(at + target, at + target + 16, ADDR, "neighbor discovery address")
        _nd_options(f, options, end)
    else:
        f.add(at + 4, end, OPEN, f"icmp type {kind}")


def _icmp_extensions(f: Frame, pos: int, end: int) -> None:
    """An ICMP extension structure (RFC 4884 §7): MPLS labels (RFC 4950), interface information
    (RFC 5837: index and MTU kept, address an address, name zero), interface identification
    (RFC 8335 §2.1: by name zero, by index kept, by address an address)."""
    data = f.data
    if pos + 4 > end or data[pos] >> 4 != 2:
        return f.add(pos, end, OPEN, "icmp extension")
    f.add(pos, pos + 2, KEPT, "icmp extension header")
    f.add(pos + 2, pos + 4, CSUM, "icmp extension checksum")
    pos += 4
    while pos + 4 <= end:
        length, cls, ctype = u16(data, pos), data[pos + 2], data[pos + 3]
        if length < 4 or pos + length > end:
            return f.add(pos, end, ZERO, "icmp extension objects after an invalid length")
        f.add(pos, pos + 4, KEPT, f"icmp extension object {cls}")
        body, stop = pos + 4, pos + length
        if cls == 1:
            f.add(body, stop, KEPT, "mpls label stack")
        elif cls == 2:  # role and which sub-objects, in order: ifIndex, IP address, name, MTU
            if ctype & 0x08:
                f.add(body, body + 4, KEPT, "interface index")
                body += 4
            if ctype & 0x04 and body + 4 <= stop:
                size = {1: 4, 2: 16}.get(u16(data, body), 0)
                f.add(body, body + 4, KEPT, "interface address family")
                f.add(body + 4, body + 4 + size, ADDR, "interface address")
                body += 4 + size
            if ctype & 0x02 and body < stop:
                f.add(body, body + 1, KEPT, "interface name length")
                f.add(body + 1, body + data[body], ZERO, "interface name")
                body += max(data[body], 1)
            if ctype & 0x01:
                f.add(body, body + 4, KEPT, "interface mtu")
                body += 4
            f.add(body, stop, ZERO, "interface information padding")
        elif cls == 3 and ctype == 2:
            f.add(body, stop, KEPT, "interface index")
        elif cls == 3 and ctype == 3 and body + 4 <= stop:
            f.add(body, body + 4, KEPT, "interface address family and length")
            f.add(body + 4, body + 4 + data[body + 2], ADDR, "interface address")
            f.add(body + 4 + data[body + 2], stop, ZERO, "interface address padding")
        else:
            f.add(body, stop, ZERO if cls == 3 else OPEN, f"icmp extension object {cls}")
        pos = stop
    f.add(pos, end, ZERO, "bytes after the icmp extension")


def _nd_options(f: Frame, pos: int, end: int) -> None:
    data = f.data
    while pos + 2 <= min(end, f.limit):
        kind, length = data[pos], data[pos + 1] * 8
        if not length or pos + length > end:
            return f.add(pos, end, ZERO, "nd options after an invalid length")
        f.add(pos, pos + 2, KEPT, f"nd option {kind}")
        if kind in ND_LINK_ADDRESS or kind == ND_MTU:
            f.add(pos + 2, pos + length, KEPT, f"nd option {kind}")
            if kind in ND_LINK_ADDRESS and length == 8:
                f.mac(pos + 2)
        elif kind == ND_PREFIX and length == 32:
            f.add(pos + 2, pos + 16, KEPT, "nd prefix information")
            f.add(pos + 16, pos + 32, ADDR, "nd prefix")
        elif kind == ND_REDIRECTED:
            f.add(pos + 2, pos + 8, KEPT, "nd redirected header")
            f._quoted += 1
            f.within(pos + length, _ip_by_version, pos + 8, pos + length)
            f._quoted -= 1
        else:
            f.add(pos + 2, pos + length, OPEN, f"nd option {kind}")
        pos += length


# -- tunnels -------------------------------------------------------------------------------


def _gre(f: Frame, at: int, end: int) -> None:
    """GRE (RFC 2784, 2890; RFC 1701 source routes; version 1 of PPTP, RFC 2637), then what it
    carries: IP, Ethernet, ERSPAN I/II/III, MPLS or PPP."""
    data = f.data
    if at + 4 > f.limit:
        return
    flags, protocol = u16(data, at), u16(data, at + 2)
    version = flags & 7
    f.add(at, at + 4, KEPT, "gre header")
    fields = 4 * (bool(flags & 0xC000) + bool(flags & 0x2000) + bool(flags & 0x1000) + bool(version and flags & 0x80))
    if version > 1 or (at + 4 + fields > end and not f.cut):
        return f.add(at + 4, end, ZERO, "bytes past a gre header that overruns")
    pos = at + 4
    if flags & 0xC000:  # checksum (if C) and offset (if R)
        f.add(pos, pos + 2, CSUM if flags & 0x8000 else KEPT, "gre checksum")
        f.add(pos + 2, pos + 4, KEPT, "gre offset")
    f.add(pos + 4 * bool(flags & 0xC000), at + 4 + fields, KEPT, "gre key, sequence, acknowledgment")
    pos = at + 4 + fields
    if flags & 0x4000:
        while pos + 4 <= end:  # source route entries: family, offset, length, routing information
            family, length = u16(data, pos), data[pos + 3]
            f.add(pos, pos + 4, KEPT, "gre source route entry")
            if not family and not length:
                pos += 4
                break
            if family == ETH_IPV4 and not length % 4:
                for slot in range(pos + 4, pos + 4 + length, 4):
                    f.add(slot, slot + 4, ADDR, "gre source route address")
            else:
                f.add(pos + 4, pos + 4 + length, OPEN, "gre source route")
            pos += 4 + length
    if protocol == 0x880B:  # PPP (PPTP)
        return _ppp(f, pos, end)
    if protocol == 0x88BE:  # ERSPAN type II (with a sequence number) or I
        if flags & 0x1000:
            f.add(pos, pos + 8, KEPT, "erspan header")
            pos += 8
        return _ethernet(f, pos, end)
    if protocol == 0x22EB and pos + 12 <= end:  # ERSPAN type III, with its optional subheader
        size = 12 + (8 if data[pos + 11] & 1 else 0)
        f.add(pos, pos + size, KEPT, "erspan header")
        return _ethernet(f, pos + size, end)
    if protocol == ETH_TEB:
        return _ethernet(f, pos, end)
    if protocol in (ETH_IPV4, ETH_IPV6) or protocol in ETH_MPLS:
        return _ethertype(f, pos, end, protocol)
    f.add(pos, end, OPEN, f"gre protocol {protocol:#06x}")


def _tunnel(f: Frame, at: int, end: int, sport: int, dport: int) -> bool:
    """The UDP tunnels of SPEC §3 by port: VXLAN (also 8472), VXLAN-GPE, Geneve, GTP-U, Teredo,
    L2TPv2, GRE-in-UDP, MPLS-in-UDP; False if the payload is not one."""
    ports = (dport, sport)
    if dport in (UDP_VXLAN, UDP_VXLAN_LINUX, UDP_VXLAN_GPE):
        return _vxlan(f, at, end)
    if dport == UDP_GENEVE:
        return _geneve(f, at, end)
    if UDP_GTPU in ports:
        return _gtpu(f, at, end)
    if UDP_TEREDO in ports:
        return _teredo(f, at, end)
    if UDP_L2TP in ports:
        return _l2tp(f, at, end)
    if dport == UDP_GRE and at + 4 <= end and not f.data[at + 1] & 7:
        _gre(f, at, end)
        return True
    if dport == UDP_MPLS:
        _ethertype(f, at, end, 0x8847)
        return True
    return False


def _vxlan(f: Frame, at: int, end: int) -> bool:
    """VXLAN (RFC 7348), with or without its I flag; VXLAN-GPE when its P flag is set."""
    data = f.data
    if at + 8 > end:
        return False
    flags = data[at]
    if flags & 0x04 and not flags & 0xC3:  # GPE: the next protocol in byte 3
        kind = {1: ETH_IPV4, 2: ETH_IPV6, 3: ETH_TEB, 5: 0x8847}.get(data[at + 3])
        if kind is None:
            return False
        f.add(at, at + 8, KEPT, "vxlan-gpe header")
        _ethernet(f, at + 8, end) if kind == ETH_TEB else _ethertype(f, at + 8, end, kind)
        return True
    if flags & ~0x08 or any(data[at + 1 : at + 4]) or data[at + 7]:
        return False
    f.add(at, at + 8, KEPT, "vxlan header")
    _ethernet(f, at + 8, end)
    return True


def _geneve(f: Frame, at: int, end: int) -> bool:
    """Geneve (RFC 8926 §3): options keep class, type and length, their data must be zero."""
    data = f.data
    if at + 8 > end or data[at] >> 6:
        return False
    options = (data[at] & 0x3F) * 4
    f.add(at, at + 8, KEPT, "geneve header")
    if at + 8 + options > end:
        f.add(at + 8, end, ZERO, "bytes past geneve options that overrun")
        return True
    pos = at + 8
    while pos + 4 <= at + 8 + options:
        size = 4 + (data[pos + 3] & 0x1F) * 4
        f.add(pos, pos + 4, KEPT, "geneve option header")
        f.add(pos + 4, pos + size, ZERO, "geneve option data")
        pos += size
    kind, inner = u16(data, at + 2), at + 8 + options
    _ethernet(f, inner, end) if kind == ETH_TEB else _ethertype(f, inner, end, kind)
    return True


def _gtpu(f: Frame, at: int, end: int) -> bool:
    """GTP-U (3GPP TS 29.281 §5): an IP packet in a T-PDU; other messages keep the header."""
    data = f.data
    if at + 8 > end or data[at] >> 5 != 1 or not data[at] & 0x10:
        return False
    stop = min(end, at + 8 + u16(data, at + 2))
    pos = at + 8
    f.add(at, pos, KEPT, "gtp-u header")
    if data[at] & 0x07:
        if pos + 4 > stop:
            f.add(pos, end, ZERO, "bytes past a gtp-u header that overruns")
            return True
        f.add(pos, pos + 4, KEPT, "gtp-u optional fields")
        next_type, pos = data[pos + 3], pos + 4
        while next_type:
            size = data[pos] * 4 if pos < f.limit else 0
            if not size or pos + size > stop:
                f.add(pos, end, ZERO, "bytes past a gtp-u extension header that overruns")
                return True
            f.add(pos, pos + 1, KEPT, "gtp-u extension length")
            f.add(pos + 1, pos + size - 1, OPEN, f"gtp-u extension header {next_type:#04x}")
            f.add(pos + size - 1, pos + size, KEPT, "gtp-u next extension type")
            next_type, pos = data[pos + size - 1], pos + size
    if data[at + 1] == 0xFF:
        _ip_by_version(f, pos, stop)
    else:
        f.add(pos, stop, ZERO, f"gtp-u message {data[at + 1]}")
    f.add(stop, end, ZERO, "bytes after the gtp-u message")
    return True


def _teredo(f: Frame, at: int, end: int) -> bool:
    """Teredo (RFC 4380 §5.1.1): authentication (client id and value zeroed) and origin
    indication (the client's address, obscured) headers, then IPv6."""
    data, pos = f.data, at
    for _ in range(2):
        if pos + 2 > end:
            return False
        indicator = u16(data, pos)
        if indicator == 1 and pos + 4 <= end:
            secret = data[pos + 2] + data[pos + 3]
            f.add(pos, pos + 4, KEPT, "teredo authentication")
            f.add(pos + 4, pos + 4 + secret, ZERO, "teredo client id and authentication value")
            f.add(pos + 4 + secret, pos + 13 + secret, KEPT, "teredo nonce and confirmation")
            pos += 13 + secret
        elif indicator == 0 and pos + 8 <= end:
            f.add(pos, pos + 4, KEPT, "teredo origin indication")
            f.add(pos + 4, pos + 8, ADDR, "teredo origin address (obscured)")
            pos += 8
        else:
            break
    if pos >= f.limit or data[pos] >> 4 != 6 or (pos + 40 > end and not f.cut):
        f.regions[:] = [r for r in f.regions if r[0] < at]
        return False
    _ipv6(f, pos, end)
    return True


def _l2tp(f: Frame, at: int, end: int) -> bool:
    """L2TPv2 (RFC 2661 §3.1): data messages carry PPP; control messages AVPs, whose headers
    and message type are kept, other values zeroed."""
    data = f.data
    if at + 6 > end or data[at + 1] & 0x0F != 2:
        return False
    flags = u16(data, at)
    pos = at + 2 + 2 * bool(flags & 0x4000) + 4 + 4 * bool(flags & 0x0800)
    stop = min(end, at + u16(data, at + 2)) if flags & 0x4000 else end
    f.add(at, pos, KEPT, "l2tp header")
    if flags & 0x0200 and pos + 2 <= stop:  # offset size, then padding
        f.add(pos, pos + 2, KEPT, "l2tp offset size")
        f.add(pos + 2, pos + 2 + u16(data, pos), ZERO, "l2tp offset padding")
        pos += 2 + u16(data, pos)
    if not flags & 0x8000:
        _ppp(f, pos, stop)
    else:
        while pos + 6 <= stop:
            length = u16(data, pos) & 0x03FF
            if length < 6 or pos + length > stop:
                break
            f.add(pos, pos + 6, KEPT, "l2tp avp header")
            message_type = u16(data, pos + 2) == 0 and u16(data, pos + 4) == 0
            f.add(pos + 6, pos + length, KEPT if message_type else ZERO, "l2tp avp value")
            pos += length
        f.add(pos, stop, ZERO, "l2tp avps after an invalid length")
    f.add(stop, end, ZERO, "bytes after the l2tp message")
    return True
