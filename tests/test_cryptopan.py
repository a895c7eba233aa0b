"""Crypto-PAn (SPEC §5): published vectors, an independent implementation, kept ranges."""

from __future__ import annotations

import ipaddress
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pktmask_nb.anon import AddressMapper, CryptoPAn, KeepPolicy, embedded
from pktmask_nb.anon.ranges import IDENTITY, SPECIAL_IPV4, SPECIAL_IPV6, special_policies, subtract

# The sample key of the Crypto-PAn reference distribution (SPEC §5)
SAMPLE_KEY = bytes(
    [21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16,
     216, 152, 143, 131, 121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2]
)  # fmt: skip
# SPEC §5 and the rest of sample_trace_raw/sample_trace_sanitized of that distribution
SAMPLE_IPV4 = [
    ("128.11.68.132", "135.242.180.132"), ("129.118.74.4", "134.136.186.123"),
    ("130.132.252.244", "133.68.164.234"), ("141.223.7.43", "141.167.8.160"),
    ("141.233.145.108", "141.129.237.235"), ("152.163.225.39", "151.140.114.167"),
    ("156.29.3.236", "147.225.12.42"), ("165.247.96.84", "162.9.99.234"),
    ("166.107.77.190", "160.132.178.185"), ("192.102.249.13", "252.138.62.131"),
    ("192.215.32.125", "252.43.47.189"), ("192.233.80.103", "252.25.108.8"),
    ("192.41.57.43", "252.222.221.184"), ("193.150.244.223", "253.169.52.216"),
    ("195.205.63.100", "255.186.223.5"), ("198.200.171.101", "249.199.68.213"),
    ("198.26.132.101", "249.36.123.202"), ("198.36.213.5", "249.7.21.132"),
    ("198.51.77.238", "249.18.186.254"), ("199.217.79.101", "248.38.184.213"),
    ("202.49.198.20", "245.206.7.234"), ("203.12.160.252", "244.248.163.4"),
    ("204.184.162.189", "243.192.77.90"), ("204.202.136.230", "243.178.4.198"),
    ("204.29.20.4", "243.33.20.123"), ("205.178.38.67", "242.108.198.51"),
    ("205.188.147.153", "242.96.16.101"), ("205.188.248.25", "242.96.88.27"),
    ("205.245.121.43", "242.21.121.163"), ("207.105.49.5", "241.118.205.138"),
    ("207.135.65.238", "241.202.129.222"), ("207.155.9.214", "241.220.250.22"),
    ("207.188.7.45", "241.255.249.220"), ("207.25.71.27", "241.33.119.156"),
    ("207.33.151.131", "241.1.233.131"), ("208.147.89.59", "227.237.98.191"),
    ("208.234.120.210", "227.154.67.17"), ("208.28.185.184", "227.39.94.90"),
    ("208.52.56.122", "227.8.63.165"), ("209.12.231.7", "226.243.167.8"),
    ("209.238.72.3", "226.6.119.243"), ("209.246.74.109", "226.22.124.76"),
    ("209.68.60.238", "226.184.220.233"), ("209.85.249.6", "226.170.70.6"),
    ("212.120.124.31", "228.135.163.231"), ("212.146.8.236", "228.19.4.234"),
    ("212.186.227.154", "228.59.98.98"), ("212.204.172.118", "228.71.195.169"),
    ("212.206.130.201", "228.69.242.193"), ("216.148.237.145", "235.84.194.111"),
    ("216.157.30.252", "235.89.31.26"), ("216.184.159.48", "235.96.225.78"),
    ("216.227.10.221", "235.28.253.36"), ("216.254.18.172", "235.7.16.162"),
    ("216.32.132.250", "235.192.139.38"), ("216.35.217.178", "235.195.157.81"),
    ("24.0.250.221", "100.15.198.226"), ("24.13.62.231", "100.2.192.247"),
    ("24.14.213.138", "100.1.42.141"), ("24.5.0.80", "100.9.15.210"),
    ("24.7.198.88", "100.10.6.25"), ("24.94.26.44", "100.88.228.35"),
    ("38.15.67.68", "64.3.66.187"), ("4.3.88.225", "124.60.155.63"),
    ("63.14.55.111", "95.9.215.7"), ("63.195.241.44", "95.179.238.44"),
    ("63.97.7.140", "95.97.9.123"), ("64.14.118.196", "0.255.183.58"),
    ("64.34.154.117", "0.221.154.117"), ("64.39.15.238", "0.219.7.41"),
    ("10.185.25.118", "117.161.29.118"),
]  # fmt: skip
# IPv6 with the same key, as published with the Go implementation (Yawning/cryptopan)
SAMPLE_IPV6 = [
    ("::1", "78ff:f001:9fc0:20df:8380:b1f1:704:ed"),
    ("::2", "78ff:f001:9fc0:20df:8380:b1f1:704:ef"),
    ("::ffff", "78ff:f001:9fc0:20df:8380:b1f1:704:f838"),
    ("2001:db8::1", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1e"),
    ("2001:db8::2", "4401:2bc:603f:d91d:27f:ff8e:e6f1:dc1c"),
]
KEY = bytes(range(32))


def packed(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def text(address: bytes) -> str:
    return str(ipaddress.ip_address(address))


def common_prefix(a: bytes, b: bytes) -> int:
    return 8 * len(a) - (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_length()


@pytest.mark.parametrize(("original", "expected"), SAMPLE_IPV4 + SAMPLE_IPV6)
def test_published_sample_vectors(original, expected):
    assert text(CryptoPAn(SAMPLE_KEY).anonymize(packed(original))) == expected
    assert text(AddressMapper(SAMPLE_KEY, "none").anonymize(packed(original))) == expected


def test_agrees_with_yacryptopan_on_random_addresses():
    yacryptopan = pytest.importorskip("yacryptopan")
    rng = random.Random(20240601)
    for _ in range(4):
        key = rng.randbytes(32)
        ours, theirs = CryptoPAn(key), yacryptopan.CryptoPAn(key)
        for _ in range(1000):
            v4 = rng.getrandbits(32)
            assert ours.anonymize_int(v4, 32) == theirs.anonymize_bin(v4, 4)
        for _ in range(250):
            v6 = rng.getrandbits(128)
            assert ours.anonymize_int(v6, 128) == theirs.anonymize_bin(v6, 6)


def test_key_must_be_32_bytes():
    with pytest.raises(ValueError):
        CryptoPAn(b"short")


def test_flips_from_a_depth_leave_the_leading_bits_alone():
    c = CryptoPAn(KEY)
    value = int.from_bytes(packed("192.0.2.77"), "big")
    full = c.flips(value, 32)
    for start in (0, 1, 7, 31, 32):
        assert c.flips(value, 32, start) == full & ((1 << (32 - start)) - 1)


# --- kept ranges: the tree rule ---------------------------------------------------------


def exhaustive_check(width: int, policy: KeepPolicy, cryptopan: CryptoPAn) -> None:
    """Every address of a toy space: bijective, prefix-preserving, fixed ranges fixed and avoided."""

    def anonymize(v):
        d = policy.forced_depth(v)
        return v if d == IDENTITY else v ^ cryptopan.flips(v, width, d)

    size = 1 << width
    image = [anonymize(v) for v in range(size)]
    assert sorted(image) == list(range(size))  # one-to-one (and onto)
    for a in range(size):
        for b in range(a + 1, size):
            assert (a ^ b).bit_length() == (image[a] ^ image[b]).bit_length()  # prefix-preserving
    for v in range(size):
        if policy.is_fixed(v):
            assert image[v] == v
        else:
            assert not policy.is_fixed(image[v])  # nothing lands in a fixed range
        for prefix, length in policy.preserved:
            inside = (v ^ prefix) >> (width - length) == 0
            assert ((image[v] ^ prefix) >> (width - length) == 0) == inside


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 255), st.integers(0, 8)), min_size=1, max_size=5),
    st.binary(min_size=32, max_size=32),
)
def test_kept_ranges_exhaustively_on_an_8_bit_space(ranges, key):
    # Random fixed ranges (overlaps allowed): the map over all 256 addresses is a
    # prefix-preserving bijection that fixes every kept address and maps nothing into them.
    exhaustive_check(8, KeepPolicy(8, fixed=ranges), CryptoPAn(key))


def test_fixed_and_preserved_ranges_exhaustively_on_a_10_bit_space():
    fixed = [(0, 10), (0b0111111100, 8), (0b1110000000, 4), (0b1111111111, 10)]
    preserved = [(0b0000101000, 5), (0b1100000000, 6)]
    for seed in range(3):
        exhaustive_check(10, KeepPolicy(10, fixed=fixed, preserved=preserved), CryptoPAn(bytes([seed]) * 32))


def test_preserved_prefix_may_not_overlap_a_fixed_range():
    with pytest.raises(ValueError):
        KeepPolicy(8, fixed=[(0x80, 1)], preserved=[(0xC0, 2)])


def test_subtract_gives_the_siblings_along_the_path():
    pieces = subtract((0xF0, 4), (0xF4, 6), 8)
    assert pieces == [(0xF8, 5), (0xF0, 6)]
    with pytest.raises(ValueError):
        subtract((0xF0, 4), (0x04, 6), 8)


SPECIAL_SAMPLES = ["0.0.0.0", "127.0.0.1", "127.255.0.9", "169.254.1.2", "224.0.0.251", "239.255.255.250",
                   "255.255.255.255", "::", "::1", "fe80::1", "febf::ffff", "ff02::1", "ff05::fb"]  # fmt: skip
NEAR_SPECIAL = ["0.0.0.1", "1.0.0.0", "126.255.255.255", "128.0.0.0", "169.253.255.255", "169.255.0.0",
                "223.255.255.255", "240.0.0.0", "255.255.255.254", "::2", "fe7f::1", "fec0::1",
                "feff::1", "2001:db8::1"]  # fmt: skip


@pytest.mark.parametrize("address", SPECIAL_SAMPLES)
def test_special_ranges_are_kept_by_default(address):
    mapper = AddressMapper(KEY)
    assert mapper.anonymize(packed(address)) == packed(address)
    assert mapper.is_kept(packed(address))
    assert AddressMapper(KEY, "none").anonymize(packed(address)) != packed(address)


@pytest.mark.parametrize("address", NEAR_SPECIAL)
def test_addresses_next_to_special_ranges_move_and_stay_outside(address):
    for seed in range(8):
        mapper = AddressMapper(bytes([seed]) * 32)
        anonymized = mapper.anonymize(packed(address))
        assert not mapper.is_kept(anonymized)


def test_solicited_node_multicast_keeps_its_prefix_only():
    mapper = AddressMapper(KEY)
    original = packed("ff02::1:ff12:3456")
    anonymized = mapper.anonymize(original)
    assert anonymized[:13] == original[:13] and anonymized != original


def address_strategy(version: int):
    width = 32 if version == 4 else 128
    specials = SPECIAL_IPV4 if version == 4 else SPECIAL_IPV6
    # bias towards the edges of the kept ranges, where mistakes would show
    near = [int(ipaddress.ip_network(n).network_address) for n in specials]
    return st.one_of(
        st.integers(0, (1 << width) - 1),
        st.builds(lambda base, delta: (base + delta) % (1 << width), st.sampled_from(near), st.integers(-512, 512)),
    ).map(lambda v: v.to_bytes(width // 8, "big"))


@pytest.mark.parametrize("version", [4, 6])
@pytest.mark.parametrize("keep", ["special", "none"])
def test_prefix_preserving_and_one_to_one_on_random_sets(version, keep):
    mapper = AddressMapper(KEY, keep)
    pure = CryptoPAn(KEY)

    @settings(max_examples=60, deadline=None)
    @given(st.lists(address_strategy(version), min_size=2, max_size=40, unique=True))
    def check(addresses):
        images = [mapper.anonymize(a) for a in addresses]
        assert len(set(images)) == len(images)
        for i, a in enumerate(addresses):
            for j in range(i + 1, len(addresses)):
                assert common_prefix(a, addresses[j]) == common_prefix(images[i], images[j])
            value = int.from_bytes(a, "big")
            if keep == "none":
                assert images[i] == pure.anonymize(a)
            elif mapper.is_kept(a):
                assert images[i] == a or embedded.windows(value, True)
            else:
                assert not mapper.is_kept(images[i])
                # only the forced leading flips (and the IPv4 embedded in IPv6) differ from pure Crypto-PAn
                policy = mapper.policies[len(a)]
                depth = policy.forced_depth(value)
                assert common_prefix(images[i], a) >= depth
                differ = int.from_bytes(images[i], "big") ^ int.from_bytes(pure.anonymize(a), "big")
                for first, _ in embedded.windows(value, False) if len(a) == 16 else ():
                    differ &= ~embedded.window_mask(first)
                assert differ & ((1 << (8 * len(a) - depth)) - 1) == 0

    check()


def test_class_preservation_keeps_private_private():
    mapper = AddressMapper(KEY, preserve_class=True)
    private = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]
    rng = random.Random(7)
    for net in private:
        for _ in range(200):
            a = (int(net.network_address) + rng.getrandbits(net.max_prefixlen - net.prefixlen)).to_bytes(
                net.max_prefixlen // 8, "big"
            )
            assert ipaddress.ip_address(mapper.anonymize(a)) in net
    for _ in range(2000):
        a = rng.getrandbits(32).to_bytes(4, "big")
        inside = any(ipaddress.ip_address(a) in n for n in private[:3])
        assert any(ipaddress.ip_address(mapper.anonymize(a)) in n for n in private[:3]) == inside


def test_same_key_same_mapping_in_another_object():
    addresses = [os.urandom(4) for _ in range(50)] + [os.urandom(16) for _ in range(20)]
    one, two = AddressMapper(KEY), AddressMapper(bytes(KEY))
    assert [one.anonymize(a) for a in addresses] == [two.anonymize(a) for a in addresses]
    other = AddressMapper(bytes(31) + b"\x01")
    assert [one.anonymize(a) for a in addresses] != [other.anonymize(a) for a in addresses]


def test_special_policies_reject_unknown_keep():
    with pytest.raises(ValueError):
        special_policies("everything")


EMBEDDED = [  # (IPv6 text, where its IPv4 is: (first bit, inverted) ...)
    ("::ffff:10.1.2.3", ((96, False),)),
    ("64:ff9b::192.0.2.33", ((96, False),)),
    ("::10.1.2.3", ((96, False),)),
    ("2002:c000:221::1", ((16, False),)),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", ((32, False), (96, True))),
    ("fe80::5efe:10.1.2.3", ((96, False),)),
    ("fe80::200:5efe:192.168.1.1", ((96, False),)),
]


@pytest.mark.parametrize(("address", "windows"), EMBEDDED)
def test_ipv4_embedded_in_ipv6_takes_the_ipv4_mapping(address, windows):
    mapper = AddressMapper(KEY)
    value = int(ipaddress.ip_address(address))
    image = int.from_bytes(mapper.anonymize(packed(address)), "big")
    assert image != value
    for first, inverted in windows:
        v4 = embedded.window_value(value, first, inverted)
        assert embedded.window_value(image, first, inverted) == mapper.anonymize_int(v4, 32)
    first = windows[0][0]
    assert image >> (128 - first) == value >> (128 - first)  # the form's prefix stays


def test_embedded_forms_stay_one_to_one_and_prefix_preserving():
    mapper = AddressMapper(KEY)
    rng = random.Random(5)
    bases = [int(ipaddress.ip_address(a)) for a, _ in EMBEDDED] + [0, 1, int(ipaddress.ip_address("fe80::"))]
    addresses = {b ^ rng.getrandbits(rng.choice((8, 24, 40, 64, 100))) for b in bases for _ in range(300)}
    addresses = [a.to_bytes(16, "big") for a in addresses]
    images = [mapper.anonymize(a) for a in addresses]
    assert len(set(images)) == len(images)
    for _ in range(20000):
        i, j = rng.randrange(len(addresses)), rng.randrange(len(addresses))
        assert common_prefix(addresses[i], addresses[j]) == common_prefix(images[i], images[j])


def test_special_ipv6_keep_their_ipv4_free_forms_and_none_is_pure():
    mapper = AddressMapper(KEY)
    for address in ("::", "::1", "fe80::1", "fe80::5efe:0:0:1"):
        assert mapper.anonymize(packed(address)) == packed(address)
    pure = CryptoPAn(KEY)
    for address, _ in EMBEDDED:
        assert AddressMapper(KEY, "none").anonymize(packed(address)) == pure.anonymize(packed(address))
