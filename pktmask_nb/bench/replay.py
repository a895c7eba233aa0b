"""Realistic benchmark captures: real captures replayed, flows kept apart (SPEC §9).

A synthetic mix flatters a sanitizer (its frames are few shapes, its payloads tidy), so the
benchmark's default capture is made from a corpus of real captures (``../shared/captures``):
every Ethernet or raw IP frame carrying IPv4 or IPv6 (behind up to two VLAN tags) is played in
its capture's order by several players at once, interleaved frame by frame. Each player is a
repetition of the whole corpus, starting at its own capture, with its own shift of the low 16
bits of every unicast address, the same for a host as source and as destination, so that its
flows are new flows and both directions of each still meet. The IPv4 header checksum and the
TCP/UDP checksum (whose pseudo-header holds the addresses) are updated incrementally (RFC
1624): a checksum that was right stays right. Ports are kept, so the protocols are still
found where they were (443, 25, 53). About 10 % of the frames are followed by an exact copy
1 µs later, as a SPAN port makes them; timestamps grow by a few µs per frame. The headers an
ICMP error quotes are not shifted: every repetition's errors quote the first repetition's
flows (left so: the outputs of these captures are the redesign's oracle,
tests/fixtures/output_hashes_realistic_100MB.json).
"""

from __future__ import annotations

import hashlib
import random
import struct
from pathlib import Path

from ..capture import open_capture
from ..errors import UsageError
from ..files import is_capture_name
from ..record import Packet

ETH_VLANS = (0x8100, 0x88A8)
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
RAW_LINKTYPES = (101, 228, 229)
IPV6_EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options: walked to TCP/UDP
IPV6_FRAGMENT = 44
L4_CHECKSUM = {6: 16, 17: 6}  # TCP, UDP: offset of the checksum in the header
FAKE_ETHERNET = bytes.fromhex("020000000002 020000000001")  # for raw IP frames
CONCURRENT_PLAYERS = 8
DUPLICATE_FRACTION = 0.1
PCAP_RECORD = struct.Struct("<IIII")


class Frame:
    """One corpus frame and where its shift goes: offsets of the 16-bit address words to
    shift, of the IPv4 header checksum and of the TCP/UDP checksum (-1: none)."""

    __slots__ = ("data", "wirelen", "words", "ip_checksum", "l4_checksum", "udp")

    def __init__(self, data: bytes, wirelen: int, words, ip_checksum: int, l4_checksum: int, udp: bool):
        self.data, self.wirelen, self.words = data, wirelen, words
        self.ip_checksum, self.l4_checksum, self.udp = ip_checksum, l4_checksum, udp

    def shifted(self, delta: int) -> bytes:
        """The frame with `delta` added (one's complement) to each address word, checksums updated."""
        if not delta or not self.words:
            return self.data
        data = bytearray(self.data)
        total = 0
        for at in self.words:
            word = (data[at] << 8) | data[at + 1]
            new = _add(word, delta)
            data[at], data[at + 1] = new >> 8, new & 0xFF
            total = _add(total, delta)
        for at in (self.ip_checksum, self.l4_checksum):
            if at < 0:
                continue
            old = (data[at] << 8) | data[at + 1]
            if self.udp and at == self.l4_checksum and old == 0:
                continue  # no UDP checksum was computed
            new = 0xFFFF ^ _add(0xFFFF ^ old, total)  # RFC 1624 eqn. 3
            if self.udp and at == self.l4_checksum and new == 0:
                new = 0xFFFF
            data[at], data[at + 1] = new >> 8, new & 0xFF
        return bytes(data)


def _add(a: int, b: int) -> int:
    """One's complement sum of two 16-bit words."""
    s = a + b
    return (s & 0xFFFF) + (s >> 16)


def _shiftable_v4(data, at: int) -> bool:
    first = data[at]
    return first != 0 and first < 224  # not this-network, multicast, reserved or broadcast


def _shiftable_v6(data, at: int) -> bool:
    return data[at] != 0xFF and any(data[at : at + 16])  # not multicast, not ::


def read_frame(packet: Packet) -> Frame | None:
    """The `Frame` of an Ethernet or raw IP packet carrying IP, else None."""
    data, linktype = bytes(packet.data), packet.linktype
    if linktype in RAW_LINKTYPES and data:
        kind = {4: ETH_IPV4, 6: ETH_IPV6}.get(data[0] >> 4)
        if kind is None:
            return None
        data = FAKE_ETHERNET + struct.pack("!H", kind) + data
        wirelen = packet.wirelen + 14
    elif linktype == 1:
        wirelen = packet.wirelen
    else:
        return None
    at, n = 12, len(data)
    if at + 2 > n:
        return None
    kind = (data[at] << 8) | data[at + 1]
    at += 2
    for _ in range(2):
        if kind in ETH_VLANS and at + 4 <= n:
            kind, at = (data[at + 2] << 8) | data[at + 3], at + 4
    if kind == ETH_IPV4 and at + 20 <= n and data[at] >> 4 == 4:
        ihl = (data[at] & 15) * 4
        words = [o + 2 for o in (at + 12, at + 16) if _shiftable_v4(data, o)]
        first = not (((data[at + 6] << 8) | data[at + 7]) & 0x1FFF)
        l4 = at + ihl if first else -1
        return _frame(data, wirelen, words, at + 10, data[at + 9], l4)
    if kind == ETH_IPV6 and at + 40 <= n and data[at] >> 4 == 6:
        words = [o + 14 for o in (at + 8, at + 24) if _shiftable_v6(data, o)]
        nxt, pos = data[at + 6], at + 40
        while nxt in IPV6_EXTENSIONS + (IPV6_FRAGMENT,) and pos + 8 <= n:
            if nxt == IPV6_FRAGMENT and ((data[pos + 2] << 8) | data[pos + 3]) & 0xFFF8:
                return _frame(data, wirelen, words, -1, -1, -1)  # a later fragment: no TCP/UDP header
            step = 8 if nxt == IPV6_FRAGMENT else (data[pos + 1] + 1) * 8
            nxt, pos = data[pos], pos + step
        return _frame(data, wirelen, words, -1, nxt, pos)
    return None


def _frame(data: bytes, wirelen: int, words: list, ip_checksum: int, protocol: int, l4: int) -> Frame:
    offset = L4_CHECKSUM.get(protocol)
    l4_checksum = l4 + offset if offset is not None and l4 >= 0 and l4 + offset + 2 <= len(data) else -1
    return Frame(data, wirelen, tuple(words), ip_checksum, l4_checksum, protocol == 17)


def corpus_files(corpus: Path) -> list[Path]:
    """The captures of `corpus`, sorted by name."""
    if not corpus.is_dir():
        raise UsageError(
            "no corpus of real captures for the realistic mix here: give --corpus DIR, or --mix synthetic",
            path=str(corpus),
        )
    return sorted(p for p in corpus.iterdir() if p.is_file() and is_capture_name(p.name))


def corpus_fingerprint(corpus: Path) -> str:
    """A digest of the corpus's file names and contents: a cached capture is reused only for the same corpus."""
    digest = hashlib.sha256()
    for path in corpus_files(corpus):
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def load_corpus(corpus: Path) -> list[list[Frame]]:
    """Per capture, its IP frames in order (captures without any are left out)."""
    out = []
    for path in corpus_files(corpus):
        with open_capture(path, on_truncated="warn") as reader:
            frames = [f for r in reader if type(r) is Packet and (f := read_frame(r)) is not None]
        if frames:
            out.append(frames)
    if not out:
        raise UsageError("the corpus holds no Ethernet or raw IP frames carrying IP", path=str(corpus))
    return out


class Player:
    """One repetition of the corpus, from capture `start` on, with its address shift."""

    def __init__(self, captures: list[list[Frame]], repetition: int, start: int):
        self.delta = 0 if repetition == 0 else 1 + (repetition * 7919) % 65534
        self.frames = iter([f for c in captures[start:] + captures[:start] for f in c])

    def next(self) -> Frame | None:
        return next(self.frames, None)


def replay_capture(path, size_bytes: int, corpus: Path, *, seed: int = 0) -> dict:
    """Write a realistic capture of at least `size_bytes` bytes (pcap, Ethernet, µs).

    Returns
    -------
    dict
        ``packets``, ``duplicates``, ``repetitions`` (players started), ``corpus_frames``,
        ``bytes``.
    """
    captures = load_corpus(corpus)
    rng = random.Random(seed)
    repeat = DUPLICATE_FRACTION / (1 - DUPLICATE_FRACTION)
    players = [Player(captures, r, rng.randrange(len(captures))) for r in range(CONCURRENT_PLAYERS)]
    started = len(players)
    ts, written, packets, duplicates, parts = 1_717_243_200_000_000, 0, 0, 0, []
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262_144, 1)
    with open(path, "wb") as out:
        out.write(header)
        written = len(header)
        while written < size_bytes:
            i = int(rng.random() * len(players))
            frame = players[i].next()
            if frame is None:
                players[i] = Player(captures, started, rng.randrange(len(captures)))
                started += 1
                continue
            data = frame.shifted(players[i].delta)
            copies = 2 if rng.random() < repeat else 1
            for _ in range(copies):
                ts += 1 if _ else 2 + int(rng.expovariate(1 / 6))
                sec, usec = divmod(ts, 1_000_000)
                record = PCAP_RECORD.pack(sec, usec, len(data), max(frame.wirelen, len(data))) + data
                parts.append(record)
                written += len(record)
            packets += copies
            duplicates += copies - 1
            if len(parts) >= 8192:
                out.write(b"".join(parts))
                parts.clear()
        out.write(b"".join(parts))
    corpus_frames = sum(len(c) for c in captures)
    return {
        "packets": packets,
        "duplicates": duplicates,
        "repetitions": started,
        "corpus_frames": corpus_frames,
        "bytes": Path(path).stat().st_size,
    }
