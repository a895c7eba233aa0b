"""What masking must not break (SPEC §2.5, §2.6): Wireshark follows the same protocols after as before.

Crafted dialogues from the RFCs, masked with the default pipeline; tshark is the judge: the
same TLS records, no new malformed packets or expert errors, checksums as good as before.
"""

from __future__ import annotations

import struct

import pytest
import tshark as ts
from craft import Flow, app_data, handshake, pcap_bytes
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

import pktmask_nb
from pktmask_nb import Config
from pktmask_nb.config import AnonymizeConfig, MaskConfig
from pktmask_nb.proto.checksum import word_sum

TLS_FIELDS = ["tcp.stream", "tls.record.content_type", "tls.record.length"]
CLIENT_TLS = handshake(200) + app_data(100)
SERVER_TLS = handshake(300, kind=2) + handshake(4, kind=14) + app_data(80)
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def dialogue(port: int, turns, tls: bool = True, syn: bool = True) -> list[bytes]:
    f = Flow(client=("10.1.1.1", 40000), server=("10.2.2.2", port))
    frames, seq = (f.handshake() if syn else []), [0, 0]
    for from_client, data in turns + ([(True, CLIENT_TLS), (False, SERVER_TLS)] if tls else []):
        side = 0 if from_client else 1
        frames.append(f.frame(from_client, data, seq=seq[side]))
        seq[side] += len(data)
    return frames


def masked(tmp_path, frames, keep=(), linktype=1):
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    src.write_bytes(pcap_bytes([bytes(f) for f in frames], linktype))
    config = Config(anonymize=AnonymizeConfig(key=bytes(32)), mask=MaskConfig(keep=keep))
    result = pktmask_nb.run(src, out, config, force=True)
    assert result.stages["mask"]["errors"] == 0
    return src, out


def tls_records(path) -> list:
    return [row[1:] for row in ts.fields(path, TLS_FIELDS, display_filter="tls", two_pass=True)]


def assert_same_tls_and_no_new_errors(src, out):
    before = tls_records(src)
    assert before, "the case must hold TLS that Wireshark sees"
    assert tls_records(out) == before
    assert ts.malformed(out) <= ts.malformed(src)


# -- STARTTLS and tunnels: the TLS after them stays visible --------------------------------------

LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"


def ldap(message_id: int, op: bytes) -> bytes:
    body = b"\x02\x01" + bytes((message_id,)) + op
    return b"\x30" + bytes((len(body),)) + body


def tlv(tag: int, value: bytes) -> bytes:
    return bytes((tag, len(value))) + value


LDAP_BIND = ldap(1, tlv(0x60, b"\x02\x01\x03" + tlv(0x04, b"cn=admin,dc=example,dc=org") + tlv(0x80, b"s3cret")))
LDAP_BOUND = ldap(1, tlv(0x61, b"\x0a\x01\x00\x04\x00\x04\x00"))
LDAP_START = ldap(2, tlv(0x77, tlv(0x80, LDAP_STARTTLS_OID)))
LDAP_STARTED = ldap(2, tlv(0x78, b"\x0a\x01\x00\x04\x00\x04\x00" + tlv(0x8A, LDAP_STARTTLS_OID)))

XMPP_NS = b"xmlns='urn:ietf:params:xml:ns:xmpp-tls'"
XMPP = [
    (True, b"<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' "
           b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"),
    (False, b"<?xml version='1.0'?><stream:stream from='example.com' id='c2s_123' xmlns='jabber:client' "
            b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><stream:features><starttls "
            + XMPP_NS + b"><required/></starttls></stream:features>"),
    (True, b"<starttls " + XMPP_NS + b"/>"),
    (False, b"<proceed " + XMPP_NS + b"/>"),
]  # fmt: skip

CASES = {
    "pop3-stls": (110, [(False, b"+OK POP3 ready\r\n"), (True, b"STLS\r\n"), (False, b"+OK Begin TLS\r\n")]),
    "imap-starttls": (143, [(False, b"* OK IMAP4rev1\r\n"), (True, b"a001 STARTTLS\r\n"), (False, b"a001 OK go\r\n")]),
    "ftp-auth-tls": (21, [(False, b"220 FTP\r\n"), (True, b"AUTH TLS\r\n"), (False, b"234 AUTH TLS OK.\r\n")]),
    "ldap-starttls": (389, [(True, LDAP_BIND), (False, LDAP_BOUND), (True, LDAP_START), (False, LDAP_STARTED)]),
    "xmpp-starttls": (5222, XMPP),
    "http-connect": (
        3128,
        [
            (True, b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
            (False, b"HTTP/1.1 200 Connection established\r\n\r\n"),
        ],
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("keep", [(), ("http-headers",)])
def test_tls_after_a_cleartext_prelude_stays_visible(name, keep, tmp_path, tshark):
    port, turns = CASES[name]
    src, out = masked(tmp_path, dialogue(port, turns), keep)
    assert_same_tls_and_no_new_errors(src, out)
    data = out.read_bytes()
    assert b"cn=admin" not in data and b"s3cret" not in data
    if name != "http-connect":  # a CONNECT's authority is kept: Wireshark needs it, and the server name says it too
        assert b"example.com" not in data


def test_masking_a_masked_prelude_finds_the_same_tls(tmp_path, tshark):
    for name, (port, turns) in CASES.items():
        src, out = masked(tmp_path, dialogue(port, turns))
        again = tmp_path / "again.pcap"
        pktmask_nb.run(out, again, Config(stages=("mask",)), force=True)
        assert again.read_bytes() == out.read_bytes(), name


def test_midstream_tls_is_kept_from_the_first_chain_of_headers(tmp_path, tshark):
    """A capture that starts inside a connection: records each in their own segment resynchronise."""
    records = [app_data(60), app_data(70), handshake(40, kind=4), app_data(90)]
    f = Flow(client=("10.1.1.1", 40000), server=("10.2.2.2", 443))
    frames, seq = [f.frame(False, b"\x99" * 33, seq=5000)], 5033  # the end of a record joined mid-way
    for r in records:
        frames.append(f.frame(False, r, seq=seq))
        seq += len(r)
    src, out = masked(tmp_path, frames)
    assert_same_tls_and_no_new_errors(src, out)


def test_tso_total_length_zero_keeps_headers_and_tls(tmp_path, tshark):
    """Sender-side captures with segmentation offload have an IPv4 total length of 0 (SPEC §6)."""
    frames = dialogue(443, [])
    tso = []
    for frame in frames:
        b = bytearray(frame)
        if len(b) > 54:
            b[16:18] = b"\x00\x00"
        tso.append(bytes(b))
    src, out = masked(tmp_path, tso)
    assert tls_records(out) == tls_records(src) != []
    for a, b in zip(tso, pcap_frames(out)):
        assert b[14:34][:10] == a[14:34][:10]  # the IPv4 header but its addresses and checksum stays


def pcap_frames(path) -> list[bytes]:
    import oracle

    return [d for d, _, _ in oracle.frames(path)]


# -- protocols whose zeroed payload must still parse ----------------------------------------------

FTP_PASSIVE = [
    (False, b"220 FTP\r\n"),
    (True, b"EPSV\r\n"),
    (False, b"229 Entering Extended Passive Mode (|||6446|)\r\n"),
    (True, b"PWD\r\n"),
    (False, b'257 "/home/secret" is the current directory\r\n'),
    (True, b"PASV\r\n"),
    (False, b"227 Entering Passive Mode (192,168,1,2,25,46)\r\n"),
]


def dns_over_tcp() -> list[bytes]:
    query = bytes.fromhex("1234 0100 0001 0000 0000 0000") + b"\x06secret\x07example\x03com\x00\x00\x01\x00\x01"
    answer = (
        bytes.fromhex("1234 8180 0001 0001 0000 0000")
        + query[12:]
        + bytes.fromhex("c00c 0001 0001 0000003c 0004 c0000201")
    )
    return dialogue(53, [(True, struct.pack(">H", len(query)) + query), (False, struct.pack(">H", len(answer)) + answer)], tls=False)  # fmt: skip


def lldp() -> bytes:
    def t(kind, value):
        return struct.pack(">H", (kind << 9) | len(value)) + value

    tlvs = t(1, b"\x04\x02\x00\x00\x00\x00\x01") + t(2, b"\x05eth0") + t(3, b"\x00\x78") + t(5, b"secret-switch")
    tlvs += t(8, b"\x05\x01\x0a\x01\x02\x03\x02\x00\x00\x00\x01\x00") + t(0, b"")
    return Ether(dst="01:80:c2:00:00:0e", src="02:00:00:00:00:01", type=0x88CC) / Raw(tlvs)


def cdp() -> bytes:
    def t(kind, value):
        return struct.pack(">HH", kind, 4 + len(value)) + value

    body = (
        t(1, b"secret-router")
        + t(2, b"\x00\x00\x00\x01\x01\x01\xcc\x00\x04\x0a\x01\x02\x03")
        + t(4, b"\x00\x00\x00\x29")
    )
    head = b"\x02\xb4\x00\x00" + body
    value = int.from_bytes(head + b"\0" * (len(head) % 2), "big") % 0xFFFF
    checksum = (~value & 0xFFFF) or 0xFFFF
    pdu = head[:2] + checksum.to_bytes(2, "big") + head[4:]
    llc = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + pdu
    return Ether(dst="01:00:0c:cc:cc:cc", src="02:00:00:00:00:01", type=len(llc)) / Raw(llc)


def dhcp() -> list[bytes]:
    discover = (
        ETH
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=b"\x02\x00\x00\x00\x00\x01", xid=7)
        / DHCP(
            options=[("message-type", "discover"), ("hostname", b"secret-laptop"), ("param_req_list", [1, 3, 6]), "end"]
        )
    )
    offer = ETH / IP(src="10.2.2.2", dst="10.1.1.9") / UDP(sport=67, dport=68) / BOOTP(
        op=2, yiaddr="10.1.1.9", siaddr="10.2.2.2", chaddr=b"\x02\x00\x00\x00\x00\x01", xid=7
    ) / DHCP(options=[("message-type", "offer"), ("server_id", "10.2.2.2"), ("lease_time", 3600), ("subnet_mask", "255.255.255.0"), "end"])  # fmt: skip
    return [discover, offer]


def teredo() -> bytes:
    inner = IPv6(
        src="2001:0:c000:201:0:f01f:3fff:fdd2", dst="2001:db8::1"
    )  # client 192.0.2.45 / UDP(sport=1, dport=2) / Raw(b"teredo")
    origin = b"\x00\x00\xf0\x1f\x3f\xff\xfd\xd2"
    return ETH / IP(src="10.1.1.1", dst="10.2.2.2") / UDP(sport=3544, dport=40000) / Raw(origin + bytes(inner))


def quoted_errors() -> list[bytes]:
    tcp = IP(src="10.1.1.1", dst="10.2.2.2") / TCP(sport=40000, dport=443, flags="PA") / Raw(b"x" * 40)
    udp = IP(src="10.1.1.1", dst="10.2.2.2") / UDP(sport=40000, dport=53) / Raw(b"\x12\x34" + b"\x00" * 30)
    return [
        ETH / IP(src="10.9.9.9", dst="10.1.1.1") / ICMP(type=3, code=4) / Raw(bytes(tcp)[:28]),
        ETH / IP(src="10.9.9.9", dst="10.1.1.1") / ICMP(type=11) / Raw(bytes(udp)),
    ]


PARSED = {
    "ftp-passive-and-pwd-replies": lambda: dialogue(21, FTP_PASSIVE, tls=False),
    "imap-login": lambda: dialogue(
        143,
        [(False, b"* OK IMAP\r\n"), (True, b"a001 LOGIN alice s3cret\r\n"), (False, b"a001 OK LOGIN completed\r\n")],
        tls=False,
    ),  # fmt: skip
    "dns-over-tcp": dns_over_tcp,
    "lldp": lambda: [lldp()],
    "cdp": lambda: [cdp()],
    "dhcp": dhcp,
    "teredo-with-origin-indication": lambda: [teredo()],
    "icmp-errors-quoting-tcp-and-udp": quoted_errors,
}


@pytest.mark.parametrize("name", list(PARSED))
def test_zeroed_payloads_still_parse(name, tmp_path, tshark):
    src, out = masked(tmp_path, PARSED[name]())
    assert ts.malformed(out) <= ts.malformed(src)
    data = out.read_bytes()
    assert b"secret" not in data and b"s3cret" not in data


def test_rfc4884_quoted_udp_checksum_stays_right(tmp_path):
    """A time-exceeded message quoting a whole UDP datagram (padded to 128 bytes, RFC 4884): the
    quoted payload is zeroed and the quoted checksum follows, as do the ICMP ones."""
    udp = IP(src="10.1.1.1", dst="10.2.2.2") / UDP(sport=40000, dport=33435) / Raw(b"probe-payload")
    quote = bytes(udp).ljust(128, b"\0")
    objects = struct.pack(">HBB", 8, 1, 1) + b"\x00\x01\x01\xff"  # an MPLS label stack entry
    ext = b"\x20\x00" + (0xFFFF - (0x2000 + word_sum(objects, 0, len(objects))) % 0xFFFF).to_bytes(2, "big") + objects
    assert word_sum(ext, 0, len(ext)) % 0xFFFF == 0
    frame = ETH / IP(src="10.9.9.9", dst="10.1.1.1") / ICMP(type=11, length=32) / Raw(quote + ext)
    src, out = masked(tmp_path, [frame])
    (data,) = pcap_frames(out)
    icmp, quoted = 34, 42
    u = quoted + 20
    assert data[u + 8 : u + 21] == bytes(13)  # the quoted payload
    pseudo = word_sum(data, quoted + 12, quoted + 20) + 17 + 21
    assert (word_sum(data, u, u + 21) + pseudo) % 0xFFFF == 0  # the quoted UDP checksum
    assert word_sum(data, icmp, len(data)) % 0xFFFF == 0  # the ICMP checksum
    assert word_sum(data, icmp + 8 + 128, len(data)) % 0xFFFF == 0  # the extension structure's
