"""Rules 2 and 3 of the audit (SPEC §8), frame by frame: which payload bytes may be non-zero.

TCP goes to its direction (`~pktmask_nb.audit.tcp`). A UDP datagram may keep DTLS record
headers and the bodies of records other than application data. A transport payload
quoted by an ICMP error is judged as its TCP stream decided (or as a datagram); the
option skeleton of PPP control packets and ICMPv6 Neighbor Discovery (type and length of
each option) may stay. Everything else past the headers — other payloads, IP fragments,
bytes after the IP datagram (padding, trailers), frames of link types nobody dissects —
must be zero. 802.11 and radiotap frames keep their MAC headers in mask: they are counted
as unaudited.
"""

from __future__ import annotations

from .dissect import (
    FRAG_NONE,
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    STATUS_NOT_DISSECTED,
    STATUS_OK,
    carried,
    dissect,
)
from .report import KIND_PAYLOAD, KIND_TLS_APP_DATA, WHERE_PAYLOAD, WHERE_TRAILER
from .stream import ALLOW, APP
from .tcp import TcpAuditor
from .walkers import TLS_MAX_LEN

LINKTYPES_WLAN = frozenset((105, 127))  # IEEE 802.11, radiotap: headers kept by mask
DTLS_HLEN = 13
ND_OPTIONS_AT = {133: 8, 134: 16, 135: 24, 136: 24, 137: 40}  # RFC 4861 §4.1-4.5
ND_OPTION_UNIT = 8
MLD_TYPES = frozenset((130, 131, 132, 143))
ETH_P_PPPOE_SESS = b"\x88\x64"
ETH_P_PPPOE_DISC = b"\x88\x63"
PPPOE_VER_TYPE = 0x11
PPP_OPTION_PROTOCOLS = frozenset((0xC021, 0x8021, 0x8057, 0x80FD))  # LCP, IPCP, IPV6CP, CCP
PPP_CONTROL_PROTOCOLS = PPP_OPTION_PROTOCOLS | {0xC023, 0xC223}  # + PAP, CHAP
PPP_CONFIGURE_CODES = frozenset((1, 2, 3, 4))


class PayloadAuditor:
    """Judge the payload bytes of each packet of the sanitized file.

    Parameters
    ----------
    sink : Sink
    http : bool
        HTTP/1.x headers may stay (the pipeline ran with ``--keep http-headers``).
    """

    def __init__(self, sink, http: bool):
        self.sink = sink
        self.tcp = TcpAuditor(sink, http)
        self.frame = self.base = 0  # the current packet's number and the file offset of its data

    def packet(self, data, linktype: int, frame: int, base: int) -> None:
        """One frame; `base` is the file offset of ``data[0]``."""
        self.frame, self.base = frame, base
        layers = dissect(data, linktype)
        n = len(data)
        if layers.status == STATUS_NOT_DISSECTED:
            if linktype in LINKTYPES_WLAN:
                return self.sink.skip("not_dissected", data)
            return self.judge(data, 0, n, (), "a frame nobody dissects")
        start, end = layers.payload_start, layers.payload_end
        if end < n:
            self.judge(data, end, n, (), "bytes after the IP datagram", WHERE_TRAILER)
        transport, whole = layers.transport, layers.status == STATUS_OK and layers.fragment == FRAG_NONE
        if whole and transport == IPPROTO_TCP:
            return self.tcp.segment(data, layers, frame, base)  # SYNs without payload count too
        if start >= end:
            return None
        if whole and transport == IPPROTO_UDP:
            return self.judge(data, start, end, dtls_marks(data, start, end), "a UDP payload")
        if transport in (IPPROTO_ICMP, IPPROTO_ICMPV6) and layers.ips[-1][2]:
            return self._quoted(data, layers)
        return self.judge(data, start, end, control_marks(data, layers), "a zeroed payload")

    def _quoted(self, data, layers) -> None:
        start, end = layers.payload_start, layers.payload_end
        offset, version, _ = layers.ips[-1]
        protocol, t = carried(data, offset, version, end)
        if protocol == IPPROTO_UDP:
            marks = dtls_marks(data, start, end)
            return self.judge(data, start, end, marks, "an ICMP-quoted UDP payload")
        if protocol == IPPROTO_TCP and t + 8 <= start:
            return self.tcp.quoted(data, layers, t, self.frame, self.base)
        return self.judge(data, start, end, (), "an ICMP-quoted payload")

    def judge(self, data, start: int, end: int, marks, what: str, where: str = WHERE_PAYLOAD) -> None:
        """Report non-zero bytes of ``data[start:end]`` outside the ALLOW `marks` ``(a, b, kind)``."""
        part = data[start:end]
        if part.count(0) == len(part):
            return
        pieces, pos = [], start
        for a, b, kind in marks:  # sorted, disjoint
            if a > pos:
                pieces.append((pos, a, KIND_PAYLOAD))
            if kind == APP:
                pieces.append((a, b, KIND_TLS_APP_DATA))
            pos = max(pos, b)
        if pos < end:
            pieces.append((pos, end, KIND_PAYLOAD))
        found = {}  # kind -> [first offset, non-zero bytes]
        for lo, hi, kind in pieces:
            chunk = bytes(data[lo:hi])
            nonzero = len(chunk) - chunk.count(0)
            if nonzero:
                seen = found.setdefault(kind, [lo + len(chunk) - len(chunk.lstrip(b"\0")), 0])
                seen[1] += nonzero
        for kind, (first, nonzero) in found.items():
            text = "a TLS application-data body" if kind == KIND_TLS_APP_DATA else what
            self.sink.nonzero_bytes += nonzero
            self.sink.add(kind, self.frame, self.base + first, f"{nonzero} non-zero bytes in {text}", where)

    def finish(self) -> None:
        self.tcp.finish()


def dtls_marks(data, start: int, end: int) -> list[tuple[int, int, int]]:
    """DTLS records from the start of a datagram: headers and kept bodies ALLOW, app data APP."""
    marks, pos = [], start
    while pos + DTLS_HLEN <= end:
        kind, length = data[pos], (data[pos + 11] << 8) | data[pos + 12]
        if not (20 <= kind <= 24 and data[pos + 1] == 0xFE and data[pos + 2] >= 0xFC and length <= TLS_MAX_LEN):
            break
        stop = min(pos + DTLS_HLEN + length, end)
        marks += [(pos, pos + DTLS_HLEN, ALLOW), (pos + DTLS_HLEN, stop, APP if kind == 23 else ALLOW)]
        pos += DTLS_HLEN + length
    return marks


def control_marks(data, layers) -> list[tuple[int, int, int]]:
    """The option skeleton mask keeps in PPP control packets and ICMPv6 ND messages."""
    start, end, t = layers.payload_start, layers.payload_end, layers.transport_offset
    if layers.transport == IPPROTO_ICMPV6 and t >= 0:
        if t + 8 <= end and data[t] in MLD_TYPES:  # multicast addresses and sources: the address scan judges them
            return [(start, end, ALLOW)]
        at = ND_OPTIONS_AT.get(data[t]) if t + 8 <= end else None
        if at is None:
            return []
        return [(start, t + at, ALLOW)] + _options(
            data, t + at, end, ND_OPTION_UNIT
        )  # fields and targets, then options
    if start >= 2 and data[start - 2 : start] == ETH_P_PPPOE_DISC:
        return _pppoe_tags(data, start, end)
    if start < 10 or data[start - 10 : start - 8] != ETH_P_PPPOE_SESS or data[start - 8] != PPPOE_VER_TYPE:
        return []
    protocol = (data[start - 2] << 8) | data[start - 1]
    if protocol not in PPP_CONTROL_PROTOCOLS or start + 4 > end:
        return []
    marks = [(start, start + 4, ALLOW)]  # code, identifier, length
    if protocol in (0xC023, 0xC223) and data[start] in (1, 2) and start + 5 <= end:  # PAP, CHAP: length bytes
        marks.append((start + 4, start + 5, ALLOW))
        second = start + 5 + data[start + 4]
        if protocol == 0xC023 and second < end:
            marks.append((second, second + 1, ALLOW))
    if protocol in PPP_OPTION_PROTOCOLS and data[start] in PPP_CONFIGURE_CODES:
        stop = min(end, start + ((data[start + 2] << 8) | data[start + 3]))
        marks += _options(data, start + 4, stop, 1, PPP_VALUES_ALLOWED.get(protocol, ()))
    return marks


# Option values that carry no secret (MACs, MTUs, protocol numbers) or only addresses, which
# the address scan judges: NDP link-layer addresses, prefixes, MTU, nonce, DNS servers; LCP
# MRU, ACCM, authentication and quality protocols, compression flags, MRRU; IPCP addresses.
ND_VALUES_ALLOWED = frozenset((1, 2, 3, 5, 14, 24, 25, 26))
PPP_VALUES_ALLOWED = {0xC021: frozenset((1, 2, 3, 4, 7, 8, 17, 18)), 0x8021: frozenset((1, 2, 3, 129, 130, 131, 132))}


def _pppoe_tags(data, start: int, end: int) -> list[tuple[int, int, int]]:
    """A PPPoE discovery packet: its header and each tag's type and length."""
    marks, pos = [(start, start + 6, ALLOW)], start + 6
    while pos + 4 <= end:
        marks.append((pos, pos + 4, ALLOW))
        pos += 4 + ((data[pos + 2] << 8) | data[pos + 3])
    return marks


def _options(data, pos: int, end: int, unit: int, allowed=ND_VALUES_ALLOWED) -> list[tuple[int, int, int]]:
    marks = []
    while pos + 2 <= end:
        length = data[pos + 1] * unit
        if length < 2:
            break
        marks.append((pos, pos + (length if data[pos] in allowed else 2), ALLOW))
        pos += length
    return marks
