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


def internet_checksum(data, start: int = 0, end: int | None = None, initial: int = 0) -> int:
    """The RFC 1071 checksum of ``data[start:end]`` with `initial` (e.g. a pseudo-header sum) added."""
    end = len(data) if end is None else end
    total = (word_sum(data, start, end) + initial) % ONES_MOD
    return ~total & 0xFFFF if total else 0xFFFF
