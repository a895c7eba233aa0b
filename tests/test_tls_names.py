"""--tls-names zero (SPEC §5, issue 23): server names and certificate names zeroed, lengths valid.

Messages are built from the RFCs (and certificates by `cryptography`, which also reads the
zeroed ones back); the stage is judged by tshark on real captures.
"""

from __future__ import annotations

import struct
from functools import cache

import craft
import pytest
from conftest import SHARED_CAPTURES, missing
from craft import Flow, dtls_record, record, signed_certificate, udp_frame, write
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.all import TCP, rdpcap
from tshark import fields, malformed

from pktmask_nb.api import run
from pktmask_nb.config import Config, MaskConfig
from pktmask_nb.proto.tls import handshake_framing
from pktmask_nb.proto.tls_names import messages, name_ranges

HOST = b"intranet.corp.example"


def client_hello(host: bytes = HOST, dtls: bool = False, extra: bytes = b"") -> bytes:
    """A ClientHello message (header included) asking for `host`, between two other extensions."""
    sni = struct.pack(">HB H", len(host) + 3, 0, len(host)) + host
    extensions = (
        struct.pack(">HH", 10, 4) + b"\x00\x02\x00\x17"  # supported_groups
        + struct.pack(">HH", 0, len(sni)) + sni
        + struct.pack(">HH", 16, 5) + b"\x00\x03\x02h2"  # ALPN
        + extra
    )  # fmt: skip
    body = b"\x03\x03" + bytes(range(32)) + b"\x00" + (b"\x00" if dtls else b"")
    body += b"\x00\x02\x13\x01" + b"\x01\x00" + struct.pack(">H", len(extensions)) + extensions
    return b"\x01" + len(body).to_bytes(3, "big") + body


@cache
def certificate() -> bytes:
    """A DER certificate full of names: subject, issuer, SAN, AKI with an issuer name, CRL DP, AIA."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "db01.corp.example"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Secret Org")])  # fmt: skip
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corp Issuing CA 7")])
    uri = x509.UniformResourceIdentifier
    extensions = [
        (x509.SubjectAlternativeName([x509.DNSName("db01.corp.example"), x509.DNSName("db.corp.example")]), False),
        (x509.AuthorityKeyIdentifier(b"k" * 20, [x509.DirectoryName(issuer)], 7), False),
        (x509.CRLDistributionPoints([x509.DistributionPoint(
            [uri("http://crl.corp.example/ca7.crl")], None, None, None)]), False),
        (x509.AuthorityInformationAccess([x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP, uri("http://ocsp.corp.example"))]), False),
        (x509.BasicConstraints(ca=False, path_length=None), True),
    ]  # fmt: skip
    return signed_certificate(subject, extensions, issuer=issuer, serial=4242).public_bytes(Encoding.DER)


NAMES = [b"db01.corp.example", b"Example Secret Org", b"Corp Issuing CA 7", b"crl.corp.example", b"ocsp.corp.example"]


def certificate_message(tls13: bool = False, count: int = 2) -> bytes:
    return craft.certificate_message([certificate()] * count, tls13)


def zeroed(message: bytes, dtls: bool = False) -> bytes:
    out = bytearray(message)
    for kind, start, end in messages(message)[0]:
        for a, b in name_ranges(kind, message, start, end, dtls):
            out[a:b] = bytes(b - a)
    return bytes(out)


@given(
    st.lists(st.tuples(st.sampled_from([1, 2, 11, 14, 16]), st.integers(0, 40)), min_size=1, max_size=6),
    st.integers(0, 5),
    st.lists(st.integers(1, 30), max_size=12),
)
@settings(max_examples=300, deadline=None)
def test_handshake_framing_does_not_depend_on_where_records_cut(shape, bad_index, cuts):
    """Messages of cleartext types, one of them (maybe) of a type only ever encrypted: the
    first bad message is found at its offset however the records cut the stream."""
    stream, starts = bytearray(), []
    for i, (kind, n) in enumerate(shape):
        starts.append(len(stream))
        stream += bytes([20 if i == bad_index else kind]) + n.to_bytes(3, "big") + bytes([kind]) * n
    expected = starts[bad_index] if bad_index < len(shape) else -1
    state, pos, found = 0, 0, -1
    for size in [*cuts, len(stream)]:
        end = min(pos + size, len(stream))
        bad, state = handshake_framing(stream, pos, end, state)
        if bad >= 0:
            found = bad
            break
        pos = end
        if pos == len(stream):
            break
    assert found == expected
    assert found >= 0 or state == 0  # whole messages leave nothing to come


# -- the parser, by the RFCs -------------------------------------------------------------------


def test_client_hello_loses_its_server_name_and_nothing_else():
    for dtls in (False, True):
        message = client_hello(dtls=dtls)
        out = zeroed(message, dtls)
        assert HOST not in out and len(out) == len(message)
        diff = [i for i in range(len(message)) if out[i] != message[i]]
        assert diff == list(range(message.index(HOST), message.index(HOST) + len(HOST)))


def test_certificate_names_are_zeroed_and_the_certificate_still_parses():
    for tls13 in (False, True):
        message = certificate_message(tls13)
        out = zeroed(message)
        assert not [n for n in NAMES if n in out], tls13
        start = message.index(certificate())
        cert = x509.load_der_x509_certificate(out[start : start + len(certificate())])  # every length still valid
        assert cert.serial_number == 4242 and cert.subject.rfc4514_string().count("\\00") >= 10
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
        changed = [i for i in range(len(message)) if out[i] != message[i]]
        assert all(out[i] == 0 for i in changed)


def test_certificate_request_authorities_are_zeroed():
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corp Issuing CA 7")]).public_bytes()
    authorities = struct.pack(">H", len(name)) + name
    for algorithms in (b"\x00\x02\x04\x03", b""):  # TLS 1.2 lists signature algorithms, 1.0 does not
        body = b"\x01\x01" + algorithms + struct.pack(">H", len(authorities)) + authorities
        message = b"\x0d" + len(body).to_bytes(3, "big") + body
        assert b"Corp Issuing CA 7" not in zeroed(message)


def ocsp_status(by_name: bool = True) -> bytes:
    """A CertificateStatus message stapling a signed OCSP response for `certificate` (RFC 6066 §8)."""
    return craft.ocsp_status(certificate(), by_name)


@pytest.mark.parametrize("by_name", [True, False])
def test_a_stapled_ocsp_response_loses_its_names_and_still_parses(by_name):
    from cryptography.x509 import ocsp

    message = ocsp_status(by_name)
    assert [n for n in NAMES if n in message]
    out = zeroed(message)
    assert not [n for n in NAMES if n in out] and len(out) == len(message)
    response = ocsp.load_der_ocsp_response(out[8:])
    assert response.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert response.serial_number == 4242 and response.certificates[0].serial_number == 7
    assert response.responder_key_hash in (None, bytes(20))
    bad = bytearray(message)
    bad[12] += 1  # the response's SEQUENCE claims a byte more than the message holds
    assert zeroed(bytes(bad))[8:] == bytes(len(message) - 8)


def test_a_certificate_that_fails_past_its_issuer_still_loses_the_issuer():
    # Found by mutating a real certificate's subject length (0x7f -> 0xff): the fields were read
    # before any was named, so the issuer, before the failure, was kept. Now a certificate that
    # does not parse is named from its TBSCertificate's first field.
    message = bytearray(certificate_message(count=1))
    cert = x509.load_der_x509_certificate(certificate())
    issuer, subject = (message.index(name.public_bytes()) for name in (cert.issuer, cert.subject))
    assert issuer < subject
    message[subject + 1] = 0xFF  # a DER length of 127 length bytes: malformed
    out = zeroed(bytes(message))
    assert not [n for n in NAMES if n in out]
    first = message.index(b"\xa0\x03\x02\x01\x02")  # version v3, the TBSCertificate's first field
    assert out[:first] == message[:first] and out[first:] == bytes(len(message) - first)


def test_a_client_hello_that_does_not_parse_loses_all_after_its_random():
    # A length that lies may have skipped a name before the parse fails (a session id length
    # may skip the extensions' start): everything after the fixed fields is named.
    message = bytearray(client_hello())
    variable = 4 + 2 + 32  # header, version, random
    message[variable : variable + 2] = b"\x40\x00"  # a session id past the end
    out = zeroed(bytes(message))
    assert out[:variable] == bytes(message[:variable])
    assert out[variable:] == bytes(len(message) - variable)


def test_an_extension_that_does_not_read_as_its_type_loses_its_data():
    # The extensions fill the hello exactly, so a lie inside one hides nothing past its data:
    # that data is named, the other extensions keep theirs.
    message = bytearray(client_hello())
    sni = message.index(struct.pack(">HH", 0, len(HOST) + 5))
    message[sni + 9 : sni + 11] = b"\xff\xff"  # the host name's length, past the extension
    out = zeroed(bytes(message))
    diff = [i for i in range(len(message)) if out[i] != message[i]]
    assert HOST not in out and diff and min(diff) >= sni + 4 and max(diff) < sni + 4 + len(HOST) + 5


@pytest.mark.parametrize("kind", [0x0500, 10, 16, 43, 51, 0xFF01, 0xFE0D, 5, 41, 47])
def test_a_server_name_under_another_type_loses_its_data(kind):
    # Found by mutation: server_name's type 0 -> 0x0500 (an unknown type) kept the name; under
    # a known type it must read as that type says, which a server_name list does not.
    message = bytearray(client_hello())
    sni = message.index(struct.pack(">HH", 0, len(HOST) + 5))
    message[sni : sni + 2] = kind.to_bytes(2, "big")
    assert HOST not in zeroed(bytes(message))


EXTENSIONS = [  # (type, data) of ClientHello extensions, each by its RFC: the data kept whole
    (1, b"\x02"), (10, b"\x00\x04\x00\x1d\x00\x17"), (11, b"\x01\x00"), (13, b"\x00\x02\x04\x03"),
    (14, b"\x00\x02\x00\x01\x00"), (15, b"\x01"), (16, b"\x00\x0c\x02h2\x08http/1.1"), (18, b""),
    (21, bytes(7)), (22, b""), (23, b""), (27, b"\x02\x00\x02"), (28, b"\x40\x01"), (34, b"\x00\x02\x04\x03"),
    (35, b"sealed ticket"), (42, b""), (43, b"\x04\x03\x04\x03\x03"), (44, b"\x00\x03abc"), (45, b"\x01\x01"),
    (49, b""), (50, b"\x00\x02\x04\x03"), (51, b"\x00\x08\x00\x1d\x00\x04" + bytes(range(4))),
    (0x3374, b""), (0x4469, b"\x00\x03\x02h2"), (0xFE0D, b"\x00\x00\x01\x00\x01\x07\x00\x02ke\x00\x03ctx"),
    (0xFE0D, b"\x01"), (0xFF01, b"\x00"), (0x1A1A, b"\x00"), (5, b"\x01\x00\x00\x00\x00"),
]  # fmt: skip
NAMED_EXTENSIONS = [  # (type, data, the named parts): identities and names
    (41, b"\x00\x0b\x00\x05alice\x00\x00\x00\x07" + b"\x00\x21\x20" + bytes(32), (b"alice",)),
    (47, b"\x00\x16\x00\x14\x30\x12\x31\x10\x30\x0e\x06\x03\x55\x04\x03\x0c\x07corp-ca", (b"corp-ca",)),
    (5, b"\x01\x00\x07\x00\x05ocspr\x00\x03ext", (b"ocspr", b"ext")),
    (0x5A5B, b"who knows", (b"who knows",)),  # not a type we know
    (21, b"\x00x\x00", (b"x",)),  # padding must be zeros
]  # fmt: skip


def test_client_hello_extensions_keep_their_data_when_it_reads_as_their_type():
    once = {kind: data for kind, data in reversed(EXTENSIONS) if kind not in (10, 16)}  # client_hello has those
    extra = b"".join(struct.pack(">HH", kind, len(data)) + data for kind, data in once.items())
    message = client_hello(extra=extra)
    out = zeroed(message)
    diff = [i for i in range(len(message)) if out[i] != message[i]]
    assert diff == list(range(message.index(HOST), message.index(HOST) + len(HOST)))
    for kind, data in EXTENSIONS:  # one at a time: ECH comes as outer and inner
        if kind in (10, 16):
            continue
        ext = struct.pack(">HH", kind, len(data)) + data
        assert zeroed(client_hello(extra=ext)).endswith(ext)


@pytest.mark.parametrize(("kind", "data", "names"), NAMED_EXTENSIONS)
def test_client_hello_extensions_that_name_lose_the_names(kind, data, names):
    ext = struct.pack(">HH", kind, len(data)) + data
    out = zeroed(client_hello(extra=ext))
    for name in names:
        ext = ext.replace(name, bytes(len(name)))
    assert out.endswith(ext)


@pytest.mark.parametrize("field", ["signature", "validity"])
def test_a_certificate_read_from_the_wrong_place_is_named_whole(field):
    # Found by mutation of real certificates: a length one longer than its field made the
    # fields after it read from the wrong place, and the names they held were kept.
    message = bytearray(certificate_message(count=1))
    der = certificate()
    cert = x509.load_der_x509_certificate(der)
    issuer = message.index(cert.issuer.public_bytes())
    at = issuer - 12 if field == "signature" else message.index(b"\x30\x1e\x17\x0d")  # the SEQUENCE's tag
    assert message[at] == 0x30
    message[at + 1] += 1
    out = zeroed(bytes(message))
    assert not [n for n in NAMES if n in out]


@pytest.mark.parametrize("lie", ["value-tag", "oid", "aki-issuer-tag"])
def test_a_certificate_extension_that_lies_keeps_no_name(lie):
    # Found by mutation of a real certificate: the authorityInfoAccess value's OCTET STRING
    # tag 0x04 -> 0x00 kept its OCSP URL. Values are named unless their OID is one of the few
    # that name nothing, and an extension must be OID, critical flag, OCTET STRING.
    message = bytearray(certificate_message(count=1))
    if lie == "value-tag":
        aia = message.index(b"\x2b\x06\x01\x05\x05\x07\x01\x01")  # id-pe-authorityInfoAccess
        assert message[aia + 8] == 0x04
        message[aia + 8] = 0x00
    elif lie == "oid":
        san = message.index(b"\x06\x03\x55\x1d\x11")  # id-ce-subjectAltName
        message[san + 4] = 0x63  # 2.5.29.99, an extension nobody defined
    else:
        issuer = message.index(b"\xa1", message.index(b"\x06\x03\x55\x1d\x23"))  # the AKI's [1]
        message[issuer] = 0xA5
    out = zeroed(bytes(message))
    assert not [n for n in NAMES if n in out] and len(out) == len(message)


def test_an_unknown_certificate_extension_loses_its_strings_and_keeps_its_structure():
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    custom = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x16\x0bsecret.corp")
    extensions = [(custom, False), (x509.SubjectKeyIdentifier(b"k" * 20), False)]
    message = craft.certificate_message([signed_certificate(name, extensions).public_bytes(Encoding.DER)])
    out = zeroed(message)
    assert b"secret.corp" not in out and b"k" * 20 in out  # the key id names nothing
    read = x509.load_der_x509_certificate(out[10:])
    assert read.extensions.get_extension_for_oid(custom.oid).value.value == b"\x16\x0b" + bytes(11)


STRUCTURED_MESSAGES = [  # (type, body, body as kept) of messages sent in the clear, by their RFCs:
    # codes and lengths kept, key material, signatures, tickets, cookies and identities zeroed
    (12, b"\x03\x00\x17\x04" + bytes(range(1, 5)) + b"\x04\x03\x00\x03sig", b"\x03\x00\x17\x04" + bytes(4) + b"\x04\x03\x00\x03" + bytes(3)),
    (12, b"\x03\x00\x1d\x02ab\x00\x03sig", b"\x03\x00\x1d\x02\0\0\x00\x03\0\0\0"),  # ECDHE, TLS 1.0 signature
    (12, b"\x00\x02pp\x00\x01g\x00\x02yy\x04\x01\x00\x02si", b"\x00\x02\0\0\x00\x01\0\x00\x02\0\0\x04\x01\x00\x02\0\0"),  # DHE
    (12, b"\x00\x05alice\x03\x00\x17\x01x", b"\x00\x05" + bytes(5) + b"\x03\x00\x17\x01\0"),  # ECDHE_PSK: a hint
    (12, b"\x00\x05alice", b"\x00\x05" + bytes(5)),  # PSK: the hint alone
    (15, b"\x04\x03\x00\x04sign", b"\x04\x03\x00\x04" + bytes(4)),  # CertificateVerify, TLS 1.2
    (15, b"\x00\x04sign", b"\x00\x04" + bytes(4)),  # and TLS 1.0
    (16, b"\x04" + bytes(range(1, 5)), b"\x04" + bytes(4)),  # ClientKeyExchange: an ECDHE point
    (16, b"\x00\x04" + b"\xee" * 4, b"\x00\x04" + bytes(4)),  # an RSA premaster, or a PSK identity
    (16, b"\x00\x05alice\x01x", b"\x00\x05" + bytes(5) + b"\x01\0"),  # ECDHE_PSK: identity, point
    (4, b"\x00\x00\x1c\x20\x00\x06ticket", b"\x00\x00\x1c\x20\x00\x06" + bytes(6)),  # NewSessionTicket
    (3, b"\xfe\xff\x04abcd", b"\xfe\xff\x04" + bytes(4)),  # HelloVerifyRequest
    (21, b"\x01\x00\x05a.com", bytes(8)),  # CertificateURL: a type whose layout is not read
]  # fmt: skip


def message(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


@pytest.mark.parametrize(("kind", "body", "kept"), STRUCTURED_MESSAGES)
def test_messages_keep_their_structure_and_lose_their_opaque_values(kind, body, kept):
    assert zeroed(message(kind, body)) == message(kind, kept)


@pytest.mark.parametrize("kind", [3, 4, 6, 12, 15, 16, 21, 23])
def test_a_certificate_typed_as_another_message_keeps_no_name(kind):
    # Found by mutation: a DTLS Certificate fragment typed 12 (ServerKeyExchange) kept its
    # bytes, a type nobody read; every message sent in the clear must read as its type.
    cert = bytearray(certificate_message(count=1))
    cert[0] = kind
    out = zeroed(bytes(cert))
    assert not [n for n in NAMES if n in out]


def test_a_length_that_skips_the_server_name_does_not_hide_it():
    # Found by mutation: ec_point_formats' length 0x0002 -> 0x0102 jumped over the server_name
    # extension into zero padding, which reads as empty extensions of type 0 until the end.
    padding = struct.pack(">HH", 21, 300) + bytes(300)
    points = struct.pack(">HH", 11, 2) + b"\x01\x00"
    message = bytearray(client_hello(extra=padding))
    first = message.index(struct.pack(">HH", 10, 4))  # supported_groups, the first extension
    message[first:first] = points
    message[1:4] = (len(message) - 4).to_bytes(3, "big")
    total = first - 2
    message[total : total + 2] = (int.from_bytes(message[total : total + 2], "big") + len(points)).to_bytes(2, "big")
    assert HOST not in zeroed(bytes(message)) and HOST in message
    message[first + 2] = 0x01  # the lie: 258 bytes
    assert HOST not in zeroed(bytes(message))


def test_a_certificate_entry_longer_than_its_certificate_hides_nothing():
    # An entry length that swallows the next certificate: bytes after the first one's DER are
    # not read, so they are named.
    message = bytearray(certificate_message(count=2))
    der = len(certificate())
    entry = message.index(certificate()) - 3
    message[entry : entry + 3] = (der + 3 + der).to_bytes(3, "big")  # the list's length still fits
    out = zeroed(bytes(message))
    assert not [n for n in NAMES if n in out]


def test_other_messages_keep_every_byte():
    server_hello = b"\x02\x00\x00\x26" + b"\x03\x03" + bytes(32) + b"\x00\x13\x01\x00"
    assert zeroed(server_hello + client_hello()).startswith(server_hello)
    versions = struct.pack(">HHH", 6, 43, 2) + b"\x03\x04"  # extensions: supported_versions
    tls13 = b"\x03\x03" + bytes(32) + b"\x20" + bytes(32) + b"\x13\x01\x00" + versions
    tls13 = b"\x02" + len(tls13).to_bytes(3, "big") + tls13
    done = b"\x0e\x00\x00\x00"
    assert zeroed(tls13 + done) == tls13 + done


def test_a_message_without_names_must_still_parse_as_its_type():
    # Found by mutation: a ClientHello whose type byte said ServerHello kept its server name.
    hello = client_hello()
    for kind in (2, 14, 0):  # ServerHello, ServerHelloDone, HelloRequest
        disguised = bytes([kind]) + hello[1:]
        out = zeroed(disguised)
        assert HOST not in out and out[:4] == disguised[:4] and out[4:] == bytes(len(hello) - 4), kind


# -- the stage ---------------------------------------------------------------------------------


def sanitize(src, dst, names="zero", chunk_size=4096, stages=("mask",)):
    config = Config(stages=stages, chunk_size=chunk_size, mask=MaskConfig(tls_names=names))
    return run(str(src), str(dst), config=config)


def crafted(path, split_records: bool, big: bool = False, hello_length: bytes = b"\x00\x00\x26"):
    """A handshake: ClientHello (its SNI), then the server's ServerHello, Certificate(s), done."""
    flow, hello = Flow(), client_hello()
    # split: one message over two records (and the records over three segments)
    client = record(22, hello[:60]) + record(22, hello[60:]) if split_records else record(22, hello)
    server_hello = b"\x02" + hello_length + b"\x03\x03" + bytes(32) + b"\x00\x13\x01\x00"
    cert = certificate_message(count=40 if big else 2)
    handshake = server_hello + cert + b"\x0e\x00\x00\x00"
    server = b"".join(record(22, handshake[i : i + 16384]) for i in range(0, len(handshake), 16384))
    server += record(20, b"\x01") + record(22, bytes(range(40)))  # CCS, then an encrypted Finished
    frames = flow.handshake() + flow.stream(True, client, [50, 70]) + flow.stream(False, server, [1400] * 200)
    write(path, frames)
    return client, server


@pytest.mark.parametrize("split_records", [False, True], ids=["one-record", "split"])
def test_stage_zeroes_names_keeps_every_record(tmp_path, split_records):
    src, out, kept = tmp_path / "in.pcap", tmp_path / "out.pcap", tmp_path / "kept.pcap"
    client, server = crafted(src, split_records)
    result = sanitize(src, out)
    sanitize(src, kept, names="keep")
    data, before = out.read_bytes(), kept.read_bytes()
    assert HOST not in data and not [n for n in NAMES if n in data]
    assert HOST in before and NAMES[0] in before  # what keep keeps
    for mine, theirs in zip(rdpcap(str(out)), rdpcap(str(kept)), strict=True):  # names only zero
        a, b = bytes(mine[TCP].payload), bytes(theirs[TCP].payload)
        assert all(a[i] == 0 for i in range(len(a)) if a[i] != b[i])
    assert bytes(range(40)) in data  # the encrypted Finished after the CCS is left as it is
    assert fields(out, ["tls.record.content_type"]) == fields(kept, ["tls.record.content_type"])
    assert fields(out, ["tls.handshake.type"]) == fields(kept, ["tls.handshake.type"])
    assert malformed(out) == malformed(src) == 0
    assert result.stages["mask"]["fail_closed_events"] == 0
    for n in (1, 7):  # chunk-size invariance
        again = tmp_path / f"c{n}.pcap"
        sanitize(src, again, chunk_size=n)
        assert again.read_bytes() == data


def test_a_second_client_hello_after_a_compatibility_change_cipher_spec_loses_its_name(tmp_path):
    # RFC 8446 D.4: after a HelloRetryRequest the client may send its dummy ChangeCipherSpec
    # before its second ClientHello, which is cleartext all the same (it was once kept whole
    # as if encrypted, its server name with it).
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    flow = Flow()
    retry = b"\x02\x00\x00\x26" + b"\x03\x03" + bytes(32) + b"\x00\x13\x01\x00"  # a ServerHello's shape
    client = record(22, client_hello(b"first.corp.example")) + record(20, b"\x01") + record(22, client_hello())
    server = record(22, retry) + record(20, b"\x01") + record(23, bytes(40))
    frames = flow.handshake() + flow.stream(True, client[:90], []) + flow.stream(False, server, [])
    frames += flow.stream(True, client[90:], [], start=90)
    write(src, frames)
    sanitize(src, out)
    data = out.read_bytes()
    assert HOST not in data and b"first.corp.example" not in data
    assert fields(out, ["tls.handshake.type"]) == fields(src, ["tls.handshake.type"]) and malformed(out) == 0


def test_a_message_longer_than_the_wait_is_zeroed_and_its_records_kept(tmp_path):
    src, out, kept = tmp_path / "in.pcap", tmp_path / "out.pcap", tmp_path / "kept.pcap"
    crafted(src, False, big=True)  # 40 certificates: past 64 KiB
    sanitize(src, out)
    sanitize(src, kept, names="keep")
    data = out.read_bytes()
    assert not [n for n in NAMES if n in data]
    assert fields(out, ["tls.record.content_type"]) == fields(kept, ["tls.record.content_type"])
    assert b"\x0e\x00\x00\x00" in data  # ServerHelloDone after the given-up message is read again


def test_a_message_whose_length_lies_past_the_wait_is_zeroed_whatever_its_type(tmp_path):
    # Found by mutation: a ServerHello's length 0x000026 -> 0xB70026 (past the 64 KiB wait)
    # was given up on but kept, its type holding no names; the Certificate it swallowed too.
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    crafted(src, False, hello_length=b"\xb7\x00\x26")
    sanitize(src, out)
    data = out.read_bytes()
    assert not [n for n in NAMES if n in data] and HOST not in data


@pytest.mark.parametrize("tls13", [False, True])
def test_a_certificate_list_length_that_lies_hides_no_name(tls13):
    # Found by mutation: the list's length 0x0012c4 -> 0xff12c4 made the message read as
    # TLS 1.3's, with a 255-byte request context that skipped the first certificate's issuer
    # (in a TLS 1.3 message the byte is the context's length: the same skip).
    message = bytearray(certificate_message(tls13=tls13, count=1))
    message[4] = 0xFF
    out = zeroed(bytes(message))
    assert not [n for n in NAMES if n in out] and out[4:] == bytes(len(message) - 4)


def test_a_certificate_request_whose_types_length_lies_hides_no_name():
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Corp Issuing CA 7")]).public_bytes()
    body = b"\x01\x01" + b"\x00\x02\x04\x03" + struct.pack(">H", len(name) + 2) + struct.pack(">H", len(name)) + name
    body = bytes([len(body) - 8]) + body[1:]  # certificate types whose length skips into the name
    message = b"\x0d" + len(body).to_bytes(3, "big") + body
    assert b"Corp" not in zeroed(message)  # not even the part before where the parse failed


@pytest.mark.parametrize("kind", [11, 12])
def test_a_dtls_fragment_of_any_type_keeps_no_name(tmp_path, kind):
    # Found by mutation: a fragment of a Certificate typed 12 (ServerKeyExchange) was kept;
    # a piece of a message cannot be read, whatever its type says.
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    body = certificate_message(count=1)[4:]
    piece = body[:400]
    fragment = bytes([kind]) + len(body).to_bytes(3, "big") + b"\x00\x01" + bytes(3) + len(piece).to_bytes(3, "big")
    write(src, [udp_frame(dtls_record(22, fragment + piece))])
    sanitize(src, out)
    assert not [n for n in NAMES if n in out.read_bytes()]
    assert [n for n in NAMES if n in piece]


@pytest.mark.parametrize(
    ("kind", "epoch"), [(1, 0), (2, 0), (1, 0xFF00)], ids=["client-hello", "type-says-server-hello", "epoch-lies"]
)
def test_dtls_client_hello_loses_its_server_name(tmp_path, kind, epoch):
    # Found by mutation: a record whose epoch lies (0 -> 0xFF00) counted as encrypted and was
    # kept whole, though its body was a cleartext ClientHello, exactly (names and all).
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    hello = client_hello(dtls=True)
    fragment = bytes([kind]) + hello[1:4] + b"\x00\x00" + b"\x00\x00\x00" + hello[1:4] + hello[4:]
    write(src, [udp_frame(dtls_record(22, fragment, epoch=epoch))])
    sanitize(src, out)
    assert HOST not in out.read_bytes()
    if epoch == 0:  # tshark reads a body of a later epoch as encrypted
        assert fields(out, ["dtls.handshake.type"]) == [[str(kind)]]
    assert malformed(out) <= malformed(src)


@pytest.mark.parametrize(
    "name",
    ["tls_1_2-2.pcap", "tls1.2.pcap", "https-justlaunchpage.pcap", "tls-fragmented-handshake.pcap.gz",
     "tls_1_0_multi_segment_google-https.pcap", "dtls1_2.pcap", "tls13_wolfssl.pcap", "tls_1_0_sslerr1-70.pcap"],
)  # fmt: skip
def test_shared_captures_keep_their_handshakes_and_lose_their_names(tmp_path, name):
    src = SHARED_CAPTURES / name
    if not src.exists():
        missing(f"shared capture {name}")
    out, kept = tmp_path / "out.pcap", tmp_path / "kept.pcap"
    sanitize(src, out)
    sanitize(src, kept, names="keep")
    names = ["tls.handshake.extensions_server_name", "x509ce.dNSName", "x509sat.printableString", "x509sat.uTF8String"]
    originals = {v for row in fields(src, names) for cell in row for v in cell.split(",") if len(v) > 3}
    data = out.read_bytes()
    assert not [v for v in originals if v.encode() in data]
    columns = ["tls.record.content_type", "tls.handshake.type", "dtls.record.content_type"]
    assert fields(out, columns) == fields(kept, columns)
    assert malformed(out) == malformed(kept)


def test_the_audit_finds_names_only_where_the_run_should_have_zeroed_them(tmp_path):
    from pktmask_nb.audit import audit

    src = SHARED_CAPTURES / "tls_1_2-2.pcap"
    if not src.exists():
        missing("shared capture tls_1_2-2.pcap")
    out, kept = tmp_path / "out.pcap", tmp_path / "kept.pcap"
    sanitize(src, out, stages=("dedup", "anonymize", "mask"))
    sanitize(src, kept, names="keep", stages=("dedup", "anonymize", "mask"))
    assert audit(src, kept, raise_on_findings=False).ok  # names are kept by default
    report = audit(src, kept, tls_names=True, raise_on_findings=False, limit=100)
    details = " ".join(f.detail for f in report.findings)
    assert "TLS name 'dogfish' in tls-handshake" in details and "'support@cloudshark.org'" in details
    assert report.addresses["tls_name"] >= 5
    assert audit(src, out, tls_names=True, raise_on_findings=False).ok
