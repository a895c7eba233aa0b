"""Internet checksums (RFC 1071) updated incrementally (RFC 1624) from the bytes that change."""

from __future__ import annotations

ONES_MOD = 0xFFFF  # 2**16 ≡ 1 (mod 0xFFFF): a big-endian integer's value mod 0xFFFF is its 16-bit word sum


def word_sum(data, start: int, end: int, parity: int = 0) -> int:
    """One's-complement sum (mod 0xFFFF) of ``data[start:end]`` as 16-bit big-endian words.

    Parameters
    ----------
    parity : int
        1 when `start` falls on the second byte of a word of the checksummed region
        (its distance from the region start is odd).
    """
    value = int.from_bytes(data[start:end], "big")
    if (end - start + parity) & 1:  # the last byte is a high byte: pad with a zero low byte
        value <<= 8
    return value % ONES_MOD


def adjust(checksum: int, delta: int) -> int:
    """New checksum after the covered words' sum changed by `delta` (RFC 1624 eqn. 3).

    ``delta = word_sum(new) - word_sum(old)``, any integer.
    """
    x = (~checksum & 0xFFFF) + delta % ONES_MOD
    x = (x & 0xFFFF) + (x >> 16)
    return ~((x & 0xFFFF) + (x >> 16)) & 0xFFFF


def adjust_transport(old, delta, udp):
    """`adjust` on arrays of TCP/UDP checksums, with `patch`'s UDP rules (RFC 768).

    `udp` marks UDP checksums: one of 0 (none) stays 0, a new 0 is written 0xFFFF.
    """
    new = adjust(old, delta)
    new[udp & (new == 0)] = 0xFFFF
    new[udp & (old == 0)] = 0
    return new


def internet_checksum(data, start: int = 0, end: int | None = None, initial: int = 0) -> int:
    """The RFC 1071 checksum of ``data[start:end]`` with `initial` (e.g. a pseudo-header sum) added."""
    end = len(data) if end is None else end
    total = (word_sum(data, start, end) + initial) % ONES_MOD
    return ~total & 0xFFFF if total else 0xFFFF


def rotate8(value: int) -> int:
    """The same word sum seen from the other byte of the word (a one's-complement byte swap)."""
    return value * 256 % ONES_MOD


CK_KIND_UDP = 2  # = dissect.CK_UDP: a UDP checksum of 0 means "none" and stays 0 (RFC 768)


def patch(buf: bytearray, checksums: list, changes: list) -> int:
    """Write byte changes into `buf` and update every checksum they affect (RFC 1624).

    Parameters
    ----------
    buf : bytearray
        The frame, changed in place.
    checksums : list of (position, start, end, pseudo, kind)
        As in `~pktmask_nb.proto.dissect.Layers.checksums`, outermost first.
    changes : list of (offset, new_bytes, ip_index)
        Bytes to write at `offset`; ``ip_index`` is the index (in ``Layers.ips``) of the IP
        header whose address these bytes are, so pseudo-header checksums follow, or -1.

    A checksum is updated when a change lies inside its covered range or in the addresses
    of its pseudo-header, and again when an inner checksum field it covers changes. A
    correct checksum stays correct, a wrong one stays wrong by the same amount, and a UDP
    checksum of 0 stays 0.

    Returns
    -------
    int
        How many affected checksums could not be updated because the capture cut them off.
    """
    deltas = [0] * len(checksums)
    for offset, new, ip_index in changes:
        stop = offset + len(new)
        delta = word_sum(new, 0, len(new)) - word_sum(buf, offset, stop)
        buf[offset:stop] = new
        if delta % ONES_MOD:
            _spread(checksums, deltas, offset, stop, delta, ip_index)
    unfixable = 0
    for j in range(len(checksums) - 1, -1, -1):
        if not deltas[j] % ONES_MOD:
            continue
        position, _, _, _, kind = checksums[j]
        if position + 2 > len(buf):
            unfixable += 1
            continue
        old = (buf[position] << 8) | buf[position + 1]
        if kind == CK_KIND_UDP and old == 0:
            continue
        new = adjust(old, deltas[j])
        if kind == CK_KIND_UDP and new == 0:
            new = 0xFFFF
        buf[position] = new >> 8
        buf[position + 1] = new & 0xFF
        _spread(checksums[:j], deltas, position, position + 2, new - old, -1)
    return unfixable


def _spread(checksums: list, deltas: list, start: int, stop: int, delta: int, ip_index: int) -> None:
    """Add a change of `delta` (word sum, aligned at `start`) to the checksums it affects."""
    for j, (_, first, last, pseudo, _) in enumerate(checksums):
        if first <= start and stop <= last:
            deltas[j] += rotate8(delta) if (start - first) & 1 else delta
        if pseudo == ip_index >= 0:
            deltas[j] += delta
