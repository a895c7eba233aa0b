"""pcapng files (draft-ietf-opsawg-pcapng): sections in either byte order, interfaces, every block kept."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from ..errors import CorruptedFile
from ..record import Block, Packet
from .pcap import PCAP_MAX_CAPLEN
from .reader import UNBOUNDED, CaptureReader

PCAPNG_SHB = 0x0A0D0D0A  # Section Header Block, §4.1
PCAPNG_IDB = 0x00000001  # Interface Description Block, §4.2
PCAPNG_OPB = 0x00000002  # Packet Block (obsolete), appendix
PCAPNG_SPB = 0x00000003  # Simple Packet Block, §4.4
PCAPNG_NRB = 0x00000004  # Name Resolution Block, §4.5
PCAPNG_ISB = 0x00000005  # Interface Statistics Block, §4.6
PCAPNG_EPB = 0x00000006  # Enhanced Packet Block, §4.3
PCAPNG_DSB = 0x0000000A  # Decryption Secrets Block, §4.7
PCAPNG_PACKET_BLOCKS = frozenset((PCAPNG_EPB, PCAPNG_SPB, PCAPNG_OPB))
PCAPNG_SHB_MAGIC = b"\x0a\x0d\x0d\x0a"
PCAPNG_BYTE_ORDER_MAGIC = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
PCAPNG_MAX_BLOCK_LEN = 16 * 1024 * 1024  # Wireshark's limit for a block
PCAPNG_MAX_CAPLEN = PCAP_MAX_CAPLEN
PCAPNG_VERSION_MAJOR = 1
PCAPNG_OPT_ENDOFOPT = 0
PCAPNG_OPT_COMMENT = 1
PCAPNG_IF_TSRESOL = 9
PCAPNG_IF_TSOFFSET = 14
PCAPNG_MIN_BLOCK_LEN = {PCAPNG_SHB: 28, PCAPNG_IDB: 20, PCAPNG_EPB: 32, PCAPNG_OPB: 32, PCAPNG_SPB: 16}

_U32 = {o: struct.Struct(o + "I") for o in "<>"}
_BLOCK_HEADER = {o: struct.Struct(o + "II") for o in "<>"}
_EPB = {o: struct.Struct(o + "IIIII") for o in "<>"}  # interface id, ts high, ts low, caplen, origlen
_OPB = {o: struct.Struct(o + "HHIIII") for o in "<>"}  # interface id, drops, ts high, ts low, caplen, len
_IDB = {o: struct.Struct(o + "HHI") for o in "<>"}  # link type, reserved, snaplen
_OPTION = {o: struct.Struct(o + "HH") for o in "<>"}
_TSOFFSET = {o: struct.Struct(o + "q") for o in "<>"}
_VERSION = {o: struct.Struct(o + "HH") for o in "<>"}


def pad4(n: int) -> int:
    """`n` rounded up to a multiple of 4 (pcapng aligns block bodies and option values)."""
    return (n + 3) & ~3


def iter_options(raw, start: int, end: int, order: str) -> Iterator[tuple[int, int, int, int]]:
    """Yield ``(code, value_offset, value_length, option_end)`` for the options in ``raw[start:end]``.

    Stops at opt_endofopt or at the end; an option running past `end` raises ValueError.
    """
    unpack = _OPTION[order].unpack_from
    pos = start
    while pos + 4 <= end:
        code, length = unpack(raw, pos)
        if code == PCAPNG_OPT_ENDOFOPT:
            return
        stop = pos + 4 + pad4(length)
        if stop > end:
            raise ValueError(f"option {code} of length {length} overruns its block")
        yield code, pos + 4, length, stop
        pos = stop


def timestamp_scale(tsresol: int) -> tuple[int, int]:
    """``(mul, div)`` turning if_tsresol units into nanoseconds: ``ns = units * mul // div``."""
    exponent = tsresol & 0x7F
    if tsresol & 0x80:
        return 1_000_000_000, 1 << exponent
    if exponent <= 9:
        return 10 ** (9 - exponent), 1
    return 1, 10 ** (exponent - 9)


class Interface:
    """What packet blocks need from their IDB: link type, snaplen and timestamp scaling."""

    __slots__ = ("linktype", "snaplen", "mul", "div", "offset_ns")

    def __init__(self, linktype: int, snaplen: int, tsresol: int = 6, tsoffset: int = 0):
        self.linktype = linktype
        self.snaplen = snaplen
        self.mul, self.div = timestamp_scale(tsresol)
        self.offset_ns = tsoffset * 1_000_000_000


def parse_interface(raw: bytes, order: str) -> Interface:
    """Read link type, snaplen, if_tsresol and if_tsoffset from a whole IDB."""
    linktype, _, snaplen = _IDB[order].unpack_from(raw, 8)
    tsresol, tsoffset = 6, 0
    for code, value, length, _ in iter_options(raw, 16, len(raw) - 4, order):
        if code == PCAPNG_IF_TSRESOL and length >= 1:
            tsresol = raw[value]
        elif code == PCAPNG_IF_TSOFFSET and length >= 8:
            tsoffset = _TSOFFSET[order].unpack_from(raw, value)[0]
    return Interface(linktype, snaplen, tsresol, tsoffset)


class PcapngReader(CaptureReader):
    """Read a pcapng file in chunks: packet blocks become `Packet`, all other blocks `Block`.

    EPB, SPB and the obsolete Packet Block are packets; their options and padding ride in
    ``Packet.tail`` so the writer reproduces the block exactly.
    """

    format = "pcapng"

    def __init__(self, source, **kwargs):
        super().__init__(source, **kwargs)
        self.order = "<"
        self.interfaces: list[Interface] = []
        self.sections = 0

    def _whole_header(self) -> bool:
        return self.sections > 0

    def _corrupt(self, message: str) -> CorruptedFile:
        return CorruptedFile(message, path=self.path, offset=self.offset)

    def _next_block(self) -> tuple[int, bytes] | None:
        """Return ``(type, whole block)`` of the next block, or None at the end."""
        if not self._refill(8, "a block header"):
            return None
        buf, pos = self._buf, self._pos
        if buf[pos : pos + 4] == PCAPNG_SHB_MAGIC:
            if not self._refill(12, "a section header block"):
                return None
            buf, pos = self._buf, self._pos
            magic = bytes(buf[pos + 8 : pos + 12])
            order = PCAPNG_BYTE_ORDER_MAGIC.get(magic)
            if order is None:
                raise self._corrupt(f"bad byte-order magic {magic.hex()} in section header")
            self.order = order
        elif self.sections == 0:
            raise self._corrupt("expected a section header block")
        btype, blen = _BLOCK_HEADER[self.order].unpack_from(buf, pos)
        if blen % 4 or blen < PCAPNG_MIN_BLOCK_LEN.get(btype, 12) or blen > PCAPNG_MAX_BLOCK_LEN:
            raise self._corrupt(f"impossible length {blen} for block type 0x{btype:08x}")
        if not self._refill(blen, f"a block of {blen} bytes"):
            return None
        buf, pos = self._buf, self._pos
        trailer = _U32[self.order].unpack_from(buf, pos + blen - 4)[0]
        if trailer != blen:
            raise self._corrupt(f"block length mismatch: header says {blen}, trailer says {trailer}")
        with memoryview(buf) as view:
            return btype, bytes(view[pos : pos + blen])

    def _interface(self, ifid: int) -> Interface:
        if ifid >= len(self.interfaces):
            raise self._corrupt(f"packet refers to interface {ifid}, section defines {len(self.interfaces)}")
        return self.interfaces[ifid]

    def _packet(self, btype: int, raw: bytes, index: int) -> Packet:
        order = self.order
        if btype == PCAPNG_SPB:
            origlen = _U32[order].unpack_from(raw, 8)[0]
            iface = self._interface(0)
            caplen = min(origlen, len(raw) - 16, iface.snaplen or origlen)
            return Packet(index, None, raw[12 : 12 + caplen], origlen, iface.linktype, raw[:12], raw[12 + caplen :])
        if btype == PCAPNG_EPB:
            ifid, hi, lo, caplen, origlen = _EPB[order].unpack_from(raw, 8)
        else:
            ifid, _, hi, lo, caplen, origlen = _OPB[order].unpack_from(raw, 8)
        if caplen > PCAPNG_MAX_CAPLEN or 32 + pad4(caplen) > len(raw):
            raise self._corrupt(f"packet caplen {caplen} does not fit its {len(raw)}-byte block")
        iface = self._interface(ifid)
        ts = ((hi << 32) | lo) * iface.mul // iface.div + iface.offset_ns
        return Packet(index, ts, raw[28 : 28 + caplen], origlen, iface.linktype, raw[:28], raw[28 + caplen :])

    def _block(self, btype: int, raw: bytes) -> Block:
        if btype == PCAPNG_SHB:
            major, minor = _VERSION[self.order].unpack_from(raw, 12)
            if major != PCAPNG_VERSION_MAJOR:
                raise self._corrupt(f"unsupported pcapng version {major}.{minor}, expected 1.x")
            self.sections += 1
            self.interfaces = []
        elif btype == PCAPNG_IDB:
            try:
                self.interfaces.append(parse_interface(raw, self.order))
            except ValueError as e:
                raise self._corrupt(f"interface description block: {e}") from None
        return Block(btype, raw, self.order)

    def read_chunk(self, max_packets: int, max_bytes: int = UNBOUNDED) -> list:
        out = []
        if self._done:
            return out
        index = self.packets
        stop_index = index + max_packets
        taken = 0
        while index < stop_index and taken < max_bytes:
            block = self._next_block()
            if block is None:
                break
            btype, raw = block
            if btype in PCAPNG_PACKET_BLOCKS:
                index += 1
                out.append(self._packet(btype, raw, index))
                taken += len(raw)
            else:
                out.append(self._block(btype, raw))
            self._pos += len(raw)
        self.packets = index
        return out
