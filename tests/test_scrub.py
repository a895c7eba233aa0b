"""pcapng metadata scrubbing (SPEC §3): secrets, names and comments go, lengths stay consistent."""

from __future__ import annotations

import gzip
import struct
import subprocess

import pytest
from captures import raw_option, untidy_pcapng
from hypothesis import given
from hypothesis import strategies as st

from pktmask_nb.api import run
from pktmask_nb.capture import open_capture
from pktmask_nb.capture.pcapng import PCAPNG_DSB, PCAPNG_NRB, iter_options
from pktmask_nb.config import AnonymizeConfig, Config
from pktmask_nb.record import Block, Packet
from pktmask_nb.stages.scrub import SCRUB_OPTION_SIZES, ScrubbedOptions, ScrubStage, scrub_options

KEY = bytes(32)


def udp_frame(payload: bytes) -> bytes:
    """Ethernet/IPv4/UDP between loopback addresses (kept by the default anonymization)."""
    ip = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 1, 0, 64, 17, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])
        )
    )
    ip[10:12] = (0xFFFF - sum(struct.unpack("!10H", ip)) % 0xFFFF).to_bytes(2, "big")
    return (
        bytes.fromhex("ffffffffffff0200000000010800")
        + bytes(ip)
        + struct.pack("!HHHH", 7, 9, 8 + len(payload), 0)
        + payload
    )


FRAME = udp_frame(b"an IP packet")
FRAME2 = udp_frame(b"an IP packet!")


def option(code: int, value: bytes, order: str) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def options(pairs, order: str) -> bytes:
    return b"".join(option(c, v, order) for c, v in pairs) + (struct.pack(order + "HH", 0, 0) if pairs else b"")


def block(btype: int, body: bytes, order: str) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack(order + "II", btype, 12 + len(body)) + body + struct.pack(order + "I", 12 + len(body))


def shb(order, pairs=(), section_length=-1):
    return block(
        0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, section_length) + options(pairs, order), order
    )


def idb(order, pairs=()):
    return block(1, struct.pack(order + "HHI", 1, 0, 65535) + options(pairs, order), order)


def epb(order, data=FRAME, pairs=()):
    body = struct.pack(order + "IIIII", 0, 0, 1_000_000, len(data), len(data)) + data + b"\0" * (-len(data) % 4)
    return block(6, body + options(pairs, order), order)


def spb(order, data=FRAME):
    return block(3, struct.pack(order + "I", len(data)) + data + b"\0" * (-len(data) % 4), order)


def isb(order, pairs=()):
    return block(5, struct.pack(order + "III", 0, 0, 0) + options(pairs, order), order)


SECRET = b"s3cr3t-comment"
IDB_SECRETS = [(2, b"eth0-secret"), (3, b"uplink to secret dc"), (4, bytes([10, 1, 2, 3, 255, 255, 255, 0])),
               (5, bytes(range(17))), (6, b"\x02\x00\x00\xaa\xbb\xcc"), (7, bytes(8)), (11, b"\0host 10.1.2.3")]  # fmt: skip


def capture(order: str) -> bytes:
    return b"".join(
        [
            shb(order, [(1, SECRET), (3, b"Linux")], section_length=1234),
            idb(order, [(1, SECRET)] + IDB_SECRETS + [(9, b"\x09")]),
            block(PCAPNG_NRB, struct.pack(order + "HH", 1, 8) + bytes([10, 1, 2, 3]) + b"hst\0" + bytes(4), order),
            block(PCAPNG_DSB, struct.pack(order + "II", 0x544C534B, 8) + b"CLIENT_R", order),
            epb(
                order,
                pairs=[
                    (1, SECRET),
                    (2, struct.pack(order + "I", 1)),
                    (2988, b"\0\0\0\0vendor"),
                    (3, b"\x02" + bytes(range(16))),
                    (7, b"\x00verdict"),
                ],
            ),  # fmt: skip
            epb(order),
            epb(order, data=FRAME2, pairs=[(1, SECRET)]),
            spb(order),
            isb(order, [(1, SECRET), (4, bytes(8))]),
            block(0x00000BAD, b"\0\0\0\0custom!!", order),
            block(0x40000BAD, b"\0\0\0\0custom-copy\0", order),
            block(0x00000009, b"__REALTIME_TIMESTAMP=1\nMESSAGE=journal secret\n\0\0\0", order),
            block(
                0x00000106,
                struct.pack(order + "IIIII", 0, 0, 1_000_000, len(FRAME), len(FRAME)) + FRAME + bytes(2),
                order,
            ),
        ]
    )


def read_all(path):
    records = []
    with open_capture(path) as reader:
        while chunk := reader.read_chunk(1000):
            records += chunk
    return records


@pytest.mark.parametrize("order", ["<", ">"])
def test_secrets_removed_lengths_consistent(tmp_path, order):
    source, out = tmp_path / "in.pcapng", tmp_path / "out.pcapng"
    source.write_bytes(capture(order))
    result = run(source, out, Config(stages=("anonymize",), anonymize=AnonymizeConfig(key=KEY)))
    data = out.read_bytes()
    assert SECRET not in data and b"eth0-secret" not in data and b"CLIENT_R" not in data and b"hst" not in data
    assert b"host 10.1.2.3" not in data and b"vendor" not in data and b"verdict" not in data
    assert bytes(range(16)) not in data  # epb_hash: a digest of the original frame
    assert b"Linux" in data  # shb_os stays
    assert b"custom" not in data and b"journal" not in data  # custom, journal and unknown blocks go
    records = read_all(out)  # our reader checks every block length against its trailer
    kinds = [r.kind if isinstance(r, Block) else "packet" for r in records]
    assert kinds == [0x0A0D0D0A, 1, "packet", "packet", "packet", "packet", 5]
    packets = [r for r in records if isinstance(r, Packet)]
    assert [bytes(p.data) for p in packets] == [FRAME, FRAME, FRAME2, FRAME]
    shb_raw = records[0].raw
    assert struct.unpack_from(order + "q", shb_raw, 16)[0] == -1  # the section shrank: length unknown
    idb_codes = [c for c, *_ in iter_options(records[1].raw, 16, len(records[1].raw) - 4, order)]
    assert idb_codes == [9]  # if_tsresol kept
    first = packets[0]
    tail_codes = [c for c, *_ in iter_options(first.tail, -len(first.data) % 4, len(first.tail) - 4, order)]
    assert tail_codes == [2]  # epb_flags kept
    assert struct.unpack_from(order + "I", first.head, 4)[0] == len(first.head) + len(first.data) + len(first.tail)
    stats = result.stages["scrub"]
    assert stats["blocks_removed"] == {
        "0x00000004": 1, "0x0000000a": 1, "0x00000bad": 1, "0x40000bad": 1, "0x00000009": 1, "0x00000106": 1,
    }  # fmt: skip
    assert stats["options_removed"]["1"] == 5 and stats["options_removed"]["2988"] == 1
    assert (
        stats["options_removed"]["3"] == 2 and stats["options_removed"]["7"] == 2
    )  # if_description, epb_hash; if_EUIaddr, epb_verdict
    assert stats["packets_rewritten"] == 2


@pytest.mark.parametrize("order", ["<", ">"])
def test_tshark_reads_the_scrubbed_file(tmp_path, order, tshark):
    source, out = tmp_path / "in.pcapng", tmp_path / "out.pcapng"
    source.write_bytes(capture(order))
    run(source, out, Config(stages=("anonymize",), anonymize=AnonymizeConfig(key=KEY)))
    proc = subprocess.run([tshark, "-n", "-r", str(out), "-T", "fields", "-e", "frame.comment", "-e", "frame.len"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [line.split("\t") for line in proc.stdout.splitlines()] == [
        ["", str(len(FRAME))],
        ["", str(len(FRAME))],
        ["", str(len(FRAME2))],
        ["", str(len(FRAME))],
    ]


def test_keep_metadata_keeps_every_byte(tmp_path):
    source, out = tmp_path / "in.pcapng", tmp_path / "out.pcapng"
    source.write_bytes(capture("<"))
    run(source, out, Config(stages=("anonymize",), keep_metadata=True, anonymize=AnonymizeConfig(key=KEY)))
    assert out.read_bytes() == source.read_bytes()


def test_pcap_passes_untouched(tmp_path):
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    record = struct.pack("<IIII", 1, 2, len(FRAME), len(FRAME)) + FRAME
    source, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    source.write_bytes(header + record)
    run(source, out, Config(stages=("anonymize",), anonymize=AnonymizeConfig(key=KEY)))
    assert out.read_bytes() == source.read_bytes()


def test_unparsable_options_are_all_dropped():
    raw = struct.pack("<HH", 3, 200) + b"short"
    assert scrub_options(raw, 0, len(raw), "<", frozenset({3}), {}) == (b"", {-1: 1}, 0, 0)
    fine = options([(3, b"keep me")], "<")
    assert scrub_options(fine, 0, len(fine), "<", frozenset({3}), {}) is None
    assert scrub_options(fine, 0, len(fine), "<", frozenset({2}), {}) == (b"", {3: 1}, 0, 0)


def test_chunk_boundaries_do_not_matter(tmp_path):
    source = tmp_path / "in.pcapng.gz"
    source.write_bytes(gzip.compress(capture(">")))
    records = read_all(source)
    whole = ScrubStage().process(list(records))
    stage, pieces = ScrubStage(), []
    for r in records:
        pieces += stage.process([r])
    assert [(getattr(r, "raw", None), getattr(r, "tail", None)) for r in whole] == [
        (getattr(r, "raw", None), getattr(r, "tail", None)) for r in pieces
    ]


def test_shared_pcapng_interface_names_removed(tmp_path, tshark):
    from conftest import SHARED_CAPTURES, missing

    source = SHARED_CAPTURES / "pcapng-multi-interface.pcapng"
    if not source.exists():
        missing(str(source))
    out = tmp_path / "out.pcapng"
    run(source, out, Config(stages=("anonymize",), anonymize=AnonymizeConfig(key=KEY)))
    names = subprocess.run([tshark, "-r", str(out), "-T", "fields", "-e", "frame.interface_name"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "eth0" not in names and "NPF" not in names
    info = subprocess.run(["capinfos", str(out)], capture_output=True, text=True, check=True).stdout
    assert "Ethernet 2" not in info and "eth0" not in info
    assert len(names.splitlines()) == 6


@pytest.mark.parametrize("order", ["<", ">"])
def test_bytes_no_field_describes_are_zeroed_or_removed(tmp_path, order, tshark):
    """SPEC §2.4, "in padding": padding, reserved fields, what follows the end of the options
    or an SPB's packet, and what a number-valued option holds past its number all passed
    through a run of anonymize and mask as read."""
    data, counts = untidy_pcapng(order, udp_frame(b"odd!!"), FRAME)
    source, out = tmp_path / "in.pcapng", tmp_path / "out.pcapng"
    source.write_bytes(data)
    result = run(source, out, Config(stages=("anonymize",), anonymize=AnonymizeConfig(key=KEY)))
    written = out.read_bytes()
    for marker in (b"PAD", b"RS", b"TS", b"NICH", b"AFTER", b"FLAGTEXT", b"TAIL", b"SPBEXTRA", b"CC", b"EN"):
        assert marker not in written, marker
    assert b"Linux\0\0\0" in written and b"NIC\0" in written  # text options stay, padded with zeros
    stats = result.stages["scrub"]
    assert {k: stats[k] for k in counts} == counts
    assert stats["options_removed"] == {"4": 1, "2": 1}
    records = read_all(out)  # every block length checked against its trailer
    before = read_all(source)
    assert all(not any(p.tail[: -len(p.data) % 4]) for p in records if isinstance(p, Packet))  # "E", "O" were there
    packets = [(p.ts, bytes(p.data), p.wirelen) for p in records if isinstance(p, Packet)]
    assert packets == [(p.ts, bytes(p.data), p.wirelen) for p in before if isinstance(p, Packet)]
    assert packets[0][0] == 1_000_000  # if_tsresol cut to its byte: still nanoseconds
    proc = subprocess.run([tshark, "-r", str(out), "-T", "fields", "-e", "frame.len"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.split() == ["47", str(len(FRAME)), "47"], proc.stderr


def test_a_tidy_capture_passes_unchanged(tmp_path):
    """Zero padding, no stray bytes, numbers of their size: nothing to scrub, byte for byte."""
    order = "<"
    data = b"".join([
        shb(order, [(3, b"Linux")]), idb(order, [(9, b"\x09"), (15, b"NIC")]),
        epb(order, pairs=[(2, struct.pack(order + "I", 1)), (4, bytes(8))]), spb(order), epb(order, data=FRAME2),
        isb(order, [(2, bytes(8)), (4, bytes(8))]),
    ])  # fmt: skip
    source, out = tmp_path / "in.pcapng", tmp_path / "out.pcapng"
    source.write_bytes(data)
    result = run(source, out, Config(stages=("anonymize",), anonymize=AnonymizeConfig(key=KEY)))
    assert out.read_bytes() == data
    assert result.stages["scrub"] == {
        "blocks_removed": {}, "options_removed": {}, "blocks_rewritten": 0, "packets_rewritten": 0,
        "padding_zeroed": 0, "bytes_cut": 0,
    }  # fmt: skip


OPTION_AREAS = st.lists(  # code, value, the padding's bytes if it were not zero
    st.tuples(st.integers(1, 20), st.binary(max_size=11), st.binary(min_size=3, max_size=3)), max_size=6
)


@given(OPTION_AREAS, st.booleans(), st.binary(max_size=8), st.sampled_from(sorted(SCRUB_OPTION_SIZES)))
def test_scrubbed_options_hold_only_kept_values_and_zeros(area, ended, after, kind):
    """Any option area: what comes out parses, and each of its bytes is an option's code and
    length, a prefix of a kept option's value (a number's own bytes), or zero."""
    from pktmask_nb.stages.scrub import SCRUB_KEPT_OPTIONS

    raw = b"".join(raw_option(c, v, p[: -len(v) % 4], "<") for c, v, p in area)
    raw += struct.pack("<HH", 0, 0) + after if ended else b""
    raw += bytes(-len(raw) % 4)
    kept, sizes = SCRUB_KEPT_OPTIONS[kind], SCRUB_OPTION_SIZES[kind]
    result = scrub_options(raw, 0, len(raw), "<", kept, sizes)
    if result is None:
        wanted = [(c, v) for c, v, _ in area]
        assert all(c in kept and len(v) == sizes.get(c, len(v)) for c, v in wanted)
        assert all(not any(p[: -len(v) % 4]) for _, v, p in area) and not (ended and any(after))
        return
    assert isinstance(result, ScrubbedOptions)
    values = [(c, v[: sizes.get(c, len(v))]) for c, v, _ in area if c in kept and len(v) >= sizes.get(c, len(v))]
    out = result.data
    parsed = [(c, out[at : at + n], out[at + n : stop]) for c, at, n, stop in iter_options(out, 0, len(out), "<")]
    assert [(c, v) for c, v, _ in parsed] == values and not any(p for _, _, p in parsed if any(p))
    assert out == b"" if not values else out.endswith(b"\0\0\0\0") and len(out) % 4 == 0
