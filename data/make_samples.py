"""Write the sample captures in data/ and their description, data/README.md, deterministically.

Run from anywhere: ``.venv/bin/python data/make_samples.py``. scapy builds the frames (lengths
and IP/TCP/UDP/ICMP checksums are its own); this script writes the pcap and pcapng containers
itself with `struct`, with fixed seeds and fixed timestamps, so rerunning it gives byte-identical
files. scapy is a test/dev dependency: the package never imports it.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

DATA_DIR = Path(__file__).resolve().parent
EPOCH_US = 1_717_243_200_000_000  # 2024-06-01 12:00:00 UTC, first conversation starts here

# Link layer
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
ETH_P_IP, ETH_P_ARP, ETH_P_IPV6 = 0x0800, 0x0806, 0x86DD
ETH_P_8021Q, ETH_P_8021AD = 0x8100, 0x88A8
ETH_HLEN, VLAN_HLEN = 14, 4
ETH_MIN_FRAME = 60  # frames shorter than this arrive padded (FCS not captured)
L3_ETHERTYPE = {IP: ETH_P_IP, IPv6: ETH_P_IPV6, ARP: ETH_P_ARP}

# IPv4 (RFC 791) header offsets
IPV4_TTL, IPV4_CHECKSUM = 8, 10
IPV6_HOP_LIMIT = 7  # RFC 8200

# TCP (RFC 9293)
TCP_MSS_IPV4, TCP_MSS_IPV6 = 1460, 1440
TCP_SYN_OPTIONS = [("NOP", None), ("WScale", 7), ("NOP", None), ("NOP", None), ("SAckOK", b"")]
TCP_WINDOW_SYN, TCP_WINDOW_SCALED = 64240, 502
TCP_SEGMENT_GAP_US = 12  # back-to-back segments of one send
TCP_ACK_GAP_US = 35  # the receiver's delayed-ACK reaction at the capture point

# TLS 1.2 (RFC 5246, RFC 8422)
TLS_CHANGE_CIPHER_SPEC, TLS_ALERT, TLS_HANDSHAKE, TLS_APPLICATION_DATA = 20, 21, 22, 23
TLS_VERSION_1_0, TLS_VERSION_1_2 = 0x0301, 0x0303
TLS_HS_CLIENT_HELLO, TLS_HS_SERVER_HELLO, TLS_HS_CERTIFICATE = 1, 2, 11
TLS_HS_SERVER_KEY_EXCHANGE, TLS_HS_SERVER_HELLO_DONE, TLS_HS_CLIENT_KEY_EXCHANGE = 12, 14, 16
TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xC02B
TLS_CIPHER_SUITES = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x009C, 0x009D)
TLS_GROUP_X25519, TLS_GROUP_SECP256R1 = 0x001D, 0x0017
TLS_SIG_ED25519, TLS_SIG_ECDSA_SHA256 = 0x0807, 0x0403
TLS_EXT_SERVER_NAME, TLS_EXT_GROUPS, TLS_EXT_POINT_FORMATS = 0x0000, 0x000A, 0x000B
TLS_EXT_SIG_ALGS, TLS_EXT_ALPN, TLS_EXT_EMS, TLS_EXT_RENEGOTIATION = 0x000D, 0x0010, 0x0017, 0xFF01
TLS_GCM_FINISHED_LEN = 40  # explicit nonce 8 + verify_data 12 + tag 16 + handshake header 4
TLS_GCM_ALERT_LEN = 26  # explicit nonce 8 + alert 2 + tag 16
TLS_RECORD_HEADER = struct.Struct("!BHH")

# pcap (draft-ietf-opsawg-pcap) and pcapng (draft-ietf-opsawg-pcapng)
PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_SNAPLEN = 262144
PCAP_FILE_HEADER = struct.Struct("<IHHiIII")
PCAP_RECORD_HEADER = struct.Struct("<IIII")
PCAPNG_SHB, PCAPNG_IDB, PCAPNG_EPB = 0x0A0D0D0A, 0x00000001, 0x00000006
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_OPT_ENDOFOPT, PCAPNG_OPT_COMMENT = 0, 1
PCAPNG_SHB_USERAPPL = 4
PCAPNG_IF_NAME, PCAPNG_IF_DESCRIPTION, PCAPNG_IF_TSRESOL = 2, 3, 9

HTTP_USER_AGENT = b"Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
LOREM = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo"
)


# ---------------------------------------------------------------- links and conversations


@dataclass(frozen=True)
class Link:
    """Ethernet framing of one path seen at the client-side capture point.

    `tags` are ``(tpid, vid)`` pairs, outermost first. Frames from the server arrive through a
    switch and are padded to the Ethernet minimum when `pad_from_server`.
    """

    client_mac: str
    server_mac: str
    tags: tuple = ()
    pad_from_server: bool = True

    def frame(self, from_client: bool, l3) -> bytes:
        src, dst = (self.client_mac, self.server_mac) if from_client else (self.server_mac, self.client_mac)
        types = [tpid for tpid, _ in self.tags] + [L3_ETHERTYPE[type(l3)]]
        pkt = Ether(src=src, dst=dst, type=types[0])
        for (tpid, vid), inner in zip(self.tags, types[1:]):
            pkt = pkt / (Dot1AD if tpid == ETH_P_8021AD else Dot1Q)(vlan=vid, type=inner)
        raw = bytes(pkt / l3)
        if self.pad_from_server and not from_client and len(raw) < ETH_MIN_FRAME:
            raw += bytes(ETH_MIN_FRAME - len(raw))
        return raw


class RawLink:
    """LINKTYPE_RAW framing: the frame is the IP datagram."""

    def frame(self, from_client: bool, l3) -> bytes:
        return bytes(l3)


class Timeline:
    """Frames of one conversation with their capture times in microseconds."""

    def __init__(self, start_us: int):
        self.t = start_us
        self.frames: list[tuple[int, bytes]] = []

    def add(self, gap_us: int, frame: bytes) -> None:
        self.t += gap_us
        self.frames.append((self.t, frame))


def ip_layer(src: str, dst: str, ttl: int, ip_id: int):
    """IPv4 (DF set, as TCP stacks send) or IPv6 by the address form."""
    if ":" in src:
        return IPv6(src=src, dst=dst, hlim=ttl)
    return IP(src=src, dst=dst, ttl=ttl, id=ip_id, flags="DF")


def split_points(length: int, cuts, mss: int) -> list[tuple[int, int]]:
    """Segment ``(start, end)`` offsets: split at every cut, then at the MSS."""
    points = sorted({0, length, *cuts})
    return [(s, min(s + mss, b)) for a, b in zip(points, points[1:]) for s in range(a, b, mss)]


class TcpConversation(Timeline):
    """One TCP connection, in-order and loss-free, with correct sequence and ack numbers."""

    def __init__(self, link, client: tuple, server: tuple, start_us: int, rng: random.Random, *, server_ttl=52):
        super().__init__(start_us)
        self.link, self.client, self.server = link, client, server
        self.ttl = {True: 64, False: server_ttl}
        self.seq = {True: rng.getrandbits(32), False: rng.getrandbits(32)}
        self.ip_id = {True: rng.getrandbits(16), False: rng.getrandbits(16)}
        self.stream = {True: bytearray(), False: bytearray()}
        self.mss = TCP_MSS_IPV6 if ":" in client[0] else TCP_MSS_IPV4

    def segment(self, from_client: bool, flags: str, payload: bytes = b"", gap_us: int = TCP_ACK_GAP_US) -> None:
        (src, sport), (dst, dport) = (self.client, self.server) if from_client else (self.server, self.client)
        syn = "S" in flags
        tcp = TCP(
            sport=sport,
            dport=dport,
            seq=self.seq[from_client],
            ack=self.seq[not from_client] if "A" in flags else 0,
            flags=flags,
            window=TCP_WINDOW_SYN if syn else TCP_WINDOW_SCALED,
            options=[("MSS", self.mss), *TCP_SYN_OPTIONS] if syn else [],
        )
        self.ip_id[from_client] = (self.ip_id[from_client] + 1) & 0xFFFF
        l3 = ip_layer(src, dst, self.ttl[from_client], self.ip_id[from_client]) / tcp
        if payload:
            l3 = l3 / Raw(payload)
        self.seq[from_client] = (self.seq[from_client] + len(payload) + (syn or "F" in flags)) & 0xFFFFFFFF
        self.stream[from_client] += payload
        self.add(gap_us, self.link.frame(from_client, l3))

    def handshake(self, rtt_us: int) -> None:
        self.segment(True, "S", gap_us=0)
        self.segment(False, "SA", gap_us=rtt_us)
        self.segment(True, "A")

    def send(self, from_client: bool, data: bytes, gap_us: int, cuts=()) -> None:
        """Send `data` split at `cuts` and the MSS; the receiver ACKs every second segment and the last."""
        pieces = split_points(len(data), cuts, self.mss)
        for i, (a, b) in enumerate(pieces):
            self.segment(
                from_client, "PA" if b == len(data) else "A", data[a:b], gap_us if i == 0 else TCP_SEGMENT_GAP_US
            )
            if i % 2 or b == len(data):
                self.segment(not from_client, "A")

    def close(self, rtt_us: int, client_first: bool = True) -> None:
        self.segment(client_first, "FA", gap_us=rtt_us)
        self.segment(not client_first, "FA", gap_us=rtt_us)
        self.segment(client_first, "A")


def dns_exchange(link, client: tuple, server: str, qid: int, name: str, answers, start_us: int, rtt_us: int):
    """A DNS query and its answer (A or AAAA by the answers' form; no answers: NXDOMAIN)."""
    qtype = "AAAA" if any(":" in a for a in answers) else "A"
    question = DNSQR(qname=name, qtype=qtype)
    records = [DNSRR(rrname=name, type=qtype, ttl=300, rdata=a) for a in answers]
    query = DNS(id=qid, rd=1, qd=question)
    reply = DNS(id=qid, qr=1, rd=1, ra=1, rcode=0 if answers else 3, qd=question, an=records or None)
    (caddr, cport), ip_id = client, qid
    timeline = Timeline(start_us)
    timeline.add(0, link.frame(True, ip_layer(caddr, server, 64, ip_id) / UDP(sport=cport, dport=53) / query))
    timeline.add(
        rtt_us, link.frame(False, ip_layer(server, caddr, 57, ip_id ^ 0x5A5A) / UDP(sport=53, dport=cport) / reply)
    )
    return timeline


# ---------------------------------------------------------------- TLS 1.2 records


def tls_record(content_type: int, body: bytes, version: int = TLS_VERSION_1_2) -> bytes:
    return TLS_RECORD_HEADER.pack(content_type, version, len(body)) + body


def tls_handshake(msg_type: int, body: bytes) -> bytes:
    return bytes([msg_type]) + len(body).to_bytes(3, "big") + body


def u16_vector(values) -> bytes:
    return struct.pack(f"!H{len(values)}H", 2 * len(values), *values)


def tls_extension(ext_type: int, data: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(data)) + data


def tls_alpn(protocol: bytes) -> bytes:
    entry = bytes([len(protocol)]) + protocol
    return struct.pack("!H", len(entry)) + entry


def client_hello(rng: random.Random, server_name: str) -> bytes:
    name = server_name.encode()
    extensions = b"".join(
        (
            tls_extension(TLS_EXT_SERVER_NAME, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name),
            tls_extension(TLS_EXT_EMS, b""),
            tls_extension(TLS_EXT_RENEGOTIATION, b"\x00"),
            tls_extension(TLS_EXT_GROUPS, u16_vector([TLS_GROUP_X25519, TLS_GROUP_SECP256R1])),
            tls_extension(TLS_EXT_POINT_FORMATS, b"\x01\x00"),
            tls_extension(TLS_EXT_SIG_ALGS, u16_vector([TLS_SIG_ED25519, TLS_SIG_ECDSA_SHA256])),
            tls_extension(TLS_EXT_ALPN, tls_alpn(b"http/1.1")),
        )
    )
    body = (
        struct.pack("!H", TLS_VERSION_1_2)
        + rng.randbytes(32)
        + b"\x00"
        + u16_vector(TLS_CIPHER_SUITES)
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    return tls_record(TLS_HANDSHAKE, tls_handshake(TLS_HS_CLIENT_HELLO, body), TLS_VERSION_1_0)


def server_hello(rng: random.Random) -> bytes:
    extensions = (
        tls_extension(TLS_EXT_RENEGOTIATION, b"\x00")
        + tls_extension(TLS_EXT_POINT_FORMATS, b"\x01\x00")
        + tls_extension(TLS_EXT_EMS, b"")
        + tls_extension(TLS_EXT_ALPN, tls_alpn(b"http/1.1"))
    )
    body = (
        struct.pack("!H", TLS_VERSION_1_2)
        + rng.randbytes(32)
        + b"\x20"
        + rng.randbytes(32)
        + struct.pack("!HB", TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, 0)
        + struct.pack("!H", len(extensions))
        + extensions
    )
    return tls_record(TLS_HANDSHAKE, tls_handshake(TLS_HS_SERVER_HELLO, body))


def certificate_chain(server_name: str) -> list[bytes]:
    """A DER leaf and root, both Ed25519 (deterministic signatures, fixed keys and dates)."""
    root_key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    leaf_key = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pktmask sample root CA")])
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_name)])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)

    def build(subject, key, serial):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(root_name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=730))
        )

    root = build(root_name, root_key, 1).add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
    leaf = build(leaf_name, leaf_key, 2).add_extension(
        x509.SubjectAlternativeName([x509.DNSName(server_name), x509.DNSName("*." + server_name)]), False
    )
    return [c.sign(root_key, None).public_bytes(Encoding.DER) for c in (leaf, root)]


def certificate(server_name: str) -> bytes:
    entries = b"".join(len(der).to_bytes(3, "big") + der for der in certificate_chain(server_name))
    return tls_record(TLS_HANDSHAKE, tls_handshake(TLS_HS_CERTIFICATE, len(entries).to_bytes(3, "big") + entries))


def server_key_exchange(rng: random.Random) -> bytes:
    params = struct.pack("!BHB", 3, TLS_GROUP_X25519, 32) + rng.randbytes(32)  # named_curve, x25519 public key
    signature = struct.pack("!HH", TLS_SIG_ED25519, 64) + rng.randbytes(64)
    return tls_record(TLS_HANDSHAKE, tls_handshake(TLS_HS_SERVER_KEY_EXCHANGE, params + signature))


def client_key_exchange(rng: random.Random) -> bytes:
    return tls_record(TLS_HANDSHAKE, tls_handshake(TLS_HS_CLIENT_KEY_EXCHANGE, b"\x20" + rng.randbytes(32)))


def encrypted(rng: random.Random, content_type: int, length: int) -> bytes:
    """A record whose body is ciphertext (random bytes) of `length`."""
    return tls_record(content_type, rng.randbytes(length))


def change_cipher_spec() -> bytes:
    return tls_record(TLS_CHANGE_CIPHER_SPEC, b"\x01")


def app_data(rng: random.Random, *lengths: int) -> bytes:
    return b"".join(encrypted(rng, TLS_APPLICATION_DATA, n) for n in lengths)


def tls_session(conv: TcpConversation, rng: random.Random, server_name: str, exchanges, rtt_us: int) -> None:
    """A full TLS 1.2 ECDHE handshake, `exchanges` of ``(request, response, response cuts)``, an Alert, FIN.

    The Certificate record spans two segments; ClientKeyExchange, ChangeCipherSpec and
    Finished share one segment.
    """
    conv.handshake(rtt_us)
    conv.send(True, client_hello(rng, server_name), TCP_ACK_GAP_US)
    hello, cert = server_hello(rng), certificate(server_name)
    flight = (
        hello
        + cert
        + server_key_exchange(rng)
        + tls_record(TLS_HANDSHAKE, tls_handshake(TLS_HS_SERVER_HELLO_DONE, b""))
    )
    conv.send(False, flight, rtt_us, cuts=(len(hello) + len(cert) // 2,))
    finished = change_cipher_spec() + encrypted(rng, TLS_HANDSHAKE, TLS_GCM_FINISHED_LEN)
    conv.send(True, client_key_exchange(rng) + finished, 400)
    conv.send(False, change_cipher_spec() + encrypted(rng, TLS_HANDSHAKE, TLS_GCM_FINISHED_LEN), rtt_us)
    for request, response, cuts in exchanges:
        conv.send(True, request, 300)
        conv.send(False, response, rtt_us, cuts)
    conv.send(True, encrypted(rng, TLS_ALERT, TLS_GCM_ALERT_LEN), 2000)
    conv.close(rtt_us)


def tls_records(stream: bytes) -> dict[str, int]:
    """Count the TLS records of one direction by content type (the stream holds whole records)."""
    counts: dict[str, int] = {}
    pos = 0
    while pos < len(stream):
        content_type, _, length = TLS_RECORD_HEADER.unpack_from(stream, pos)
        counts[str(content_type)] = counts.get(str(content_type), 0) + 1
        pos += TLS_RECORD_HEADER.size + length
    return dict(sorted(counts.items()))


# ---------------------------------------------------------------- HTTP/1.1 messages


def http_message(start_line: str, headers: list[tuple[str, str]], body: bytes = b"") -> bytes:
    head = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return f"{start_line}\r\n{head}\r\n".encode() + body


def text_body(rng: random.Random, n_words: int) -> bytes:
    words = LOREM.split()
    return " ".join(rng.choice(words) for _ in range(n_words)).encode()


def http_get(host: str, path: str, connection: str = "keep-alive") -> bytes:
    return http_message(
        f"GET {path} HTTP/1.1",
        [("Host", host), ("User-Agent", HTTP_USER_AGENT.decode()), ("Accept", "*/*"), ("Connection", connection)],
    )


def http_ok(content_type: str, body: bytes, extra=()) -> bytes:
    headers = [("Server", "nginx/1.24.0"), ("Content-Type", content_type), ("Content-Length", str(len(body)))]
    return http_message("HTTP/1.1 200 OK", headers + list(extra), body)


def http_post_login(host: str) -> bytes:
    body = b"username=alice&password=correct+horse+battery+staple"
    return http_message(
        "POST /api/login HTTP/1.1",
        [
            ("Host", host),
            ("User-Agent", HTTP_USER_AGENT.decode()),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", str(len(body))),
            ("Cookie", "session=9f86d081884c7d659a2feaa0c55ad015; theme=dark"),
            ("Authorization", "Basic " + base64.b64encode(b"alice:s3cr3t-passw0rd").decode()),
        ],
        body,
    )


def http_chunked(rng: random.Random, n_chunks: int) -> bytes:
    chunks = [text_body(rng, rng.randrange(20, 120)) + b"\n" for _ in range(n_chunks)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Transfer-Encoding", "chunked"), ("Connection", "close")]
    return http_message("HTTP/1.1 200 OK", headers, body)


def http_keepalive_session(conv: TcpConversation, rng: random.Random, host: str, rtt_us: int) -> None:
    """GET with a Content-Length body, then POST with Cookie and Authorization, on one connection."""
    conv.handshake(rtt_us)
    conv.send(True, http_get(host, "/index.html"), TCP_ACK_GAP_US)
    page = http_ok("text/html; charset=utf-8", b"<html><body><p>" + text_body(rng, 700) + b"</p></body></html>\n")
    conv.send(False, page, rtt_us, cuts=(page.index(b"\r\n\r\n") + 4,))
    conv.send(True, http_post_login(host), 150_000)
    cookie = ("Set-Cookie", "session=2c26b46b68ffc68ff99b453c1d304134; HttpOnly; Secure")
    conv.send(False, http_ok("application/json", b'{"status": "ok", "user": "alice"}\n', [cookie]), rtt_us)
    conv.close(rtt_us)


def http_chunked_session(conv: TcpConversation, rng: random.Random, host: str, rtt_us: int) -> None:
    """GET answered with a chunked body; the server closes the connection."""
    conv.handshake(rtt_us)
    conv.send(True, http_get(host, "/events", "close"), TCP_ACK_GAP_US)
    conv.send(False, http_chunked(rng, 24), rtt_us)
    conv.close(rtt_us, client_first=False)


# ---------------------------------------------------------------- containers


def write_pcap(path: Path, frames, linktype: int = LINKTYPE_ETHERNET) -> None:
    """Little-endian, microsecond pcap; every frame captured whole."""
    out = [PCAP_FILE_HEADER.pack(PCAP_MAGIC_US, 2, 4, 0, 0, PCAP_SNAPLEN, linktype)]
    for ts_us, frame in frames:
        sec, usec = divmod(ts_us, 1_000_000)
        out.append(PCAP_RECORD_HEADER.pack(sec, usec, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


def pad4(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def pcapng_options(options) -> bytes:
    """Encoded ``(code, value)`` options followed by opt_endofopt; empty for no options."""
    if not options:
        return b""
    body = b"".join(struct.pack("<HH", code, len(value)) + pad4(value) for code, value in options)
    return body + struct.pack("<HH", PCAPNG_OPT_ENDOFOPT, 0)


def pcapng_block(block_type: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", block_type, total) + body + struct.pack("<I", total)


def pcapng_shb(options) -> bytes:
    return pcapng_block(PCAPNG_SHB, struct.pack("<IHHq", PCAPNG_BYTE_ORDER_MAGIC, 1, 0, -1) + pcapng_options(options))


def pcapng_idb(linktype: int, options) -> bytes:
    return pcapng_block(PCAPNG_IDB, struct.pack("<HHI", linktype, 0, PCAP_SNAPLEN) + pcapng_options(options))


def pcapng_epb(interface: int, ts_units: int, frame: bytes, options=()) -> bytes:
    head = struct.pack("<IIIII", interface, ts_units >> 32, ts_units & 0xFFFFFFFF, len(frame), len(frame))
    return pcapng_block(PCAPNG_EPB, head + pad4(frame) + pcapng_options(options))


def merge(*timelines) -> list[tuple[int, bytes]]:
    """All frames in time order (ties keep argument order)."""
    return sorted((f for t in timelines for f in t.frames), key=lambda f: f[0])


# ---------------------------------------------------------------- the sample files


def endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def describe_tcp(conversations) -> list[dict]:
    """Per TCP connection, in Wireshark's tcp.stream order: endpoints and TLS records per direction."""
    streams = []
    for number, conv in enumerate(sorted(conversations, key=lambda c: c.frames[0][0])):
        entry = {
            "stream": number,
            "client": endpoint(*conv.client),
            "server": endpoint(*conv.server),
            "packets": len(conv.frames),
        }
        if conv.server[1] == 443:
            entry["tls_records_client"] = tls_records(bytes(conv.stream[True]))
            entry["tls_records_server"] = tls_records(bytes(conv.stream[False]))
        streams.append(entry)
    return streams


def main_tls_exchanges(rng: random.Random) -> list:
    """Records spanning segments, a record header split across two segments, two records per segment."""
    first = app_data(rng, 3000, 1200, 5000)
    return [
        (app_data(rng, 420), first, (3005 + 2,)),  # the second record's header is cut after 2 bytes
        (app_data(rng, 120, 80), app_data(rng, 200, 300), ()),
        (app_data(rng, 610), app_data(rng, 14000), ()),
    ]


def build_tls_http() -> tuple[list, dict]:
    rng = random.Random(1)
    lan = Link("3c:22:fb:12:34:56", "00:1b:21:aa:bb:cc")
    client, resolver = "192.168.1.23", "192.168.1.1"
    lookups = [
        ("shop.example.com", ["203.0.113.10"]),
        ("www.example.org", ["198.51.100.20", "198.51.100.21"]),
        ("cdn.example.com", ["2001:db8:cafe::10"]),
        ("nonexistent.example.net", []),
    ]
    dns = [
        dns_exchange(lan, (client, 53001 + i), resolver, 0x1A00 + i, name, answers, EPOCH_US + 9000 * i, 8200)
        for i, (name, answers) in enumerate(lookups)
    ]
    tls = TcpConversation(lan, (client, 51514), ("203.0.113.10", 443), EPOCH_US + 20_000, rng)
    tls_session(tls, rng, "shop.example.com", main_tls_exchanges(rng), 24_000)
    web = TcpConversation(lan, (client, 51516), ("198.51.100.20", 80), EPOCH_US + 61_000, rng, server_ttl=118)
    http_keepalive_session(web, rng, "www.example.org", 31_000)
    stream = TcpConversation(lan, (client, 51518), ("198.51.100.21", 80), EPOCH_US + 95_000, rng, server_ttl=118)
    http_chunked_session(stream, rng, "www.example.org", 29_000)
    frames = merge(*dns, tls, web, stream)
    return frames, {"dns_messages": 2 * len(dns), "tcp_streams": describe_tcp([tls, web, stream])}


def arp_exchange(client_mac: str, client_ip: str, router_mac: str, router_ip: str, start_us: int) -> Timeline:
    """Who-has from the client (broadcast, unpadded) and the router's reply (padded)."""
    timeline = Timeline(start_us)
    request = Ether(src=client_mac, dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=client_mac, psrc=client_ip, hwdst="00:00:00:00:00:00", pdst=router_ip
    )
    reply = Ether(src=router_mac, dst=client_mac) / ARP(
        op=2, hwsrc=router_mac, psrc=router_ip, hwdst=client_mac, pdst=client_ip
    )
    timeline.add(0, bytes(request))
    timeline.add(180, bytes(reply) + bytes(ETH_MIN_FRAME - len(reply)))
    return timeline


def port_unreachable(link: Link, client: tuple, server: str, start_us: int) -> Timeline:
    """A DNS query to a host without a resolver and its ICMP port unreachable quoting the datagram."""
    timeline = Timeline(start_us)
    query = IP(src=client[0], dst=server, ttl=64, id=0x3C3C) / UDP(sport=client[1], dport=53)
    query = query / DNS(id=0x7777, rd=1, qd=DNSQR(qname="printer.lan"))
    timeline.add(0, link.frame(True, query))
    error = IP(src=server, dst=client[0], ttl=64, id=0x0101) / ICMP(type=3, code=3) / Raw(bytes(query))
    timeline.add(260, link.frame(False, error))
    return timeline


def build_vlan_ipv6() -> tuple[list, dict]:
    rng = random.Random(2)
    lan6 = Link("3c:22:fb:65:43:21", "00:1b:21:dd:ee:ff")
    vlan100 = Link("3c:22:fb:00:01:00", "00:1b:21:00:01:00", ((ETH_P_8021Q, 100),))
    vlan20 = Link("3c:22:fb:00:00:14", "00:1b:21:00:00:14", ((ETH_P_8021Q, 20),))
    qinq = Link("3c:22:fb:01:2c:14", "00:1b:21:01:2c:14", ((ETH_P_8021AD, 300), (ETH_P_8021Q, 20)))
    lan4 = Link("3c:22:fb:07:00:20", "00:1b:21:07:00:35")
    c6, c6_vlan, c4 = "2001:db8:10:1::23", "2001:db8:64::7", "10.20.0.15"
    dns = [
        dns_exchange(
            lan6, (c6, 53101), "2001:db8:10:1::1", 0x2B01, "shop.example.com", ["2001:db8:5::443"], EPOCH_US, 7400
        ),
        dns_exchange(
            qinq, (c4, 53102), "10.20.0.1", 0x2B02, "pay.example.com", ["203.0.113.50"], EPOCH_US + 150_000, 5100
        ),
    ]
    tls6 = TcpConversation(lan6, (c6, 50100), ("2001:db8:5::443", 443), EPOCH_US + 10_000, rng)
    tls_session(tls6, rng, "shop.example.com", main_tls_exchanges(rng)[:2], 21_000)
    http6 = TcpConversation(vlan100, (c6_vlan, 50200), ("2001:db8:5::80", 80), EPOCH_US + 40_000, rng)
    http_keepalive_session(http6, rng, "www.example.org", 18_000)
    chunked4 = TcpConversation(vlan20, (c4, 50250), ("198.51.100.30", 80), EPOCH_US + 70_000, rng, server_ttl=117)
    http_chunked_session(chunked4, rng, "feed.example.org", 26_000)
    tls4 = TcpConversation(qinq, (c4, 50300), ("203.0.113.50", 443), EPOCH_US + 160_000, rng)
    tls_session(tls4, rng, "pay.example.com", [(app_data(rng, 300), app_data(rng, 4000, 150), ())], 33_000)
    arp = arp_exchange(lan4.client_mac, "192.168.7.20", lan4.server_mac, "192.168.7.53", EPOCH_US + 250_000)
    icmp = port_unreachable(lan4, ("192.168.7.20", 53200), "192.168.7.53", EPOCH_US + 251_000)
    frames = merge(*dns, tls6, http6, chunked4, tls4, arp, icmp)
    conversations = [tls6, http6, chunked4, tls4]
    return frames, {"dns_messages": 4, "arp": 2, "icmp_errors": 1, "tcp_streams": describe_tcp(conversations)}


def build_two_interfaces() -> tuple[bytes, dict]:
    rng = random.Random(3)
    eth0 = Link("3c:22:fb:0e:70:00", "00:1b:21:0e:70:01")
    dns = dns_exchange(
        eth0, ("192.168.3.40", 53300), "192.168.3.1", 0x3C01, "www.example.org", ["198.51.100.20"], EPOCH_US, 6000
    )
    web = TcpConversation(eth0, ("192.168.3.40", 50400), ("198.51.100.20", 80), EPOCH_US + 7_000, rng, server_ttl=118)
    http_keepalive_session(web, rng, "www.example.org", 30_000)
    tun = RawLink()
    vpn_dns = dns_exchange(
        tun, ("fd00:8::6", 53301), "fd00:8::1", 0x3C02, "git.example.com", ["2001:db8:9::22"], EPOCH_US + 3_000, 9000
    )
    vpn = TcpConversation(tun, ("10.8.0.6", 50500), ("203.0.113.77", 443), EPOCH_US + 12_000, rng)
    tls_session(vpn, rng, "git.example.com", [(app_data(rng, 500), app_data(rng, 2500, 900), ())], 40_000)
    packets = sorted(
        [(us * 1000, 0, f) for us, f in merge(dns, web)]
        + [(us * 1000 + rng.randrange(1, 1000), 1, f) for us, f in merge(vpn_dns, vpn)],
        key=lambda p: p[0],
    )
    comments = {
        next(i for i, p in enumerate(packets) if b"GET /index.html" in p[2]): b"first page load through the uplink",
        next(i for i, p in enumerate(packets) if p[1] == 1): b"VPN tunnel traffic starts here",
    }
    blocks = [
        pcapng_shb([(PCAPNG_SHB_USERAPPL, b"pktmask_nb data/make_samples.py")]),
        pcapng_idb(
            LINKTYPE_ETHERNET,
            [(PCAPNG_IF_NAME, b"eth0"), (PCAPNG_IF_DESCRIPTION, b"Uplink, Ethernet"), (PCAPNG_IF_TSRESOL, b"\x06")],
        ),
        pcapng_idb(
            LINKTYPE_RAW,
            [(PCAPNG_IF_NAME, b"tun0"), (PCAPNG_IF_DESCRIPTION, b"VPN tunnel, raw IP"), (PCAPNG_IF_TSRESOL, b"\x09")],
        ),
    ]
    for i, (ns, interface, frame) in enumerate(packets):
        units = ns // 1000 if interface == 0 else ns
        options = [(PCAPNG_OPT_COMMENT, comments[i])] if i in comments else []
        blocks.append(pcapng_epb(interface, units, frame, options))
    description = {
        "packets": len(packets),
        "packets_per_interface": [sum(p[1] == k for p in packets) for k in (0, 1)],
        "interfaces": [
            {"name": "eth0", "linktype": LINKTYPE_ETHERNET, "if_tsresol": 6},
            {"name": "tun0", "linktype": LINKTYPE_RAW, "if_tsresol": 9},
        ],
        "comment_frames": sorted(i + 1 for i in comments),
        "dns_messages": 4,
        "tcp_streams": describe_tcp([web, vpn]),
    }
    return b"".join(blocks), description


# ---------------------------------------------------------------- duplicates.pcap

SPAN_ORIGINALS, SPAN_TRIPLE_COPIES = 11, 3  # the last SPAN original is repeated 3 times
TWO_LINK_IPV4, TWO_LINK_IPV6 = 8, 2
FAR_REPEATS, FAR_MIN_DISTANCE, FAR_MAX_DISTANCE = 8, 100, 140  # in base frames
SECOND_LINK_MACS = ("00:1b:21:77:00:01", "00:1b:21:77:00:02")
SECOND_LINK_VLAN = 200


def ipv4_header_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ip_datagram(frame: bytes) -> bytearray:
    """The IP datagram of an Ethernet frame (one 802.1Q tag at most), trailer padding dropped."""
    offset = ETH_HLEN + VLAN_HLEN if struct.unpack_from("!H", frame, 12)[0] == ETH_P_8021Q else ETH_HLEN
    ip = frame[offset:]
    if ip[0] >> 4 == 6:
        return bytearray(ip[: 40 + struct.unpack_from("!H", ip, 4)[0]])
    return bytearray(ip[: struct.unpack_from("!H", ip, 2)[0]])


def tcp_payload_length(frame: bytes) -> int:
    """Bytes of TCP payload in an Ethernet frame; 0 for anything but TCP."""
    ip = ip_datagram(frame)
    hlen, protocol = (40, ip[6]) if ip[0] >> 4 == 6 else ((ip[0] & 0x0F) * 4, ip[9])
    return len(ip) - hlen - (ip[hlen + 12] >> 4) * 4 if protocol == 6 else 0


def l3_key(frame: bytes) -> bytes:
    """The datagram with TTL/hop limit and IPv4 checksum zeroed: equal for one packet seen on two links."""
    ip = ip_datagram(frame)
    if ip[0] >> 4 == 6:
        ip[IPV6_HOP_LIMIT] = 0
    else:
        ip[IPV4_TTL] = 0
        ip[IPV4_CHECKSUM : IPV4_CHECKSUM + 2] = b"\0\0"
    return bytes(ip)


def second_link_copy(frame: bytes, tagged: bool) -> bytes:
    """The same IP packet one router hop later: other MACs, optionally an 802.1Q tag, TTL - 1."""
    ip = ip_datagram(frame)
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ip[0] >> 4 == 6:
        ip[IPV6_HOP_LIMIT] -= 1
    else:
        ip[IPV4_TTL] -= 1
        ip[IPV4_CHECKSUM : IPV4_CHECKSUM + 2] = b"\0\0"
        ihl = (ip[0] & 0x0F) * 4
        ip[IPV4_CHECKSUM : IPV4_CHECKSUM + 2] = struct.pack("!H", ipv4_header_checksum(bytes(ip[:ihl])))
    macs = b"".join(bytes.fromhex(m.replace(":", "")) for m in SECOND_LINK_MACS)
    tag = struct.pack("!HH", ETH_P_8021Q, SECOND_LINK_VLAN) if tagged else b""
    copy = macs + tag + struct.pack("!H", ethertype) + bytes(ip)
    return copy + bytes(max(0, ETH_MIN_FRAME - len(copy)))


def duplicates_base(rng: random.Random) -> list[tuple[int, bytes]]:
    """Conversations one after the other (every gap ≥ 12 µs), no frame or datagram repeated."""
    lan = Link("3c:22:fb:dd:00:01", "00:1b:21:dd:00:fe")
    client, client6 = "192.168.9.14", "2001:db8:99::14"
    timelines, t = [], EPOCH_US
    plan = [
        ("dns", (client, 53400), "192.168.9.1", "shop.example.com", ["203.0.113.10"]),
        ("tls", (client, 50600), ("203.0.113.10", 443), [(app_data(rng, 700), app_data(rng, *[16384] * 8, 8000), ())]),
        ("dns", (client6, 53401), "2001:db8:99::1", "api.example.com", ["2001:db8:5::9"]),
        ("tls", (client6, 50601), ("2001:db8:5::9", 443), [(app_data(rng, 300), app_data(rng, 5200), ())]),
        ("dns", (client, 53402), "192.168.9.1", "www.example.org", ["198.51.100.20"]),
        ("http", (client, 50602), ("198.51.100.20", 80), None),
        ("dns", (client, 53403), "192.168.9.1", "feed.example.org", ["198.51.100.30"]),
        ("chunked", (client, 50603), ("198.51.100.30", 80), None),
    ]
    for i, (kind, src, dst, *rest) in enumerate(plan):
        if kind == "dns":
            timeline = dns_exchange(lan, src, dst, 0x4D00 + i, rest[0], rest[1], t, 6500)
        else:
            timeline = TcpConversation(lan, src, dst, t, rng)
            if kind == "tls":
                tls_session(timeline, rng, "example.com", rest[0], 20_000)
            elif kind == "http":
                http_keepalive_session(timeline, rng, "www.example.org", 15_000)
            else:
                http_chunked_session(timeline, rng, "feed.example.org", 15_000)
        timelines.append(timeline)
        t = timeline.t + 40_000
    return merge(*timelines)


def pick(order: list[int], taken: set, k: int, accept) -> list[int]:
    chosen = [i for i in order if i not in taken and accept(i)][:k]
    taken.update(chosen)
    return chosen


def plan_duplicates(base, rng: random.Random) -> dict[int, list]:
    """Copies to insert after each base index: ``(ts, frame, kind, original base index)``."""
    n = len(base)
    order = list(range(n))
    rng.shuffle(order)
    taken: set[int] = set()

    def is_v6(i: int) -> bool:
        return base[i][1][12:14] == struct.pack("!H", ETH_P_IPV6)

    inserts: dict[int, list] = {i: [] for i in range(n)}
    span = pick(order, taken, SPAN_ORIGINALS, lambda i: True)
    for k, i in enumerate(span):
        copies = SPAN_TRIPLE_COPIES if k == len(span) - 1 else 1
        inserts[i] += [(base[i][0] + 1 + c, base[i][1], "span", i) for c in range(copies)]
    links = pick(order, taken, TWO_LINK_IPV4, lambda i: not is_v6(i)) + pick(order, taken, TWO_LINK_IPV6, is_v6)
    for k, i in enumerate(links):
        inserts[i].append((base[i][0] + 5, second_link_copy(base[i][1], tagged=k % 2 == 0), "two_links", i))
    # a TCP segment repeated after its data was reassembled is a reassembly error for Wireshark
    far = pick(order, taken, FAR_REPEATS, lambda i: i < n - FAR_MAX_DISTANCE and not tcp_payload_length(base[i][1]))
    for i in far:
        j = next(j for j in range(i + rng.randrange(FAR_MIN_DISTANCE, FAR_MAX_DISTANCE), n) if j not in taken)
        taken.add(j)
        inserts[j].append((base[j][0] + 4, base[i][1], "far", i))
    return inserts


def count_duplicates(frames, key=lambda f: f, window_packets=None, window_us=None) -> int:
    """Frames whose key equals an earlier frame's key (within the window, when given)."""
    removed = 0
    for k, (ts, frame) in enumerate(frames):
        start = 0 if window_packets is None else max(0, k - window_packets)
        earlier = [key(f) for t, f in frames[start:k] if window_us is None or ts - t <= window_us]
        removed += key(frame) in earlier
    return removed


def build_duplicates() -> tuple[list, dict]:
    rng = random.Random(4)
    base = duplicates_base(rng)
    assert len({f for _, f in base}) == len(base) and len({l3_key(f) for _, f in base}) == len(base)
    inserts = plan_duplicates(base, rng)
    frames, number = [], {}
    pairs: dict[str, list] = {"span": [], "far": [], "two_links": []}
    for i, item in enumerate(base):
        frames.append(item)
        number[i] = len(frames)
        for ts, frame, kind, original in inserts[i]:
            frames.append((ts, frame))
            pairs[kind].append([len(frames), number[original]])
    assert all(a[0] < b[0] for a, b in zip(frames, frames[1:])), "timestamps must increase"
    expected = {
        "frame": count_duplicates(frames),
        "l3": count_duplicates(frames, l3_key),
        "frame_window_packets_1": count_duplicates(frames, window_packets=1),
        "frame_window_seconds_0.001": count_duplicates(frames, window_us=1000),
    }
    assert expected["frame"] == len(pairs["span"]) + len(pairs["far"])
    assert expected["l3"] == expected["frame"] + len(pairs["two_links"])
    assert expected["frame_window_packets_1"] == expected["frame_window_seconds_0.001"] == len(pairs["span"])
    description = {
        "packets": len(frames),
        "unique_frames": len(frames) - expected["frame"],
        "duplicates": {kind: {"count": len(p), "frames": p} for kind, p in pairs.items()},
        "expected_removed": expected,
    }
    return frames, description


# ---------------------------------------------------------------- README and main

SUMMARIES = {
    "tls_http.pcap": "Ethernet/IPv4: DNS (A, AAAA answer, NXDOMAIN), a TLS 1.2 session (full ECDHE handshake with "
    "an Ed25519 certificate chain, records spanning segments, a record header split across two segments, "
    "segments holding two or three records, encrypted Alert, FIN), HTTP/1.1 keep-alive GET (Content-Length "
    "body) + POST (Cookie, Authorization; Set-Cookie answer), a chunked response closed by the server. "
    "Frames from the server side are padded to 60 bytes.",
    "vlan_ipv6.pcap": "TLS and DNS over IPv6; HTTP over IPv6 in 802.1Q VLAN 100; a chunked HTTP response over IPv4 in "
    "VLAN 20; DNS and TLS over IPv4 in QinQ (0x88a8 VLAN 300 outside, 0x8100 VLAN 20 inside); an ARP "
    "request/reply; a UDP datagram answered by ICMP port unreachable quoting the whole IPv4/UDP datagram.",
    "two_interfaces.pcapng": "One section, two interfaces: eth0 (Ethernet, if_tsresol 10^-6) with DNS and HTTP, "
    "tun0 (LINKTYPE_RAW, if_tsresol 10^-9, sub-microsecond timestamps) with a TLS session over IPv4 and "
    "DNS over IPv6; if_name/if_description on both IDBs, shb_userappl, opt_comment on two EPBs; "
    "the interfaces' packets interleave.",
    "duplicates.pcap": "Ethernet IPv4/IPv6 DNS, TLS and HTTP with no repeated frame, plus known duplicates: "
    "`span` (exact copy 1-3 µs after the original, one frame copied three times), `far` (exact copy of a "
    "DNS message or a TCP segment without payload, 100+ frames and more than 1 ms later), `two_links` (the same IP packet a hop later: other MACs, every other one "
    "with an 802.1Q VLAN 200 tag, TTL/hop limit - 1, IPv4 checksum recomputed; a duplicate only for the "
    "`l3` dedup key). Frame pairs are `[duplicate frame, original frame]`, 1-based as in Wireshark.",
}

README_HEAD = """# Sample captures

Written by `make_samples.py` (`.venv/bin/python data/make_samples.py`): fixed seeds and
timestamps, so rerunning it reproduces these files byte for byte. Every file is read by
`tshark -r` without errors or malformed packets. Frame numbers are 1-based (as in Wireshark);
TCP streams are numbered in order of their first packet (Wireshark's `tcp.stream`); TLS record
counts are per direction, keyed by content type (20 ChangeCipherSpec, 21 Alert, 22 Handshake,
23 ApplicationData).

| file | packets | bytes | what is in it |
|------|--------:|------:|---------------|
"""


def write_readme(descriptions: dict) -> None:
    rows = "".join(
        f"| `{name}` | {d['packets']} | {(DATA_DIR / name).stat().st_size} | {SUMMARIES[name]} |\n"
        for name, d in descriptions.items()
    )
    machine = re.sub(r"\[\s+(\d+),\s+(\d+)\s+\]", r"[\1, \2]", json.dumps(descriptions, indent=1, sort_keys=True))
    text = README_HEAD + rows + "\n## Machine-readable description\n\n```json\n" + machine + "\n```\n"
    (DATA_DIR / "README.md").write_text(text)


def main() -> None:
    descriptions = {}
    for name, build in (("tls_http.pcap", build_tls_http), ("vlan_ipv6.pcap", build_vlan_ipv6)):
        frames, descriptions[name] = build()
        descriptions[name] = {"packets": len(frames), "linktype": LINKTYPE_ETHERNET, **descriptions[name]}
        write_pcap(DATA_DIR / name, frames)
    raw, descriptions["two_interfaces.pcapng"] = build_two_interfaces()
    (DATA_DIR / "two_interfaces.pcapng").write_bytes(raw)
    frames, descriptions["duplicates.pcap"] = build_duplicates()
    descriptions["duplicates.pcap"]["linktype"] = LINKTYPE_ETHERNET
    write_pcap(DATA_DIR / "duplicates.pcap", frames)
    write_readme(descriptions)


if __name__ == "__main__":
    main()
