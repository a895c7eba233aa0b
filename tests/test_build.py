"""The install compiled what setup.py says it compiles, and Python imports the compiled modules."""

from __future__ import annotations

import importlib
import importlib.machinery
import tracemalloc
from pathlib import Path

from conftest import ROOT

import pktmask_nb
from pktmask_nb.proto.spans import (
    A_INNER,
    CK_TCP,
    CK_UDP,
    R_IP,
    R_LINK,
    R_TCP,
    R_UNSEEN_CHECKSUM,
    Checksum,
    Field,
    FrameMap,
    new_map,
)


def per_packet_modules() -> list[str]:
    """What must run compiled: every module of the per-packet packages, the engine, the records."""
    package = ROOT / "pktmask_nb"
    paths = [p for d in ("capture", "proto", "anon", "stages", "audit") for p in (package / d).rglob("*.py*")]
    paths = [p for p in paths if p.suffix in (".py", ".pyx")]
    paths += [package / "pipeline.py", package / "record.py"]
    return sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in paths if p.name != "__init__.py")


def test_every_per_packet_module_is_imported_compiled():
    names = per_packet_modules()
    assert len(names) > 40 and "pktmask_nb.proto.dissect" in names and "pktmask_nb.stages.mask.stage" in names
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    python = [name for name in names if not importlib.import_module(name).__file__.endswith(suffixes)]
    assert python == [], "imported from .py, not compiled: rebuild with `pip install --no-deps -e .`"


def test_the_frame_map_is_an_extension_type_with_c_fields():
    m = FrameMap(b"\x00" * 4)
    assert not hasattr(m, "__dict__")
    try:
        m.status = "not a number"
    except TypeError:
        pass
    else:
        raise AssertionError("FrameMap.status took a str: spans.pxd was not compiled in")


def test_the_walk_s_frame_maps_start_as_constructed_ones():
    """`new_map` (the walk's, without the call's argument parsing) and ``FrameMap(...)`` share
    one set-up: the same fields, the same empty entries."""
    for data, truncated in ((b"", False), (b"\x01\x02\x03", True), (bytearray(b"\x00" * 70), False)):
        a, b = FrameMap(data, truncated), new_map(data, truncated)
        fields = ("data", "n", "truncated", "pos", "ips", "status", "transport", "l4", "ip", "payload_start")
        fields += ("payload_end", "fragment", "quoting", "depth", "limit", "frag_id", "quote", "spans", "fields")
        fields += ("checksums", "macs", "unseen")
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
        assert type(b) is FrameMap and b.data is data


def test_the_frame_map_holds_its_spans_as_c_entries_past_the_inline_ones():
    """The first 16 spans live in the map, more grow an allocation: reading, marks, rewinds and
    the setter agree with the list they describe either way, and the allocation is freed."""

    def reason(end: int) -> int:
        return R_IP if end % 2 else R_TCP  # alternating: no span joins the one before it

    expected = [0, 1, R_LINK] + [x for end in range(2, 61) for x in (end - 1, end, reason(end))]
    m = FrameMap(bytes(100))
    m.put(1, R_LINK)
    marks = {}
    for end in range(2, 61):
        marks[end] = m.mark()
        m.put(end, reason(end))
    assert m.spans == expected and len(expected) // 3 == 60
    assert list(m.iter_spans()) == [tuple(expected[i : i + 3]) for i in range(0, len(expected), 3)]
    m.put(70, reason(60))  # joins the last span
    assert m.spans[-3:] == [59, 70, reason(60)]
    m.rewind(marks[40])  # inside the grown entries
    assert m.spans == expected[: 3 * 39] and m.pos == 39
    m.rewind(marks[5])  # back inside the inline ones
    assert m.spans == expected[: 3 * 4] and m.pos == 4
    m.spans = expected
    assert m.spans == expected

    def maps():
        for _ in range(2000):
            grown = FrameMap(bytes(100))
            grown.spans = expected

    assert heap_growth(maps) < 4096


def test_the_frame_map_holds_its_records_as_c_entries_past_the_inline_ones():
    """Address fields, checksums, MACs and unseen checksum fields past the few a map holds
    inline grow allocations: the lists, marks and rewinds agree either way, `seal` drops the
    checksums it zeroes, keeping the rest in order, and the allocations are freed."""

    def build(n: int, count: int, over: int = 0):
        """`count` fields (8 bytes apart, each with a checksum after it); every checksum of an
        odd field covers bytes past the frame when `over`."""
        m = FrameMap(bytes(n))
        marks = []
        for i in range(count):
            marks.append(m.mark())
            assert m.address(8 * i, 4, 16 if i % 3 else 4, A_INNER, prefix_at=i, bits=i) == i
            m.put(8 * i + 8, R_IP)
            m.checksum(8 * i + 4, 8 * i, n + (over if i % 2 else 0), CK_UDP if i % 4 else CK_TCP, (i, 0)[: i % 3])
        marks.append(m.mark())
        m.hardware(8 * count, 3)
        marks.append(m.mark())
        m.hardware(8 * count + 18, 4)  # the last one cut by the frame's end when n is short
        return m, marks

    m, marks = build(200, 12)
    fields = [Field(8 * i, 4, 16 if i % 3 else 4, A_INNER, prefix_at=i, bits=i) for i in range(12)]
    checksums = [Checksum(8 * i + 4, 8 * i, 200, CK_UDP if i % 4 else CK_TCP, (i, 0)[: i % 3]) for i in range(12)]
    assert m.fields == fields and m.checksums == checksums
    assert m.macs == list(range(96, 96 + 42, 6))
    m.rewind(marks[13])
    assert m.macs == [96, 102, 108] and m.fields == fields
    assert build(135, 12)[0].macs == list(range(96, 96 + 36, 6))
    m.rewind(marks[12])
    assert m.macs == []
    m.rewind(marks[7])  # inside the grown entries
    assert m.fields == fields[:7] and m.checksums == checksums[:7]
    m.rewind(marks[2])  # back inside the inline ones
    assert m.fields == fields[:2] and m.checksums == checksums[:2]

    unseen = FrameMap(bytes(10))  # checksum fields the handlers' bounds cut: their parts in the frame
    for limit in (3, 5, 7, 9):
        if limit == 7:
            mark = unseen.mark()
        unseen.limit = limit
        unseen.checksum(limit - 1, 0, 20, CK_TCP)
    assert unseen.unseen == [(2, 3), (4, 5), (6, 7), (8, 9)] and unseen.checksums == []
    unseen.rewind(mark)
    assert unseen.unseen == [(2, 3), (4, 5)]

    checksums = [c._replace(end=100) for c in checksums]
    m, _ = build(100, 12, over=50)
    m.seal()  # the frame does not end in a payload: checksums over bytes it lacks are zeroed
    dropped = {i for i in range(1, 12, 2) if not (i % 4 and i % 3 and fields[i].width == 16)}
    kept = [c for i, c in enumerate(checksums) if i not in dropped]
    assert m.checksums == [c._replace(end=150) if i % 2 else c for i, c in enumerate(checksums) if i not in dropped]
    assert len(kept) > 4 and dropped
    zeroed = [(a, b) for a, b, r in m.iter_spans() if r == R_UNSEEN_CHECKSUM]
    assert zeroed == [(8 * i + 4, 8 * i + 6) for i in sorted(dropped)]

    def maps():
        for _ in range(2000):
            build(200, 12)

    assert heap_growth(maps) < 4096


def heap_growth(work) -> int:
    """Bytes `work()` leaves allocated, counted from this file's lines only (in C too: the
    Python line that called it): pytest-xdist's thread allocates meanwhile."""
    tracemalloc.start()
    try:
        mine = [tracemalloc.Filter(True, __file__)]
        before = tracemalloc.take_snapshot().filter_traces(mine)
        work()
        after = tracemalloc.take_snapshot().filter_traces(mine)
        return sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    finally:
        tracemalloc.stop()


HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: every class a Python `class` statement makes has it

# The classes a .pxd declares as extension types (C members, C method calls), by module.
EXTENSION_TYPES = {
    "pktmask_nb.record": ("Packet", "Block"),
    "pktmask_nb.proto.spans": ("FrameMap", "IpLayer", "Ledger"),
    "pktmask_nb.stages.mask.stage": ("MaskStage", "MaskCounts", "_Held"),
    "pktmask_nb.stages.mask.flows": ("Flow", "FlowTable"),
    "pktmask_nb.stages.mask.stream": ("Direction",),
    "pktmask_nb.stages.mask.tls": ("TlsWalker",),
    "pktmask_nb.stages.mask.http": ("HttpWalker",),
    "pktmask_nb.stages.mask.writer": ("ZeroWriter",),
}


def test_the_declared_classes_are_extension_types():
    """A .pxd that stopped matching its .py (renamed, not installed) would leave a Python class."""
    python = [
        f"{module}.{name}"
        for module, names in EXTENSION_TYPES.items()
        for name in names
        if getattr(importlib.import_module(module), name).__flags__ & HEAP_TYPE
    ]
    assert python == []


def test_the_notebook_layer_is_not_compiled():
    """Jupyter introspects it (widgets, reprs); it stays plain Python."""
    notebook = Path(pktmask_nb.__file__).parent / "notebook"
    assert not list(notebook.glob("*.so"))
