"""Control protocols whose zeroed payload Wireshark would call malformed: keep their TLV skeleton.

PPP LCP/IPCP/IPV6CP/CCP (RFC 1661 §5, RFC 1332, RFC 5072) keep code, identifier, length and
each option's type and length; PAP/CHAP and other PPP control packets keep only the 4-byte
header. ICMPv6 Neighbor Discovery (RFC 4861 §4) keeps each option's type and length. All
values (addresses, magic numbers, names, passwords) are zeroed.
"""

from __future__ import annotations

from ...proto.dissect import IPPROTO_ICMPV6

ETH_P_PPPOE_SESS = b"\x88\x64"
PPPOE_VER_TYPE = 0x11
PPP_OPTION_PROTOCOLS = frozenset((0xC021, 0x8021, 0x8057, 0x80FD))  # LCP, IPCP, IPV6CP, CCP
PPP_CONTROL_PROTOCOLS = PPP_OPTION_PROTOCOLS | {0xC023, 0xC223}  # + PAP, CHAP
PPP_CONFIGURE_CODES = frozenset((1, 2, 3, 4))  # Configure-Request/Ack/Nak/Reject
PPP_CONTROL_HLEN = 4
ICMPV6_ND_OPTIONS_AT = {133: 8, 134: 16, 135: 24, 136: 24, 137: 40}  # type -> options offset
ND_OPTION_UNIT = 8


def control_keeps(data, layers) -> list[tuple[int, int]]:
    """Kept ranges inside ``[payload_start, payload_end)`` of a PPP control or ND packet; [] otherwise."""
    start, end = layers.payload_start, layers.payload_end
    if layers.transport == IPPROTO_ICMPV6 and layers.transport_offset >= 0:
        t = layers.transport_offset
        at = ICMPV6_ND_OPTIONS_AT.get(data[t]) if t + 8 <= end else None
        return [] if at is None else _options(data, t + at, end, ND_OPTION_UNIT)
    if start >= 10 and data[start - 10 : start - 8] == ETH_P_PPPOE_SESS and data[start - 8] == PPPOE_VER_TYPE:
        protocol = (data[start - 2] << 8) | data[start - 1]
        if protocol in PPP_CONTROL_PROTOCOLS and start + PPP_CONTROL_HLEN <= end:
            keeps = [(start, start + PPP_CONTROL_HLEN)]
            if protocol in PPP_OPTION_PROTOCOLS and data[start] in PPP_CONFIGURE_CODES:
                stop = min(end, start + ((data[start + 2] << 8) | data[start + 3]))
                keeps += _options(data, start + PPP_CONTROL_HLEN, stop, 1)
            return keeps
    return []


def _options(data, pos: int, end: int, unit: int) -> list[tuple[int, int]]:
    """Type and length bytes of each option from `pos` (lengths count `unit`-byte units)."""
    keeps = []
    while pos + 2 <= end:
        length = data[pos + 1] * unit
        if length < 2:
            break
        keeps.append((pos, pos + 2))
        pos += length
    return keeps
