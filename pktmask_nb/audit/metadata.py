"""Rule 4 of the audit (SPEC §8, §3): pcapng blocks and options that may carry secrets or addresses.

Findings: Decryption Secrets Blocks; Name Resolution Blocks holding records or options;
custom, journal and unknown blocks (anything may be in them);
comments and custom options on any block (packets included); the IDB options if_name,
if_description, if_IPv4addr, if_IPv6addr, if_MACaddr, if_EUIaddr and if_filter. Options
that do not parse are a finding too (they cannot be shown to be harmless), and so are bytes
no field describes that are not zero: padding after packet data and option values, an IDB's
reserved field, what follows the end-of-options marker or a Simple Packet Block's packet.
"""

from __future__ import annotations

import struct

from ..capture.pcapng import (
    PCAPNG_DSB,
    PCAPNG_EPB,
    PCAPNG_IDB,
    PCAPNG_ISB,
    PCAPNG_NRB,
    PCAPNG_OPB,
    PCAPNG_SHB,
    PCAPNG_SPB,
    iter_options,
    pad4,
)
from ..record import PCAP_FILE_HEADER

OPT_COMMENT = 1
OPT_CUSTOM = frozenset((2988, 2989, 19372, 19373))  # pcapng §3.5.1: vendor data, anything
IDB_OPTION_NAMES = {
    2: "if_name",
    3: "if_description",
    4: "if_IPv4addr",
    5: "if_IPv6addr",
    6: "if_MACaddr",
    7: "if_EUIaddr",
    11: "if_filter",
}
OPTIONS_AT = {PCAPNG_SHB: 24, PCAPNG_IDB: 16, PCAPNG_ISB: 20}  # after type, length and fixed body
BLOCK_NAMES = {
    PCAPNG_SHB: "SHB",
    PCAPNG_IDB: "IDB",
    PCAPNG_ISB: "ISB",
    PCAPNG_NRB: "NRB",
    PCAPNG_EPB: "EPB",
    PCAPNG_OPB: "OPB",
}
KNOWN_BLOCKS = frozenset((PCAPNG_SHB, PCAPNG_IDB, PCAPNG_EPB, PCAPNG_SPB, PCAPNG_OPB, PCAPNG_ISB, PCAP_FILE_HEADER))
NRB_RECORDS_AT = 8
PACKET_HEAD_LEN = 28  # EPB and OPB: everything before the packet data
SPB_HEAD_LEN = 12
IDB_RESERVED = 10  # two bytes "not used, must be zero"
_NRB_RECORD = {o: struct.Struct(o + "HH") for o in "<>"}
_U32 = {o: struct.Struct(o + "I") for o in "<>"}


def option_findings(raw, start: int, end: int, order: str, block: int) -> list[tuple[int, str]]:
    """``(offset in raw, detail)`` of every secret-bearing option in ``raw[start:end]``, of
    option padding that is not zero and of bytes after the options that are not."""
    found = []
    name = BLOCK_NAMES.get(block, f"block 0x{block:08x}")
    pos = start
    try:
        for code, value, length, stop in iter_options(raw, start, end, order):
            pos = stop
            if any(raw[value + length : stop]):
                found.append((value + length, f"{name} option {code}: padding not zero"))
            if code == OPT_COMMENT:
                found.append((value - 4, f"{name} comment ({length} bytes)"))
            elif code in OPT_CUSTOM:
                found.append((value - 4, f"{name} custom option {code} ({length} bytes)"))
            elif block == PCAPNG_IDB and code in IDB_OPTION_NAMES:
                found.append((value - 4, f"{name} {IDB_OPTION_NAMES[code]} ({length} bytes)"))
    except ValueError as e:
        return found + [(start, f"{name} options do not parse ({e})")]
    if pos + 4 <= end and raw[pos : pos + 2] == b"\0\0":  # opt_endofopt, whose length must be zero too
        pos += 4 if raw[pos + 2 : pos + 4] == b"\0\0" else 2
    if any(raw[pos:end]):
        found.append((pos, f"{name}: {end - pos} bytes after its options, not zero"))
    return found


def block_findings(kind: int, raw, order: str) -> list[tuple[int, str]]:
    """``(offset in the block, detail)`` of what a non-packet pcapng block may leak."""
    if kind == PCAPNG_DSB:
        return [(0, f"Decryption Secrets Block ({len(raw)} bytes)")]
    if kind == PCAPNG_NRB:
        return _nrb(raw, order)
    if kind not in KNOWN_BLOCKS:
        return [(0, f"pcapng block type 0x{kind:08x} ({len(raw)} bytes): custom or unknown, it may hold anything")]
    found = []
    if kind == PCAPNG_IDB and any(raw[IDB_RESERVED : IDB_RESERVED + 2]):
        found.append((IDB_RESERVED, "IDB reserved field not zero"))
    start = OPTIONS_AT.get(kind)
    if start is None or len(raw) - 4 <= start:
        return found
    return found + option_findings(raw, start, len(raw) - 4, order, kind)


def _nrb(raw, order: str) -> list[tuple[int, str]]:
    """An NRB with name records, or with options (DNS server names and addresses, comments)."""
    pos, end, records = NRB_RECORDS_AT, len(raw) - 4, 0
    while pos + 4 <= end:
        rtype, length = _NRB_RECORD[order].unpack_from(raw, pos)
        pos += 4 + pad4(length)
        if rtype == 0:
            break
        records += 1
    found = [(0, f"Name Resolution Block with {records} name records")] if records else []
    if pos < end:
        found += [(0, "Name Resolution Block with options")]
    return found


def packet_findings(head: bytes, data, tail: bytes, order: str) -> list[tuple[int, str]]:
    """``(offset in the tail, detail)`` of comments and custom options of an EPB/OPB, of
    padding after a packet block's data that is not zero, of bytes after an SPB's packet."""
    if len(head) < 4 or len(tail) < 4:
        return []
    kind = _U32[order].unpack_from(head, 0)[0]
    start = pad4(len(data)) - len(data)
    found = [(0, "packet data padding not zero")] if any(tail[:start]) else []
    if kind == PCAPNG_SPB and len(head) == SPB_HEAD_LEN and any(tail[start:-4]):
        found.append((start, f"SPB: {len(tail) - start - 4} bytes after its packet, not zero"))
    elif kind in (PCAPNG_EPB, PCAPNG_OPB) and len(head) == PACKET_HEAD_LEN:
        found += option_findings(tail, start, len(tail) - 4, order, kind)
    return found
