"""IPv4 addresses embedded in IPv6 addresses (SPEC §5): their bits take the IPv4 mapping.

An IPv6 address of one of these forms carries an IPv4 address in a fixed *window* of bits:

- IPv4-mapped ``::ffff:0:0/96`` and the NAT64 well-known prefix ``64:ff9b::/96`` (RFC 4291
  §2.5.5.2, RFC 6052): bits 96-127;
- IPv4-compatible ``::/96`` (RFC 4291 §2.5.5.1, deprecated): bits 96-127, except that with
  the special ranges kept ``::/104`` is not one (it holds ``::`` and ``::1``);
- 6to4 ``2002::/16`` (RFC 3056): bits 16-47;
- Teredo ``2001::/32`` (RFC 4380 §4): the server at bits 32-63, the client at 96-127 with
  every bit inverted;
- ISATAP (RFC 5214 §6.1): interface identifier ``0:5efe`` or ``200:5efe`` then the IPv4
  address, under a link-local prefix (kept, SPEC §5; a global ISATAP address is anonymized
  as any address: keeping its pattern would force the first interface-identifier bit of
  every IPv6 address to stay).

With the special ranges kept (the default; ``--anon-keep none`` is pure Crypto-PAn), the
forms' prefixes map onto themselves, and the window gets the flips the IPv4 map gives the embedded address, so
``::ffff:a.b.c.d`` becomes ``::ffff:A.B.C.D`` where ``a.b.c.d`` becomes ``A.B.C.D``. Every
flip is still a function of the address bits before it, so the map stays one-to-one and
prefix-preserving (see `~pktmask_nb.anon.ranges`); an address not of a form never lands in
one, because the flips along a form's prefix or pattern are forced to 0. The price, as for
any kept range: addresses close to a form's prefix keep the bits they share with it (every
``2001::/16`` address stays in ``2001::/16``, next to Teredo's ``2001::/32``).
"""

from __future__ import annotations

import ipaddress

IPV6_BITS = 128
WINDOW_BITS = 32
MASK32 = (1 << WINDOW_BITS) - 1


def _prefix(text: str) -> tuple[int, int]:
    net = ipaddress.ip_network(text)
    return int(net.network_address), net.prefixlen


MAPPED = _prefix("::ffff:0:0/96")
NAT64 = _prefix("64:ff9b::/96")
COMPATIBLE = _prefix("::/96")
COMPATIBLE_NOT = _prefix("::/104")  # ::, ::1 and the rest of ::0.0.0.0/8: not IPv4-compatible when specials are kept
SIX_TO_FOUR = _prefix("2002::/16")
TEREDO = _prefix("2001::/32")
MULTICAST = _prefix("ff00::/8")
ISATAP_PATTERNS = frozenset((0x00005EFE, 0x02005EFE))  # bits 64-95

# (prefix, length, windows): each window is (first bit, inverted)
PREFIX_FORMS = (
    (MAPPED, ((96, False),)),
    (NAT64, ((96, False),)),
    (SIX_TO_FOUR, ((16, False),)),
    (TEREDO, ((32, False), (96, True))),
    (COMPATIBLE, ((96, False),)),
)
FORM_PREFIXES = tuple(prefix for prefix, _ in PREFIX_FORMS)


def inside(value: int, prefix: tuple[int, int]) -> bool:
    base, length = prefix
    return not (value ^ base) >> (IPV6_BITS - length)


def windows(value: int, fixed: bool) -> tuple:
    """The IPv4 windows ``(first bit, inverted)`` of the IPv6 address `value` (`fixed`: it lies
    in a kept range); () if none."""
    if fixed:
        return ((96, False),) if _isatap(value) and not inside(value, MULTICAST) else ()
    for prefix, found in PREFIX_FORMS:
        if inside(value, prefix):
            return () if prefix == COMPATIBLE and inside(value, COMPATIBLE_NOT) else found
    return ()


def _isatap(value: int) -> bool:
    middle = (value >> 32) & MASK32
    return middle in ISATAP_PATTERNS


def window_value(value: int, first: int, inverted: bool) -> int:
    """The 32 bits of `value` at ``first`` (inverted back if `inverted`)."""
    bits = (value >> (IPV6_BITS - first - WINDOW_BITS)) & MASK32
    return bits ^ MASK32 if inverted else bits


def window_mask(first: int) -> int:
    return MASK32 << (IPV6_BITS - first - WINDOW_BITS)
