"""IP addresses certificates hold in binary (iPAddress names, RFC 5280 §4.2.1.6) are zeroed in
every run, as addresses written as text are: an internal server's certificate names its own
address, which would otherwise tie the anonymized address to the original one.

Certificates are built by `cryptography` (which reads the zeroed ones back); the independent
audit judges the run.
"""

from __future__ import annotations

import ipaddress
from functools import cache

import craft
import pytest
from craft import Flow, dtls_record, record, signed_certificate, udp_frame, write
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scapy.all import TCP, rdpcap
from test_tls_names import client_hello
from tshark import fields, malformed

import pktmask_nb
from pktmask_nb.config import AnonymizeConfig, Config, MaskConfig
from pktmask_nb.proto.tls_names import address_ranges, messages

SERVER, CLIENT, OTHER_V6 = "10.20.30.40", "10.20.30.7", "fd00:5ec:2e7::17"
NETWORK = ipaddress.ip_network("10.20.0.0/16")


@cache
def certificate() -> bytes:
    """A server certificate naming its DNS name and addresses, constrained to a network, whose
    issuer (in the AKI) is named by an address too."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "db01.corp.example")])
    ip = x509.IPAddress
    extensions = [
        (x509.SubjectAlternativeName([x509.DNSName("db01.corp.example"), ip(ipaddress.ip_address(SERVER)),
                                      ip(ipaddress.ip_address(OTHER_V6))]), False),
        (x509.NameConstraints([ip(NETWORK)], None), True),
        (x509.AuthorityKeyIdentifier(b"k" * 20, [ip(ipaddress.ip_address(CLIENT))], 7), False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
    ]  # fmt: skip
    return signed_certificate(name, extensions, serial=77).public_bytes(Encoding.DER)


ADDRESS_BYTES = [
    ipaddress.ip_address(SERVER).packed,
    ipaddress.ip_address(OTHER_V6).packed,
    NETWORK.network_address.packed + NETWORK.netmask.packed,
    ipaddress.ip_address(CLIENT).packed,
]


def certificate_message(tls13: bool = False) -> bytes:
    return craft.certificate_message([certificate()], tls13)


@pytest.mark.parametrize("tls13", [False, True])
def test_address_ranges_are_the_certificates_ip_addresses(tls13):
    message = certificate_message(tls13)
    [(kind, start, end)] = messages(message)[0]
    found = [message[a:b] for a, b in address_ranges(kind, message, start, end)]
    assert found == ADDRESS_BYTES  # in certificate order: SAN, name constraints, AKI issuer
    assert address_ranges(1, message, start, end) == []  # only Certificate messages hold them


def test_a_stapled_ocsp_responses_certificates_lose_their_addresses():
    """A CertificateStatus message carries the OCSP responder's certificates: read as well."""
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(SERVER))])
    message = craft.ocsp_status(certificate(), responder_extensions=[(san, False)])
    [(kind, start, end)] = messages(message)[0]
    assert [message[a:b] for a, b in address_ranges(kind, message, start, end)] == [ADDRESS_BYTES[0]]


def test_a_certificate_that_does_not_parse_is_zeroed_from_where_it_fails():
    message = bytearray(certificate_message())
    der_at = 4 + 3 + 3
    message[der_at + 1] ^= 0x01  # the certificate's SEQUENCE length lies
    [(kind, start, end)] = messages(bytes(message))[0]
    assert address_ranges(kind, bytes(message), start, end) == [(der_at, end)]


def handshake_capture(path) -> None:
    """ClientHello, then ServerHello, the certificate (over two records) and ServerHelloDone."""
    flow = Flow(client=(CLIENT, 40000), server=(SERVER, 443))
    hello = client_hello(b"db01.corp.example")
    server_hello = b"\x02\x00\x00\x26\x03\x03" + bytes(32) + b"\x00\x13\x01\x00"
    handshake = server_hello + certificate_message() + b"\x0e\x00\x00\x00"
    server = record(22, handshake[:300]) + record(22, handshake[300:])
    frames = flow.handshake() + flow.stream(True, record(22, hello), []) + flow.stream(False, server, [200, 500])
    write(path, frames)


def handshake_bytes(path) -> bytes:
    """The server's handshake messages, joined from the bodies of its records."""
    stream = b"".join(bytes(p[TCP].payload) for p in rdpcap(str(path)) if p[TCP].sport == 443)
    out, pos = b"", 0
    while pos + 5 <= len(stream):
        length = int.from_bytes(stream[pos + 3 : pos + 5], "big")
        out += stream[pos + 5 : pos + 5 + length] if stream[pos] == 22 else b""
        pos += 5 + length
    return out


def sanitize(src, dst, chunk_size: int = 4096, stages=("anonymize", "mask"), names="keep"):
    config = Config(stages=stages, chunk_size=chunk_size, anonymize=AnonymizeConfig(key=bytes(32)),
                    mask=MaskConfig(tls_names=names), processes=1)  # fmt: skip
    return pktmask_nb.run(src, dst, config, force=True)


def test_a_run_zeroes_the_certificates_addresses_and_keeps_the_rest(tmp_path):
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    handshake_capture(src)
    result = sanitize(src, out)
    data = out.read_bytes()
    assert not [a for a in ADDRESS_BYTES if a in data]
    handshake, der = handshake_bytes(out), certificate()
    at = handshake.index(der[:16])
    cert = x509.load_der_x509_certificate(handshake[at : at + len(der)])  # still a certificate
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["db01.corp.example"]  # names stay without --tls-names zero
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address(0), ipaddress.ip_address(bytes(16))]
    assert fields(out, ["tls.handshake.type"]) == fields(src, ["tls.handshake.type"])
    assert malformed(out) == malformed(src)
    assert result.stages["mask"]["fail_closed_events"] == 0
    for n in (1, 3):  # chunk-size invariance
        sanitize(src, tmp_path / f"c{n}.pcap", chunk_size=n)
        assert (tmp_path / f"c{n}.pcap").read_bytes() == data


def test_the_audit_finds_the_address_the_certificate_kept_before(tmp_path):
    """The server's own address in its certificate was an audit finding of every default run."""
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    handshake_capture(src)
    sanitize(src, out)
    assert pktmask_nb.audit(src, out).ok


def test_a_dtls_certificate_loses_its_addresses(tmp_path):
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    body = certificate_message()[4:]
    whole = b"\x0b" + len(body).to_bytes(3, "big") + b"\x00\x01" + bytes(3) + len(body).to_bytes(3, "big") + body
    write(src, [udp_frame(dtls_record(22, whole), src=(SERVER, 4433), dst=(CLIENT, 40000))])
    sanitize(src, out)
    data = out.read_bytes()
    assert not [a for a in ADDRESS_BYTES if a in data]
    assert data.count(b"db01.corp.example") == certificate().count(b"db01.corp.example")  # names stay
    assert fields(out, ["dtls.handshake.type"]) == [["11"]]
    assert malformed(out) <= malformed(src)


IPV4S = st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address)
IPV6S = st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address)
GENERAL_NAMES = st.lists(
    st.one_of(
        IPV4S.map(x509.IPAddress),
        IPV6S.map(x509.IPAddress),
        st.from_regex(r"[a-z]{1,12}\.example", fullmatch=True).map(x509.DNSName),
        st.from_regex(r"https://[a-z]{1,8}\.example/[a-z]{0,8}", fullmatch=True).map(x509.UniformResourceIdentifier),
    ),
    min_size=1,
    max_size=6,
)
NETWORKS = st.lists(
    st.one_of(
        st.builds(lambda a, n: ipaddress.ip_network((a, n), strict=False), IPV4S, st.integers(0, 32)),
        st.builds(lambda a, n: ipaddress.ip_network((a, n), strict=False), IPV6S, st.integers(0, 128)),
    ),
    max_size=3,
)


@settings(max_examples=40, deadline=None)
@given(GENERAL_NAMES, NETWORKS)
@example([x509.IPAddress(ipaddress.ip_address("16.0.0.0")), x509.IPAddress(ipaddress.ip_address("::"))], [])
def test_zeroed_ranges_are_exactly_the_addresses_cryptography_reads(names, networks):
    """Any alternative names and name constraints: zeroing what `address_ranges` finds leaves a
    certificate `cryptography` reads, with every address zero and every other name as it was."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x.example")])
    key = ec.generate_private_key(ec.SECP256R1())

    def certificate(names, networks) -> bytes:
        extensions = [(x509.SubjectAlternativeName(names), False)]
        if networks:
            extensions.append((x509.NameConstraints([x509.IPAddress(n) for n in networks], None), True))
        return craft.certificate_message([signed_certificate(subject, extensions, key=key).public_bytes(Encoding.DER)])

    message = certificate(names, networks)
    [(kind, start, end)] = messages(message)[0]
    zeroed = bytearray(message)
    for a, b in address_ranges(kind, message, start, end):
        zeroed[a:b] = bytes(b - a)
    cert = x509.load_der_x509_certificate(bytes(zeroed[start + 6 :]))
    read = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [n for n in read if not isinstance(n, x509.IPAddress)] == [
        n for n in names if not isinstance(n, x509.IPAddress)
    ]
    assert [int(n.value) for n in read if isinstance(n, x509.IPAddress)] == [0] * sum(
        isinstance(n, x509.IPAddress) for n in names
    )
    if networks:
        permitted = cert.extensions.get_extension_for_class(x509.NameConstraints).value.permitted_subtrees
        assert [int(n.value.network_address) for n in permitted] == [0] * len(networks)
    # nor anywhere else: an address's bytes are left only where a certificate whose addresses are
    # zero has them too (the length byte 16 of an IPv6 name and its zeros spell 16.0.0.0)
    control = certificate(
        [
            x509.IPAddress(ipaddress.ip_address(bytes(len(n.value.packed)))) if isinstance(n, x509.IPAddress) else n
            for n in names
        ],
        [ipaddress.ip_network((bytes(len(n.network_address.packed)), 0)) for n in networks],
    )
    for n in names:
        if isinstance(n, x509.IPAddress) and any(n.value.packed):
            assert occurrences(zeroed, n.value.packed) <= occurrences(control, n.value.packed), n


def occurrences(data, part: bytes) -> int:
    """How many times `part` starts in `data`, overlaps included."""
    return sum(data.startswith(part, i) for i in range(len(data)))
