"""The install compiled what setup.py says it compiles, and Python imports the compiled modules."""

from __future__ import annotations

import importlib
import importlib.machinery
from pathlib import Path

from conftest import ROOT

import pktmask_nb
from pktmask_nb.proto.spans import R_IP, R_LINK, R_TCP, FrameMap


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


def test_the_frame_map_holds_its_spans_as_c_entries_past_the_inline_ones():
    """The first 16 spans live in the map, more grow an allocation: reading, marks, rewinds and
    the setter agree with the list they describe either way, and the allocation is freed."""
    import tracemalloc

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
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(2000):
            grown = FrameMap(bytes(100))
            grown.spans = expected
        del grown
        assert tracemalloc.get_traced_memory()[0] - before < 4096
    finally:
        tracemalloc.stop()


HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: every class a Python `class` statement makes has it

# The classes a .pxd declares as extension types (C members, C method calls), by module.
EXTENSION_TYPES = {
    "pktmask_nb.record": ("Packet", "Block"),
    "pktmask_nb.proto.spans": ("FrameMap", "Field", "Checksum", "IpLayer", "Ledger"),
    "pktmask_nb.anon.table": ("AddressTable", "Entry"),
    "pktmask_nb.stages.mask.stage": ("MaskStage", "MaskCounts", "_Held"),
    "pktmask_nb.stages.mask.flows": ("Flow", "FlowTable"),
    "pktmask_nb.stages.mask.stream": ("Keeps", "Decision", "Direction"),
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
