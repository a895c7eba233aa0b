"""Application payloads of the synthetic captures: TLS 1.2, HTTP/1.1 and DNS messages, segmented, with sums."""

from __future__ import annotations

import bisect
import datetime
import itertools
import math
import random
import struct

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from .packets import TCP_MSS, TCP_TS_HLEN, ones_sum

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
