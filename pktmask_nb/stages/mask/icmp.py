"""Transport payloads quoted by ICMP/ICMPv6 errors: they get the decision of the bytes they copy.

Wireshark dissects the quoted bytes (a TLS record header, a DTLS record): zeroing them
would change the records it sees (SPEC §2.6). So quoted DTLS records are walked as in any
datagram, and quoted TCP bytes are looked up in their direction's decision map (zeroed
when the flow is unknown or the bytes are not decided yet); the rest is zeroed.
"""

from __future__ import annotations

from ...proto.dissect import IPPROTO_TCP, IPPROTO_UDP, carried
from ...proto.ip import IPV6_HLEN
from .dtls import dtls_keeps
from .flows import TLS_COUNT_NAMES
from .frames import addresses, context, flow_key, zero_outside
from .stream import FAIL_GAP


def quoted_checksums(data, layers) -> list:
    """`layers.checksums`, with the quoted TCP/UDP checksum covering its datagram when it is all there.

    The dissector lets a quoted transport checksum follow only its pseudo-header (the quote
    is usually cut short); when the whole quoted datagram is captured, Wireshark verifies
    that checksum, so changes to the quoted payload must update it.
    """
    offset, version, _ = layers.ips[-1]
    if version == 4:
        end = offset + ((data[offset + 2] << 8) | data[offset + 3])
    else:
        end = offset + IPV6_HLEN + ((data[offset + 4] << 8) | data[offset + 5])
    if end > layers.payload_end:
        return layers.checksums
    return [(p, a, end if a == b and a > offset else b, i, k) for p, a, b, i, k in layers.checksums]


def quoted_changes(data, layers, flows: dict, changes: list) -> None:
    """Add the zeroing changes of the quoted transport payload ``[payload_start, payload_end)``."""
    start, end = layers.payload_start, layers.payload_end
    offset, version, _ = layers.ips[-1]
    protocol, t = carried(data, offset, version, end)
    if protocol == IPPROTO_UDP:
        zero_outside(changes, dtls_keeps(data, start, end, [0] * len(TLS_COUNT_NAMES))[0], start, end)
        return
    d = _direction(data, layers, flows, offset, version, t) if protocol == IPPROTO_TCP else None
    if d is None or t + 8 > start:
        changes.append((start, end - start))
        return
    at = d.offset_of(int.from_bytes(data[t + 4 : t + 8], "big"))
    if at < 0 or at + end - start > d.decided:  # not decided (yet): zero, and say so
        d.flow.count_event(FAIL_GAP)
        d.flow.failed += end - start
        changes.append((start, end - start))
        return
    changes.extend((start + a - at, b - a) for a, b in d.zero_ranges(at, at + end - start)[0])


def _direction(data, layers, flows: dict, offset: int, version: int, t: int):
    """The known TCP direction of the quoted datagram (its flow is not touched), or None."""
    src, dst = addresses(data, offset, version)
    a, b = bytes(src + data[t : t + 2]), bytes(dst + data[t + 2 : t + 4])
    key, side = flow_key(IPPROTO_TCP, context(data, layers) if layers.ip_index else b"", a, b)
    flow = flows.get(key)
    d = None if flow is None else flow.dirs[side]
    return None if d is None or d.base is None else d
