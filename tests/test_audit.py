"""The leak audit (SPEC §8): clean on the pipeline's output, every planted leak named, three
verdicts, and a pair that does not correspond is an error."""

from __future__ import annotations

import json
import os
import pathlib
import random
import re
import struct
import subprocess
import sys
import tracemalloc
from collections import deque

import craft
import pytest
import test_damage
import test_leakproof
from captures import block, epb, idb, shb, untidy_pcapng
from conftest import SHARED_CAPTURES, missing, shared_capture_paths
from craft import Flow, app_data, dtls_handshake, dtls_record, handshake
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import pktmask_nb
from pktmask_nb import AuditFailed, AuditMismatch, UsageError, open_capture
from pktmask_nb.audit import AuditReport, audit
from pktmask_nb.audit.layers import ADDR, PAY, ZERO, read
from pktmask_nb.audit.streams import KEPT_TAIL, FirstCopies, StreamReader
from pktmask_nb.config import AnonymizeConfig, Config, MaskConfig
from pktmask_nb.record import Packet

KEY = bytes(range(32))
CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
CLIENT_BYTES = bytes([10, 0, 0, 1])
HELLO = handshake(200)  # 209 bytes: a record holding one handshake message
OLD_OUTPUTS = pathlib.Path(__file__).parent / "fixtures" / "old_outputs"
# (capture, http_headers) -> the one original address whose bytes the kept data holds by chance:
# in mpls-in-vlan.pcap the address is 65.65.65.65 and its HTTP headers are runs of "A" (0x41).
COINCIDENCES = {("mpls-in-vlan.pcap", True): "65.65.65.65"}
# What the audit does not read, and says so: the masker keeps these preludes' framing.
UNREAD = {"ldap-starttls", "xmpp-starttls"}


def sanitize(src, dst, stages=("dedup", "anonymize", "mask"), http=False, keep_metadata=False):
    mask = MaskConfig(keep=("http-headers",) if http else ())
    config = Config(
        stages=stages, anonymize=AnonymizeConfig(key=KEY), mask=mask, keep_metadata=keep_metadata, processes=1
    )
    pktmask_nb.run(src, dst, config, force=True)
    return dst


def packets_at(path) -> list[tuple[int, Packet]]:
    """Every packet with the file offset of its first data byte (of the decompressed file)."""
    out, pos = [], 0
    with open_capture(path) as reader:
        for record in reader:
            if isinstance(record, Packet):
                out.append((pos + len(record.head), record))
                pos += len(record.head) + len(record.data) + len(record.tail)
            else:
                pos += len(record.raw)
    return out


def payload_at(path, frame: int) -> int:
    """File offset of the transport payload of `frame` (1-based)."""
    base, packet = packets_at(path)[frame - 1]
    return base + read(packet.data, packet.linktype).payload[4]


def plant(path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset : offset + len(data)] = data
    path.write_bytes(bytes(raw))


def tls_capture(tmp_path, name="tls.pcap"):
    """Handshake, then a client segment: a handshake record and a 300-byte application-data record."""
    f = Flow(client=(CLIENT, 40000), server=(SERVER, 443))
    frames = f.handshake() + [f.frame(True, HELLO + app_data(300)), f.frame(False, handshake(100, kind=2))]
    return craft.write(tmp_path / name, frames)


def findings(report: AuditReport, kind: str) -> list:
    return [f for f in report.findings if f.kind == kind]


# -- no false alarms -------------------------------------------------------------------------------


@pytest.mark.parametrize("http", [False, True], ids=["mask", "http-headers"])
def test_pipeline_output_of_every_shared_capture_audits_clean(shared_capture, tmp_path, http):
    out = sanitize(shared_capture, tmp_path / shared_capture.name.removesuffix(".gz"), http=http)
    report = audit(shared_capture, out, http_headers=http, raise_on_findings=False)
    assert report.packets > 0 and report.undecided == {}
    coincidence = COINCIDENCES.get((shared_capture.name, http))
    if coincidence is None:
        assert report.verdict == "clean", [str(f) for f in report.findings[:5]]
        return
    assert report.counts == {**dict.fromkeys(report.counts, 0), "address": len(report)}
    assert all(f.coincidence and f.detail == f"{coincidence} in http-head" for f in report.findings)


@pytest.mark.parametrize("name", list(test_leakproof.ALL))
def test_pipeline_output_of_every_crafted_header_case_audits_clean(name, tmp_path):
    case = test_leakproof.ALL[name]
    src, out, _ = test_leakproof.run_case(case, tmp_path, "default")
    report = audit(src, out, http_headers="http-headers" in case.keep, raise_on_findings=False)
    assert report.verdict == "clean", report.summary()


@pytest.mark.parametrize("name", list(test_damage.CASES) + list(test_damage.PARSED))
def test_pipeline_output_of_every_protocol_case_audits_clean_or_says_why_not(name, tmp_path):
    case = test_damage.CASES.get(name)
    frames = test_damage.dialogue(*case) if case else test_damage.PARSED[name]()
    src, out = test_damage.masked(tmp_path, frames, ())
    report = audit(src, out, raise_on_findings=False)
    if name not in UNREAD:
        assert report.verdict == "clean", report.summary()
        return
    assert report.verdict == "undecided" and list(report.undecided) == ["prelude-not-read-by-the-audit (ldap, xmpp)"]
    assert report.summary().endswith("non-zero bytes not judged (prelude-not-read-by-the-audit (ldap, xmpp) "
                                     f"{report.undecided_bytes})")  # fmt: skip


def test_clean_output_of_crafted_flows(tmp_path):
    report = audit(tls_capture(tmp_path), sanitize(tmp_path / "tls.pcap", tmp_path / "out.pcap"))
    assert report.ok and len(report) == 0 and report.undecided_bytes == 0 and report.undecided == {}
    assert report.addresses == {"ipv4": 2, "ipv6": 0}
    assert report.summary().endswith("clean (5 packets)")


# -- every planted leak is named --------------------------------------------------------------------


def zeroed_spans(original: Packet, sanitized: Packet) -> list[tuple[int, int]]:
    """Payload and zeroed header regions of the original that the sanitized copy changed."""
    out = []
    for start, end, cls, _ in read(original.data, original.linktype, original.wirelen).regions:
        changed = original.data[start:end] != sanitized.data[start:end]
        if cls in (PAY, ZERO) and changed and any(original.data[start:end]):
            out.append((start, end))
    return out


def header_span(original: Packet, size: int) -> int:
    """Where `size` bytes fit in header bytes that are no address: an option value if the frame
    has one, else any run of header fields; -1 if none does."""
    regions = read(original.data, original.linktype, original.wirelen).regions
    for start, end, _, label in regions:
        if "option" in label and end - start >= size:
            return start
    run_start = run_end = -1
    for start, end, cls, _ in regions:
        if cls in (ADDR, PAY):
            run_start = -1
            continue
        if run_start < 0 or start != run_end:
            run_start = start
        run_end = end
        if run_end - run_start >= size:
            return run_start
    return -1


HTTP_START = re.compile(rb"[A-Z]+ \S+ HTTP/1\.[01]\r\n|HTTP/1\.[01] \d{3}")


def starts_http(packet: Packet) -> bool:
    payload = read(packet.data, packet.linktype).payload
    return payload is not None and HTTP_START.match(bytes(packet.data[payload[4] : payload[5]])) is not None


def plant_leaks(src, out, planted_out, rng: random.Random, frames: int = 3) -> dict[str, set[int]]:
    """Writes `planted_out`: `out` with leaks planted; returns the frames planted, by leak:
    original payload (or zeroed header bytes) restored in random frames and in the first HTTP
    message whose head was not kept whole (a body, a sensitive header), an original address
    written into a header field (an option where there is one)."""
    originals = {}
    for _, p in packets_at(src):
        originals.setdefault((p.ts, len(p.data)), p)  # dedup keeps the first of equal frames
    raw, planted = bytearray(pathlib.Path(out).read_bytes()), {}
    pairs = [(base, s, originals[s.ts, len(s.data)]) for base, s in packets_at(out)]
    restorable = [(base, s, o) for base, s, o in pairs if zeroed_spans(o, s)]
    heads = [(b, s, o) for b, s, o in restorable if starts_http(o)]
    for leak, chosen in (("payload", rng.sample(restorable, min(frames, len(restorable)))), ("http", heads[:1])):
        for base, s, o in chosen:  # the HTTP head of a message with a body or a sensitive header
            for start, end in zeroed_spans(o, s):
                raw[base + start : base + end] = o.data[start:end]
            planted.setdefault(leak, set()).add(s.index)
    addresses = [bytes(o.data[a : a + n]) for _, _, o in pairs for a, n in read(o.data, o.linktype).addresses()]
    addresses = [a for a in addresses if a[0] not in (0, 127, 224, 255, 0xFE, 0xFF)]
    for base, s, o in rng.sample(pairs, len(pairs)) if addresses else ():
        address = rng.choice([a for a in addresses if len(a) == 4] or addresses)
        at = header_span(o, len(address))
        if at >= 0 and s.index not in planted.get("payload", ()):
            raw[base + at : base + at + len(address)] = address
            planted["address"] = {s.index}
            break
    pathlib.Path(planted_out).write_bytes(bytes(raw))
    return planted


def comment_on(path, frame: int, text: bytes) -> None:
    """Adds an opt_comment to the `frame`-th enhanced packet block of a little-endian pcapng."""
    raw = pathlib.Path(path).read_bytes()
    pos, seen = 0, 0
    while pos < len(raw):
        kind, length = struct.unpack_from("<II", raw, pos)
        if kind == 6:
            seen += 1
            if seen == frame:
                captured = struct.unpack_from("<I", raw, pos + 20)[0]
                body_end = pos + 28 + (captured + 3) // 4 * 4
                option = struct.pack("<HH", 1, len(text)) + text + bytes(-len(text) % 4)
                options = raw[body_end : pos + length - 4]
                if not options:
                    options = struct.pack("<HH", 0, 0)
                options = option + options
                new = raw[pos:body_end] + options + struct.pack("<I", body_end - pos + len(options) + 4)
                new = new[:4] + struct.pack("<I", len(new)) + new[8:]
                pathlib.Path(path).write_bytes(raw[:pos] + new + raw[pos + length :])
                return
        pos += length
    raise ValueError(f"no enhanced packet block {frame}")


@pytest.mark.parametrize("http", [False, True], ids=["mask", "http-headers"])
@pytest.mark.parametrize("path", shared_capture_paths() or [None], ids=lambda p: p.name if p else "missing")
def test_every_planted_leak_is_named(path, http, tmp_path):
    if path is None:
        missing(str(SHARED_CAPTURES))
    rng = random.Random(f"{path.name}/{http}")
    out = sanitize(path, tmp_path / path.name.removesuffix(".gz"), http=http)
    planted_out = tmp_path / f"planted-{out.name}"
    planted = plant_leaks(path, out, planted_out, rng)
    if out.suffix == ".pcapng":
        frame = rng.randrange(len(packets_at(out))) + 1
        comment_on(planted_out, frame, b"the database password is hunter2")
        planted["metadata"] = {frame}
    if not planted:  # icmp6-destunreach-ip6ext-trunc.pcap: link-local addresses, no payload
        assert [p.data for _, p in packets_at(out)] == [p.data for _, p in packets_at(path)]
        return
    assert planted_out.read_bytes() != out.read_bytes()
    report = audit(path, planted_out, http_headers=http, limit=1 << 20, raise_on_findings=False)
    named = {f.frame for f in report.findings}
    for leak, frames in planted.items():
        assert frames <= named, (leak, sorted(frames - named), report.summary())
    assert all(any(f.kind == "address" and f.frame == n for f in report.findings) for n in planted.get("address", ()))
    assert report.verdict == "findings"


def test_planting_changes_the_output_and_a_clean_one_stays_clean(tmp_path):
    """Guards the test above: its plants change bytes the audit reads, and without them it is clean."""
    src = tls_capture(tmp_path)
    out = sanitize(src, tmp_path / "out.pcap")
    planted = plant_leaks(src, out, tmp_path / "planted.pcap", random.Random(1))
    assert audit(src, out).ok
    assert planted["payload"] and planted["address"]
    changed = {
        s.index for (_, s), (_, p) in zip(packets_at(out), packets_at(tmp_path / "planted.pcap")) if s.data != p.data
    }
    assert changed == planted["payload"] | planted["address"]


# -- each rule fires -------------------------------------------------------------------------------


def test_original_against_itself_fails_with_address_findings(tmp_path):
    src = tls_capture(tmp_path)
    with pytest.raises(AuditFailed) as caught:
        audit(src, src)
    text = str(caught.value)
    assert "\n" not in text and text.startswith(f"{src} -> {src}: ") and "findings (address 10" in text
    report = caught.value.report
    assert report.counts["address"] == 10 and report.counts["tls_app_data"] == 1  # 2 addresses x 5 frames
    first = report.findings[0]
    assert (first.kind, first.frame, first.where, first.coincidence) == ("address", 1, "address-field", False)
    assert first.offset == 24 + 16 + 14 + 12 and first.detail == f"{CLIENT} in the ipv4 source address field"


@pytest.mark.parametrize("name", sorted(p.name.removesuffix(".in.pcap") for p in OLD_OUTPUTS.glob("*.in.pcap")))
def test_the_old_pipelines_leaks_are_findings(name):
    """Outputs of the pipeline before the leak-proof redesign (made by fixtures/make_old_outputs.py)."""
    case = test_leakproof.ALL[name]
    report = audit(
        OLD_OUTPUTS / f"{name}.in.pcap",
        OLD_OUTPUTS / f"{name}.out.pcap",
        http_headers="http-headers" in case.keep,
        raise_on_findings=False,
    )
    assert report.verdict == "findings", report.summary()


def test_the_old_outputs_are_all_there():
    assert len(list(OLD_OUTPUTS.glob("*.in.pcap"))) == len(list(OLD_OUTPUTS.glob("*.out.pcap"))) >= 30


def test_address_planted_in_a_payload(tmp_path):
    out = sanitize(tls_capture(tmp_path), tmp_path / "out.pcap")
    at = payload_at(out, 4) + len(HELLO) + 5 + 10  # inside the application-data body
    plant(out, at, CLIENT_BYTES)
    report = audit(tmp_path / "tls.pcap", out, raise_on_findings=False)
    [found] = findings(report, "address")
    assert (found.frame, found.offset, found.where, found.coincidence) == (4, at, "payload", True)
    assert found.detail == f"{CLIENT} in tls-application-data" and found.layer == "tls-application-data"
    assert report.counts["tls_app_data"] == 2  # the same bytes are application data: 0a, (00 00), 01


@pytest.mark.parametrize(
    "text",
    [
        b"10.0.0.1",
        b"::ffff:10.0.0.1",
        b"0a000001",
        b"1.0.0.10.in-addr.arpa",
        b"\x011\x010\x010\x0210\x07in-addr\x04arpa",
    ],
)
def test_an_address_in_any_encoding_is_found(text, tmp_path):
    out = sanitize(tls_capture(tmp_path), tmp_path / "out.pcap")
    at = payload_at(out, 4) + len(HELLO) + 5 + 10
    plant(out, at, text)
    report = audit(tmp_path / "tls.pcap", out, raise_on_findings=False)
    assert [f.offset for f in findings(report, "address")] == [at], [str(f) for f in report.findings]


def test_nonzero_byte_in_a_tls_application_data_body(tmp_path):
    out = sanitize(tls_capture(tmp_path), tmp_path / "out.pcap")
    body = payload_at(out, 4) + len(HELLO) + 5
    plant(out, body - 100, b"\x99")  # inside the kept handshake record, changed: not the original
    report = audit(tmp_path / "tls.pcap", out, raise_on_findings=False)
    assert report.verdict == "undecided" and list(report.undecided) == ["changed bytes in tls-handshake"]
    out = sanitize(tls_capture(tmp_path), tmp_path / "out.pcap")
    plant(out, body + 299, b"\x01")  # the body's last byte
    report = audit(tmp_path / "tls.pcap", out, raise_on_findings=False)
    assert report.counts == {**dict.fromkeys(report.counts, 0), "tls_app_data": 1}
    [found] = report.findings
    assert (found.frame, found.offset, report.nonzero_bytes) == (4, body + 299, 1)
    assert found.detail == "1 non-zero byte in tls-application-data"


def test_nonzero_bytes_in_zeroed_payloads(tmp_path):
    f = Flow(client=(CLIENT, 40000), server=(SERVER, 80))
    frames = f.handshake() + [f.frame(True, b"GET /secret HTTP/1.1\r\nHost: example.com\r\n\r\n")]
    frames.append(craft.udp_frame(b"\x12\x34" + bytes(30), src=(CLIENT, 5353), dst=(SERVER, 53)))
    frames.append(craft.udp_frame(b"x" * 4, src=(CLIENT, 1), dst=(SERVER, 2)) + b"TRAILER!")
    src = craft.write(tmp_path / "in.pcap", frames)
    out = sanitize(src, tmp_path / "out.pcap")
    assert audit(src, out).ok
    plant(out, payload_at(out, 4) + 5, b"s")
    plant(out, payload_at(out, 5) + 1, b"\x34")
    plant(out, packets_at(out)[5][0] + 14 + 20 + 8 + 4 + 1, b"R")  # the Ethernet trailer
    report = audit(src, out, raise_on_findings=False)
    assert [(f.frame, f.kind, f.where) for f in report.findings] == [
        (4, "payload", "payload"),
        (5, "payload", "payload"),
        (6, "payload", "payload"),
    ]
    assert [f.layer for f in report.findings] == ["payload (must be zero)"] * 2 + ["trailer"]


def test_pcapng_metadata_kept_by_keep_metadata(tmp_path):
    packet = craft.udp_frame(bytes(20), src=(CLIENT, 1000), dst=(SERVER, 2000))
    secrets = struct.pack("<II", 0x544C534B, 12) + b"CLIENT_RANDO"  # a TLS key log
    names = struct.pack("<HH", 1, 16) + bytes([10, 0, 0, 2]) + b"server.local" + struct.pack("<HH", 0, 0)
    data = (
        shb(opts=[(1, b"captured at the customer")])
        + idb(opts=[(2, b"eth0"), (3, b"uplink to the bank")])
        + block(0x0A, secrets)
        + block(4, names)
        + block(0x0BADC0DE, b"vendor data")
        + epb(packet, opts=[(1, b"the interesting one")])
    )
    src = tmp_path / "in.pcapng"
    src.write_bytes(data)
    assert audit(src, sanitize(src, tmp_path / "scrubbed.pcapng")).ok
    report = audit(src, sanitize(src, tmp_path / "kept.pcapng", keep_metadata=True), raise_on_findings=False)
    details = [f.detail for f in report.findings]
    assert details[:5] == [
        "SHB comment (24 bytes)",
        "IDB if_name (4 bytes)",
        "IDB if_description (18 bytes)",
        "Decryption Secrets Block (32 bytes)",
        "Name Resolution Block with 1 name records",
    ]
    assert f"{SERVER} in pcapng block 0x00000004" in details  # the NRB's address record
    assert details[-1] == "EPB comment (19 bytes)" and report.findings[-1].frame == 1
    assert {f.where for f in report.findings} == {"container"} and report.findings[0].frame is None


def test_pcapng_bytes_no_field_describes_are_findings_when_not_zero(tmp_path):
    """Padding, an IDB's reserved field, bytes after the options or after an SPB's packet:
    kept by --keep-metadata they are findings, scrubbed they are zeros or gone."""
    odd = craft.udp_frame(b"odd!!", src=(CLIENT, 1000), dst=(SERVER, 2000))
    frame = craft.udp_frame(b"even", src=(CLIENT, 1000), dst=(SERVER, 2000))
    src = tmp_path / "in.pcapng"
    src.write_bytes(untidy_pcapng("<", odd, frame)[0])
    assert audit(src, sanitize(src, tmp_path / "scrubbed.pcapng", stages=("anonymize", "mask"))).ok
    kept = sanitize(src, tmp_path / "kept.pcapng", stages=("anonymize", "mask"), keep_metadata=True)
    report = audit(src, kept, raise_on_findings=False)
    found = [(f.frame, f.detail) for f in report.findings if f.kind == "metadata"]
    assert found == [
        (None, "SHB option 3: padding not zero"),
        (None, "IDB reserved field not zero"),
        (None, "IDB option 9: padding not zero"),
        (None, "IDB option 15: padding not zero"),
        (None, "IDB: 12 bytes after its options, not zero"),
        (1, "packet data padding not zero"),
        (1, "EPB: 4 bytes after its options, not zero"),
        (2, "SPB: 8 bytes after its packet, not zero"),
        (3, "packet data padding not zero"),
        (3, "OPB option 4: padding not zero"),
        (None, "ISB: 2 bytes after its options, not zero"),
    ]


def dns_capture(tmp_path):
    """A DNS answer for the server's address, then a TCP connection to it."""
    answer = DNS(id=7, qr=1, qd=DNSQR(qname="www.example.com"), an=DNSRR(rrname="www.example.com", rdata=SERVER))
    dns = bytes(Ether() / IP(src="10.0.0.53", dst=CLIENT) / UDP(sport=53, dport=40001) / answer)
    f = Flow(client=(CLIENT, 40000), server=(SERVER, 443))
    return craft.write(tmp_path / "dns.pcap", [dns] + f.handshake())


def test_anonymize_only_output_reports_addresses_in_dns_answers(tmp_path):
    src = dns_capture(tmp_path)
    report = audit(src, sanitize(src, tmp_path / "anon.pcap", stages=("anonymize",)), raise_on_findings=False)
    [found] = findings(report, "address")
    assert (found.frame, found.where, found.detail) == (1, "payload", f"{SERVER} in payload")
    assert audit(src, sanitize(src, tmp_path / "full.pcap")).ok


def test_anonymize_only_output_of_a_shared_capture_with_dns(tmp_path):
    src = SHARED_CAPTURES / "google-https-cachedlink_plus_sitelink.pcap"
    if not src.exists():
        missing(str(src))
    report = audit(src, sanitize(src, tmp_path / "anon.pcap", stages=("anonymize",)), raise_on_findings=False)
    addresses = findings(report, "address")
    assert addresses and all(f.where == "payload" for f in addresses)


# -- settings, limits, what is not judged ---------------------------------------------------------


def test_special_addresses_are_findings_only_with_keep_none(tmp_path):
    frames = [craft.udp_frame(bytes(8), src=(CLIENT, 5353), dst=("224.0.0.251", 5353))]
    src = craft.write(tmp_path / "mdns.pcap", frames)
    out = sanitize(src, tmp_path / "out.pcap")
    assert audit(src, out).addresses == {"ipv4": 1, "ipv6": 0}
    report = audit(src, out, keep="none", raise_on_findings=False)
    assert [f.detail for f in report.findings] == ["224.0.0.251 in the ipv4 destination address field"]


def test_limit_caps_the_list_but_counts_all_and_chunk_size_changes_nothing(tmp_path):
    src = tls_capture(tmp_path)
    reports = [audit(src, src, limit=3, chunk_size=c, raise_on_findings=False) for c in (1, 2, 4096)]
    assert reports[0].to_dict() == reports[1].to_dict() == reports[2].to_dict()
    report = reports[0]
    assert len(report.findings) == 3 and len(report) == 11 and not report.ok
    assert [f.offset for f in report.findings] == sorted(f.offset for f in report.findings)
    assert json.loads(json.dumps(report.to_dict()))["total_findings"] == 11


def test_a_stream_joined_mid_way_is_judged_not_skipped(tmp_path):
    """Without its SYN a direction is read by the mid-stream rule: the bytes before a chain of
    two record headers are zero, so kept ones are findings (an old audit skipped them)."""
    f = Flow(client=(CLIENT, 40000), server=(SERVER, 443))
    src = craft.write(tmp_path / "mid.pcap", [f.frame(True, app_data(50, fill=0x77))])
    report = audit(src, sanitize(src, tmp_path / "anon.pcap", stages=("anonymize",)), raise_on_findings=False)
    assert report.verdict == "findings" and {(f.frame, f.kind) for f in report.findings} == {(1, "payload")}
    assert audit(src, sanitize(src, tmp_path / "full.pcap")).ok


def test_a_mid_stream_record_header_cut_by_its_segment_is_read(tmp_path):
    from test_mask_tcp import SPLIT_HEADER

    src = craft.write(tmp_path / "split.pcap", SPLIT_HEADER)
    out = sanitize(src, tmp_path / "out.pcap")
    assert payload_at(out, 1) and audit(src, out).ok  # the records kept, and judged kept


def test_cleartext_http2_restored_is_a_finding(tmp_path):
    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")
    f = Flow(client=(CLIENT, 40000), server=(SERVER, 80))
    src = craft.write(tmp_path / "h2c.pcap", f.handshake() + [f.frame(True, preface)])
    out = sanitize(src, tmp_path / "out.pcap", http=True)
    assert audit(src, out, http_headers=True).ok
    plant(out, payload_at(out, 4), preface)
    report = audit(src, out, http_headers=True, raise_on_findings=False)
    assert {(f.frame, f.kind) for f in report.findings} == {(4, "payload")}


def test_reordered_retransmitted_and_lost_segments(tmp_path):
    f = Flow(client=(CLIENT, 40000), server=(SERVER, 443))
    stream = HELLO + app_data(300) + app_data(100)
    segments = f.stream(True, stream, [100, 200, 150])  # 4 segments
    lost = f.frame(True, app_data(20), seq=len(stream) + 50)  # after a gap that never fills
    frames = f.handshake() + [segments[0], segments[2], segments[1], segments[3], segments[1], lost]
    src = craft.write(tmp_path / "in.pcap", frames)
    out = sanitize(src, tmp_path / "out.pcap", stages=("anonymize", "mask"))
    assert audit(src, out).ok
    for frame, at in ((5, 10), (8, 150), (9, 1)):  # out of order, a retransmission, past the gap
        plant(out, payload_at(out, frame) + at, b"\x01")
    report = audit(src, out, raise_on_findings=False)
    assert [(f.frame, f.kind) for f in report.findings] == [(5, "tls_app_data"), (8, "tls_app_data"), (9, "payload")]


def test_starttls_prelude_keeps_only_framing(tmp_path):
    from test_mask_protocols import SMTP, dialogue

    src = craft.write(tmp_path / "smtp.pcap", dialogue(Flow(client=(CLIENT, 40000), server=(SERVER, 25)), SMTP))
    out = sanitize(src, tmp_path / "out.pcap")
    assert audit(src, out).ok
    plant(out, payload_at(out, 5) + 6, b"c")  # the EHLO argument
    report = audit(src, out, raise_on_findings=False)
    assert [(f.frame, f.kind) for f in report.findings] == [(5, "payload")]


def test_an_s_kept_after_a_starttls_line_is_a_finding(tmp_path):
    """Only a PostgreSQL SSLRequest makes a server's first byte "S" protocol framing."""
    from test_mask_protocols import dialogue

    flow = Flow(client=(CLIENT, 40000), server=(SERVER, 2500))
    frames = dialogue(flow, [(True, b"STARTTLS\r\n"), (False, b"Sure\r\n")], then_tls=False)
    src = craft.write(tmp_path / "in.pcap", frames)
    out = sanitize(src, tmp_path / "out.pcap")
    assert audit(src, out).ok
    plant(out, payload_at(out, 5), b"S")
    report = audit(src, out, raise_on_findings=False)
    assert [(f.frame, f.kind) for f in report.findings] == [(5, "payload")]


def test_http_headers_sensitive_values_and_bodies(tmp_path):
    request = b"POST /form HTTP/1.1\r\nCookie: session=s3cr3t\r\nContent-Length: 9\r\n\r\nuser=pass"
    f = Flow(client=(CLIENT, 40000), server=(SERVER, 80))
    src = craft.write(tmp_path / "http.pcap", f.handshake() + [f.frame(True, request)])
    out = sanitize(src, tmp_path / "out.pcap", http=True)
    assert audit(src, out, http_headers=True).ok
    assert audit(src, out, raise_on_findings=False).counts["payload"] >= 1  # headers kept, but not audited so
    start = payload_at(out, 4)
    plant(out, start + request.index(b"s3cr3t"), b"s")
    plant(out, start + len(request) - 1, b"s")
    report = audit(src, out, http_headers=True, raise_on_findings=False)
    assert [(f.offset - start, f.kind) for f in report.findings] == [
        (request.index(b"s3cr3t"), "payload"),
        (len(request) - 1, "payload"),
    ]


def test_dtls_application_data(tmp_path):
    datagram = dtls_handshake(1, 29) + dtls_record(23, b"\x77" * 60, seq=1)
    src = craft.write(tmp_path / "dtls.pcap", [craft.udp_frame(datagram)])
    out = sanitize(src, tmp_path / "out.pcap")
    assert audit(src, out).ok
    plant(out, payload_at(out, 1) + 54 + 13 + 5, b"\x77")
    report = audit(src, out, raise_on_findings=False)
    assert [(f.kind, f.offset - payload_at(out, 1)) for f in report.findings] == [("tls_app_data", 72)]


def test_truncated_original_is_read_up_to_its_last_whole_record(tmp_path):
    src = tls_capture(tmp_path)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(src.read_bytes()[:-10])
    out = tmp_path / "out.pcap"
    with pytest.warns(Warning, match="file ends inside the last record"):
        pktmask_nb.run(cut, out, Config(anonymize=AnonymizeConfig(key=KEY), on_truncated="warn", processes=1))
    report = audit(cut, out)
    assert (report.original_packets, report.packets) == (4, 4) and report.addresses == {"ipv4": 2, "ipv6": 0}
    assert len(report.warnings) == 1 and "file ends inside the last record" in report.warnings[0]
    with pytest.raises(AuditMismatch, match="frame 5 has no original: the original ends first"):
        audit(cut, sanitize(src, tmp_path / "whole.pcap"))


# -- a pair that does not correspond --------------------------------------------------------------


def test_a_pair_that_does_not_correspond_is_an_error(tmp_path):
    src = tls_capture(tmp_path)
    other = craft.write(tmp_path / "other.pcap", [craft.udp_frame(bytes(8))])
    with pytest.raises(AuditMismatch, match="does not correspond to frame 1 of"):
        audit(src, sanitize(other, tmp_path / "other-out.pcap"))
    fewer = craft.write(tmp_path / "fewer.pcap", [p.data for _, p in packets_at(src)][:3])
    with pytest.raises(AuditMismatch):
        audit(src, sanitize(fewer, tmp_path / "fewer-out.pcap"))


def test_frames_dedup_dropped_are_not_a_mismatch(tmp_path):
    f = Flow(client=(CLIENT, 40000), server=(SERVER, 443))
    frames = f.handshake()
    src = craft.write(tmp_path / "dup.pcap", frames + [frames[0]])  # the SYN again, later
    report = audit(src, sanitize(src, tmp_path / "out.pcap"))
    assert report.ok and (report.original_packets, report.packets, report.duplicates) == (4, 3, 1)


def test_bad_settings_and_inputs(tmp_path):
    src = tls_capture(tmp_path)
    for kwargs in ({"keep": "all"}, {"chunk_size": 0}, {"limit": -1}, {"remember_bytes": -1}, {"remember_bytes": 1.5}):
        with pytest.raises(UsageError):
            audit(src, src, **kwargs)
    with pytest.raises(UsageError, match="no such file"):
        audit(src, tmp_path / "missing.pcap")


# -- the CLI -----------------------------------------------------------------------------------------


def cli(*args):
    cmd = [sys.executable, "-m", "pktmask_nb.cli", "audit", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True)


def test_cli_exit_codes_and_lines(tmp_path):
    src = tls_capture(tmp_path)
    out = sanitize(src, tmp_path / "out.pcap")
    done = cli(src, out)
    assert done.returncode == 0 and done.stdout == f"{src} -> {out}: clean (5 packets)\n"
    done = cli(src, src, "--limit", "2", "--json", tmp_path / "r.json")
    lines = done.stdout.splitlines()
    assert done.returncode == 1 and lines[0] == f"{src} -> {src}: 11 findings (address 10, tls_app_data 1)"
    assert lines[1] == f"  address: byte 66 (frame 1): {CLIENT} in the ipv4 source address field"
    assert lines[3] == "  ... 9 more (--limit)" and len(lines) == 4
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["counts"]["address"] == 10 and written["verdict"] == "findings"
    assert set(written) == set(AuditReport("", "").to_dict())  # one schema
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    other = craft.write(tmp_path / "other.pcap", [craft.udp_frame(bytes(8))])
    for args, message in (
        ((tmp_path / "nope.pcap", out), f"{tmp_path / 'nope.pcap'}: no such file"),
        ((bad, out), "not a pcap or pcapng capture"),
        ((src, out, "--keep", "bogus"), "mask keep must be among"),
        ((src, out, "--remember-bytes", "-1"), "(--remember-bytes) must be a non-negative integer, not -1"),
        ((other, out), "does not correspond to frame 1 of"),
    ):
        done = cli(*args)
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stderr.startswith("pktmask-nb: error: ") and message in done.stderr
        assert "Traceback" not in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.pcap", "other.pcap", "out.pcap", "r.json", "tls.pcap"]


def test_cli_undecided_exits_3_and_says_why(tmp_path):
    frames = test_damage.dialogue(*test_damage.CASES["ldap-starttls"])
    src, out = test_damage.masked(tmp_path, frames, ())
    done = cli(src, out)
    lines = done.stdout.splitlines()
    assert done.returncode == 3 and "undecided" in lines[0]
    assert lines[1].startswith("  not judged: prelude-not-read-by-the-audit (ldap, xmpp): ") and len(lines) == 2


# -- coincidences in header structure ------------------------------------------------------------


def test_our_output_of_replayed_real_traffic_audits_clean(tmp_path):
    """Real traffic is full of 4-byte runs like the end of a TCP checksum, a zero urgent pointer
    and a NOP option, which spell x.0.0.1: made of structure kept as it was, they are counted,
    not findings (100 MB of this replay gave 711 of them)."""
    from pktmask_nb.bench.replay import replay_capture

    if not SHARED_CAPTURES.is_dir():
        missing(str(SHARED_CAPTURES))
    src = tmp_path / "replayed.pcap"
    replay_capture(src, 3_000_000, SHARED_CAPTURES, seed=0)
    report = audit(src, sanitize(src, tmp_path / "out.pcap"), raise_on_findings=False)
    assert report.verdict == "clean" and report.structure_matches > 0, report.summary()


def test_a_raw_match_is_structure_only_where_nothing_but_checksums_changed(tmp_path):
    from pktmask_nb.audit import _structure

    f = Flow(client=(CLIENT, 40000), server=(SERVER, 443))
    data = f.handshake()[0]
    original = Packet(1, 0, data, len(data), 1, b"\x00" * 16)
    frame = read(original.data, 1, original.wirelen)
    checksum = 14 + 20 + 16
    changed = bytearray(original.data)
    changed[checksum] ^= 0x55  # a checksum may be anything
    sanitized = Packet(1, 0, bytes(changed), original.wirelen, 1, original.head)
    assert _structure(sanitized, original, frame, checksum, checksum + 4)  # checksum, urgent pointer
    assert _structure(sanitized, original, frame, -2, 2)  # across the record header and the MAC
    assert not _structure(sanitized, original, frame, 26, 30)  # an address field
    changed[checksum + 2] = 1  # the urgent pointer, kept structure, changed
    sanitized.data = bytes(changed)
    assert not _structure(sanitized, original, frame, checksum, checksum + 4)
    assert not _structure(sanitized, original, frame, len(changed) - 2, len(changed) + 2)  # into a block's options


def test_the_digest_set_agrees_with_a_python_set_through_its_growth():
    from pktmask_nb.audit import Seen

    seen, reference, rng = Seen(bits=3), set(), random.Random(7)
    values = [rng.getrandbits(64) for _ in range(5000)] + [0, 1, 2**64 - 1]
    for value in values + values[::3]:
        assert seen.add(value) == ((value | 1) in reference)
        reference.add(value | 1)
    assert seen.count == len(reference) and len(seen.table) >= 2 * seen.count


def test_the_digest_set_grows_within_its_two_tables():
    from pktmask_nb.audit import Seen

    seen, rng = Seen(bits=14), random.Random(11)
    while seen.count < 1 << 13:  # half full
        seen.add(rng.getrandbits(64))
    before = len(seen.table)
    tracemalloc.start()
    try:
        seen.add(rng.getrandbits(64))  # past half full: the table doubles
        size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(seen.table) == 2 * before and seen.count == (1 << 13) + 1
    assert peak < 8 * len(seen.table) + 4096  # the new table; the old one was there before


def test_every_cut_of_every_crafted_frame_is_read_without_error():
    """A frame cut anywhere (snaplen) leaves lengths that overrun it: the audit's reading
    must class what is there and stop, never fail (a cut LLDP management address did)."""
    frames = [(f, c.linktype) for c in test_leakproof.ALL.values() for f in c.frames]
    for make in test_damage.PARSED.values():
        frames += [(bytes(f), 1) for f in make()]
    for case in test_damage.CASES.values():
        frames += [(bytes(f), 1) for f in test_damage.dialogue(*case)]
    for data, linktype in frames:
        for cut in range(len(data) + 1):
            frame = read(data[:cut], linktype, len(data))
            assert all(0 <= a < b <= cut for a, b, _, _ in frame.regions)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.binary(min_size=1, max_size=30)), max_size=300), st.data())
def test_first_copies_give_back_what_a_list_of_pieces_does(pieces, data):
    """The audit's first copies (one buffer, pieces dropped oldest first under a byte cap, the
    buffers compacted now and then) answer as the list of ``(position, bytes)`` pieces they replace."""
    held, model, pos, cap = FirstCopies(), deque(), 0, data.draw(st.integers(1, 200))
    moved = drops = 0  # times the dropped pieces left the buffer in one move (or a compaction); pieces dropped
    for gap, piece in pieces:
        pos += gap
        held.append(pos, piece)
        model.append((pos, piece))
        pos += len(piece)
        while held.size > cap and len(held) > 1:
            base = held.base
            held.drop_oldest()
            model.popleft()
            moved += held.base != base
            drops += 1
        if data.draw(st.booleans()):
            held.compact()
            assert len(held.positions) == len(model) and len(held.data) == held.size
            moved += 1
        assert len(held) == len(model) and held.size == sum(len(p) for _, p in model)
        a = data.draw(st.integers(0, pos + 5))
        b = data.draw(st.integers(a, pos + 10))
        out = bytearray()
        for p, chunk in model:  # the list's answer
            lo, hi = max(a + len(out), p), min(b, p + len(chunk))
            if lo == a + len(out) and lo < hi:
                out += chunk[lo - p : hi - p]
        assert held.get(a, b) == (bytes(out) if len(out) == b - a else None)
    assert moved or drops < 265  # once as many were dropped as are held (at most 201), and 64, they moved


def test_first_copies_move_the_dropped_bytes_out_at_once():
    held = FirstCopies()
    for pos in range(1000):
        held.append(pos, bytes([pos % 251]))
        while held.size > 10:
            held.drop_oldest()
    assert len(held) == 10 and held.get(990, 1000) == bytes(p % 251 for p in range(990, 1000))
    assert len(held.data) < 80 and held.get(989, 991) is None  # the buffer holds about what is kept


def test_first_copies_take_little_more_than_their_bytes():
    """Kept TLS headers (5 bytes a piece) took ~100 bytes each as (position, bytes) tuples."""
    tracemalloc.start()
    try:
        held = FirstCopies()
        for pos in range(0, 50_000, 100):
            held.append(pos, b"\x17\x03\x03\x40\x00")
        taken = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held.size == 2_500 and taken < 30 * len(held)  # 16 bytes of position and offset, 5 of data


def test_past_its_memory_the_audit_keeps_tails_then_forgets_and_says_so(tmp_path):
    """Past `remember_bytes` the least recent direction keeps only the tail of its first copies,
    then nothing: a kept later copy of forgotten bytes is undecided, never passed."""
    a = Flow(client=(CLIENT, 40000), server=(SERVER, 443))
    b = Flow(client=(CLIENT, 40001), server=(SERVER, 443))
    record, records = handshake(500), 10  # kept whole: 509 bytes in two pieces, a segment each
    sent = a.stream(True, record * records, [len(record)] * records)
    old, last = (a.frame(True, record, seq=len(record) * i, ack=7) for i in (0, records - 1))  # not frame copies
    frames = a.handshake() + b.handshake() + sent + [b.frame(True, HELLO), last, old]
    src = craft.write(tmp_path / "in.pcap", frames)
    out = sanitize(src, tmp_path / "out.pcap", stages=("anonymize", "mask"))
    with open_capture(out) as reader:
        kept = [bytes(p.data[-len(record) :]) for p in reader if type(p) is Packet][-2:]
    report = audit(src, out)
    assert kept == [record, record] and report.ok and report.warnings == []  # the mask kept both later copies
    one = len(record) + 2 * 16  # a record's first copy: its bytes, 16 more a piece
    assert records * one > KEPT_TAIL > 2 * one  # a's tail holds its last records, not its first
    undecided = {}
    hello = len(HELLO) + 2 * 16
    for remember in (KEPT_TAIL + hello, hello):  # a cut to its tail; no record of a's fits at all
        report = audit(src, out, remember_bytes=remember, raise_on_findings=False)
        assert report.verdict == "undecided" and not report.findings
        ((reason, where),) = report.undecided.items()
        assert reason == "later copy of bytes the audit no longer remembers"
        undecided[remember > KEPT_TAIL] = where["frame"], where["frames"], where["bytes"]
        (warning,) = report.warnings  # the cap says it was reached, and what it did
        assert warning.startswith(f"the first copies of kept bytes took more than --remember-bytes ({remember} bytes)")
        assert ("made to forget all 0 times" in warning) == (remember > KEPT_TAIL)
    nonzero = sum(byte != 0 for byte in record)
    assert undecided == {True: (len(frames), 1, nonzero), False: (len(frames) - 1, 2, 2 * nonzero)}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(1, 60)), max_size=60), st.integers(0, 800))
def test_the_audit_forgets_first_copies_least_recent_direction_first(sends, cap):
    """Over all directions the first copies stay within the cap, counted exactly, and the
    directions that still hold some are those that added to theirs most recently."""
    server = bytes([10, 0, 0, 2])
    reader, seqs, last = StreamReader(False, remember_bytes=cap), {}, {}
    for frame, (flow, size) in enumerate(sends, 1):
        key = (CLIENT_BYTES, server, 40000 + flow, 443)
        if flow not in seqs:
            reader.segment(frame, key, 999, 0x02, b"")  # its SYN: stream position 0 is seq 1000
            seqs[flow] = 1000
        record = craft.record(22, bytes(size))
        reader.segment(frame, key, seqs[flow], 0x18, record)
        seqs[flow] += len(record)
        last[flow] = frame
        held = {f: reader.current[(CLIENT_BYTES, server, 40000 + f, 443)].kept for f in seqs}
        assert reader.remembered == sum(k.footprint() for k in held.values()) <= cap
        holding = [bool(held[f].footprint()) for f in sorted(seqs, key=last.get)]
        assert holding == sorted(holding)  # no direction holds first copies while a more recent one lost its own
