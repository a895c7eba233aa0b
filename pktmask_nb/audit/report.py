"""What an audit found: `Finding` records, the `AuditReport`, and the sink the checks report into."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# Finding.kind (SPEC §8, in the order the spec lists them)
KIND_ADDRESS = "address"  # an original address, as bytes, in the sanitized file
KIND_TLS_APP_DATA = "tls_app_data"  # a non-zero byte inside a TLS/DTLS application-data body
KIND_PAYLOAD = "payload"  # a non-zero byte in a payload SPEC §6 zeroes
KIND_METADATA = "metadata"  # a pcapng block or option that may carry secrets
KINDS = (KIND_ADDRESS, KIND_TLS_APP_DATA, KIND_PAYLOAD, KIND_METADATA)

# Finding.where
WHERE_ADDRESS_FIELD = "address-field"  # an IP/ARP/ND address field of a header: a certain leak
WHERE_HEADERS = "headers"  # protocol headers kept by mask, not an address field
WHERE_PAYLOAD = "payload"
WHERE_TRAILER = "trailer"  # bytes after the IP datagram (Ethernet padding, trailers)
WHERE_CONTAINER = "container"  # pcap/pcapng record headers, blocks and options


@dataclass(frozen=True)
class Finding:
    """One leak.

    Attributes
    ----------
    kind : str
        ``"address"``, ``"tls_app_data"``, ``"payload"`` or ``"metadata"``.
    frame : int or None
        1-based frame number in the sanitized file (None outside packets).
    offset : int
        Byte offset in the sanitized file (decompressed, for a ``.gz``).
    detail : str
        One line saying what was found.
    where : str
        ``"address-field"`` (certain), ``"headers"``, ``"payload"``, ``"trailer"`` or ``"container"``.
    """

    kind: str
    frame: int | None
    offset: int
    detail: str
    where: str = ""

    def __str__(self) -> str:
        frame = f"frame {self.frame}" if self.frame is not None else "no frame"
        return f"{self.kind}: byte {self.offset} ({frame}): {self.detail}"


@dataclass
class AuditReport:
    """The result of `~pktmask_nb.audit.audit`.

    Attributes
    ----------
    original, sanitized : str
        The two files.
    findings : list of Finding
        At most `limit` of them (the first ones in file order); `counts` counts them all.
    counts : dict
        Findings by kind (every kind present, zeros included).
    nonzero_bytes : int
        Non-zero payload bytes found where SPEC §6 zeroes them (``tls_app_data`` and ``payload``).
    unaudited_bytes : int
        Non-zero payload bytes the audit could not judge (zero bytes always pass; see
        ``unaudited`` for why).
    unaudited : dict
        Those bytes by reason: ``no_syn`` (a TCP direction seen without its SYN), ``held``
        (the reorder buffer shared by all directions was full: the rest of the direction),
        ``stopped`` (later bytes of such a direction), ``peer_unknown`` (reading on needs the
        other direction, which is not audited: a STARTTLS, SSLRequest or HEAD not seen),
        ``before_start``, ``forgotten`` (a retransmission older than the decisions
        remembered), ``undecided`` (a copy of bytes not decided yet), ``quoted`` (ICMP-quoted
        TCP bytes of a stream not audited), ``evicted`` (flow table full, 4-tuple reused),
        ``not_dissected`` (802.11 and radiotap frames, whose headers mask keeps).
    packets : int
        Packets of the sanitized file.
    original_packets : int
    addresses : dict
        Distinct original addresses searched, by version (``{"ipv4": n, "ipv6": m}``).
    keep, http_headers :
        The settings the audit ran with.
    limit : int
    warnings : list of str
        The original ends inside a record: its addresses were read up to the last whole one.
    """

    original: str
    sanitized: str
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    nonzero_bytes: int = 0
    unaudited_bytes: int = 0
    unaudited: dict[str, int] = field(default_factory=dict)
    packets: int = 0
    original_packets: int = 0
    addresses: dict[str, int] = field(default_factory=dict)
    keep: str = "special"
    http_headers: bool = False
    limit: int = 100
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing leaked."""
        return not len(self)

    def __len__(self) -> int:
        """The number of findings, including those beyond `limit`."""
        return sum(self.counts.values())

    def summary(self) -> str:
        """One line: ``original -> sanitized: N findings (kind n, ...)`` or ``... : clean``."""
        head = f"{self.original} -> {self.sanitized}"
        if self.ok:
            return f"{head}: clean ({self.packets} packets, {self.unaudited_bytes} unaudited non-zero payload bytes)"
        kinds = ", ".join(f"{k} {n}" for k, n in self.counts.items() if n)
        return f"{head}: {len(self)} findings ({kinds})"

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        d = asdict(self)
        d["ok"] = self.ok
        d["total_findings"] = len(self)
        return d


class Sink:
    """Where the checks report: keeps the first `limit` findings of each kind, counts them all."""

    def __init__(self, limit: int):
        self.limit = limit
        self.kept: dict[str, list[Finding]] = {k: [] for k in KINDS}
        self.counts = dict.fromkeys(KINDS, 0)
        self.nonzero_bytes = 0
        self.unaudited: dict[str, int] = {}

    def add(self, kind: str, frame: int | None, offset: int, detail: str, where: str) -> None:
        self.counts[kind] += 1
        kept = self.kept[kind]
        if len(kept) < self.limit:
            kept.append(Finding(kind, frame, offset, detail, where))

    def skip(self, reason: str, data) -> None:
        """Count the non-zero bytes of `data`, which cannot be judged, for `reason` (zeros always pass)."""
        n = len(data) - data.count(0)
        if n:
            self.unaudited[reason] = self.unaudited.get(reason, 0) + n

    def fill(self, report: AuditReport) -> AuditReport:
        """Put the findings (first `limit` in file order, whatever the chunk size) into `report`."""
        every = sorted((f for kept in self.kept.values() for f in kept), key=lambda f: (f.offset, f.kind))
        report.findings = every[: self.limit]
        report.counts = dict(self.counts)
        report.nonzero_bytes = self.nonzero_bytes
        report.unaudited = dict(sorted(self.unaudited.items()))
        report.unaudited_bytes = sum(self.unaudited.values())
        report.limit = self.limit
        return report
