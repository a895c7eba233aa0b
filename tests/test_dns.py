"""--anon-dns (SPEC §5, issue 23): DNS answers and Client Subnet addresses mapped, structure kept.

Messages are built with scapy from RFC 1035 / RFC 7871 and judged by tshark.
"""

from __future__ import annotations

import ipaddress

import pytest
from conftest import SHARED_CAPTURES, missing
from craft import write
from scapy.all import (
    DNS,
    DNSQR,
    DNSRR,
    DNSRRMX,
    DNSRROPT,
    DNSRRSOA,
    IP,
    UDP,
    EDNS0ClientSubnet,
    Ether,
    IPv6,
    Raw,
    rdpcap,
)
from tshark import fields, malformed

from pktmask_nb.anon import AddressMapper
from pktmask_nb.api import run
from pktmask_nb.config import AnonymizeConfig, Config, MaskConfig
from pktmask_nb.proto.dns import message

KEY = bytes(range(32))
ANSWERS_V4, ANSWERS_V6 = ["10.20.30.40", "172.16.5.9"], ["2001:db8:abcd::42"]
SUBNET = "198.51.100.0"
SECRET_NAME = "payroll.corp.example"


def dns_frames() -> list[bytes]:
    ecs = DNSRROPT(rclass=4096, rdata=[EDNS0ClientSubnet(family=1, source_plen=24, address=SUBNET)])
    query = DNS(id=7, rd=1, qd=[DNSQR(qname=SECRET_NAME)], ar=[ecs])
    answer = DNS(
        id=7, qr=1, aa=1, rd=1, qd=DNSQR(qname=SECRET_NAME),
        an=[
            DNSRR(rrname=SECRET_NAME, type="CNAME", rdata="web.corp.example"),
            DNSRR(rrname="web.corp.example", type="A", rdata=ANSWERS_V4[0]),
            DNSRR(rrname="web.corp.example", type="A", rdata=ANSWERS_V4[1]),
            DNSRR(rrname="web.corp.example", type="TXT", rdata=[b"owner=alice"]),
            DNSRRMX(rrname="corp.example", exchange="mail.corp.example"),
        ],
        ns=[DNSRRSOA(rrname="corp.example", mname="ns1.corp.example", rname="hostmaster.corp.example")],
        ar=[ecs],
    )  # fmt: skip
    reverse = DNS(id=8, qr=1, qd=DNSQR(qname="40.30.20.10.in-addr.arpa", qtype="PTR"),
                  an=DNSRR(rrname="40.30.20.10.in-addr.arpa", type="PTR", rdata="web.corp.example"))  # fmt: skip
    six = DNS(id=9, qr=1, qd=DNSQR(qname="v6.corp.example", qtype="AAAA"),
              an=DNSRR(rrname="v6.corp.example", type="AAAA", rdata=ANSWERS_V6[0]))  # fmt: skip
    client, server = ("192.168.1.10", 40000), ("192.168.1.1", 53)
    frames = [
        Ether() / IP(src=client[0], dst=server[0]) / UDP(sport=client[1], dport=53) / query,
        Ether() / IP(src=server[0], dst=client[0]) / UDP(sport=53, dport=client[1]) / answer,
        Ether() / IP(src=server[0], dst=client[0]) / UDP(sport=53, dport=client[1]) / reverse,
        Ether() / IPv6(src="2001:db8::53", dst="2001:db8::10") / UDP(sport=53, dport=40001) / six,
    ]
    return [bytes(f) for f in frames]


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("dns") / "dns.pcap"
    write(path, dns_frames())
    return path


def sanitize(src, dst, dns=True, keep=(), stages=("dedup", "anonymize", "mask"), chunk_size=4096):
    config = Config(
        stages=stages, chunk_size=chunk_size, anonymize=AnonymizeConfig(key=KEY, dns=dns), mask=MaskConfig(keep=keep)
    )
    return run(str(src), str(dst), config=config)


def values(path, name) -> list[str]:
    return [v for row in fields(path, [name]) for v in row[0].split(",") if v]


def test_the_parser_sorts_every_byte():
    frame = dns_frames()[1]
    start = len(frame) - len(bytes(DNS(frame[42:])))
    found = message(frame, 42, len(frame))
    assert found.end == len(frame) and start == 42
    assert sorted((a.width, a.bits) for a in found.addresses) == [(4, 24), (4, 32), (4, 32)]
    texts = {bytes(frame[a:b]) for a, b in found.names}
    assert {b"payroll", b"corp", b"example", b"owner=alice", b"mail", b"hostmaster"} <= texts


@pytest.mark.parametrize("stages", [("anonymize",), ("dedup", "anonymize", "mask")], ids="+".join)
def test_answers_and_client_subnets_take_the_address_mapping(capture, tmp_path, stages):
    out = tmp_path / "o.pcap"
    sanitize(capture, out, stages=stages)
    mapper = AddressMapper(KEY)

    def mapped(text):
        return str(ipaddress.ip_address(mapper.anonymize(ipaddress.ip_address(text).packed)))

    assert values(out, "dns.a") == [mapped(a) for a in ANSWERS_V4]
    assert values(out, "dns.aaaa") == [mapped(a) for a in ANSWERS_V6]
    subnet = mapped(SUBNET).rsplit(".", 1)[0] + ".0"  # the prefix's 24 bits, the rest zero
    assert values(out, "dns.opt.client.addr4") == [subnet, subnet]
    data = out.read_bytes()
    originals = [ipaddress.ip_address(a).packed for a in ANSWERS_V4 + ANSWERS_V6] + [bytes([198, 51, 100])]
    assert not [a for a in originals if a in data]
    assert malformed(out) == malformed(capture) == 0
    columns = ["dns.flags.response", "dns.count.answers", "dns.resp.type", "dns.resp.ttl", "dns.qry.type"]
    assert fields(out, columns) == fields(capture, columns)


def test_names_are_zeroed_unless_kept_and_reverse_names_always(capture, tmp_path):
    zeroed, kept = tmp_path / "z.pcap", tmp_path / "k.pcap"
    sanitize(capture, zeroed)
    sanitize(capture, kept, keep=("dns-names",))
    for name in (SECRET_NAME, "owner=alice", "hostmaster"):
        assert name.split(".")[0].encode() not in zeroed.read_bytes()
    assert values(kept, "dns.qry.name")[:2] == [SECRET_NAME, SECRET_NAME]
    assert b"\x07in-addr\x04arpa" in kept.read_bytes() and b"\x0240\x0230" not in kept.read_bytes()  # 10.20.30.40


def test_without_the_option_dns_stays_zeroed(capture, tmp_path):
    out = tmp_path / "o.pcap"
    sanitize(capture, out, dns=False)
    assert values(out, "dns.a") in ([], ["0.0.0.0", "0.0.0.0"])
    assert SECRET_NAME.split(".")[0].encode() not in out.read_bytes()


def test_chunk_sizes_and_the_mapping_table(capture, tmp_path):
    outputs = [tmp_path / f"{n}.pcap" for n in (1, 4096)]
    results = [sanitize(capture, o, chunk_size=n) for o, n in zip(outputs, (1, 4096), strict=True)]
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    from_dns = {r["original"] for r in results[1].mapping if r["in_dns"]}
    assert from_dns == set(ANSWERS_V4 + ANSWERS_V6) | {SUBNET}  # DNS-derived rows
    counts = results[1].stages["anonymize"]["addresses_rewritten"]
    assert counts["ipv4_dns"] == 4 and counts["ipv6_dns"] == 1


@pytest.mark.parametrize(
    "name",
    ["google-https-cachedlink_plus_sitelink.pcap", "tls_1_2_double_vlan.pcap", "ipv6-fragmented-dns.pcap",
     "pcapng-multi-interface.pcapng", "tls_1_0_multi_segment_google-https.pcap", "gre-sample.pcap"],
)  # fmt: skip
def test_shared_captures_parse_as_well_and_keep_no_answer(tmp_path, name):
    """Every DNS message parses as in the input, but those in ICMP quotes (zeroed: a quote is
    never read as the stream's bytes, SPEC §6) and those spread over IP fragments (the later
    fragments cannot be read alone: zeroed, fail closed)."""
    src = SHARED_CAPTURES / name
    if not src.exists():
        missing(f"shared capture {name}")
    out = tmp_path / ("o" + src.suffix)
    sanitize(src, out, stages=("anonymize", "mask"))
    columns = ["frame.number", "dns.flags.response", "dns.count.queries", "dns.count.answers", "dns.resp.type",
               "dns.qry.type", "dns.resp.ttl"]  # fmt: skip
    whole = "dns && !icmp && !icmpv6 && !ipv6.fraghdr && !ip.fragments"
    assert fields(out, columns, display_filter=whole) == fields(src, columns, display_filter=whole)
    assert malformed(out) == malformed(src)
    answers = {a for column in ("dns.a", "dns.aaaa") for a in values(src, column)}
    data = out.read_bytes()
    assert not [a for a in answers if ipaddress.ip_address(a).packed in data]


def test_the_audit_reads_dns_when_told(capture, tmp_path):
    from pktmask_nb.audit import audit

    out, names = tmp_path / "o.pcap", tmp_path / "n.pcap"
    sanitize(capture, out)
    sanitize(capture, names, keep=("dns-names",))
    assert not audit(capture, out, raise_on_findings=False).ok  # kept DNS structure, unexplained
    assert audit(capture, out, dns=True, raise_on_findings=False).ok
    assert audit(capture, names, dns=True, dns_names=True, raise_on_findings=False).ok
    assert not audit(capture, names, dns=True, raise_on_findings=False).ok  # names kept, not declared
    itself = audit(capture, capture, dns=True, raise_on_findings=False, limit=100)
    found = " ".join(f.detail for f in itself.findings)
    assert all(f"{a} in dns-address" in found for a in ANSWERS_V4 + ANSWERS_V6)


@pytest.mark.parametrize("name", ["google-https-cachedlink_plus_sitelink.pcap", "tls_1_2_double_vlan.pcap"])
def test_the_audit_finds_shared_dns_runs_clean(tmp_path, name):
    from pktmask_nb.audit import audit

    src = SHARED_CAPTURES / name
    if not src.exists():
        missing(f"shared capture {name}")
    out = tmp_path / "o.pcap"
    sanitize(src, out)
    report = audit(src, out, dns=True, raise_on_findings=False)
    assert report.ok, report.summary()


def test_dns_over_tcp_rewrites_the_answers_of_whole_segments_and_zeroes_the_others(tmp_path):
    """Anonymize reads segments: a message whole in one segment has its answers rewritten and
    kept; one split over segments keeps its structure, its answers zeroed."""
    from craft import Flow

    from pktmask_nb.audit import audit

    answer = bytes(DNS(dns_frames()[1][42:]))
    message = len(answer).to_bytes(2, "big") + answer
    flow = Flow(client=("192.168.1.10", 40000), server=("192.168.1.1", 53))
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    whole, split = flow.frame(False, message, seq=0), flow.stream(False, message, [1, 150], start=len(message))
    write(src, flow.handshake() + [whole] + split)
    sanitize(src, out)
    mapper = AddressMapper(KEY)
    mapped = [str(ipaddress.ip_address(mapper.anonymize(ipaddress.ip_address(a).packed))) for a in ANSWERS_V4]
    assert values(out, "dns.a") == mapped + ["0.0.0.0"] * 2
    columns = ["dns.count.answers", "dns.resp.type", "dns.resp.ttl"]
    assert fields(out, columns, two_pass=True) == fields(src, columns, two_pass=True)
    assert malformed(out) == malformed(src)
    assert not [a for a in ANSWERS_V4 if ipaddress.ip_address(a).packed in out.read_bytes()]
    assert audit(src, out, dns=True, raise_on_findings=False).ok
    itself = audit(src, src, dns=True, raise_on_findings=False, limit=200)
    assert any(f"{ANSWERS_V4[0]} in dns-address" in f.detail for f in itself.findings)


def test_reverse_names_are_told_through_compression_pointers():
    """An owner name "41" + a pointer into "30.20.10.in-addr.arpa" still spells an address."""
    question = b"\x0240\x0230\x0220\x0210\x07in-addr\x04arpa\x00"
    header = b"\x00\x01\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"
    answer = b"\x0241\xc0\x0f" + b"\x00\x0c\x00\x01\x00\x00\x00\x3c\x00\x05" + b"\x03web\x00"  # PTR
    data = header + question + b"\x00\x0c\x00\x01" + answer
    found = message(data, 0, len(data))
    assert found.end == len(data)
    spelled = {bytes(data[a:b]) for a, b in found.reverse}
    assert spelled == {b"40", b"30", b"20", b"10", b"41"}
    assert {bytes(data[a:b]) for a, b in found.names} == {b"in-addr", b"arpa", b"web"}


def test_what_does_not_parse_to_its_end_is_not_believed(tmp_path):
    """Port 53 is only a hint: a payload that is not one whole DNS message keeps nothing."""
    answer = bytes(DNS(dns_frames()[1][42:]))
    # one more record than there is: found by mutating a real answer's question count (0x0001
    # -> 0xff01), whose parse stopped exactly at the payload's end and was taken for whole
    promising = answer[:10] + (int.from_bytes(answer[10:12], "big") + 1).to_bytes(2, "big") + answer[12:]
    payloads = [answer + b"trailing-secret", answer[:-7], b"S" * 40, promising]  # bytes after it, cut short, not DNS
    frames = [bytes(Ether() / IP(src="192.168.1.1", dst="192.168.1.10") / UDP(sport=53, dport=40000) / Raw(p))
              for p in payloads]  # fmt: skip
    src, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    write(src, frames)
    sanitize(src, out, stages=("anonymize", "mask"))
    for packet in rdpcap(str(out)):
        assert not any(bytes(packet[UDP].payload)), packet.summary()
    from pktmask_nb.audit import audit

    assert audit(src, out, dns=True, raise_on_findings=False).ok
    header_kept = tmp_path / "header.pcap"  # what believing port 53 would have kept: 12 "header" bytes
    kept = [f[:42] + f[42:54] + bytes(len(f) - 54) for f in frames]
    write(header_kept, kept)
    report = audit(src, header_kept, dns=True, raise_on_findings=False, limit=100)
    assert {f.frame for f in report.findings if f.kind == "payload"} == {1, 2, 3, 4}, report.summary()
    assert not message(promising, 0, len(promising)).whole
