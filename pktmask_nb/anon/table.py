"""The per-address cache of a run and the mapping table it reports (SPEC §5 Report)."""

from __future__ import annotations

from collections.abc import Callable

from ..proto.checksum import word_sum
from ..proto.text import ip_text
from .mac import mac_text

VERSIONS = {4: 4, 16: 6, 6: "mac"}  # the mapping table's `version` by address length


class Entry:
    """What the run knows of one original address.

    Attributes
    ----------
    anon : bytes
        Its anonymized bytes.
    delta : int
        The word-sum change (mod 0xFFFF) the rewrite makes.
    changed : bool
        Whether the rewrite changes anything.
    packets : int
        Packets it was seen in.
    first_ts, first_frame, first_order, last_ts, last_frame
        Timestamps and frame numbers of its first and last sightings, and the position of the
        first sighting inside its frame.
    mark : int
        The last frame counted (one count per packet).
    dns : bool
        Whether DNS data carried it (``--anon-dns``).
    """

    # its fields are declared in table.pxd

    def __init__(self, anon: bytes, delta: int, frame: int, ts, order: int):
        self.anon, self.delta = anon, delta
        self.changed = False
        self.packets = self.mark = 0
        self.first_ts = self.last_ts = ts
        self.first_frame = self.last_frame = frame
        self.first_order = order
        self.dns = False


class AddressTable:
    """Original address bytes → cache entry, filled on first sight by `anonymize`: an
    `AddressMapper`'s for IP addresses, its ``anonymize_mac`` for a table of MACs (`hardware`).

    First and last sightings are kept as minimum and maximum frame numbers, so the table
    does not depend on the order in which frames are looked at.
    """

    def __init__(self, anonymize: Callable[[bytes], bytes], hardware: bool = False):
        self.anonymize = anonymize
        self.hardware = hardware
        self.entries: dict[bytes, Entry] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def create(self, original: bytes, frame: int, ts, order: int) -> Entry:
        anonymized = self.anonymize(original)
        delta = (word_sum(anonymized, 0, len(anonymized)) - word_sum(original, 0, len(original))) % 0xFFFF
        entry = Entry(anonymized, delta, frame, ts, order)
        entry.changed = anonymized != original
        self.entries[original] = entry
        return entry

    def see(self, original: bytes, frame: int, ts, order: int) -> Entry:
        """The entry of `original`, sighted in `frame` at field position `order`."""
        entry = self.entries.get(original)
        if entry is None:
            entry = self.create(original, frame, ts, order)
        if entry.mark != frame:
            entry.mark = frame
            entry.packets += 1
            if frame > entry.last_frame:
                entry.last_ts, entry.last_frame = ts, frame
            if frame < entry.first_frame:
                entry.first_ts, entry.first_frame, entry.first_order = ts, frame, order
        return entry

    def counts(self) -> dict[str, int]:
        """Distinct addresses by kind: ``ipv4``, ``ipv6`` (and ``mac`` in a table of MACs)."""
        found = {"mac": 0} if self.hardware else {"ipv4": 0, "ipv6": 0}
        for original in self.entries:
            kind = "mac" if len(original) == 6 else "ipv4" if len(original) == 4 else "ipv6"
            found[kind] += 1
        return found

    def rows(self) -> list[dict]:
        """The mapping table, one row per address in order of first sighting.

        ``version`` is 4, 6 or ``"mac"``; ``first_seen``/``last_seen`` are capture timestamps
        in ns (None for pcapng Simple Packet Blocks); ``first_frame``/``last_frame`` are
        frame numbers; ``in_dns`` tells an address DNS data carried (``--anon-dns``).
        """

        def ip(address: bytes) -> str:
            return mac_text(address) if len(address) == 6 else ip_text(address)

        ordered = sorted(self.entries.items(), key=lambda kv: (kv[1].first_frame, kv[1].first_order))
        return [
            {
                "original": ip(original),
                "anonymized": ip(e.anon),
                "version": VERSIONS[len(original)],
                "packets": e.packets,
                "first_seen": e.first_ts,
                "last_seen": e.last_ts,
                "first_frame": e.first_frame,
                "last_frame": e.last_frame,
                "in_dns": e.dns,
            }
            for original, e in ordered
        ]
