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


def raw_block(btype: int, body: bytes, order: str) -> bytes:
    """A block around `body` as given: its padding is the caller's."""
    return struct.pack(order + "II", btype, 12 + len(body)) + body + struct.pack(order + "I", 12 + len(body))


def raw_option(code: int, value: bytes, padding: bytes, order: str) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + padding


def untidy_pcapng(order: str, odd: bytes, frame: bytes) -> tuple[bytes, dict]:
    """Bytes no pcapng field describes, each marked with letters that must not reach the output:
    padding after data and option values, an IDB's reserved field, values longer than their
    number, bytes after opt_endofopt and after an SPB's packet. Returns the capture and what
    the scrub must count. `odd` is a frame one byte short of a multiple of 4, `frame` two."""
    assert len(odd) % 4 == 3 and len(frame) % 4 == 2
    end = struct.pack(order + "HH", 0, 0)
    flags = struct.pack(order + "I", 1)
    blocks = [
        raw_block(0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)
                   + raw_option(3, b"Linux", b"PAD", order) + end, order),  # fmt: skip
        raw_block(1, struct.pack(order + "H", 1) + b"RS" + struct.pack(order + "I", 65535)  # reserved "RS"
                   + raw_option(9, b"\x09TS", b"Q", order)  # if_tsresol of 3 bytes: ns, then text
                   + raw_option(15, b"NIC", b"H", order) + end + b"AFTER-END!!!", order),  # fmt: skip
        raw_block(6, struct.pack(order + "IIIII", 0, 0, 1_000_000, len(odd), len(odd)) + odd + b"E"
                   + raw_option(2, flags + b"FLAGTEXT", b"", order) + end + b"TAIL", order),  # fmt: skip
        raw_block(3, struct.pack(order + "I", len(frame)) + frame + b"\0\0SPBEXTRA", order),
        raw_block(2, struct.pack(order + "HHIIII", 0, 0, 0, 2_000_000, len(odd), len(odd)) + odd + b"O"
                   + raw_option(4, b"\x01\x02", b"CC", order) + end, order),  # dropcount of 2 bytes: removed
        raw_block(5, struct.pack(order + "III", 0, 0, 0) + raw_option(4, bytes(8), b"", order)
                   + raw_option(2, b"\x01\x02\x03\x04", b"", order)  # starttime of 4 bytes: removed
                   + struct.pack(order + "H", 0) + b"EN", order),  # opt_endofopt with a length "EN"
    ]  # fmt: skip
    counts = {"padding_zeroed": 3 + 2 + 1 + 1 + 1 + 1, "bytes_cut": 2 + 12 + 8 + 4 + 8 + 4}
    return b"".join(blocks), counts
