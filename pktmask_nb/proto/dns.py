"""DNS messages (RFC 1035 §4, RFC 6891 OPT, RFC 7871 Client Subnet) for ``--anon-dns``: what each byte is.

`message` reads one DNS message and sorts its bytes into *structure* (the header, label
lengths and compression pointers, types, classes, TTLs, lengths, fixed numeric fields of
MX/SRV/SOA, option codes and lengths), *names* (label contents, TXT strings), and
*addresses* (A and AAAA data, the address of an EDNS Client Subnet option, a prefix of
``bits`` bits). Everything else — the data of other record types and options, and whatever
follows the point where the message stops parsing — is neither, and is zeroed by the stages.
"""

from __future__ import annotations

from typing import NamedTuple

DNS_PORT = 53
DNS_HLEN = 12
TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_SOA, TYPE_PTR, TYPE_MX, TYPE_TXT = 1, 2, 5, 6, 12, 15, 16
TYPE_AAAA, TYPE_SRV, TYPE_DNAME, TYPE_OPT = 28, 33, 39, 41
NAME_TYPES = frozenset((TYPE_NS, TYPE_CNAME, TYPE_PTR, TYPE_DNAME))  # data: one name
FIXED_BEFORE_NAME = {TYPE_MX: 2, TYPE_SRV: 6}  # preference; priority, weight, port
SOA_NUMBERS = 20  # serial, refresh, retry, expire, minimum
OPTION_CLIENT_SUBNET = 8
FAMILY_WIDTHS = {1: 4, 2: 16}  # address family numbers: IPv4, IPv6
MAX_LABELS = 128
REVERSE_ZONES = (b"\x07in-addr\x04arpa\x00", b"\x03ip6\x04arpa\x00")  # the labels before spell addresses


class Address(NamedTuple):
    offset: int
    size: int  # bytes present (a Client Subnet address holds only its prefix's bytes)
    width: int  # 4 or 16
    bits: int  # prefix length (the full width for A/AAAA)


class Message(NamedTuple):
    start: int  # where the message starts (compression pointers count from here)
    structure: list  # (start, end)
    names: list  # (start, end)
    addresses: list  # Address
    reverse: list  # (start, end) of label contents of names in a reverse zone (addresses as text)
    end: int  # bytes from here on were not understood
    whole: bool = False  # every record its counts promise was read (it may still end before the data)


class _Stop(Exception):
    """The message stops parsing at this offset."""


def message(data, start: int, end: int) -> Message:
    """Read the DNS message ``data[start:end]`` (see the module docstring)."""
    found = Message(start, [], [], [], [], start)
    if end - start < DNS_HLEN:
        return found
    counts = [(data[start + at] << 8) | data[start + at + 1] for at in (4, 6, 8, 10)]
    found.structure.append((start, start + DNS_HLEN))
    pos = start + DNS_HLEN
    try:
        for _ in range(counts[0]):
            pos = _name(data, pos, end, found)
            pos = _fixed(pos, 4, end, found)  # type, class
        for _ in range(counts[1] + counts[2] + counts[3]):
            pos = _record(data, pos, end, found)
    except _Stop as stop:  # at the data's end too: counts that promise more than there is
        return found._replace(end=stop.args[0])
    return found._replace(end=pos, whole=True)


def _fixed(pos: int, size: int, end: int, found: Message) -> int:
    if pos + size > end:
        raise _Stop(pos)
    found.structure.append((pos, pos + size))
    return pos + size


def _name(data, pos: int, end: int, found: Message, limit: int | None = None) -> int:
    """A domain name at `pos` (labels, perhaps ending in a pointer); returns where it ends."""
    stop = end if limit is None else limit
    first, labels, pointer, pointed = pos, [], False, None
    for _ in range(MAX_LABELS):
        if pos >= stop:
            raise _Stop(first)
        length = data[pos]
        if length == 0:
            found.structure.append((pos, pos + 1))
            pos += 1
            break
        if length & 0xC0 == 0xC0:
            if pos + 2 > stop:
                raise _Stop(first)
            pointer, pointed = True, _expand(data, found.start, ((length & 0x3F) << 8) | data[pos + 1], end)
            pos = _fixed(pos, 2, stop, found)
            break
        if length & 0xC0 or pos + 1 + length > stop:
            raise _Stop(first)
        found.structure.append((pos, pos + 1))
        labels.append((pos + 1, pos + 1 + length))
        pos += 1 + length
    else:
        raise _Stop(first)
    text, count = b"".join(bytes(data[a - 1 : b]) for a, b in labels), len(labels)
    if pointer and pointed is None:  # a pointer that leads nowhere sound: the labels may spell anything
        found.reverse.extend(labels)
        return pos
    if pointed is not None:
        text, count = text + pointed[0], count + pointed[1]
    else:
        text += b"\0"
    if text.lower().endswith(REVERSE_ZONES):  # the zone's two labels are names, the others an address
        address = len(labels) - max(0, 2 - (count - len(labels)))
        found.reverse.extend(labels[:address])
        labels = labels[address:]
    found.names.extend(labels)
    return pos


def _expand(data, origin: int, pointer: int, end: int):
    """``(labels, count)`` of the name a compression pointer leads to (length-prefixed labels and
    the root), following further pointers; None if it does not lead to a sound name."""
    out, count, pos = b"", 0, origin + pointer
    for _ in range(MAX_LABELS):
        if not origin <= pos < end:
            return None
        length = data[pos]
        if length == 0:
            return out + b"\0", count
        if length & 0xC0 == 0xC0:
            if pos + 1 >= end:
                return None
            pos = origin + (((length & 0x3F) << 8) | data[pos + 1])
            continue
        if length & 0xC0 or pos + 1 + length > end:
            return None
        out += bytes(data[pos : pos + 1 + length])
        count += 1
        pos += 1 + length
    return None


def _record(data, pos: int, end: int, found: Message) -> int:
    pos = _name(data, pos, end, found)
    if pos + 10 > end:
        raise _Stop(pos)
    kind = (data[pos] << 8) | data[pos + 1]
    length = (data[pos + 8] << 8) | data[pos + 9]
    pos = _fixed(pos, 10, end, found)  # type, class, TTL, data length
    stop = pos + length
    if stop > end:
        raise _Stop(pos)
    if kind in (TYPE_A, TYPE_AAAA) and length == (4 if kind == TYPE_A else 16):
        found.addresses.append(Address(pos, length, length, 8 * length))
    elif kind in NAME_TYPES or kind in FIXED_BEFORE_NAME:
        at = _fixed(pos, FIXED_BEFORE_NAME.get(kind, 0), stop, found)
        _whole(_name(data, at, end, found, stop), stop)
    elif kind == TYPE_SOA:
        at = _name(data, _name(data, pos, end, found, stop), end, found, stop)
        _whole(_fixed(at, SOA_NUMBERS, stop, found), stop)
    elif kind == TYPE_TXT:
        at = pos
        while at < stop:
            size = data[at]
            if at + 1 + size > stop:
                raise _Stop(at)
            found.structure.append((at, at + 1))
            found.names.append((at + 1, at + 1 + size))
            at += 1 + size
    elif kind == TYPE_OPT:
        _options(data, pos, stop, found)
    return stop


def _whole(at: int, stop: int) -> None:
    if at != stop:
        raise _Stop(at)


def _options(data, pos: int, stop: int, found: Message) -> None:
    while pos < stop:
        if pos + 4 > stop:
            raise _Stop(pos)
        code, length = (data[pos] << 8) | data[pos + 1], (data[pos + 2] << 8) | data[pos + 3]
        if pos + 4 + length > stop:
            raise _Stop(pos)
        found.structure.append((pos, pos + 4))
        if code == OPTION_CLIENT_SUBNET and length >= 4:
            family, bits = (data[pos + 4] << 8) | data[pos + 5], data[pos + 6]
            width, size = FAMILY_WIDTHS.get(family, 0), length - 4
            if width and size == (bits + 7) // 8 <= width:
                found.structure.append((pos + 4, pos + 8))
                if size:
                    found.addresses.append(Address(pos + 8, size, width, bits))
        pos += 4 + length


def segment_addresses(data, start: int, end: int) -> list[Address]:
    """The addresses of the DNS-over-TCP messages that lie whole in one segment's payload
    ``data[start:end]``, read as length-prefixed messages from its first byte (RFC 1035 §4.2.2).

    Anonymize rewrites these, reading segments, not streams; mask keeps an address of a TCP
    message only where this reading of the same segment found it, so that bytes anonymize
    never saw (a message split over segments, a segment starting mid-message) stay zero.
    """
    found, pos = [], start
    while pos + 2 <= end:
        stop = pos + 2 + ((data[pos] << 8) | data[pos + 1])
        if stop > end:
            break
        found += message(data, pos + 2, stop).addresses
        pos = stop
    return found
