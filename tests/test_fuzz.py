"""Seeded mutation campaigns over real captures: header lengths and flags that lie (SPEC §2.4),
and record bytes that lie.

For each trial one frame of a real capture gets one or two of its length or flag fields
changed (located with scapy, not with our dissector). The run must succeed without an
internal error; in the mutated frame no byte of original content may be kept that the run
on the unmutated capture zeroed, and no original address of that frame may survive in any
form anywhere in the output. In the second campaign the first bytes of a transport payload
(where record headers and handshake message headers are) are mutated, and mask may keep
nothing the independent model (`mask_model`) zeroes.
"""

from __future__ import annotations

import ipaddress
import random

import leakcheck
import mask_model
import oracle
import pytest
from conftest import SHARED_CAPTURES, missing
from craft import pcap_bytes
from scapy.contrib.geneve import GENEVE
from scapy.contrib.gtp import GTP_U_Header
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror
from scapy.layers.inet6 import IPerror6, IPv6, _IPv6ExtHdr
from scapy.layers.l2 import ARP, CookedLinuxV2, Ether
from scapy.layers.vxlan import VXLAN
from test_mask_tcp import mask_frames

import pktmask_nb
from pktmask_nb import Config
from pktmask_nb.config import AnonymizeConfig

CAPTURES = [
    "tls_1_2_single_vlan.pcap",
    "gre-sample.pcap",
    "vxlan.pcap",
    "geneve.pcap",
    "gtp7_ipv6.pcap",
    "ipv6-fragmented-dns.pcap",
    "pppoe.pcap",
    "mpls-in-vlan.pcap",
    "http-qinq-0.pcap",
    "smtp-starttls.pcap",
    "4in6.pcap",
    "6in4.pcap",
    "icmp6-destunreach-ip6ext-trunc.pcap",
    "truncated-header.pcap",
    "linux_dlt_sll2.pcap",
    "tls13_wolfssl.pcap",
]
TRIALS_PER_CAPTURE = 100
MAX_FRAMES = 120
CONFIG = Config(
    stages=("anonymize", "mask"), anonymize=AnonymizeConfig(key=bytes(range(7, 39)), keep="none"), chunk_size=64
)  # no dedup: a mutation may make a duplicate

# layer -> (byte offset in the layer, mask of the bits that are a length or a flag)
FIELDS = {
    IP: [(0, 0x0F), (2, 0xFF), (3, 0xFF), (6, 0xFF), (7, 0xFF)],
    IPerror: [(0, 0x0F), (2, 0xFF), (3, 0xFF), (6, 0xFF)],
    IPv6: [(4, 0xFF), (5, 0xFF)],
    IPerror6: [(4, 0xFF), (5, 0xFF)],
    _IPv6ExtHdr: [(1, 0xFF)],
    TCP: [(12, 0xF0), (13, 0xFF)],
    TCPerror: [(12, 0xF0)],
    UDP: [(4, 0xFF), (5, 0xFF)],
    UDPerror: [(4, 0xFF), (5, 0xFF)],
    GRE: [(0, 0xFF), (1, 0xFF)],
    VXLAN: [(0, 0xFF)],
    GENEVE: [(0, 0xFF)],
    GTP_U_Header: [(0, 0xFF), (2, 0xFF), (3, 0xFF)],
    ARP: [(4, 0xFF), (5, 0xFF)],
    ICMP: [(5, 0xFF)],
    MPLS: [(2, 0x01)],
}
LINKTYPES = {1: Ether, 276: CookedLinuxV2}


def fields_of(frame: bytes, linktype: int) -> list[tuple[int, int]]:
    """``(frame offset, mask)`` of every length and flag field scapy finds."""
    pkt = LINKTYPES[linktype](frame)
    found = []
    for layer in pkt.iterpayloads():
        for cls, fields in FIELDS.items():
            if isinstance(layer, cls):
                at = len(frame) - len(bytes(layer))
                found += [(at + o, mask) for o, mask in fields if at + o < len(frame)]
                if cls in (IP, IPerror) and layer.ihl and layer.ihl > 5:  # option length bytes
                    found += [(at + o, 0xFF) for o in range(21, layer.ihl * 4, 2) if at + o < len(frame)]
                if cls is TCP and layer.dataofs and layer.dataofs > 5:
                    found += [(at + o, 0xFF) for o in range(21, layer.dataofs * 4, 2) if at + o < len(frame)]
    return found


def addresses_of(frame: bytes, linktype: int) -> set[str]:
    pkt = LINKTYPES[linktype](frame)
    found = set()
    for layer in pkt.iterpayloads():
        for name in ("src", "dst", "psrc", "pdst"):
            value = getattr(layer, name, None) if isinstance(layer, IP | IPv6 | ARP) else None
            if isinstance(value, str):
                try:
                    ipaddress.ip_address(value)
                except ValueError:
                    continue
                found.add(value)
    return found


def mutate(rng: random.Random, frame: bytes, fields) -> bytes:
    buf = bytearray(frame)
    for at, mask in rng.sample(fields, min(len(fields), rng.choice((1, 1, 2)))):
        old = buf[at]
        value = rng.choice(
            (0, 0xFF, (old + 1) & 0xFF, (old - 1) & 0xFF, old ^ (1 << rng.randrange(8)), rng.randrange(256))
        )
        buf[at] = (old & ~mask) | (value & mask)
    return bytes(buf)


def sanitize(tmp_path, name: str, frames, linktype: int) -> list[bytes]:
    src, out = tmp_path / f"{name}.pcap", tmp_path / f"{name}-out.pcap"
    src.write_bytes(pcap_bytes(frames, linktype))
    result = pktmask_nb.run(src, out, CONFIG, force=True)
    assert result.stages["mask"]["errors"] == 0, "an internal error (it fails closed, but it is a bug)"
    return [d for d, _, _ in oracle.frames(out)], out.read_bytes()


def campaign(capture: str, count: int, finder):
    """The first `count` frames of a shared capture, its link type, and ``(index, fields)`` of
    the frames in which `finder` finds fields to mutate."""
    path = SHARED_CAPTURES / capture
    if not path.exists():
        missing(str(path))
    records = oracle.frames(path)[:count]
    linktype = records[0][2]
    frames = [d for d, _, _ in records]
    candidates = [(i, f) for i, f in ((i, finder(f, linktype)) for i, f in enumerate(frames)) if f]
    return frames, linktype, candidates


@pytest.mark.parametrize("capture", CAPTURES)
def test_mutated_headers_keep_nothing_the_true_ones_zeroed(capture, tmp_path):
    frames, linktype, candidates = campaign(capture, MAX_FRAMES, fields_of)
    reference, _ = sanitize(tmp_path, "reference", frames, linktype)
    rng = random.Random(capture)
    tried = 0
    for trial in range(TRIALS_PER_CAPTURE):
        i, fields = rng.choice(candidates)
        mutated = mutate(rng, frames[i], fields)
        if mutated == frames[i]:
            continue
        outputs, whole = sanitize(tmp_path, f"trial{trial}", frames[:i] + [mutated] + frames[i + 1 :], linktype)
        out, original, ref = outputs[i], frames[i], reference[i]
        kept = [p for p in range(len(original)) if out[p] and out[p] == original[p] == mutated[p] and not ref[p]]
        assert kept == [], f"trial {trial}: frame {i + 1} keeps bytes {kept[:12]} the true frame had zeroed"
        assert leakcheck.findings(whole, addresses_of(original, linktype)) == [], f"trial {trial}, frame {i + 1}"
        tried += 1
    assert tried >= TRIALS_PER_CAPTURE // 2


TLS_CAPTURES = [
    "tls_1_2_single_vlan.pcap",
    "hrr.pcap",
    "smtp-starttls.pcap",
    "dtls1_2.pcap",
    "tls13_wolfssl.pcap",
    "ssl-v2.pcap",
    "ssl_3.pcap",
    "tls_1_3_0-RTT-2_22_23_mix.pcap",
    "tls-fragmented-handshake.pcap.gz",
    "tls_1_0_multi_segment_google-https.pcap",
    "handshake-reorder.pcap",
]
PAYLOAD_TRIALS, PAYLOAD_DEPTH, PAYLOAD_FRAMES = 80, 24, 60


def payload_fields(frame: bytes, linktype: int) -> list[tuple[int, int]]:
    """``(frame offset, 0xFF)`` of the first bytes of the TCP or UDP payload scapy finds."""
    for layer in LINKTYPES[linktype](frame).iterpayloads():
        if isinstance(layer, TCP | UDP):
            size = len(bytes(layer.payload))
            return [(at, 0xFF) for at in range(len(frame) - size, len(frame) - size + min(size, PAYLOAD_DEPTH))]
    return []


@pytest.mark.parametrize("capture", TLS_CAPTURES)
def test_mutated_records_keep_nothing_the_model_zeroes(capture):
    # Found this way: a type byte that said alert, heartbeat or handshake kept any body, and a
    # heartbeat's payload was kept (SPEC §6 keeps it whole; content, so the allowlist does not).
    frames, linktype, candidates = campaign(capture, PAYLOAD_FRAMES, payload_fields)
    rng = random.Random(f"payload-{capture}")
    for trial in range(PAYLOAD_TRIALS):
        i, fields = rng.choice(candidates)
        mutated = frames[:i] + [mutate(rng, frames[i], fields)] + frames[i + 1 :]
        out, _ = mask_frames(mutated, chunk_size=7, linktype=linktype)
        ins = [(f, linktype) for f in mutated]
        found = mask_model.compare(ins, [(f, linktype) for f in out], mask_model.expected(ins))
        assert found["leaks"] == [] and found["corrupt"] == [], f"trial {trial}, frame {i + 1}: {found['leaks'][:8]}"
