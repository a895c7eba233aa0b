"""The audit's own link-layer walk (kept apart from the stages', SPEC §8). Link layers (SPEC §3): from a frame's first byte to its first network header.

Everything here is a pure function over ``bytes``/``bytearray`` returning offsets; nothing
is copied or allocated beyond small ints.
"""

from __future__ import annotations

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
ETH_P_PPPOE_SESS = 0x8864
ETH_P_TEB = 0x6558  # transparent Ethernet bridging (GRE, NVGRE)
ETH_P_ERSPAN = 0x88BE  # ERSPAN type I/II over GRE
ETH_P_ERSPAN3 = 0x22EB  # ERSPAN type III over GRE
ETH_P_802_3_MIN = 0x0600  # below: an 802.3 length field, LLC follows

ETH_HLEN = 14
VLAN_TYPES = frozenset((ETH_P_8021Q, ETH_P_8021AD, ETH_P_QINQ_9100))
MPLS_TYPES = frozenset((ETH_P_MPLS_UC, ETH_P_MPLS_MC))
IP_TYPES = frozenset((ETH_P_IP, ETH_P_IPV6))

PPP_IP = 0x0021  # RFC 1332
PPP_IPV6 = 0x0057  # RFC 5072
PPP_TO_ETHERTYPE = {PPP_IP: ETH_P_IP, PPP_IPV6: ETH_P_IPV6}
PPPOE_HLEN = 6  # RFC 2516 §4, then the 2-byte PPP protocol

LLC_SNAP = b"\xaa\xaa\x03"  # RFC 1042 encapsulation: 3-byte OUI and an EtherType follow

# BSD loopback address families (either byte order is seen in NULL captures)
AF_TO_ETHERTYPE = {2: ETH_P_IP, 24: ETH_P_IPV6, 28: ETH_P_IPV6, 30: ETH_P_IPV6}

SLL_HLEN = 16
SLL2_HLEN = 20


def walk_ethertype(data, offset: int, ethertype: int) -> tuple[int, int]:
    """Follow VLAN tags, MPLS labels, PPPoE and LLC/SNAP from `ethertype` at `offset`.

    Returns
    -------
    (offset, ethertype)
        Where the next header starts and what it is; ethertype 0 when it cannot be known
        (truncated frame, MPLS payload that is neither IPv4 nor IPv6, LLC without SNAP).
    """
    n = len(data)
    while True:
        if ethertype in IP_TYPES:  # the common case first
            return offset, ethertype
        if ethertype in VLAN_TYPES:
            if offset + 4 > n:
                return offset, 0
            ethertype = (data[offset + 2] << 8) | data[offset + 3]
            offset += 4
        elif ethertype in MPLS_TYPES:
            return walk_mpls(data, offset)
        elif ethertype == ETH_P_PPPOE_SESS:
            if offset + PPPOE_HLEN + 2 > n:
                return offset, 0
            protocol = (data[offset + 6] << 8) | data[offset + 7]
            return offset + PPPOE_HLEN + 2, PPP_TO_ETHERTYPE.get(protocol, 0)
        elif ethertype < ETH_P_802_3_MIN:
            if data[offset : offset + 3] != LLC_SNAP or offset + 8 > n:
                return offset, 0
            ethertype = (data[offset + 6] << 8) | data[offset + 7]
            offset += 8
        else:
            return offset, ethertype


def walk_mpls(data, offset: int) -> tuple[int, int]:
    """Skip MPLS labels to bottom-of-stack (RFC 3032) and guess IPv4/IPv6 by the first nibble."""
    n = len(data)
    while offset + 4 <= n:
        bottom = data[offset + 2] & 1
        offset += 4
        if bottom:
            if offset >= n:
                return offset, 0
            version = data[offset] >> 4
            return offset, ETH_P_IP if version == 4 else ETH_P_IPV6 if version == 6 else 0
    return offset, 0


def ethernet(data, offset: int = 0) -> tuple[int, int]:
    """Network offset and EtherType of an Ethernet II / 802.3 frame starting at `offset`."""
    if offset + ETH_HLEN > len(data):
        return offset, 0
    return walk_ethertype(data, offset + ETH_HLEN, (data[offset + 12] << 8) | data[offset + 13])


def raw_ip(data, offset: int = 0) -> tuple[int, int]:
    """Raw IP: the version nibble tells IPv4 from IPv6."""
    if offset >= len(data):
        return offset, 0
    version = data[offset] >> 4
    return offset, ETH_P_IP if version == 4 else ETH_P_IPV6 if version == 6 else 0


def linux_sll(data) -> tuple[int, int]:
    """Linux cooked capture v1: protocol type at bytes 14-15."""
    if len(data) < SLL_HLEN:
        return 0, 0
    return walk_ethertype(data, SLL_HLEN, (data[14] << 8) | data[15])


def linux_sll2(data) -> tuple[int, int]:
    """Linux cooked capture v2: protocol type at bytes 0-1."""
    if len(data) < SLL2_HLEN:
        return 0, 0
    return walk_ethertype(data, SLL2_HLEN, (data[0] << 8) | data[1])


def bsd_loopback(data) -> tuple[int, int]:
    """NULL/LOOP: a 4-byte address family in host (NULL) or network (LOOP) byte order."""
    if len(data) < 4:
        return 0, 0
    family = int.from_bytes(data[:4], "little")
    if family not in AF_TO_ETHERTYPE:
        family = int.from_bytes(data[:4], "big")
    return 4, AF_TO_ETHERTYPE.get(family, 0)


def _raw(data):
    return raw_ip(data, 0)


LINK_DISSECTORS = {
    LINKTYPE_ETHERNET: ethernet,
    LINKTYPE_RAW: _raw,
    LINKTYPE_RAW_12: _raw,
    LINKTYPE_RAW_14: _raw,
    LINKTYPE_IPV4: _raw,
    LINKTYPE_IPV6: _raw,
    LINKTYPE_LINUX_SLL: linux_sll,
    LINKTYPE_LINUX_SLL2: linux_sll2,
    LINKTYPE_NULL: bsd_loopback,
    LINKTYPE_LOOP: bsd_loopback,
}


def network_header(data, linktype: int) -> tuple[int, int]:
    """``(offset, ethertype)`` of the first network header of a frame; ethertype 0 if unknown.

    Link types outside SPEC §3 (802.11, radiotap, ...) are not dissected: ``(0, 0)``.
    """
    dissect = LINK_DISSECTORS.get(linktype)
    if dissect is None:
        return 0, 0
    return dissect(data)
