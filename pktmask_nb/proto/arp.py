"""ARP and RARP (RFC 826, RFC 903): protocol addresses mapped, hardware addresses kept."""

from __future__ import annotations

from .ip import cut, may_cut
from .spans import A_ARP, R_ARP, R_MAC, R_OVERRUN, R_TRAILER, FrameMap
from .walk import ETHERTYPES, u16

ETH_P_ARP, ETH_P_RARP = 0x0806, 0x8035
ARP_FIXED_LEN = 8  # htype, ptype, hlen, plen, oper
ARP_HRD_ETHER = 1
# (protocol type, protocol address length) whose addresses are mapped
ARP_PROTOCOLS = frozenset(((0x0800, 4), (0x86DD, 16)))
ARP_HARDWARE_LENGTHS = {ARP_HRD_ETHER: 6}  # hardware types whose address length is fixed


def arp(m: FrameMap, offset: int, end: int) -> None:
    """An ARP/RARP packet: fixed header, then sender and target (hardware, protocol) addresses.

    Lengths that do not match their types (an Ethernet address that is not 6 bytes, an
    IPv4 address that is not 4) are not believed: everything after the fixed header is zeroed.
    """
    data = m.data
    m.put(offset + ARP_FIXED_LEN, R_ARP)
    if offset + ARP_FIXED_LEN > end:
        return cut(m, end)
    htype, ptype, hlen, plen = u16(data, offset), u16(data, offset + 2), data[offset + 4], data[offset + 5]
    stop = offset + ARP_FIXED_LEN + 2 * (hlen + plen)
    if (ptype, plen) not in ARP_PROTOCOLS or ARP_HARDWARE_LENGTHS.get(htype, hlen) != hlen or hlen > 20:
        return m.fail(end)
    if stop > end and not may_cut(m, end):
        return m.fail(end, R_OVERRUN)
    pos = offset + ARP_FIXED_LEN
    for _ in range(2):
        if hlen == 6:
            m.hardware(pos)
        m.put(pos + hlen, R_MAC)
        m.address(pos + hlen, plen, plen, A_ARP)
        pos += hlen + plen
    m.put(end, R_TRAILER)


ETHERTYPES.update({ETH_P_ARP: arp, ETH_P_RARP: arp})
