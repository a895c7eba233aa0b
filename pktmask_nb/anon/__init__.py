"""Address anonymization: Crypto-PAn (SPEC §5) and the ranges it keeps."""

from __future__ import annotations

from .cryptopan import CryptoPAn
from .mapper import AddressMapper
from .ranges import KeepPolicy, special_policies

__all__ = ["AddressMapper", "CryptoPAn", "KeepPolicy", "special_policies"]
