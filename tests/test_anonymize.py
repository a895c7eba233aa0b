"""The anonymize stage on byte-level frames: every field, every encapsulation, checksums, counters."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktmask_nb.anon import AddressMapper
from pktmask_nb.config import AnonymizeConfig
from pktmask_nb.proto.checksum import word_sum
from pktmask_nb.record import PCAP_FILE_HEADER, Block, Packet
from pktmask_nb.stages.anonymize import AnonymizeStage

scapy = pytest.importorskip("scapy.all")
from scapy.all import (  # noqa: E402
    ARP,
    GRE,
    ICMP,
    IP,
    TCP,
    UDP,
    VXLAN,
    CookedLinux,
    CookedLinuxV2,
    Dot1AD,
    Dot1Q,
    Ether,
    ICMPv6DestUnreach,
    ICMPv6EchoRequest,
    ICMPv6ND_NS,
    IPOption_LSRR,
    IPOption_RR,
    IPOption_SSRR,
    IPOption_Timestamp,
    IPv6,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    IPv6ExtHdrSegmentRouting,
    Loopback,
    PPPoE,
    Raw,
)
from scapy.contrib.geneve import GENEVE  # noqa: E402
from scapy.contrib.gtp import GTP_U_Header  # noqa: E402
from scapy.contrib.mpls import MPLS  # noqa: E402
from scapy.layers.ppp import PPP  # noqa: E402

KEY = bytes(range(32))
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
A4, B4, C4, D4 = "198.51.100.7", "203.0.113.9", "192.0.2.33", "100.64.1.2"
A6, B6, C6, D6 = "2001:db8:1::7", "2001:db8:2::9", "2001:db8:3::33", "2001:db8:4::2"
LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_NULL, LINKTYPE_SLL, LINKTYPE_SLL2 = 1, 101, 0, 113, 276


def packet(data, linktype=LINKTYPE_ETHERNET, index=1, ts=1_000, wirelen=None):
    return Packet(index, ts, bytes(data), len(data) if wirelen is None else wirelen, linktype, b"")


def anonymize(frames, linktype=LINKTYPE_ETHERNET, keep="none", wirelen=None):
    stage = AnonymizeStage(AnonymizeConfig(key=KEY, keep=keep))
    packets = [packet(f, linktype, i + 1, 1_000 * (i + 1), wirelen) for i, f in enumerate(frames)]
    out = stage.process(packets)
    assert stage.flush() == []
    return stage, [bytes(p.data) for p in out]


def mapped(text, keep="none") -> bytes:
    return AddressMapper(KEY, keep).anonymize(ipaddress.ip_address(text).packed)


def packed(text) -> bytes:
    return ipaddress.ip_address(text).packed


def assert_rewritten(original: bytes, out: bytes, addresses, keep="none"):
    assert len(out) == len(original)
    for a in addresses:
        assert packed(a) not in out, f"{a} survived"
        assert mapped(a, keep) in out, f"{a} not mapped"


def assert_checksums_valid(out: bytes, cls=Ether):
    """scapy recomputes every checksum it knows; the frame must not change."""
    parsed = cls(out)
    for layer in parsed.iterpayloads():
        for name in ("chksum", "cksum"):
            if name in layer.fields and not (layer.__class__ is UDP and layer.fields[name] == 0):
                del layer.fields[name]
    assert bytes(parsed.__class__(bytes(parsed))) == out


@pytest.mark.parametrize(
    "frame",
    [
        ETH / IP(src=A4, dst=B4) / TCP(sport=1234, dport=80, flags="S") / Raw(b"x" * 11),
        ETH / IP(src=A4, dst=B4) / UDP(sport=1234, dport=53) / Raw(b"hello"),
        ETH / IPv6(src=A6, dst=B6) / TCP(sport=1, dport=2) / Raw(b"abc"),
        ETH / IPv6(src=A6, dst=B6) / UDP(sport=1, dport=2) / Raw(b"abcd"),
        ETH / IPv6(src=A6, dst=B6) / ICMPv6EchoRequest(data=b"ping"),
        ETH / IP(src=A4, dst=B4) / ICMP() / Raw(b"ping"),
        ETH / Dot1Q(vlan=5) / IP(src=A4, dst=B4) / TCP() / Raw(b"vlan"),
        ETH / Dot1AD(vlan=5) / Dot1Q(vlan=6) / IP(src=A4, dst=B4) / UDP() / Raw(b"qinq"),
        ETH / PPPoE(sessionid=1) / PPP(proto=0x0021) / IP(src=A4, dst=B4) / UDP() / Raw(b"pppoe"),
    ],
    ids=["ipv4-tcp", "ipv4-udp", "ipv6-tcp", "ipv6-udp", "icmpv6", "icmp", "vlan", "qinq", "pppoe"],
)
def test_outer_addresses_rewritten_checksums_valid(frame):
    original = bytes(frame)
    stage, (out,) = anonymize([original])
    addresses = [a for a in (A4, B4, A6, B6) if packed(a) in original]
    assert_rewritten(original, out, addresses)
    assert_checksums_valid(out)
    assert stage.stats()["packets_rewritten"] == 1


@pytest.mark.parametrize(
    ("frame", "addresses"),
    [
        (ETH / IP(src=A4, dst=B4) / GRE() / IP(src=C4, dst=D4) / UDP() / Raw(b"gre"), (A4, B4, C4, D4)),
        (ETH / IP(src=A4, dst=B4) / GRE(chksum_present=1) / IP(src=C4, dst=D4) / TCP() / Raw(b"gck"), (A4, B4, C4, D4)),
        (
            ETH
            / IP(src=A4, dst=B4)
            / UDP(sport=5, dport=4789)
            / VXLAN(vni=7)
            / ETH
            / IP(src=C4, dst=D4)
            / TCP()
            / Raw(b"v"),
            (A4, B4, C4, D4),
        ),
        (
            ETH
            / IP(src=A4, dst=B4)
            / UDP(sport=5, dport=6081)
            / GENEVE(proto=0x0800)
            / IP(src=C4, dst=D4)
            / UDP()
            / Raw(b"g"),
            (A4, B4, C4, D4),
        ),
        (
            ETH
            / IP(src=A4, dst=B4)
            / UDP(sport=2152, dport=2152)
            / GTP_U_Header(gtp_type=255, teid=1)
            / IPv6(src=C6, dst=D6)
            / UDP()
            / Raw(b"gtp"),
            (A4, B4, C6, D6),
        ),
        (ETH / IPv6(src=A6, dst=B6) / IP(src=C4, dst=D4) / TCP() / Raw(b"4in6"), (A6, B6, C4, D4)),
        (ETH / IP(src=A4, dst=B4) / IPv6(src=C6, dst=D6) / UDP() / Raw(b"6in4"), (A4, B4, C6, D6)),
        (ETH / IP(src=A4, dst=B4) / IP(src=C4, dst=D4) / UDP() / Raw(b"4in4"), (A4, B4, C4, D4)),
        (ETH / IPv6(src=A6, dst=B6) / IPv6(src=C6, dst=D6) / TCP() / Raw(b"6in6"), (A6, B6, C6, D6)),
        (ETH / MPLS(label=16, s=1) / IP(src=A4, dst=B4) / TCP() / Raw(b"mpls"), (A4, B4)),
    ],
    ids=["gre", "gre-checksum", "vxlan", "geneve", "gtpu", "4in6", "6in4", "4in4", "6in6", "mpls"],
)
def test_every_encapsulation_level_is_rewritten(frame, addresses):
    original = bytes(frame)
    stage, (out,) = anonymize([original])
    assert_rewritten(original, out, addresses)
    stats = stage.stats()["addresses_rewritten"]
    assert stats["ipv4_inner"] + stats["ipv6_inner"] == len(addresses) - 2
    assert_checksums_valid(out)


@pytest.mark.parametrize(
    ("frame", "linktype", "cls"),
    [
        (CookedLinux(pkttype=0, proto=0x0800) / IP(src=A4, dst=B4) / UDP() / Raw(b"sll"), LINKTYPE_SLL, CookedLinux),
        (CookedLinuxV2(proto=0x86DD) / IPv6(src=A6, dst=B6) / TCP() / Raw(b"sll2"), LINKTYPE_SLL2, CookedLinuxV2),
        (IP(src=A4, dst=B4) / TCP() / Raw(b"raw"), LINKTYPE_RAW, IP),
        (Loopback(type=2) / IP(src=A4, dst=B4) / UDP() / Raw(b"null"), LINKTYPE_NULL, Loopback),
    ],
    ids=["sll", "sll2", "raw", "null"],
)
def test_link_types(frame, linktype, cls):
    original = bytes(frame)
    _, (out,) = anonymize([original], linktype)
    assert_rewritten(original, out, [a for a in (A4, B4, A6, B6) if packed(a) in original])
    assert_checksums_valid(out, cls)


def test_arp_protocol_addresses():
    frame = bytes(ETH / ARP(op=1, hwsrc="02:00:00:00:00:01", psrc=A4, pdst=B4))
    stage, (out,) = anonymize([frame])
    assert_rewritten(frame, out, (A4, B4))
    assert out[:28] == frame[:28] and out[32:38] == frame[32:38]  # hardware addresses untouched
    assert stage.stats()["addresses_rewritten"]["ipv4_arp"] == 2


@pytest.mark.parametrize(("position", "value"), [(16, b"\x12\x34"), (18, b"\x08"), (19, b"\x10")])
def test_arp_of_another_protocol_or_bogus_lengths_is_zeroed(position, value):
    frame = bytearray(bytes(ETH / ARP(op=1, psrc=A4, pdst=B4)))
    frame[position : position + len(value)] = value  # unknown protocol type, hardware or protocol length
    stage, (out,) = anonymize([bytes(frame)])
    assert out[:14] == bytes(frame[:14]) and not any(out[14:])  # not ARP: none of its header is kept
    assert stage.stats()["bytes_zeroed"]["fail-closed"] == len(frame) - 14


def test_icmp_error_quoting_ipv4():
    quoted = IP(src=B4, dst=C4) / TCP(sport=1000, dport=443)
    frame = bytes(ETH / IP(src=A4, dst=B4) / ICMP(type=3, code=1) / bytes(quoted)[:28])
    stage, (out,) = anonymize([frame])
    assert_rewritten(frame, out, (A4, B4, C4))
    assert stage.stats()["addresses_rewritten"]["ipv4_quoted"] == 2
    icmp = 14 + 20
    assert word_sum(out, icmp, len(out)) == 0  # the ICMP checksum covers the quoted header
    assert word_sum(out, icmp + 8, icmp + 28) == 0  # the quoted IPv4 header checksum


def test_icmpv6_error_quoting_ipv6():
    quoted = IPv6(src=B6, dst=C6) / UDP(sport=1, dport=2) / Raw(b"q")
    frame = bytes(ETH / IPv6(src=A6, dst=B6) / ICMPv6DestUnreach() / bytes(quoted))
    stage, (out,) = anonymize([frame])
    assert_rewritten(frame, out, (A6, B6, C6))
    assert stage.stats()["addresses_rewritten"]["ipv6_quoted"] == 2
    assert_checksums_valid(out)


def test_icmp_redirect_gateway_and_ndp_target():
    redirect = bytes(ETH / IP(src=A4, dst=B4) / ICMP(type=5, code=1, gw=C4) / bytes(IP(src=B4, dst=D4) / UDP())[:28])
    ns = bytes(ETH / IPv6(src=A6, dst="ff02::1:ff00:9") / ICMPv6ND_NS(tgt=B6))
    stage, out = anonymize([redirect, ns])
    assert_rewritten(redirect, out[0], (A4, B4, C4, D4))
    assert_rewritten(ns, out[1], (A6, B6))
    assert word_sum(out[0], 34, len(out[0])) == 0
    assert_checksums_valid(out[1])
    counts = stage.stats()["addresses_rewritten"]
    assert counts["ipv4_icmp"] == 1 and counts["ipv6_icmp"] == 1


def test_udp_checksum_zero_stays_zero():
    frame = bytearray(bytes(ETH / IP(src=A4, dst=B4) / UDP(sport=1, dport=2) / Raw(b"zero")))
    frame[40:42] = b"\0\0"
    _, (out,) = anonymize([bytes(frame)])
    assert out[40:42] == b"\0\0"
    assert word_sum(out, 14, 34) == 0


def residue(frame: bytes, layer: str) -> int:
    """How far a checksum is from correct (0 = correct), for Ethernet/IPv4 with a 20-byte header."""
    if layer == "ip":
        return word_sum(frame, 14, 34)
    length = len(frame) - 34
    pseudo = word_sum(frame, 26, 34) + frame[23] + length
    return (word_sum(frame, 34, len(frame)) + pseudo) % 0xFFFF


@pytest.mark.parametrize("layer", ["tcp", "udp", "ip"])
def test_bad_checksum_stays_bad_by_the_same_amount(layer):
    transport = TCP(chksum=0x1234) if layer == "tcp" else UDP(chksum=0x1234) if layer == "udp" else UDP()
    ip = IP(src=A4, dst=B4, chksum=0x4321) if layer == "ip" else IP(src=A4, dst=B4)
    frame = bytes(ETH / ip / transport / Raw(b"offload"))
    _, (out,) = anonymize([frame])
    assert out != frame
    assert residue(frame, layer) != 0
    assert residue(out, layer) == residue(frame, layer)
    for other in {"ip", "tcp" if layer == "tcp" else "udp"} - {layer}:
        assert residue(frame, other) == residue(out, other) == 0


def test_partial_address_is_zeroed_and_counted():
    frame = bytes(ETH / IP(src=A4, dst=B4) / TCP())
    cut = frame[: 14 + 18]  # dst address: 2 of 4 bytes captured (snaplen)
    stage, (out,) = anonymize([cut], wirelen=len(frame))
    assert out[26:30] == mapped(A4) and out[30:32] == b"\0\0"
    stats = stage.stats()
    assert stats["partial_addresses_zeroed"] == 1 and stats["truncated_packets"] == 1


def test_checksums_over_a_header_the_capture_cut_are_zeroed_and_counted():
    """They sum bytes nobody sees (here the rest of an address) and nothing can correct them."""
    frame = bytes(ETH / IP(src=A4, dst=B4) / TCP() / Raw(b"payload"))
    stage, (out,) = anonymize([frame[:32]], wirelen=len(frame))
    assert out[24:26] == b"\0\0" and out[30:32] == b"\0\0"
    assert stage.stats()["ledger"]["zeroed"] == {"truncated": 2, "unseen-checksum": 2}
    assert stage.stats()["checksums_not_updated"] == 1
    stage, (out,) = anonymize([frame[: 14 + 20 + 17]], wirelen=len(frame))  # one byte of the TCP checksum
    assert word_sum(out, 14, 34) == 0 and out[50] == 0


def test_checksums_over_a_payload_the_capture_cut_follow_the_addresses():
    frame = bytes(ETH / IP(src=A4, dst=B4) / UDP(sport=1, dport=2) / Raw(b"payload"))
    whole = anonymize([frame])[1][0]
    cut = anonymize([frame[:-3]], wirelen=len(frame))[1][0]
    assert cut == whole[:-3]


def test_not_dissected_link_type_keeps_headers_zeroes_the_body_and_is_counted():
    from scapy.layers.dot11 import Dot11
    from scapy.layers.l2 import LLC, SNAP

    frame = bytes(
        Dot11(type=2, addr1="02:00:00:00:00:01", addr2="02:00:00:00:00:02")
        / LLC()
        / SNAP()
        / IP(src=A4, dst=B4)
        / UDP()
    )
    stage, (out,) = anonymize([frame], linktype=105)
    assert out[:24] == frame[:24] and not any(out[24:])
    assert stage.stats()["not_dissected"] == {"105": 1}


def test_special_ranges_kept_by_default_and_mapping_table():
    frames = [
        bytes(ETH / IP(src="127.0.0.1", dst="224.0.0.251") / UDP() / Raw(b"m")),
        bytes(ETH / IP(src=A4, dst="255.255.255.255") / UDP() / Raw(b"b")),
        bytes(ETH / IP(src=A4, dst=B4) / IP(src=A4, dst=C4) / UDP() / Raw(b"t")),
    ]
    stage, out = anonymize(frames, keep="special")
    assert out[0] == frames[0]
    rows = {r["original"]: r for r in stage.tables()["mapping"]}
    assert list(rows) == ["127.0.0.1", "224.0.0.251", A4, "255.255.255.255", B4, C4]
    assert rows["127.0.0.1"]["anonymized"] == "127.0.0.1"
    assert rows[A4]["anonymized"] == str(ipaddress.ip_address(mapped(A4, "special")))
    assert rows[A4]["packets"] == 2  # counted once per packet, though twice in frame 3
    assert (rows[A4]["first_seen"], rows[A4]["last_seen"]) == (2_000, 3_000)
    assert (rows[A4]["first_frame"], rows[A4]["last_frame"]) == (2, 3)
    assert rows[A4]["version"] == 4
    stats = stage.stats()
    assert stats["packets"] == 3 and stats["packets_rewritten"] == 2
    assert stats["addresses_kept"]["ipv4_outer"] == 3
    assert stats["unique_addresses"] == {"ipv4": 6, "ipv6": 0}


def test_blocks_pass_through_and_random_key_by_default():
    block = Block(PCAP_FILE_HEADER, b"\xd4\xc3\xb2\xa1" + bytes(20), "<")
    frame = bytes(ETH / IP(src=A4, dst=B4) / UDP())
    one, two = AnonymizeStage(), AnonymizeStage()
    out_one = one.process([block, packet(frame)])
    out_two = two.process([packet(frame)])
    assert out_one[0] is block
    assert bytes(out_one[1].data) != bytes(out_two[0].data)  # a fresh key per stage without one


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.sampled_from([0, 1, 12, 101, 113, 228, 229, 276]))
def test_arbitrary_bytes_never_raise_and_keep_their_length(data, linktype):
    stage = AnonymizeStage(AnonymizeConfig(key=KEY))
    (p,) = stage.process([packet(data, linktype)])
    assert len(p.data) == len(data)


FRAMES = [
    bytes(ETH / IP(src=f"10.{i % 7}.{i % 5}.{i}", dst=B4) / TCP(sport=i) / Raw(b"%d" % i)) for i in range(1, 60)
] + [bytes(ETH / IPv6(src=f"2001:db8::{i:x}", dst=B6) / UDP() / Raw(b"v6")) for i in range(1, 30)]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 100), min_size=1, max_size=10))
def test_output_and_reports_do_not_depend_on_chunking(cuts):
    reference, out = anonymize(FRAMES)
    stage = AnonymizeStage(AnonymizeConfig(key=KEY, keep="none"))
    packets = [packet(f, LINKTYPE_ETHERNET, i + 1, 1_000 * (i + 1)) for i, f in enumerate(FRAMES)]
    result, start, k = [], 0, 0
    while start < len(packets):
        size = cuts[k % len(cuts)]
        result += stage.process(packets[start : start + size])
        start, k = start + size, k + 1
    assert [bytes(p.data) for p in result] == out
    assert stage.stats() == reference.stats()
    assert stage.tables() == reference.tables()


def test_ip_header_struct_sanity():
    # the stage never changes lengths: a 4-byte IPv4 total-length read stays what it was
    frame = bytes(ETH / IP(src=A4, dst=B4) / UDP() / Raw(b"len"))
    _, (out,) = anonymize([frame])
    assert struct.unpack_from("!H", out, 16) == struct.unpack_from("!H", frame, 16)


@pytest.mark.parametrize(
    ("frame", "inside"),
    [
        (ETH / IP(src=A4, dst=B4, options=[IPOption_RR(routers=[C4, D4], pointer=12)]) / UDP() / Raw(b"rr"), (C4, D4)),
        (ETH / IP(src=A4, dst=B4, options=[IPOption_LSRR(routers=[C4, D4])]) / TCP() / Raw(b"lsrr"), (C4, D4)),
        (ETH / IP(src=A4, dst=B4, options=[IPOption_SSRR(routers=[C4, D4])]) / UDP() / Raw(b"ssrr"), (C4, D4)),
        (
            ETH
            / IP(src=A4, dst=B4, options=[IPOption_Timestamp(flg=1, internet_address=C4, timestamp=7)])
            / UDP()
            / Raw(b"ts"),
            (C4,),
        ),
        (ETH / IPv6(src=A6, dst=B6) / IPv6ExtHdrRouting(addresses=[C6, D6]) / UDP() / Raw(b"rh0"), (C6, D6)),
        (
            ETH / IPv6(src=A6, dst=B6) / IPv6ExtHdrRouting(addresses=[C6, D6], segleft=0) / TCP() / Raw(b"rh0-done"),
            (C6, D6),
        ),
        (ETH / IPv6(src=A6, dst=B6) / IPv6ExtHdrSegmentRouting(addresses=[C6, D6]) / UDP() / Raw(b"srh"), (C6, D6)),
        (
            ETH / IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(addresses=[C6]) / UDP() / Raw(b"hbh"),
            (C6,),
        ),
    ],
    ids=[
        "ipv4-record-route",
        "ipv4-lsrr",
        "ipv4-ssrr",
        "ipv4-timestamp",
        "ipv6-rh0",
        "ipv6-rh0-done",
        "ipv6-srh",
        "ipv6-hbh-rh0",
    ],  # fmt: skip
)
def test_addresses_inside_ip_headers_are_rewritten(frame, inside):
    """Route options and routing headers carry addresses too; a source route's final destination
    is in the TCP/UDP pseudo-header, so the transport checksum follows it."""
    original = bytes(frame)
    stage, (out,) = anonymize([original])
    assert_rewritten(original, out, [a for a in (A4, B4, A6, B6) if packed(a) in original] + list(inside))
    assert_checksums_valid(out)
    counts = stage.stats()["addresses_rewritten"]
    assert counts["ipv4_ip_option"] + counts["ipv6_ip_option"] == len(inside)


def test_fragments_of_an_unknown_protocol_are_rewritten_and_their_payload_zeroed():
    """A first fragment whose protocol the walk does not know has no transport (the map's IP
    index stays -1): the fragment table still reads its IP header, and both payloads are zero."""
    body = b"unknown-protocol-payload"
    first = ETH / IP(src=A4, dst=B4, proto=253, id=7, flags="MF", frag=0) / Raw(body[:16])
    later = ETH / IP(src=A4, dst=B4, proto=253, id=7, frag=2) / Raw(body[16:])
    originals = [bytes(first), bytes(later)]
    stage, out = anonymize(originals)
    for original, frame, size in zip(originals, out, (16, len(body) - 16)):
        assert_rewritten(original, frame, (A4, B4))
        assert frame[-size:] == bytes(size)
    assert stage.stats()["packets_rewritten"] == 2


# -- the address table against a model of it -------------------------------------------


class _ModelTable:
    """What `AddressTable` keeps, written plainly: a dict of one record per address."""

    def __init__(self, anonymize):
        self.anonymize, self.entries = anonymize, {}

    def see(self, original: bytes, frame: int, ts, order: int) -> dict:
        e = self.entries.get(original)
        if e is None:
            anon = self.anonymize(original)
            delta = (word_sum(anon, 0, len(anon)) - word_sum(original, 0, len(original))) % 0xFFFF
            e = self.entries[original] = {
                "anon": anon, "delta": delta, "changed": anon != original, "packets": 0, "mark": 0,
                "first_ts": ts, "last_ts": ts, "first_frame": frame, "first_order": order, "last_frame": frame,
            }  # fmt: skip
        if e["mark"] != frame:
            e["mark"] = frame
            e["packets"] += 1
            if frame > e["last_frame"]:
                e["last_ts"], e["last_frame"] = ts, frame
            if frame < e["first_frame"]:
                e["first_ts"], e["first_frame"], e["first_order"] = ts, frame, order
        return e


def _table_sightings():
    addresses = st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=16, max_size=16))
    stamps = st.one_of(st.none(), st.integers(0, 2**62), st.integers(2**62, 2**80), st.integers(-(2**70), -1))
    sighting = st.tuples(st.integers(0, 299), st.integers(1, 10_000), stamps, st.integers(0, 5))
    return st.tuples(st.lists(addresses, min_size=1, max_size=300, unique=True), st.lists(sighting, max_size=600))


@settings(max_examples=60, deadline=None)
@given(_table_sightings())
def test_the_address_table_keeps_what_a_dict_of_records_would(case):
    """Records in C arrays, looked up by hash from the frame's bytes, grown past their first
    capacity: the same mapping rows, counts and records as a dict of them, timestamps of
    any size (None, past 64 bits) as given."""
    from pktmask_nb.anon.table import AddressTable

    pool, sightings = case
    mapper = AddressMapper(bytes(range(32)))
    table, model = AddressTable(mapper.anonymize), _ModelTable(mapper.anonymize)
    for pick, frame, ts, order in sightings:
        original = pool[pick % len(pool)]
        i = table.see(original, frame, ts, order)
        assert table.entry(original) == {
            k: v for k, v in model.see(original, frame, ts, order).items() if k != "mark"
        } | {"dns": False}
        assert 0 <= i < len(table)
    assert len(table) == len(model.entries)
    versions = [len(a) for a in model.entries]
    assert table.counts() == {"ipv4": versions.count(4), "ipv6": versions.count(16)}
    ordered = sorted(model.entries.items(), key=lambda kv: (kv[1]["first_frame"], kv[1]["first_order"]))
    rows = table.rows()
    assert [(r["original"], r["anonymized"], r["packets"], r["first_seen"], r["last_seen"]) for r in rows] == [
        (str(ipaddress.ip_address(a)), str(ipaddress.ip_address(e["anon"])), e["packets"], e["first_ts"], e["last_ts"])
        for a, e in ordered
    ]
    assert table.entry(b"\xff" * 5) is None
    assert all(type(r["in_dns"]) is bool for r in rows) and all(
        type(table.entry(a)["changed"]) is bool for a in model.entries
    )


def test_the_address_table_costs_under_230_bytes_an_address():
    """A run keeps every address it saw until its report (180 000 in a 10 GB replay): records
    in C arrays, not an object, a dict slot and two keys each (263 bytes before)."""
    import gc
    import tracemalloc

    from pktmask_nb.anon.table import AddressTable

    table = AddressTable(AddressMapper(bytes(range(32))).anonymize)
    table.see(b"\x01\x02\x03\x04", 1, 1, 0)  # the first records and the mapper's caches
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            table.see(struct.pack("!I", 0x0A000000 + i), i + 2, 1_700_000_000_000_000_000 + i, 0)
        gc.collect()
        grown = (tracemalloc.get_traced_memory()[0] - before) / 20_000
    finally:
        tracemalloc.stop()
    assert grown < 230, f"{grown:.0f} bytes an address"
