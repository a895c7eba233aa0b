"""The leak audit (SPEC §8): does a sanitized capture still hold anything of the original?

`audit` reads the original once (its addresses) and the sanitized file once, checking:

1. **addresses** — every address of the original's address fields, as bytes, anywhere in
   the sanitized file (`~pktmask_nb.audit.addresses`);
2. **TLS application data** — non-zero bytes inside TLS/DTLS application-data bodies;
3. **payloads** — non-zero bytes where SPEC §6 zeroes (`~pktmask_nb.audit.frames`);
4. **metadata** — pcapng blocks and options that may carry secrets (`~pktmask_nb.audit.metadata`).

It reuses the package's readers and dissector, and judges structure from the SPEC, not
from the mask stage's code, so it checks mask independently. Memory stays bounded: one
entry per distinct original address, a capped flow table, one chunk of records.

Note that ``pktmask_nb.audit`` is the function (the package exports it); import the
module's names with ``from pktmask_nb.audit import AuditReport``.
"""

from __future__ import annotations

import os
import warnings
from bisect import bisect_right

from ..capture import TruncationWarning, open_capture
from ..capture.pcapng import PCAPNG_SHB
from ..config import ANON_KEEP, MAX_CHUNK_SIZE
from ..errors import AuditFailed, UsageError
from ..record import PCAP_FILE_HEADER, Packet
from .addresses import AddressScanner, address_fields, collect, show
from .dissect import IPPROTO_TCP, IPPROTO_UDP, dissect
from .frames import PayloadAuditor
from .metadata import block_findings, packet_findings
from .report import (
    KIND_ADDRESS,
    KIND_METADATA,
    KINDS,
    WHERE_ADDRESS_FIELD,
    WHERE_CONTAINER,
    WHERE_HEADERS,
    WHERE_PAYLOAD,
    WHERE_TRAILER,
    AuditReport,
    Finding,
    Sink,
)

__all__ = ["AuditFailed", "AuditReport", "Finding", "KINDS", "audit"]

RECENT_BYTES = 16  # records of the previous chunk kept for matches that start there


def audit(
    original,
    sanitized,
    *,
    keep: str = "special",
    http_headers: bool = False,
    chunk_size: int = 4096,
    limit: int = 100,
    raise_on_findings: bool = True,
) -> AuditReport:
    """Audit `sanitized` against `original` for leaks (SPEC §8).

    Parameters
    ----------
    original, sanitized : str or os.PathLike
        Captures (pcap or pcapng, gzip-compressed or not).
    keep : {"special", "none"}
        As the anonymize stage's setting: with ``"special"`` original addresses in the
        special ranges it keeps (loopback, multicast, link-local, ...) are not findings.
    http_headers : bool
        The pipeline kept HTTP/1.x headers (``--keep http-headers``): start lines and
        headers may be non-zero, sensitive header values and bodies not.
    chunk_size : int
        Packets read at a time; the report does not depend on it.
    limit : int
        Findings kept in the report (the first in file order); all are counted.
    raise_on_findings : bool
        Raise `AuditFailed` (carrying the report) when anything was found.

    Returns
    -------
    AuditReport

    Raises
    ------
    AuditFailed
        Findings, with `raise_on_findings`.
    UsageError, CaptureError
        A missing file, not a capture, bad settings.

    Notes
    -----
    Frame numbers and byte offsets refer to the sanitized file (decompressed if gzip).
    A 4-byte match can be chance in a large file: address findings say whether they sit
    in an address field (``where="address-field"``, certain) or elsewhere. TCP payload is
    judged per direction from its SYN only, reordered segments within a bounded buffer;
    what cannot be judged (no SYN, the buffer full, old retransmissions) is counted in
    ``unaudited_bytes``, never guessed.
    """
    if keep not in ANON_KEEP:
        raise UsageError(f"audit keep must be one of {ANON_KEEP}, not {keep!r}")
    if not isinstance(chunk_size, int) or not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise UsageError(f"chunk size must be an integer from 1 to {MAX_CHUNK_SIZE}, not {chunk_size!r}")
    if not isinstance(limit, int) or limit < 0:
        raise UsageError(f"audit limit must be a non-negative integer, not {limit!r}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncationWarning)
        ipv4, ipv6, original_packets = collect(original, keep, chunk_size)
    report = AuditReport(os.fspath(original), os.fspath(sanitized), keep=keep, http_headers=http_headers)
    report.warnings = [str(w.message) for w in caught if issubclass(w.category, TruncationWarning)]
    report.original_packets = original_packets
    report.addresses = {"ipv4": len(ipv4), "ipv6": len(ipv6)}
    sink = Sink(limit)
    report.packets = _pass(sanitized, AddressScanner(ipv4, ipv6), sink, http_headers, chunk_size)
    sink.fill(report)
    if raise_on_findings and not report.ok:
        raise AuditFailed(report)
    return report


def _pass(path, scanner: AddressScanner, sink: Sink, http: bool, chunk_size: int) -> int:
    """Pass 2 over the sanitized file: metadata, payloads and the address scan; returns packets."""
    payloads = PayloadAuditor(sink, http)
    packets = pos = 0
    order, recent = "<", []
    with open_capture(path) as reader:
        pcapng = reader.format == "pcapng"
        for chunk in reader.chunks(chunk_size):
            parts, starts = [], []
            for record in chunk:
                starts.append((pos, record))
                if record.__class__ is Packet:
                    packets += 1
                    head, data, tail = record.head, record.data, record.tail
                    parts += (head, data, tail)
                    base = pos + len(head)
                    payloads.packet(data, record.linktype, record.index, base)
                    for at, detail in packet_findings(head, data, tail, order) if pcapng else ():
                        sink.add(KIND_METADATA, record.index, base + len(data) + at, detail, WHERE_CONTAINER)
                    pos = base + len(data) + len(tail)
                    continue
                parts.append(record.raw)
                if record.kind == PCAPNG_SHB:
                    order = record.order
                for at, detail in block_findings(record.kind, record.raw, record.order) if pcapng else ():
                    sink.add(KIND_METADATA, None, pos + at, detail, WHERE_CONTAINER)
                pos += len(record.raw)
            located = recent + starts
            hits = scanner.feed(b"".join(parts))
            offsets = [start for start, _ in located] if hits else []
            for offset, value in hits:
                sink.add(KIND_ADDRESS, *_locate(offset, value, located, offsets))
            recent = _tail(located)
    payloads.finish()
    return packets


def _tail(located: list) -> list:
    """The last records, enough to cover the last RECENT_BYTES bytes."""
    kept, size = [], 0
    for start, record in reversed(located):
        kept.append((start, record))
        size += (
            len(record.head) + len(record.data) + len(record.tail) if record.__class__ is Packet else len(record.raw)
        )
        if size >= RECENT_BYTES:
            break
    return kept[::-1]


def _locate(offset: int, value: bytes, located: list, starts: list) -> tuple:
    """``(frame, offset, detail, where)`` of an address found at file `offset` (`starts`: of `located`)."""
    i = bisect_right(starts, offset) - 1
    start, record = located[max(i, 0)]
    name = show(value)
    if record.__class__ is not Packet:
        what = "the pcap file header" if record.kind == PCAP_FILE_HEADER else f"a pcapng block 0x{record.kind:08x}"
        return None, offset, f"{name} in {what}", WHERE_CONTAINER
    at = offset - start - len(record.head)
    data = record.data
    if at < 0 or at + len(value) > len(data):
        return record.index, offset, f"{name} in the record header or options of the frame", WHERE_CONTAINER
    layers = dissect(data, record.linktype)
    for field_at, size, field in address_fields(data, layers):
        if field_at == at and size == len(value):
            return record.index, offset, f"{name} in the {field}", WHERE_ADDRESS_FIELD
    if at < layers.payload_start:
        return record.index, offset, f"{name} in the protocol headers", WHERE_HEADERS
    if at >= layers.payload_end:
        return record.index, offset, f"{name} after the IP datagram", WHERE_TRAILER
    return record.index, offset, f"{name} in {_payload_name(data, layers)}", WHERE_PAYLOAD


def _payload_name(data, layers) -> str:
    t = layers.transport_offset
    if layers.transport in (IPPROTO_TCP, IPPROTO_UDP) and t >= 0 and t + 4 <= len(data):
        name = "TCP" if layers.transport == IPPROTO_TCP else "UDP"
        ports = f"{(data[t] << 8) | data[t + 1]} > {(data[t + 2] << 8) | data[t + 3]}"
        return f"the {name} payload ({ports})"
    return "the payload"
