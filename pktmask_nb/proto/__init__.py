"""Byte-level protocol parsing: pure functions over bytes that return offsets."""
