"""Link layers (SPEC §3): from a frame's first byte to its first network header.

Ethernet II and 802.3/LLC/SNAP, 802.1Q/802.1ad/QinQ tags, MPLS label stacks (with the
pseudowire control word of EoMPLS), PPPoE, Linux cooked captures v1/v2, BSD loopback and
raw IP. LLDP, CDP and STP keep their skeleton (types, lengths, capability bits) with names
and descriptions zeroed; their management addresses are address fields.
"""

from __future__ import annotations

from .ip import IPV4_MIN_HLEN, cut, cut_short, ip_ethertype, ipv4_header_ok, may_cut, plausible_ipv4, plausible_ipv6
from .spans import (
    A_CONTROL,
    R_CONTROL,
    R_IDENTIFIER,
    R_LINK,
    R_MAC,
    R_PADDING,
    R_TRAILER,
    R_UNKNOWN,
    STATUS_TRUNCATED,
    FrameMap,
)
from .walk import ETHERTYPES, failed_since, network, u16

# LINKTYPE_* values (https://www.tcpdump.org/linktypes.html)
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_12 = 12  # DLT_RAW on some BSDs
LINKTYPE_RAW_14 = 14  # DLT_RAW on OpenBSD
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

# EtherTypes (IEEE 802 numbers)
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_RARP = 0x8035
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_P_QINQ_9100 = 0x9100
ETH_P_IPV6 = 0x86DD
ETH_P_MPLS_UC = 0x8847
ETH_P_MPLS_MC = 0x8848
ETH_P_PPPOE_DISC = 0x8863
ETH_P_PPPOE_SESS = 0x8864
ETH_P_LLDP = 0x88CC
ETH_P_TEB = 0x6558  # transparent Ethernet bridging (GRE, NVGRE, Geneve)
ETH_P_ERSPAN = 0x88BE  # ERSPAN type I/II over GRE
ETH_P_ERSPAN3 = 0x22EB  # ERSPAN type III over GRE
ETH_P_802_3_MIN = 0x0600  # below: an 802.3 length field, LLC follows
ETH_P_802_2 = 0x0004  # Linux cooked capture: an 802.2 LLC frame follows

ETH_HLEN = 14
ETH_ALEN = 6
VLAN_HLEN = 4
VLAN_TYPES = frozenset((ETH_P_8021Q, ETH_P_8021AD, ETH_P_QINQ_9100))
MPLS_ENTRY_LEN = 4
MPLS_MAX_LABELS = 8  # a deeper stack is not believed (it may be an IP header read as labels)
PW_CONTROL_WORD_LEN = 4  # RFC 4385: first nibble 0

SLL_MAX_PACKET_TYPE = 7  # PACKET_HOST ... PACKET_KERNEL (linux/if_packet.h)
PPPOE_HLEN = 6  # RFC 2516 §4: version/type, code, session id, length
PPPOE_VER_TYPE = 0x11
PPPOE_SESSION_DATA = 0x00
PPPOE_DISCOVERY_CODES = frozenset((0x07, 0x09, 0x19, 0x65, 0xA7))  # PADO, PADI, PADR, PADS, PADT
# End-Of-List, Service-Name, AC-Name, Host-Uniq, AC-Cookie, Vendor-Specific, Relay-Session-Id,
# PPP-Max-Payload, Service-Name-Error, AC-System-Error, Generic-Error (RFC 2516 App. A, RFC 4638)
PPPOE_TAGS = frozenset((0x0000, 0x0101, 0x0102, 0x0103, 0x0104, 0x0105, 0x0110, 0x0120, 0x0201, 0x0202, 0x0203))

LLC_HLEN = 3
LLC_SNAP = b"\xaa\xaa\x03"  # RFC 1042: 3-byte OUI and an EtherType follow
SNAP_HLEN = 8
LLC_STP = b"\x42\x42\x03"
STP_BPDU_MAX = 36  # RSTP BPDU (IEEE 802.1D §9.3.3); MSTP's configuration name and MSTIs are not kept
STP_CONFIGURATION = frozenset((0x00, 0x02))  # configuration and RST BPDU types (not TCN)
STP_ROOT_MAC, STP_BRIDGE_MAC = 7, 19  # MACs of the root and bridge identifiers in a BPDU
OUI_CISCO = b"\x00\x00\x0c"
SNAP_PID_CDP = 0x2000

SLL_HLEN = 16
SLL2_HLEN = 20

# BSD loopback address families (either byte order is seen in NULL captures)
AF_TO_ETHERTYPE = {2: ETH_P_IP, 24: ETH_P_IPV6, 28: ETH_P_IPV6, 30: ETH_P_IPV6}


def ethernet(m: FrameMap, offset: int, end: int) -> None:
    """An Ethernet II or 802.3 frame at `offset`.

    One inside a tunnel is believed only if its EtherType is one the walk knows: the bytes
    may be something else that a lying length or flag placed there."""
    if offset and not plausible_ethernet(m, offset, end):
        return m.fail(end)
    if offset + ETH_HLEN > end and not may_cut(m, end):
        return m.fail(end)
    m.hardware(offset, 2)
    m.put(offset + ETH_HLEN, R_LINK)
    if offset + ETH_HLEN > end:
        return cut(m, end)
    ethertype = u16(m.data, offset + 12)
    if ethertype >= ETH_P_802_3_MIN:
        return network(m, offset + ETH_HLEN, ethertype, end)
    stop = min(end, offset + ETH_HLEN + ethertype)  # an 802.3 length: padding may follow
    llc(m, offset + ETH_HLEN, stop)
    m.put(end, R_TRAILER)


def plausible_ethernet(m: FrameMap, offset: int, end: int) -> bool:
    """Whether bytes said to be an Ethernet frame carry an EtherType the walk knows (or an 802.3
    length that fits, then a SNAP or STP header)."""
    if offset + ETH_HLEN > end:
        return end >= m.n and m.truncated
    ethertype = u16(m.data, offset + 12)
    if ethertype < ETH_P_802_3_MIN:
        head = bytes(m.data[offset + ETH_HLEN : offset + ETH_HLEN + LLC_HLEN])
        return offset + ETH_HLEN + ethertype <= end and head in (LLC_SNAP, LLC_STP)
    return ethertype in ETHERTYPES


def llc(m: FrameMap, offset: int, end: int) -> None:
    """An 802.2 LLC header: SNAP (an EtherType or Cisco's CDP follows) or STP; others are zeroed."""
    data = m.data
    head = bytes(data[offset : offset + LLC_HLEN])
    if head == LLC_SNAP and offset + SNAP_HLEN <= end:
        m.put(offset + SNAP_HLEN, R_LINK)
        oui, pid = bytes(data[offset + 3 : offset + 6]), u16(data, offset + 6)
        if oui == b"\0\0\0":
            return network(m, offset + SNAP_HLEN, pid, end)
        if oui == OUI_CISCO and pid == SNAP_PID_CDP:
            return cdp(m, offset + SNAP_HLEN, end)
        return m.fail(end, R_UNKNOWN)
    if head == LLC_STP:
        bpdu = offset + LLC_HLEN
        if bpdu + STP_BRIDGE_MAC + ETH_ALEN <= end and data[bpdu + 3] in STP_CONFIGURATION:
            for at in (STP_ROOT_MAC, STP_BRIDGE_MAC):  # bridge ids: a priority, then a MAC
                m.put(bpdu + at, R_CONTROL)
                m.hardware(bpdu + at)
        m.put(min(end, bpdu + STP_BPDU_MAX), R_CONTROL)
        return m.put(end, R_UNKNOWN)
    m.put(offset + LLC_HLEN, R_LINK)
    m.fail(end, R_UNKNOWN)


def vlan(m: FrameMap, offset: int, end: int) -> None:
    """An 802.1Q/802.1ad tag: TCI, then the EtherType of what follows."""
    if offset + VLAN_HLEN > end:
        return cut_short(m, end, R_LINK)
    m.put(offset + VLAN_HLEN, R_LINK)
    network(m, offset + VLAN_HLEN, u16(m.data, offset + 2), end)


def mpls(m: FrameMap, offset: int, end: int) -> None:
    """An MPLS label stack (RFC 3032) and what its bottom carries, guessed by the first nibble.

    The stack is believed only if what follows it parses, or at least an IPv4 header whose
    checksum holds (then what fails past that header is zeroed as in any frame, and
    Wireshark still reads the stack): a frame that merely claims to be MPLS would have its
    IP header read as labels, so otherwise everything from the first label on is zeroed.
    """
    data, mark = m.data, m.mark()
    stop = min(end, m.limit)
    hlen = (data[offset] & 0x0F) * 4 if offset < stop and data[offset] >> 4 == 4 else 0
    if hlen >= IPV4_MIN_HLEN and offset + hlen <= stop and ipv4_header_ok(data, offset, hlen):
        return m.fail(end)  # an IPv4 header, checksum and all, under the wrong EtherType: not labels
    pos = offset
    for _ in range(MPLS_MAX_LABELS):
        if pos + MPLS_ENTRY_LEN > end:
            if not may_cut(m, end):
                m.rewind(mark)  # a stack without its bottom, not cut short by the capture
            return cut_short(m, end, R_LINK)
        bottom = data[pos + 2] & 1
        pos += MPLS_ENTRY_LEN
        m.put(pos, R_LINK)
        if bottom:
            break
    else:
        m.rewind(mark)
        return m.fail(end)
    if pos >= end:
        if not may_cut(m, end):
            m.rewind(mark)  # a stack that carries nothing: not believed
        return cut_short(m, end, R_LINK)
    nibble = data[pos] >> 4
    if (nibble == 4 and plausible_ipv4(m, pos, end)) or (nibble == 6 and plausible_ipv6(m, pos, end)):
        inner = m.mark()
        network(m, pos, ETH_P_IP if nibble == 4 else ETH_P_IPV6, end)
        if m.status == STATUS_TRUNCATED or not failed_since(m, inner):
            return
        hend = pos + (data[pos] & 0x0F) * 4
        if (
            nibble == 4
            and hend <= m.limit
            and ipv4_header_ok(data, pos, hend - pos)
            and not failed_since(m, inner, hend)
        ):
            return
    elif nibble == 0 and pos + PW_CONTROL_WORD_LEN + ETH_HLEN <= end:  # EoMPLS: control word, Ethernet
        m.put(pos + PW_CONTROL_WORD_LEN, R_LINK)
        inner = m.mark()
        ethernet(m, pos + PW_CONTROL_WORD_LEN, end)
        if not failed_since(m, inner):
            return
    m.rewind(mark)
    m.fail(end)


def _pppoe_header(m: FrameMap, offset: int, end: int, session: bool) -> bool:
    """Whether a PPPoE header (RFC 2516 §4) is there: version and type 1, a code of its stage,
    six bytes (or as many as the capture kept); if so it is kept, else everything is zeroed."""
    data = m.data
    ok = offset + PPPOE_HLEN <= end or may_cut(m, end)
    if ok and offset < end:
        ok = data[offset] == PPPOE_VER_TYPE
    if ok and offset + 1 < end:
        code = data[offset + 1]
        ok = code == PPPOE_SESSION_DATA if session else code in PPPOE_DISCOVERY_CODES
    if not ok:
        m.fail(end)
        return False
    m.put(offset + PPPOE_HLEN, R_LINK)
    if offset + PPPOE_HLEN > end:
        cut(m, end)
        return False
    return True


def pppoe_session(m: FrameMap, offset: int, end: int) -> None:
    """A PPPoE session header (RFC 2516 §4) and the PPP frame it carries."""
    from .ppp import ppp

    if not _pppoe_header(m, offset, end, True):
        return
    stop = min(end, offset + PPPOE_HLEN + u16(m.data, offset + 4))
    ppp(m, offset + PPPOE_HLEN, stop, address_control=False)
    m.put(end, R_TRAILER)


def pppoe_discovery(m: FrameMap, offset: int, end: int) -> None:
    """A PPPoE discovery packet: tags keep their type and length; names, cookies, ids are zeroed."""
    data = m.data
    if not _pppoe_header(m, offset, end, False):
        return
    stop = min(end, offset + PPPOE_HLEN + u16(data, offset + 4))
    pos = offset + PPPOE_HLEN
    while pos + 4 <= stop:
        kind, length = u16(data, pos), u16(data, pos + 2)
        if kind not in PPPOE_TAGS or (pos + 4 + length > stop and not may_cut(m, stop)):
            break  # an unknown tag or a length that lies: zeroed from its header on
        m.put(pos + 4, R_CONTROL)
        m.put(min(pos + 4 + length, stop), R_IDENTIFIER)
        pos += 4 + length
    m.fail(stop, R_UNKNOWN)
    m.put(end, R_TRAILER)


LLDP_END, LLDP_CHASSIS_ID, LLDP_PORT_ID, LLDP_TTL, LLDP_CAPABILITIES, LLDP_MANAGEMENT = 0, 1, 2, 3, 7, 8
LLDP_KEPT_VALUES = frozenset((LLDP_TTL, LLDP_CAPABILITIES))
LLDP_SUBTYPED = frozenset((LLDP_CHASSIS_ID, LLDP_PORT_ID))
LLDP_ORGANIZATIONAL = 127  # OUI and subtype kept, value zeroed
IANA_AFI = {1: 4, 2: 16}  # address family numbers (IPv4, IPv6) -> address length


def lldp(m: FrameMap, offset: int, end: int) -> None:
    """LLDP (IEEE 802.1AB): every TLV keeps its header; TTL and capabilities keep their values,
    chassis and port ids their subtype, the management address TLV its address (a field),
    numbering subtype and interface number; names, descriptions and other values are zeroed."""
    data, pos = m.data, offset
    if not _lldp_start(m, offset, end):
        return m.fail(end)  # an LLDPDU starts with chassis id, port id and TTL (802.1AB §8.2): not one
    while pos + 2 <= end:
        kind, length = data[pos] >> 1, ((data[pos] & 1) << 8) | data[pos + 1]
        value, stop = pos + 2, min(pos + 2 + length, end)
        m.put(value, R_CONTROL)
        if kind in LLDP_KEPT_VALUES:
            m.put(stop, R_CONTROL)
        elif kind in LLDP_SUBTYPED:
            m.put(value + 1, R_CONTROL)
        elif kind == LLDP_ORGANIZATIONAL:
            m.put(value + 4, R_CONTROL)
        elif kind == LLDP_MANAGEMENT and length >= 2:
            _lldp_management(m, value, stop)
        m.put(stop, R_IDENTIFIER)
        pos += 2 + length
        if kind == LLDP_END:
            break
    m.put(end, R_TRAILER)


def _lldp_start(m: FrameMap, pos: int, end: int) -> bool:
    """Whether the TLVs at `pos` open as an LLDPDU must: a chassis id and a port id (2-256 bytes,
    subtype 1-7), then a 2-byte TTL, as far as the bytes go when the capture cut them."""
    data = m.data
    for kind in (LLDP_CHASSIS_ID, LLDP_PORT_ID, LLDP_TTL):
        if pos + 2 > end:
            return may_cut(m, end)
        length = ((data[pos] & 1) << 8) | data[pos + 1]
        if data[pos] >> 1 != kind:
            return False
        if kind == LLDP_TTL:
            return length == 2
        if not 2 <= length <= 256 or (pos + 2 < end and not 1 <= data[pos + 2] <= 7):
            return False
        pos += 2 + length
    return True


def _lldp_management(m: FrameMap, value: int, stop: int) -> None:
    data = m.data
    size, afi = data[value] - 1, data[value + 1]
    m.put(value + 2, R_CONTROL)
    if IANA_AFI.get(afi) == size:
        m.address(value + 2, size, size, A_CONTROL)
    m.put(value + 1 + data[value], R_IDENTIFIER)
    m.put(min(value + 1 + data[value] + 5, stop), R_CONTROL)  # interface numbering subtype and number


CDP_HLEN = 4  # version, TTL, checksum
CDP_ADDRESSES = frozenset((0x0002, 0x0016))  # Addresses, Management Addresses
CDP_KEPT_VALUES = frozenset((0x0004, 0x000A, 0x000B))  # capabilities, native VLAN, duplex
NLPID_IP = b"\x01\x01\xcc"  # protocol type NLPID, length 1, IP


def cdp(m: FrameMap, offset: int, end: int) -> None:
    """CDP: TLV headers and capabilities kept, IPv4 addresses mapped, names and versions zeroed."""
    from .spans import CK_PLAIN

    data = m.data
    if offset + CDP_HLEN > end:
        return cut_short(m, end, R_CONTROL)
    m.put(offset + CDP_HLEN, R_CONTROL)
    m.checksum(offset + 2, offset, end, CK_PLAIN)
    pos = offset + CDP_HLEN
    while pos + 4 <= end:
        kind, length = u16(data, pos), u16(data, pos + 2)
        if length < 4:
            break
        stop = min(pos + length, end)
        m.put(pos + 4, R_CONTROL)
        if kind in CDP_KEPT_VALUES:
            m.put(stop, R_CONTROL)
        elif kind in CDP_ADDRESSES:
            _cdp_addresses(m, pos + 4, stop)
        m.put(stop, R_IDENTIFIER)
        pos += length
    m.fail(end, R_UNKNOWN)


def _cdp_addresses(m: FrameMap, pos: int, stop: int) -> None:
    data = m.data
    if pos + 4 > stop:
        return
    count = int.from_bytes(data[pos : pos + 4], "big")
    m.put(pos + 4, R_CONTROL)
    pos += 4
    for _ in range(count):
        if pos + 5 > stop:
            return
        plen = data[pos + 1]
        head = pos + 2 + plen
        if head + 2 > stop:
            return
        size = u16(data, head)
        m.put(head + 2, R_CONTROL)
        if bytes(data[pos : pos + 3]) == NLPID_IP and size == 4:
            m.address(head + 2, 4, 4, A_CONTROL)
        m.put(head + 2 + size, R_IDENTIFIER)
        pos = head + 2 + size


def unknown_ethertype(m: FrameMap, offset: int, end: int) -> None:
    m.fail(end, R_UNKNOWN)


# -- link types --------------------------------------------------------------------------


def link_ethernet(m: FrameMap) -> None:
    ethernet(m, 0, m.n)


def link_raw(m: FrameMap) -> None:
    """Raw IP: the version nibble tells IPv4 from IPv6."""
    if not m.n:
        return
    network(m, 0, ip_ethertype(m, 0, m.n), m.n)


def link_sll(m: FrameMap) -> None:
    """Linux cooked capture v1: packet type, ARPHRD, address length, address (8), protocol."""
    data = m.data
    if (m.n < SLL_HLEN and not may_cut(m, m.n)) or (
        m.n >= 6 and (u16(data, 0) > SLL_MAX_PACKET_TYPE or u16(data, 4) > 8)
    ):
        return m.fail(m.n)  # a packet type or address length Linux never writes: not a cooked header
    m.put(6, R_LINK)
    _cooked_address(m, 6, u16(data, 4) if m.n >= 6 else 8)
    m.put(SLL_HLEN, R_LINK)
    if m.n < SLL_HLEN:
        return cut(m, m.n)
    _cooked(m, SLL_HLEN, u16(data, 14))


def link_sll2(m: FrameMap) -> None:
    """Linux cooked capture v2: protocol, reserved, ifindex, ARPHRD, type, address length, address."""
    data = m.data
    if (m.n < SLL2_HLEN and not may_cut(m, m.n)) or (
        m.n >= 12 and (u16(data, 2) or data[10] > SLL_MAX_PACKET_TYPE or data[11] > 8)
    ):
        return m.fail(m.n)  # reserved bits, a packet type or address length Linux never writes
    m.put(12, R_LINK)
    _cooked_address(m, 12, data[11] if m.n >= 12 else 8)
    if m.n < SLL2_HLEN:
        return cut(m, m.n)
    _cooked(m, SLL2_HLEN, u16(data, 0))


def _cooked_address(m: FrameMap, offset: int, length: int) -> None:
    """A cooked header's 8-byte address field holding a `length`-byte address (a MAC if 6);
    the bytes after it are not the address (whatever the kernel left there): zeroed."""
    if length == ETH_ALEN:
        m.hardware(offset)
    m.put(offset + length, R_MAC)
    m.put(offset + 8, R_PADDING)


def _cooked(m: FrameMap, offset: int, protocol: int) -> None:
    if protocol == ETH_P_802_2:
        return llc(m, offset, m.n)
    network(m, offset, protocol if protocol >= ETH_P_802_3_MIN else 0, m.n)


def link_loopback(m: FrameMap) -> None:
    """NULL/LOOP: a 4-byte address family in host (NULL) or network (LOOP) byte order."""
    if m.n < 4:
        return cut_short(m, m.n, R_LINK)
    family = int.from_bytes(m.data[:4], "little")
    if family not in AF_TO_ETHERTYPE:
        family = int.from_bytes(m.data[:4], "big")
    if family not in AF_TO_ETHERTYPE:
        return m.fail(m.n)  # an address family the walk does not know: not kept
    m.put(4, R_LINK)
    network(m, 4, AF_TO_ETHERTYPE[family], m.n)


LINKTYPES = {
    LINKTYPE_ETHERNET: link_ethernet,
    LINKTYPE_RAW: link_raw,
    LINKTYPE_RAW_12: link_raw,
    LINKTYPE_RAW_14: link_raw,
    LINKTYPE_IPV4: link_raw,
    LINKTYPE_IPV6: link_raw,
    LINKTYPE_LINUX_SLL: link_sll,
    LINKTYPE_LINUX_SLL2: link_sll2,
    LINKTYPE_NULL: link_loopback,
    LINKTYPE_LOOP: link_loopback,
}

ETHERTYPES.update(dict.fromkeys(VLAN_TYPES, vlan))
ETHERTYPES.update({
    ETH_P_MPLS_UC: mpls,
    ETH_P_MPLS_MC: mpls,
    ETH_P_PPPOE_SESS: pppoe_session,
    ETH_P_PPPOE_DISC: pppoe_discovery,
    ETH_P_LLDP: lldp,
    ETH_P_TEB: ethernet,
})  # fmt: skip
