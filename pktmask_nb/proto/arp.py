"""ARP and RARP (RFC 826, RFC 903): protocol addresses mapped, hardware addresses kept."""

from __future__ import annotations

from .ip import cut_short, may_cut
from .spans import A_ARP, R_ARP, R_MAC, R_OVERRUN, R_TRAILER, FrameMap
from .walk import ETHERTYPES, u16

ETH_P_ARP, ETH_P_RARP = 0x0806, 0x8035
ARP_FIXED_LEN = 8  # htype, ptype, hlen, plen, oper
ARP_HRD_ETHER = 1
# (protocol type, protocol address length) whose addresses are mapped
ARP_PROTOCOLS = frozenset(((0x0800, 4), (0x86DD, 16)))
ARP_HARDWARE_LENGTHS = {ARP_HRD_ETHER: 6}  # hardware types whose address length is fixed
ARP_MAX_OPERATION = 25  # operation codes 1-25 are assigned (IANA arp-parameters)


def arp(m: FrameMap, offset: int, end: int) -> None:
    """An ARP/RARP packet: fixed header, then sender and target (hardware, protocol) addresses.

    A header whose fields do not hold (an unassigned operation, an Ethernet address that is
    not 6 bytes, an IPv4 address that is not 4, addresses past the frame) is not ARP: none
    of it is kept.
    """
    data = m.data
    if offset + ARP_FIXED_LEN > end:
        return cut_short(m, end, R_ARP)
    htype, ptype, hlen, plen = u16(data, offset), u16(data, offset + 2), data[offset + 4], data[offset + 5]
    stop = offset + ARP_FIXED_LEN + 2 * (hlen + plen)
    operation = u16(data, offset + 6)
    if (
        (ptype, plen) not in ARP_PROTOCOLS
        or ARP_HARDWARE_LENGTHS.get(htype, hlen) != hlen
        or hlen > 20
        or not 1 <= operation <= ARP_MAX_OPERATION
    ):
        return m.fail(end)
    if stop > end and not may_cut(m, end):
        return m.fail(end, R_OVERRUN)
    m.put(offset + ARP_FIXED_LEN, R_ARP)
    pos = offset + ARP_FIXED_LEN
    for _ in range(2):
        if hlen == 6:
            m.hardware(pos)
        m.put(pos + hlen, R_MAC)
        m.address(pos + hlen, plen, plen, A_ARP)
        pos += hlen + plen
    m.put(end, R_TRAILER)


ETHERTYPES.update({ETH_P_ARP: arp, ETH_P_RARP: arp})
