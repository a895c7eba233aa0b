"""Internet checksums (RFC 1071) updated incrementally (RFC 1624) from the bytes that change."""

from __future__ import annotations

from .spans import CK_OPTIONAL, CK_UDP

OPTIONAL_KINDS = frozenset((CK_UDP, CK_OPTIONAL))  # 0 means "no checksum" and stays 0 (RFC 768, RFC 4884 §7)

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
    """`adjust` on arrays of checksums, with `patch`'s rules for optional ones (RFC 768).

    `udp` marks checksums where 0 means none (UDP's): one of 0 stays 0, a new 0 is written 0xFFFF.
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


def patch(buf: bytearray, checksums: list, changes: list, pseudo: dict | None = None) -> None:
    """Write byte changes into `buf` and update every checksum they affect (RFC 1624).

    Parameters
    ----------
    buf : bytearray
        The frame, changed in place.
    checksums : list of Checksum
        As in `~pktmask_nb.proto.spans.FrameMap.checksums`, outermost first.
    changes : list of (offset, new_bytes)
        Bytes to write at `offset`.
    pseudo : dict, optional
        Word-sum change (mod 0xFFFF) of each address field (by index) whose value changed:
        checksums whose pseudo-header holds that field follow it.

    A checksum is updated when a change lies inside its covered range or in an address of
    its pseudo-header, and again when an inner checksum field it covers changes. A correct
    checksum stays correct, a wrong one stays wrong by the same amount, and a UDP checksum
    (or an RFC 4884 one) of 0 stays 0. Every checksum field lies in `buf` (the frame map
    lists no checksum of bytes the frame lacks).
    """
    deltas = [0] * len(checksums)
    for offset, new in changes:
        stop = offset + len(new)
        delta = word_sum(new, 0, len(new)) - word_sum(buf, offset, stop)
        buf[offset:stop] = new
        if delta % ONES_MOD:
            _spread(checksums, deltas, offset, stop, delta)
    if pseudo:
        for j, checksum in enumerate(checksums):
            for field in checksum.pseudo:
                deltas[j] += pseudo.get(field, 0)
    for j in range(len(checksums) - 1, -1, -1):
        if not deltas[j] % ONES_MOD:
            continue
        checksum = checksums[j]
        position = checksum.position
        old = (buf[position] << 8) | buf[position + 1]
        optional = checksum.kind in OPTIONAL_KINDS
        if optional and old == 0:
            continue
        new = adjust(old, deltas[j])
        if optional and new == 0:
            new = 0xFFFF
        buf[position] = new >> 8
        buf[position + 1] = new & 0xFF
        _spread(checksums[:j], deltas, position, position + 2, new - old)


def _spread(checksums: list, deltas: list, start: int, stop: int, delta: int) -> None:
    """Add a change of `delta` (word sum, aligned at `start`) to the checksums covering it."""
    for j, checksum in enumerate(checksums):
        first = checksum.start
        if first <= start and stop <= checksum.end:
            deltas[j] += rotate8(delta) if (start - first) & 1 else delta
