"""MAC anonymization (SPEC §5 "Beyond IP addresses", issue 23): the map, and every place a MAC sits.

The map is checked by its definition (bits kept, group addresses kept, inverse); the stage by
tshark and by a byte search of the output, which share nothing with our dissector.
"""

from __future__ import annotations

import ipaddress
import random
import subprocess
import sys

import pytest
from scapy.all import (
    ARP,
    BOOTP,
    DHCP,
    ICMP,
    IP,
    LLC,
    SNAP,
    STP,
    TCP,
    UDP,
    CookedLinux,
    Dot1Q,
    Dot3,
    Dot11,
    Ether,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    RadioTap,
    Raw,
    mac2str,
    wrpcap,
)
from tshark import fields, malformed

from pktmask_nb.anon import AddressMapper
from pktmask_nb.anon.mac import GROUP_BIT, LOCAL_BIT, MacMapper, mac_bytes, mac_text
from pktmask_nb.api import run
from pktmask_nb.config import AnonymizeConfig, Config

KEY = bytes(range(32))
KEYS = [bytes(random.Random(seed).getrandbits(8) for _ in range(32)) for seed in (1, 2, 3)]
HOST_A, HOST_B, ROUTER = "00:1b:21:3a:4f:5c", "3c:22:fb:12:34:56", "00:0c:29:aa:bb:cc"
LOCAL_HOST = "02:42:ac:11:00:02"  # locally administered (a container)
UNICAST = (HOST_A, HOST_B, ROUTER, LOCAL_HOST)
LL_A, GLOBAL_A = "fe80::21b:21ff:fe3a:4f5c", "2001:db8:1:2:21b:21ff:fe3a:4f5c"  # EUI-64 of HOST_A
MAC_FIELDS = [
    "eth.src", "eth.dst", "arp.src.hw_mac", "arp.dst.hw_mac", "icmpv6.opt.linkaddr",
    "dhcp.hw.mac_addr", "stp.root.hw", "stp.bridge.hw",
]  # fmt: skip


def eui64(mac: str) -> int:
    raw = bytearray(mac_bytes(mac))
    raw[0] ^= 0x02
    return int.from_bytes(raw[:3] + b"\xff\xfe" + raw[3:], "big")


def ethernet_frames() -> list:
    return [
        Ether(src=HOST_A, dst=HOST_B) / IP(src="192.168.1.10", dst="10.1.2.3") / TCP(sport=1234, dport=80, flags="S"),
        Ether(src=HOST_A, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=HOST_A, psrc="192.168.1.10", pdst="192.168.1.1"),
        Ether(src=ROUTER, dst=HOST_A) / ARP(op=2, hwsrc=ROUTER, psrc="192.168.1.1", hwdst=HOST_A, pdst="192.168.1.10"),
        Ether(src=HOST_A, dst="33:33:ff:00:00:01")
        / IPv6(src=LL_A, dst="ff02::1:ff00:1")
        / ICMPv6ND_NS(tgt="fe80::1")
        / ICMPv6NDOptSrcLLAddr(lladdr=HOST_A),
        Ether(src=ROUTER, dst=HOST_A)
        / IPv6(src="fe80::1", dst=LL_A)
        / ICMPv6ND_NA(tgt="fe80::1")
        / ICMPv6NDOptDstLLAddr(lladdr=ROUTER),
        Ether(src=HOST_A, dst=ROUTER)
        / IPv6(src=GLOBAL_A, dst="2001:db8:99::1")
        / UDP(sport=40000, dport=9)
        / Raw(b"x" * 20),
        Ether(src=LOCAL_HOST, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=mac2str(LOCAL_HOST), xid=0x1234)
        / DHCP(options=[("message-type", "discover"), "end"]),
        Dot3(src=HOST_B, dst="01:80:c2:00:00:00") / LLC() / STP(rootmac=ROUTER, bridgemac=HOST_B),
        Ether(src=HOST_A, dst=HOST_B) / Dot1Q(vlan=5) / IP(src="192.168.1.10", dst="10.1.2.3") / UDP(sport=1, dport=2),
    ]


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    """Ethernet (every place a MAC sits), Linux cooked and 802.11 captures."""
    d = tmp_path_factory.mktemp("mac")
    wrpcap(str(d / "eth.pcap"), ethernet_frames())
    wrpcap(str(d / "sll.pcap"), [CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=mac2str(HOST_A) + b"\0\0")
                                 / IP(src="192.168.1.10", dst="10.1.2.3") / ICMP()])  # fmt: skip
    wrpcap(str(d / "wlan.pcap"), [
        RadioTap() / Dot11(type=2, subtype=0, addr1=HOST_B, addr2=HOST_A, addr3=ROUTER) / LLC() / SNAP()
        / IP(src="192.168.1.10", dst="10.1.2.3") / ICMP(),
        RadioTap() / Dot11(type=1, subtype=13, addr1=HOST_A),
    ])  # fmt: skip
    return d


def sanitize(src, dst, mac="all", stages=("anonymize",), chunk_size=4096, key=KEY, processes=1):
    anonymize = AnonymizeConfig(key=key, mac=mac)
    config = Config(stages=stages, chunk_size=chunk_size, anonymize=anonymize, processes=processes)
    return run(str(src), str(dst), config=config)


# -- the map ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["all", "keep-oui"])
@pytest.mark.parametrize("key", range(3))
def test_the_map_keeps_its_bits_and_inverts_exactly(key, mode):
    mapper, rng = MacMapper(KEYS[key], mode), random.Random(key)
    moved = 0
    for _ in range(2000):
        value = rng.getrandbits(48)
        new = mapper.map_int(value)
        assert mapper.original_int(new) == value
        assert new & (GROUP_BIT | LOCAL_BIT) == value & (GROUP_BIT | LOCAL_BIT)
        if value & GROUP_BIT:
            assert new == value  # broadcast and multicast name protocols: kept
        elif mode == "keep-oui":
            assert new >> 24 == value >> 24
        moved += new != value
    assert moved > 900  # about half are unicast, nearly all of them move


def test_kept_addresses_and_the_cycle_walk_around_zero():
    mapper = MacMapper(KEY)
    for kept in ("ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "01:80:c2:00:00:0e", "01:00:5e:00:00:fb"):
        assert mapper.anonymize(mac_bytes(kept)) == mac_bytes(kept)

    class Xor(MacMapper):  # a tree that sends one unicast address to zero
        def _tree(self, value):
            return value ^ 0x00AABBCCDDEE

        _tree_back = _tree

    xor = Xor(KEY)
    assert xor.map_int(0x00AABBCCDDEE) == 0x00AABBCCDDEE  # zero's image, not zero
    assert xor.original_int(0x00AABBCCDDEE) == 0x00AABBCCDDEE
    assert xor.map_int(0x001122334455) == 0x001122334455 ^ 0x00AABBCCDDEE


def test_prefix_preserving_and_keyed_apart_from_the_address_key():
    mapper = MacMapper(KEY)
    a, b = mapper.anonymize(mac_bytes("00:1b:21:00:00:01")), mapper.anonymize(mac_bytes("00:1b:21:ff:00:02"))
    assert a[:3] == b[:3] != mac_bytes("00:1b:21:00:00:01")[:3]  # one vendor still shares a vendor
    assert MacMapper(KEYS[0]).anonymize(mac_bytes(HOST_A)) != mapper.anonymize(mac_bytes(HOST_A))
    assert mapper.cryptopan.flips(0x1234, 48) != AddressMapper(KEY).cryptopan.flips(0x1234, 48)  # a derived key


def test_mac_text_round_trips_every_spelling():
    for text in ("00:1b:21:3a:4f:5c", "00-1b-21-3a-4f-5c", "001b.213a.4f5c", "001b213a4f5c"):
        assert mac_text(mac_bytes(text)) == "00:1b:21:3a:4f:5c"
    assert mac_bytes("00:1b:21:3a:4f") is None and mac_bytes("zz:1b:21:3a:4f:5c") is None


def eui_cases(rng: random.Random, n: int) -> list[int]:
    """IPv6 addresses with EUI-64 identifiers under many prefixes (kept ones too), and the others
    that look most like them."""
    prefixes = [0x2001_0DB8 << 96, 0xFE80 << 112, 0x2002_C000_0204 << 80, 0xFC00 << 112, 0]
    out = []
    for i in range(n):
        top = rng.choice(prefixes) | rng.getrandbits(64) << 64 if i % 3 else rng.choice(prefixes)
        iid = rng.getrandbits(64)
        if i % 2:
            iid = (iid & ~(0xFFFF << 24)) | 0xFFFE << 24
        out.append((top & ~((1 << 64) - 1)) | iid)
    return out


@pytest.mark.parametrize("keep", ["special", "none"])
@pytest.mark.parametrize("key", range(3))
def test_eui64_identifiers_follow_their_mac_and_unmap_exactly(key, keep):
    mapper = AddressMapper(KEYS[key], keep, mac="all")
    cases = eui_cases(random.Random(f"{key}{keep}"), 3000)
    images = [mapper.anonymize_int(v, 128) for v in cases]
    assert len(set(images)) == len(set(cases))  # one-to-one on the sample
    for value, image in zip(cases, images, strict=True):
        assert mapper.original_int(image, 128) == value
        assert (image >> 24) & 0xFFFF == (value >> 24) & 0xFFFF  # ff:fe stays, and nothing else gains it
    for mac in UNICAST:
        for prefix in ("fe80::", "2001:db8:1:2::"):
            address = int(ipaddress.ip_address(prefix)) | eui64(mac)
            image = mapper.anonymize_int(address, 128)
            assert image & ((1 << 64) - 1) == eui64(mac_text(mapper.mac.anonymize(mac_bytes(mac))))


def test_without_a_mac_map_ipv6_keeps_its_mapping():
    address = ipaddress.ip_address(GLOBAL_A).packed
    plain, mapped = AddressMapper(KEY), AddressMapper(KEY, mac="all")
    assert plain.anonymize(address)[:8] == mapped.anonymize(address)[:8]  # the prefix map is the same
    assert plain.anonymize(address)[8:] != mapped.anonymize(address)[8:]


# -- the stage, judged by tshark and by the bytes --------------------------------------------


def mac_values(path, names=MAC_FIELDS) -> set[str]:
    return {v for row in fields(path, names) for cell in row for v in cell.split(",") if v}


@pytest.mark.parametrize("stages", [("anonymize",), ("dedup", "anonymize", "mask")], ids="+".join)
def test_no_original_unicast_mac_survives_anywhere(captures, tmp_path, stages):
    for name, names in (("eth", MAC_FIELDS), ("sll", ["sll.src.eth"]), ("wlan", ["wlan.addr"])):
        src, out = captures / f"{name}.pcap", tmp_path / f"{name}.pcap"
        sanitize(src, out, stages=stages)
        before, after = mac_values(src, names), mac_values(out, names)
        assert set(UNICAST) & before, name  # the capture has them where tshark looks
        assert not set(UNICAST) & after, name
        assert len(after) >= len(before) - 1  # still there, rewritten (a MAC only DHCP held is zeroed by mask)
        data = out.read_bytes()
        assert not [m for m in UNICAST if mac_bytes(m) in data], name  # nor anywhere else, as bytes
        assert malformed(out) == malformed(src)


def test_group_addresses_stay_and_mapping_is_one_to_one(captures, tmp_path):
    out = tmp_path / "o.pcap"
    result = sanitize(captures / "eth.pcap", out)
    after = mac_values(out)
    assert {"ff:ff:ff:ff:ff:ff", "01:80:c2:00:00:00", "00:00:00:00:00:00"} <= after
    rows = [r for r in result.mapping if r["version"] == "mac"]  # kept ones too, as kept IP addresses are
    assert {r["original"] for r in rows if r["anonymized"] != r["original"]} == set(UNICAST)
    assert len({r["anonymized"] for r in rows}) == len(rows) == 7
    for row in rows:
        mac = mac_bytes(row["anonymized"])
        assert mac[0] & 3 == mac_bytes(row["original"])[0] & 3  # group and local bits kept
    stats = result.stages["anonymize"]
    assert stats["unique_addresses"]["mac"] == 7 and stats["macs_rewritten"] > 10
    assert result.ledger["rewritten"]["mac-address"] == 6 * stats["macs_rewritten"]


def test_keep_oui_keeps_the_vendor_only(captures, tmp_path):
    result = sanitize(captures / "eth.pcap", tmp_path / "o.pcap", mac="keep-oui")
    rows = [r for r in result.mapping if r["version"] == "mac" and r["original"] in UNICAST]
    assert len(rows) == len(UNICAST)
    for row in rows:
        assert row["anonymized"][:8] == row["original"][:8] and row["anonymized"] != row["original"]


def test_eui64_addresses_match_their_mapped_macs_in_the_output(captures, tmp_path):
    out = tmp_path / "o.pcap"
    sanitize(captures / "eth.pcap", out)
    pairs = fields(out, ["eth.src", "ipv6.src"], display_filter="ipv6.src != fe80::1")
    assert len(pairs) == 2
    for mac, source in pairs:
        assert int(ipaddress.ip_address(source)) & ((1 << 64) - 1) == eui64(mac)
        assert mac != HOST_A


def test_consistent_across_files_chunk_sizes_and_processes(captures, tmp_path):
    outputs = [tmp_path / f"{n}.pcap" for n in (1, 3, 4096)]
    for out, n in zip(outputs, (1, 3, 4096), strict=True):
        sanitize(captures / "eth.pcap", out, chunk_size=n)
    assert len({o.read_bytes() for o in outputs}) == 1
    full = [tmp_path / f"full{n}.pcap" for n in (1, 2)]
    for out, processes in zip(full, (1, 2), strict=True):
        sanitize(captures / "eth.pcap", out, stages=("dedup", "anonymize", "mask"), chunk_size=2, processes=processes)
    assert full[0].read_bytes() == full[1].read_bytes()
    sanitize(captures / "wlan.pcap", tmp_path / "w.pcap")
    eth = fields(outputs[0], ["eth.src"], display_filter="ip.src && tcp")[0][0]
    wlan = fields(tmp_path / "w.pcap", ["wlan.sa"], display_filter="wlan.fc.type == 2")[0][0]
    assert eth == wlan  # HOST_A is one MAC in both files
    other_key = tmp_path / "k.pcap"
    sanitize(captures / "eth.pcap", other_key, key=KEYS[0])
    assert other_key.read_bytes() != outputs[0].read_bytes()


def test_solicited_node_macs_follow_their_group_even_without_a_mac_map(captures, tmp_path):
    """33:33:ff:xx:xx:xx holds the last 24 bits of an IPv6 address: kept, it would undo their
    anonymization (found while building the MAC map; MACs are otherwise kept by default)."""
    for mac in ("none", "all"):
        out = tmp_path / f"{mac}.pcap"
        sanitize(captures / "eth.pcap", out, mac=mac)
        [(dst_mac, dst)] = fields(out, ["eth.dst", "ipv6.dst"], display_filter="icmpv6.type == 135")
        assert dst_mac == "33:33:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(dst).packed[12:])
        assert dst != "ff02::1:ff00:1"


def test_unmap_gives_macs_back(captures, tmp_path):
    key = KEY.hex()
    result = sanitize(captures / "eth.pcap", tmp_path / "o.pcap")
    rows = [r for r in result.mapping if r["version"] == "mac"]
    cmd = [sys.executable, "-m", "pktmask_nb.cli", "unmap", "--key", key, "--anon-mac", "all"]
    done = subprocess.run(cmd + [r["anonymized"] for r in rows], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == [f"{r['anonymized']} -> {r['original']}" for r in rows]


def test_cli_option_is_checked(tmp_path, captures):
    cmd = [sys.executable, "-m", "pktmask_nb.cli", "run", str(captures / "eth.pcap"), "-o", str(tmp_path / "o.pcap")]
    done = subprocess.run(cmd + ["--anon-mac", "some"], capture_output=True, text=True)
    assert done.returncode == 2 and "--anon-mac" in done.stderr and "Traceback" not in done.stderr


# -- the audit knows the option (SPEC §8) ----------------------------------------------------


def test_the_audit_finds_every_original_mac_only_when_asked(captures, tmp_path):
    from pktmask_nb.audit import audit

    src = captures / "eth.pcap"
    kept, mapped = tmp_path / "kept.pcap", tmp_path / "mapped.pcap"
    sanitize(src, kept, mac="none", stages=("dedup", "anonymize", "mask"))
    sanitize(src, mapped, mac="all", stages=("dedup", "anonymize", "mask"))
    assert audit(src, kept, raise_on_findings=False).ok  # MACs kept by default; 33:33:ff follows its group
    report = audit(src, kept, macs=True, raise_on_findings=False, limit=1000)
    found = {f.detail.split(" in ")[0] for f in report.findings}
    assert {f"MAC {m}" for m in UNICAST} <= found
    assert f"MAC {HOST_A} as an EUI-64 interface identifier" in found
    assert report.addresses["mac"] == len(UNICAST)
    assert audit(src, mapped, macs=True, raise_on_findings=False).ok
    cli = [sys.executable, "-m", "pktmask_nb.cli", "audit", str(src), str(kept), "--anon-mac", "all"]
    assert subprocess.run(cli, capture_output=True).returncode == 1


def test_the_audit_reads_macs_written_as_text():
    from pktmask_nb.audit.identifiers import Identifiers

    ids = Identifiers("special", macs=True)
    for mac in (HOST_A, "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"):
        ids.add_mac(mac_bytes(mac))
    assert ids.counts()["mac"] == 1  # group addresses and zero are kept by design
    text = b"a=00-1B-21-3A-4F-5C; b=001b.213a.4f5c c=001b213a4f5c d=00:1b:21:3a:4f:5c:01 e=100:1b:21:3a:4f:5c"
    hits = sorted((at, what) for at, _, what in ids.find(text, 0))
    assert [at for at, _ in hits] == [2, 23, 40]  # not inside longer hex runs
    assert all(what == f"MAC {HOST_A} as text" for _, what in hits)
