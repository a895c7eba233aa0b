"""The leak audit (SPEC §8): an independent second opinion on a sanitized capture.

The audit judges the sanitized file against its original, byte by byte, with its own
reading of the protocols (`~.layers` for headers, `~.streams` for TCP streams and DTLS),
written from the SPEC and the RFCs; it shares nothing with the stages but the capture
readers and the declared policy tables of `pktmask_nb.policy`.

1. **Pass 1** reads the original: the identifiers to look for (`~.identifiers`), what each
   TCP direction carries (intervals of stream positions), and which frames are copies of
   earlier ones (dedup may have dropped them).
2. **Pass 2** reads both files in step. Every sanitized frame must have an original with
   the same timestamp and lengths (skipping only copies), else `AuditMismatch`. A zero byte
   is fine; a non-zero byte equal to the original's must sit in structure the audit
   recognises; one that differs must sit in an address or checksum field. A kept byte
   where SPEC §2.4/§6 zeroes is a **finding**; a byte the audit does not read leaves the
   verdict **undecided**. The whole file (record headers and pcapng blocks included) is
   searched for the original identifiers in every encoding, and pcapng metadata that may
   carry secrets is reported (`~.metadata`).

The verdict is clean only when every non-zero byte is explained. Memory: the identifiers,
per TCP direction its intervals (and during the first pass its reassembly and up to 64 KiB
of first-copy bytes, all directions' at most `remember_bytes`), one digest per original
frame (for dedup), one chunk of records.

Note that ``pktmask_nb.audit`` is the function (the package exports it); import the
module's names with ``from pktmask_nb.audit import AuditReport``.
"""

from __future__ import annotations

import os
import warnings
from array import array
from bisect import bisect_right
from typing import TYPE_CHECKING

import xxhash

from ..capture import TruncationWarning, open_capture
from ..capture.pcapng import PCAPNG_SHB
from ..config import ANON_KEEP, AUDIT_REMEMBER_BYTES, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE
from ..errors import AuditFailed, AuditMismatch, UsageError
from ..record import PCAP_FILE_HEADER, Packet
from .layers import ADDR, CSUM, KEPT, PAY, PROTO_TCP, PROTO_UDP, read
from .metadata import block_findings, packet_findings
from .names import dns_regions
from .report import (
    CLEAN,
    FINDINGS,
    KIND_ADDRESS,
    KIND_METADATA,
    KINDS,
    UNDECIDED,
    WHERE_ADDRESS_FIELD,
    WHERE_CONTAINER,
    WHERE_HEADERS,
    WHERE_PAYLOAD,
    AuditReport,
    Finding,
    Sink,
)
from .streams import DNS_PORT, StreamReader

if TYPE_CHECKING:
    from .identifiers import Identifiers
    from .judge import Judge

__all__ = ["AuditFailed", "AuditMismatch", "AuditReport", "CLEAN", "FINDINGS", "Finding", "KINDS", "UNDECIDED", "audit"]


def audit(
    original,
    sanitized,
    *,
    keep: str = "special",
    http_headers: bool = False,
    macs: bool = False,
    tls_names: bool = False,
    dns: bool = False,
    dns_names: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    remember_bytes: int = AUDIT_REMEMBER_BYTES,
    limit: int = 100,
    raise_on_findings: bool = True,
    explain=(),
) -> AuditReport:
    """Audit `sanitized` against `original` (SPEC §8).

    Parameters
    ----------
    original, sanitized : str or os.PathLike
        Captures (pcap or pcapng, gzip-compressed or not).
    keep : {"special", "none"}
        As the anonymizer's ``--anon-keep``: with ``"special"`` original addresses in the
        ranges it keeps (loopback, multicast, link-local, ...) are not findings.
    http_headers : bool
        The run kept HTTP/1.x heads (``--keep http-headers``).
    macs : bool
        The run anonymized MACs (``--anon-mac``): the original's unicast MACs are identifiers too.
    tls_names : bool
        The run zeroed TLS names (``--tls-names zero``): the server and certificate names of
        the original's cleartext handshakes must not survive in the sanitized handshakes.
    dns, dns_names : bool
        The run rewrote DNS addresses (``--anon-dns``), and kept DNS names (``--keep
        dns-names``): DNS over UDP may keep its structure (and names), its answers are
        identifiers to search for.
    chunk_size : int
        Records read at a time; the report does not depend on it.
    remember_bytes : int
        Memory for the first copies of kept stream bytes, which later copies
        (retransmissions, ICMP quotes) are compared with. Past it the directions that added
        to theirs least recently keep only their last few KiB, then nothing; a kept later
        copy of forgotten bytes is undecided, never passed.
    limit : int
        Findings listed (the first in file order); all are counted.
    raise_on_findings : bool
        Raise `AuditFailed` (carrying the report) unless the verdict is clean.
    explain : iterable of int
        Sanitized frame numbers to explain byte by byte in ``report.explained`` (for
        `pktmask_nb.notebook.compare`).

    Returns
    -------
    AuditReport

    Raises
    ------
    AuditFailed
        Findings or undecided bytes, with `raise_on_findings`.
    AuditMismatch
        The sanitized file is not a sanitized copy of the original.
    UsageError, CaptureError
        A missing file, not a capture, bad settings.
    """
    if keep not in ANON_KEEP:
        raise UsageError(f"audit keep must be one of {', '.join(ANON_KEEP)}, not {keep!r}")
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise UsageError(f"chunk size must be an integer from 1 to {MAX_CHUNK_SIZE}, not {chunk_size!r}")
    if not isinstance(limit, int) or limit < 0:
        raise UsageError(f"audit limit must be a non-negative integer, not {limit!r}")
    if not isinstance(remember_bytes, int) or remember_bytes < 0:
        raise UsageError(
            f"audit remember_bytes (--remember-bytes) must be a non-negative integer, not {remember_bytes!r}"
        )
    report = AuditReport(
        os.fspath(original),
        os.fspath(sanitized),
        keep=keep,
        http_headers=http_headers,
        macs=macs,
        tls_names=tls_names,
        dns=dns,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncationWarning)
        identifiers, streams, copies, report.original_packets = _first_pass(
            original, keep, http_headers, macs, tls_names, dns_names if dns else None, chunk_size, remember_bytes
        )
        report.warnings = [str(w.message) for w in caught if issubclass(w.category, TruncationWarning)]
        if streams.trimmed or streams.forgotten:
            report.warnings.append(
                f"the first copies of kept bytes took more than --remember-bytes ({remember_bytes} bytes): "
                f"directions were cut to their last bytes {streams.trimmed} times and made to forget all "
                f"{streams.forgotten} times; a kept later copy of what they forgot is undecided"
            )
        report.addresses = identifiers.counts()
        sink = Sink(limit)
        from .judge import Judge  # NumPy's import is paid by audits only, not by every run

        judge = Judge(sink, streams, explain, macs, dns_names if dns else None)
        with Pairs(original, sanitized, copies, chunk_size) as pairs:
            report.packets = _second_pass(sanitized, pairs, judge, identifiers, sink, chunk_size)
            report.duplicates = pairs.duplicates
    sink.fill(report)
    report.explained = judge.explained
    if raise_on_findings and not report.ok:
        raise AuditFailed(report)
    return report


def _first_pass(path, keep: str, http: bool, macs: bool, tls_names: bool, dns, chunk_size: int, remember_bytes: int):
    """The original's identifiers, TCP streams, and which frames copy an earlier one."""
    from .identifiers import Identifiers  # NumPy's import is paid by audits only, not by every run

    identifiers, streams = Identifiers(keep, macs), StreamReader(http, tls_names, dns, remember_bytes)
    frames, datagrams = Seen(), Seen()
    copies = bytearray()  # per packet, in file order: 1 if it copies an earlier frame
    with open_capture(path, on_truncated="warn") as reader:
        for chunk in reader.chunks(chunk_size):
            for record in chunk:
                if type(record) is not Packet:
                    continue
                data = record.data
                frame = read(data, record.linktype, record.wirelen)
                for at, size in frame.addresses():
                    identifiers.add(bytes(data[at : at + size]))
                for at in frame.macs:
                    identifiers.add_mac(bytes(data[at : at + 6]))
                p = frame.payload
                if dns is not None and p is not None and p.protocol == PROTO_UDP and DNS_PORT in p.key[2:]:
                    for a, b in dns_regions(data, p.start, p.end)[2]:  # answers: identifiers too
                        if b - a in (4, 16):
                            identifiers.add(bytes(data[a:b]))
                l3 = _l3_digest(data, frame.l3)
                seen = frames.add(xxhash.xxh3_64_intdigest(data))
                seen_datagram = datagrams.add(l3) if l3 is not None else False
                copies.append(seen or seen_datagram)
                p = frame.payload
                if p is not None and p.protocol == PROTO_TCP:
                    streams.segment(record.index, p.key, p.seq, p.flags, data[p.start : p.end])
                for q in frame.quotes:
                    streams.quote(record.index, q.key, q.seq, data[q.start : q.end])
    streams.finish()
    for answer in streams.answers:
        identifiers.add(answer)
    identifiers.names = streams.names or set()
    identifiers.freeze()
    return identifiers, streams, copies, len(copies)


def _l3_digest(data, at: int):
    """The digest of the IP datagram at `at` without TTL/hop limit and IPv4 checksum (SPEC §4)."""
    if at < 0 or at >= len(data):
        return None
    datagram = bytearray(data[at:])
    if datagram[0] >> 4 == 4 and len(datagram) >= 12:
        datagram[8] = datagram[10] = datagram[11] = 0
    elif datagram[0] >> 4 == 6 and len(datagram) >= 8:
        datagram[7] = 0
    return xxhash.xxh3_64_intdigest(bytes(datagram))


class Seen:
    """A set of 64-bit digests in an open-addressing table (linear probing, doubled at half
    full): at most 16 bytes a digest, where a Python set of ints takes about 70."""

    def __init__(self, bits: int = 12):
        self.table = array("Q", [0]) * (1 << bits)
        self.count = 0

    def add(self, digest: int) -> bool:
        """Add `digest`; whether it was there already."""
        key = digest | 1  # 0 marks an empty slot
        table = self.table
        mask = len(table) - 1
        i = (key >> 1) & mask  # the low bit is always 1
        while True:
            held = table[i]
            if held == key:
                return True
            if not held:
                table[i] = key
                self.count += 1
                if 2 * self.count > len(table):
                    self._grow()
                return False
            i = (i + 1) & mask

    def _grow(self) -> None:
        """Twice the slots, the digests moved one by one: the move takes no more memory than
        the two tables (a list of the digests as ints would take 40 bytes a digest more)."""
        old = self.table
        self.table = array("Q", [0]) * (2 * len(old))
        self.count = 0
        for key in old:
            if key:
                self.add(key)


class Pairs:
    """The original's packets, matched in step with the sanitized file's."""

    def __init__(self, original, sanitized, copies: bytearray, chunk_size: int):
        self.path, self.copies = os.fspath(sanitized), copies
        self.original = os.fspath(original)
        self._reader = open_capture(original, on_truncated="warn")
        self._packets = (r for chunk in self._reader.chunks(chunk_size) for r in chunk if type(r) is Packet)
        self._ordinal = 0  # packets taken from the original
        self._peeked = None
        self.duplicates = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._reader.close()

    def _next(self):
        if self._peeked is not None:
            packet, self._peeked = self._peeked, None
        else:
            packet = next(self._packets, None)
        if packet is not None:
            self._ordinal += 1
        return packet

    def _peek(self):
        if self._peeked is None:
            self._peeked = next(self._packets, None)
        return self._peeked

    def match(self, sanitized: Packet, offset: int) -> Packet:
        """The original of `sanitized` (at file `offset`): the next original packet with its
        timestamp and lengths, past copies dedup dropped."""
        while True:
            packet = self._next()
            if packet is None:
                raise AuditMismatch(
                    f"frame {sanitized.index} has no original: the original ends first", path=self.path, offset=offset
                )
            copy = self.copies[self._ordinal - 1]
            if _corresponds(packet, sanitized):
                while copy and (later := self._peek()) is not None and _corresponds(later, sanitized):
                    if _distance(sanitized, later) >= _distance(sanitized, packet):
                        break
                    self.duplicates += 1  # two candidates: the closer one is the original
                    packet = self._next()
                    copy = self.copies[self._ordinal - 1]
                return packet
            if not copy:
                raise AuditMismatch(
                    f"frame {sanitized.index} does not correspond to frame {packet.index} of {self.original} "
                    "(timestamp, length or link type differ), which is no copy of an earlier frame",
                    path=self.path,
                    offset=offset,
                )
            self.duplicates += 1

    def finish(self) -> None:
        while (packet := self._next()) is not None:
            if not self.copies[self._ordinal - 1]:
                raise AuditMismatch(
                    f"ends before frame {packet.index} of {self.original}, which is no copy of an earlier frame",
                    path=self.path,
                )
            self.duplicates += 1


def _corresponds(original: Packet, sanitized: Packet) -> bool:
    return (
        original.ts == sanitized.ts
        and len(original.data) == len(sanitized.data)
        and original.wirelen == sanitized.wirelen
        and original.linktype == sanitized.linktype
    )


def _distance(sanitized: Packet, original: Packet) -> int:
    import numpy as np

    s, o = np.frombuffer(sanitized.data, np.uint8), np.frombuffer(original.data, np.uint8)
    return int(((s != 0) & (s != o)).sum())


def _second_pass(path, pairs: Pairs, judge: Judge, identifiers: Identifiers, sink: Sink, chunk_size: int) -> int:
    """Both files in step: every pair judged, every byte searched; returns the packets."""
    packets = pos = 0
    order = "<"
    with open_capture(path) as reader:
        pcapng = reader.format == "pcapng"
        for chunk in reader.chunks(chunk_size):
            parts, located, chunk_start = [], [], pos
            for record in chunk:
                if type(record) is Packet:
                    packets += 1
                    head, data, tail = record.head, record.data, record.tail
                    base = pos + len(head)
                    original = pairs.match(record, pos)
                    frame = judge.pair(original, record, base)
                    for at, detail in packet_findings(head, data, tail, order) if pcapng else ():
                        sink.add(KIND_METADATA, record.index, base + len(data) + at, detail, WHERE_CONTAINER)
                    located.append((pos, record, (frame, original)))
                    parts += (head, data, tail)
                    pos = base + len(data) + len(tail)
                    continue
                if record.kind == PCAPNG_SHB:
                    order = record.order
                for at, detail in block_findings(record.kind, record.raw, record.order) if pcapng else ():
                    sink.add(KIND_METADATA, None, pos + at, detail, WHERE_CONTAINER)
                located.append((pos, record, None))
                parts.append(record.raw)
                pos += len(record.raw)
            if located:
                starts = [start for start, _, _ in located]
                for offset, size, what in _merged(identifiers.find(b"".join(parts), chunk_start)):
                    found = _locate(offset, size, what, located, starts, judge)
                    if found == STRUCTURE:
                        sink.structure_matches += 1
                    elif found is not None and what.startswith(TLS_NAME) and found[4] != "tls-handshake":
                        continue  # a name the run keeps elsewhere by design (an HTTP head's Host)
                    elif found is not None:
                        sink.add(KIND_ADDRESS, *found)
    pairs.finish()
    return packets


def _merged(hits: list) -> list:
    """Overlapping matches of the same identifier as one (a run of "AAAAAA" holds 65.65.65.65
    three times), and a match inside another dropped ("10.0.0.1" in "::ffff:10.0.0.1")."""
    out = []
    for offset, size, what in sorted(hits, key=lambda h: (h[0], -h[1])):
        if out and offset < out[-1][0] + out[-1][1]:
            last = out[-1]
            if last[2] == what:
                out[-1] = (last[0], max(last[1], offset + size - last[0]), what)
                continue
            if offset + size <= last[0] + last[1]:
                continue
        out.append((offset, size, what))
    return out


TLS_NAME = "TLS name "  # how identifiers.find names a TLS name it found
STRUCTURE = "structure"  # what `_locate` says of a raw match made of unchanged header structure


def _structure(sanitized: Packet, original: Packet, frame, start: int, end: int) -> bool:
    """Whether frame offsets ``[start, end)`` (negative: in the record header) hold only
    structure as the original had it: its record header, header fields the judge keeps and
    found equal to the original's, checksums. A 4-byte run across the end of a checksum, a
    zero urgent pointer and a NOP option, or across a record's timestamp, is no encoding of an
    address."""
    if end > len(sanitized.data):
        return False  # into the options of a pcapng block
    if start < 0:
        head = len(sanitized.head)
        if sanitized.head[head + start : head + min(end, 0)] != original.head[head + start : head + min(end, 0)]:
            return False
        if end <= 0:
            return True
        start = 0
    pos = start
    for a, b, cls, _ in frame.regions:
        if b <= pos or a >= end:
            continue
        if a > pos or cls not in (KEPT, CSUM):
            return False
        if cls == KEPT and sanitized.data[max(a, pos) : min(b, end)] != original.data[max(a, pos) : min(b, end)]:
            return False
        pos = min(b, end)
        if pos >= end:
            return True
    return False


def _locate(offset: int, size: int, what: str, located: list, starts: list, judge: Judge):
    """``(frame, offset, detail, where, layer, coincidence)`` of an identifier found at file
    `offset`; None if it spans two records (not one encoding of anything); `STRUCTURE` for
    a raw match made only of unchanged header structure (`_structure_only`)."""
    start, record, read_pair = located[bisect_right(starts, offset) - 1]
    raw = " as " not in what and not what.startswith(("MAC ", TLS_NAME))  # no chance, no mere structure
    if type(record) is not Packet:
        if offset + size > start + len(record.raw):
            return None
        name = "the pcap file header" if record.kind == PCAP_FILE_HEADER else f"pcapng block 0x{record.kind:08x}"
        return None, offset, f"{what} in {name}", WHERE_CONTAINER, "", raw
    at = offset - start - len(record.head)
    if offset + size > start + len(record.head) + len(record.data) + len(record.tail):
        return None
    frame, original = read_pair
    if raw and _structure(record, original, frame, at, at + size):
        return STRUCTURE
    if at < 0 or at + size > len(record.data):
        return record.index, offset, f"{what} in the record's header or options", WHERE_CONTAINER, "", raw
    cls, layer = frame.class_at(at)
    if cls == ADDR and (at, size) in frame.addresses():
        return record.index, offset, f"{what} in the {layer} address field", WHERE_ADDRESS_FIELD, layer, False
    where = WHERE_PAYLOAD if cls == PAY or "payload" in layer else WHERE_HEADERS
    layer = judge.layer_at(frame, original, at)
    return record.index, offset, f"{what} in {layer}", where, layer, raw
