"""The leak audit (SPEC §8): clean on the pipeline's output, and each rule fires on a planted leak."""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys

import craft
import pytest
from captures import block, epb, idb, shb
from conftest import SHARED_CAPTURES, missing
from craft import Flow, app_data, dtls_record, handshake
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

import pktmask_nb
from pktmask_nb import AuditFailed, UsageError, open_capture
from pktmask_nb.audit import AuditReport, addresses, audit
from pktmask_nb.config import AnonymizeConfig, Config, MaskConfig
from pktmask_nb.proto.dissect import dissect
from pktmask_nb.record import Packet

KEY = bytes(range(32))
CLIENT, SERVER = "10.0.0.1", "10.0.0.2"
CLIENT_BYTES = bytes([10, 0, 0, 1])
HELLO = handshake(200)  # 209 bytes: a record holding one handshake message
# (capture, http_headers) -> the one original address whose bytes the kept data holds by chance:
# in mpls-in-vlan.pcap the address is 65.65.65.65 and its HTTP headers are runs of "A" (0x41).
COINCIDENCES = {("mpls-in-vlan.pcap", True): "65.65.65.65"}


def sanitize(src, dst, stages=("dedup", "anonymize", "mask"), http=False, keep_metadata=False):
    mask = MaskConfig(keep=("http-headers",) if http else ())
    config = Config(
        stages=stages, anonymize=AnonymizeConfig(key=KEY), mask=mask, keep_metadata=keep_metadata, processes=1
    )
    pktmask_nb.run(src, dst, config)
    return dst


def packets_at(path) -> list[tuple[int, Packet]]:
    """Every packet with the file offset of its first data byte."""
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
    """File offset of the payload of `frame` (1-based)."""
    base, packet = packets_at(path)[frame - 1]
    return base + dissect(packet.data, packet.linktype).payload_start


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


# -- the pipeline's output is clean -----------------------------------------------------------


@pytest.mark.parametrize("http", [False, True], ids=["mask", "http-headers"])
def test_pipeline_output_audits_clean(shared_capture, tmp_path, http):
    out = sanitize(shared_capture, tmp_path / shared_capture.name, http=http)
    report = audit(shared_capture, out, http_headers=http, raise_on_findings=False)
    assert report.packets > 0
    coincidence = COINCIDENCES.get((shared_capture.name, http))
    if coincidence is None:
        assert report.ok, [str(f) for f in report.findings[:5]]
        return
    assert report.counts == {**dict.fromkeys(report.counts, 0), "address": len(report)}
    assert all(
        f.where == "payload" and f.detail.startswith(f"{coincidence} in the TCP payload") for f in report.findings
    )


def test_clean_output_of_crafted_flows_with_every_rule_in_play(tmp_path):
    report = audit(tls_capture(tmp_path), sanitize(tmp_path / "tls.pcap", tmp_path / "out.pcap"))
    assert report.ok and len(report) == 0 and report.unaudited_bytes == 0
    assert report.addresses == {"ipv4": 2, "ipv6": 0}
    assert report.summary().endswith("clean (5 packets, 0 unaudited non-zero payload bytes)")


# -- each rule fires on a planted leak -----------------------------------------------------------


def test_original_against_itself_fails_with_address_findings(tmp_path):
    src = tls_capture(tmp_path)
    with pytest.raises(AuditFailed) as caught:
        audit(src, src)
    text = str(caught.value)
    assert "\n" not in text and text.startswith(f"{src} -> {src}: ") and "findings (address 10" in text
    report = caught.value.report
    assert report.counts["address"] == 10 and report.counts["tls_app_data"] == 1  # 2 addresses x 5 frames
    first = report.findings[0]
    assert (first.kind, first.frame, first.where) == ("address", 1, "address-field")
    assert first.offset == 24 + 16 + 14 + 12 and first.detail == f"{CLIENT} in the IPv4 source address"


def test_address_planted_in_a_payload(tmp_path):
    out = sanitize(tls_capture(tmp_path), tmp_path / "out.pcap")
    at = payload_at(out, 4) + len(HELLO) + 5 + 10  # inside the application-data body
    plant(out, at, CLIENT_BYTES)
    report = audit(tmp_path / "tls.pcap", out, raise_on_findings=False)
    [found] = findings(report, "address")
    assert (found.frame, found.offset, found.where) == (4, at, "payload")
    assert found.detail == f"{CLIENT} in the TCP payload (40000 > 443)"
    assert report.counts["tls_app_data"] == 1  # the same bytes are non-zero application data


def test_nonzero_byte_in_a_tls_application_data_body(tmp_path):
    out = sanitize(tls_capture(tmp_path), tmp_path / "out.pcap")
    body = payload_at(out, 4) + len(HELLO) + 5
    plant(out, body - 100, b"\x99")  # inside the kept handshake record: allowed
    assert audit(tmp_path / "tls.pcap", out).ok
    plant(out, body + 299, b"\x01")  # the body's last byte
    report = audit(tmp_path / "tls.pcap", out, raise_on_findings=False)
    assert report.counts == {"address": 0, "tls_app_data": 1, "payload": 0, "metadata": 0}
    [found] = report.findings
    assert (found.frame, found.offset, report.nonzero_bytes) == (4, body + 299, 1)
    assert found.detail.startswith("1 non-zero bytes in a TLS application-data body (tcp ")


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
        (6, "payload", "trailer"),
    ]
    assert "zeroed payload (tcp " in report.findings[0].detail and "UDP payload" in report.findings[1].detail


def test_pcapng_metadata_kept_by_keep_metadata(tmp_path):
    packet = craft.udp_frame(bytes(20), src=(CLIENT, 1000), dst=(SERVER, 2000))
    secrets = struct.pack("<II", 0x544C534B, 12) + b"CLIENT_RANDO"  # a TLS key log
    names = struct.pack("<HH", 1, 16) + bytes([10, 0, 0, 2]) + b"server.local" + struct.pack("<HH", 0, 0)
    data = (
        shb(opts=[(1, b"captured at the customer")])
        + idb(opts=[(2, b"eth0"), (3, b"uplink to the bank")])
        + block(0x0A, secrets)
        + block(4, names)
        + epb(packet, opts=[(1, b"the interesting one")])
    )
    src = tmp_path / "in.pcapng"
    src.write_bytes(data)
    assert audit(src, sanitize(src, tmp_path / "scrubbed.pcapng")).ok
    report = audit(src, sanitize(src, tmp_path / "kept.pcapng", keep_metadata=True), raise_on_findings=False)
    details = [f.detail for f in report.findings]
    assert details == [
        "SHB comment (24 bytes)",
        "IDB if_name (4 bytes)",
        "IDB if_description (18 bytes)",
        "Decryption Secrets Block (32 bytes)",
        "Name Resolution Block with 1 name records",
        f"{SERVER} in a pcapng block 0x00000004",  # the NRB's address record, found by rule 1 too
        "EPB comment (19 bytes)",
    ]
    assert report.counts["metadata"] == 6 and {f.where for f in report.findings} == {"container"}
    assert report.findings[-1].frame == 1 and report.findings[0].frame is None


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
    assert (found.frame, found.where) == (1, "payload")
    assert found.detail == f"{SERVER} in the UDP payload (53 > 40001)"
    assert audit(src, sanitize(src, tmp_path / "full.pcap")).ok


def test_anonymize_only_output_of_a_shared_capture_with_dns(tmp_path):
    src = SHARED_CAPTURES / "google-https-cachedlink_plus_sitelink.pcap"
    if not src.exists():
        missing(str(src))
    report = audit(src, sanitize(src, tmp_path / "anon.pcap", stages=("anonymize",)), raise_on_findings=False)
    dns = [f for f in findings(report, "address") if "UDP payload (53 >" in f.detail]
    assert dns and all(f.where == "payload" for f in dns)
    assert not [f for f in findings(report, "address") if f.where == "address-field"]


# -- settings, limits, what is not judged ---------------------------------------------------------


def test_special_addresses_are_findings_only_with_keep_none(tmp_path):
    frames = [craft.udp_frame(bytes(8), src=(CLIENT, 5353), dst=("224.0.0.251", 5353))]
    src = craft.write(tmp_path / "mdns.pcap", frames)
    out = sanitize(src, tmp_path / "out.pcap")
    assert audit(src, out).addresses == {"ipv4": 1, "ipv6": 0}
    report = audit(src, out, keep="none", raise_on_findings=False)
    assert [f.detail for f in report.findings] == ["224.0.0.251 in the IPv4 destination address"]


def test_limit_caps_the_list_but_counts_all_and_chunk_size_changes_nothing(tmp_path):
    src = tls_capture(tmp_path)
    reports = [audit(src, src, limit=3, chunk_size=c, raise_on_findings=False) for c in (1, 2, 4096)]
    assert reports[0].to_dict() == reports[1].to_dict() == reports[2].to_dict()
    report = reports[0]
    assert len(report.findings) == 3 and len(report) == 11 and not report.ok
    assert [f.offset for f in report.findings] == sorted(f.offset for f in report.findings)
    assert json.loads(json.dumps(report.to_dict()))["total_findings"] == 11


def test_a_direction_without_its_syn_is_not_judged(tmp_path):
    f = Flow(client=(CLIENT, 40000), server=(SERVER, 443))
    src = craft.write(tmp_path / "mid.pcap", [f.frame(True, app_data(50, fill=0x77))])
    report = audit(src, sanitize(src, tmp_path / "anon.pcap", stages=("anonymize",)))
    assert report.ok and report.unaudited == {"no_syn": 54}  # non-zero bytes only: 17 03 03 (00) 32 + body


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
    assert audit(src, out, raise_on_findings=False).counts["payload"] == 1  # headers kept, but not audited so
    start = payload_at(out, 4)
    plant(out, start + request.index(b"s3cr3t"), b"s")
    plant(out, start + len(request) - 1, b"s")
    report = audit(src, out, http_headers=True, raise_on_findings=False)
    assert [(f.offset - start, f.kind) for f in report.findings] == [
        (request.index(b"s3cr3t"), "payload"),
        (len(request) - 1, "payload"),
    ]


def test_dtls_application_data(tmp_path):
    datagram = dtls_record(22, b"\x01" + bytes(40)) + dtls_record(23, b"\x77" * 60, seq=1)
    src = craft.write(tmp_path / "dtls.pcap", [craft.udp_frame(datagram)])
    out = sanitize(src, tmp_path / "out.pcap")
    assert audit(src, out).ok
    plant(out, payload_at(out, 1) + 54 + 13 + 5, b"\x77")
    report = audit(src, out, raise_on_findings=False)
    assert [(f.kind, f.offset - payload_at(out, 1)) for f in report.findings] == [("tls_app_data", 72)]


def test_address_scanner_finds_matches_across_blocks(monkeypatch):
    monkeypatch.setattr(addresses, "SCAN_BLOCK", 7)
    rng = random.Random(1)
    v4 = {bytes([10, 1, 2, 3]), bytes([192, 168, 0, 1])}
    v6 = {bytes(range(16)), bytes([0x20, 0x01]) + bytes(13) + b"\x01"}
    data = bytearray(rng.randrange(256) for _ in range(300))
    for at, value in ((0, b"\x0a\x01\x02\x03"), (5, bytes(range(16))), (37, b"\xc0\xa8\x00\x01"), (282, list(v6)[1])):
        data[at : at + len(value)] = value
    scanner = addresses.AddressScanner(v4, v6)
    hits, pos = [], 0
    for size in (1, 3, 50, 11, 235):
        hits += scanner.feed(bytes(data[pos : pos + size]))
        pos += size
    expected = sorted(
        (i, bytes(data[i : i + n])) for n, s in ((4, v4), (16, v6)) for i in range(300) if bytes(data[i : i + n]) in s
    )
    assert hits == expected and len(expected) == 4


def test_truncated_original_is_read_up_to_its_last_whole_record(tmp_path):
    src = tls_capture(tmp_path)
    out = sanitize(src, tmp_path / "out.pcap")
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(src.read_bytes()[:-10])
    report = audit(cut, out)
    assert report.original_packets == 4 and report.addresses == {"ipv4": 2, "ipv6": 0}
    assert len(report.warnings) == 1 and "file ends inside the last record" in report.warnings[0]


def test_bad_settings_and_inputs(tmp_path):
    src = tls_capture(tmp_path)
    for kwargs in ({"keep": "all"}, {"chunk_size": 0}, {"limit": -1}):
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
    assert (
        done.returncode == 0
        and done.stdout == f"{src} -> {out}: clean (5 packets, 0 unaudited non-zero payload bytes)\n"
    )
    done = cli(src, src, "--limit", "2", "--json", tmp_path / "r.json")
    lines = done.stdout.splitlines()
    assert done.returncode == 1 and lines[0] == f"{src} -> {src}: 11 findings (address 10, tls_app_data 1)"
    assert lines[1].startswith("  address: byte 66 (frame 1): 10.0.0.1 in the IPv4 source address")
    assert lines[3] == "  ... 9 more (--limit)" and len(lines) == 4
    assert json.loads((tmp_path / "r.json").read_text())["counts"]["address"] == 10
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    for args, message in (
        ((tmp_path / "nope.pcap", out), f"{tmp_path / 'nope.pcap'}: no such file"),
        ((bad, out), "not a pcap or pcapng capture"),
        ((src, out, "--keep", "bogus"), "mask keep must be among"),
    ):
        done = cli(*args)
        assert done.returncode == 2 and len(done.stderr.splitlines()) == 1, done.stderr
        assert done.stderr.startswith("pktmask-nb: error: ") and message in done.stderr
        assert "Traceback" not in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.pcap", "out.pcap", "r.json", "tls.pcap"]
