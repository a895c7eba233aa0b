"""The address map of one key: Crypto-PAn with kept ranges, on packed addresses."""

from __future__ import annotations

from . import embedded
from .cryptopan import CryptoPAn
from .ranges import IDENTITY, KeepPolicy, special_policies


class AddressMapper:
    """Map packed IPv4 (4-byte) and IPv6 (16-byte) addresses; same key ⇒ same map everywhere.

    Parameters
    ----------
    key : bytes
        32-byte Crypto-PAn key.
    keep : {"special", "none"}
        Keep the SPEC §5 special ranges fixed (and map nothing into them) and give IPv4
        addresses embedded in IPv6 the IPv4 map, or pure Crypto-PAn.
    preserve_class : bool
        Map private ranges onto themselves (private stays private).

    Notes
    -----
    The map is a pure function of the key and the options: no state, no cache (callers
    cache per address). See `~pktmask_nb.anon.ranges` for why it stays one-to-one and
    prefix-preserving with kept ranges, and `~pktmask_nb.anon.embedded` for IPv6 addresses
    that carry an IPv4 address.
    """

    def __init__(self, key: bytes, keep: str = "special", *, preserve_class: bool = False):
        self.cryptopan = CryptoPAn(key)
        self.policies: dict[int, KeepPolicy] = special_policies(keep, preserve_class)
        self.keep_special = keep == "special"

    def anonymize_int(self, value: int, width: int) -> int:
        """Anonymize an integer address of `width` bits (32 or 128)."""
        policy = self.policies[width // 8]
        depth = policy.forced_depth(value) if policy else 0
        flips = 0 if depth == IDENTITY else self.cryptopan.flips(value, width, depth)
        if width == 32 or not self.keep_special:
            return value ^ flips
        for first, inverted in embedded.windows(value, depth == IDENTITY):
            v4 = embedded.window_value(value, first, inverted)
            mask = embedded.window_mask(first)
            flips = (flips & ~mask) | ((v4 ^ self.anonymize_int(v4, 32)) << (embedded.IPV6_BITS - first - 32))
        return value ^ flips

    def anonymize(self, address: bytes) -> bytes:
        """Anonymize a packed 4- or 16-byte address."""
        n = len(address)
        return self.anonymize_int(int.from_bytes(address, "big"), 8 * n).to_bytes(n, "big")

    def is_kept(self, address: bytes) -> bool:
        """True if the address lies in a range kept unchanged."""
        policy = self.policies[len(address)]
        return bool(policy) and policy.is_fixed(int.from_bytes(address, "big"))
