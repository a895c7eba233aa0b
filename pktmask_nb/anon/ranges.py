"""Address ranges kept by anonymization (SPEC §5), and the tree rule that keeps the map one-to-one.

Crypto-PAn flips bit ``i`` of an address by a keyed function of its first ``i`` bits: a
flip decision per node of the binary address tree. Whatever the flips, the map is a
bijection that preserves common-prefix lengths. Two kinds of range constrain it:

*fixed* ranges (loopback, multicast, ...) map every address to itself;
*preserved* prefixes (e.g. 10.0.0.0/8 with class preservation, or IPv6 solicited-node
multicast) map onto themselves: the prefix stays, the rest is anonymized.

**Rule.** The flip at a node is forced to 0 when the node's subtree meets a fixed range, or
when the node is a proper prefix of a preserved prefix; every other node keeps its
Crypto-PAn flip.

**Why it is right.** (1) Necessary: if an address ``a`` under node ``q`` must stay fixed,
the first ``i+1`` bits of its image are its own, so the flip at ``q`` is 0; likewise along
the path to a preserved prefix. (2) Sufficient: the forced nodes form a set closed under
taking ancestors, so each of them maps to itself. Fixed addresses therefore map to
themselves; since the whole map is a bijection, everything else maps to everything else,
so no anonymized address lands in a fixed range. An address outside a preserved prefix
``P/L`` leaves ``P``'s path at some depth ``c < L`` where the node is forced, so its
image leaves there too; an address inside keeps its first ``L`` bits. The map thus stays
one-to-one and prefix-preserving, and only the forced flips differ from pure Crypto-PAn.

For one address the forced nodes are exactly depths ``0 .. d-1`` of its own path, with
``d`` computed by `KeepPolicy.forced_depth` from the common-prefix length with every range.
"""

from __future__ import annotations

import ipaddress

from . import embedded

# SPEC §5 special ranges: unspecified, loopback, link-local, multicast, broadcast
SPECIAL_IPV4 = ("0.0.0.0/32", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "255.255.255.255/32")
SPECIAL_IPV6 = ("::/128", "::1/128", "fe80::/10", "ff00::/8")
# Solicited-node multicast (RFC 4291 §2.7.1) carries the low 24 bits of a unicast address:
# it stays solicited-node multicast, but those 24 bits are anonymized.
SOLICITED_NODE_IPV6 = "ff02::1:ff00:0/104"
# Optional class preservation: private stays private (RFC 1918, RFC 4193)
PRIVATE_IPV4 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
PRIVATE_IPV6 = ("fc00::/7",)

IDENTITY = -1  # forced_depth of an address in a fixed range


def _network(text: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(text)
    return int(net.network_address), net.prefixlen, net.max_prefixlen


def subtract(prefix: tuple[int, int], hole: tuple[int, int], width: int) -> list[tuple[int, int]]:
    """``prefix`` minus the smaller ``hole`` inside it, as a list of disjoint prefixes.

    They are the siblings of the nodes on the path from ``prefix`` down to ``hole``.
    """
    (value, length), (hole_value, hole_length) = prefix, hole
    if hole_length < length or (hole_value ^ value) >> (width - length):
        raise ValueError("hole is not inside prefix")
    pieces = []
    for depth in range(length, hole_length):
        bit = 1 << (width - 1 - depth)
        sibling = (hole_value ^ bit) & ~(bit - 1)  # flip bit `depth`, clear the bits after it
        pieces.append((sibling, depth + 1))
    return pieces


class KeepPolicy:
    """The fixed ranges and preserved prefixes of one address width, and the forced depth.

    Parameters
    ----------
    width : int
        32 (IPv4) or 128 (IPv6); any width works for tests.
    fixed : list of (value, length)
        Ranges whose addresses map to themselves.
    preserved : list of (value, length)
        Prefixes that map onto themselves (prefix kept, rest anonymized); they may hold fixed
        ranges but not lie inside one.
    """

    def __init__(self, width: int, fixed=(), preserved=()):
        self.width = width
        self.fixed = [(v >> (width - n) << (width - n), n) for v, n in fixed]
        self.preserved = [(v >> (width - n) << (width - n), n) for v, n in preserved]
        for value, length in self.preserved:
            for fvalue, flength in self.fixed:
                if flength <= length and not (value ^ fvalue) >> (width - flength):
                    raise ValueError("a preserved prefix lies inside a fixed range")

    def __bool__(self) -> bool:
        return bool(self.fixed or self.preserved)

    def forced_depth(self, value: int) -> int:
        """How many leading flips of `value` are forced to 0, or `IDENTITY` for a fixed address."""
        width = self.width
        depth = 0
        for prefix, length in self.fixed:
            common = width - (value ^ prefix).bit_length()
            if common >= length:
                return IDENTITY
            if common >= depth:
                depth = common + 1
        for prefix, length in self.preserved:
            common = width - (value ^ prefix).bit_length()
            reach = length if common >= length else common + 1
            if reach > depth:
                depth = reach
        return depth

    def forced_at(self, prefix: int, depth: int) -> int:
        """The rule at one node, the first `depth` bits of `prefix`: `IDENTITY` when the node
        lies in a fixed range, 1 when its flip is forced to 0, else 0. Along an address's path
        it agrees with `forced_depth` (the nodes ``0 .. d-1`` are forced)."""
        width = self.width
        forced = 0
        for value, length in self.fixed:
            shown = min(depth, length)
            if shown == 0 or not (prefix ^ value) >> (width - shown):  # the node's subtree meets the range
                if depth >= length:
                    return IDENTITY
                forced = 1
        for value, length in self.preserved:
            if depth < length and (not depth or not (prefix ^ value) >> (width - depth)):
                forced = 1
        return forced

    def is_fixed(self, value: int) -> bool:
        """True if `value` lies in a fixed range."""
        return self.forced_depth(value) == IDENTITY


def special_policies(keep: str = "special", preserve_class: bool = False) -> dict[int, KeepPolicy]:
    """Policies by address length in bytes (4, 16) for an ``AnonymizeConfig.keep`` value.

    Parameters
    ----------
    keep : {"special", "none"}
        ``"special"`` fixes the SPEC §5 ranges (IPv6 solicited-node multicast keeps its
        prefix only) and the prefixes of IPv6 forms that embed an IPv4 address
        (`~pktmask_nb.anon.embedded`); ``"none"`` is pure Crypto-PAn.
    preserve_class : bool
        Also map private ranges (RFC 1918, RFC 4193) onto themselves.
    """
    fixed = {4: [], 16: []}
    preserved = {4: [], 16: []}
    if keep == "special":
        fixed[4] = [_network(t)[:2] for t in SPECIAL_IPV4]
        solicited = _network(SOLICITED_NODE_IPV6)[:2]
        multicast = _network("ff00::/8")[:2]
        for text in SPECIAL_IPV6:
            net = _network(text)[:2]
            fixed[16] += subtract(net, solicited, 128) if net == multicast else [net]
        preserved[16] += [solicited, *embedded.FORM_PREFIXES, embedded.COMPATIBLE_NOT]  # embedded IPv4 keeps its form
    elif keep != "none":
        raise ValueError(f"keep must be 'special' or 'none', not {keep!r}")
    if preserve_class:
        preserved[4] += [_network(t)[:2] for t in PRIVATE_IPV4]
        preserved[16] += [_network(t)[:2] for t in PRIVATE_IPV6]
    return {4: KeepPolicy(32, fixed[4], preserved[4]), 16: KeepPolicy(128, fixed[16], preserved[16])}
