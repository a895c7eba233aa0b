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
"""

from __future__ import annotations

import struct

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
# Where the options of a block start (after its type, length and fixed body)
PCAPNG_OPTIONS_START = {PCAPNG_SHB: 24, PCAPNG_IDB: 16, PCAPNG_ISB: 20}
PCAPNG_UNKNOWN_SECTION_LENGTH = b"\xff" * 8
SHB_SECTION_LENGTH = 16
PACKET_HEAD_LEN = 28  # EPB and OPB: type, length, interface, timestamps, lengths
_U32 = {o: struct.Struct(o + "I") for o in "<>"}
_OPTION_END = b"\0\0\0\0"


def filter_options(raw, start: int, end: int, order: str, kept: frozenset) -> tuple[bytes, dict[int, int]] | None:
    """The options of ``raw[start:end]`` with codes in `kept` only, or None if none is dropped.

    Returns ``(options, removed)``: the new option bytes (with opt_endofopt when any
    option is left) and how many options of each code were removed. Options that do not
    parse are all removed (code -1).
    """
    left, removed = [], {}
    try:
        for code, value, _, stop in iter_options(raw, start, end, order):
            if code not in kept:
                removed[code] = removed.get(code, 0) + 1
            else:
                left.append(bytes(raw[value - 4 : stop]))
    except ValueError:
        return b"", {-1: 1}
    if not removed:
        return None
    return (b"".join(left) + _OPTION_END if left else b""), removed


class ScrubStage:
    """Remove pcapng metadata that may carry secrets or original addresses (SPEC §3)."""

    name = "scrub"

    def __init__(self):
        self._order: str | None = None  # byte order of the current pcapng section; None for pcap
        self.blocks_removed: dict[str, int] = {}
        self.options_removed: dict[str, int] = {}
        self.blocks_rewritten = self.packets_rewritten = 0

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

    def _block(self, block: Block) -> Block:
        start = PCAPNG_OPTIONS_START.get(block.kind)
        if start is None:
            return block
        raw, order = block.raw, block.order
        kept = SCRUB_KEPT_OPTIONS[block.kind]
        result = filter_options(raw, start, len(raw) - 4, order, kept) if len(raw) - 4 > start else None
        body = bytes(raw[:start] if result is not None else raw[:-4])
        if result is not None:
            body += result[0]
            for code, n in result[1].items():
                self._count(self.options_removed, str(code), n)
        if (
            block.kind == PCAPNG_SHB
            and raw[SHB_SECTION_LENGTH : SHB_SECTION_LENGTH + 8] != PCAPNG_UNKNOWN_SECTION_LENGTH
        ):
            body = body[:SHB_SECTION_LENGTH] + PCAPNG_UNKNOWN_SECTION_LENGTH + body[SHB_SECTION_LENGTH + 8 :]
        elif result is None:
            return block
        self.blocks_rewritten += 1
        length = _U32[order].pack(len(body) + 4)
        return Block(block.kind, body[:4] + length + body[8:] + length, order)

    def _packet(self, packet: Packet) -> None:
        """Drop comments and custom options of an EPB/OPB; they ride in ``packet.tail``."""
        head, tail, order = packet.head, packet.tail, self._order
        if len(head) != PACKET_HEAD_LEN or len(tail) <= 4:
            return
        kind = _U32[order].unpack_from(head, 0)[0]
        if kind not in (PCAPNG_EPB, PCAPNG_OPB):
            return
        padding = pad4(len(packet.data)) - len(packet.data)
        result = filter_options(tail, padding, len(tail) - 4, order, SCRUB_KEPT_OPTIONS[kind])
        if result is None:
            return
        options, removed = result
        for code, n in removed.items():
            self._count(self.options_removed, str(code), n)
        length = _U32[order].pack(len(head) + len(packet.data) + padding + len(options) + 4)
        packet.head = head[:4] + length + head[8:]
        packet.tail = tail[:padding] + options + length
        self.packets_rewritten += 1

    def flush(self) -> list:
        return []

    def stats(self) -> dict:
        return {
            "blocks_removed": dict(self.blocks_removed),
            "options_removed": dict(self.options_removed),
            "blocks_rewritten": self.blocks_rewritten,
            "packets_rewritten": self.packets_rewritten,
        }

    def tables(self) -> dict[str, Rows]:
        return {}
