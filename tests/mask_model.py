"""An offline model of what mask may keep (SPEC §6), written apart from the stage and its dissector.

Frames are parsed with scapy, never with pktmask_nb's walk. The whole capture is read at
once: per TCP direction every byte is placed in sequence space (first copy wins) and the
contiguous stream from its start is judged:

- a direction whose SYN was seen and that begins with a valid record header is TLS from 0;
  one that begins with a valid SSLv2 ClientHello (or the ServerHello answering one) is SSLv2;
- a direction joined mid-stream is TLS only from a record header at a segment start whose
  record ends exactly at the start of a later segment that holds a valid header too;
- on the port of a STARTTLS protocol, TLS follows the client's STARTTLS line (and the server's
  positive reply line, the first status line after it) when a record header is there;
- a PostgreSQL SSLRequest and its "S" are followed by TLS.

Kept record bodies are those of types 20, 21, 22, 24 (in the clear: only when they are what
their type says, and of a heartbeat only its type and payload length); DTLS is judged per
datagram. Bytes the
masker may keep as framing without the model requiring them (line ends and the first two
words of prelude lines, XMPP/LDAP STARTTLS elements, HTTP headers when asked) are *allowed*.
`compare` reports leaks (non-zero where the model neither keeps nor allows), corrupted kept
bytes, and kept bytes the stage zeroed (over-masking, which must be counted as fail-closed).
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict

import scapy.contrib.geneve  # noqa: F401 - bind their ports, so scapy decodes the tunnels the masker follows
import scapy.contrib.gtp  # noqa: F401
import scapy.contrib.mpls  # noqa: F401
import scapy.layers.vxlan  # noqa: F401
from scapy.layers.inet import IP, TCP, UDP, IPerror, TCPerror
from scapy.layers.inet6 import IPerror6, IPv6
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Ether, Loopback
from scapy.packet import Padding

KEPT_TYPES = {20, 21, 22, 24}
SSL_REQUEST = bytes.fromhex("0000000804d2162f")
TEXT_PORTS = {25, 587, 2525, 110, 143, 21, 119, 433, 4190}
STARTTLS_BY_PORT = {  # the command line of each protocol (RFC 3207, 2595, 9051, 4217, 4642, 5804)
    **dict.fromkeys((25, 587, 2525, 119, 433, 4190), re.compile(rb"^STARTTLS\r?\n$", re.I)),
    110: re.compile(rb"^STLS\r?\n$", re.I),
    143: re.compile(rb"^[A-Za-z0-9]{1,32} STARTTLS\r?\n$", re.I),
    21: re.compile(rb"^AUTH (?:TLS|SSL|TLS-C|TLS-P)\r?\n$", re.I),
}
POSITIVE = re.compile(rb"^(?:220|234|382|\+OK|OK|[A-Za-z0-9.]{1,32} OK)", re.I)
NEGATIVE = re.compile(rb"^(?:[45]\d\d|-ERR|NO|BYE|[A-Za-z0-9.]{1,32} (?:NO|BAD))", re.I)
FRAMING_WORD = re.compile(rb"[A-Za-z0-9+*.-]{1,32}")
LINKTYPES = {1: Ether, 101: None, 113: CookedLinux, 276: CookedLinuxV2, 0: Loopback, 108: Loopback}


def tls_header(b: bytes, p: int):
    if p < 0 or p + 5 > len(b):
        return None
    t, major, minor, length = b[p], b[p + 1], b[p + 2], int.from_bytes(b[p + 3 : p + 5], "big")
    if 20 <= t <= 24 and major == 3 and minor <= 4 and length <= 2**14 + 2048:
        return t, length
    return None


ADDRESS_TEXT = re.compile(rb"(?<![0-9.])\d{1,3}(?:\.\d{1,3}){3}(?![0-9])|[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")


def address_text(body: bytes) -> set[int]:
    """Offsets of IP addresses written as text in a handshake (SPEC §5 zeroes them)."""
    found = set()
    for m in ADDRESS_TEXT.finditer(body):
        text = m.group(0).decode()
        if ":" in text and sum(c not in ":." for c in text) < 3:
            continue
        try:
            ipaddress.ip_address(text)
        except ValueError:
            continue
        found.update(range(m.start(), m.end()))
    return found


# Before its ChangeCipherSpec a direction speaks in the clear, and a kept body must be what its
# type says (IANA TLS registries): else nothing from that record on is kept.
CLEAR_HANDSHAKES = {0, 1, 2, 3, 4, 6, 11, 12, 13, 14, 15, 16, 21, 22, 23}  # never encrypted-only ones
ALERTS = {0, 10, 20, 21, 22, 30, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 60, 70, 71, 80, 86, 90}
ALERTS |= {100, 109, 110, 111, 112, 113, 114, 115, 116, 120, 121}


def clear_body(t: int, body: bytes) -> int | None:
    """Bytes kept of a cleartext ChangeCipherSpec, Alert or Heartbeat body; None if invalid."""
    if t == 20:
        return 1 if body == b"\x01" else None
    if t == 21:
        pairs = [body[i : i + 2] for i in range(0, len(body), 2)]
        ok = body and len(body) % 2 == 0 and all(a in (1, 2) and b in ALERTS for a, b in pairs)
        return len(body) if ok else None
    ok = len(body) >= 19 and body[0] in (1, 2) and 3 + int.from_bytes(body[1:3], "big") + 16 <= len(body)
    return 3 if ok else None  # a heartbeat's type and payload length; its payload is content


def walk_tls(stream: bytes, p: int, keep: set, ssl2: bool = False) -> None:
    """Mark kept stream offsets of TLS records from `p`; stop at the first invalid or incomplete header."""
    encrypted = False
    messages = bytearray()  # the cleartext handshake messages so far, joined
    message_at = 0  # where the next one starts in them
    while p < len(stream):
        h = tls_header(stream, p)
        if h is not None:
            t, length = h
            body_bytes = stream[p + 5 : p + 5 + length]
            hello = (
                t == 22
                and length >= 4
                and body_bytes[0] in (1, 2)
                and int.from_bytes(body_bytes[1:4], "big") == length - 4
            )
            clear = t != 23 and (not encrypted or hello)
            if (t == 22 or clear) and p + 5 + length > len(stream):
                return  # decided whole
            kept = length if t in KEPT_TYPES else 0
            if clear and t == 22:
                messages += body_bytes
                while message_at < len(messages):
                    if messages[message_at] not in CLEAR_HANDSHAKES:
                        return
                    if message_at + 4 > len(messages):
                        break  # a header the record cut
                    message_at += 4 + int.from_bytes(messages[message_at + 1 : message_at + 4], "big")
            elif clear:
                kept = clear_body(t, body_bytes)
                if kept is None:
                    return
                encrypted = encrypted or t == 20
            keep.update(range(p, p + 5))
            body = set(range(p + 5, min(p + 5 + kept, len(stream))))
            if t == 22:
                body -= {p + 5 + i for i in address_text(body_bytes)}
            keep.update(body)
            p += 5 + length
            continue
        if not ssl2 or p + 3 > len(stream):
            return
        # encrypted records carry an MD5 MAC (16 bytes); padded ones are whole 8-byte cipher
        # blocks with less padding than a block
        if stream[p] & 0x80:
            length, hlen = ((stream[p] & 0x7F) << 8) | stream[p + 1], 2
            if encrypted and length < 16:
                return
            mtype = stream[p + 2]
            clear = not encrypted and mtype in (1, 2, 4)
            encrypted = encrypted or mtype in (2, 4)
        elif encrypted:
            length, hlen, clear = ((stream[p] & 0x3F) << 8) | stream[p + 1], 3, False
            padding = stream[p + 2]
            if length % 8 or padding >= 8 or length < 16 + padding:
                return
        else:
            return
        if not length:
            return
        keep.update(range(p, p + hlen))
        if clear:
            keep.update(range(p + hlen, min(p + hlen + length, len(stream))))
        p += hlen + length


def ssl2_hello(s: bytes, client: bool) -> bool:
    """A structurally valid SSLv2 ClientHello (or ServerHello), RFC 6101 appendix E."""
    if client and len(s) >= 11 and s[0] & 0x80 and s[2] == 1:
        cs, sid, ch = (int.from_bytes(s[i : i + 2], "big") for i in (5, 7, 9))
        return (
            cs
            and cs % 3 == 0
            and sid in (0, 16)
            and 16 <= ch <= 32
            and ((s[0] & 0x7F) << 8 | s[1]) == 9 + cs + sid + ch
        )
    if not client and len(s) >= 13 and s[0] & 0x80 and s[2] == 4:
        cert, cs, cid = (int.from_bytes(s[i : i + 2], "big") for i in (7, 9, 11))
        return cs % 3 == 0 and 16 <= cid <= 32 and ((s[0] & 0x7F) << 8 | s[1]) == 11 + cert + cs + cid
    return False


def _offset(raw: bytes, layer) -> int:
    return len(raw) - len(bytes(layer))


def parse(data: bytes, linktype: int) -> dict | None:
    """What scapy finds in a frame: the innermost TCP/UDP (not quoted), its payload, flow key, ..."""
    cls = LINKTYPES.get(linktype, False)
    if cls is False:
        return None
    if cls is None:
        cls = IP if data[:1] and data[0] >> 4 == 4 else IPv6
    pkt = cls(data)
    layers = list(pkt.iterpayloads())
    quoted = any(isinstance(x, IPerror | IPerror6) for x in layers)
    transport = [x for x in layers if isinstance(x, TCP | UDP) and not isinstance(x, TCPerror)]
    ips = [x for x in layers if isinstance(x, IP | IPv6) and not isinstance(x, IPerror | IPerror6)]
    info = {"quoted": quoted, "quote": None}
    if quoted:
        errors = [x for x in layers if isinstance(x, TCPerror)]
        qips = [x for x in layers if isinstance(x, IPerror | IPerror6)]
        if errors and qips:
            t = errors[-1]
            start = _offset(data, t) + t.dataofs * 4 if t.dataofs else None
            if start is not None and start < len(data):
                key = _key(ips, qips[-1], t)
                info["quote"] = (key, t.seq, start, len(data))
        return info
    if not transport or not ips:
        return None
    t = transport[-1]
    if any(isinstance(x, IP | IPv6 | Ether | ARP) for x in layers[layers.index(t) :]):
        return None  # a tunnel whose inner packet is no TCP/UDP: not judged here
    ip = [x for x in ips if _offset(data, x) < _offset(data, t)][-1]
    if isinstance(ip, IP) and (ip.flags.MF or ip.frag):
        return None
    padding = len(pkt[Padding].load) if Padding in pkt else 0
    start = _offset(data, t) + (t.dataofs * 4 if isinstance(t, TCP) else 8)
    end = len(data) - padding
    info.update(proto=6 if isinstance(t, TCP) else 17, start=start, end=max(start, end), key=_key(ips, ip, t))
    if isinstance(t, TCP):
        info.update(seq=t.seq, flags=int(t.flags))
    return info


def _key(ips, ip, t) -> tuple:
    """``(context, src, sport, dst, dport)``: a direction's key, tunnel outer addresses first."""
    index = next((n for n, x in enumerate(ips) if x is ip), len(ips))
    ctx = tuple(tuple(sorted((x.src, x.dst))) for x in ips[:index])
    return (ctx, ip.src, t.sport, ip.dst, t.dport)


def reverse(k):
    return (k[0], k[3], k[4], k[1], k[2])


def canonical(k):
    return (k[0],) + tuple(sorted((k[1:3], k[3:5])))


class Direction:
    def __init__(self):
        self.segments = []  # (frame index, seq, syn, payload, buffer offset) in capture order
        self.isn = None

    def place(self):
        """Stream offset of each segment, reassembled bytes from offset 0, segment starts, first frame of each byte."""
        base = self.isn
        if base is None:
            data = [s for s in self.segments if len(s[3]) > 1]  # a 1-byte keep-alive cannot start a stream
            if not data:
                return [], b"", set(), {}
            base = data[0][1]
        offsets, placed, first, starts, hi = [], {}, {}, set(), 0
        for i, seq, syn, payload, _ in self.segments:
            rel = (seq + syn - base) % 2**32
            off = hi + ((rel - hi + 2**31) % 2**32) - 2**31
            hi = max(hi, off)
            offsets.append(off)
            if payload and off not in placed:
                starts.add(off)
            for j, byte in enumerate(payload):
                if off + j not in placed:
                    placed[off + j], first[off + j] = byte, i
        n = 0
        while n in placed:
            n += 1
        return offsets, bytes(placed[i] for i in range(n)), starts, first


def midstream(stream: bytes, starts: set) -> int | None:
    """The first record header at a segment start whose record ends at a segment start with another header."""
    for s in sorted(starts):
        h = tls_header(stream, s)
        if h is not None:
            end = s + 5 + h[1]
            if end in starts and tls_header(stream, end):
                return s
    return None


def lines(stream: bytes):
    pos = 0
    while (nl := stream.find(b"\n", pos)) >= 0:
        yield pos, stream[pos : nl + 1]
        pos = nl + 1


def framing(stream: bytes, allowed: set) -> None:
    """Allow what a prelude may keep: line ends, spaces, and the first two words of each line."""
    for pos, line in lines(stream):
        allowed.update((pos + len(line) - 2, pos + len(line) - 1))
        allowed.update(pos + i for i, c in enumerate(line) if c == 0x20)
        at = pos
        for _ in range(2):
            m = FRAMING_WORD.match(line, at - pos)
            if not m:
                break
            allowed.update(range(pos + m.start(), pos + m.end() + 1))
            at = pos + m.end() + 1


def decide(streams: dict, order: dict, http: bool) -> tuple[dict, dict]:
    """Kept and allowed offsets of every direction."""
    kept, allowed = defaultdict(set), defaultdict(set)
    for k, (stream, starts, known, client) in streams.items():
        server_port = k[4] if client else k[2]
        if not known:
            start = midstream(stream, starts)
            if start is not None:
                walk_tls(stream, start, kept[k])
        elif tls_header(stream, 0):
            walk_tls(stream, 0, kept[k])
        elif ssl2_hello(stream, client) or (
            not client and ssl2_hello(streams.get(reverse(k), (b"",))[0], True) and ssl2_hello(stream, False)
        ):
            walk_tls(stream, 0, kept[k], ssl2=True)
        elif client and stream.startswith(SSL_REQUEST):
            kept[k].update(range(8))
            if streams.get(reverse(k), (b"",))[0][:1] == b"S":
                walk_tls(stream, 8, kept[k])
        elif not client and stream[:1] == b"S" and streams.get(reverse(k), (b"",))[0].startswith(SSL_REQUEST):
            kept[k].add(0)
            walk_tls(stream, 1, kept[k])
        elif server_port in TEXT_PORTS and client:
            _starttls(k, stream, streams, order, kept, allowed)
        elif server_port in (389, 3268, 5222, 5269) or (http and re.match(rb"[A-Z]{3,10} |HTTP/1\.", stream)):
            allowed[k].update(range(len(stream)))  # LDAP, XMPP, HTTP headers: judged by their own tests
        elif re.match(rb"CONNECT ", stream) or re.match(rb"HTTP/1\.\d 2", stream):
            allowed[k].update(range(len(stream)))
    for k, (stream, _, _, client) in streams.items():
        if (k[4] if client else k[2]) in TEXT_PORTS:
            framing(stream, allowed[k])
    for k, (stream, *_) in streams.items():  # after CONNECT: TLS at either stream's offset
        if re.match(rb"CONNECT ", stream) or re.match(rb"HTTP/1\.\d 2", stream):
            end = stream.find(b"\r\n\r\n")
            if end >= 0 and tls_header(stream, end + 4):
                walk_tls(stream, end + 4, kept[k])
    return kept, allowed


def _starttls(k, stream: bytes, streams: dict, order: dict, kept, allowed) -> None:
    """A client's STARTTLS line, the server's first status line after it: TLS after both if positive."""
    server = reverse(k)
    peer = streams.get(server, (b"",))[0]
    command = STARTTLS_BY_PORT[k[4]]
    for pos, line in lines(stream):
        if not command.match(line):
            continue
        kept[k].update(range(pos, pos + len(line)))
        asked = order[k].get(pos, 0)
        for spos, sline in lines(peer):
            if order[server].get(spos, 0) < asked or not (POSITIVE.match(sline) or NEGATIVE.match(sline)):
                continue
            if POSITIVE.match(sline):
                if tls_header(stream, pos + len(line)):
                    walk_tls(stream, pos + len(line), kept[k])
                if tls_header(peer, spos + len(sline)):
                    walk_tls(peer, spos + len(sline), kept[server])
            return
        return


def expected(frames: list[tuple[bytes, int]], http: bool = False) -> tuple[list[set], list[set], list]:
    """Per frame ``(data, linktype)``: positions mask must keep, positions it may keep, and the parses."""
    keep = [set() for _ in frames]
    allow = [set() for _ in frames]
    infos = [parse(data, linktype) for data, linktype in frames]
    dirs = defaultdict(Direction)
    first_sender = {}
    for i, ((data, _), info) in enumerate(zip(frames, infos)):
        if info is None or info.get("quoted"):
            continue
        if info["proto"] == 17:
            keep[i] = dtls_keep(data, info["start"], info["end"])
            continue
        k, flags = info["key"], info["flags"]
        client = k if flags & 18 != 18 else reverse(k)
        first_sender.setdefault(canonical(k), client)
        d = dirs[k]
        if flags & 2 and d.isn is None:
            d.isn = (info["seq"] + 1) % 2**32
        d.segments.append(
            (i, info["seq"], 1 if flags & 2 else 0, bytes(data[info["start"] : info["end"]]), info["start"])
        )
    placed = {k: d.place() for k, d in dirs.items()}
    streams = {k: (p[1], p[2], dirs[k].isn is not None, first_sender.get(canonical(k)) == k) for k, p in placed.items()}
    kept, allowed = decide(streams, {k: _line_order(p[1], p[3]) for k, p in placed.items()}, http)
    for k, d in dirs.items():
        offsets = placed[k][0]
        for (i, _, _, payload, ps), off in zip(d.segments, offsets):
            keep[i].update(ps + j for j in range(len(payload)) if off + j in kept[k])
            allow[i].update(ps + j for j in range(len(payload)) if off + j in allowed[k])
    for i, info in enumerate(infos):
        if info is not None and info.get("quote"):
            key, seq, start, end = info["quote"]
            if key in dirs and placed[key][0]:
                base = dirs[key].isn if dirs[key].isn is not None else dirs[key].segments[0][1]
                rel = (seq - base) % 2**32
                allow[i].update(start + j for j in range(end - start) if rel + j in kept[key])
    return keep, allow, infos


def _line_order(stream: bytes, first: dict) -> dict:
    """The frame that brought each line start of a stream (for ordering a reply after a command)."""
    return {pos: first.get(pos, 0) for pos, _ in lines(stream)}


def dtls_keep(data, ps: int, pe: int) -> set:
    keep, p = set(), ps
    while p + 13 <= pe:
        t, major, minor = data[p], data[p + 1], data[p + 2]
        length = int.from_bytes(data[p + 11 : p + 13], "big")
        if not (20 <= t <= 24 and major == 0xFE and minor >= 0xFC and length <= 2**14 + 2048):
            break
        body = bytes(data[p + 13 : p + 13 + length])
        kept = length if t in KEPT_TYPES else 0
        if t in KEPT_TYPES and data[p + 3] == data[p + 4] == 0:  # epoch 0: in the clear
            if len(body) < length:
                break
            kept = dtls_fragments(body) if t == 22 else clear_body(t, body)
            if kept is None:
                break
        keep.update(range(p, p + 13))
        keep.update(range(p + 13, min(p + 13 + kept, pe)))
        p += 13 + length
    return keep


def dtls_fragments(body: bytes) -> int | None:
    """The body's length if it is whole handshake fragments of cleartext types, else None."""
    q = 0
    while q < len(body):
        if q + 12 > len(body) or body[q] not in CLEAR_HANDSHAKES:
            return None
        total, offset, size = (int.from_bytes(body[q + i : q + i + 3], "big") for i in (1, 6, 9))
        q += 12 + size
        if offset + size > total or q > len(body):
            return None
    return len(body)


def compare(frames_in, frames_out, model) -> dict:
    """Leaks (non-zero payload bytes the model neither keeps nor allows), over-masking by flow, corrupted kept bytes."""
    keep, allow, infos = model
    leaks, corrupt = [], []
    over = defaultdict(int)
    for i, ((a, _), (b, _), kept, allowed, info) in enumerate(zip(frames_in, frames_out, keep, allow, infos)):
        if info is None or info.get("quoted") or info["proto"] not in (6, 17):
            continue
        for p in range(info["start"], info["end"]):
            if p in kept:
                if b[p] == 0 and a[p] != 0:
                    over[flow_of(info)] += 1
                elif b[p] != a[p]:
                    corrupt.append((i + 1, p))
            elif b[p] != 0 and p not in allowed:
                leaks.append((i + 1, p))
    return {"leaks": leaks, "over": dict(over), "corrupt": corrupt}


def flow_of(info):
    """A flow's canonical 5-tuple ``(transport, (addr, port), (addr, port))``, addresses as text, ports as ints."""
    _, src, sport, dst, dport = info["key"]
    return (info["proto"],) + tuple(sorted(((src, sport), (dst, dport))))
