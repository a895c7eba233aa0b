"""An independent leak checker: original addresses in any form, and planted markers, searched in output bytes.

It knows nothing of pktmask_nb's dissector: it searches the whole sanitized file (packets,
headers, metadata) for every encoding of every original address — 4/16-byte binary, dotted
and all IPv6 text forms (compressed, exploded, IPv4-suffixed), IPv4 inverted (Teredo), and
hex text — and for plaintext markers planted in the input.
"""

from __future__ import annotations

import ipaddress


def encodings(address: str) -> set[bytes]:
    """Every byte string that would reveal `address`."""
    ip = ipaddress.ip_address(address)
    forms = {ip.packed, ip.packed.hex().encode(), ip.packed.hex().upper().encode(), str(ip).encode()}
    if ip.version == 4:
        forms.add(bytes(b ^ 0xFF for b in ip.packed))  # Teredo's obscured client
    else:
        forms |= {ip.exploded.encode(), ip.exploded.upper().encode(), str(ip).upper().encode()}
        if ip.ipv4_mapped is not None:
            forms.add(f"::ffff:{ip.ipv4_mapped}".encode())
    return forms


def findings(data: bytes, addresses, markers=()) -> list[str]:
    """What of `addresses` (texts) and `markers` (bytes) survives anywhere in `data`."""
    found = []
    for address in addresses:
        for form in encodings(address):
            if form in data:
                found.append(f"{address} as {form!r} at byte {data.index(form)}")
    for marker in markers:
        if marker in data:
            found.append(f"marker {marker!r} at byte {data.index(marker)}")
    return found
