"""IPv6 headers and extension headers (RFC 8200 §4, IANA ipv6-parameters).

Hop-by-Hop and Destination Options (with the Home Address option, RFC 6275 §6.3), routing
headers of types 0, 2 (RFC 6275 §6.4), 3 (RPL, RFC 6554, compressed addresses) and 4
(segment routing, RFC 8754, with its TLVs), Fragment, AH (its ICV zeroed), ESP (SPI and
sequence kept), the Mobility Header (RFC 6275 §6.1), HIP (RFC 7401) and Shim6 (RFC 5533).

A non-first fragment ends the walk: what follows its Fragment header is the middle of a
datagram, not headers. The transport pseudo-header uses the Home Address option as source
and a routing header's final destination while segments are left (RFC 8200 §8.1).
"""

from __future__ import annotations

from .ip import (
    IPPROTO_AH,
    IPPROTO_DSTOPTS,
    IPPROTO_ESP,
    IPPROTO_FRAGMENT,
    IPPROTO_HIP,
    IPPROTO_HOPOPTS,
    IPPROTO_MOBILITY,
    IPPROTO_NONE,
    IPPROTO_ROUTING,
    IPPROTO_SHIM6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPV6_HLEN,
    cut,
    first_fragment,
    later_fragment,
    may_cut,
    new_layer,
    plausible_ipv6,
)
from .spans import (
    A_INNER,
    A_OPTION,
    CK_ICMPV6,
    CK_PLAIN,
    FRAG_FIRST,
    R_ENCRYPTED,
    R_IDENTIFIER,
    R_IP,
    R_IP_OPTION,
    R_OVERRUN,
    R_PADDING,
    R_TRAILER,
    R_UNKNOWN,
    FrameMap,
)
from .walk import ETHERTYPES, IP_PROTOCOLS, failed_since, ip_payload, options, u16

ETH_P_IPV6 = 0x86DD
IPV6_MAX_EXTENSIONS = 16  # a longer chain is not followed (fail closed)

# Option types (IANA ipv6-parameters-2)
IP6OPT_PAD1, IP6OPT_PADN = 0x00, 0x01
IP6OPT_HOME_ADDRESS = 0xC9
IP6OPT_RPL = 0x63
IP6OPT_RPL_LEN = 4  # RFC 6553: flags, instance id, sender rank; sub-TLVs are not kept
IP6OPT_FIXED = {
    0x05: 2,
    0xC2: 4,
    0x04: 1,
    0x26: 6,
    0x0F: 10,
    0x30: 4,
}  # router alert, jumbo, tunnel encap limit, quick-start, PDM, min path MTU
IP6OPT_ASSIGNED = frozenset(
    (0x00, 0x01, 0xC2, 0x23, 0x63, 0x04, 0x05, 0x26, 0x07, 0x08, 0xC9, 0x8A, 0x8B, 0x8C, 0x4D, 0x6D, 0xEE)
    + (0x0F, 0x30, 0x11, 0x31, 0x12, 0x1E, 0x3E, 0x5E, 0x7E, 0x9E, 0xBE, 0xDE, 0xFE)
)

ROUTING_TYPE0, ROUTING_MIP6, ROUTING_RPL, ROUTING_SRH = 0, 2, 3, 4
SRH_TLV_PAD1, SRH_TLV_PADN, SRH_TLV_HMAC = 0, 4, 5
SRH_HMAC_KEPT = 6  # D flag and reserved (2), HMAC key id (4); the HMAC itself is a digest of the original
AH_FIXED = 12  # next header, length, reserved, SPI, sequence number
ESP_HEADER = 8  # SPI, sequence number


def ipv6(m: FrameMap, offset: int, end: int) -> None:
    """An IPv6 header at `offset`, its extension headers and what they carry (bytes up to `end`)."""
    data = m.data
    ip, kind = new_layer(m, offset, 6)
    if offset >= end or data[offset] >> 4 != 6:
        return m.fail(end)  # not an IPv6 header: none of it is kept
    if offset + IPV6_HLEN > end:
        if not may_cut(m, end):
            return m.fail(end)
        m.put(offset + 8, R_IP)
        ip.src = m.address(offset + 8, 16, 16, kind)
        ip.dst = m.address(offset + 24, 16, 16, kind)
        return cut(m, end)
    payload = u16(data, offset + 4)
    if kind == A_INNER and not plausible_ipv6(m, offset, end) and m.fragment != FRAG_FIRST:
        return m.fail(end)  # a tunnelled header whose payload does not end with the tunnel's: not believed
    # A payload length past the bytes the capture kept whole: no checksum vouches for the header
    # (captures cut long datagrams silently), so it is believed only if what it carries parses
    # down to a TCP or UDP header (ESP, or an ICMPv6 type nobody assigned, would take any bytes).
    overrun = offset + IPV6_HLEN + payload > end and not may_cut(m, end)
    mark = m.mark()
    m.put(offset + 8, R_IP)
    ip.src = m.address(offset + 8, 16, 16, kind)
    ip.dst = m.address(offset + 24, 16, 16, kind)
    ip.pseudo = (ip.src, ip.dst)
    ip.end = offset + IPV6_HLEN + payload if payload else end  # 0: jumbogram or segmentation offload
    dend = min(end, ip.end)
    extensions(m, offset + IPV6_HLEN, dend, data[offset + 6], ip)
    if overrun and (failed_since(m, mark) or m.l4 <= offset or m.transport not in (IPPROTO_TCP, IPPROTO_UDP)):
        m.rewind(mark)
        return m.fail(end)
    m.put(end, R_TRAILER)


def extensions(m: FrameMap, pos: int, end: int, next_header: int, ip) -> None:
    """Walk extension headers from `pos`, then hand the upper layer to its protocol."""
    for _ in range(IPV6_MAX_EXTENSIONS):
        handler = EXTENSIONS.get(next_header)
        if handler is None:
            return ip_payload(m, pos, end, next_header, ip)
        next_header, pos = handler(m, pos, end, ip)
        if pos < 0:
            return
    m.fail(end)


def _length(m: FrameMap, pos: int, end: int, size: int) -> int:
    """`size` if the header at `pos` fits before `end` (or the capture cut it: parse what is
    there); else -1 after zeroing it whole: a length that lies is not believed."""
    if pos + size <= end or may_cut(m, end):
        return size
    m.fail(end, R_OVERRUN)
    return -1


def options_header(m: FrameMap, pos: int, end: int, ip):
    """Hop-by-Hop or Destination Options: TLV options, strictly read."""
    if pos + 2 > end:
        cut(m, end)
        return -1, -1
    size = _length(m, pos, end, (m.data[pos + 1] + 1) * 8)
    if size < 0:
        return -1, -1
    m.put(pos + 2, R_IP_OPTION)
    mark = m.mark()
    if not tlv_options(m, pos + 2, pos + size, ip):
        m.rewind(mark)
        m.fail(pos + size)
    if pos + size > end:
        cut(m, end)
        return -1, -1
    return m.data[pos], pos + size


def tlv_options(m: FrameMap, pos: int, stop: int, ip) -> bool:
    """IPv6 options ``[pos, stop)`` (RFC 8200 §4.2); False if one is not valid."""

    def option(m: FrameMap, kind: int, at: int, size: int) -> bool:
        if kind not in IP6OPT_ASSIGNED:
            return False
        value, length = at + 2, size - 2
        m.put(value, R_IP_OPTION)
        if kind == IP6OPT_PADN:
            m.put(value + length, R_PADDING)
        elif kind in IP6OPT_FIXED:
            if length != IP6OPT_FIXED[kind]:
                return False
            m.put(value + length, R_IP_OPTION)
        elif kind == IP6OPT_HOME_ADDRESS:
            if length != 16:
                return False
            home = m.address(value, 16, 16, A_OPTION)
            if home >= 0 and ip.pseudo:
                ip.pseudo = (home, ip.pseudo[1])
        elif kind == IP6OPT_RPL and length >= IP6OPT_RPL_LEN:
            m.put(value + IP6OPT_RPL_LEN, R_IP_OPTION)
            m.put(value + length, R_UNKNOWN)
        else:
            m.put(value + length, R_UNKNOWN)
        return True

    return options(m, pos, stop, option, IP6OPT_PAD1, R_IP_OPTION)


def routing(m: FrameMap, pos: int, end: int, ip):
    """A routing header: its addresses are mapped; while segments are left its final
    destination stands in the transport pseudo-header (RFC 8200 §8.1)."""
    data = m.data
    if pos + 4 > end:
        cut(m, end)
        return -1, -1
    size = _length(m, pos, end, (data[pos + 1] + 1) * 8)
    if size < 0:
        return -1, -1
    m.put(pos + 4, R_IP_OPTION)
    kind, left = data[pos + 2], data[pos + 3]
    rule = ROUTING_TYPES.get(kind)
    mark = m.mark()
    final = rule(m, pos, size, ip) if rule is not None else _unknown_routing(m, pos, size)
    if final is None:  # not valid for its type
        m.rewind(mark)
        m.fail(pos + size)
    elif final >= 0 and left and ip.pseudo:
        ip.pseudo = (ip.pseudo[0], final)
    if pos + size > end:
        cut(m, end)
        return -1, -1
    return data[pos], pos + size


def _unknown_routing(m: FrameMap, pos: int, size: int) -> int:
    m.put(pos + size, R_UNKNOWN)
    return -1


def _type0(m: FrameMap, pos: int, size: int, ip):
    """Type 0 (deprecated, RFC 5095) and its layout: reserved word, then addresses; the last is final."""
    if (size - 8) % 16:
        return None
    m.put(pos + 8, R_PADDING)  # the reserved word
    final = -1
    for at in range(pos + 8, pos + size, 16):
        final = m.address(at, 16, 16, A_OPTION)
    return final


def _type2(m: FrameMap, pos: int, size: int, ip):
    """Mobile IPv6 (RFC 6275 §6.4): one home address, the final destination."""
    if size != 24:
        return None
    m.put(pos + 8, R_PADDING)  # the reserved word
    return m.address(pos + 8, 16, 16, A_OPTION)


def _rpl(m: FrameMap, pos: int, size: int, ip):
    """RPL source route (RFC 6554): addresses with their first CmprI (last: CmprE) bytes
    elided, being those of the IPv6 destination address; then Pad bytes."""
    data = m.data
    if pos + 8 > m.limit:
        return -1
    compressed, last_compressed, pad = data[pos + 4] >> 4, data[pos + 4] & 0x0F, data[pos + 5] >> 4
    area = size - 8
    step, last = 16 - compressed, 16 - last_compressed
    if (area and ((area - pad - last) < 0 or (area - pad - last) % step)) or data[pos + 5] & 0x0F:
        return None  # addresses that do not fill the header, or reserved bits set
    m.put(pos + 6, R_IP_OPTION)
    m.put(pos + 8, R_PADDING)  # the rest of the reserved field
    if area == 0:
        return -1
    count = (area - pad - last) // step + 1
    at, final = pos + 8, -1
    destination = ip.offset + 24
    for i in range(count):
        width = last if i == count - 1 else step
        final = m.address(at, width, 16, A_OPTION, prefix_at=destination if width < 16 else -1)
        at += width
    m.put(pos + size, R_PADDING)
    return final


def _srh(m: FrameMap, pos: int, size: int, ip):
    """Segment routing (RFC 8754 §2): the segment list (segment 0 is final), then TLVs."""
    data = m.data
    if pos + 8 > m.limit:
        return -1
    segments = data[pos + 4] + 1
    stop = pos + 8 + 16 * segments
    if stop > pos + size:
        return None
    m.put(pos + 8, R_IP_OPTION)
    first = -1
    for at in range(pos + 8, stop, 16):
        index = m.address(at, 16, 16, A_OPTION)
        if at == pos + 8:
            first = index
    return first if options(m, stop, pos + size, _srh_tlv, SRH_TLV_PAD1, R_IP_OPTION) else None


def _srh_tlv(m: FrameMap, kind: int, pos: int, size: int) -> bool:
    m.put(pos + 2, R_IP_OPTION)
    if kind == SRH_TLV_PADN:
        m.put(pos + size, R_PADDING)
    elif kind == SRH_TLV_HMAC and size - 2 >= SRH_HMAC_KEPT:
        m.put(pos + 2 + SRH_HMAC_KEPT, R_IP_OPTION)
        m.put(pos + size, R_IDENTIFIER)
    else:
        m.put(pos + size, R_UNKNOWN)
    return True


ROUTING_TYPES = {ROUTING_TYPE0: _type0, ROUTING_MIP6: _type2, ROUTING_RPL: _rpl, ROUTING_SRH: _srh}


def fragment(m: FrameMap, pos: int, end: int, ip):
    """A Fragment header; after a non-first fragment's header only fragment data follows."""
    data = m.data
    if pos + 8 > end:
        cut(m, end)
        return -1, -1
    m.put(pos + 1, R_IP_OPTION)
    m.put(pos + 2, R_PADDING)  # the reserved byte
    m.put(pos + 8, R_IP_OPTION)
    offset = u16(data, pos + 2) & 0xFFF8
    if offset:
        later_fragment(m, pos + 8, end, data[pos], ip, pos + 4)
        return -1, -1
    if data[pos + 3] & 1:
        first_fragment(m, pos + 4)
    return data[pos], pos + 8


def authentication(m: FrameMap, pos: int, end: int, ip):
    """AH (RFC 4302): SPI and sequence number kept; the ICV, a keyed digest of the original packet, zeroed."""
    data = m.data
    if pos + AH_FIXED > end:
        cut(m, end)
        return -1, -1
    size = (data[pos + 1] + 2) * 4
    if size < AH_FIXED or u16(data, pos + 2) or not (data[pos + 4] or data[pos + 5] or data[pos + 6]):
        m.fail(end)  # shorter than its fixed fields, a reserved field or SPI (RFC 4302 §2): not AH
        return -1, -1
    size = _length(m, pos, end, size)
    if size < 0:
        return -1, -1
    m.put(pos + AH_FIXED, R_IP_OPTION)
    m.put(pos + size, R_IDENTIFIER)
    if pos + size > end:
        cut(m, end)
        return -1, -1
    return data[pos], pos + size


def ah_payload(m: FrameMap, pos: int, end: int, ip) -> None:
    """AH carried by IPv4 (protocol 51): the same header, then the protocol it names."""
    next_header, pos = authentication(m, pos, end, ip)
    if pos >= 0:
        ip_payload(m, pos, end, next_header, ip)


def esp(m: FrameMap, pos: int, end: int, ip) -> None:
    """ESP (RFC 4303): SPI and sequence number; the rest is ciphertext, or cleartext under NULL
    encryption. An SPI below 256 is reserved (RFC 4303 §2.1): not ESP, nothing kept."""
    data = m.data
    if (pos + ESP_HEADER > end and not may_cut(m, end)) or (
        pos + 4 <= end and not (data[pos] or data[pos + 1] or data[pos + 2])
    ):
        return m.fail(end, R_ENCRYPTED)
    m.put(pos + ESP_HEADER, R_IP_OPTION)
    m.put(end, R_ENCRYPTED)


def no_next_header(m: FrameMap, pos: int, end: int, ip) -> None:
    m.put(end, R_TRAILER)  # RFC 8200 §4.7: bytes after it are ignored


def shim6(m: FrameMap, pos: int, end: int, ip):
    """Shim6 (RFC 5533 §5): a payload extension header is kept and followed; control
    messages (which carry locator lists) keep their 8-byte header and checksum only."""
    data = m.data
    if pos + 8 > end:
        cut(m, end)
        return -1, -1
    payload = data[pos + 2] & 0x80
    if data[pos + 1] != 0 if payload else (data[pos] != IPPROTO_NONE or data[pos + 2] not in SHIM6_TYPES):
        m.fail(end)  # a payload header longer than 8 bytes, or a control message of no type: not Shim6
        return -1, -1
    m.put(pos + 8, R_IP_OPTION)
    if payload:
        return data[pos], pos + 8
    size = _length(m, pos, end, (data[pos + 1] + 1) * 8)
    if size < 0:
        return -1, -1
    m.checksum(pos + 4, pos, pos + size, CK_PLAIN)
    m.put(pos + size, R_UNKNOWN)
    m.put(end, R_TRAILER)
    return -1, -1


SHIM6_TYPES = frozenset((1, 2, 3, 4, 5, 6, 64, 65, 66, 67, 68))  # control message types (RFC 5533 §5)


# -- Mobility Header (RFC 6275 §6.1) -------------------------------------------------------

MH_HLEN = 6  # payload proto, header length, MH type, reserved, checksum
MH_BINDING_ERROR = 7
# MH type -> (bytes of message data before the options, kept); Binding Error's home address is a field
MH_MESSAGES = {0: 2, 1: 10, 2: 10, 3: 18, 4: 18, 5: 6, 6: 6, MH_BINDING_ERROR: 18}
MHOPT_PAD1, MHOPT_PADN, MHOPT_REFRESH, MHOPT_ALTERNATE_COA, MHOPT_NONCES, MHOPT_AUTHORIZATION = range(6)


def mobility(m: FrameMap, pos: int, end: int, ip) -> None:
    """The Mobility Header: its messages' fixed fields, addresses mapped, options by type."""
    data = m.data
    if (
        (pos + MH_HLEN > end and not may_cut(m, end))
        or (pos < end and data[pos] != IPPROTO_NONE)
        or (pos + 3 < end and data[pos + 3])
    ):
        return m.fail(end)  # its payload proto must be 59 and its reserved byte zero (RFC 6275 §6.1.1)
    if pos + MH_HLEN > end:
        m.put(end, R_IP_OPTION)
        return cut(m, end)
    size = _length(m, pos, end, (data[pos + 1] + 1) * 8)
    if size < 0:
        return
    m.checksum(pos + 4, pos, pos + size, CK_ICMPV6, ip.pseudo)
    m.put(pos + MH_HLEN, R_IP_OPTION)
    fixed = MH_MESSAGES.get(data[pos + 2])
    stop = pos + size
    if fixed is None or pos + MH_HLEN + fixed > stop:
        m.put(stop, R_UNKNOWN)
    else:
        if data[pos + 2] == MH_BINDING_ERROR:
            m.put(pos + MH_HLEN + 2, R_IP_OPTION)
            m.address(pos + MH_HLEN + 2, 16, 16, A_OPTION)
        m.put(pos + MH_HLEN + fixed, R_IP_OPTION)
        mark = m.mark()
        if not options(m, pos + MH_HLEN + fixed, stop, _mobility_option, MHOPT_PAD1, R_IP_OPTION):
            m.rewind(mark)
            m.fail(stop)
    m.put(end, R_TRAILER)


def _mobility_option(m: FrameMap, kind: int, pos: int, size: int) -> bool:
    m.put(pos + 2, R_IP_OPTION)
    if kind == MHOPT_PADN:
        m.put(pos + size, R_PADDING)
    elif kind in (MHOPT_REFRESH, MHOPT_NONCES):
        m.put(pos + size, R_IP_OPTION)
    elif kind == MHOPT_ALTERNATE_COA and size == 18:
        m.address(pos + 2, 16, 16, A_OPTION)
    elif kind == MHOPT_AUTHORIZATION:
        m.put(pos + size, R_IDENTIFIER)
    else:
        m.put(pos + size, R_UNKNOWN)
    return True


# -- HIP (RFC 7401 §5) ---------------------------------------------------------------------

HIP_HLEN = 40  # next header, length, type, version, checksum, controls, sender and receiver HITs
HIP_HITS = 8  # offset of the sender HIT: HITs are host identifiers (hashes of keys), zeroed
HIP_LOCATOR_SET = 193
HIP_VERSIONS = (1, 2)
# Parameters kept whole: R1_COUNTER, PUZZLE, SOLUTION, SEQ, ACK, DH_GROUP_LIST, DIFFIE_HELLMAN,
# HIP_CIPHER, HIT_SUITE_LIST, TRANSPORT_FORMAT_LIST, ESP_INFO, ESP_TRANSFORM
HIP_KEPT_PARAMETERS = frozenset((129, 257, 321, 385, 449, 511, 513, 579, 715, 2049, 65, 4095))


def hip(m: FrameMap, pos: int, end: int, ip) -> None:
    """HIP: fixed header kept, HITs zeroed, locators mapped, other parameters by type."""
    data = m.data
    if (
        (pos + HIP_HLEN > end and not may_cut(m, end))
        or (pos < end and data[pos] != IPPROTO_NONE)
        or (pos + 2 < end and data[pos + 2] & 0x80)
        or (pos + 3 < end and (data[pos + 3] >> 4 not in HIP_VERSIONS or not data[pos + 3] & 1))
    ):
        return m.fail(end)  # no room for its fixed header, or bits RFC 7401 §5.1 fixes: not HIP
    if pos + HIP_HLEN > end:
        m.put(min(end, pos + HIP_HITS), R_IP_OPTION)
        m.put(end, R_IDENTIFIER)
        return cut(m, end)
    size = _length(m, pos, end, (data[pos + 1] + 1) * 8)
    if size < 0:
        return
    m.checksum(pos + 4, pos, pos + size, CK_ICMPV6, ip.pseudo)
    m.put(pos + HIP_HITS, R_IP_OPTION)
    m.put(pos + HIP_HLEN, R_IDENTIFIER)
    at, stop = pos + HIP_HLEN, pos + size
    while at + 4 <= stop:
        kind, length = u16(data, at), u16(data, at + 2)
        padded = (4 + length + 7) & ~7
        if at + padded > stop:
            break
        m.put(at + 4, R_IP_OPTION)
        if kind == HIP_LOCATOR_SET:
            _locators(m, at + 4, at + 4 + length)
        m.put(at + 4 + length, R_IP_OPTION if kind in HIP_KEPT_PARAMETERS else R_IDENTIFIER)
        m.put(at + padded, R_PADDING)
        at += padded
    m.fail(stop)
    m.put(end, R_TRAILER)


def _locators(m: FrameMap, pos: int, stop: int) -> None:
    """LOCATOR_SET (RFC 8046 §4): traffic and locator type, length, lifetime, the locator."""
    data = m.data
    while pos + 8 <= stop:
        kind, size = data[pos + 1], data[pos + 2] * 4
        if pos + 8 + size > stop:
            return
        m.put(pos + 8, R_IP_OPTION)
        if kind == 0 and size == 16:
            m.address(pos + 8, 16, 16, A_OPTION)
        elif kind == 1 and size == 20:
            m.put(pos + 12, R_IP_OPTION)  # ESP SPI
            m.address(pos + 12, 16, 16, A_OPTION)
        m.put(pos + 8 + size, R_IDENTIFIER)
        pos += 8 + size


EXTENSIONS = {
    IPPROTO_HOPOPTS: options_header,
    IPPROTO_DSTOPTS: options_header,
    IPPROTO_ROUTING: routing,
    IPPROTO_FRAGMENT: fragment,
    IPPROTO_AH: authentication,
    IPPROTO_SHIM6: shim6,
}
IP_PROTOCOLS.update({
    IPPROTO_AH: ah_payload,
    IPPROTO_ESP: esp,
    IPPROTO_NONE: no_next_header,
    IPPROTO_MOBILITY: mobility,
    IPPROTO_HIP: hip,
})  # fmt: skip
ETHERTYPES[ETH_P_IPV6] = ipv6
