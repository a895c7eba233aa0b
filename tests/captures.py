"""Build small pcap and pcapng files byte by byte, for round trips and failure modes."""

from __future__ import annotations

import struct

PCAP_MAGIC = {
    ("<", False): b"\xd4\xc3\xb2\xa1",
    (">", False): b"\xa1\xb2\xc3\xd4",
    ("<", True): b"\x4d\x3c\xb2\xa1",
    (">", True): b"\xa1\xb2\x3c\x4d",
}


def pcap_header(order: str = "<", nanosecond: bool = False, linktype: int = 1, snaplen: int = 65535) -> bytes:
    return PCAP_MAGIC[order, nanosecond] + struct.pack(order + "HHiIII", 2, 4, 0, 0, snaplen, linktype)


def pcap_record(data: bytes, ts: tuple[int, int] = (1, 0), order: str = "<", wirelen: int | None = None) -> bytes:
    return struct.pack(order + "IIII", ts[0], ts[1], len(data), len(data) if wirelen is None else wirelen) + data


def pcap(frames: list[bytes], order: str = "<", nanosecond: bool = False, linktype: int = 1) -> bytes:
    """A pcap file holding `frames`, one per second plus a per-frame fraction."""
    body = b"".join(pcap_record(f, (1_600_000_000 + i, i * 7 % 1000), order) for i, f in enumerate(frames))
    return pcap_header(order, nanosecond, linktype) + body


def _pad(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def option(code: int, value: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + _pad(value)


def options(opts: list[tuple[int, bytes]], order: str = "<") -> bytes:
    if not opts:
        return b""
    return b"".join(option(c, v, order) for c, v in opts) + struct.pack(order + "HH", 0, 0)


def block(btype: int, body: bytes, order: str = "<") -> bytes:
    body = _pad(body)
    length = 12 + len(body)
    return struct.pack(order + "II", btype, length) + body + struct.pack(order + "I", length)


def shb(order: str = "<", opts=()) -> bytes:
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + options(list(opts), order)
    return block(0x0A0D0D0A, body, order)


def idb(linktype: int = 1, order: str = "<", snaplen: int = 65535, opts=()) -> bytes:
    return block(1, struct.pack(order + "HHI", linktype, 0, snaplen) + options(list(opts), order), order)


def epb(data: bytes, iface: int = 0, ts: int = 0, order: str = "<", opts=()) -> bytes:
    head = struct.pack(order + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    return block(6, head + _pad(data) + options(list(opts), order), order)


def spb(data: bytes, order: str = "<") -> bytes:
    return block(3, struct.pack(order + "I", len(data)) + _pad(data), order)


def opb(data: bytes, iface: int = 0, ts: int = 0, order: str = "<") -> bytes:
    head = struct.pack(order + "HHIIII", iface, 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    return block(2, head + _pad(data), order)


def frame(n: int, size: int = 60) -> bytes:
    """A distinct Ethernet frame (IPv4 ethertype) numbered `n`."""
    body = n.to_bytes(4, "big") * (size // 4 + 1)
    return b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\x08\x00" + body[: size - 14]
