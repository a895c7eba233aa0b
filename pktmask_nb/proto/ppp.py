"""PPP frames (RFC 1661) as carried by PPPoE, L2TP and PPTP's GRE: IP, IPv6, MPLS, and the
control protocols' skeleton.

LCP, IPCP, IPV6CP and CCP keep code, identifier, length and each option's type and length;
option values are kept where they are protocol parameters (MRU, ACCM, protocols), mapped
where they are addresses (IPCP's address, DNS and NBNS servers), and zeroed where they
identify something (magic numbers, interface identifiers, endpoint discriminators). PAP
and CHAP keep their headers and length bytes: names, passwords and digests are zeroed.
"""

from __future__ import annotations

from .ip import cut_short, may_cut
from .spans import A_CONTROL, R_CONTROL, R_IDENTIFIER, R_LINK, R_TRAILER, R_UNKNOWN, FrameMap
from .walk import network, u16

PPP_ADDRESS_CONTROL = b"\xff\x03"
PPP_TO_ETHERTYPE = {0x0021: 0x0800, 0x0057: 0x86DD, 0x0281: 0x8847}  # RFC 1332, 5072, 3032
PPP_LCP, PPP_IPCP, PPP_IPV6CP, PPP_CCP, PPP_PAP, PPP_CHAP = 0xC021, 0x8021, 0x8057, 0x80FD, 0xC023, 0xC223
PPP_CONFIGURE_CODES = frozenset((1, 2, 3, 4))  # Configure-Request/Ack/Nak/Reject
PPP_CONTROL_HLEN = 4  # code, identifier, length
# protocol -> {option type: what its value is}: kept, an address, or (absent) zeroed
KEPT, ADDRESS = "kept", "address"
PPP_OPTIONS = {
    PPP_LCP: {1: KEPT, 2: KEPT, 3: KEPT, 4: KEPT, 7: KEPT, 8: KEPT, 17: KEPT, 18: KEPT},
    PPP_IPCP: {1: ADDRESS, 2: KEPT, 3: ADDRESS, 129: ADDRESS, 130: ADDRESS, 131: ADDRESS, 132: ADDRESS},
    PPP_IPV6CP: {2: KEPT},
    PPP_CCP: None,  # compression parameters: every value kept
}
PAP_AUTHENTICATE_REQUEST = 1
# the highest code each control protocol defines (RFC 1661 §5, 1332, 5072, 1962, 1334, 1994)
PPP_CODES = {PPP_LCP: 11, PPP_IPCP: 7, PPP_IPV6CP: 7, PPP_CCP: 15, PPP_PAP: 3, PPP_CHAP: 4}
CHAP_CHALLENGE, CHAP_RESPONSE = 1, 2


def ppp(m: FrameMap, pos: int, end: int, address_control: bool) -> None:
    """A PPP frame at `pos`: address and control bytes (if present), protocol, then its payload."""
    data = m.data
    if address_control and bytes(data[pos : pos + 2]) == PPP_ADDRESS_CONTROL:
        pos += 2
    size = 1 if pos < end and data[pos] & 1 else 2  # protocol field compression (RFC 1661 §6.5)
    if pos + size > end:
        return cut_short(m, end, R_LINK)
    protocol = data[pos] if size == 1 else u16(data, pos)
    m.put(pos + size, R_LINK)
    pos += size
    if protocol in PPP_TO_ETHERTYPE:
        network(m, pos, PPP_TO_ETHERTYPE[protocol], end)
    elif protocol in PPP_OPTIONS or protocol in (PPP_PAP, PPP_CHAP):
        _control(m, pos, end, protocol)
    else:
        m.fail(end, R_UNKNOWN)


def _control(m: FrameMap, pos: int, end: int, protocol: int) -> None:
    data = m.data
    if pos + PPP_CONTROL_HLEN > end:
        return cut_short(m, end, R_CONTROL)
    code, length = data[pos], u16(data, pos + 2)
    if (
        not 1 <= code <= PPP_CODES[protocol]
        or length < PPP_CONTROL_HLEN
        or (pos + length > end and not may_cut(m, end))
    ):
        return m.fail(end)  # a code its protocol does not define or a length that lies: none of it kept
    m.put(pos + PPP_CONTROL_HLEN, R_CONTROL)
    stop = min(end, pos + length)
    body = pos + PPP_CONTROL_HLEN
    if protocol == PPP_PAP and code == PAP_AUTHENTICATE_REQUEST:
        body = _counted(m, _counted(m, body, stop), stop)
    elif protocol == PPP_CHAP and code in (CHAP_CHALLENGE, CHAP_RESPONSE):
        body = _counted(m, body, stop)
    elif protocol in PPP_OPTIONS and code in PPP_CONFIGURE_CODES:
        _options(m, body, stop, PPP_OPTIONS[protocol])
    m.put(stop, R_IDENTIFIER)
    m.put(end, R_TRAILER)


def _counted(m: FrameMap, pos: int, stop: int) -> int:
    """A length byte (kept) and the value it counts (zeroed); where the next field starts."""
    if pos >= stop:
        return stop
    m.put(pos + 1, R_CONTROL)
    end = pos + 1 + m.data[pos]
    m.put(min(end, stop), R_IDENTIFIER)
    return min(end, stop)


def _options(m: FrameMap, pos: int, stop: int, values) -> None:
    data = m.data
    while pos + 2 <= stop:
        kind, length = data[pos], data[pos + 1]
        if length < 2 or pos + length > stop:
            break
        m.put(pos + 2, R_CONTROL)
        what = KEPT if values is None else values.get(kind)
        if what == KEPT:
            m.put(pos + length, R_CONTROL)
        elif what == ADDRESS and (length - 2) % 4 == 0:
            for at in range(pos + 2, pos + length, 4):
                m.address(at, 4, 4, A_CONTROL)
        m.put(pos + length, R_IDENTIFIER)
        pos += length
    m.fail(stop)
