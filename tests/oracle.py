"""Independent readings of captures (scapy's raw readers), for comparing against our output."""

from __future__ import annotations

import gzip

from scapy.utils import RawPcapNgReader, RawPcapReader


def frames(path) -> list[tuple[bytes, float | None, int]]:
    """``(captured bytes, timestamp in seconds, linktype)`` of every packet, read by scapy."""
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        with gzip.open(path, "rb") as f:
            head = f.read(4)
    if head == b"\x0a\x0d\x0d\x0a":
        out = []
        with RawPcapNgReader(str(path)) as reader:
            for data, meta in reader:
                ts = ((meta.tshigh << 32) | meta.tslow) / meta.tsresol if meta.tshigh is not None else None
                out.append((data, ts, meta.linktype))
        return out
    with RawPcapReader(str(path)) as reader:
        linktype = reader.linktype
        scale = 1e9 if reader.nano else 1e6
        return [(data, meta.sec + meta.usec / scale, linktype) for data, meta in reader]
