"""The per-address cache of a run and the mapping table it reports (SPEC §5 Report)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from ..proto.checksum import word_sum
from .mac import mac_text

VERSIONS = {4: 4, 16: 6, 6: "mac"}  # the mapping table's `version` by address length

# An entry: anonymized bytes, word-sum change (mod 0xFFFF) the rewrite makes, whether it
# changes anything, packets seen, first/last timestamp and frame, the position of the
# first sighting inside its frame, the last frame counted (one count per packet), and whether
# it was seen in DNS data (``--anon-dns``).
(
    ENTRY_ANON,
    ENTRY_DELTA,
    ENTRY_CHANGED,
    ENTRY_PACKETS,
    ENTRY_FIRST_TS,
    ENTRY_FIRST_FRAME,
    ENTRY_FIRST_ORDER,
    ENTRY_LAST_TS,
    ENTRY_LAST_FRAME,
    ENTRY_MARK,
    ENTRY_DNS,
) = range(11)


class AddressTable:
    """Original address bytes → cache entry, filled on first sight by `anonymize`: an
    `AddressMapper`'s for IP addresses, its ``anonymize_mac`` for a table of MACs (`hardware`).

    First and last sightings are kept as minimum and maximum frame numbers, so the table
    does not depend on the order in which frames are looked at.
    """

    def __init__(self, anonymize: Callable[[bytes], bytes], hardware: bool = False):
        self.anonymize = anonymize
        self.hardware = hardware
        self.entries: dict[bytes, list] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def create(self, original: bytes, frame: int, ts, order: int) -> list:
        anonymized = self.anonymize(original)
        delta = (word_sum(anonymized, 0, len(anonymized)) - word_sum(original, 0, len(original))) % 0xFFFF
        entry = [anonymized, delta, anonymized != original, 0, ts, frame, order, ts, frame, 0, False]
        self.entries[original] = entry
        return entry

    def see(self, original: bytes, frame: int, ts, order: int) -> list:
        """The entry of `original`, sighted in `frame` at field position `order`."""
        entry = self.entries.get(original)
        if entry is None:
            entry = self.create(original, frame, ts, order)
        if entry[ENTRY_MARK] != frame:
            entry[ENTRY_MARK] = frame
            entry[ENTRY_PACKETS] += 1
            if frame > entry[ENTRY_LAST_FRAME]:
                entry[ENTRY_LAST_TS], entry[ENTRY_LAST_FRAME] = ts, frame
            if frame < entry[ENTRY_FIRST_FRAME]:
                entry[ENTRY_FIRST_TS], entry[ENTRY_FIRST_FRAME], entry[ENTRY_FIRST_ORDER] = ts, frame, order
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

        def ip(address: bytes):
            return mac_text(address) if len(address) == 6 else ipaddress.ip_address(address)

        ordered = sorted(self.entries.items(), key=lambda kv: (kv[1][ENTRY_FIRST_FRAME], kv[1][ENTRY_FIRST_ORDER]))
        return [
            {
                "original": str(ip(original)),
                "anonymized": str(ip(e[ENTRY_ANON])),
                "version": VERSIONS[len(original)],
                "packets": e[ENTRY_PACKETS],
                "first_seen": e[ENTRY_FIRST_TS],
                "last_seen": e[ENTRY_LAST_TS],
                "first_frame": e[ENTRY_FIRST_FRAME],
                "last_frame": e[ENTRY_LAST_FRAME],
                "in_dns": e[ENTRY_DNS],
            }
            for original, e in ordered
        ]
