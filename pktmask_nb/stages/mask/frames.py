"""Frame helpers of the mask stage: the plain-TCP fast path, flow-key parts, ranges to zero.

`plain_tcp` parses the common frame, Ethernet [802.1Q] / IPv4 or IPv6 / TCP, without the
general dissector; anything else (tunnels, IPv4 options, extension headers, fragments,
truncation, other link types) returns None and takes `~pktmask_nb.proto.dissect.dissect`.
"""

from __future__ import annotations

LINKTYPE_ETHERNET = 1
ETH_IPV4 = b"\x08\x00"
ETH_IPV6 = b"\x86\xdd"
ETH_8021Q = b"\x81\x00"


def plain_tcp(data, linktype: int):
    """``(tcp_offset, payload_start, payload_end, src, dst)`` of a plain TCP frame, else None."""
    if linktype != LINKTYPE_ETHERNET:
        return None
    ethertype, off = data[12:14], 14
    if ethertype == ETH_8021Q:
        ethertype, off = data[16:18], 18
    n = len(data)
    if ethertype == ETH_IPV4:
        if n < off + 40 or data[off] != 0x45 or data[off + 9] != 6 or data[off + 6] & 0x3F or data[off + 7]:
            return None
        end = off + ((data[off + 2] << 8) | data[off + 3])
        t = off + 20
        src, dst = data[off + 12 : off + 16], data[off + 16 : off + 20]
    elif ethertype == ETH_IPV6:
        if n < off + 60 or data[off] >> 4 != 6 or data[off + 6] != 6:
            return None
        end = off + 40 + ((data[off + 4] << 8) | data[off + 5])
        t = off + 40
        src, dst = data[off + 8 : off + 24], data[off + 24 : off + 40]
    else:
        return None
    start = t + (data[t + 12] >> 4) * 4
    if end > n or start > end or start < t + 20:
        return None
    return t, start, end, src, dst


def addresses(data, offset: int, version: int) -> tuple[bytes, bytes]:
    """Source and destination address bytes of the IP header at `offset`."""
    if version == 4:
        return data[offset + 12 : offset + 16], data[offset + 16 : offset + 20]
    return data[offset + 8 : offset + 24], data[offset + 24 : offset + 40]


def context(data, layers) -> bytes:
    """The outer IP addresses of a tunnelled packet, each pair in canonical order (part of flow keys)."""
    parts = []
    for offset, version, quoted in layers.ips[: layers.ip_index]:
        if not quoted:
            a, b = addresses(data, offset, version)
            parts.append(a + b if a <= b else b + a)
    return b"".join(parts)


def zero_outside(changes: list, keeps: list, start: int, end: int) -> int:
    """Add ``(offset, length)`` changes zeroing ``[start, end)`` except the sorted `keeps`.

    Returns where the last kept range ended (`start` if none).
    """
    pos = last = start
    for a, b in keeps:
        if a > pos:
            changes.append((pos, a - pos))
        pos = last = b
    if pos < end:
        changes.append((pos, end - pos))
    return last
