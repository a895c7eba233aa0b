"""One dissection per frame: the frame map anonymize used is the one mask reads (`Packet.frame`).

Anonymize rewrites addresses and checksums and zeroes what the map zeroes; the map must stay
true of the new bytes, or mask would act on a structure the frame no longer has. Judged by
dissecting the anonymized bytes afresh: the same fields, checksums, IP layers and payload, and
the same reason for every byte the map does not zero (where it zeroes, the fresh walk may
read the zeros as well-formed options and padding, even find a payload in them).
"""

from __future__ import annotations

import pytest
from conftest import shared_capture_paths
from craft import pcap_bytes
from test_leakproof import ALL, KEY

import pktmask_nb
from pktmask_nb import Config
from pktmask_nb.capture import open_capture
from pktmask_nb.config import AnonymizeConfig
from pktmask_nb.proto import dissect as dissect_module
from pktmask_nb.proto.spans import REASON_ACTIONS, ZERO
from pktmask_nb.record import Packet
from pktmask_nb.stages.anonymize import AnonymizeStage


def structure(m) -> tuple:
    return (
        [(f.offset, f.size, f.width, f.kind, f.form, f.prefix_at, f.bits) for f in m.fields],
        [(c.position, c.start, c.end, c.kind, tuple(c.pseudo)) for c in m.checksums],
        [(i.offset, i.version, i.src, i.dst, tuple(i.pseudo), i.quoted, i.end) for i in m.ips],
        (m.transport, m.l4, m.ip, m.payload_start, m.payload_end, m.fragment, m.frag_id, m.quote),
    )


def reasons(m) -> list[int]:
    out = []
    for start, end, reason in m.iter_spans():
        out += [reason] * (end - start)
    return out


def assert_shared_map_is_true(path, keep: str) -> int:
    stage = AnonymizeStage(AnonymizeConfig(key=KEY, keep=keep))
    frames = 0
    with open_capture(path) as reader:
        for chunk in reader.chunks(64, 1 << 20):
            packets = [r for r in chunk if r.__class__ is Packet]
            stage.process(chunk)
            for p in packets:
                shared = p.frame
                assert shared is not None and shared.data is p.data
                fresh = dissect_module.dissect(p.data, p.linktype, p.wirelen)
                assert structure(shared)[:3] == structure(fresh)[:3], p.index
                was = reasons(shared)
                for at, now in enumerate(reasons(fresh)):
                    assert REASON_ACTIONS[was[at]] == ZERO or was[at] == now, (p.index, at)
                if structure(shared)[3] != structure(fresh)[3]:  # a payload found in zeros the map zeroes
                    start, end = fresh.payload_start, fresh.payload_end
                    assert all(REASON_ACTIONS[r] == ZERO for r in was[start:end]), p.index
                frames += 1
    return frames


@pytest.mark.parametrize("keep", ["special", "none"])
def test_the_map_anonymize_leaves_is_true_of_every_shared_capture(keep):
    paths = shared_capture_paths()
    if not paths:
        pytest.skip("no shared captures")
    assert sum(assert_shared_map_is_true(p, keep) for p in paths) > 7000


@pytest.mark.parametrize("name", list(ALL))
def test_the_map_anonymize_leaves_is_true_of_every_crafted_case(name, tmp_path):
    case = ALL[name]
    path = tmp_path / "in.pcap"
    path.write_bytes(case.pcap())
    assert assert_shared_map_is_true(path, "none") == len(case.frames)


def test_a_frame_is_dissected_once_by_anonymize_and_mask(tmp_path, monkeypatch):
    case = ALL["tcp-data-offset-over-the-payload"]
    frames = case.frames * 50
    src = tmp_path / "in.pcap"
    src.write_bytes(pcap_bytes(frames, case.linktype))
    calls = []
    dissect = dissect_module.dissect
    monkeypatch.setattr(dissect_module, "dissect", lambda *a: calls.append(1) or dissect(*a))
    config = Config(stages=("anonymize", "mask"), anonymize=AnonymizeConfig(key=KEY), chunk_size=7, processes=1)
    result = pktmask_nb.run(src, tmp_path / "out.pcap", config, force=True)
    assert result.stages["mask"]["packets"] == len(frames)
    assert len(calls) == len(frames)
