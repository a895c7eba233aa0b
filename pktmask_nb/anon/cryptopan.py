"""Crypto-PAn (Xu, Fan, Ammar, Moon, ICNP 2002): keyed prefix-preserving IPv4/IPv6 anonymization.

The address is a path in a binary tree; at every node (a prefix of ``i`` bits) a keyed
pseudo-random function decides whether bit ``i`` flips. The function is the most
significant bit of ``AES_K(prefix || pad[i:])`` where ``K`` is the first half of the
32-byte key and ``pad`` is the AES encryption of the second half (SPEC §5). Any choice of
flips gives a one-to-one, prefix-preserving map; `~pktmask_nb.anon.ranges` forces some
of them to 0 to keep special ranges fixed.

The cost is one AES block per bit (32 per IPv4 address, 128 per IPv6 address). They are
built as one multi-block buffer and encrypted by a single ECB call; callers cache the
result per address.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CRYPTOPAN_KEY_LEN = 32  # 16-byte AES-128 key + 16 bytes encrypted into the pad
CRYPTOPAN_BLOCK_BITS = 128
_ALL = (1 << CRYPTOPAN_BLOCK_BITS) - 1
_MSB_TO_DIGIT = bytes(0x31 if b & 0x80 else 0x30 for b in range(256))  # byte -> b"1" if its top bit is set


class CryptoPAn:
    """The Crypto-PAn flip function for one key.

    Parameters
    ----------
    key : bytes
        32 bytes: AES-128 key, then the pad seed.

    Examples
    --------
    >>> key = bytes([21, 34, 23, 141, 51, 164, 207, 128, 19, 10, 91, 22, 73, 144, 125, 16,
    ...              216, 152, 143, 131, 121, 121, 101, 39, 98, 87, 76, 45, 42, 132, 34, 2])
    >>> import ipaddress
    >>> str(ipaddress.ip_address(CryptoPAn(key).anonymize(ipaddress.ip_address("128.11.68.132").packed)))
    '135.242.180.132'
    """

    def __init__(self, key: bytes):
        if len(key) != CRYPTOPAN_KEY_LEN:
            raise ValueError(f"Crypto-PAn key must be {CRYPTOPAN_KEY_LEN} bytes, not {len(key)}")
        self._encrypt = Cipher(algorithms.AES(bytes(key[:16])), modes.ECB()).encryptor().update
        pad = int.from_bytes(self._encrypt(bytes(key[16:])), "big")
        # block i = the first i bits of the (left-aligned) address, then pad bits i..127
        self._high = [_ALL ^ (_ALL >> i) for i in range(CRYPTOPAN_BLOCK_BITS)]
        self._pad_low = [pad & (_ALL >> i) for i in range(CRYPTOPAN_BLOCK_BITS)]

    def flips(self, value: int, width: int, start: int = 0) -> int:
        """The flip bits of address `value` (`width` bits) for tree depths ``start..width-1``.

        Bit ``width-1-i`` of the result is the flip at depth ``i``; depths below `start` are 0.
        """
        if start >= width:
            return 0
        shifted = value << (CRYPTOPAN_BLOCK_BITS - width)
        high, low = self._high, self._pad_low
        blocks = b"".join([((shifted & high[i]) | low[i]).to_bytes(16, "big") for i in range(start, width)])
        digits = self._encrypt(blocks)[::16].translate(_MSB_TO_DIGIT)
        return int(digits, 2)

    def flip_at(self, prefix: int, depth: int, width: int) -> int:
        """The flip at tree depth `depth` under the first `depth` bits of `prefix` (0 or 1): one
        AES block, for decoding an address bit by bit (`~pktmask_nb.anon.mapper.AddressMapper.original`)."""
        block = ((prefix << (CRYPTOPAN_BLOCK_BITS - width)) & self._high[depth]) | self._pad_low[depth]
        return self._encrypt(block.to_bytes(16, "big"))[0] >> 7

    def anonymize_int(self, value: int, width: int) -> int:
        """Pure Crypto-PAn of an integer address of `width` bits (32 or 128)."""
        return value ^ self.flips(value, width)

    def anonymize(self, address: bytes) -> bytes:
        """Pure Crypto-PAn of a packed IPv4 (4 bytes) or IPv6 (16 bytes) address."""
        width = 8 * len(address)
        return self.anonymize_int(int.from_bytes(address, "big"), width).to_bytes(len(address), "big")
