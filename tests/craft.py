"""Craft edge-case captures for the mask stage with scapy: TCP/UDP flows, TLS records, encapsulations."""

from __future__ import annotations

import datetime
import os
import struct

from scapy.contrib.mpls import MPLS
from scapy.layers.inet import GRE, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.ppp import PPP, PPPoE
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from pktmask_nb.proto.spans import A_OUTER, FrameMap

LINKTYPE_ETHERNET = 1


def pcap_bytes(frames: list[bytes], linktype: int = LINKTYPE_ETHERNET) -> bytes:
    """A little-endian µs pcap holding `frames`, 1 ms apart."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)]
    for i, f in enumerate(frames):
        out.append(struct.pack("<IIII", 1_700_000_000 + i // 1000, (i % 1000) * 1000, len(f), len(f)) + f)
    return b"".join(out)


def checksum_map(n: int, checksums: list, fields: int = 0) -> FrameMap:
    """The map of an `n`-byte frame with `checksums` (`Checksum` records) and `fields` 4-byte
    address fields at 0, 4, ...: what `patch` and `zero` read."""
    m = FrameMap(bytes(n))
    for i in range(fields):
        m.address(4 * i, 4, 4, A_OUTER)
    for c in checksums:
        m.checksum(c.position, c.start, c.end, c.kind, c.pseudo)
    assert m.checksums == list(checksums)
    return m


def write(path, frames: list[bytes], linktype: int = LINKTYPE_ETHERNET):
    path.write_bytes(pcap_bytes(frames, linktype))
    return path


# -- TLS -------------------------------------------------------------------------------


def record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack(">BHH", content_type, version, len(body)) + body


def handshake(n: int = 200, kind: int = 1) -> bytes:
    """A TLS handshake record holding one message of `kind` with `n` recognisable body bytes."""
    body = bytes((0x41 + i % 26) for i in range(n))
    return record(22, struct.pack(">B", kind) + len(body).to_bytes(3, "big") + body)


def app_data(n: int = 300, fill: int = 0x5A) -> bytes:
    return record(23, bytes([fill]) * n)


def dtls_record(content_type: int, body: bytes, seq: int = 0, epoch: int = 0) -> bytes:
    return (
        struct.pack(">BHH", content_type, 0xFEFD, epoch) + seq.to_bytes(6, "big") + len(body).to_bytes(2, "big") + body
    )


def dtls_handshake(kind: int = 1, n: int = 40, seq: int = 0) -> bytes:
    """A DTLS handshake record: one whole message of `kind` with `n` body bytes (RFC 6347 §4.2.2)."""
    length = n.to_bytes(3, "big")
    return dtls_record(22, bytes([kind]) + length + b"\x00\x00" + bytes(3) + length + bytes(range(n)), seq)


# -- flows -----------------------------------------------------------------------------


class Flow:
    """One TCP connection: builds frames for either side, any sequence number, any wrapping.

    Parameters
    ----------
    client, server : (address, port)
    v6 : bool
        IPv6 instead of IPv4.
    wrap : callable, optional
        ``wrap(inner_ip_packet, from_client) -> scapy packet`` adding link layer and tunnels;
        plain Ethernet by default.
    isn : (int, int)
        Initial sequence numbers of client and server.
    """

    def __init__(self, client=("10.0.0.1", 40000), server=("10.0.0.2", 443), v6=False, wrap=None, isn=(1000, 5000)):
        self.client, self.server, self.v6 = client, server, v6
        self.wrap = wrap or (lambda p, _: Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p)
        self.isn = list(isn)

    def frame(
        self, from_client: bool, payload: bytes = b"", seq: int | None = None, flags: str = "PA", ack: int | None = None
    ) -> bytes:
        """A segment; `seq` is relative to the sender's ISN + 1 (default: 0), `ack` to the
        other side's (default: the acknowledgment number 1, which acknowledges nothing seen)."""
        (sa, sp), (da, dp) = (self.client, self.server) if from_client else (self.server, self.client)
        isn = self.isn[0 if from_client else 1]
        rel = 0 if seq is None else seq
        absolute = (isn + 1 + rel) % 2**32 if "S" not in flags else isn
        acknowledged = 1 if ack is None else (self.isn[1 if from_client else 0] + 1 + ack) % 2**32
        ip = IPv6(src=sa, dst=da) if self.v6 else IP(src=sa, dst=da)
        segment = ip / TCP(sport=sp, dport=dp, seq=absolute, ack=acknowledged, flags=flags)
        if payload:
            segment = segment / Raw(payload)
        return bytes(self.wrap(segment, from_client))

    def handshake(self) -> list[bytes]:
        return [self.frame(True, flags="S"), self.frame(False, flags="SA"), self.frame(True, flags="A", seq=0)]

    def stream(self, from_client: bool, data: bytes, sizes, start: int = 0) -> list[bytes]:
        """`data` cut into segments of the given sizes (the last one takes the rest)."""
        frames, pos = [], 0
        for size in list(sizes) + [len(data)]:
            if pos >= len(data):
                break
            chunk = data[pos : pos + size]
            frames.append(self.frame(from_client, chunk, seq=start + pos))
            pos += len(chunk)
        return frames


def udp_frame(payload: bytes, src=("10.0.0.1", 40000), dst=("10.0.0.2", 4433)) -> bytes:
    return bytes(Ether() / IP(src=src[0], dst=dst[0]) / UDP(sport=src[1], dport=dst[1]) / Raw(payload))


# -- encapsulations ------------------------------------------------------------------------

OUTER_A, OUTER_B = "192.0.2.1", "192.0.2.2"


def _outer(from_client: bool, mirrored: bool):
    """Outer addresses: swapped per direction, or the same both ways (a mirror / ERSPAN-like tap)."""
    if mirrored or from_client:
        return IP(src=OUTER_A, dst=OUTER_B)
    return IP(src=OUTER_B, dst=OUTER_A)


def encapsulation(kind: str, mirrored: bool = False):
    """A `Flow.wrap` for one of: vlan, qinq, mpls, pppoe, vxlan, gre, ipip."""
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")

    def wrap(inner, from_client):
        if kind == "vlan":
            return eth / Dot1Q(vlan=10) / inner
        if kind == "qinq":
            return eth / Dot1AD(vlan=100) / Dot1Q(vlan=10) / inner
        if kind == "mpls":
            return eth / MPLS(label=16, s=0) / MPLS(label=17, s=1) / inner
        if kind == "pppoe":
            return eth / PPPoE(sessionid=1) / PPP(proto=0x0021 if inner.version == 4 else 0x0057) / inner
        if kind == "vxlan":
            return eth / _outer(from_client, mirrored) / UDP(sport=50000, dport=4789) / VXLAN(vni=42) / Ether() / inner
        if kind == "gre":
            return eth / _outer(from_client, mirrored) / GRE(proto=0x0800 if inner.version == 4 else 0x86DD) / inner
        if kind == "ipip":
            return eth / _outer(from_client, mirrored) / inner
        raise ValueError(kind)

    return wrap


def random_bytes(n: int, seed: int = 0) -> bytes:
    return os.urandom(n) if seed is None else bytes((i * 131 + seed * 17 + 7) % 251 + 1 for i in range(n))


# -- certificates --------------------------------------------------------------------------

CERTIFICATE_START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def signed_certificate(subject, extensions=(), *, issuer=None, serial: int = 1, start=CERTIFICATE_START, key=None):
    """A certificate (`cryptography`'s) of the `x509.Name` `subject`, issued by `issuer` (itself
    if None), with `extensions` as ``(extension, critical)`` pairs, valid 30 days from `start`,
    signed by `key` (a new EC key if None)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = key or ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or subject).public_key(key.public_key())
        .serial_number(serial).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=30))
    )  # fmt: skip
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical)
    return builder.sign(key, hashes.SHA256())


def certificate_message(ders: list[bytes], tls13: bool = False) -> bytes:
    """A Certificate handshake message (header included) carrying the DER certificates `ders`,
    in the TLS 1.2 layout or, with `tls13`, the TLS 1.3 one (RFC 8446 §4.4.2)."""
    entries = b"".join(len(der).to_bytes(3, "big") + der + (b"\x00\x00" if tls13 else b"") for der in ders)
    body = (b"\x00" if tls13 else b"") + len(entries).to_bytes(3, "big") + entries
    return b"\x0b" + len(body).to_bytes(3, "big") + body


def ocsp_status(der: bytes, by_name: bool = True, responder_extensions=()) -> bytes:
    """A CertificateStatus message (RFC 6066 §8) stapling a signed OCSP response for the
    certificate `der`, whose responder (`responder_extensions` in its certificate, which the
    response carries) is named by name or by key hash."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    key = ec.generate_private_key(ec.SECP256R1())
    now = CERTIFICATE_START + datetime.timedelta(days=1)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocsp.corp.example")])
    responder = signed_certificate(name, responder_extensions, issuer=cert.subject, serial=7, start=now, key=key)
    response = (
        ocsp.OCSPResponseBuilder()
        .add_response(cert, cert, hashes.SHA1(), ocsp.OCSPCertStatus.GOOD, now, now, None, None)
        .responder_id(ocsp.OCSPResponderEncoding.NAME if by_name else ocsp.OCSPResponderEncoding.HASH, responder)
        .certificates([responder])
        .sign(key, hashes.SHA256())
        .public_bytes(Encoding.DER)
    )
    body = b"\x01" + len(response).to_bytes(3, "big") + response
    return b"\x16" + len(body).to_bytes(3, "big") + body
