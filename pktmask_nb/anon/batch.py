"""Vectorized address rewriting for the plain frames of a chunk (the anonymize stage's hot path).

Most frames are Ethernet[/802.1Q]/IPv4|IPv6/TCP|UDP. For those, one NumPy pass over the
chunk's concatenated bytes finds the address and checksum offsets; the stage maps each
distinct address once per chunk; `apply` writes the addresses and adjusts the IPv4 header
and transport checksums by the addresses' word-sum change (RFC 1624 eqn. 3), exactly as
the general per-packet path would. Every other frame goes the general way.
"""

from __future__ import annotations

import numpy as np

from ..proto.dissect import IPPROTO_TCP, IPPROTO_UDP, UDP_PORT_GENEVE, UDP_PORT_GTPU, UDP_PORT_TEREDO, UDP_PORT_VXLAN
from ..proto.link import ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6

BATCH_MIN_PACKETS = 64  # below this a chunk is cheaper frame by frame
BATCH_PAD = 128  # zero bytes after the last frame, so header reads never leave the buffer
BATCH_MIN_LEN = 14 + 20 + 8
UDP_TUNNEL_PORTS = np.array(sorted((UDP_PORT_VXLAN, UDP_PORT_GENEVE, UDP_PORT_GTPU, UDP_PORT_TEREDO)))


class Plain:
    """The plain frames of one chunk, found by `find_plain`.

    Attributes
    ----------
    buf : bytearray
        The chunk's frames concatenated (then `BATCH_PAD` zero bytes); `apply` writes here.
    index : ndarray
        Positions (in the list given to `find_plain`) of the plain frames.
    start, end : ndarray
        Their byte ranges in `buf`.
    src : ndarray
        Offset of each frame's source address in `buf` (the destination follows it).
    checksum : ndarray
        Offset of each frame's TCP or UDP checksum in `buf`.
    udp : ndarray of bool
    v6 : ndarray of bool
        IPv6 (16-byte addresses, no header checksum) rather than IPv4.
    """

    __slots__ = ("buf", "index", "start", "end", "src", "checksum", "udp", "v6")


def _u16(b: np.ndarray, at: np.ndarray) -> np.ndarray:
    return (b[at].astype(np.int64) << 8) | b[at + 1]


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
    buf = bytearray().join(datas + [bytes(BATCH_PAD)])
    b = np.frombuffer(buf, np.uint8)
    ethertype = _u16(b, start + 12)
    vlan = ethertype == ETH_P_8021Q
    base = start + np.where(vlan, 18, 14)
    ethertype = np.where(vlan, _u16(b, start + 16), ethertype)
    first = b[base]
    v4 = (ethertype == ETH_P_IP) & (first == 0x45) & ((b[base + 6] & 0x3F) == 0) & (b[base + 7] == 0)
    v6 = (ethertype == ETH_P_IPV6) & ((first >> 4) == 6)
    protocol = np.where(v4, b[base + 9], b[base + 6])
    t = base + np.where(v4, 20, 40)
    datagram_end = np.where(v4, base + _u16(b, base + 2), t + _u16(b, base + 4))
    ok = (lengths >= BATCH_MIN_LEN) & (v4 | v6) & (datagram_end <= end)
    tcp = (
        (protocol == IPPROTO_TCP)
        & (t + 20 <= datagram_end)
        & (t + (b[t + 12] >> 4).astype(np.int64) * 4 <= datagram_end)
    )
    udp = (protocol == IPPROTO_UDP) & (t + 8 <= datagram_end)
    udp &= ~np.isin(_u16(b, t), UDP_TUNNEL_PORTS) & ~np.isin(_u16(b, t + 2), UDP_TUNNEL_PORTS)
    ok &= tcp | udp
    plain = Plain()
    plain.buf = buf
    plain.index = np.flatnonzero(ok)
    plain.start, plain.end = start[ok], end[ok]
    plain.v6 = v6[ok]
    plain.udp = udp[ok]
    plain.src = base[ok] + np.where(plain.v6, 8, 12)
    plain.checksum = t[ok] + np.where(plain.udp, 6, 16)
    return plain


def addresses(plain: Plain, rows: np.ndarray, size: int) -> np.ndarray:
    """The source and destination addresses of frames `rows`, interleaved, as ``V{size}`` values."""
    b = np.frombuffer(plain.buf, np.uint8)
    offsets = plain.src[rows]
    both = np.stack([offsets, offsets + size], axis=1).reshape(-1)
    return np.ascontiguousarray(b[both[:, None] + np.arange(size)]).view(f"V{size}").reshape(-1)


def adjust(checksum: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """`~pktmask_nb.proto.checksum.adjust` on arrays (RFC 1624 eqn. 3)."""
    x = (~checksum & 0xFFFF) + delta % 0xFFFF
    x = (x & 0xFFFF) + (x >> 16)
    return ~((x & 0xFFFF) + (x >> 16)) & 0xFFFF


def apply(plain: Plain, rows: np.ndarray, size: int, new: np.ndarray, delta: np.ndarray) -> None:
    """Write addresses `new` (``(len(rows), 2*size)`` bytes) and adjust checksums by `delta`."""
    b = np.frombuffer(plain.buf, np.uint8)
    src = plain.src[rows]
    b[src[:, None] + np.arange(2 * size)] = new
    adjusting = delta % 0xFFFF != 0
    src, delta, rows = src[adjusting], delta[adjusting], rows[adjusting]
    if size == 4:  # the IPv4 header checksum sits 2 bytes before the source address
        _write16(b, src - 2, adjust(_u16(b, src - 2), delta))
    position, udp = plain.checksum[rows], plain.udp[rows]
    old = _u16(b, position)
    keep = udp & (old == 0)  # UDP without checksum stays without (RFC 768)
    checksum = adjust(old, delta)
    checksum[udp & (checksum == 0)] = 0xFFFF
    position, checksum = position[~keep], checksum[~keep]
    _write16(b, position, checksum)


def _write16(b: np.ndarray, at: np.ndarray, value: np.ndarray) -> None:
    b[at] = value >> 8
    b[at + 1] = value & 0xFF
