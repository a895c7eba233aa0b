"""Names and DNS for the audit of ``--tls-names zero`` and ``--anon-dns``, written apart from the stages (SPEC §8).

The server names of ClientHello messages are read from RFC 8446 §4.1.2 and RFC 6066 §3, the
names of certificates by `cryptography`'s X.509 parser (subject and issuer attribute values,
alternative names), not by our DER walk; DNS messages from RFC 1035 §4.1 (`dns_regions`).
"""

from __future__ import annotations

import warnings

MIN_NAME = 4  # shorter values ("US", "CA") are everywhere: not worth a search
CLIENT_HELLO, CERTIFICATE = 1, 11


def handshake_names(kind: int, body: bytes) -> set[bytes]:
    """The names in one handshake message's body (empty when it does not parse)."""
    try:
        if kind == CLIENT_HELLO:
            return _server_names(body)
        if kind == CERTIFICATE:
            return {n for der in _certificates(body) for n in _certificate_names(der)}
    except (IndexError, ValueError):  # x509's parse errors are ValueErrors
        pass
    return set()


def _server_names(body: bytes) -> set[bytes]:
    at = 2 + 32
    at += 1 + body[at]  # session id
    at += 2 + int.from_bytes(body[at : at + 2], "big")  # cipher suites
    at += 1 + body[at]  # compression methods
    end = at + 2 + int.from_bytes(body[at : at + 2], "big")
    at += 2
    found = set()
    while at + 4 <= end:
        kind, size = int.from_bytes(body[at : at + 2], "big"), int.from_bytes(body[at + 2 : at + 4], "big")
        if kind == 0:  # server_name: a list of (type, length, name)
            pos, stop = at + 6, at + 4 + size
            while pos + 3 <= stop:
                length = int.from_bytes(body[pos + 1 : pos + 3], "big")
                found.add(body[pos + 3 : pos + 3 + length])
                pos += 3 + length
        at += 4 + size
    return {n for n in found if len(n) >= MIN_NAME}


def _certificates(body: bytes) -> list[bytes]:
    total = int.from_bytes(body[:3], "big")
    at, tls13 = (3, False) if total == len(body) - 3 else (1 + body[0] + 3, True)
    out = []
    while at + 3 <= len(body):
        size = int.from_bytes(body[at : at + 3], "big")
        out.append(body[at + 3 : at + 3 + size])
        at += 3 + size
        if tls13:
            at += 2 + int.from_bytes(body[at : at + 2], "big")
    return out


def _certificate_names(der: bytes) -> set[bytes]:
    from cryptography import x509  # 30 ms to import: only when a certificate is read

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # old certificates draw deprecation warnings
        cert = x509.load_der_x509_certificate(der)
        values = [a.value for name in (cert.subject, cert.issuer) for a in name]
        try:
            alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            values += alternative.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            pass
    found = {v.encode() if isinstance(v, str) else bytes(v) for v in values}
    return {n for n in found if len(n) >= MIN_NAME}


# -- DNS (--anon-dns) ------------------------------------------------------------------------

DNS_ADDRESS_TYPES = {1: 4, 28: 16}  # A, AAAA: data length
DNS_NAME_DATA = {2: 0, 5: 0, 12: 0, 39: 0, 15: 2, 33: 6}  # NS, CNAME, PTR, DNAME; MX, SRV: numbers first


def dns_regions(data, start: int, end: int) -> tuple[list, list, list, bool]:
    """``(structure, names, addresses, whole)`` of a DNS message (RFC 1035 §4.1, RFC 6891, RFC
    7871), as ``(start, end)`` lists; reading stops quietly where the message stops making sense
    (what follows is in none of them), and `whole` says whether it read the message to `end`.
    Reverse-zone names (in-addr.arpa, ip6.arpa) spell addresses: their labels are in none."""
    structure, names, addresses = [], [], []
    if end - start < 12:
        return structure, names, addresses, False
    structure.append((start, start + 12))
    counts = [int.from_bytes(data[start + i : start + i + 2], "big") for i in (4, 6, 8, 10)]
    pos = start + 12

    def name(pos: int, stop: int) -> int:
        labels, first = [], pos
        while pos < stop:
            size = data[pos]
            if size >= 0xC0:
                if pos + 2 > stop:
                    return -1
                structure.append((pos, pos + 2))
                pos += 2
                break
            structure.append((pos, pos + 1))
            if size == 0:
                pos += 1
                break
            if size >= 0x40 or pos + 1 + size > stop:
                return -1
            labels.append((pos + 1, pos + 1 + size))
            pos += 1 + size
        else:
            return -1
        if bytes(data[first:pos]).lower().endswith((b"\x07in-addr\x04arpa\x00", b"\x03ip6\x04arpa\x00")):
            labels = labels[-2:]  # the zone's own; the labels before spell an address
        names.extend(labels)
        return pos

    for _ in range(counts[0]):
        pos = name(pos, end)
        if pos < 0 or pos + 4 > end:
            return structure, names, addresses, False
        structure.append((pos, pos + 4))
        pos += 4
    for _ in range(sum(counts[1:])):
        pos = name(pos, end)
        if pos < 0 or pos + 10 > end:
            return structure, names, addresses, False
        kind, size = int.from_bytes(data[pos : pos + 2], "big"), int.from_bytes(data[pos + 8 : pos + 10], "big")
        structure.append((pos, pos + 10))
        pos += 10
        stop = pos + size
        if stop > end:
            return structure, names, addresses, False
        if DNS_ADDRESS_TYPES.get(kind) == size:
            addresses.append((pos, stop))
        elif kind in DNS_NAME_DATA:
            fixed = DNS_NAME_DATA[kind]
            structure.append((pos, pos + fixed))
            if name(pos + fixed, stop) != stop:
                return structure, names, addresses, False
        elif kind == 6:  # SOA: two names, five numbers
            at = name(pos, stop)
            at = name(at, stop) if at >= 0 else -1
            if at < 0 or at + 20 != stop:
                return structure, names, addresses, False
            structure.append((at, stop))
        elif kind == 16:  # TXT: strings
            at = pos
            while at < stop and at + 1 + data[at] <= stop:
                structure.append((at, at + 1))
                names.append((at + 1, at + 1 + data[at]))
                at += 1 + data[at]
        elif kind == 41:  # OPT: options
            at = pos
            while at + 4 <= stop:
                code, length = int.from_bytes(data[at : at + 2], "big"), int.from_bytes(data[at + 2 : at + 4], "big")
                structure.append((at, at + 4))
                if code == 8 and length > 4 and at + 4 + length <= stop:  # Client Subnet: family, lengths, prefix
                    structure.append((at + 4, at + 8))
                    addresses.append((at + 8, at + 4 + length))
                elif code == 8 and length == 4:
                    structure.append((at + 4, at + 8))
                at += 4 + length
        pos = stop
    return structure, names, addresses, pos == end
