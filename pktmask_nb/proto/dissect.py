"""The frame walk (SPEC §2.4, §3): `dissect` gives every byte of a frame a reason.

It starts at the link type's handler and follows the dispatch tables of `~.walk` through
link layers, IP (every encapsulation, every quoted datagram), transports and tunnels.
See `~.spans` for what the result means and `~.link`, `~.ipv4`, `~.ipv6`, `~.transport`,
`~.icmp`, `~.tunnel`, `~.ppp`, `~.arp`, `~.wlan` for the protocols.
"""

from __future__ import annotations

from . import arp, icmp, ipv4, ipv6, ppp, transport, tunnel  # noqa: F401 - they fill the dispatch tables
from .link import LINKTYPES as _WIRED
from .spans import R_NOT_DISSECTED, STATUS_NOT_DISSECTED, FrameMap, new_map
from .wlan import LINKTYPES as _WIRELESS

LINKTYPES = {**_WIRED, **_WIRELESS}


def frame_of(packet) -> FrameMap:
    """The frame map of a `~pktmask_nb.record.Packet`: dissected once, then shared by the stages.

    A stage that rewrites only what the walk does not read to find structure (addresses,
    checksums) keeps the map, pointing its ``data`` at the new bytes; one that writes other
    bytes drops it, and the next stage that asks dissects the frame again: zeros where the
    walk understood nothing may read differently (as options, even a payload), and a stage
    must see the frame as a second process given these bytes would.
    """
    m = packet.frame
    if m is None:
        m = packet.frame = dissect(packet.data, packet.linktype, packet.wirelen)
    return m


def dissect(data, linktype: int, wirelen: int | None = None) -> FrameMap:
    """The `~.spans.FrameMap` of one frame.

    Parameters
    ----------
    data : bytes-like
        The captured bytes.
    linktype : int
        LINKTYPE_* of the interface that captured it.
    wirelen : int, optional
        Its length on the wire: when more than captured, headers cut at the end are the
        capture's doing (kept as far as they go), not lengths that lie (zeroed).
    """
    # the walk reads ``bytes`` (compiled, it indexes them in C); a rewritten frame is a bytearray
    m = new_map(data if type(data) is bytes else bytes(data), wirelen is not None and wirelen > len(data))
    walk = LINKTYPES.get(linktype)
    if walk is None:
        m.status = STATUS_NOT_DISSECTED
        m.put(m.n, R_NOT_DISSECTED)
        return m
    walk(m)
    m.fail(m.n)
    m.seal()
    return m
