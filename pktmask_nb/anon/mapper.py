"""The address map of one key: Crypto-PAn with kept ranges, on packed addresses."""

from __future__ import annotations

import ipaddress

from . import embedded
from .cryptopan import CryptoPAn
from .mac import MacMapper
from .ranges import IDENTITY, KeepPolicy, special_policies

LOW64 = (1 << 64) - 1
EUI64_BITS = 0xFFFF << 24  # bits 88-103: the ``ff:fe`` of a modified EUI-64 interface identifier
EUI64_VALUE = 0xFFFE << 24
SOLICITED_MAC = b"\x33\x33\xff"  # an Ethernet solicited-node multicast address (RFC 2464 §7)
SOLICITED_PREFIX = ipaddress.ip_address("ff02::1:ff00:0").packed[:12]  # the MAC holds the rest


def solicited_group(mac: bytes) -> bytes:
    """The IPv6 group a solicited-node multicast MAC stands for (RFC 2464 §7: ``33:33`` and the
    group's last 32 bits, ``ff:xx:xx:xx``)."""
    return SOLICITED_PREFIX + mac[2:6]


def solicited_mac(group: bytes) -> bytes:
    """The solicited-node multicast MAC of an IPv6 group (the inverse of `solicited_group`)."""
    return b"\x33\x33" + group[12:]


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
    mac : {"none", "keep-oui", "all"}
        With a MAC map (`~pktmask_nb.anon.mac`), an IPv6 interface identifier in modified
        EUI-64 form follows the map of its MAC, so that address and MAC still match.

    Notes
    -----
    The map is a pure function of the key and the options: no state, no cache (callers
    cache per address). See `~pktmask_nb.anon.ranges` for why it stays one-to-one and
    prefix-preserving with kept ranges, and `~pktmask_nb.anon.embedded` for IPv6 addresses
    that carry an IPv4 address.
    """

    def __init__(self, key: bytes, keep: str = "special", *, preserve_class: bool = False, mac: str = "none"):
        self.cryptopan = CryptoPAn(key)
        self.policies: dict[int, KeepPolicy] = special_policies(keep, preserve_class)
        self.keep_special = keep == "special"
        self.mac = MacMapper(key, mac) if mac != "none" else None

    def eui64(self, value: int) -> bool:
        """Whether the IPv6 address `value` has its interface identifier mapped as a MAC.

        Its bits 88-103 are ``ff:fe``; with the special ranges kept, it is not multicast,
        IPv4-mapped or Teredo (whose last bits are no interface identifier). The map keeps
        those bits of every address (their flips are forced to 0) and keeps these forms, so
        an address is of this class exactly when its image is: the class maps onto itself
        (top 64 bits by the tree, identifier by the MAC map) and so does the rest.
        """
        if (value & EUI64_BITS) != EUI64_VALUE:
            return False
        return not self.keep_special or not (
            embedded.inside(value, embedded.MULTICAST)
            or embedded.inside(value, embedded.MAPPED)
            or embedded.inside(value, embedded.TEREDO)
        )

    def anonymize_int(self, value: int, width: int) -> int:
        """Anonymize an integer address of `width` bits (32 or 128)."""
        policy = self.policies[width // 8]
        depth = policy.forced_depth(value) if policy else 0
        flips = 0 if depth == IDENTITY else self.cryptopan.flips(value, width, depth)
        if width == 32:
            return value ^ flips
        if self.mac:
            flips &= ~EUI64_BITS
        if self.keep_special:
            for first, inverted in embedded.windows(value, depth == IDENTITY):
                v4 = embedded.window_value(value, first, inverted)
                mask = embedded.window_mask(first)
                flips = (flips & ~mask) | ((v4 ^ self.anonymize_int(v4, 32)) << (embedded.IPV6_BITS - first - 32))
        if self.mac and self.eui64(value):
            return ((value ^ flips) & ~LOW64) | self.mac.interface_id(value & LOW64)
        return value ^ flips

    def original_int(self, value: int, width: int) -> int:
        """The address whose anonymization is `value`: the inverse map, for the key holder.

        Bit ``i`` of an anonymized address is bit ``i`` of the original flipped by a function
        of the original's first ``i`` bits, so the original is decoded from the top, one AES
        block per bit; forced flips follow the node rule of `~pktmask_nb.anon.ranges` (forced
        nodes are closed under ancestors: past the first free node none is forced), and an
        embedded IPv4 window is decoded with the IPv4 inverse.
        """
        policy, cryptopan = self.policies[width // 8], self.cryptopan
        forms = width == 128 and self.keep_special
        eui = width == 128 and self.mac is not None
        original, depth, forced = 0, 0, bool(policy)
        while depth < width:
            shift = width - 1 - depth
            rule = policy.forced_at(original, depth) if forced else 0
            if rule == IDENTITY:  # a fixed range: the rest is the value's own
                original |= value & ((1 << (shift + 1)) - 1)
                if forms:
                    original = self._window_back(original, embedded.windows(original, True))
                return self._interface_back(original, value) if eui else original
            if forms and (found := self._window_at(original, value, depth)):
                original = self._window_back(original | (value & embedded.window_mask(depth)), found)
                depth += embedded.WINDOW_BITS
                continue
            forced = forced and bool(rule)
            flip = 0 if rule or (eui and (EUI64_BITS >> shift) & 1) else cryptopan.flip_at(original, depth, width)
            original |= (((value >> shift) & 1) ^ flip) << shift
            depth += 1
        return self._interface_back(original, value) if eui else original

    def _interface_back(self, original: int, value: int) -> int:
        """`original` with the interface identifier of an EUI-64 `value` decoded by the MAC map."""
        if not self.eui64(value):
            return original
        return (original & ~LOW64) | self.mac.interface_id_original(value & LOW64)

    @staticmethod
    def _window_at(original: int, value: int, depth: int) -> tuple:
        """The IPv4 window starting at `depth` of the address decoded so far (`original`,
        its first `depth` bits), judged as the forward map judged it."""
        if depth not in (16, 32, 96):
            return ()
        if depth == 96 and not (original >> 32) and not (value >> 24) & 0xFF:
            return ()  # ::/104 is no IPv4-compatible form; a compatible one never maps into it
        return tuple(w for w in embedded.windows(original | embedded.window_mask(depth), False) if w[0] == depth)

    def _window_back(self, original: int, found: tuple) -> int:
        """`original` with each IPv4 window, still anonymized, decoded with the IPv4 inverse."""
        for first, inverted in found:
            v4 = self.original_int(embedded.window_value(original, first, inverted), 32)
            bits = v4 ^ embedded.MASK32 if inverted else v4
            original = (original & ~embedded.window_mask(first)) | (bits << (embedded.IPV6_BITS - first - 32))
        return original

    def original(self, address: bytes) -> bytes:
        """The inverse of `anonymize` for a packed 4- or 16-byte address."""
        n = len(address)
        return self.original_int(int.from_bytes(address, "big"), 8 * n).to_bytes(n, "big")

    def anonymize(self, address: bytes) -> bytes:
        """Anonymize a packed 4- or 16-byte address."""
        n = len(address)
        return self.anonymize_int(int.from_bytes(address, "big"), 8 * n).to_bytes(n, "big")

    def anonymize_mac(self, mac: bytes) -> bytes:
        """Map a 6-byte MAC (with a MAC map): by `~pktmask_nb.anon.mac.MacMapper`, except a
        solicited-node multicast MAC, which follows its group's address as mapped."""
        if mac[:3] == SOLICITED_MAC:
            return solicited_mac(self.anonymize(solicited_group(mac)))
        return self.mac.anonymize(mac) if self.mac else mac

    def original_mac(self, mac: bytes) -> bytes:
        """The inverse of `anonymize_mac`."""
        if mac[:3] == SOLICITED_MAC:
            return solicited_mac(self.original(solicited_group(mac)))
        return self.mac.original(mac) if self.mac else mac

    def is_kept(self, address: bytes) -> bool:
        """True if the address lies in a range kept unchanged."""
        policy = self.policies[len(address)]
        return bool(policy) and policy.is_fixed(int.from_bytes(address, "big"))
