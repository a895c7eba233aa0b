"""The original's identifiers, and every encoding of them the audit looks for (SPEC §8).

Pass 1 collects the addresses of the original's address fields (`~.layers`), and the
IPv4 addresses embedded in its IPv6 ones (RFC 4291 mapped and compatible, RFC 6052 NAT64,
RFC 3056 6to4, RFC 4380 Teredo, RFC 5214 ISATAP); with ``--anon-keep special`` the
special ranges the anonymizer keeps are left out. Pass 2 looks for them in the sanitized
file as 4/16 raw bytes (a Teredo client also bit-inverted), as dotted and colon text in
every IPv6 form, as 8/32 hex digits, and as reverse-DNS names (in-addr.arpa, ip6.arpa) in
text and in DNS wire format.

When MACs were anonymized (``--anon-mac``), the unicast hardware addresses of the original's
link headers, ARP, NDP options and STP bridge ids are looked for too: as 6 raw bytes, inside
a modified EUI-64 interface identifier, and as text (``aa:bb:..``, ``aa-bb-..``,
``aabb.ccdd.eeff``, 12 hex digits). Their findings read ``MAC ...``; six bytes are no chance.
When TLS names were zeroed (``--tls-names zero``), the names the original's handshakes show
(`~.names`) are looked for as they were written; findings read ``TLS name ...`` and count
only inside TLS handshakes (a kept HTTP head may name its host by design).

A 4-byte raw match can be chance (a sequence number, a certificate byte string): a match in
an address field is certain, one elsewhere is reported as a possible coincidence. Crypto-PAn
is a permutation, so an original address can also be another one's anonymized image; without
the key the audit cannot tell them apart and reports it.
"""

from __future__ import annotations

import ipaddress
import re

import numpy as np

from .layers import special

IPV6_KEY_AT = 12  # IPv6 candidates are found by their last 4 bytes (interface IDs vary most)
TEREDO, SIXTOFOUR, NAT64 = b"\x20\x01\x00\x00", b"\x20\x02", b"\x00\x64\xff\x9b" + bytes(8)
MAPPED, COMPATIBLE = bytes(10) + b"\xff\xff", bytes(12)
ISATAP_IDS = (b"\x00\x00\x5e\xfe", b"\x02\x00\x5e\xfe")

DOTTED = re.compile(rb"(?<![0-9.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![0-9]|\.[0-9])")
COLONS = re.compile(rb"[0-9A-Fa-f:.]{2,45}")
HEX = re.compile(rb"(?<![0-9A-Fa-f])(?:0[xX])?([0-9A-Fa-f]{32}|[0-9A-Fa-f]{8})(?![0-9A-Fa-f])")
REVERSE4 = re.compile(rb"(?i)((?:\d{1,3}\.){4})in-addr\.arpa")
REVERSE6 = re.compile(rb"(?i)((?:[0-9a-f]\.){32})ip6\.arpa")
WIRE4 = re.compile(rb"(?i)((?:[\x01-\x03]\d{1,3}){4})\x07in-addr\x04arpa")
WIRE6 = re.compile(rb"(?i)((?:\x01[0-9a-f]){32})\x03ip6\x04arpa")
REVERSE_PATTERNS = ((REVERSE4, False, False), (REVERSE6, False, True), (WIRE4, True, False), (WIRE6, True, True))
# Where a match can start, found faster than by trying every position (the patterns above
# cost most of pass 2): every dotted quad's first dot is one of these, ...
FIRST_DOTS = re.compile(rb"\.(?=[0-9]{1,3}\.)")  # a literal first: the regex engine skips to each dot
HEX_DIGIT = np.zeros(256, bool)  # ... every HEX match is a run of exactly 8 or 32 of these,
HEX_DIGIT[list(b"0123456789abcdefABCDEF")] = True
REVERSE_HINT = b"arpa"  # ... and every reverse-DNS name ends in this (any case)
_X2, _X4 = rb"[0-9A-Fa-f]{2}", rb"[0-9A-Fa-f]{4}"
MAC_TEXT = re.compile(
    rb"(?<![0-9A-Fa-f:.-])(?:" + _X2 + rb"([:-])" + rb"\1".join([_X2] * 5) + rb"|" + rb"\.".join([_X4] * 3)
    + rb"|[0-9A-Fa-f]{12})(?![0-9A-Fa-f]|[:-][0-9A-Fa-f])"
)  # fmt: skip
EUI64_MIDDLE = b"\xff\xfe"


def embedded_ipv4(value: bytes) -> list[tuple[bytes, bool]]:
    """``(ipv4, inverted)`` embedded in an IPv6 address: ``inverted`` for a Teredo client."""
    if value.startswith(MAPPED) or value.startswith(NAT64):
        return [(value[12:], False)]
    if value.startswith(COMPATIBLE) and int.from_bytes(value[12:], "big") >> 24:  # not ::/104 (:: and ::1)
        return [(value[12:], False)]
    if value.startswith(SIXTOFOUR):
        return [(value[2:6], False)]
    if value.startswith(TEREDO):
        return [(value[4:8], False), (bytes(b ^ 0xFF for b in value[12:]), True)]
    if value[8:12] in ISATAP_IDS:
        return [(value[12:], False)]
    return []


class Identifiers:
    """The original addresses to look for.

    Parameters
    ----------
    keep : {"special", "none"}
        As the anonymizer's ``--anon-keep``: with "special" its kept ranges are not looked for.
    """

    def __init__(self, keep: str, macs: bool = False):
        self.keep = keep
        self.look_for_macs = macs
        self.macs: set[bytes] = set()
        self.names: set[bytes] = set()
        self.v4: set[bytes] = set()
        self.v6: set[bytes] = set()
        self.inverted: set[bytes] = set()  # Teredo clients as they appear, bit-inverted
        self._tables = None
        self._added: set[bytes] = set()  # every value `add` was given: most repeat, frame after frame

    def freeze(self) -> None:
        """Pass 1 is over: sort the tables the raw search looks values up in."""
        self._tables = (_table(self.v4), _table(self.inverted), _table({v[IPV6_KEY_AT:] for v in self.v6}))

    def add(self, value: bytes) -> None:
        if value in self._added:
            return
        self._added.add(value)
        if len(value) == 16:
            for v4, inverted in embedded_ipv4(value):
                if self.keep == "none" or not special(v4):
                    (self.inverted if inverted else self.v4).add(bytes(b ^ 0xFF for b in v4) if inverted else v4)
        if self.keep == "special" and special(value):
            return
        (self.v4 if len(value) == 4 else self.v6).add(value)

    def add_mac(self, value: bytes) -> None:
        """A hardware address of the original: looked for if MACs were anonymized and it is
        unicast and not zero (group addresses and zero are kept by design)."""
        if self.look_for_macs and not value[0] & 1 and any(value):
            self.macs.add(value)

    def counts(self) -> dict[str, int]:
        found = {"ipv4": len(self.v4), "ipv6": len(self.v6)}
        if self.look_for_macs:
            found["mac"] = len(self.macs)
        if self.names:
            found["tls_name"] = len(self.names)
        return found

    def find(self, data, base: int) -> list[tuple[int, int, str]]:
        """``(offset, length, what)`` of every identifier in `data` (file offset `base`)."""
        hits = [(base + at, size, what) for at, size, what in self._raw(data)]
        if self.v4 or self.v6:
            hits += [(base + at, size, what) for at, size, what in self._text(bytes(data))]
        if self.macs:
            hits += [(base + at, size, what) for at, size, what in self._macs(bytes(data))]
        for name in self.names:
            at = data.find(name)
            while at >= 0:
                hits.append((base + at, len(name), f"TLS name {name.decode(errors='replace')!r}"))
                at = data.find(name, at + 1)
        return hits

    def _macs(self, data: bytes) -> list[tuple[int, int, str]]:
        macs, hits = self.macs, []
        if len(data) >= 6:
            a = np.frombuffer(data, np.uint8).astype(np.uint64)
            windows = a[:-5] << 40 | a[1:-4] << 32 | a[2:-3] << 24 | a[3:-2] << 16 | a[4:-1] << 8 | a[5:]
            table = np.sort(np.array([int.from_bytes(m, "big") for m in macs], np.uint64))
            index = np.minimum(np.searchsorted(table, windows), len(table) - 1)
            hits += [
                (at, 6, f"MAC {_mac(data[at : at + 6])}") for at in np.flatnonzero(table[index] == windows).tolist()
            ]
        at = data.find(EUI64_MIDDLE, 3)
        while 0 <= at <= len(data) - 5:
            value = bytes((data[at - 3] ^ 0x02,)) + data[at - 2 : at] + data[at + 2 : at + 5]
            if value in macs:
                hits.append((at - 3, 8, f"MAC {_mac(value)} as an EUI-64 interface identifier"))
            at = data.find(EUI64_MIDDLE, at + 1)
        for m in MAC_TEXT.finditer(data):
            digits = re.sub(rb"[^0-9A-Fa-f]", b"", m.group(0))
            value = bytes.fromhex(digits.decode())
            if value in macs:
                hits.append((m.start(), m.end() - m.start(), f"MAC {_mac(value)} as text"))
        return hits

    def _raw(self, data) -> list[tuple[int, int, str]]:
        if len(data) < 4 or not (self.v4 or self.v6 or self.inverted):
            return []
        if self._tables is None:
            self.freeze()
        v4, inverted_v4, v6_keys = self._tables
        a = np.frombuffer(data, np.uint8).astype(np.uint32)
        words = (a[:-3] << 24) | (a[1:-2] << 16) | (a[2:-1] << 8) | a[3:]
        hits = []
        for table, inverted in ((v4, False), (inverted_v4, True)):
            for at in _members(table, words).tolist():
                value = bytes(data[at : at + 4])
                if inverted:
                    value = bytes(b ^ 0xFF for b in value)
                hits.append((at, 4, f"{_show(value)}{' bit-inverted (Teredo)' if inverted else ''}"))
        if self.v6:
            for at in _members(v6_keys, words).tolist():
                start = at - IPV6_KEY_AT
                if start >= 0 and bytes(data[start : start + 16]) in self.v6:
                    hits.append((start, 16, _show(bytes(data[start : start + 16]))))
        return hits

    def _text(self, data: bytes) -> list[tuple[int, int, str]]:
        hits = []
        for m in _dotted(data):
            parts = [int(g) for g in m.groups()]
            if max(parts) < 256 and bytes(parts) in self.v4:
                hits.append((m.start(), m.end() - m.start(), f"{_show(bytes(parts))} as text"))
        for m in COLONS.finditer(data):
            token = m.group(0)
            if token.count(b":") >= 2:
                value = _ipv6(token.strip(b"."))
                if value is not None and value in self.v6:
                    hits.append((m.start(), len(token), f"{_show(value)} as text"))
                if value is not None and value[12:] in self.v4 and b"." in token:
                    hits.append((m.start(), len(token), f"{_show(value[12:])} as text in {token.decode()}"))
        for m in _hex(data):
            value = bytes.fromhex(m.group(1).decode())
            if value in self.v4 or value in self.v6:
                hits.append((m.start(), m.end() - m.start(), f"{_show(value)} as hex text"))
        for pattern, wire, v6 in REVERSE_PATTERNS if REVERSE_HINT in data.lower() else ():
            for m in pattern.finditer(data):
                value = _reverse(m.group(1), wire, v6)
                if value is not None and value in (self.v6 if v6 else self.v4):
                    hits.append((m.start(), m.end() - m.start(), f"{_show(value)} as a reverse-DNS name"))
        return hits


def _dotted(data: bytes):
    """The matches of ``DOTTED.finditer(data)``, tried only up to 3 digits before a first dot."""
    end = 0
    for hint in FIRST_DOTS.finditer(data):
        dot = hint.start()
        for at in range(max(dot - 3, end), dot):
            m = DOTTED.match(data, at)  # the lookbehind still sees the byte before `at`
            if m:
                yield m
                end = m.end()
                break


def _hex(data: bytes):
    """The matches of ``HEX.finditer(data)``, tried only at runs of exactly 8 or 32 hex digits
    (at their ``0x`` first, where one comes before them)."""
    edges = np.flatnonzero(np.diff(HEX_DIGIT[np.frombuffer(data, np.uint8)], prepend=False, append=False))
    starts, ends = edges[0::2], edges[1::2]
    runs = starts[(ends - starts == 8) | (ends - starts == 32)]
    for at in runs.tolist():
        m = HEX.match(data, at - 2) if at >= 2 and data[at - 2 : at] in (b"0x", b"0X") else None
        m = m or HEX.match(data, at)
        if m:
            yield m


def _reverse(labels: bytes, wire: bool, v6: bool):
    if wire:
        parts, pos = [], 0
        while pos < len(labels):
            size = labels[pos]
            parts.append(labels[pos + 1 : pos + 1 + size])
            pos += 1 + size
    else:
        parts = labels.rstrip(b".").split(b".")
    try:
        if v6:
            return bytes.fromhex(b"".join(reversed(parts)).decode())
        octets = [int(p) for p in reversed(parts)]
        return bytes(octets) if max(octets) < 256 else None
    except ValueError:
        return None


def _ipv6(token: bytes):
    try:
        return ipaddress.IPv6Address(token.decode()).packed
    except ValueError:
        return None


def _mac(value: bytes) -> str:
    return ":".join(f"{b:02x}" for b in value)


def _show(value: bytes) -> str:
    return str(ipaddress.ip_address(value))


def _table(values) -> np.ndarray:
    return np.sort(np.frombuffer(b"".join(values), ">u4").astype(np.uint32))


def _members(table: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Positions of `words` (big-endian 4-byte windows) that are in the sorted `table`."""
    if not len(table):
        return np.empty(0, np.int64)
    index = np.minimum(np.searchsorted(table, words), len(table) - 1)
    return np.flatnonzero(table[index] == words)
