"""Rule 1 of the audit (SPEC §8): original addresses, as bytes, anywhere in the sanitized file.

Pass 1 collects every IPv4/IPv6 address of the original's address fields (IP source and
destination at every encapsulation level and inside ICMP errors, ARP/RARP protocol
addresses, ICMPv6 Neighbor Discovery targets, ICMP Redirect gateways). Pass 2 looks for
their bytes in the sanitized file with NumPy: every 4-byte big-endian window as a uint32,
looked up in the sorted IPv4 set; IPv6 candidates from their last 4 bytes, then a full
16-byte comparison.

A 4-byte match in a large file can be chance (a sequence number, a timestamp, a kept
certificate byte string): a hit in an address field is a certain leak, one elsewhere is
reported with where it sits so that a reader can judge. Likewise, Crypto-PAn is a
permutation of the address space: an original address can be the anonymized image of
another one. Without the key the audit cannot tell, and reports it.
"""

from __future__ import annotations

import ipaddress

import numpy as np

from ..anon.ranges import special_policies
from ..capture import open_capture
from ..record import Packet
from .dissect import IPPROTO_ICMP, IPPROTO_ICMPV6, STATUS_NOT_DISSECTED, dissect

ARP_PTYPES = {(0x0800, 4), (0x86DD, 16)}  # RFC 826 / RFC 903 protocol type and length we map
ICMP_REDIRECT = 5  # RFC 792: gateway address at bytes 4..7
ICMPV6_ND_ADDRESSES = {135: (8,), 136: (8,), 137: (8, 24)}  # RFC 4861: NS/NA target, Redirect target+dest
SCAN_BLOCK = 1 << 20  # bytes scanned at a time
IPV6_KEY_AT = 12  # IPv6 candidates are found by their last 4 bytes (interface IDs vary most)
CARRY = 15  # bytes kept from one block for matches that span into the next


def address_fields(data, layers) -> list[tuple[int, int, str]]:
    """``(offset, size, name)`` of every whole address field of a dissected frame."""
    n = len(data)
    fields = []
    for offset, version, quoted in layers.ips:
        size, src = (4, offset + 12) if version == 4 else (16, offset + 8)
        label = f"{'quoted ' if quoted else ''}IPv{version}"
        for at, name in ((src, "source"), (src + size, "destination")):
            if at + size <= n:
                fields.append((at, size, f"{label} {name} address"))
    for offset in layers.arps:
        ptype, hlen, plen = (data[offset + 2] << 8) | data[offset + 3], data[offset + 4], data[offset + 5]
        if (ptype, plen) in ARP_PTYPES:
            spa = offset + 8 + hlen
            for at, name in ((spa, "sender"), (spa + plen + hlen, "target")):
                if at + plen <= n:
                    fields.append((at, plen, f"ARP {name} protocol address"))
    t = layers.transport_offset
    if 0 <= t < n and layers.transport == IPPROTO_ICMP and data[t] == ICMP_REDIRECT and t + 8 <= n:
        fields.append((t + 4, 4, "ICMP redirect gateway"))
    elif 0 <= t < n and layers.transport == IPPROTO_ICMPV6:
        fields += [(t + p, 16, "ICMPv6 ND address") for p in ICMPV6_ND_ADDRESSES.get(data[t], ()) if t + p + 16 <= n]
    return fields


def collect(path, keep: str, chunk_size: int) -> tuple[set[bytes], set[bytes], int]:
    """Pass 1: the original's addresses ``(ipv4, ipv6, packets)``, as bytes, special ranges
    left out when `keep` is ``"special"`` (anonymize keeps them unchanged)."""
    seen: set[bytes] = set()
    packets = 0
    with open_capture(path, on_truncated="warn") as reader:
        for chunk in reader.chunks(chunk_size):
            for record in chunk:
                if record.__class__ is not Packet:
                    continue
                packets += 1
                data = record.data
                layers = dissect(data, record.linktype)
                if layers.status == STATUS_NOT_DISSECTED:
                    continue
                for at, size, _ in address_fields(data, layers):
                    seen.add(bytes(data[at : at + size]))
    policies = special_policies(keep)
    found: dict[int, set[bytes]] = {4: set(), 16: set()}
    for value in seen:
        if not policies[len(value)].is_fixed(int.from_bytes(value, "big")):
            found[len(value)].add(value)
    return found[4], found[16], packets


def show(value: bytes) -> str:
    return str(ipaddress.ip_address(value))


class AddressScanner:
    """Pass 2: find the collected addresses in a byte stream fed block by block.

    Parameters
    ----------
    ipv4, ipv6 : set of bytes
        4-byte and 16-byte addresses.
    """

    def __init__(self, ipv4: set[bytes], ipv6: set[bytes]):
        self.v4 = np.sort(np.frombuffer(b"".join(ipv4), ">u4").astype(np.uint32))
        rows = np.frombuffer(b"".join(sorted(ipv6)), np.uint8).reshape(-1, 16)
        self.v6 = np.ascontiguousarray(rows).view("S16").reshape(-1)  # sorted: joined in sorted order
        self.v6_keys = np.unique(np.frombuffer(rows[:, IPV6_KEY_AT:].tobytes(), ">u4").astype(np.uint32))
        self.position = 0  # stream offset of the next byte fed
        self._carry = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Return ``(stream_offset, address)`` of every match that ends in `data`, in stream order."""
        hits = []
        if not len(self.v4) and not len(self.v6):
            self.position += len(data)
            return hits
        for start in range(0, len(data), SCAN_BLOCK):
            block = data[start : start + SCAN_BLOCK]
            hits += self._scan(self._carry + block, len(self._carry), self.position - len(self._carry))
            self._carry = (self._carry + block)[-CARRY:]
            self.position += len(block)
        hits.sort()
        return hits

    def _scan(self, buf: bytes, carried: int, base: int) -> list[tuple[int, bytes]]:
        """Matches in `buf` (stream offset `base`) that reach past its first `carried` bytes."""
        if len(buf) < 4:
            return []
        a = np.frombuffer(buf, np.uint8).astype(np.uint32)
        words = (a[:-3] << 24) | (a[1:-2] << 16) | (a[2:-1] << 8) | a[3:]
        hits = []
        if len(self.v4):
            at = _members(self.v4, words)
            at = at[at + 4 > carried]
            hits += [(base + p, buf[p : p + 4]) for p in at.tolist()]
        if len(self.v6):
            at = _members(self.v6_keys, words) - IPV6_KEY_AT
            at = at[(at >= 0) & (at + 16 > carried)]
            if len(at):
                rows = np.frombuffer(buf, np.uint8)[at[:, None] + np.arange(16)]
                values = np.ascontiguousarray(rows).view("S16").reshape(-1)
                index = np.minimum(np.searchsorted(self.v6, values), len(self.v6) - 1)
                at = at[self.v6[index] == values]
                hits += [(base + p, buf[p : p + 16]) for p in at.tolist()]
        return hits


def _members(table: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Positions of `words` that are in the sorted `table`."""
    if not len(table):
        return np.empty(0, np.int64)
    index = np.minimum(np.searchsorted(table, words), len(table) - 1)
    return np.flatnonzero(table[index] == words)
