"""The frame walk (SPEC §2.4, §3): `dissect` gives every byte of a frame a reason.

It starts at the link type's handler and follows the dispatch tables of `~.walk` through
link layers, IP (every encapsulation, every quoted datagram), transports and tunnels.
See `~.spans` for what the result means and `~.link`, `~.ipv4`, `~.ipv6`, `~.transport`,
`~.icmp`, `~.tunnel`, `~.ppp`, `~.arp`, `~.wlan` for the protocols.
"""

from __future__ import annotations

from . import arp, icmp, ipv4, ipv6, ppp, transport, tunnel  # noqa: F401 - they fill the dispatch tables
from .link import LINKTYPES as _WIRED
from .spans import R_NOT_DISSECTED, STATUS_NOT_DISSECTED, FrameMap
from .wlan import LINKTYPES as _WIRELESS

LINKTYPES = {**_WIRED, **_WIRELESS}


def frame_of(packet) -> FrameMap:
    """The frame map of a `~pktmask_nb.record.Packet`: dissected once, then shared by the stages.

    Anonymize rewrites addresses and checksums and zeroes the spans the map zeroes, none of
    which the walk reads to find structure, so the map stays the frame's (its ``data`` follows
    the packet's). A frame re-dissected after that may read more: zeroed bytes are
    well-formed padding where the original's were not understood; the first reading is the one
    every stage acts on.
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
    m = FrameMap(data, truncated=wirelen is not None and wirelen > len(data))
    walk = LINKTYPES.get(linktype)
    if walk is None:
        m.status = STATUS_NOT_DISSECTED
        m.put(m.n, R_NOT_DISSECTED)
        return m
    walk(m)
    m.fail(m.n)
    if m.unseen or any(c.end > m.n for c in m.checksums):
        m.seal()
    return m
