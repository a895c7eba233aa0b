"""Fast synthetic captures for the benchmark suite (SPEC §9): concurrent TLS and HTTP flows, DNS, VLAN, IPv6.

Frames are assembled from precomputed byte templates with `struct`; application payloads are
segmented once per template, with the one's-complement sum of every segment precomputed, so a
frame's IPv4/TCP/UDP checksums cost a few integer additions. About 10 % of the frames are
exact repeats of a recent frame (SPAN-port duplicates); some segments are reordered or
retransmitted. The same seed gives the same bytes.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import json
import math
import os
import random
import struct
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ..errors import UsageError

GENERATOR_VERSION = 1  # bump whenever the bytes for a seed change: invalidates cached captures
SIZE_LABELS = {"10MB": 10**7, "100MB": 10**8, "1GB": 10**9, "10GB": 10**10}
START_US = 1_717_243_200_000_000  # 2024-06-01 12:00:00 UTC
FLUSH_BYTES = 8 << 20  # write in blocks of this size

# Ethernet, IPv4 (RFC 791), IPv6 (RFC 8200), UDP (RFC 768)
ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q = 0x0800, 0x86DD, 0x8100
VLAN_IDS = (10, 20, 100, 200)
IPPROTO_TCP, IPPROTO_UDP = 6, 17
IPV4_HLEN, UDP_HLEN = 20, 8
IPV4_VERSION_IHL_TOS = 0x4500
IPV4_FLAGS_DF = 0x4000
IPV6_VERSION = 6 << 28

# TCP (RFC 9293; timestamps RFC 7323; initial window RFC 6928)
TCP_FIN, TCP_SYN, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x08, 0x10
TCP_TS_OPTION = b"\x01\x01\x08\x0a"  # NOP, NOP, Timestamps kind 8 length 10; TSval and TSecr follow
TCP_TS_HLEN = 32
TCP_DATA_OFFSET_TS = (TCP_TS_HLEN // 4) << 12
TCP_MSS = (1460, 1440)  # by IPv6-ness; segments carry 12 bytes less payload (timestamps)
TCP_OPT_MSS, TCP_OPT_SACK_PERMITTED, TCP_OPT_TIMESTAMPS = b"\x02\x04", b"\x04\x02", b"\x08\x0a"
TCP_OPT_NOP_WSCALE = b"\x01\x03\x03\x07"  # NOP, window scale 7
TCP_SYN_WINDOW, TCP_WINDOW = 64240, 501
TCP_INITIAL_WINDOW, TCP_MAX_BURST = 10, 40  # segments per burst: IW10, doubling up to this
EPHEMERAL_PORTS = (32768, 60999)  # Linux ip_local_port_range
DNS_PORT, HTTP_PORT, HTTPS_PORT = 53, 80, 443

# TLS 1.2 (RFC 5246, RFC 8422, RFC 8446 §4.2 extension codes)
TLS_CHANGE_CIPHER_SPEC, TLS_ALERT, TLS_HANDSHAKE, TLS_APPLICATION_DATA = 20, 21, 22, 23
TLS_HS_CLIENT_HELLO, TLS_HS_SERVER_HELLO, TLS_HS_CERTIFICATE = 1, 2, 11
TLS_HS_SERVER_KEY_EXCHANGE, TLS_HS_SERVER_HELLO_DONE, TLS_HS_CLIENT_KEY_EXCHANGE = 12, 14, 16
TLS_RECORD_HEADER = struct.Struct("!BHH")
TLS_CIPHER_SUITES = b"\x00\x08\xc0\x2b\xc0\x2f\xc0\x2c\xc0\x30"  # ECDHE-ECDSA/RSA-AES128/256-GCM
TLS_ECDHE_ECDSA_AES128_GCM = b"\xc0\x2b"
TLS_CLIENT_EXTENSIONS = (
    (0x0017, b""),  # extended_master_secret
    (0xFF01, b"\x00"),  # renegotiation_info
    (0x000A, b"\x00\x04\x00\x1d\x00\x17"),  # supported_groups: x25519, secp256r1
    (0x000B, b"\x01\x00"),  # ec_point_formats: uncompressed
    (0x000D, b"\x00\x04\x08\x07\x04\x03"),  # signature_algorithms: ed25519, ecdsa_secp256r1_sha256
    (0x0010, b"\x00\x09\x08http/1.1"),  # ALPN
)
TLS_GCM_OVERHEAD = 24  # explicit nonce 8 + tag 16
TLS_MAX_RECORD = 16384 + TLS_GCM_OVERHEAD

# Containers (draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng)
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144
PCAP_FILE_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
PCAP_RECORD = struct.Struct("<IIII")
PCAPNG_HEADER = (
    struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)  # SHB, no options
    + struct.pack("<IIHHII", 1, 20, LINKTYPE_ETHERNET, 0, SNAPLEN, 20)  # IDB, µs timestamps
)
PCAPNG_EPB_TYPE = 6
PCAPNG_EPB = struct.Struct("<IIIIIII")  # type, length, interface, ts high, ts low, caplen, origlen
PCAPNG_EPB_OVERHEAD = 32

# Frame layouts after a per-direction prefix (Ethernet header, then IPv4 version/IHL/TOS or the
# IPv6 version/flow label word); constant neighbours are packed as one field.
IPV4_REST = "HHIH8s"  # total length, id, flags/fragment + TTL/protocol, header checksum, addresses
IPV6_REST = "HH32s"  # payload length, next header/hop limit, addresses
IPV4_HEADER_REST, IPV6_HEADER_REST = struct.Struct("!" + IPV4_REST), struct.Struct("!" + IPV6_REST)
TCP_TS_REST = "4sIIHHH6sII"  # ports, seq, ack, offset/flags, window, checksum, urgent + NOP NOP TS, TSval, TSecr
IPV4_TCP, IPV6_TCP = struct.Struct("!" + IPV4_REST + TCP_TS_REST), struct.Struct("!" + IPV6_REST + TCP_TS_REST)
IPV4_UDP, IPV6_UDP = struct.Struct("!" + IPV4_REST + "4sHH"), struct.Struct("!" + IPV6_REST + "4sHH")
TCP_SYN_HEADER = struct.Struct("!4sIIHHHH")  # ports, seq, ack, offset/flags, window, checksum, urgent
TCP_URGENT_TS_OPTION = b"\0\0" + TCP_TS_OPTION


def ones_sum(data: bytes) -> int:
    """The 16-bit one's-complement word sum of `data`, modulo 0xFFFF (odd length: zero-padded)."""
    value = int.from_bytes(data, "big") << (8 * (len(data) & 1))
    return value % 0xFFFF


def internet_checksum(total: int) -> int:
    """RFC 1071 checksum from a sum of 16-bit words (or of any integers ≡ them modulo 0xFFFF)."""
    rest = total % 0xFFFF
    return 0xFFFF - rest if rest else 0


@dataclass(frozen=True, kw_only=True)
class TrafficMix:
    """What the synthetic traffic is made of.

    Parameters
    ----------
    duplicate_fraction : float
        Share of output frames that are exact repeats of one of the last 8 frames.
    ipv6_fraction, vlan_fraction : float
        Share of flows over IPv6, and of flows carrying an 802.1Q tag.
    dns_fraction, http_fraction : float
        Share of new flows that are a DNS query/answer, and of TCP flows that are plain
        HTTP/1.1 (the rest is TLS 1.2 on port 443).
    reorder_probability, retransmit_probability : float
        Per burst of segments: swap two adjacent segments; send one segment again.
    concurrent_flows : int
        Flows interleaved at any time.
    """

    duplicate_fraction: float = 0.10
    ipv6_fraction: float = 0.15
    vlan_fraction: float = 0.10
    dns_fraction: float = 0.40
    http_fraction: float = 0.30
    reorder_probability: float = 0.02
    retransmit_probability: float = 0.02
    concurrent_flows: int = 512


class Half:
    """One direction of a flow: its fixed header bytes, precomputed checksum sums, TCP state."""

    __slots__ = ("prefix", "v6", "addrs", "ports", "word", "ip_sum", "l4_sum", "seq", "ip_id", "tsval")

    def __init__(self, l2: bytes, src: bytes, dst: bytes, ports: tuple[int, int], protocol: int, ttl: int, rng):
        self.v6, self.addrs, self.ports = len(src) == 16, src + dst, struct.pack("!HH", *ports)
        if self.v6:  # version and flow label; next header and hop limit
            self.prefix = l2 + struct.pack("!I", IPV6_VERSION | rng.getrandbits(20))
            self.word = protocol << 8 | ttl
        else:  # version, IHL and TOS; DF (TCP) and fragment offset, TTL and protocol
            self.prefix = l2 + struct.pack("!H", IPV4_VERSION_IHL_TOS)
            self.word = (IPV4_FLAGS_DF if protocol == IPPROTO_TCP else 0) << 16 | ttl << 8 | protocol
        self.ip_sum = IPV4_VERSION_IHL_TOS + self.word + ones_sum(self.addrs)
        self.l4_sum = ones_sum(self.addrs + self.ports) + protocol  # pseudo-header and ports
        if protocol == IPPROTO_TCP:
            self.l4_sum += TCP_WINDOW + ones_sum(TCP_TS_OPTION)
        self.seq, self.ip_id, self.tsval = rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(31)

    def ip(self, length: int) -> tuple:
        """IP header fields after the prefix, for a transport length (IPv4: next id, checksum)."""
        if self.v6:
            return length, self.word, self.addrs
        self.ip_id = ip_id = (self.ip_id + 1) & 0xFFFF
        total = IPV4_HLEN + length
        return total, ip_id, self.word, internet_checksum(self.ip_sum + total + ip_id), self.addrs

    def tcp(self, peer: Half, flags: int, payload: bytes = b"", psum: int = 0, seq: int | None = None) -> bytes:
        """A segment with the timestamps option, `psum` the payload's `ones_sum`.

        `seq` defaults to the next sequence number, which then advances. (The hot path:
        the IP header is inlined.)
        """
        n = len(payload)
        if seq is None:
            seq = self.seq
            self.seq = (seq + n + (flags & TCP_FIN)) & 0xFFFFFFFF
        ack, tsval, tsecr = peer.seq, self.tsval, peer.tsval
        length, off_flags = TCP_TS_HLEN + n, TCP_DATA_OFFSET_TS | flags
        csum = internet_checksum(self.l4_sum + length + off_flags + seq + ack + tsval + tsecr + psum)
        if self.v6:
            head = IPV6_TCP.pack(
                length, self.word, self.addrs,
                self.ports, seq, ack, off_flags, TCP_WINDOW, csum, TCP_URGENT_TS_OPTION, tsval, tsecr,
            )  # fmt: skip
        else:
            self.ip_id = ip_id = (self.ip_id + 1) & 0xFFFF
            total = IPV4_HLEN + length
            head = IPV4_TCP.pack(
                total, ip_id, self.word, internet_checksum(self.ip_sum + total + ip_id), self.addrs,
                self.ports, seq, ack, off_flags, TCP_WINDOW, csum, TCP_URGENT_TS_OPTION, tsval, tsecr,
            )  # fmt: skip
        return self.prefix + head + payload

    def syn(self, peer: Half, flags: int) -> bytes:
        """SYN or SYN-ACK with MSS, SACK-permitted, timestamps and window scale options."""
        seq, ack, tsecr = self.seq, peer.seq, peer.tsval
        if not flags & TCP_ACK:
            ack = tsecr = 0
        self.seq = (seq + 1) & 0xFFFFFFFF
        options = b"".join(
            (TCP_OPT_MSS, struct.pack("!H", TCP_MSS[self.v6]), TCP_OPT_SACK_PERMITTED, TCP_OPT_TIMESTAMPS,
             struct.pack("!II", self.tsval, tsecr), TCP_OPT_NOP_WSCALE)
        )  # fmt: skip
        length = TCP_SYN_HEADER.size + len(options)
        off_flags = (length // 4) << 12 | flags
        header = TCP_SYN_HEADER.pack(self.ports, seq, ack, off_flags, TCP_SYN_WINDOW, 0, 0) + options
        csum = internet_checksum(ones_sum(self.addrs) + IPPROTO_TCP + length + ones_sum(header))
        ip = (IPV6_HEADER_REST if self.v6 else IPV4_HEADER_REST).pack(*self.ip(length))
        return b"".join((self.prefix, ip, header[:16], struct.pack("!H", csum), header[18:]))

    def udp(self, payload: bytes, psum: int) -> bytes:
        length = UDP_HLEN + len(payload)
        csum = internet_checksum(self.l4_sum + 2 * length + psum) or 0xFFFF  # RFC 768: 0 is sent as 0xFFFF
        pack = IPV6_UDP.pack if self.v6 else IPV4_UDP.pack
        return b"".join((self.prefix, pack(*self.ip(length), self.ports, length, csum), payload))


# ---------------------------------------------------------------- application payload templates

# Per TCP segment: (payload, ones_sum(payload), inner). An inner segment lies inside one TLS record
# that began in an earlier segment: Wireshark, which knows that record's length, still
# reassembles it when the segment arrives before its predecessor, so only pairs of inner
# segments are swapped (elsewhere, reordering makes it misread the stream as malformed).
Segments = tuple[tuple[bytes, int, bool], ...]
Message = tuple[Segments, Segments]  # the same bytes segmented for the IPv4 and the IPv6 MSS
TCP_SEGMENT_PAYLOAD = tuple(mss - (TCP_TS_HLEN - 20) for mss in TCP_MSS)

DNS_FLAGS_QUERY, DNS_FLAGS_RESPONSE = 0x0100, 0x8180  # RD; QR, RD, RA (RFC 1035 §4.1.1)
DNS_TYPE_A, DNS_TYPE_AAAA, DNS_CLASS_IN = 1, 28, 1
DNS_NAME_POINTER = 0xC00C  # compression pointer to the question name
DNS_HEADER = struct.Struct("!HHHHH")  # flags and counts; the ID is added per exchange
DNS_ANSWER = struct.Struct("!HHHIH")
HOST_WORDS = ("api", "cdn", "img", "static", "mail", "auth", "shop", "video", "docs", "app", "news", "git")
HOST_DOMAINS = ("example.com", "example.net", "example.org", "test-site.io", "cloud.example")
HTTP_CHUNK = 8192
RESPONSE_BYTES = (200, 400_000)  # log-uniform: median 9 KB, mean 53 KB
HTTP_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"


def segment(data: bytes, record_starts: list[int] | None = None) -> Message:
    """Cut `data` into full-sized segments for each IP version, with their sums.

    `record_starts`: offsets where the TLS records of `data` begin (None: not TLS).
    """
    return tuple(
        tuple(
            (data[a:b], ones_sum(data[a:b]), is_inner(record_starts, a, b)) for a, b in segment_bounds(len(data), size)
        )
        for size in TCP_SEGMENT_PAYLOAD
    )


def segment_bounds(length: int, size: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of segments of at most `size` bytes, none of 1 byte (Wireshark takes a copy
    of a 1-byte segment for a keep-alive and reports a reassembly error)."""
    starts = list(range(0, length, size))
    if length % size == 1 and len(starts) > 1:
        starts[-1] -= 1
    return list(zip(starts, starts[1:] + [length]))


def is_inner(record_starts: list[int] | None, start: int, stop: int) -> bool:
    """Whether no record begins in ``[start, stop)`` (`record_starts` sorted)."""
    if record_starts is None:
        return False
    i = bisect.bisect_left(record_starts, start)
    return i == len(record_starts) or record_starts[i] >= stop


def tls_segment(records: list[bytes]) -> Message:
    """Segments of consecutive TLS records."""
    return segment(b"".join(records), [0, *itertools.accumulate(map(len, records[:-1]))])


def log_uniform(rng: random.Random, low: int, high: int) -> int:
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


def tls_record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return TLS_RECORD_HEADER.pack(content_type, version, len(body)) + body


def tls_handshake(msg_type: int, body: bytes, version: int = 0x0303) -> bytes:
    """A Handshake record holding one message."""
    return tls_record(TLS_HANDSHAKE, bytes([msg_type]) + len(body).to_bytes(3, "big") + body, version)


def tls_extension(code: int, data: bytes) -> bytes:
    return struct.pack("!HH", code, len(data)) + data


def ciphertext(rng: random.Random, content_type: int, length: int) -> bytes:
    return tls_record(content_type, rng.randbytes(length))


def client_hello(rng: random.Random, server_name: str) -> bytes:
    name = server_name.encode()
    extensions = tls_extension(0x0000, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)  # server_name
    extensions += b"".join(tls_extension(code, data) for code, data in TLS_CLIENT_EXTENSIONS)
    body = b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32) + TLS_CIPHER_SUITES + b"\x01\x00"
    return tls_handshake(TLS_HS_CLIENT_HELLO, body + struct.pack("!H", len(extensions)) + extensions, 0x0301)


def certificate_chain(rng: random.Random, server_names: list[str]) -> bytes:
    """Certificate message body: an Ed25519 leaf for `server_names` and its root (deterministic signatures)."""
    root_key, leaf_key = (Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)) for _ in range(2))
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Synthetic Benchmark Root CA")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    builder = x509.CertificateBuilder().issuer_name(root_name).not_valid_before(start)
    builder = builder.not_valid_after(start + datetime.timedelta(days=825))
    root = builder.subject_name(root_name).public_key(root_key.public_key()).serial_number(1)
    root = root.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    leaf = builder.subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, server_names[0])]))
    leaf = leaf.public_key(leaf_key.public_key()).serial_number(2)
    leaf = leaf.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in server_names]), critical=False)
    ders = [c.sign(root_key, None).public_bytes(Encoding.DER) for c in (leaf, root)]
    entries = b"".join(len(der).to_bytes(3, "big") + der for der in ders)
    return len(entries).to_bytes(3, "big") + entries


def server_flight(rng: random.Random, chain: bytes) -> list[bytes]:
    """ServerHello, Certificate, ServerKeyExchange (x25519, Ed25519 signature), ServerHelloDone."""
    extensions = tls_extension(0xFF01, b"\x00") + tls_extension(0x000B, b"\x01\x00") + tls_extension(0x0017, b"")
    hello = b"\x03\x03" + rng.randbytes(32) + b"\x20" + rng.randbytes(32) + TLS_ECDHE_ECDSA_AES128_GCM + b"\x00"
    key_exchange = b"\x03\x00\x1d\x20" + rng.randbytes(32) + b"\x08\x07\x00\x40" + rng.randbytes(64)
    return [
        tls_handshake(TLS_HS_SERVER_HELLO, hello + struct.pack("!H", len(extensions)) + extensions),
        tls_handshake(TLS_HS_CERTIFICATE, chain),
        tls_handshake(TLS_HS_SERVER_KEY_EXCHANGE, key_exchange),
        tls_handshake(TLS_HS_SERVER_HELLO_DONE, b""),
    ]


def finished(rng: random.Random) -> list[bytes]:
    """ChangeCipherSpec and the encrypted Finished (GCM: 8 nonce + 16 message + 16 tag)."""
    return [tls_record(TLS_CHANGE_CIPHER_SPEC, b"\x01"), ciphertext(rng, TLS_HANDSHAKE, 40)]


def tls_handshake_script(rng: random.Random, server_name: str, chain: bytes) -> list:
    client_key_exchange = tls_handshake(TLS_HS_CLIENT_KEY_EXCHANGE, b"\x20" + rng.randbytes(32))
    return [
        (True, tls_segment([client_hello(rng, server_name)])),
        (False, tls_segment(server_flight(rng, chain))),
        (True, tls_segment([client_key_exchange, *finished(rng)])),
        (False, tls_segment(finished(rng))),
    ]


def tls_exchange(rng: random.Random) -> list:
    """A request record and a response of full-size (or, one time in four, small) records."""
    request = ciphertext(rng, TLS_APPLICATION_DATA, log_uniform(rng, 80, 1500))
    total = log_uniform(rng, *RESPONSE_BYTES)
    size = TLS_MAX_RECORD if rng.random() < 0.75 else rng.choice((1400, 4096))
    sizes = [size] * (total // size) + [max(total % size, TLS_GCM_OVERHEAD + 1)]
    response = [ciphertext(rng, TLS_APPLICATION_DATA, n) for n in sizes]
    return [(True, tls_segment([request])), (False, tls_segment(response))]


def http_message(start_line: str, headers: list[tuple[str, object]], body: bytes = b"") -> bytes:
    return (start_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode() + body


def http_post(rng: random.Random, headers: list) -> list:
    """A form POST with Cookie and Authorization, answered by a small JSON document."""
    body = b"&".join(b"f%d=%s" % (i, rng.randbytes(12).hex().encode()) for i in range(rng.randint(2, 40)))
    headers = headers + [
        ("Cookie", f"sid={rng.randbytes(16).hex()}"),
        ("Authorization", f"Bearer {rng.randbytes(24).hex()}"),
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Content-Length", len(body)),
    ]
    answer = b'{"status": "ok", "id": %d}' % rng.randrange(10**6)
    answer_headers = [("Content-Type", "application/json"), ("Content-Length", len(answer))]
    request = http_message("POST /api/v1/items HTTP/1.1", headers, body)
    return [(True, segment(request)), (False, segment(http_message("HTTP/1.1 201 Created", answer_headers, answer)))]


def http_get(rng: random.Random, headers: list, chunked: bool) -> list:
    """A GET answered by a binary body, framed by Content-Length or chunked (8 KiB chunks)."""
    body = rng.randbytes(log_uniform(rng, *RESPONSE_BYTES))
    answer_headers = [("Server", "nginx/1.24.0"), ("Content-Type", "application/octet-stream")]
    if chunked:
        chunks = (body[i : i + HTTP_CHUNK] for i in range(0, len(body), HTTP_CHUNK))
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        answer_headers.append(("Transfer-Encoding", "chunked"))
    else:
        answer_headers.append(("Content-Length", len(body)))
    request = http_message(f"GET /assets/{rng.randbytes(6).hex()}.bin HTTP/1.1", headers)
    return [(True, segment(request)), (False, segment(http_message("HTTP/1.1 200 OK", answer_headers, body)))]


def http_exchange(rng: random.Random, host: str) -> list:
    """GET with a Content-Length body (60 %), POST with Cookie and Authorization (20 %), or a chunked GET."""
    headers = [("Host", host), ("User-Agent", HTTP_USER_AGENT), ("Accept", "*/*"), ("Connection", "keep-alive")]
    kind = rng.random()
    if kind < 0.6:
        return http_get(rng, headers, chunked=False)
    return http_post(rng, headers) if kind < 0.8 else http_get(rng, headers, chunked=True)


def dns_template(rng: random.Random, name: str) -> tuple[bytes, int, bytes, int]:
    """A query and its answer without their ID: ``(query, sum, response, sum)``."""
    qtype, rdlength = (DNS_TYPE_A, 4) if rng.random() < 0.7 else (DNS_TYPE_AAAA, 16)
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    question += struct.pack("!HH", qtype, DNS_CLASS_IN)
    count = rng.randint(1, 4)
    answers = b"".join(
        DNS_ANSWER.pack(DNS_NAME_POINTER, qtype, DNS_CLASS_IN, rng.randrange(30, 3600), rdlength)
        + rng.randbytes(rdlength)
        for _ in range(count)
    )
    query = DNS_HEADER.pack(DNS_FLAGS_QUERY, 1, 0, 0, 0) + question
    response = DNS_HEADER.pack(DNS_FLAGS_RESPONSE, 1, count, 0, 0) + question + answers
    return query, ones_sum(query), response, ones_sum(response)


class Templates:
    """Pre-segmented application messages (with checksum sums), built once per capture."""

    def __init__(self, rng: random.Random):
        names = [f"{rng.choice(HOST_WORDS)}{rng.randrange(1, 99)}.{rng.choice(HOST_DOMAINS)}" for _ in range(48)]
        chain = certificate_chain(rng, names[:12])
        self.tls_handshakes = [tls_handshake_script(rng, name, chain) for name in names[:12]]
        self.tls_exchanges = [tls_exchange(rng) for _ in range(64)]
        self.tls_close = [(True, tls_segment([ciphertext(rng, TLS_ALERT, 26)]))]  # encrypted close_notify
        self.http_exchanges = [http_exchange(rng, rng.choice(names)) for _ in range(48)]
        self.dns = [dns_template(rng, rng.choice(names)) for _ in range(64)]


# ---------------------------------------------------------------- flows

SERVER_V4_FIRST_OCTETS = (23, 31, 34, 52, 104, 142, 151, 157, 185, 199, 203, 208)
SERVER_V6_PREFIXES = (b"\x26\x06\x47\x00", b"\x2a\x00\x14\x50", b"\x26\x00\x1f\x18", b"\x2a\x03\x28\x80")
CLIENT_V6_PREFIX = b"\x2a\x02\x81\x08\x12\x34"  # one /48 site
CLIENT_TTL = 64
SERVER_TTLS = (44, 51, 54, 57, 113, 117, 120)  # what is left of 64 or 128 after some hops
ALL_REPEATABLE = (True, True)  # bursts of one or two frames, each the newest of its direction


def transfer(sender: Half, receiver: Half, segments: Segments, traffic: Traffic) -> Iterator[tuple[list, list]]:
    """Send `segments` in bursts growing from IW10; the receiver ACKs every second segment and a burst's last.

    Yields ``(frames, repeatable)`` per burst. Now and then two adjacent segments swap places
    or a segment is sent again; those late segments are not repeatable (see `write_frames`).
    """
    rng, mix, stats = traffic.rng, traffic.mix, traffic.stats
    start, burst, total = 0, TCP_INITIAL_WINDOW, len(segments)
    while start < total:
        chunk = segments[start : start + burst]
        last = len(chunk)
        start, burst, first_seq = start + last, min(2 * burst, TCP_MAX_BURST), sender.seq
        sender.tsval += 1
        receiver.tsval += 1
        frames = []
        append, send, acknowledge = frames.append, sender.tcp, receiver.tcp
        for i, (payload, psum, _) in enumerate(chunk, 1):
            push = TCP_PSH if i == last and start == total else 0
            append(send(receiver, TCP_ACK | push, payload, psum))
            if i % 2 == 0 or i == last:
                append(acknowledge(sender, TCP_ACK))
        repeatable = [True] * len(frames)
        pairs = [k for k in range(0, last - 1, 2) if chunk[k][2] and chunk[k + 1][2]]
        if pairs and rng.random() < mix.reorder_probability:
            k = 3 * rng.choice(pairs) // 2  # frames k, k + 1 are a pair of segments, then their ACK
            frames[k], frames[k + 1] = frames[k + 1], frames[k]
            repeatable[k + 1] = False
            stats["reordered"] += 1
        if rng.random() < mix.retransmit_probability:
            frames.append(retransmission(sender, receiver, chunk, rng.randrange(last), first_seq))
            repeatable.append(False)
            stats["retransmissions"] += 1
        yield frames, repeatable


def retransmission(sender: Half, receiver: Half, chunk: Segments, n: int, first_seq: int) -> bytes:
    """Segment `n` of `chunk` (sent from `first_seq` on) once more, with a later timestamp."""
    seq = (first_seq + sum(len(segment[0]) for segment in chunk[:n])) & 0xFFFFFFFF
    payload, psum, _ = chunk[n]
    sender.tsval += 1
    return sender.tcp(receiver, TCP_ACK, payload, psum, seq=seq)


def tcp_flow(client: Half, server: Half, script: list, traffic: Traffic) -> Iterator[tuple[list, list]]:
    """Handshake, the `script` of ``(from_client, Message)`` steps, FIN from the client."""
    yield [client.syn(server, TCP_SYN)], ALL_REPEATABLE
    yield [server.syn(client, TCP_SYN | TCP_ACK)], ALL_REPEATABLE
    yield [client.tcp(server, TCP_ACK)], ALL_REPEATABLE
    for from_client, message in script:
        sender, receiver = (client, server) if from_client else (server, client)
        yield from transfer(sender, receiver, message[sender.v6], traffic)
    yield [client.tcp(server, TCP_FIN | TCP_ACK)], ALL_REPEATABLE
    yield [server.tcp(client, TCP_FIN | TCP_ACK), client.tcp(server, TCP_ACK)], ALL_REPEATABLE


def dns_flow(client: Half, server: Half, template: tuple, qid: int) -> Iterator[tuple[list, list]]:
    """A query and its answer, transaction `qid`."""
    query, query_sum, response, response_sum = template
    ident = struct.pack("!H", qid)
    yield [client.udp(ident + query, query_sum + qid)], ALL_REPEATABLE
    yield [server.udp(ident + response, response_sum + qid)], ALL_REPEATABLE


class Traffic:
    """Endpoints, templates and counters; `new_flow` starts a flow: a generator of frame bursts.

    The capture point is the client side of a gateway: every frame is between a client MAC
    and the gateway MAC, optionally with an 802.1Q tag.
    """

    def __init__(self, rng: random.Random, mix: TrafficMix):
        self.rng, self.mix = rng, mix
        self.templates = Templates(rng)
        self.gateway = b"\x00\x1b\x21" + rng.randbytes(3)
        self.clients = {v6: [self._client(v6) for _ in range(1024)] for v6 in (False, True)}
        self.servers = {v6: [self._server(v6) for _ in range(512)] for v6 in (False, True)}
        self.resolvers = {False: bytes((10, 0, 0, 53)), True: CLIENT_V6_PREFIX + bytes(9) + b"\x35"}
        self.port, self.dns_id = rng.randrange(*EPHEMERAL_PORTS), rng.getrandbits(16)
        self.stats = {"tcp_flows": 0, "dns_exchanges": 0, "reordered": 0, "retransmissions": 0}

    def _client(self, v6: bool) -> tuple[bytes, bytes]:
        address = CLIENT_V6_PREFIX + self.rng.randbytes(10) if v6 else bytes((10, 0)) + self.rng.randbytes(2)
        return address, b"\x3c\x22\xfb" + self.rng.randbytes(3)

    def _server(self, v6: bool) -> tuple[bytes, int]:
        rng = self.rng
        address = (
            rng.choice(SERVER_V6_PREFIXES) + rng.randbytes(12)
            if v6
            else bytes([rng.choice(SERVER_V4_FIRST_OCTETS)]) + rng.randbytes(3)
        )
        return address, rng.choice(SERVER_TTLS)

    def _halves(self, client: tuple, server: tuple, port: int, protocol: int) -> tuple[Half, Half]:
        (c_addr, c_mac), (s_addr, ttl) = client, server
        vlan = self.rng.choice(VLAN_IDS) if self.rng.random() < self.mix.vlan_fraction else 0
        tag = struct.pack("!HH", ETH_P_8021Q, vlan) if vlan else b""
        ethertype = struct.pack("!H", ETH_P_IPV6 if len(c_addr) == 16 else ETH_P_IP)
        self.port = self.port + 1 if self.port < EPHEMERAL_PORTS[1] else EPHEMERAL_PORTS[0]
        ports = (self.port, port)
        up = Half(self.gateway + c_mac + tag + ethertype, c_addr, s_addr, ports, protocol, CLIENT_TTL, self.rng)
        down = Half(c_mac + self.gateway + tag + ethertype, s_addr, c_addr, ports[::-1], protocol, ttl, self.rng)
        return up, down

    def new_flow(self) -> Iterator[tuple[list, list]]:
        """A DNS exchange, or an HTTP or TLS connection of 1 to 8 request/response exchanges."""
        rng, mix, templates = self.rng, self.mix, self.templates
        v6 = rng.random() < mix.ipv6_fraction
        client = rng.choice(self.clients[v6])
        if rng.random() < mix.dns_fraction:
            self.stats["dns_exchanges"] += 1
            self.dns_id = (self.dns_id + 1) & 0xFFFF
            up, down = self._halves(client, (self.resolvers[v6], CLIENT_TTL), DNS_PORT, IPPROTO_UDP)
            return dns_flow(up, down, rng.choice(templates.dns), self.dns_id)
        self.stats["tcp_flows"] += 1
        exchanges = 1 + min(int(rng.expovariate(0.5)), 7)
        if rng.random() < mix.http_fraction:
            script = [step for _ in range(exchanges) for step in rng.choice(templates.http_exchanges)]
            up, down = self._halves(client, rng.choice(self.servers[v6]), HTTP_PORT, IPPROTO_TCP)
        else:
            script = rng.choice(templates.tls_handshakes) + [
                step for _ in range(exchanges) for step in rng.choice(templates.tls_exchanges)
            ]
            script += templates.tls_close
            up, down = self._halves(client, rng.choice(self.servers[v6]), HTTPS_PORT, IPPROTO_TCP)
        return tcp_flow(up, down, script, self)


# ---------------------------------------------------------------- containers and the public API

PCAPNG_PADDING = (b"", b"\0\0\0", b"\0\0", b"\0")  # by length % 4
PCAPNG_BLOCK_TRAILER = struct.Struct("<I")


def pcap_record(ts_us: int, frame: bytes) -> bytes:
    sec, usec = divmod(ts_us, 1_000_000)
    n = len(frame)
    return PCAP_RECORD.pack(sec, usec, n, n) + frame


def pcapng_record(ts_us: int, frame: bytes) -> bytes:
    n = len(frame)
    padding = PCAPNG_PADDING[n & 3]
    total = PCAPNG_EPB_OVERHEAD + n + len(padding)
    head = PCAPNG_EPB.pack(PCAPNG_EPB_TYPE, total, 0, ts_us >> 32, ts_us & 0xFFFFFFFF, n, n)
    return b"".join((head, frame, padding, PCAPNG_BLOCK_TRAILER.pack(total)))


CONTAINERS = {"pcap": (PCAP_FILE_HEADER, pcap_record), "pcapng": (PCAPNG_HEADER, pcapng_record)}


def write_frames(out, size_bytes: int, traffic: Traffic, record) -> tuple[int, int]:
    """Interleave flows until `size_bytes` of records are written; returns ``(packets, duplicates)``.

    A repeatable frame is followed, with probability d / (1 - d) (d: the duplicate fraction),
    by an exact copy 1 µs later, as a SPAN port does. Segments sent late (reordered,
    retransmitted) are not repeated: Wireshark takes a copy of those for new out-of-order
    data and reports a reassembly error, where a copy of the newest segment is a plain
    retransmission to it.
    """
    rng, mix = traffic.rng, traffic.mix
    random = rng.random
    flows = [traffic.new_flow() for _ in range(mix.concurrent_flows)]
    repeat = mix.duplicate_fraction / (1 - mix.duplicate_fraction)
    gaps = [2 + int(rng.expovariate(1 / 6)) for _ in range(4096)]  # µs between frames, mean 8
    ts, written, flushed, packets, duplicates, parts = START_US, 0, 0, 0, 0, []
    while written < size_bytes:
        i = int(random() * len(flows))
        burst = next(flows[i], None)
        if burst is None:
            flows[i] = traffic.new_flow()
            continue
        for frame, repeatable in zip(*burst):
            packets += 1
            ts += gaps[packets & 4095]
            data = record(ts, frame)
            if repeatable and random() < repeat:
                ts += 1
                data += record(ts, frame)
                duplicates += 1
            parts.append(data)
            written += len(data)
            if written >= size_bytes:
                break
        if written - flushed >= FLUSH_BYTES or written >= size_bytes:
            out.write(b"".join(parts))
            parts.clear()
            flushed = written
    return packets + duplicates, duplicates


def generate_capture(path, size_bytes: int, *, seed: int = 0, fmt: str = "pcap", mix: TrafficMix | None = None) -> dict:
    """Write a synthetic capture of at least `size_bytes` bytes (it stops after the frame that gets there).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (replaced if it exists).
    size_bytes : int
        Target file size; the file ends at most one frame (plus a duplicate) beyond it.
    seed : int
        Same seed, same mix, same size: byte-identical output.
    fmt : {"pcap", "pcapng"}
        Little-endian microsecond pcap, or pcapng with one section and one Ethernet interface.
    mix : TrafficMix, optional
        What the traffic is made of; default `TrafficMix()`.

    Returns
    -------
    dict
        ``packets``, ``duplicates`` (frames that repeat an earlier frame exactly), ``flows``,
        ``tcp_flows``, ``dns_exchanges``, ``reordered`` and ``retransmissions`` (bursts with a
        swapped pair / a segment sent again), ``bytes`` (file size), ``seed``, ``format``.

    Raises
    ------
    UsageError
        Unknown format or a size that is not positive.
    """
    check_format(fmt)
    if size_bytes <= 0:
        raise UsageError(f"capture size must be positive, not {size_bytes}")
    header, record = CONTAINERS[fmt]
    traffic = Traffic(random.Random(seed), mix or TrafficMix())
    with open(path, "wb") as out:
        out.write(header)
        packets, duplicates = write_frames(out, size_bytes - len(header), traffic, record)
    flows = traffic.stats["tcp_flows"] + traffic.stats["dns_exchanges"]
    counts = {"packets": packets, "duplicates": duplicates, "flows": flows, **traffic.stats}
    return {**counts, "bytes": os.path.getsize(path), "seed": seed, "format": fmt}


def cached_capture(cache_dir, size_label: str, *, seed: int = 0, fmt: str = "pcap") -> Path:
    """A synthetic capture of a standard size, generated once and reused.

    The capture ``synthetic-<label>-seed<seed>.<fmt>`` in `cache_dir` comes with a sidecar
    ``.json`` recording the generator version, size, seed, format, traffic mix and the counts
    of `generate_capture`; the file is reused when the sidecar matches and the file has the
    recorded size, and regenerated (atomically) otherwise.

    Parameters
    ----------
    cache_dir : str or os.PathLike
        Created if missing.
    size_label : {"10MB", "100MB", "1GB", "10GB"}
    seed : int
    fmt : {"pcap", "pcapng"}

    Returns
    -------
    pathlib.Path

    Raises
    ------
    UsageError
        Unknown size label or format.
    """
    check_format(fmt)
    if size_label not in SIZE_LABELS:
        raise UsageError(f"size must be one of {', '.join(SIZE_LABELS)}, not {size_label!r}")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"synthetic-{size_label}-seed{seed}.{fmt}"
    sidecar = path.with_name(path.name + ".json")
    wanted = {
        "generator_version": GENERATOR_VERSION,
        "size_bytes": SIZE_LABELS[size_label],
        "seed": seed,
        "format": fmt,
        "mix": asdict(TrafficMix()),
    }
    if is_cached(path, sidecar, wanted):
        return path
    sidecar.unlink(missing_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        counts = generate_capture(partial, wanted["size_bytes"], seed=seed, fmt=fmt)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    sidecar.write_text(json.dumps({**wanted, **counts}, indent=1) + "\n")
    return path


def check_format(fmt: str) -> None:
    if fmt not in CONTAINERS:
        raise UsageError(f"capture format must be one of {', '.join(CONTAINERS)}, not {fmt!r}")


def is_cached(path: Path, sidecar: Path, wanted: dict) -> bool:
    """Whether `sidecar` records exactly `wanted` and `path` has the recorded size."""
    try:
        recorded = json.loads(sidecar.read_text())
        size = path.stat().st_size
    except (OSError, ValueError):
        return False
    return all(recorded.get(k) == v for k, v in wanted.items()) and recorded.get("bytes") == size
