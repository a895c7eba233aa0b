"""pcapng metadata scrubbing (SPEC §3): keep only blocks and options known to hold no secret.

Runs whenever anonymize or mask runs, unless ``keep_metadata``. It is an allowlist: blocks
other than section and interface descriptions, packets (enhanced, simple, obsolete) and
interface statistics are removed — Decryption Secrets, Name Resolution, custom blocks,
systemd journal exports, anything unknown (a packet block with a corrupted type among
them). Of each kept block's options only those known to describe the capture survive:
comments, custom options, an EPB's hash of the original frame and its verdict, the
interface's name, description, addresses and filter all go. Every rewritten block keeps
consistent block and option lengths; a Section Header Block's section length becomes -1
(unknown), since the section shrinks. Options that cannot be parsed are all dropped (fail
closed). pcap files pass through untouched.

What no field describes is not kept either (SPEC §2.4, "in padding"): padding after packet
data and option values and an IDB's reserved field are zeroed, bytes after the end-of-options
marker or after a Simple Packet Block's packet are removed, and a kept option that is a
number (a flag word, a counter, a time) keeps only its number's bytes.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from ..capture.pcapng import (
    PCAPNG_EPB,
    PCAPNG_IDB,
    PCAPNG_ISB,
    PCAPNG_OPB,
    PCAPNG_SHB,
    PCAPNG_SPB,
    iter_options,
    pad4,
)
from ..record import PCAP_FILE_HEADER, Block, Packet
from ..rows import Rows

SCRUB_KEPT_BLOCKS = frozenset((PCAPNG_SHB, PCAPNG_IDB, PCAPNG_EPB, PCAPNG_SPB, PCAPNG_OPB, PCAPNG_ISB))
# Options kept, by block (draft-ietf-opsawg-pcapng §4): SHB hardware, OS, application;
# IDB speed, tsresol, tzone, OS, FCS length, tsoffset, hardware, tx/rx speed, tz name;
# EPB/OPB flags, drop count, packet id, queue; ISB start/end times and counters.
SCRUB_KEPT_OPTIONS = {
    PCAPNG_SHB: frozenset((2, 3, 4)),
    PCAPNG_IDB: frozenset((8, 9, 10, 12, 13, 14, 15, 16, 17, 18)),
    PCAPNG_EPB: frozenset((2, 4, 5, 6)),
    PCAPNG_OPB: frozenset((2, 4, 5, 6)),
    PCAPNG_ISB: frozenset((2, 3, 4, 5, 6, 7, 8)),
}
# The kept options that are numbers, by size in bytes: a longer value is cut to its number
# (the part readers read), a shorter one is removed.
_PACKET_OPTION_SIZES = {2: 4, 4: 8, 5: 8, 6: 4}
SCRUB_OPTION_SIZES = {
    PCAPNG_SHB: {},
    PCAPNG_IDB: {8: 8, 9: 1, 10: 4, 13: 1, 14: 8, 16: 8, 17: 8},
    PCAPNG_EPB: _PACKET_OPTION_SIZES,
    PCAPNG_OPB: _PACKET_OPTION_SIZES,
    PCAPNG_ISB: dict.fromkeys((2, 3, 4, 5, 6, 7, 8), 8),
}
# Where the options of a block start (after its type, length and fixed body)
PCAPNG_OPTIONS_START = {PCAPNG_SHB: 24, PCAPNG_IDB: 16, PCAPNG_ISB: 20}
PCAPNG_UNKNOWN_SECTION_LENGTH = b"\xff" * 8
SHB_SECTION_LENGTH = 16
IDB_RESERVED, IDB_RESERVED_LEN = 10, 2  # "not used, must be zero"
PACKET_HEAD_LEN = 28  # EPB and OPB: type, length, interface, timestamps, lengths
SPB_HEAD_LEN = 12  # type, length, original length
_U32 = {o: struct.Struct(o + "I") for o in "<>"}
_OPTION = {o: struct.Struct(o + "HH") for o in "<>"}
_OPTION_END = b"\0\0\0\0"


class ScrubbedOptions(NamedTuple):
    """What `scrub_options` made of an option area."""

    data: bytes  # the options kept, then opt_endofopt if any is
    removed: dict[int, int]  # options removed, by code (-1: the area did not parse)
    zeroed: int  # padding bytes that were not zero
    cut: int  # bytes removed from the area besides whole options: past a number, after opt_endofopt


def scrub_options(raw, start: int, end: int, order: str, kept: frozenset, sizes: dict) -> ScrubbedOptions | None:
    """The options of ``raw[start:end]`` with codes in `kept`: their padding zeros, the numbers
    among them (`sizes`) their size, nothing after opt_endofopt. None if that is what they were.

    Options that do not parse are all removed (code -1).
    """
    option = _OPTION[order]
    left, removed, zeroed, cut, pos = [], {}, 0, 0, start
    try:
        for code, value, length, stop in iter_options(raw, start, end, order):
            pos = stop
            size = sizes.get(code, length)
            if code not in kept or length < size:
                removed[code] = removed.get(code, 0) + 1
                continue
            padding = raw[value + length : stop]
            zeroed += len(padding) - padding.count(0)
            cut += length - size
            left.append(option.pack(code, size) + raw[value : value + size] + bytes(pad4(size) - size))
    except ValueError:
        return ScrubbedOptions(b"", {-1: 1}, 0, 0)
    if pos + 4 <= end and raw[pos : pos + 4] == _OPTION_END:  # opt_endofopt; one with a length holds something else
        pos += 4
    cut += end - pos
    if not (removed or zeroed or cut):
        return None
    return ScrubbedOptions(b"".join(left) + _OPTION_END if left else b"", removed, zeroed, cut)


class ScrubStage:
    """Remove pcapng metadata that may carry secrets or original addresses (SPEC §3)."""

    name = "scrub"

    def __init__(self):
        self._order: str | None = None  # byte order of the current pcapng section; None for pcap
        self.blocks_removed: dict[str, int] = {}
        self.options_removed: dict[str, int] = {}
        self.blocks_rewritten = self.packets_rewritten = 0
        self.padding_zeroed = self.bytes_cut = 0

    def process(self, chunk: list) -> list:
        out = []
        order = self._order
        for record in chunk:
            if type(record) is Packet:
                if order is not None:
                    self._packet(record)
                out.append(record)
                continue
            if record.kind == PCAP_FILE_HEADER:
                self._order = order = None
            elif record.kind == PCAPNG_SHB:
                self._order = order = record.order
            if record.kind not in SCRUB_KEPT_BLOCKS and record.kind != PCAP_FILE_HEADER:
                self._count(self.blocks_removed, f"0x{record.kind:08x}")
                continue
            out.append(self._block(record))
        return out

    def _count(self, table: dict, key, n: int = 1) -> None:
        table[key] = table.get(key, 0) + n

    def _options(self, raw, start: int, end: int, order: str, kind: int) -> ScrubbedOptions | None:
        """`scrub_options` of a `kind` block, counted."""
        result = scrub_options(raw, start, end, order, SCRUB_KEPT_OPTIONS[kind], SCRUB_OPTION_SIZES[kind])
        if result is not None:
            for code, n in result.removed.items():
                self._count(self.options_removed, str(code), n)
            self.padding_zeroed += result.zeroed
            self.bytes_cut += result.cut
        return result

    def _block(self, block: Block) -> Block:
        start = PCAPNG_OPTIONS_START.get(block.kind)
        if start is None:
            return block
        raw, order = block.raw, block.order
        result = self._options(raw, start, len(raw) - 4, order, block.kind) if len(raw) - 4 > start else None
        body = bytes(raw[:start] if result is not None else raw[:-4])
        if result is not None:
            body += result.data
        changed = result is not None
        if block.kind == PCAPNG_IDB and any(body[IDB_RESERVED : IDB_RESERVED + IDB_RESERVED_LEN]):
            self.padding_zeroed += IDB_RESERVED_LEN - body.count(0, IDB_RESERVED, IDB_RESERVED + IDB_RESERVED_LEN)
            body = body[:IDB_RESERVED] + bytes(IDB_RESERVED_LEN) + body[IDB_RESERVED + IDB_RESERVED_LEN :]
            changed = True
        if (
            block.kind == PCAPNG_SHB
            and raw[SHB_SECTION_LENGTH : SHB_SECTION_LENGTH + 8] != PCAPNG_UNKNOWN_SECTION_LENGTH
        ):
            body = body[:SHB_SECTION_LENGTH] + PCAPNG_UNKNOWN_SECTION_LENGTH + body[SHB_SECTION_LENGTH + 8 :]
        elif not changed:
            return block
        self.blocks_rewritten += 1
        length = _U32[order].pack(len(body) + 4)
        return Block(block.kind, body[:4] + length + body[8:] + length, order)

    def _packet(self, packet: Packet) -> None:
        """Zero the padding after a packet block's data; drop an EPB/OPB's comments and custom
        options and what an SPB holds past its packet. Options and padding ride in ``packet.tail``."""
        head, tail, order = packet.head, packet.tail, self._order
        size = len(packet.data)
        padding = pad4(size) - size
        kind = _U32[order].unpack_from(head, 0)[0] if len(head) >= 4 else None
        if len(tail) < padding + 4 or not (
            (kind in (PCAPNG_EPB, PCAPNG_OPB) and len(head) == PACKET_HEAD_LEN)
            or (kind == PCAPNG_SPB and len(head) == SPB_HEAD_LEN)
        ):
            return
        zeroed = padding - tail.count(0, 0, padding)
        if kind == PCAPNG_SPB:  # no options: the block ends after the packet's padding
            options, cut = b"", len(tail) - padding - 4
            if not (zeroed or cut):
                return
            self.bytes_cut += cut
        else:
            result = self._options(tail, padding, len(tail) - 4, order, kind)
            if not (zeroed or result is not None):
                return
            options = tail[padding:-4] if result is None else result.data
        self.padding_zeroed += zeroed
        length = _U32[order].pack(len(head) + size + padding + len(options) + 4)
        packet.head = head[:4] + length + head[8:]
        packet.tail = bytes(padding) + options + length
        self.packets_rewritten += 1

    def flush(self) -> list:
        return []

    def stats(self) -> dict:
        return {
            "blocks_removed": dict(self.blocks_removed),
            "options_removed": dict(self.options_removed),
            "blocks_rewritten": self.blocks_rewritten,
            "packets_rewritten": self.packets_rewritten,
            "padding_zeroed": self.padding_zeroed,
            "bytes_cut": self.bytes_cut,
        }

    def tables(self) -> dict[str, Rows]:
        return {}
