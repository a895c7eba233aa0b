"""The plain frames of a chunk, found in one NumPy pass: the vectorized stages' common ground.

Most frames are Ethernet[/802.1Q]/IPv4|IPv6/TCP|UDP. `find_plain` concatenates a chunk's
frames and locates, for all of them at once, the IP header, the addresses, the transport
header and its checksum; the anonymize and mask stages handle those frames in bulk and send
every other frame down their general, per-frame path. Anonymize hands its parse on with the
chunk (`PlainChunk`), so that mask after it does not make it again.
"""

from __future__ import annotations

import numpy as np

from ..record import Packet
from .dissect import IPPROTO_TCP, IPPROTO_UDP, UDP_PORT_GENEVE, UDP_PORT_GTPU, UDP_PORT_TEREDO, UDP_PORT_VXLAN
from .link import ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, LINKTYPE_ETHERNET

BATCH_MIN_PACKETS = 64  # below this a chunk is cheaper frame by frame
BATCH_PAD = 128  # zero bytes after the last frame, so header reads never leave the buffer
BUFFER_STEP = 1 << 19  # `Plain.buf`'s size is a multiple of this, so the C heap can reuse one freed for the next
ZERO_PAD = memoryview(bytes(BATCH_PAD + BUFFER_STEP))  # the zeros after the frames
BATCH_MIN_LEN = 14 + 20 + 8
UDP_TUNNEL_PORTS = np.array(sorted((UDP_PORT_VXLAN, UDP_PORT_GENEVE, UDP_PORT_GTPU, UDP_PORT_TEREDO)))


class Plain:
    """The plain frames of one chunk, found by `find_plain`.

    Attributes
    ----------
    buf : bytearray
        The chunk's frames concatenated, then zero bytes: at least `BATCH_PAD`, up to a
        multiple of `BUFFER_STEP`; writable.
    index : ndarray
        Positions (in the list given to `find_plain`) of the plain frames.
    start, end : ndarray
        Their byte ranges in `buf`.
    src : ndarray
        Offset of each frame's source address in `buf` (the destination follows it).
    transport : ndarray
        Offset of each frame's TCP or UDP header in `buf`.
    stop : ndarray
        Where each frame's IP datagram ends in `buf` (Ethernet padding may follow).
    checksum : ndarray
        Offset of each frame's TCP or UDP checksum in `buf`.
    udp : ndarray of bool
    v6 : ndarray of bool
        IPv6 (16-byte addresses, no header checksum) rather than IPv4.
    """

    __slots__ = ("buf", "index", "start", "end", "src", "transport", "stop", "checksum", "udp", "v6")


class PlainChunk(list):
    """A chunk of packets (no blocks) that carries `plain`, the `find_plain` parse of its frames
    as they are now, so that the next stage needing it skips the pass (`parse_of`).

    The anonymize stage returns one: it rewrote the plain frames through the parse's buffer,
    which therefore holds their current bytes, and changed no byte the parse depends on in
    the others. A stage that returns a new list drops the parse; a stage that changes
    frames' bytes must not return this list.
    """

    __slots__ = ("plain",)

    def __init__(self, records: list, plain: Plain):
        super().__init__(records)
        self.plain = plain


def parse_of(records: list) -> Plain | None:
    """The `find_plain` parse `records` carry (a `PlainChunk`), else None."""
    return records.plain if records.__class__ is PlainChunk else None


def u16(b: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The big-endian 16-bit values at offsets `at` of `b`."""
    return (b[at].astype(np.int64) << 8) | b[at + 1]


def write16(b: np.ndarray, at: np.ndarray, value: np.ndarray) -> None:
    """Write `value` as big-endian 16-bit values at offsets `at` of `b`."""
    b[at] = value >> 8
    b[at + 1] = value & 0xFF


def find_plain_records(records: list) -> Plain:
    """`find_plain` of the Ethernet frames of a chunk's `records`; blocks and frames of other
    link types take part as empty frames, so the parse's positions are the records'. The
    anonymize and mask stages both parse this way, so mask can take anonymize's parse."""
    return find_plain([r.data if r.__class__ is Packet and r.linktype == LINKTYPE_ETHERNET else b"" for r in records])


def find_plain(datas: list) -> Plain:
    """Locate the Ethernet[/802.1Q]/IPv4|IPv6/TCP|UDP frames among `datas`, whole and untunnelled.

    IPv4 must have no options and not be a fragment; IPv6 no extension header; the
    datagram and the transport header must be captured whole; UDP ports must not be a
    tunnel's. These are the frames for which the general walk finds two addresses and
    the IPv4 header and transport checksums, nothing else.
    """
    lengths = np.fromiter(map(len, datas), np.int64, len(datas))
    start = np.zeros(len(datas), np.int64)
    np.cumsum(lengths[:-1], out=start[1:])
    end = start + lengths
    size = int(end[-1]) if len(end) else 0
    buf = bytearray().join(datas + [ZERO_PAD[: BATCH_PAD + -(size + BATCH_PAD) % BUFFER_STEP]])
    b = np.frombuffer(buf, np.uint8)
    ethertype = u16(b, start + 12)
    vlan = ethertype == ETH_P_8021Q
    base = start + np.where(vlan, 18, 14)
    ethertype = np.where(vlan, u16(b, start + 16), ethertype)
    first = b[base]
    v4 = (ethertype == ETH_P_IP) & (first == 0x45) & ((b[base + 6] & 0x3F) == 0) & (b[base + 7] == 0)
    v6 = (ethertype == ETH_P_IPV6) & ((first >> 4) == 6)
    protocol = np.where(v4, b[base + 9], b[base + 6])
    t = base + np.where(v4, 20, 40)
    datagram_end = np.where(v4, base + u16(b, base + 2), t + u16(b, base + 4))
    ok = (lengths >= BATCH_MIN_LEN) & (v4 | v6) & (datagram_end <= end)
    tcp = (
        (protocol == IPPROTO_TCP)
        & (t + 20 <= datagram_end)
        & (t + (b[t + 12] >> 4).astype(np.int64) * 4 <= datagram_end)
    )
    udp = (protocol == IPPROTO_UDP) & (t + 8 <= datagram_end)
    udp &= ~np.isin(u16(b, t), UDP_TUNNEL_PORTS) & ~np.isin(u16(b, t + 2), UDP_TUNNEL_PORTS)
    ok &= tcp | udp
    plain = Plain()
    plain.buf = buf
    plain.index = np.flatnonzero(ok)
    plain.start, plain.end = start[ok], end[ok]
    plain.v6 = v6[ok]
    plain.udp = udp[ok]
    plain.src = base[ok] + np.where(plain.v6, 8, 12)
    plain.transport, plain.stop = t[ok], datagram_end[ok]
    plain.checksum = plain.transport + np.where(plain.udp, 6, 16)
    return plain
