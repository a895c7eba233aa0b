"""802.11 frames, which the shared dissector leaves "not dissected" (SPEC §3): keep headers, zero bodies.

Wireshark parses the result: the radiotap header and the 802.11 MAC header stay, the frame
body (LLC, IP, management elements, encrypted data) becomes zeros. Any other link type
the dissector does not know is zeroed whole.
"""

from __future__ import annotations

LINKTYPE_IEEE802_11 = 105
LINKTYPE_IEEE802_11_RADIOTAP = 127
WLAN_TYPE_CONTROL = 1
WLAN_TYPE_DATA = 2
WLAN_HLEN = 24  # frame control, duration, three addresses, sequence control
WLAN_ADDR4_LEN = 6
WLAN_QOS_LEN = 2
WLAN_HT_CONTROL_LEN = 4
WLAN_FC_ORDER = 0x8000


def wlan_body_start(data, linktype: int) -> int:
    """Offset of the 802.11 frame body (the end of everything kept); 0 for other link types."""
    offset = 0
    if linktype == LINKTYPE_IEEE802_11_RADIOTAP:
        if len(data) < 4:
            return 0
        offset = data[2] | (data[3] << 8)
    elif linktype != LINKTYPE_IEEE802_11:
        return 0
    if offset + 2 > len(data):
        return min(offset, len(data))
    fc = data[offset] | (data[offset + 1] << 8)
    kind, subtype = (fc >> 2) & 3, (fc >> 4) & 0xF
    if kind == WLAN_TYPE_CONTROL:
        return len(data)  # no body: addresses only
    length = WLAN_HLEN
    if kind == WLAN_TYPE_DATA:
        length += WLAN_ADDR4_LEN if (fc >> 8) & 3 == 3 else 0
        if subtype & 0x8:
            length += WLAN_QOS_LEN + (WLAN_HT_CONTROL_LEN if fc & WLAN_FC_ORDER else 0)
    elif fc & WLAN_FC_ORDER:
        length += WLAN_HT_CONTROL_LEN
    return min(offset + length, len(data))
