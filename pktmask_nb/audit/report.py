"""What an audit found: `Finding` records, the `AuditReport` and its verdict, and the sink."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..words import plural

# Finding.kind (SPEC §8, in the order the spec lists them)
KIND_ADDRESS = "address"  # an original identifier, in any encoding, in the sanitized file
KIND_TLS_APP_DATA = "tls_app_data"  # a kept original byte inside a TLS/DTLS application-data body
KIND_PAYLOAD = "payload"  # a kept original byte in a payload SPEC §6 zeroes
KIND_HEADER = "header"  # a kept original byte in a header corner SPEC §2.4 zeroes (unknown option data, padding...)
KIND_METADATA = "metadata"  # a pcapng block or option that may carry secrets
KINDS = (KIND_ADDRESS, KIND_TLS_APP_DATA, KIND_PAYLOAD, KIND_HEADER, KIND_METADATA)

# Finding.where
WHERE_ADDRESS_FIELD = "address-field"  # an address field of a header: certainly the original address
WHERE_HEADERS = "headers"
WHERE_PAYLOAD = "payload"
WHERE_CONTAINER = "container"  # pcap/pcapng record headers, blocks and options

CLEAN, FINDINGS, UNDECIDED = "clean", "findings", "undecided"


@dataclass(frozen=True)
class Finding:
    """One leak.

    Attributes
    ----------
    kind : str
        One of `KINDS`.
    frame : int or None
        1-based frame number in the sanitized file (None outside packets).
    offset : int
        Byte offset in the sanitized file (decompressed, for a ``.gz``).
    detail : str
        One line saying what was found.
    where : str
        ``"address-field"``, ``"headers"``, ``"payload"`` or ``"container"``.
    layer : str
        The layer and field it sits in, as the audit read the original frame.
    coincidence : bool
        A raw 4- or 16-byte match outside an address field: it may be chance.
    """

    kind: str
    frame: int | None
    offset: int
    detail: str
    where: str = ""
    layer: str = ""
    coincidence: bool = False

    def __str__(self) -> str:
        frame = f"frame {self.frame}" if self.frame is not None else "no frame"
        chance = " (could be a coincidence)" if self.coincidence else ""
        return f"{self.kind}: byte {self.offset} ({frame}): {self.detail}{chance}"


@dataclass
class AuditReport:
    """The result of `~pktmask_nb.audit.audit`.

    Attributes
    ----------
    original, sanitized : str
        The two files.
    verdict : str
        ``"clean"`` (every non-zero byte of the sanitized file is explained), ``"findings"``
        (something leaked) or ``"undecided"`` (no finding, but bytes the audit could not judge).
    findings : list of Finding
        At most `limit` of them (the first ones in file order); `counts` counts them all.
    counts : dict
        Findings by kind (every kind present, zeros included).
    nonzero_bytes : int
        Non-zero bytes where SPEC §2.4/§6 zeroes (``tls_app_data``, ``payload``, ``header``).
    undecided : dict
        Non-zero bytes not judged, by reason: ``{"bytes", "frames", "frame", "offset"}`` (the
        first frame and file offset).
    undecided_bytes : int
    structure_matches : int
        Raw 4- or 16-byte matches of an original address made only of header structure as the
        original had it, or of checksums (e.g. the end of a TCP checksum, a zero urgent pointer
        and a NOP option spell ``x.0.0.1``): counted, not findings.
    packets, original_packets : int
        Packets of each file.
    duplicates : int
        Original packets without a sanitized copy, each a copy of an earlier one (dedup).
    addresses : dict
        Distinct original addresses searched, by version (``{"ipv4": n, "ipv6": m}``, and
        ``"mac"`` when MACs were anonymized, ``"tls_name"`` when TLS names were zeroed).
    keep, http_headers, macs, tls_names, dns :
        The settings the audit ran with.
    limit : int
    warnings : list of str
        The original ends inside a record: it was read up to the last whole one.
    explained : dict
        Frame number -> what `~pktmask_nb.audit.audit` was asked to explain (``explain=``):
        ``{"original", "sanitized", "regions", "base"}`` (regions: ``(start, end, layer, rule)``;
        base: the file offset of the sanitized frame); not part of `to_dict`.
    """

    original: str
    sanitized: str
    verdict: str = CLEAN
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    nonzero_bytes: int = 0
    undecided: dict[str, dict] = field(default_factory=dict)
    undecided_bytes: int = 0
    structure_matches: int = 0
    packets: int = 0
    original_packets: int = 0
    duplicates: int = 0
    addresses: dict[str, int] = field(default_factory=dict)
    keep: str = "special"
    http_headers: bool = False
    macs: bool = False
    tls_names: bool = False
    dns: bool = False
    limit: int = 100
    warnings: list[str] = field(default_factory=list)
    explained: dict = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True when the verdict is clean."""
        return self.verdict == CLEAN

    def __len__(self) -> int:
        """The number of findings, including those beyond `limit`."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line: ``original -> sanitized: clean (N packets)``, ``...: N findings (kind n, ...)``
        or ``...: undecided, N non-zero bytes not judged (reason n, ...)``."""
        head = f"{self.original} -> {self.sanitized}"
        if self.verdict == FINDINGS:
            kinds = ", ".join(f"{k} {n}" for k, n in self.counts.items() if n)
            return f"{head}: {len(self)} findings ({kinds})"
        if self.verdict == UNDECIDED:
            reasons = ", ".join(f"{r} {v['bytes']}" for r, v in self.undecided.items())
            return f"{head}: undecided, {self.undecided_bytes} non-zero bytes not judged ({reasons})"
        return f"{head}: clean ({plural(self.packets, 'packet')})"

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        d = asdict(self)
        del d["explained"]
        d["ok"] = self.ok
        d["total_findings"] = len(self)
        return d


class Sink:
    """Where the checks report: keeps the first `limit` findings, counts them all, and the
    bytes left undecided."""

    def __init__(self, limit: int):
        self.limit = limit
        self.kept: list[Finding] = []
        self.counts = dict.fromkeys(KINDS, 0)
        self.nonzero_bytes = 0
        self.undecided: dict[str, dict] = {}
        self.structure_matches = 0

    def add(self, kind: str, frame, offset: int, detail: str, where: str, layer: str = "", coincidence=False) -> None:
        self.counts[kind] += 1
        self.kept.append(Finding(kind, frame, offset, detail, where, layer, coincidence))
        if len(self.kept) > 4 * self.limit + 64:  # the first `limit` in file order are kept
            self.kept.sort(key=_order)
            del self.kept[self.limit :]

    def open(self, reason: str, frame, offset: int, n: int) -> None:
        """`n` non-zero bytes at `offset` that the audit cannot judge, for `reason`."""
        entry = self.undecided.get(reason)
        if entry is None:
            self.undecided[reason] = {"bytes": n, "frames": 1, "frame": frame, "offset": offset}
        else:
            entry["bytes"] += n
            entry["frames"] += entry.get("last") != frame
        self.undecided[reason]["last"] = frame

    def fill(self, report: AuditReport) -> AuditReport:
        report.findings = sorted(self.kept, key=_order)[: self.limit]
        report.counts = dict(self.counts)
        report.nonzero_bytes = self.nonzero_bytes
        report.structure_matches = self.structure_matches
        for entry in self.undecided.values():
            entry.pop("last", None)
        report.undecided = dict(sorted(self.undecided.items()))
        report.undecided_bytes = sum(v["bytes"] for v in self.undecided.values())
        report.limit = self.limit
        report.verdict = FINDINGS if sum(self.counts.values()) else UNDECIDED if self.undecided else CLEAN
        return report


def _order(finding: Finding):
    return (finding.offset, finding.kind)
