"""The one validated, frozen configuration shared by the Python API, the CLI and the widgets."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace

from .errors import UsageError
from .policy import HTTP_SENSITIVE_HEADERS

STAGE_ORDER = ("dedup", "anonymize", "mask")  # SPEC §1: always in this order
DEFAULT_CHUNK_SIZE = 512  # packets per chunk: what the stages touch in turn stays in the CPU caches
MAX_CHUNK_SIZE = 1_000_000
DEFAULT_CHUNK_BYTES = 8 << 20  # packet bytes per chunk: records of 64 KiB must not grow memory
MIN_CHUNK_BYTES = 64 << 10
AUDIT_REMEMBER_BYTES = 64 << 20  # the audit's first copies of kept bytes: the mask's default memory, twice
MAX_SECONDS = 1e9  # time windows beyond ~30 years are meant as "no window" and overflow nanoseconds
DEDUP_KEYS = ("frame", "l3")
ANON_KEEP = ("special", "none")
ANON_MAC = ("none", "keep-oui", "all")
CRYPTOPAN_KEY_LEN = 32  # SPEC §5: AES-128 key + 16-byte pad
MASK_KEEP = ("http-headers", "dns-names")
TLS_NAMES = ("keep", "zero")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise UsageError(message)


@dataclass(frozen=True, kw_only=True)
class DedupConfig:
    """Settings of the dedup stage (SPEC §4).

    Parameters
    ----------
    window_packets : int, optional
        Only a frame seen among the previous `window_packets` frames is a duplicate.
    window_seconds : float, optional
        Only a frame seen at most `window_seconds` earlier is a duplicate.
        With neither window the scope is the whole file (exact).
    key : {"frame", "l3"}
        ``"frame"`` compares captured bytes; ``"l3"`` compares from the outermost IP header
        to the end of its datagram with TTL/hop limit and the IPv4 checksum ignored, so
        the same packet seen on two links (other L2 header or VLAN tags) is a duplicate.
    top : int
        How many of the most duplicated frames the report lists.
    """

    window_packets: int | None = None
    window_seconds: float | None = None
    key: str = "frame"
    top: int = 10

    def __post_init__(self):
        _check(self.window_packets is None or self.window_packets >= 1, "dedup window_packets must be >= 1")
        _check(
            self.window_seconds is None or 0 < self.window_seconds < MAX_SECONDS,
            f"dedup window_seconds must be > 0 and < {MAX_SECONDS:.0f}, not {self.window_seconds!r}",
        )
        _check(self.key in DEDUP_KEYS, f"dedup key must be one of {', '.join(DEDUP_KEYS)}, not {self.key!r}")
        _check(self.top >= 0, "dedup top must be >= 0")

    @property
    def windowed(self) -> bool:
        return self.window_packets is not None or self.window_seconds is not None


@dataclass(frozen=True, kw_only=True)
class AnonymizeConfig:
    """Settings of the anonymize stage (SPEC §5).

    Parameters
    ----------
    key : bytes, optional
        The 32-byte Crypto-PAn key. None draws a random key when the config is built, so
        every file of one run shares it (`Config` does this).
    keep : {"special", "none"}
        ``"special"`` leaves loopback, multicast, broadcast, unspecified and link-local
        addresses unchanged (and maps no other address into them); ``"none"`` is pure
        Crypto-PAn.
    preserve_class : bool
        Also map the private ranges (RFC 1918, RFC 4193 unique local) onto themselves, so a
        private address stays private; the mapping stays one-to-one and prefix-preserving.
    mac : {"none", "keep-oui", "all"}
        Also map hardware addresses (`~pktmask_nb.anon.mac`): ``"all"`` maps every unicast
        MAC (the group and local bits kept), ``"keep-oui"`` only its last three octets;
        group addresses (broadcast, multicast) are kept. Ethernet, 802.11 and cooked
        headers, ARP, NDP options, STP bridge ids and DHCP's client address are rewritten,
        and so is the interface identifier of an IPv6 address derived from a MAC (EUI-64).
    dns : bool
        Rewrite the addresses of DNS messages (A/AAAA data, EDNS Client Subnet) with the
        address mapping — over UDP, and over TCP in messages that lie whole in one segment —;
        mask then keeps their structure instead of zeroing them.
    """

    key: bytes | None = field(default=None, repr=False)
    keep: str = "special"
    preserve_class: bool = False
    mac: str = "none"
    dns: bool = False

    def __post_init__(self):
        if self.key is not None:
            _check(isinstance(self.key, bytes | bytearray), "anonymize key must be bytes")
            _check(
                len(self.key) == CRYPTOPAN_KEY_LEN,
                f"anonymize key must be {CRYPTOPAN_KEY_LEN} bytes, not {len(self.key)}",
            )
            object.__setattr__(self, "key", bytes(self.key))
        _check(self.keep in ANON_KEEP, f"anonymize keep must be one of {', '.join(ANON_KEEP)}, not {self.keep!r}")
        _check(self.mac in ANON_MAC, f"anonymize mac must be one of {', '.join(ANON_MAC)}, not {self.mac!r}")

    def with_key(self) -> AnonymizeConfig:
        """This config, with a fresh random key if it has none."""
        return self if self.key is not None else replace(self, key=os.urandom(CRYPTOPAN_KEY_LEN))


@dataclass(frozen=True, kw_only=True)
class MaskConfig:
    """Settings of the mask stage (SPEC §6).

    Parameters
    ----------
    keep : tuple of str
        Extra structure to keep: ``"http-headers"`` keeps HTTP/1.x start lines and headers
        (sensitive values zeroed); ``"dns-names"`` keeps the names of DNS messages whose
        structure anonymize's ``dns`` keeps (reverse names, which are addresses, stay
        zeroed). TLS record structure is always kept.
    sensitive_headers : tuple of str
        HTTP header names (case-insensitive) whose values are zeroed.
    tls_names : {"keep", "zero"}
        ``"zero"`` zeroes the names kept TLS/DTLS handshakes carry in the clear: the server
        name a ClientHello asks for and, up to TLS 1.2, the issuer, subject and alternative
        names of certificates and a CertificateRequest's authorities; lengths stay valid.
    max_held_packets, max_held_bytes : int
        Out-of-order bytes wait for the bytes before them within this window; beyond
        it they are zeroed (fail closed).
    max_flows : int
        Flow table size; the least recently used flow is evicted beyond it.
    max_remembered_bytes : int
        Kept bytes the flows remember, to keep a retransmission's copy only where it equals
        the first; beyond it they forget (least recently used flows first, bytes the other
        side acknowledged first) and a later copy of forgotten bytes is zeroed.
    idle_timeout : float
        Seconds without a packet after which a flow is forgotten.
    udp_idle_timeout : float
        The same for UDP flows (at most `idle_timeout`). A UDP flow carries no stream state
        (every datagram, DTLS included, is decided alone), so forgetting it sooner changes
        no output byte; it keeps the DNS exchanges of a long capture from filling the table
        and pushing TCP flows out. A 5-tuple seen again later starts a new report row.
    """

    keep: tuple[str, ...] = ()
    sensitive_headers: tuple[str, ...] = HTTP_SENSITIVE_HEADERS
    tls_names: str = "keep"
    max_held_packets: int = 2048
    max_held_bytes: int = 8 * 1024 * 1024
    max_flows: int = 200_000
    max_remembered_bytes: int = 32 * 1024 * 1024
    idle_timeout: float = 300.0
    udp_idle_timeout: float = 60.0

    def __post_init__(self):
        object.__setattr__(self, "keep", tuple(self.keep))
        unknown = [k for k in self.keep if k not in MASK_KEEP]
        _check(not unknown, f"mask keep must be among {', '.join(MASK_KEEP)}, not {', '.join(unknown)}")
        object.__setattr__(self, "sensitive_headers", tuple(h.lower() for h in self.sensitive_headers))
        _check(
            self.tls_names in TLS_NAMES, f"mask tls_names must be one of {', '.join(TLS_NAMES)}, not {self.tls_names!r}"
        )
        _check(self.max_held_packets >= 0, "mask max_held_packets must be >= 0")
        _check(self.max_held_bytes >= 0, "mask max_held_bytes must be >= 0")
        _check(self.max_flows >= 1, "mask max_flows must be >= 1")
        _check(self.max_remembered_bytes >= 0, "mask max_remembered_bytes must be >= 0")
        for name in ("idle_timeout", "udp_idle_timeout"):
            value = getattr(self, name)
            _check(0 < value < MAX_SECONDS, f"mask {name} must be > 0 and < {MAX_SECONDS:.0f}, not {value!r}")

    @property
    def http_headers(self) -> bool:
        return "http-headers" in self.keep


@dataclass(frozen=True, kw_only=True)
class Config:
    """Everything a run needs to know, validated on construction.

    Parameters
    ----------
    stages : tuple of str
        Any of ``"dedup"``, ``"anonymize"``, ``"mask"``; they always run in that order.
        An empty tuple copies the capture unchanged.
    chunk_size : int
        Packets per chunk, 1 to 1 000 000. Output does not depend on it (SPEC §2.3).
    chunk_bytes : int
        A chunk also ends once its packets hold this many bytes (at least 64 KiB), so that
        captures of large records (receive offload, 256 KiB frames) do not grow memory.
    on_truncated : {"error", "warn"}
        A capture that ends inside a record is an error, or is processed up to the last
        complete record with a warning (SPEC §3).
    keep_metadata : bool
        Keep pcapng metadata that may carry secrets or original addresses (SPEC §3) even
        when anonymize or mask runs.
    dedup : DedupConfig
    anonymize : AnonymizeConfig
        Its key is drawn at random here when none is given.
    mask : MaskConfig
    processes : {None, 1, 2}
        2 runs the last stage (mask, when it runs) and the writer in a second process while
        this one reads and runs the stages before it; 1 never does; None (automatic) does
        when mask runs after another stage on an input of 32 MiB or more and the machine has
        a second CPU. The output is the same either way.
    """

    stages: tuple[str, ...] = STAGE_ORDER
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    on_truncated: str = "error"
    keep_metadata: bool = False
    dedup: DedupConfig = field(default_factory=DedupConfig)
    anonymize: AnonymizeConfig = field(default_factory=AnonymizeConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    processes: int | None = None

    def __post_init__(self):
        stages = tuple(self.stages)
        unknown = [s for s in stages if s not in STAGE_ORDER]
        _check(not unknown, f"unknown stage {', '.join(unknown)}; choose from {', '.join(STAGE_ORDER)} or none")
        _check(len(set(stages)) == len(stages), "a stage is listed twice")
        object.__setattr__(self, "stages", tuple(s for s in STAGE_ORDER if s in stages))
        _check(
            isinstance(self.chunk_size, int) and 1 <= self.chunk_size <= MAX_CHUNK_SIZE,
            f"chunk size must be an integer from 1 to {MAX_CHUNK_SIZE}, not {self.chunk_size!r}",
        )
        _check(
            isinstance(self.chunk_bytes, int) and self.chunk_bytes >= MIN_CHUNK_BYTES,
            f"chunk bytes must be an integer of at least {MIN_CHUNK_BYTES}, not {self.chunk_bytes!r}",
        )
        _check(
            self.on_truncated in ("error", "warn"), f"on_truncated must be 'error' or 'warn', not {self.on_truncated!r}"
        )
        _check(self.processes in (None, 1, 2), f"processes must be 1, 2 or None (automatic), not {self.processes!r}")
        _check(
            "dns-names" not in self.mask.keep or self.anonymize.dns,
            "keeping dns-names needs --anon-dns: names are kept only in DNS whose structure is kept",
        )
        if "anonymize" in self.stages:
            object.__setattr__(self, "anonymize", self.anonymize.with_key())

    def replace(self, **changes) -> Config:
        """A copy with `changes` applied (and validated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain settings for reports (never contains key material: fields with repr=False are left out)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}


def parse_stages(text: str) -> tuple[str, ...]:
    """Parse the CLI form ``"dedup,anonymize"`` or ``"none"`` into a stage tuple; an empty
    list is refused (only ``none`` copies a capture unchanged)."""
    text = text.strip()
    if text == "none":
        return ()
    stages = tuple(s.strip() for s in text.split(",") if s.strip())
    _check(stages, f"no stage in {text!r}: list stages ({', '.join(STAGE_ORDER)}), or none to copy unchanged")
    return stages


def _plain(value):
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value) if f.repr}
    if isinstance(value, tuple):
        return list(value)
    return value
