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

Plain Ethernet[/802.1Q]/IPv4|IPv6/TCP|UDP frames skip the general walk: a chunk of them is
rewritten in one vectorized pass (`~pktmask_nb.anon.batch`), a lone one by `_fast`. Both
write exactly the bytes the general path writes (tested frame by frame).
"""

from __future__ import annotations

import numpy as np

from ..anon import AddressMapper, batch
from ..anon.table import ENTRY_ANON, ENTRY_CHANGED, ENTRY_DELTA, AddressTable
from ..config import AnonymizeConfig
from ..proto.checksum import adjust, patch
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
from ..proto.plain import BATCH_MIN_PACKETS, Plain, PlainChunk, find_plain_records
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
    "ipv4_option",
    "ipv6_routing",
)
KIND_ARP, KIND_NDP, KIND_ICMP_REDIRECT, KIND_IPV4_OPTION, KIND_IPV6_ROUTING = 6, 7, 8, 9, 10

ARP_PTYPE_IPV4 = 0x0800  # RFC 826 protocol type for IPv4 (RARP uses the same layout, RFC 903)
ARP_PTYPE_IPV6 = 0x86DD
ARP_ADDRESSES = 8  # sender hardware address offset in an ARP packet
ICMP_REDIRECT = 5  # RFC 792: gateway internet address at bytes 4-7
ICMP_GATEWAY = 4
ICMPV6_NDP_TARGETS = {135: (8,), 136: (8,), 137: (8, 24)}  # RFC 4861 §4.3-4.5: NS, NA, Redirect
# The fast path: frames the general walk would find to be Ethernet[/802.1Q]/IPv4 (no options,
# not fragmented) or IPv6 (no extension header), then TCP or UDP (not a tunnel port), whole.
FAST_MIN_LEN = 14 + 20 + 8
FAST_UDP_TUNNEL_PORTS = frozenset((UDP_PORT_VXLAN, UDP_PORT_GENEVE, UDP_PORT_GTPU, UDP_PORT_TEREDO))
UDP_CHECKSUM_NONE = 0
# Addresses inside IP headers (RFC 791 §3.1, RFC 8200 §4.4, RFC 6275 §6.4, RFC 8754 §2)
IPV4_OPTION_END, IPV4_OPTION_NOP = 0, 1
IPV4_RECORD_ROUTE = 7
IPV4_ROUTE_OPTIONS = frozenset((IPV4_RECORD_ROUTE, 131, 137))  # record route, loose and strict source route
IPV4_TIMESTAMP_OPTION, IPV4_TIMESTAMP_WITH_ADDRESSES = 68, frozenset((1, 3))
IPV6_ROUTING = 43
IPV6_SEGMENT_ROUTING = 4
IPV6_ROUTING_TYPES = frozenset((0, 2, IPV6_SEGMENT_ROUTING))  # type 0, Mobile IPv6 type 2, segment routing
IPV6_SKIPPED_EXTENSIONS = frozenset((0, 60, 135, 139, 140, 253, 254))  # hop-by-hop, dest. options, ...


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
        self.mapper = AddressMapper(self.config.key, self.config.keep, preserve_class=self.config.preserve_class)
        self.table = AddressTable(self.mapper)
        self._order = 0  # position of the next address field inside the current frame
        self._rewritten = [0] * len(KIND_NAMES)
        self._kept = [0] * len(KIND_NAMES)
        self._not_dissected: dict[int, int] = {}
        self.packets = self.packets_rewritten = self.truncated = 0
        self.partial_zeroed = self.arp_other_zeroed = self.checksums_not_updated = 0

    fast_path = True  # tests turn it off to check that both paths write the same bytes
    views = False  # rewritten frames' data as views of the parse's buffer (`~pktmask_nb.stages.base.Stage`)

    def process(self, chunk: list) -> list:
        """Rewrite the chunk's addresses; a chunk of packets only comes back as a `PlainChunk`
        carrying the parse its plain frames were rewritten through (mask needs the same)."""
        packets = [r for r in chunk if r.__class__ is Packet]
        self.packets += len(packets)
        only_packets, plain = len(packets) == len(chunk), None
        if self.fast_path and len(packets) >= BATCH_MIN_PACKETS:
            plain = find_plain_records(packets)
            packets = self._batch(packets, plain)
        rewrite, fast = self._rewrite, self._fast if self.fast_path else None
        for packet in packets:
            if fast is None or packet.linktype != LINKTYPE_ETHERNET or not fast(packet):
                rewrite(packet)
        if plain is not None and only_packets:
            return PlainChunk(chunk, plain)
        return chunk

    def _batch(self, packets: list, plain: Plain) -> list:
        """Rewrite the plain frames of `packets` in one vectorized pass (`plain`: their parse); return the others."""
        changed = np.zeros(len(plain.index), bool)
        for size in (4, 16):
            rows = np.flatnonzero(plain.v6 == (size == 16))
            if len(rows):
                changed[rows] = self._batch_rewrite(packets, plain, rows, size)
        buf = memoryview(plain.buf) if self.views else plain.buf
        for i, start, end in zip(*(a[changed].tolist() for a in (plain.index, plain.start, plain.end))):
            packets[i].data = buf[start:end]
        self.packets_rewritten += int(changed.sum())
        left = np.ones(len(packets), bool)
        left[plain.index] = False
        return [packets[i] for i in np.flatnonzero(left).tolist()]  # the few the batch did not take

    def _batch_rewrite(self, packets: list, plain, rows: np.ndarray, size: int) -> np.ndarray:
        """Map the addresses of the plain frames `rows` (all of one `size`); True where one changed."""
        occurrences = batch.addresses(plain, rows, size)  # src, dst of each row in turn
        unique, first, inverse = batch.unique(occurrences)
        inverse = inverse.reshape(-1)
        repeat = np.ones(len(occurrences), np.int64)
        repeat[1::2] = occurrences[0::2] != occurrences[1::2]  # an address twice in a frame counts once
        counts = np.bincount(inverse, weights=repeat, minlength=len(unique)).astype(np.int64).tolist()
        last = np.zeros(len(unique), np.int64)
        np.maximum.at(last, inverse, np.arange(len(occurrences)))
        frames = plain.index[rows].tolist()
        see, anonymized = self.table.see_many, []
        deltas, changes = np.empty(len(unique), np.int64), np.empty(len(unique), bool)
        for j, (original, f, n, z) in enumerate(zip(unique.tolist(), first.tolist(), counts, last.tolist())):
            head, tail = packets[frames[f >> 1]], packets[frames[z >> 1]]
            entry = see(original, n, (head.index, head.ts, f & 1), (tail.index, tail.ts))
            anonymized.append(entry[ENTRY_ANON])
            deltas[j], changes[j] = entry[ENTRY_DELTA], entry[ENTRY_CHANGED]
        src, dst = inverse[0::2], inverse[1::2]
        changed = changes[src] | changes[dst]
        rewritten = int(changes[src].sum() + changes[dst].sum())
        kind = 0 if size == 4 else 3
        self._rewritten[kind] += rewritten
        self._kept[kind] += 2 * len(rows) - rewritten
        table = np.frombuffer(b"".join(anonymized), np.uint8).reshape(-1, size)
        new = np.concatenate([table[src], table[dst]], axis=1)
        batch.apply(plain, rows[changed], size, new[changed], (deltas[src] + deltas[dst])[changed])
        return changed

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
        source = self.table.see(data[src:dst], frame, ts, 0)
        destination = self.table.see(data[dst : dst + size], frame, ts, 1)
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
        self._order = 0
        field = self._field
        frame, ts = packet.index, packet.ts
        for index, (offset, version, quoted) in enumerate(layers.ips):
            kind = (2 if quoted else 1 if index else 0) + (3 if version == 6 else 0)
            size = 4 if version == 4 else 16
            src = offset + (12 if version == 4 else 8)
            inside, final = (_ipv4_option_addresses if version == 4 else _ipv6_routing_addresses)(data, offset)
            field(data, src, size, kind, index, changes, frame, ts)
            field(data, src + size, size, kind, index if final is None else -1, changes, frame, ts)
            in_header = KIND_IPV4_OPTION if version == 4 else KIND_IPV6_ROUTING
            for at in inside:  # a source route's final destination counts in the pseudo-header
                field(data, at, size, in_header, index if at == final else -1, changes, frame, ts)
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
        entry = self.table.see(data[offset:end], frame, ts, self._order)
        self._order += 1
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
        """Counters: packets, packets rewritten, address fields rewritten and kept by kind
        (outer/inner/quoted IPv4 and IPv6, ARP, NDP, ICMP redirect), distinct addresses,
        partial addresses zeroed, ARP of another protocol zeroed, truncated packets,
        checksums the capture cut off (not updated), and not-dissected link types.
        """
        return {
            "keep": self.config.keep,
            "preserve_class": self.config.preserve_class,
            "packets": self.packets,
            "packets_rewritten": self.packets_rewritten,
            "addresses_rewritten": dict(zip(KIND_NAMES, self._rewritten)),
            "addresses_kept": dict(zip(KIND_NAMES, self._kept)),
            "unique_addresses": self.table.counts(),
            "partial_addresses_zeroed": self.partial_zeroed,
            "arp_other_protocol_zeroed": self.arp_other_zeroed,
            "truncated_packets": self.truncated,
            "checksums_not_updated": self.checksums_not_updated,
            "not_dissected": {str(k): v for k, v in sorted(self._not_dissected.items())},
        }

    def tables(self) -> dict[str, list[dict]]:
        """``{"mapping": rows}``: see `~pktmask_nb.anon.table.AddressTable.rows`."""
        return {"mapping": self.table.rows()}


def _ipv4_option_addresses(data: bytes, offset: int) -> tuple[list[int], int | None]:
    """Addresses in the options of the IPv4 header at `offset` (route recording, source
    routes, timestamps with addresses), as far as they were captured.

    Returns their offsets and the offset of the final destination of a source route not yet
    completed (the destination the TCP/UDP pseudo-header uses, RFC 9293 §3.1), or None.
    """
    found, final = [], None
    pos, end = offset + 20, min(offset + (data[offset] & 0x0F) * 4, len(data))
    while pos < end:
        kind = data[pos]
        if kind == IPV4_OPTION_END:
            break
        if kind == IPV4_OPTION_NOP:
            pos += 1
            continue
        if pos + 2 > end or data[pos + 1] < 2:
            break
        length = data[pos + 1]
        stop = min(pos + length, end)
        if kind in IPV4_ROUTE_OPTIONS:
            found += range(pos + 3, stop - 3, 4)
            if kind != IPV4_RECORD_ROUTE and pos + 3 <= stop and data[pos + 2] <= length and length >= 7:
                final = pos + length - 4 if pos + length <= end else None
        elif (
            kind == IPV4_TIMESTAMP_OPTION and pos + 4 <= stop and data[pos + 3] & 0x0F in IPV4_TIMESTAMP_WITH_ADDRESSES
        ):
            found += range(pos + 4, stop - 3, 8)
        pos = stop
    return found, final


def _ipv6_routing_addresses(data: bytes, offset: int) -> tuple[list[int], int | None]:
    """Addresses in routing headers (types 0, 2 and 4) after the IPv6 header at `offset`.

    Returns their offsets and, while segments are left, the offset of the final destination
    (the pseudo-header's destination, RFC 8200 §8.1), or None.
    """
    found, final = [], None
    if offset + 40 > len(data):
        return found, final
    next_header, pos, end = data[offset + 6], offset + 40, len(data)
    while pos + 8 <= end and (next_header in IPV6_SKIPPED_EXTENSIONS or next_header == IPV6_ROUTING):
        stop = pos + (data[pos + 1] + 1) * 8
        kind = data[pos + 2]
        if next_header == IPV6_ROUTING and kind in IPV6_ROUTING_TYPES:
            last = stop if kind != IPV6_SEGMENT_ROUTING else min(stop, pos + 8 + 16 * (data[pos + 4] + 1))
            addresses = range(pos + 8, min(last, end) - 15, 16)
            found += addresses
            if data[pos + 3] and addresses and last <= end:  # segments left
                final = addresses[0] if kind == IPV6_SEGMENT_ROUTING else addresses[-1]
        next_header, pos = data[pos], stop
    return found, final
