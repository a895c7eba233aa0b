"""Counts in words for the lines people read: ``1 packet``, ``2 packets``."""

from __future__ import annotations


def plural(n: int, word: str, *, thousands: bool = False) -> str:
    """`n` and `word`, with an ``s`` unless `n` is 1 (``,`` between thousands if asked)."""
    number = f"{n:,}" if thousands else str(n)
    return f"{number} {word}{'' if n == 1 else 's'}"
