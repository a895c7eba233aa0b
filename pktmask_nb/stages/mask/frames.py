"""Flow keys of the mask stage, from a frame's map.

A flow key is the transport protocol, the outer addresses of a tunnel (`context`) and the
two (address, port) ends in canonical (sorted) order; untunnelled keys are one ``bytes``
(protocol byte, then both ends), tunnelled ones a tuple, so the two kinds never meet.
"""

from __future__ import annotations

from ...proto.ip import IPPROTO_TCP, IPPROTO_UDP
from ...proto.spans import FrameMap, IpLayer

KEY_PREFIX = {proto: bytes((proto,)) for proto in (IPPROTO_TCP, IPPROTO_UDP)}


def flow_key(transport: int, ctx: bytes, a: bytes, b: bytes) -> tuple:
    """``(key, side)``: the flow key of ends `a` (sender) and `b` (address + port bytes), and the sender's side (0, 1)."""
    if a <= b:
        return (KEY_PREFIX[transport] + a + b if not ctx else (transport, ctx, a, b)), 0
    return (KEY_PREFIX[transport] + b + a if not ctx else (transport, ctx, b, a)), 1


def key_ends(key) -> tuple:
    """The two ends ``(address bytes, port)`` of a flow key, in canonical order."""
    if key.__class__ is tuple:
        a, b = key[2], key[3]
    else:
        half = len(key) // 2
        a, b = key[1 : 1 + half], key[1 + half :]
    return (a[:-2], int.from_bytes(a[-2:], "big")), (b[:-2], int.from_bytes(b[-2:], "big"))


def addresses(m: FrameMap, ip: IpLayer) -> tuple[bytes, bytes] | None:
    """Source and destination address bytes of the IP header `ip`, None if the capture cut them."""
    if ip.src < 0 or ip.dst < 0:
        return None
    data, src, dst = m.data, m.fields[ip.src], m.fields[ip.dst]
    return bytes(data[src.offset : src.offset + src.size]), bytes(data[dst.offset : dst.offset + dst.size])


def context(m: FrameMap) -> bytes:
    """The outer IP addresses of a tunnelled packet, each pair in canonical order (part of flow keys)."""
    parts = []
    for ip in m.ips[: m.ip]:
        if not ip.quoted:
            pair = addresses(m, ip)
            if pair is not None:
                a, b = pair
                parts.append(a + b if a <= b else b + a)
    return b"".join(parts)


def transport_key(m: FrameMap, transport: int) -> tuple | None:
    """``(key, side)`` of the frame's TCP/UDP datagram (see `flow_key`), None if its addresses were cut."""
    pair = addresses(m, m.ips[m.ip])
    if pair is None:
        return None
    data, t = m.data, m.l4
    src, dst = pair
    return flow_key(
        transport, context(m) if m.ip else b"", src + bytes(data[t : t + 2]), dst + bytes(data[t + 2 : t + 4])
    )
