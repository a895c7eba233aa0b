"""802.11 and radiotap (SPEC §3: not dissected, counted): headers kept, frame bodies zeroed.

The radiotap header is kept when its length fits the frame (its fields are radio metadata);
fields in a vendor namespace are zeroed. The 802.11 MAC header is kept as long as its frame
type and subtype say; a control frame has no body, so anything after its fixed fields is
zeroed. The body of every other frame (LLC, IP, management elements, ciphertext) is zeroed.
"""

from __future__ import annotations

from .ip import cut_short, may_cut
from .spans import R_FAIL, R_MAC, R_NOT_DISSECTED, R_OVERRUN, R_UNKNOWN, R_WLAN, STATUS_NOT_DISSECTED, FrameMap

LINKTYPE_IEEE802_11 = 105
LINKTYPE_IEEE802_11_RADIOTAP = 127
RADIOTAP_MIN_LEN = 8  # version, pad, length, first present word
RADIOTAP_VERSION = 0
RADIOTAP_EXT = 1 << 31
RADIOTAP_VENDOR_NAMESPACE = 1 << 30
WLAN_TYPE_MANAGEMENT, WLAN_TYPE_CONTROL, WLAN_TYPE_DATA = 0, 1, 2
WLAN_HLEN = 24  # frame control, duration, three addresses, sequence control
WLAN_FC_ORDER = 0x8000
# control subtype -> length of its fixed fields (IEEE 802.11-2020 §9.3.1): ACK and CTS carry one
# address, RTS, PS-Poll, CF-End two, BlockAckReq/BlockAck two and their control fields
WLAN_CONTROL_LENGTHS = {13: 10, 12: 10, 11: 16, 10: 16, 14: 16, 15: 16, 8: 20, 9: 20, 4: 17}
WLAN_CONTROL_DEFAULT = 10


def wlan_radiotap(m: FrameMap) -> None:
    data, n = m.data, m.n
    m.status = STATUS_NOT_DISSECTED
    if n < RADIOTAP_MIN_LEN or data[0] != RADIOTAP_VERSION:
        return m.put(n, R_FAIL)  # too short, or a version radiotap never had: none of it kept
    length = data[2] | (data[3] << 8)
    if length < RADIOTAP_MIN_LEN or length > n:
        return m.put(n, R_OVERRUN)  # a length that lies: the header is not believed
    pos, vendor = 4, False
    while pos + 4 <= length:
        present = int.from_bytes(data[pos : pos + 4], "little")
        vendor |= bool(present & RADIOTAP_VENDOR_NAMESPACE)
        pos += 4
        if not present & RADIOTAP_EXT:
            break
    m.put(pos, R_WLAN)
    m.put(length, R_UNKNOWN if vendor else R_WLAN)
    _mac(m, length)


def wlan(m: FrameMap) -> None:
    m.status = STATUS_NOT_DISSECTED
    _mac(m, 0)


def _mac(m: FrameMap, offset: int) -> None:
    """The 802.11 MAC header at `offset` by frame type; the body is zeroed."""
    data, n = m.data, m.n
    if offset + 2 > n:
        return cut_short(m, n, R_WLAN)
    fc = data[offset] | (data[offset + 1] << 8)
    kind, subtype = (fc >> 2) & 3, (fc >> 4) & 0xF
    if fc & 3:
        return m.put(n, R_FAIL)  # a protocol version 802.11 never had: none of it kept
    length = _mac_length(fc, kind, subtype)
    if offset + length > n and not may_cut(m, n):
        return m.fail(n)  # a frame that ends inside its header, not cut by the capture: none of it kept
    m.put(offset + 4, R_WLAN)  # frame control, duration
    if kind == WLAN_TYPE_CONTROL:
        m.hardware(offset + 4, 2 if length >= 16 else 1)  # receiver, transmitter
        m.put(offset + min(length, 16), R_MAC)
        m.put(offset + length, R_WLAN)
        return m.put(n, R_NOT_DISSECTED)
    m.hardware(offset + 4, 3)
    m.put(offset + WLAN_HLEN, R_WLAN)  # sequence control
    if kind == WLAN_TYPE_DATA and (fc >> 8) & 3 == 3:
        m.hardware(offset + WLAN_HLEN)  # a fourth address
    m.put(offset + length, R_WLAN)
    m.put(n, R_NOT_DISSECTED)


def _mac_length(fc: int, kind: int, subtype: int) -> int:
    """The length of the MAC header its frame control describes."""
    if kind == WLAN_TYPE_CONTROL:
        return WLAN_CONTROL_LENGTHS.get(subtype, WLAN_CONTROL_DEFAULT)
    length = WLAN_HLEN
    if kind == WLAN_TYPE_DATA:
        if (fc >> 8) & 3 == 3:
            length += 6  # a fourth address
        if subtype & 0x8:
            length += 2 + (4 if fc & WLAN_FC_ORDER else 0)  # QoS, HT control
    elif fc & WLAN_FC_ORDER:
        length += 4
    return length


LINKTYPES = {LINKTYPE_IEEE802_11: wlan, LINKTYPE_IEEE802_11_RADIOTAP: wlan_radiotap}
