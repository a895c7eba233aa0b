"""The anonymize stage (SPEC §5): Crypto-PAn on every IP address field, checksums kept right.

Per packet: `~pktmask_nb.proto.dissect.dissect` lists every IP header (outer, tunnelled,
quoted in ICMP errors) and ARP packet; each address is looked up in a per-address cache
(original bytes → entry) filled by `~pktmask_nb.anon.AddressMapper`, written into one
`bytearray` copy of the frame, and `~pktmask_nb.proto.checksum.patch` updates every
checksum the new bytes fall under (RFC 1624). Lengths never change.

Beyond IP headers and ARP, the stage also rewrites the addresses ICMPv6 Neighbor
Discovery carries in its body (NS/NA target, Redirect target and destination) and the
gateway of an ICMP Redirect, since they are the same hosts. A field the capture cuts
short cannot be mapped: its captured bytes are zeroed (fail closed) and counted.
"""

from __future__ import annotations

import ipaddress

from ..anon import AddressMapper
from ..config import AnonymizeConfig
from ..proto.checksum import patch
from ..proto.dissect import IPPROTO_ICMP, IPPROTO_ICMPV6, STATUS_NOT_DISSECTED, STATUS_TRUNCATED, dissect
from ..record import Packet

# Address kinds counted in stats (index into the counters)
KIND_NAMES = (
    "ipv4_outer",
    "ipv4_inner",
    "ipv4_quoted",
    "ipv6_outer",
    "ipv6_inner",
    "ipv6_quoted",
    "arp",
    "ndp",
    "icmp_redirect",
)
KIND_ARP, KIND_NDP, KIND_ICMP_REDIRECT = 6, 7, 8

ARP_PTYPE_IPV4 = 0x0800  # RFC 826 protocol type for IPv4 (RARP uses the same layout, RFC 903)
ARP_PTYPE_IPV6 = 0x86DD
ARP_ADDRESSES = 8  # sender hardware address offset in an ARP packet
ICMP_REDIRECT = 5  # RFC 792: gateway internet address at bytes 4-7
ICMP_GATEWAY = 4
ICMPV6_NDP_TARGETS = {135: (8,), 136: (8,), 137: (8, 24)}  # RFC 4861 §4.3-4.5: NS, NA, Redirect
ENTRY_ANON, ENTRY_PACKETS, ENTRY_FIRST_TS, ENTRY_LAST_TS, ENTRY_FIRST_FRAME, ENTRY_LAST_FRAME = range(6)


class AnonymizeStage:
    """Rewrite every IPv4/IPv6 address with keyed, prefix-preserving Crypto-PAn (SPEC §5).

    Parameters
    ----------
    config : AnonymizeConfig
        Key and kept ranges; without a key a random one is drawn (one per stage object).

    Notes
    -----
    The mapping is a pure function of the key and `keep`, so it is the same across files,
    chunk sizes, processes and machines. The cache and the mapping table hold one entry
    per distinct address seen.
    """

    name = "anonymize"

    def __init__(self, config: AnonymizeConfig | None = None):
        self.config = (config or AnonymizeConfig()).with_key()
        self.mapper = AddressMapper(self.config.key, self.config.keep)
        self._cache: dict[bytes, list] = {}  # original address -> [anonymized, packets, first/last ts, frames]
        self._rewritten = [0] * len(KIND_NAMES)
        self._kept = [0] * len(KIND_NAMES)
        self._not_dissected: dict[int, int] = {}
        self.packets = self.packets_rewritten = self.truncated = 0
        self.partial_zeroed = self.arp_other_zeroed = self.checksums_not_updated = 0

    def process(self, chunk: list) -> list:
        rewrite = self._rewrite
        for record in chunk:
            if record.__class__ is Packet:
                rewrite(record)
        self.packets += sum(1 for r in chunk if r.__class__ is Packet)
        return chunk

    def _rewrite(self, packet: Packet) -> None:
        data = packet.data
        layers = dissect(data, packet.linktype)
        if layers.status == STATUS_NOT_DISSECTED:
            self._not_dissected[packet.linktype] = self._not_dissected.get(packet.linktype, 0) + 1
            return
        if layers.status == STATUS_TRUNCATED:
            self.truncated += 1
        if data.__class__ is not bytes:
            data = bytes(data)
        changes: list = []
        field = self._field
        frame, ts = packet.index, packet.ts
        for index, (offset, version, quoted) in enumerate(layers.ips):
            kind = (2 if quoted else 1 if index else 0) + (3 if version == 6 else 0)
            size = 4 if version == 4 else 16
            src = offset + (12 if version == 4 else 8)
            field(data, src, size, kind, index, changes, frame, ts)
            field(data, src + size, size, kind, index, changes, frame, ts)
        for offset in layers.arps:
            self._arp(data, offset, changes, frame, ts)
        if layers.transport_offset >= 0 and layers.transport in (IPPROTO_ICMP, IPPROTO_ICMPV6):
            self._icmp_body(data, layers.transport, layers.transport_offset, changes, frame, ts)
        if changes:
            buf = bytearray(data)
            self.checksums_not_updated += patch(buf, layers.checksums, changes)
            packet.data = buf
            self.packets_rewritten += 1

    def _field(self, data: bytes, offset: int, size: int, kind: int, ip_index: int, changes, frame, ts) -> None:
        """Map the `size`-byte address at `offset` (or zero what the capture kept of it)."""
        end = offset + size
        if end > len(data):
            if offset < len(data):
                changes.append((offset, bytes(len(data) - offset), ip_index))
                self.partial_zeroed += 1
            return
        original = data[offset:end]
        entry = self._cache.get(original)
        if entry is None:
            entry = [self.mapper.anonymize(original), 0, ts, ts, frame, 0]
            self._cache[original] = entry
        if entry[ENTRY_LAST_FRAME] != frame:
            entry[ENTRY_PACKETS] += 1
            entry[ENTRY_LAST_TS] = ts
            entry[ENTRY_LAST_FRAME] = frame
        anonymized = entry[ENTRY_ANON]
        if anonymized == original:
            self._kept[kind] += 1
        else:
            changes.append((offset, anonymized, ip_index))
            self._rewritten[kind] += 1

    def _arp(self, data: bytes, offset: int, changes, frame, ts) -> None:
        """ARP/RARP sender and target protocol addresses (RFC 826, RFC 903)."""
        ptype = (data[offset + 2] << 8) | data[offset + 3]
        hlen, plen = data[offset + 4], data[offset + 5]
        spa = offset + ARP_ADDRESSES + hlen
        tpa = spa + plen + hlen
        if (ptype, plen) in ((ARP_PTYPE_IPV4, 4), (ARP_PTYPE_IPV6, 16)):
            self._field(data, spa, plen, KIND_ARP, -1, changes, frame, ts)
            self._field(data, tpa, plen, KIND_ARP, -1, changes, frame, ts)
            return
        for start in (spa, tpa):  # a protocol we cannot map: fail closed
            stop = min(start + plen, len(data))
            if start < stop and any(data[start:stop]):
                changes.append((start, bytes(stop - start), -1))
                self.arp_other_zeroed += 1

    def _icmp_body(self, data: bytes, protocol: int, offset: int, changes, frame, ts) -> None:
        """Addresses in ICMP bodies: Redirect gateway, NDP target/destination."""
        if offset >= len(data):
            return
        if protocol == IPPROTO_ICMP:
            if data[offset] == ICMP_REDIRECT:
                self._field(data, offset + ICMP_GATEWAY, 4, KIND_ICMP_REDIRECT, -1, changes, frame, ts)
            return
        for position in ICMPV6_NDP_TARGETS.get(data[offset], ()):
            self._field(data, offset + position, 16, KIND_NDP, -1, changes, frame, ts)

    def flush(self) -> list:
        return []

    def stats(self) -> dict:
        v4 = sum(1 for a in self._cache if len(a) == 4)
        return {
            "keep": self.config.keep,
            "packets": self.packets,
            "packets_rewritten": self.packets_rewritten,
            "addresses_rewritten": dict(zip(KIND_NAMES, self._rewritten)),
            "addresses_kept": dict(zip(KIND_NAMES, self._kept)),
            "unique_addresses": {"ipv4": v4, "ipv6": len(self._cache) - v4},
            "partial_addresses_zeroed": self.partial_zeroed,
            "arp_other_protocol_zeroed": self.arp_other_zeroed,
            "truncated_packets": self.truncated,
            "checksums_not_updated": self.checksums_not_updated,
            "not_dissected": {str(k): v for k, v in sorted(self._not_dissected.items())},
        }

    def tables(self) -> dict[str, list[dict]]:
        """``{"mapping": rows}``: one row per distinct address, in order of first appearance.

        ``first_seen``/``last_seen`` are capture timestamps in ns (None for pcapng Simple
        Packet Blocks); ``first_frame``/``last_frame`` are frame numbers.
        """
        ip = ipaddress.ip_address
        return {
            "mapping": [
                {
                    "original": str(ip(original)),
                    "anonymized": str(ip(e[ENTRY_ANON])),
                    "version": 4 if len(original) == 4 else 6,
                    "packets": e[ENTRY_PACKETS],
                    "first_seen": e[ENTRY_FIRST_TS],
                    "last_seen": e[ENTRY_LAST_TS],
                    "first_frame": e[ENTRY_FIRST_FRAME],
                    "last_frame": e[ENTRY_LAST_FRAME],
                }
                for original, e in self._cache.items()
            ]
        }
