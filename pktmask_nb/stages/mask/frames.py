"""Frame helpers of the mask stage: plain TCP segments, flow keys, ranges to zero.

`PlainSegments` parses the common frame, Ethernet [802.1Q] / IPv4 or IPv6 / TCP, of a
whole chunk in one NumPy pass (`~pktmask_nb.proto.plain.find_plain`, or the parse the
anonymize stage hands on with the chunk), `plain_tcp` the same frame alone; anything
else (tunnels, IPv4 options, extension headers, fragments, truncation, other link types)
takes `~pktmask_nb.proto.dissect.dissect`.

A flow key is the transport protocol, the outer addresses of a tunnel (`context`) and the
two (address, port) ends in canonical (sorted) order; untunnelled keys are one ``bytes``
(protocol byte, then both ends), tunnelled ones a tuple, so the two kinds never meet.
"""

from __future__ import annotations

import numpy as np

from ...proto.dissect import IPPROTO_TCP, IPPROTO_UDP
from ...proto.link import LINKTYPE_ETHERNET
from ...proto.plain import BATCH_MIN_PACKETS, find_plain_records, parse_of, u16
from ...record import Packet

ETH_IPV4 = b"\x08\x00"
ETH_IPV6 = b"\x86\xdd"
ETH_8021Q = b"\x81\x00"
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


def segment(data, t: int, start: int, end: int, src, dst, ctx: bytes) -> tuple:
    """``(tcp_offset, payload_start, payload_end, flags, seq, key, side)`` of the TCP header at `t`."""
    key, side = flow_key(IPPROTO_TCP, ctx, bytes(src + data[t : t + 2]), bytes(dst + data[t + 2 : t + 4]))
    return t, start, end, data[t + 13], int.from_bytes(data[t + 4 : t + 8], "big"), key, side


def plain_segments(records: list) -> list:
    """For each record of a chunk, the `segment` of a plain TCP frame (see `plain_tcp`), else None."""
    return PlainSegments(records).rows()


class PlainSegments:
    """The `segment` of each plain TCP frame of a chunk (see `plain_tcp`), found in one NumPy pass.

    The result stays in columns, which pickle in a few buffers (a list of tuples pickles
    object by object), until `rows` makes the tuples: a chunk goes to another process
    parsed (`~pktmask_nb.split`) and the tuples are made there. A chunk shorter than
    BATCH_MIN_PACKETS is parsed frame by frame.
    """

    __slots__ = ("count", "index", "fields", "v6", "keys4", "keys6", "listed")

    def __init__(self, records: list):
        self.count = len(records)
        self.listed = None
        if len(records) < BATCH_MIN_PACKETS:
            out = []
            for r in records:
                where = plain_tcp(r.data, r.linktype) if r.__class__ is Packet else None
                out.append(None if where is None else segment(r.data, *where, b""))
            self.listed = out
            return
        plain = parse_of(records)  # the anonymize stage's, when it ran just before
        if plain is None:
            plain = find_plain_records(records)
        b = np.frombuffer(plain.buf, np.uint8)
        t, stop = plain.transport, plain.stop
        start = t + (b[t + 12] >> 4).astype(np.int64) * 4
        ok = ~plain.udp & (start >= t + 20) & (start <= stop)
        rows = np.flatnonzero(ok)
        t, start, stop, src, v6, base = (
            t[rows],
            start[rows],
            stop[rows],
            plain.src[rows],
            plain.v6[rows],
            plain.start[rows],
        )
        self.index, self.v6 = plain.index[rows], v6
        sides = np.zeros(len(rows), np.int64)
        keys = []
        for size in (4, 16):
            part = np.flatnonzero(v6 == (size == 16))
            found, sides[part] = _keys(b, src[part], t[part], size)
            keys.append(found)
        self.keys4, self.keys6 = keys
        seq = (u16(b, t + 4) << 16) | u16(b, t + 6)
        self.fields = np.stack([t - base, start - base, stop - base, b[t + 13], seq, sides]).astype(np.uint32)

    def rows(self) -> list:
        """`segment` tuples, one for each record (None for a record that is not a plain TCP frame)."""
        if self.listed is not None:
            return self.listed
        keys = np.empty(len(self.index), object)
        keys[~self.v6], keys[self.v6] = self.keys4.tolist(), self.keys6.tolist()  # a void row's tolist() is its bytes
        t, start, stop, flags, seq, side = self.fields.tolist()
        segments = list(zip(t, start, stop, flags, seq, keys.tolist(), side))
        if len(segments) == self.count:
            return segments
        out = [None] * self.count
        any(map(out.__setitem__, self.index.tolist(), segments))  # setitem returns None: any() runs through all
        return out


def _keys(b: np.ndarray, src: np.ndarray, t: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Flow keys (one void row each) and sender sides (as `flow_key`) of TCP frames with
    `size`-byte addresses at `src`, ports at `t`."""
    n = len(src)
    sender = np.concatenate([b[src[:, None] + np.arange(size)], b[t[:, None] + np.arange(2)]], axis=1)
    receiver = np.concatenate([b[src[:, None] + np.arange(size, 2 * size)], b[t[:, None] + np.arange(2, 4)]], axis=1)
    differ = sender != receiver
    first = differ.argmax(axis=1)  # the first differing byte decides the order
    rows = np.arange(n)
    side = differ[rows, first] & (sender[rows, first] > receiver[rows, first])
    swap = side[:, None]
    keys = np.concatenate(
        [np.full((n, 1), IPPROTO_TCP, np.uint8), np.where(swap, receiver, sender), np.where(swap, sender, receiver)],
        axis=1,
    )
    return keys.view(f"V{keys.shape[1]}").ravel(), side


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
