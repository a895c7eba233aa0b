"""An ideal, offline model of what mask must keep (SPEC §6), written independently of the stage.

It reads the whole capture at once: per TCP direction it reassembles every byte (first
copy wins), walks TLS records from the stream start and stops at the first gap; DTLS per
datagram; everything else is zero. The shared dissector only locates headers; sequence
space, reassembly and record walking are done here from scratch, in the simplest way.

`expected(frames)` gives, per frame, the set of byte positions that must be kept;
`compare` sets the stage's output against it.
"""

from __future__ import annotations

import re
from collections import defaultdict

from pktmask_nb.proto.dissect import FRAG_NONE, IPPROTO_TCP, IPPROTO_UDP, STATUS_OK, dissect, skip_extensions
from pktmask_nb.stages.mask.control import control_keeps  # policy tables, not logic under test
from pktmask_nb.stages.mask.starttls import STARTTLS_PORTS, command_len, is_starttls_command, response_status_len

KEPT_TYPES = {20, 21, 22, 24}
SSL_REQUEST = bytes.fromhex("0000000804d2162f")
COMMANDS = {b"STARTTLS", b"STLS", b"AUTH TLS", b"AUTH SSL", b"AUTH TLS-C"}


def tls_header(b: bytes, p: int):
    if p + 5 > len(b):
        return None
    t, major, minor, length = b[p], b[p + 1], b[p + 2], int.from_bytes(b[p + 3 : p + 5], "big")
    if 20 <= t <= 24 and major == 3 and minor <= 4 and length <= 2**14 + 2048:
        return t, length
    return None


def walk_tls(stream: bytes, p: int, keep: set, ssl2: bool = False) -> None:
    """Mark kept stream offsets of TLS records from `p`; stop at the first invalid or incomplete header."""
    encrypted = False
    while p < len(stream):
        h = tls_header(stream, p)
        if h is not None:
            t, length = h
            keep.update(range(p, p + 5))
            if t != 23:
                keep.update(range(p + 5, min(p + 5 + length, len(stream))))
            p += 5 + length
            continue
        if not ssl2 or p + 3 > len(stream):
            return
        if stream[p] & 0x80:
            length, hlen = ((stream[p] & 0x7F) << 8) | stream[p + 1], 2
            mtype = stream[p + 2]
            clear = not encrypted and mtype in (1, 2, 4)
            encrypted = encrypted or mtype in (2, 4)
        elif encrypted:
            length, hlen, clear = ((stream[p] & 0x3F) << 8) | stream[p + 1], 3, False
        else:
            return
        if not length:
            return
        keep.update(range(p, p + hlen))
        if clear:
            keep.update(range(p + hlen, min(p + hlen + length, len(stream))))
        p += hlen + length


def is_ssl2_hello(s: bytes) -> bool:
    if len(s) < 5 or not s[0] & 0x80:
        return False
    length = ((s[0] & 0x7F) << 8) | s[1]
    return (s[2] == 1 and s[3] in (0, 3) and length >= 9) or (s[2] == 4 and length >= 11)


TEXT = re.compile(rb"[\x20-\x7e\t\x00]*")
PRELUDE_MAX = 64 * 1024


def prelude(stream: bytes, starts: set, client: bool, armed: bool, kept: set, framing: bool) -> bool:
    """A text prelude: keep framing (line ends, verbs, status tokens, a STARTTLS line), then TLS.

    Lines start after a line feed or at a segment start. Returns whether the direction asked
    for TLS (a client's STARTTLS command).
    """
    bounds = sorted(set(starts) | {i + 1 for i, c in enumerate(stream) if c == 0x0A})
    commanded = False
    for idx, p in enumerate(bounds):
        if p >= len(stream):
            break
        h = tls_header(stream, p) if armed else None
        if h is not None and h[0] == 22:
            walk_tls(stream, p, kept)
            break
        nl = stream.find(b"\n", p)
        if nl < 0 or (idx + 1 < len(bounds) and bounds[idx + 1] <= nl):
            continue
        line = stream[p : nl + 1]
        eol = 2 if line.endswith(b"\r\n") else 1
        if (
            client
            and is_starttls_command(line)
            and (not framing or (nl < PRELUDE_MAX and TEXT.fullmatch(line[: len(line) - eol])))
        ):
            kept.update(range(p, nl + 1))
            armed = commanded = True
            continue
        if not framing or nl >= PRELUDE_MAX or not TEXT.fullmatch(line[: len(line) - eol]):
            continue
        token = command_len(line) if client else response_status_len(line)
        kept.update(range(p, p + token))
        kept.update(range(nl + 1 - eol, nl + 1))
    return commanded


class Direction:
    def __init__(self):
        self.segments = []  # (frame index, seq, syn, payload, buffer offset) in capture order
        self.isn = None

    def stream(self):
        """Reassembled contiguous bytes from the stream start, the segment owning each, segment starts."""
        base = self.isn
        if base is None:
            data = [s for s in self.segments if len(s[3]) > 1]  # a 1-byte keep-alive cannot start a stream
            if not data:
                return b"", [], set(), None
            base = data[0][1]
        placed, owner = {}, {}
        hi = 0
        starts = set()
        for k, (_, seq, syn, payload, _) in enumerate(self.segments):
            rel = (seq + syn - base) % 2**32
            off = hi + ((rel - hi + 2**31) % 2**32) - 2**31
            hi = max(hi, off)
            first_new = None
            for j, byte in enumerate(payload):
                if off + j not in placed:
                    placed[off + j] = byte
                    owner[off + j] = k
                    if first_new is None:
                        first_new = off + j
            if first_new is not None:
                starts.add(first_new)
        n = 0
        while n in placed:
            n += 1
        return bytes(placed[i] for i in range(n)), [owner[i] for i in range(n)], starts, base


def key_of(data, layers):
    ips = layers.ips
    parts = []
    for off, version, quoted in ips[: layers.ip_index]:
        if not quoted:
            a, b = addresses(data, off, version)
            parts.append(min(a, b) + max(a, b))
    off, version, _ = ips[layers.ip_index]
    src, dst = addresses(data, off, version)
    t = layers.transport_offset
    return b"".join(parts), bytes(src), bytes(data[t : t + 2]), bytes(dst), bytes(data[t + 2 : t + 4])


def addresses(data, off, version):
    if version == 4:
        return bytes(data[off + 12 : off + 16]), bytes(data[off + 16 : off + 20])
    return bytes(data[off + 8 : off + 24]), bytes(data[off + 24 : off + 40])


def expected(frames: list[tuple[bytes, int]]) -> list[set]:
    """Per frame ``(data, linktype)``: the buffer positions that mask must keep."""
    keep = [set() for _ in frames]
    dirs = defaultdict(Direction)
    first_sender = {}  # canonical flow -> key of its client's direction
    quoted = []
    for i, (data, linktype) in enumerate(frames):
        layers = dissect(data, linktype)
        ps, pe = layers.payload_start, layers.payload_end
        if layers.status == STATUS_OK and layers.ips and layers.ips[-1][2] and layers.transport in (1, 58):
            quoted.append((i, data, layers))
            continue
        unknown = layers.status != STATUS_OK or layers.fragment != FRAG_NONE or layers.transport_offset < 0
        if unknown or layers.transport not in (IPPROTO_TCP, IPPROTO_UDP):
            keep[i] = {p for a, b in control_keeps(data, layers) for p in range(a, b)}
            continue
        if layers.transport == IPPROTO_UDP:
            keep[i] = dtls_keep(data, ps, pe)
        elif layers.transport == IPPROTO_TCP:
            k = key_of(data, layers)
            t = layers.transport_offset
            flags, seq = data[t + 13], int.from_bytes(data[t + 4 : t + 8], "big")
            client = k if flags & 18 != 18 else reverse(k)
            first_sender.setdefault(canonical(k), client)
            d = dirs[k]
            if flags & 2 and d.isn is None:
                d.isn = (seq + 1) % 2**32
            d.segments.append((i, seq, 1 if flags & 2 else 0, bytes(data[ps:pe]), ps))
    streams = {k: d.stream() for k, d in dirs.items()}
    kept = {}
    commanded = set()
    for k in sorted(dirs, key=lambda k: first_sender.get(canonical(k)) != k):  # clients first
        stream, owner, starts, base = streams[k]
        peer = streams.get(reverse(k), (b"",))[0]
        client = first_sender.get(canonical(k)) == k
        server_port = int.from_bytes(k[4] if client else k[2], "big")
        kept[k] = decide(stream, starts, peer, client, canonical(k), commanded, server_port)
    for k, d in dirs.items():
        base = streams[k][3]
        if base is None:
            continue
        hi = 0
        for i, seq, syn, payload, ps in d.segments:
            rel = (seq + syn - base) % 2**32
            off = hi + ((rel - hi + 2**31) % 2**32) - 2**31
            hi = max(hi, off)
            keep[i].update(ps + j for j in range(len(payload)) if off + j in kept[k])
    for i, data, layers in quoted:
        keep[i] = quoted_keep(data, layers, dirs, streams, kept)
    return keep


def quoted_keep(data, layers, dirs, streams, kept) -> set:
    """A transport payload quoted in an ICMP error: DTLS walked, TCP bytes as decided in their stream."""
    ps, pe = layers.payload_start, layers.payload_end
    off, version, _ = layers.ips[-1]
    if version == 4:
        protocol, t = data[off + 9], off + (data[off] & 0x0F) * 4
    else:
        protocol, t, _ = skip_extensions(data, off + 40, pe, data[off + 6])
    if protocol == IPPROTO_UDP:
        return dtls_keep(data, ps, pe)
    if protocol != IPPROTO_TCP or t + 8 > ps:
        return set()
    outer = [(o, v, q) for o, v, q in layers.ips[: layers.ip_index] if not q]
    ctx = b"".join(min(a, b) + max(a, b) for a, b in (addresses(data, o, v) for o, v, _ in outer))
    src, dst = addresses(data, off, version)
    k = (ctx, src, bytes(data[t : t + 2]), dst, bytes(data[t + 2 : t + 4]))
    if k not in dirs or streams[k][3] is None:
        return set()
    rel = (int.from_bytes(data[t + 4 : t + 8], "big") - streams[k][3]) % 2**32
    return {ps + j for j in range(pe - ps) if rel + j in kept[k]}


def reverse(k):
    return (k[0], k[3], k[4], k[1], k[2])


def canonical(k):
    return (k[0],) + tuple(sorted((k[1:3], k[3:5])))


def decide(stream: bytes, starts, peer: bytes, client: bool, flow, commanded: set, server_port: int) -> set:
    """Kept offsets of one direction's reassembled stream."""
    kept: set = set()
    if len(stream) >= 5 and tls_header(stream, 0):
        walk_tls(stream, 0, kept)
    elif is_ssl2_hello(stream):
        walk_tls(stream, 0, kept, ssl2=True)
    elif client and stream.startswith(SSL_REQUEST):
        kept.update(range(8))
        walk_tls(stream, 8, kept) if tls_header(stream, 8) else None
    elif not client and stream[:1] == b"S" and peer.startswith(SSL_REQUEST):
        kept.add(0)
        walk_tls(stream, 1, kept) if tls_header(stream, 1) else None
    elif stream[:1] and 0x21 <= stream[0] < 0x7F:
        framing = server_port in STARTTLS_PORTS
        if prelude(stream, starts, client, flow in commanded, kept, framing):
            commanded.add(flow)
    return kept


def dtls_keep(data, ps: int, pe: int) -> set:
    keep, p = set(), ps
    while p + 13 <= pe:
        t, major, minor = data[p], data[p + 1], data[p + 2]
        length = int.from_bytes(data[p + 11 : p + 13], "big")
        if not (20 <= t <= 24 and major == 0xFE and minor >= 0xFC and length <= 2**14 + 2048):
            break
        keep.update(range(p, p + 13))
        if t in KEPT_TYPES:
            keep.update(range(p + 13, min(p + 13 + length, pe)))
        p += 13 + length
    return keep


def compare(frames_in, frames_out, keep: list[set]) -> dict:
    """Leaks (non-zero where the model zeroes), over-masking by flow, corrupted kept bytes."""
    leaks, corrupt = [], []
    over = defaultdict(int)
    for i, ((a, linktype), (b, _), kept) in enumerate(zip(frames_in, frames_out, keep)):
        layers = dissect(a, linktype)
        start = layers.payload_start if layers.status != 1 else 0
        for p in range(start, len(a)):
            if p in kept:
                if b[p] == 0 and a[p] != 0:
                    over[flow_of(a, layers)] += 1
                elif b[p] != a[p]:
                    corrupt.append((i + 1, p))
            elif b[p] != 0 and not _allowed(a, layers, p):
                leaks.append((i + 1, p))
    return {"leaks": leaks, "over": dict(over), "corrupt": corrupt}


def _allowed(data, layers, p) -> bool:
    """802.11 headers are kept by design (the dissector does not know them)."""
    return layers.status == 1


def flow_of(data, layers):
    """A flow's canonical 5-tuple ``(transport, (addr, port), (addr, port))``, addresses and ports as ints."""
    _, src, sport, dst, dport = key_of(data, layers)
    a = (int.from_bytes(src, "big"), int.from_bytes(sport, "big"))
    b = (int.from_bytes(dst, "big"), int.from_bytes(dport, "big"))
    return (layers.transport,) + tuple(sorted((a, b)))
