"""The audit's search for addresses written as text tries only where a match can start, and
finds exactly what the full patterns find at every position."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pktmask_nb.audit import identifiers as ids

V4 = [bytes((10, 1, 2, 3)), bytes((192, 0, 2, 200)), bytes((8, 8, 4, 4))]
V6 = [bytes.fromhex("20010db8000000000000000000000001"), bytes.fromhex("fe800000000000000202b3fffe1e8329")]


def searcher():
    found = ids.Identifiers("none")
    for value in V4 + V6:
        found.add(value)
    return found


def reference(found, data: bytes) -> list:
    """`Identifiers._text` with every pattern run by finditer over every position."""
    patterns = {"_dotted": ids.DOTTED, "_hex": ids.HEX}
    saved = {name: getattr(ids, name) for name in patterns}
    saved_hint = ids.REVERSE_HINT
    try:
        for name, pattern in patterns.items():
            setattr(ids, name, pattern.finditer)
        ids.REVERSE_HINT = b""  # found in every buffer: the reverse patterns always run
        return found._text(data)
    finally:
        for name, fn in saved.items():
            setattr(ids, name, fn)
        ids.REVERSE_HINT = saved_hint


def texts(value: bytes) -> list[bytes]:
    if len(value) == 4:
        dotted = ".".join(map(str, value)).encode()
        reverse = ".".join(map(str, reversed(value))).encode() + b".in-addr.arpa"
        wire = b"".join(bytes((len(str(b)),)) + str(b).encode() for b in reversed(value)) + b"\x07in-addr\x04arpa"
        return [dotted, reverse, reverse.upper(), wire, value.hex().encode(), b"0x" + value.hex().upper().encode()]
    nibbles = value.hex()[::-1]
    return [
        value.hex().encode(),
        b"0X" + value.hex().encode(),
        ".".join(nibbles).encode() + b".ip6.arpa",
        b"".join(b"\x01" + c.encode() for c in nibbles) + b"\x03ip6\x04arpa",
    ]


PIECES = st.one_of(
    st.sampled_from([t for v in V4 + V6 for t in texts(v)]),
    st.binary(max_size=10),
    st.text(alphabet="0123456789abcdefABCDEFxX.:-", max_size=14).map(str.encode),
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(PIECES, max_size=14))
def test_the_quick_search_finds_what_every_position_finds(pieces):
    data = b"".join(pieces)
    found = searcher()
    assert found._text(data) == reference(found, data)


def test_every_encoding_is_found():
    found = searcher()
    data = b"\x00".join(t for v in V4 + V6 for t in texts(v))
    hits = found._text(data)
    assert len(hits) == len(V4) * 6 + len(V6) * 4
    assert hits == reference(found, data)
