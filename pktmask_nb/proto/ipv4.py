"""IPv4 headers and options (RFC 791 §3.1, RFC 1393, RFC 2113, RFC 4782, IANA ip-parameters).

Options are read strictly: every option must have a valid length for its type, within the
header, and a type IANA assigned; anything else makes the whole option area zero (a
header length that does not match what follows is far likelier than a broken option).
Known options keep their bytes and have their addresses mapped; unknown ones keep type
and length. Options are believed only under a valid header checksum: a wrong IHL would
otherwise turn the transport header and payload into "options".
"""

from __future__ import annotations

from .ip import IPV4_MIN_HLEN, cut, first_fragment, ipv4_header_ok, later_fragment, may_cut, new_layer
from .spans import (
    A_OPTION,
    A_OUTER,
    CK_IPV4_HEADER,
    R_IP,
    R_IP_OPTION,
    R_PADDING,
    R_TRAILER,
    R_UNKNOWN,
    FrameMap,
)
from .walk import ETHERTYPES, ip_payload, options, u16

ETH_P_IP = 0x0800

IPOPT_EOL = 0
IPOPT_NOP = 1
IPOPT_RR = 7  # record route
IPOPT_LSRR = 131  # loose source route
IPOPT_SSRR = 137  # strict source route
IPOPT_TS = 68  # timestamp
IPOPT_TRACEROUTE = 82  # RFC 1393
IPOPT_TS_ONLY, IPOPT_TS_ADDRESSES, IPOPT_TS_PRESPECIFIED = 0, 1, 3
IPOPT_ROUTE_MIN_POINTER = 4
IPOPT_TS_MIN_POINTER = 5
# Options kept whole, with their one valid length: MTU probe/reply (RFC 1063), Quick-Start
# (RFC 4782), stream id, router alert (RFC 2113)
IPOPT_FIXED = {11: 4, 12: 4, 25: 8, 136: 4, 148: 4}
IPOPT_SECURITY = 130  # RFC 1108 basic security: classification level and authority flags, kept
IPOPT_ASSIGNED = frozenset(
    (0, 1, 7, 10, 11, 12, 15, 25, 30, 68, 82, 94, 130, 131, 133, 134, 136, 137, 142, 144, 145, 147, 148, 149)
    + (150, 151, 152, 158, 205, 222)
)


def ipv4(m: FrameMap, offset: int, end: int) -> None:
    """An IPv4 header at `offset`, its options, and what it carries (bytes up to `end`)."""
    data = m.data
    ip, kind = new_layer(m, offset, 4)
    hlen = (data[offset] & 0x0F) * 4 if offset < end else 0
    if hlen < IPV4_MIN_HLEN or data[offset] >> 4 != 4:
        return m.fail(end)  # not an IPv4 header: none of it is kept
    if offset + IPV4_MIN_HLEN > end:
        if not may_cut(m, end) or (kind != A_OUTER and not (end >= m.n and m.truncated)):
            return m.fail(end)  # a short tunnelled or quoted header: its checksum cannot vouch for it
        m.put(offset + 12, R_IP)
        m.checksum(offset + 10, offset, offset + hlen, CK_IPV4_HEADER)  # follows the addresses; half of it is zeroed
        ip.src = m.address(offset + 12, 4, 4, kind)
        ip.dst = m.address(offset + 16, 4, 4, kind)
        return cut(m, end)
    total = u16(data, offset + 2)
    if total and total < hlen:
        return m.fail(end)  # a total length that lies: the header is not believed
    if (kind != A_OUTER or (offset + max(total, hlen) > end and not may_cut(m, end))) and not (
        offset + hlen <= end and ipv4_header_ok(data, offset, hlen)
    ):
        return m.fail(end)  # tunnelled, quoted, or lengths past the bytes there are: believed under a valid checksum
    m.put(offset + 12, R_IP)
    m.checksum(offset + 10, offset, offset + hlen, CK_IPV4_HEADER)
    ip.src = m.address(offset + 12, 4, 4, kind)
    ip.dst = m.address(offset + 16, 4, 4, kind)
    ip.pseudo = (ip.src, ip.dst)
    ip.end = offset + total if total else end  # total length 0: segmentation offload, the captured length counts
    dend = min(end, ip.end)
    hend = offset + hlen
    m.put(offset + IPV4_MIN_HLEN, R_IP)
    if hlen > IPV4_MIN_HLEN:
        if hend <= dend and not ipv4_header_ok(data, offset, hlen):
            return m.fail(end)  # the header length is not to be believed
        ipv4_options(m, offset + IPV4_MIN_HLEN, hend, ip)
        if hend > dend:
            return cut(m, end)
    frag = u16(data, offset + 6) & 0x3FFF
    protocol = data[offset + 9]
    if frag & 0x1FFF:
        later_fragment(m, hend, dend, protocol, ip, offset + 4)
    else:
        if frag:
            first_fragment(m, offset + 4)
        ip_payload(m, hend, dend, protocol, ip)
    m.put(end, R_TRAILER)


def ipv4_options(m: FrameMap, pos: int, stop: int, ip) -> None:
    """The option area ``[pos, stop)``; zeroed whole if any option in it is not valid."""
    mark = m.mark()
    if not _options(m, pos, stop, ip):
        m.rewind(mark)
        m.fail(stop)


def _options(m: FrameMap, pos: int, stop: int, ip) -> bool:
    def option(m: FrameMap, kind: int, at: int, length: int) -> bool:
        if kind not in IPOPT_ASSIGNED:
            return False
        rule = IPOPT_RULES.get(kind)
        if rule is None:
            m.put(at + 2, R_IP_OPTION)
            m.put(at + length, R_UNKNOWN)
            return True
        return rule(m, at, length, ip)

    return options(m, pos, stop, option, IPOPT_NOP, R_IP_OPTION, IPOPT_EOL, counted=True)


def _fixed(m: FrameMap, pos: int, length: int, ip) -> bool:
    if length != IPOPT_FIXED[m.data[pos]]:
        return False
    m.put(pos + length, R_IP_OPTION)
    return True


def _security(m: FrameMap, pos: int, length: int, ip) -> bool:
    if length < 3:
        return False
    m.put(pos + length, R_IP_OPTION)
    return True


def _route(m: FrameMap, pos: int, length: int, ip) -> bool:
    """Record route, loose and strict source routes: a pointer and 4-byte slots.

    Recorded addresses (before the pointer) and every source-route address are mapped;
    empty record-route slots are zeroed. While a source route is not complete, its last
    address is the final destination, which the transport pseudo-header uses (RFC 9293 §3.1).
    """
    data = m.data
    pointer = data[pos + 2] if pos + 2 < m.limit else IPOPT_ROUTE_MIN_POINTER
    if length < 3 or (length - 3) % 4 or pointer < IPOPT_ROUTE_MIN_POINTER:
        return False
    m.put(pos + 3, R_IP_OPTION)
    record = data[pos] == IPOPT_RR
    last = -1
    for slot in range(pos + 3, pos + length, 4):
        if record and slot - pos >= pointer - 1:
            m.put(slot + 4, R_PADDING)
        else:
            last = m.address(slot, 4, 4, A_OPTION)
    if not record and pointer <= length and last >= 0 and ip.pseudo:
        ip.pseudo = (ip.pseudo[0], last)
    return True


def _timestamp(m: FrameMap, pos: int, length: int, ip) -> bool:
    """Timestamps (RFC 791): with flag 1 the recorded (address, time) pairs, with flag 3 the prespecified ones."""
    data = m.data
    if length < 4 or pos + 4 > m.limit:
        return length >= 4
    pointer, flag = data[pos + 2], data[pos + 3] & 0x0F
    if pointer < IPOPT_TS_MIN_POINTER:
        return False
    m.put(pos + 4, R_IP_OPTION)
    if flag == IPOPT_TS_ONLY:
        if (length - 4) % 4:
            return False
        m.put(pos + length, R_IP_OPTION)
    elif flag in (IPOPT_TS_ADDRESSES, IPOPT_TS_PRESPECIFIED):
        if (length - 4) % 8:
            return False
        for slot in range(pos + 4, pos + length, 8):
            if flag == IPOPT_TS_ADDRESSES and slot - pos >= pointer - 1:
                m.put(slot + 8, R_PADDING)
            else:
                m.address(slot, 4, 4, A_OPTION)
                m.put(slot + 8, R_IP_OPTION)
    else:
        m.put(pos + length, R_UNKNOWN)
    return True


def _traceroute(m: FrameMap, pos: int, length: int, ip) -> bool:
    """RFC 1393: id, outbound and return hop counts, originator address."""
    if length != 12:
        return False
    m.put(pos + 8, R_IP_OPTION)
    m.address(pos + 8, 4, 4, A_OPTION)
    return True


IPOPT_RULES = dict.fromkeys(IPOPT_FIXED, _fixed)
IPOPT_RULES.update({
    IPOPT_SECURITY: _security,
    IPOPT_RR: _route,
    IPOPT_LSRR: _route,
    IPOPT_SSRR: _route,
    IPOPT_TS: _timestamp,
    IPOPT_TRACEROUTE: _traceroute,
})  # fmt: skip

ETHERTYPES[ETH_P_IP] = ipv4
