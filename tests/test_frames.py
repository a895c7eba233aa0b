"""One dissection per frame: the frame map anonymize used is the one mask reads (`Packet.frame`).

Anonymize rewrites addresses and checksums, which the walk does not read to find structure,
so it hands the map on; where it also zeroes bytes the walk did not understand, it drops the
map, since zeros may read differently. Judged by dissecting the anonymized bytes afresh: a
map handed on must be exactly what the fresh walk finds, as a second process would.
"""

from __future__ import annotations

import pytest
from conftest import missing, shared_capture_paths
from craft import Flow, app_data, handshake, pcap_bytes
from test_leakproof import ALL, KEY

import pktmask_nb
from pktmask_nb import Config
from pktmask_nb.capture import open_capture
from pktmask_nb.config import AnonymizeConfig
from pktmask_nb.proto import dissect as dissect_module
from pktmask_nb.record import Packet
from pktmask_nb.stages.anonymize import AnonymizeStage


def shape(m) -> tuple:
    return (
        m.spans,
        [(f.offset, f.size, f.width, f.kind, f.form, f.prefix_at, f.bits) for f in m.fields],
        [(c.position, c.start, c.end, c.kind, tuple(c.pseudo)) for c in m.checksums],
        m.unseen,
        [(i.offset, i.version, i.src, i.dst, tuple(i.pseudo), i.quoted, i.end) for i in m.ips],
        (m.status, m.transport, m.l4, m.ip, m.payload_start, m.payload_end, m.fragment, m.frag_id, m.quote),
    )


def handed_on(path, keep: str) -> tuple[int, int]:
    """Anonymize every frame of `path`; check each map handed on. How many frames, how many handed on."""
    stage = AnonymizeStage(AnonymizeConfig(key=KEY, keep=keep))
    frames = shared = 0
    with open_capture(path) as reader:
        for chunk in reader.chunks(64, 1 << 20):
            packets = [r for r in chunk if r.__class__ is Packet]
            originals = [bytes(p.data) for p in packets]
            stage.process(chunk)
            for p, original in zip(packets, originals):
                frames += 1
                if p.frame is None:  # dropped: only when bytes other than addresses and checksums changed
                    m = dissect_module.dissect(original, p.linktype, p.wirelen)
                    rewritable = [(f.offset, f.offset + f.size) for f in m.fields] + [
                        (c.position, c.position + 2) for c in m.checksums
                    ]
                    changed = [i for i, (a, b) in enumerate(zip(original, p.data)) if a != b]
                    assert any(not any(a <= i < b for a, b in rewritable) for i in changed), p.index
                    continue
                assert p.frame.data is p.data
                assert shape(p.frame) == shape(dissect_module.dissect(p.data, p.linktype, p.wirelen)), p.index
                shared += 1
    return frames, shared


@pytest.mark.parametrize("keep", ["special", "none"])
def test_the_map_anonymize_hands_on_is_true_of_every_shared_capture(keep):
    paths = shared_capture_paths()
    if not paths:
        missing("../shared/captures")
    frames, shared = map(sum, zip(*(handed_on(p, keep) for p in paths)))
    assert frames > 7000 and shared > 0.9 * frames


@pytest.mark.parametrize("name", list(ALL))
def test_the_map_anonymize_hands_on_is_true_of_every_crafted_case(name, tmp_path):
    case = ALL[name]
    path = tmp_path / "in.pcap"
    path.write_bytes(case.pcap())
    assert handed_on(path, "none")[0] == len(case.frames)


def dissections(tmp_path, monkeypatch, frames: list[bytes]) -> int:
    src = tmp_path / "in.pcap"
    src.write_bytes(pcap_bytes(frames))
    calls = []
    dissect = dissect_module.dissect
    monkeypatch.setattr(dissect_module, "dissect", lambda *a: calls.append(1) or dissect(*a))
    config = Config(stages=("anonymize", "mask"), anonymize=AnonymizeConfig(key=KEY), chunk_size=7, processes=1)
    result = pktmask_nb.run(src, tmp_path / "out.pcap", config, force=True)
    assert result.stages["mask"]["packets"] == len(frames)
    return len(calls)


def test_a_frame_is_dissected_once_by_anonymize_and_mask(tmp_path, monkeypatch):
    f = Flow(client=("10.0.0.1", 40000), server=("10.0.0.2", 443))
    frames = f.handshake() + f.stream(True, handshake(300) + app_data(2000), [700] * 3)
    assert dissections(tmp_path, monkeypatch, frames) == len(frames)


def test_a_frame_anonymize_zeroed_in_is_dissected_again(tmp_path, monkeypatch):
    frames = ALL["tcp-data-offset-over-the-payload"].frames
    assert dissections(tmp_path, monkeypatch, frames) == 2 * len(frames)
