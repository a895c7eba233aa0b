"""The hardware-address map of one key (SPEC §5 "Beyond IP addresses"): keyed, one-to-one MACs.

A MAC is 48 bits walked as a Crypto-PAn tree, under a key derived from the run's key (an
HMAC of it, so the address key itself never serves two purposes). Some flips are forced to
0, which keeps the map a bijection (see `~pktmask_nb.anon.ranges`):

- ``"all"``: the I/G (group) and U/L (local) bits of the first octet stay, so a unicast
  address stays unicast and a universal one universal; the other 46 bits are anonymized,
  prefix-preserving (addresses of one vendor still share a vendor, a different one);
- ``"keep-oui"``: the first three octets (the vendor) stay, the last three are anonymized.

Group addresses (broadcast, multicast, the STP/LLDP/CDP destinations) name protocols, not
hosts: they are kept, as is the all-zero address (an unknown ARP target). The tree maps
unicast onto unicast; the one unicast address it would send to zero takes zero's image
instead (a cycle walk), so nothing else lands on a kept address.

An IPv6 interface identifier in modified EUI-64 form (RFC 4291 Appendix A: the MAC with the
U/L bit inverted and ``ff:fe`` in the middle) follows the map of its MAC
(`MacMapper.interface_id`), so that after the rewrite the address and the MAC still match.
"""

from __future__ import annotations

import hashlib
import hmac

from .cryptopan import CryptoPAn

MAC_BITS = 48
GROUP_BIT = 1 << 40  # I/G: the lowest bit of the first octet
LOCAL_BIT = 1 << 41  # U/L
# Flips forced to 0, as bits of the 48-bit value (the flip at tree depth i is bit 47 - i).
_KEPT_FLIPS = {"all": GROUP_BIT | LOCAL_BIT, "keep-oui": 0xFFFFFF << 24}
_KEY_LABEL = b"pktmask-nb: MAC address map"


def mac_text(mac: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff``."""
    return ":".join(f"{b:02x}" for b in mac)


def mac_bytes(text: str) -> bytes | None:
    """The 6 bytes of a MAC written ``aa:bb:cc:dd:ee:ff``, ``aa-bb-...`` or ``aabb.ccdd.eeff``; None if it is not one."""
    digits = text.replace(":", "").replace("-", "").replace(".", "")
    if len(digits) != 12 or len(text) not in (12, 14, 17):
        return None
    try:
        return bytes.fromhex(digits)
    except ValueError:
        return None


class MacMapper:
    """Map 6-byte MACs for one key and mode (see the module docstring).

    Parameters
    ----------
    key : bytes
        The run's 32-byte key; the MAC tree's key is derived from it.
    mode : {"all", "keep-oui"}
    """

    def __init__(self, key: bytes, mode: str = "all"):
        if mode not in _KEPT_FLIPS:
            raise ValueError(f"MAC mode must be one of {', '.join(_KEPT_FLIPS)}, not {mode!r}")
        self.mode = mode
        self.cryptopan = CryptoPAn(hmac.new(bytes(key), _KEY_LABEL, hashlib.sha256).digest())
        self._free = ~_KEPT_FLIPS[mode] & ((1 << MAC_BITS) - 1)

    def _tree(self, value: int) -> int:
        return value ^ (self.cryptopan.flips(value, MAC_BITS) & self._free)

    def _tree_back(self, value: int) -> int:
        """The inverse of `_tree`, decoded from the top one flip at a time."""
        original = 0
        for depth in range(MAC_BITS):
            shift = MAC_BITS - 1 - depth
            flip = self.cryptopan.flip_at(original, depth, MAC_BITS) if (self._free >> shift) & 1 else 0
            original |= (((value >> shift) & 1) ^ flip) << shift
        return original

    def map_int(self, value: int) -> int:
        if value & GROUP_BIT or not value:
            return value
        new = self._tree(value)
        return new if new else self._tree(0)

    def original_int(self, value: int) -> int:
        """The inverse of `map_int`, for the key holder."""
        if value & GROUP_BIT or not value:
            return value
        original = self._tree_back(value)
        return original if original else self._tree_back(0)

    def anonymize(self, mac: bytes) -> bytes:
        """The image of a 6-byte MAC."""
        return self.map_int(int.from_bytes(mac, "big")).to_bytes(6, "big")

    def original(self, mac: bytes) -> bytes:
        return self.original_int(int.from_bytes(mac, "big")).to_bytes(6, "big")

    def interface_id(self, iid: int) -> int:
        """The image of a 64-bit modified EUI-64 interface identifier: that of its MAC.

        An identifier whose MAC would be a group address (never one a host derives its
        address from, but possibly a random identifier that looks like one) takes the tree
        too, which keeps the group bit: it is not kept as header group addresses are.
        """
        value = _mac_of(iid)
        return _iid_of(self._tree(value) if value & GROUP_BIT else self.map_int(value))

    def interface_id_original(self, iid: int) -> int:
        value = _mac_of(iid)
        return _iid_of(self._tree_back(value) if value & GROUP_BIT else self.original_int(value))


def _mac_of(iid: int) -> int:
    """The MAC of a modified EUI-64 interface identifier (``ff:fe`` out, U/L bit back)."""
    return (((iid >> 40) << 24) | (iid & 0xFFFFFF)) ^ LOCAL_BIT


def _iid_of(mac: int) -> int:
    mac ^= LOCAL_BIT
    return ((mac >> 24) << 40) | (0xFFFE << 24) | (mac & 0xFFFFFF)
