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
from ..proto.checksum import adjust, patch, word_sum
from ..proto.dissect import (
    IPPROTO_ICMP,
    IPPROTO_ICMPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    STATUS_NOT_DISSECTED,
    STATUS_TRUNCATED,
    UDP_PORT_GENEVE,
    UDP_PORT_GTPU,
    UDP_PORT_TEREDO,
    UDP_PORT_VXLAN,
    dissect,
)
from ..proto.link import ETH_P_8021Q, ETH_P_IP, ETH_P_IPV6, LINKTYPE_ETHERNET
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
# A cache entry: anonymized bytes, packets seen, first/last timestamp, first/last frame,
# word-sum change (mod 0xFFFF) the rewrite makes, and whether it changes anything
ENTRY_ANON, ENTRY_PACKETS, ENTRY_FIRST_TS, ENTRY_LAST_TS, ENTRY_FIRST_FRAME, ENTRY_LAST_FRAME = range(6)
ENTRY_DELTA, ENTRY_CHANGED = 6, 7
# The fast path: frames the general walk would find to be Ethernet[/802.1Q]/IPv4 (no options,
# not fragmented) or IPv6 (no extension header), then TCP or UDP (not a tunnel port), whole.
FAST_MIN_LEN = 14 + 20 + 8
FAST_UDP_TUNNEL_PORTS = frozenset((UDP_PORT_VXLAN, UDP_PORT_GENEVE, UDP_PORT_GTPU, UDP_PORT_TEREDO))
UDP_CHECKSUM_NONE = 0


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

    fast_path = True  # tests turn it off to check that both paths write the same bytes

    def process(self, chunk: list) -> list:
        rewrite, fast = self._rewrite, self._fast if self.fast_path else None
        packets = 0
        for record in chunk:
            if record.__class__ is Packet:
                packets += 1
                if fast is None or record.linktype != LINKTYPE_ETHERNET or not fast(record):
                    rewrite(record)
        self.packets += packets
        return chunk

    def _entry(self, original: bytes, frame: int, ts) -> list:
        """The cache entry of `original`, created on first sight, counted once per packet."""
        entry = self._cache.get(original)
        if entry is None:
            anonymized = self.mapper.anonymize(original)
            delta = (word_sum(anonymized, 0, len(anonymized)) - word_sum(original, 0, len(original))) % 0xFFFF
            entry = [anonymized, 0, ts, ts, frame, 0, delta, anonymized != original]
            self._cache[original] = entry
        if entry[ENTRY_LAST_FRAME] != frame:
            entry[ENTRY_PACKETS] += 1
            entry[ENTRY_LAST_TS] = ts
            entry[ENTRY_LAST_FRAME] = frame
        return entry

    def _fast(self, packet: Packet) -> bool:
        """Rewrite a plain TCP/UDP frame without the general walk; False if it is not one.

        Writes exactly what the general path would: addresses, then the IPv4 header and
        transport checksums adjusted by the addresses' word-sum change (RFC 1624).
        """
        data = packet.data
        n = len(data)
        if n < FAST_MIN_LEN or data.__class__ is not bytes:
            return False
        ethertype, o = (data[12] << 8) | data[13], 14
        if ethertype == ETH_P_8021Q:
            ethertype, o = (data[16] << 8) | data[17], 18
        if ethertype == ETH_P_IP:
            if data[o] != 0x45 or data[o + 6] & 0x3F or data[o + 7]:
                return False
            protocol, t, end, size = data[o + 9], o + 20, o + ((data[o + 2] << 8) | data[o + 3]), 4
        elif ethertype == ETH_P_IPV6 and data[o] >> 4 == 6:
            protocol, t, size = data[o + 6], o + 40, 16
            end = t + ((data[o + 4] << 8) | data[o + 5])
        else:
            return False
        if end > n:
            return False
        if protocol == IPPROTO_TCP:
            if t + 20 > end or t + (data[t + 12] >> 4) * 4 > end:
                return False
            position = t + 16
        elif protocol == IPPROTO_UDP:
            if t + 8 > end or (data[t] << 8) | data[t + 1] in FAST_UDP_TUNNEL_PORTS:
                return False
            if (data[t + 2] << 8) | data[t + 3] in FAST_UDP_TUNNEL_PORTS:
                return False
            position = t + 6
        else:
            return False
        src = o + 8 if size == 16 else o + 12
        self._fast_write(packet, src, size, position, protocol == IPPROTO_UDP)
        return True

    def _fast_write(self, packet: Packet, src: int, size: int, position: int, udp: bool) -> None:
        data, frame, ts = packet.data, packet.index, packet.ts
        dst = src + size
        source = self._entry(data[src:dst], frame, ts)
        destination = self._entry(data[dst : dst + size], frame, ts)
        kind = 0 if size == 4 else 3
        changed = 0
        for entry in (source, destination):
            if entry[ENTRY_CHANGED]:
                self._rewritten[kind] += 1
                changed += 1
            else:
                self._kept[kind] += 1
        if not changed:
            return
        buf = bytearray(data)
        buf[src : dst + size] = source[ENTRY_ANON] + destination[ENTRY_ANON]
        delta = source[ENTRY_DELTA] + destination[ENTRY_DELTA]
        if delta % 0xFFFF:
            if size == 4:  # the IPv4 header checksum, 2 bytes before the source address
                old = (buf[src - 2] << 8) | buf[src - 1]
                new = adjust(old, delta)
                buf[src - 2], buf[src - 1] = new >> 8, new & 0xFF
            old = (buf[position] << 8) | buf[position + 1]
            if not (udp and old == UDP_CHECKSUM_NONE):
                new = adjust(old, delta) or (0xFFFF if udp else 0)
                buf[position], buf[position + 1] = new >> 8, new & 0xFF
        packet.data = buf
        self.packets_rewritten += 1

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
        entry = self._entry(data[offset:end], frame, ts)
        if entry[ENTRY_CHANGED]:
            changes.append((offset, entry[ENTRY_ANON], ip_index))
            self._rewritten[kind] += 1
        else:
            self._kept[kind] += 1

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
