"""The dedup stage (SPEC §4): drop frames whose bytes equal an earlier frame's, first copy kept."""

from __future__ import annotations

from collections import deque
from itertools import compress
from operator import not_

import xxhash

from ..config import DedupConfig
from ..proto.dissect import frame_of
from ..proto.ip import IPV4_CHECKSUM, IPV4_TTL, IPV6_HOP_LIMIT, ipv4_datagram_end, ipv6_datagram_end
from ..record import Packet
from ..rows import Rows
from .digest_index import DigestIndex

DEDUP_WINDOW_MAX_ENTRIES = 1_000_000  # a time-only window remembers at most this many frames
DEDUP_TOP_CAPACITY = 1024  # frames tracked for the top-duplicates report (Misra-Gries)

digest128 = xxhash.xxh3_128_digest  # 128-bit: collisions are not a practical concern (SPEC §4)


def frame_key(packet: Packet):
    """The captured bytes (record header and container metadata ignored)."""
    return packet.data


def l3_key(packet: Packet):
    """The outermost IP datagram with TTL/hop limit and IPv4 checksum zeroed; else the frame.

    L2 headers, VLAN tags, MPLS labels and trailer padding do not take part, so the same
    packet captured on two links gets the same key.
    """
    data = packet.data
    ips = frame_of(packet).ips  # the walk the later stages reuse
    if not ips:
        return data
    offset, version = ips[0].offset, ips[0].version
    if version == 4 and len(data) >= offset + 12:
        key = bytearray(data[offset : ipv4_datagram_end(data, offset)])
        key[IPV4_TTL] = 0
        key[IPV4_CHECKSUM : IPV4_CHECKSUM + 2] = b"\0\0"
        return key
    if version == 6 and len(data) >= offset + 8:
        key = bytearray(data[offset : ipv6_datagram_end(data, offset)])
        key[IPV6_HOP_LIMIT] = 0
        return key
    return data


KEYS = {"frame": frame_key, "l3": l3_key}


class TopDuplicates:
    """The most repeated frames, in bounded memory (Misra-Gries over duplicate digests).

    Counts are exact while at most `capacity` distinct frames repeat; beyond that they are
    lower bounds and `exact` turns False.
    """

    def __init__(self, capacity: int = DEDUP_TOP_CAPACITY):
        self.capacity = capacity
        self.exact = True
        self._counts: dict[bytes, list] = {}  # digest -> [duplicates, first duplicate frame, caplen]

    def add(self, digest: bytes, packet: Packet) -> None:
        entry = self._counts.get(digest)
        if entry is not None:
            entry[0] += 1
        elif len(self._counts) < self.capacity:
            self._counts[digest] = [1, packet.index, len(packet.data)]
        else:
            self.exact = False
            for key in list(self._counts):
                entry = self._counts[key]
                entry[0] -= 1
                if not entry[0]:
                    del self._counts[key]

    def top(self, n: int) -> list[dict]:
        ranked = sorted(self._counts.items(), key=lambda kv: (-kv[1][0], kv[1][1]))[:n]
        return [
            {"digest": d.hex(), "duplicates": c, "first_duplicate_frame": f, "caplen": length}
            for d, (c, f, length) in ranked
        ]


class DedupStage:
    """Drop repeated frames (SPEC §4).

    Whole-file scope keeps a `DigestIndex` of 128-bit digests (16 to 20 bytes per unique
    frame). With a window, a frame is a duplicate only if an identical frame was seen
    among the previous ``window_packets`` frames and/or at most ``window_seconds`` earlier
    (every frame seen counts, kept or not, as in ``editcap -D``), and memory is bounded
    by the window.

    Parameters
    ----------
    config : DedupConfig
    """

    name = "dedup"

    def __init__(self, config: DedupConfig | None = None):
        self.config = config or DedupConfig()
        self._key = KEYS[self.config.key]
        self._index = None if self.config.windowed else DigestIndex()
        self._last: dict[bytes, tuple[int, int | None]] = {}  # windowed: digest -> (frame, ts)
        self._recent: deque = deque()  # windowed: (digest, frame, ts) in input order
        self._top = TopDuplicates()
        self.packets_in = self.packets_out = self.bytes_saved = 0

    def process(self, chunk: list) -> list:
        packets = [r for r in chunk if type(r) is Packet]
        if not packets:
            return chunk
        key, top = self._key, self._top
        # the usual key without a call per frame
        digests = [digest128(p.data) for p in packets] if key is frame_key else [digest128(key(p)) for p in packets]
        duplicate = (
            self._duplicates_windowed(packets, digests) if self._index is None else self._duplicates_exact(digests)
        )
        dropped = set()
        for i in compress(range(len(packets)), duplicate):  # the duplicates only
            p = packets[i]
            dropped.add(p.index)
            top.add(digests[i], p)
            self.bytes_saved += len(p.data)
        self.packets_in += len(packets)
        self.packets_out += len(packets) - len(dropped)
        if not dropped:
            return chunk
        if len(packets) == len(chunk):  # no block among them: drop by position
            return list(compress(chunk, map(not_, duplicate)))
        return [r for r in chunk if type(r) is not Packet or r.index not in dropped]

    def _duplicates_exact(self, digests: list[bytes]) -> bytes:
        """1 for a frame whose digest the index holds, from an earlier chunk or earlier in this one."""
        return self._index.add(b"".join(digests))

    def _duplicates_windowed(self, packets: list[Packet], digests: list[bytes]) -> list[bool]:
        cfg = self.config
        max_frames = cfg.window_packets
        max_ns = None if cfg.window_seconds is None else round(cfg.window_seconds * 1e9)
        last, recent = self._last, self._recent
        duplicate = []
        for p, d in zip(packets, digests):
            index, ts = p.index, p.ts
            self._expire(index, ts, max_frames, max_ns)
            seen = last.get(d)
            dup = seen is not None
            if dup and max_frames is not None:
                dup = index - seen[0] <= max_frames
            if dup and max_ns is not None:
                dup = ts is not None and seen[1] is not None and ts - seen[1] <= max_ns
            duplicate.append(dup)
            last[d] = (index, ts)
            recent.append((d, index, ts))
        return duplicate

    def _expire(self, index: int, ts: int | None, max_frames: int | None, max_ns: int | None) -> None:
        """Forget frames that can no longer match anything (outside a window, or over the cap)."""
        recent, last = self._recent, self._last
        while recent:
            d, old_index, old_ts = recent[0]
            stale = len(recent) >= DEDUP_WINDOW_MAX_ENTRIES
            stale = stale or (max_frames is not None and index - old_index > max_frames)
            stale = stale or (max_ns is not None and ts is not None and old_ts is not None and ts - old_ts > max_ns)
            if not stale:
                return
            recent.popleft()
            if last.get(d, (None,))[0] == old_index:
                del last[d]

    def flush(self) -> list:
        return []

    def stats(self) -> dict:
        cfg = self.config
        unique = len(self._index) if self._index is not None else None
        index_bytes = self._index.nbytes if self._index is not None else None
        index_peak = self._index.peak_nbytes if self._index is not None else None
        return {
            "scope": "window" if cfg.windowed else "file",
            "key": cfg.key,
            "window_packets": cfg.window_packets,
            "window_seconds": cfg.window_seconds,
            "packets_in": self.packets_in,
            "packets_out": self.packets_out,
            "duplicates": self.packets_in - self.packets_out,
            "bytes_saved": self.bytes_saved,
            "index_entries": unique,
            "index_bytes": index_bytes,
            "index_peak_bytes": index_peak,
            "top_exact": self._top.exact,
            "top": self._top.top(cfg.top),
        }

    def tables(self) -> dict[str, Rows]:
        return {"duplicates": Rows.of(self._top.top(DEDUP_TOP_CAPACITY))}
