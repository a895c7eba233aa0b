"""unmap: the key holder maps anonymized addresses back (SPEC §5), exactly, for every policy."""

from __future__ import annotations

import csv
import ipaddress
import random
import subprocess
import sys

import pytest
from conftest import DATA

from pktmask_nb.anon import AddressMapper

KEYS = [bytes(random.Random(seed).getrandbits(8) for _ in range(32)) for seed in (1, 2, 3)]
FORMS = [int(ipaddress.ip_address(t)) for t in ("::ffff:0:0", "64:ff9b::", "2002::", "2001::", "fe80::", "ff02::1:ff00:0", "fc00::")]  # fmt: skip


def addresses(rng: random.Random, n: int) -> list[tuple[int, int]]:
    """``(value, width)``: uniform IPv4 and IPv6, and addresses near the kept ranges and the
    IPv6 forms that embed IPv4 (where the inverse has the most to get right)."""
    out = []
    for i in range(n):
        v4 = rng.getrandbits(32)
        kind = i % 8
        if kind == 0:
            out.append((v4, 32))
        elif kind == 1:  # loopback, link-local, multicast, private, this-network, broadcast
            out.append((rng.choice([127, 169, 224, 239, 10, 172, 192, 0, 255]) << 24 | rng.getrandbits(24), 32))
        elif kind == 2:
            out.append((rng.getrandbits(128), 128))
        elif kind == 3:  # IPv4-mapped, NAT64, compatible, 6to4, Teredo (server and inverted client)
            prefix = rng.choice(FORMS[:2])
            out.append(rng.choice([(prefix | v4, 128), (v4, 128), (rng.getrandbits(24), 128),
                                   (FORMS[2] | v4 << 80 | rng.getrandbits(80), 128),
                                   (FORMS[3] | v4 << 64 | rng.getrandbits(32) << 32 | (v4 ^ 0xFFFFFFFF), 128)]))  # fmt: skip
        elif kind == 4:  # link-local ISATAP, solicited-node multicast, other multicast
            out.append(rng.choice([(FORMS[4] | rng.choice([0x5EFE, 0x2005EFE]) << 32 | v4, 128),
                                   (FORMS[5] | rng.getrandbits(24), 128), (0xFF << 120 | rng.getrandbits(120), 128)]))  # fmt: skip
        elif kind == 5:  # next to kept prefixes: 2001::/16 beside Teredo, unique local
            out.append((rng.choice([0x2001 << 112, FORMS[6]]) | rng.getrandbits(105), 128))
        else:
            out.append((rng.getrandbits(32), 32) if kind == 6 else (rng.getrandbits(128), 128))
    return out


@pytest.mark.parametrize("policy", [("special", False), ("special", True), ("none", False)], ids=str)
@pytest.mark.parametrize("key", range(3))
def test_unmap_recovers_every_address_exactly(key, policy):
    keep, preserve_class = policy
    mapper = AddressMapper(KEYS[key], keep, preserve_class=preserve_class)
    cases = addresses(random.Random(f"{key}{policy}"), 10_000)
    wrong = [(v, w) for v, w in cases if mapper.original_int(mapper.anonymize_int(v, w), w) != v]
    assert wrong == []
    assert sum(mapper.anonymize_int(v, w) != v for v, w in cases) > 5_000  # the map does move addresses


def test_the_inverse_is_not_a_copy_of_the_forward_map():
    mapper = AddressMapper(KEYS[0])
    address = ipaddress.ip_address("192.0.2.45").packed
    assert mapper.original(mapper.anonymize(address)) == address != mapper.anonymize(address)
    assert mapper.anonymize(mapper.original(address)) == address  # a bijection: either way round


def cli(*args, stdin=None):
    cmd = [sys.executable, "-m", "pktmask_nb.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, input=stdin)


def test_cli_maps_a_runs_mapping_back(tmp_path):
    key = "3c" * 32
    for extra in ([], ["--anon-preserve-class"]):
        mapping = tmp_path / "m.csv"
        done = cli("run", DATA / "tls_http.pcap", "-o", tmp_path / "o.pcap", "--key", key, "--force", "-q",
                   "--mapping-out", mapping, *extra)  # fmt: skip
        assert done.returncode == 0, done.stderr
        back = cli("unmap", "--key", key, "--csv", mapping, *extra)
        rows = list(csv.DictReader(back.stdout.splitlines()))
        assert back.returncode == 0 and rows and all(r["anonymized_original"] == r["original"] for r in rows)
        first = rows[0]
        line = cli("unmap", "--key", key, *extra, first["anonymized"])
        assert line.stdout == f"{first['anonymized']} -> {first['original']}\n"
    key_file = tmp_path / "key"
    key_file.write_text(key + "\n")
    assert cli("unmap", "--key-file", key_file, *extra, "--csv", "-", stdin=mapping.read_text()).stdout == back.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["1.2.3.4"], "unmap needs the run's key: --key or --key-file"),
        (["--key", "00" * 32, "nope"], "address 1: not an IPv4, IPv6 or MAC address: 'nope'"),
        (["--key", "00" * 32], "give addresses, or --csv FILE, not both or neither"),
        (["--key", "00" * 32, "--csv", "/nonexistent.csv"], "/nonexistent.csv: cannot read: No such file"),
    ],
)
def test_cli_errors_are_one_line(args, message):
    done = cli("unmap", *args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
