"""Names in cleartext TLS handshake messages (SPEC §5 ``--tls-names zero``): where they are.

Over the handshake protocol's bytes (RFC 8446 §4, RFC 5246 §7.4: the bodies of consecutive
handshake records, joined), `name_ranges` finds the bytes that name a host or an entity:

- the host names of a ClientHello's server_name extension (RFC 6066 §3), its PSK identities,
  the authorities and OCSP responder ids it lists; the data of an extension whose type we do
  not know, or that does not read as its type says (a type byte that lies), is named too —
  the others are codes, protocol ids and key material;
- in Certificate messages (visible up to TLS 1.2; RFC 5246 §7.4.2, and the TLS 1.3 layout
  should one be seen in the clear), every value of the certificates' issuer and subject
  names and of their extensions (alternative names, name constraints, CRL distribution
  points, policies, information access, unknown ones: RFC 5280 §4.1.2.4, §4.2.1) — the
  contents of their primitive DER elements, object identifiers, integers and booleans
  excepted — but those of a few that name nothing (key ids, usages, basic constraints, CT
  timestamps), and the issuer name of the authority key identifier;
- the distinguished names a CertificateRequest lists (RFC 5246 §7.4.4), likewise;
- a stapled OCSP response's responder, certificate ids and certificates (CertificateStatus).

The other messages sent in the clear hold no name (a PSK identity hint or a ClientKeyExchange's
opaque values aside, which are named) but must parse as their type's layout too, so that a type
byte that lies cannot pass a ClientHello or Certificate off as one; a message of a type whose
layout is not read here (CertificateURL, SupplementalData, ...) is named whole.

`address_ranges` finds, by the same reading, what a run zeroes without ``--tls-names zero``:
the IP addresses certificates hold in binary, as iPAddress general names (RFC 5280 §4.2.1.6:
4 or 16 bytes, with a mask 8 or 32 in name constraints) in any extension but those that name
nothing — alternative names and name constraints, mostly — in Certificate messages and in
the certificates of a stapled OCSP response (`ADDRESS_MESSAGES`).

Only contents are named: every tag and length stays, so the messages still parse. A message
that does not parse as its type says is named whole (from where the parse failed, or from
where a lying length may have skipped a name: a ClientHello's fields after its random), so that
guessing never keeps a name.
"""

from __future__ import annotations

from .tls import HANDSHAKE_HLEN

HS_CLIENT_HELLO, HS_CERTIFICATE, HS_CERTIFICATE_REQUEST, HS_CERTIFICATE_STATUS = 1, 11, 13, 22
HS_HELLO_REQUEST, HS_SERVER_HELLO, HS_SERVER_HELLO_DONE = 0, 2, 14
ADDRESS_MESSAGES = frozenset((HS_CERTIFICATE, HS_CERTIFICATE_STATUS))  # the messages certificates ride in
HS_HELLO_VERIFY_REQUEST, HS_NEW_SESSION_TICKET, HS_SERVER_KEY_EXCHANGE = 3, 4, 12
HS_CERTIFICATE_VERIFY, HS_CLIENT_KEY_EXCHANGE = 15, 16
EXT_SERVER_NAME = 0
# DER: tags whose contents are structure, not names (BOOLEAN, INTEGER, NULL, OBJECT IDENTIFIER)
DER_KEPT_TAGS = frozenset((0x01, 0x02, 0x05, 0x06))
DER_ENUMERATED, DER_BIT_STRING, DER_EXPLICIT_0 = 0x0A, 0x03, 0xA0
OCSP_STATUS_TYPE = 1  # CertificateStatusType ocsp (RFC 6066 §8)
OID_OCSP_BASIC = b"\x2b\x06\x01\x05\x05\x07\x30\x01\x01"  # id-pkix-ocsp-basic (RFC 6960 §4.2.1)
DER_SEQUENCE, DER_OCTET_STRING, DER_EXPLICIT_EXTENSIONS = 0x30, 0x04, 0xA3
DER_SET, DER_OID, DER_VERSION, DER_TIMES = 0x31, 0x06, 0xA0, (0x17, 0x18)  # UTCTime, GeneralizedTime
OCSP_KEPT_TAGS = DER_KEPT_TAGS | {DER_ENUMERATED, *DER_TIMES}
# TBSCertificate (RFC 5280 §4.1) after its optional version: serialNumber, signature, issuer,
# validity, subject, subjectPublicKeyInfo, then the optional unique ids and extensions in order
TBS_FIELDS = (0x02, DER_SEQUENCE, DER_SEQUENCE, DER_SEQUENCE, DER_SEQUENCE, DER_SEQUENCE)
TBS_OPTIONAL = (0x81, 0x82, DER_EXPLICIT_EXTENSIONS)
OID_AUTHORITY_KEY_ID = b"\x55\x1d\x23"  # its issuer's name ([1]) is named; key id and serial are not
AKI_KEPT = (0x80, 0x82)  # keyIdentifier [0], authorityCertSerialNumber [2]
OID_PREFIX_CE = b"\x55\x1d"  # id-ce (2.5.29)
DER_BOOLEAN = 0x01
DER_IP_ADDRESS = 0x87  # GeneralName iPAddress, [7] primitive
IP_ADDRESS_SIZES = frozenset((4, 8, 16, 32))  # an address; in name constraints, with its mask
# the length byte after an iPAddress tag: a size above (short form), or a long form `_der` reads
_ADDRESS_LENGTH_BYTES = IP_ADDRESS_SIZES | {0x81, 0x82, 0x83}
# Extensions whose values name nothing, kept whole: their strings are key ids, bit flags and
# signatures. Every other extension (alternative names, CRL points, information access,
# policies, unknown ones, or a known one whose OID a lie changed) has its strings named.
NAME_FREE_EXTENSIONS = frozenset(
    (
        OID_PREFIX_CE + b"\x0e",  # subjectKeyIdentifier
        OID_PREFIX_CE + b"\x0f",  # keyUsage
        OID_PREFIX_CE + b"\x13",  # basicConstraints
        OID_PREFIX_CE + b"\x25",  # extKeyUsage
        b"\x2b\x06\x01\x04\x01\xd6\x79\x02\x04\x02",  # CT precertificate SCTs (RFC 6962 §3.3)
        b"\x2b\x06\x01\x04\x01\xd6\x79\x02\x04\x03",  # CT poison (a NULL)
        b"\x60\x86\x48\x01\x86\xf8\x42\x01\x01",  # Netscape certificate type (bits)
    )
)


class Malformed(Exception):
    """A length or tag that does not fit: the caller names the rest of the message."""


def messages(stream, start: int = 0) -> tuple[list[tuple[int, int, int]], int]:
    """``(type, body_start, body_end)`` of the whole handshake messages from `start`, and where
    the first incomplete one begins (``len(stream)`` if none)."""
    found, pos, n = [], start, len(stream)
    while pos + HANDSHAKE_HLEN <= n:
        length = (stream[pos + 1] << 16) | (stream[pos + 2] << 8) | stream[pos + 3]
        if pos + HANDSHAKE_HLEN + length > n:
            break
        found.append((stream[pos], pos + HANDSHAKE_HLEN, pos + HANDSHAKE_HLEN + length))
        pos += HANDSHAKE_HLEN + length
    return found, pos


def name_ranges(kind: int, stream, start: int, end: int, dtls: bool = False) -> list[tuple[int, int]]:
    """The name bytes of one handshake message of type `kind` whose body is ``stream[start:end]``
    (`dtls`: a DTLS ClientHello has a cookie after its session id, RFC 6347 §4.2.1)."""
    out: list[tuple[int, int]] = []
    reader = _READERS.get(kind)
    if reader is None:
        return [(start, end)] if start < end else out  # a type whose layout we do not read: named
    try:
        reader(stream, start, end, out, dtls)
    except Malformed as failed:
        out.append((failed.args[0], end))
    return _merged(out)


def address_ranges(kind: int, stream, start: int, end: int, dtls: bool = False) -> list[tuple[int, int]]:
    """The IP addresses in binary in one handshake message of type `kind` whose body is
    ``stream[start:end]``: the iPAddress names of the certificates of a Certificate message or a
    stapled OCSP response (and of the response's data); from where it fails to parse, all of
    one that does not."""
    out: list[tuple[int, int]] = []
    if kind not in ADDRESS_MESSAGES or not _may_name_an_address(stream, start, end):
        return out
    try:
        (_certificate if kind == HS_CERTIFICATE else _certificate_status)(stream, start, end, out, dtls, True)
    except Malformed as failed:
        out.append((failed.args[0], end))
    return _merged(out)


def _may_name_an_address(stream, start: int, end: int) -> bool:
    """Whether ``stream[start:end]`` holds an iPAddress tag followed by an address's length
    byte: without one, nothing in it is an iPAddress name, whatever else it holds (most
    certificate chains have none, and need no reading)."""
    at = stream.find(b"\x87", start, end - 1)
    while at >= 0:
        if stream[at + 1] in _ADDRESS_LENGTH_BYTES:
            return True
        at = stream.find(b"\x87", at + 1, end - 1)
    return False


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(r for r in ranges if r[0] < r[1]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _length(stream, pos: int, size: int, end: int) -> int:
    """A `size`-byte big-endian length at `pos` whose value must fit before `end`; the end of what it measures."""
    if pos + size > end:
        raise Malformed(pos)
    value = int.from_bytes(stream[pos : pos + size], "big")
    if pos + size + value > end:
        raise Malformed(pos)
    return pos + size + value


def _client_hello(stream, pos: int, end: int, out: list, dtls: bool) -> None:
    pos += 2 + 32  # legacy_version, random
    if pos > end:
        raise Malformed(end)
    variable = pos
    try:
        pos = _length(stream, pos, 1, end)  # session id
        if dtls:
            pos = _length(stream, pos, 1, end)  # cookie
        pos = _length(stream, pos, 2, end)  # cipher suites
        pos = _length(stream, pos, 1, end)  # compression methods
        extensions = _hello_extensions(stream, pos, end)
    except Malformed:
        raise Malformed(variable) from None  # a length that lied may have skipped a name: all after the random
    for kind, value, after in extensions:
        # the list fills the hello exactly, so an extension that does not read as its type
        # hides nothing past its own data: that data is named
        reader = _EXTENSIONS.get(kind, _opaque_data if _grease(kind) else None)
        try:
            if reader is None:
                raise Malformed(value)  # a type we do not know, or one whose byte lies
            reader(stream, value, after, out)
        except Malformed:
            out.append((value, after))


def _hello_extensions(stream, pos: int, end: int) -> list[tuple[int, int, int]]:
    """``(type, value_start, value_end)`` of the extensions that fill a hello from `pos` to
    `end` (none when ``pos == end``: TLS 1.0 and older may have none); each type once
    (RFC 8446 §4.2), or a length lied."""
    found, seen = [], set()
    if pos == end:
        return found
    pos = _filled(stream, pos, end, 2)
    while pos < end:
        kind = (stream[pos] << 8) | stream[pos + 1] if pos + 4 <= end else -1
        if kind < 0 or kind in seen:
            raise Malformed(pos)
        seen.add(kind)
        after = _length(stream, pos + 2, 2, end)
        found.append((kind, pos + 4, after))
        pos = after
    return found


# -- ClientHello extensions (IANA TLS ExtensionType Values): each read by its RFC's layout;
# names (and identities) named, the rest structure or key material kept; a type not listed
# here has its data named -------------------------------------------------------------------


def _filled(stream, pos: int, end: int, size: int) -> int:
    """The start of a vector with a `size`-byte length at `pos` that must end exactly at `end`."""
    if _length(stream, pos, size, end) != end:
        raise Malformed(pos)
    return pos + size


def _server_names(stream, pos: int, end: int, out: list) -> None:
    pos = _filled(stream, pos, end, 2)
    while pos < end:
        after = _length(stream, pos + 1, 2, end)  # name type, then the name
        out.append((pos + 3, after))
        pos = after


def _grease(kind: int) -> bool:
    """RFC 8701's reserved values 0x0A0A, 0x1A1A, ... 0xFAFA: random data, no meaning."""
    return kind & 0x0F0F == 0x0A0A and kind >> 12 == (kind >> 4) & 0x0F


def _nothing(stream, pos: int, end: int, out: list) -> None:
    if pos != end:
        raise Malformed(pos)


def _opaque_data(stream, pos: int, end: int, out: list) -> None:
    """Key material or state only the server can read (tickets, GREASE): no names, kept."""


def _items(length_size: int, item_size: int, minimum: int = 1):
    """A vector (`length_size`-byte length) of at least `minimum` codes of `item_size` bytes."""

    def read(stream, pos: int, end: int, out: list) -> None:
        pos = _filled(stream, pos, end, length_size)
        if (end - pos) % item_size or end - pos < minimum * item_size:
            raise Malformed(pos)

    return read


def _sized(size: int, maximum: int = 0xFFFF):
    """One code of `size` bytes, at most `maximum`."""

    def read(stream, pos: int, end: int, out: list) -> None:
        if end - pos != size or int.from_bytes(stream[pos:end], "big") > maximum:
            raise Malformed(pos)

    return read


def _opaque_vector(stream, pos: int, end: int, out: list) -> None:
    _filled(stream, pos, end, 2)


def _renegotiation(stream, pos: int, end: int, out: list) -> None:
    _filled(stream, pos, end, 1)


def _padding(stream, pos: int, end: int, out: list) -> None:
    if any(stream[pos:end]):  # RFC 7685 §3: zeros
        raise Malformed(pos)


def _protocols(stream, pos: int, end: int, out: list) -> None:
    """ALPN (RFC 7301 §3.1) and ALPS: protocol ids, each of one byte or more."""
    pos = _filled(stream, pos, end, 2)
    if pos == end:
        raise Malformed(pos)
    while pos < end:
        after = _length(stream, pos, 1, end)
        if after == pos + 1:
            raise Malformed(pos)
        pos = after


def _srtp(stream, pos: int, end: int, out: list) -> None:
    """use_srtp (RFC 5764 §4.1.1): protection profiles, then an MKI."""
    profiles = _length(stream, pos, 2, end)
    if (profiles - pos - 2) % 2 or _length(stream, profiles, 1, end) != end:
        raise Malformed(pos)


def _key_shares(stream, pos: int, end: int, out: list) -> None:
    """key_share (RFC 8446 §4.2.8): groups and their public keys."""
    pos = _filled(stream, pos, end, 2)
    while pos < end:
        pos = _length(stream, pos + 2, 2, end)


def _status_request(stream, pos: int, end: int, out: list) -> None:
    """status_request (RFC 6066 §8): OCSP responder ids and request extensions, both named."""
    if pos >= end or stream[pos] != 1:
        raise Malformed(pos)
    responders = _length(stream, pos + 1, 2, end)
    if _length(stream, responders, 2, end) != end:
        raise Malformed(pos)
    pos += 3
    while pos < responders:
        after = _length(stream, pos, 2, responders)
        out.append((pos + 2, after))
        pos = after
    out.append((responders + 2, end))


def _pre_shared_key(stream, pos: int, end: int, out: list) -> None:
    """pre_shared_key (RFC 8446 §4.2.11): identities (named: an external PSK's is a name) with
    their ticket ages, then binders."""
    identities = _length(stream, pos, 2, end)
    pos += 2
    while pos < identities:
        after = _length(stream, pos, 2, identities)
        out.append((pos + 2, after))
        pos = after + 4  # obfuscated_ticket_age
    if pos != identities:
        raise Malformed(pos)
    pos = _filled(stream, identities, end, 2)
    while pos < end:
        pos = _length(stream, pos, 1, end)


def _authorities(stream, pos: int, end: int, out: list) -> None:
    """certificate_authorities (RFC 8446 §4.2.4): distinguished names, as a CertificateRequest's."""
    _distinguished_names(stream, _filled(stream, pos, end, 2), end, out)


def _encrypted_hello(stream, pos: int, end: int, out: list) -> None:
    """encrypted_client_hello (RFC 9849 §5): the inner marker, or the outer's suite, config id,
    encapsulated key and ciphertext."""
    if pos < end and stream[pos] == 1:
        _nothing(stream, pos + 1, end, out)
        return
    if pos + 6 > end or stream[pos] != 0:
        raise Malformed(pos)
    _filled(stream, _length(stream, pos + 6, 2, end), end, 2)


_EXTENSIONS = {
    EXT_SERVER_NAME: _server_names,
    1: _sized(1, 4),  # max_fragment_length (RFC 6066 §4)
    5: _status_request,
    10: _items(2, 2),  # supported_groups (RFC 8422)
    11: _items(1, 1),  # ec_point_formats (RFC 8422)
    13: _items(2, 2),  # signature_algorithms (RFC 8446 §4.2.3)
    14: _srtp,
    15: _sized(1, 2),  # heartbeat mode (RFC 6520)
    16: _protocols,
    18: _nothing,  # signed_certificate_timestamp (RFC 6962 §3.3.1): asked for empty
    19: _items(1, 1),  # client_certificate_type (RFC 7250)
    20: _items(1, 1),  # server_certificate_type
    21: _padding,
    22: _nothing,  # encrypt_then_mac (RFC 7366)
    23: _nothing,  # extended_master_secret (RFC 7627)
    27: _items(1, 2),  # compress_certificate (RFC 8879)
    28: _sized(2),  # record_size_limit (RFC 8449)
    34: _items(2, 2),  # delegated_credential (RFC 9345): signature schemes
    35: _opaque_data,  # session_ticket (RFC 5077): the server's sealed state
    41: _pre_shared_key,
    42: _nothing,  # early_data
    43: _items(1, 2),  # supported_versions
    44: _opaque_vector,  # cookie (RFC 8446 §4.2.2): the server's sealed state
    45: _items(1, 1),  # psk_key_exchange_modes
    47: _authorities,
    49: _nothing,  # post_handshake_auth
    50: _items(2, 2),  # signature_algorithms_cert
    51: _key_shares,
    0x3374: _nothing,  # next_protocol_negotiation (draft-agl-tls-nextprotoneg): empty in a ClientHello
    0x4469: _protocols,  # application_settings (draft-vvv-tls-alps), old and new code point
    0x44CD: _protocols,
    0xFE0D: _encrypted_hello,
    0xFF01: _renegotiation,  # renegotiation_info (RFC 5746): the previous verify_data
}


def _certificate(stream, pos: int, end: int, out: list, dtls: bool, addresses: bool = False) -> None:
    """The certificates' names (with `addresses`, their iPAddress names alone)."""
    if pos + 3 <= end and int.from_bytes(stream[pos : pos + 3], "big") == end - pos - 3:
        pos, entry_extensions = pos + 3, False  # TLS 1.2 and older: the list's length, then certificates
    else:  # TLS 1.3: a request context, the list's length, certificates each with extensions
        start = pos
        try:
            pos = _filled(stream, _length(stream, pos, 1, end), end, 3)
        except Malformed:
            raise Malformed(start) from None  # a length that lied may have skipped names: all of it
        entry_extensions = True
    while pos < end:
        after = _length(stream, pos, 3, end)
        _der_certificate(stream, pos + 3, after, out, addresses)
        pos = _length(stream, after, 2, end) if entry_extensions else after


def _certificate_request(stream, pos: int, end: int, out: list, dtls: bool) -> None:
    start = pos
    pos = _length(stream, pos, 1, end)  # certificate types
    for algorithms in (True, False):  # TLS 1.2 lists signature algorithms before the names, older ones not
        try:
            names = _length(stream, pos, 2, end) if algorithms else pos
            if _length(stream, names, 2, end) == end:
                break
        except Malformed:
            pass
    else:
        raise Malformed(start)  # a length that lied may have skipped names: all of it
    _distinguished_names(stream, names + 2, end, out)


def _distinguished_names(stream, pos: int, end: int, out: list) -> None:
    """DistinguishedName entries (RFC 5246 §7.4.4) filling ``[pos, end)``, their values named."""
    while pos < end:
        after = _length(stream, pos, 2, end)
        _der_contents(stream, pos + 2, after, out)
        pos = after


def _der(stream, pos: int, end: int) -> tuple[int, int, int]:
    """``(tag, contents_start, contents_end)`` of the DER element at `pos` (definite lengths)."""
    if pos + 2 > end:
        raise Malformed(pos)
    tag, first = stream[pos], stream[pos + 1]
    if tag & 0x1F == 0x1F:
        raise Malformed(pos)  # high tag numbers: none in what we read
    if first < 0x80:
        start, length = pos + 2, first
    else:
        size = first & 0x7F
        if not 1 <= size <= 3 or pos + 2 + size > end:
            raise Malformed(pos)
        start, length = pos + 2 + size, int.from_bytes(stream[pos + 2 : pos + 2 + size], "big")
    if start + length > end:
        raise Malformed(pos)
    return tag, start, start + length


def _der_contents(
    stream, pos: int, end: int, out: list, kept: frozenset = DER_KEPT_TAGS, addresses: bool = False
) -> None:
    """Name the contents of every primitive element in ``[pos, end)`` but those of the tags
    `kept`; with `addresses`, of the iPAddress names (of an address's size) alone."""
    while pos < end:
        tag, start, stop = _der(stream, pos, end)
        if tag & 0x20:
            _der_contents(stream, start, stop, out, kept, addresses)
        elif (tag == DER_IP_ADDRESS and stop - start in IP_ADDRESS_SIZES) if addresses else (tag not in kept):
            out.append((start, stop))
        pos = stop


def _der_certificate(stream, pos: int, end: int, out: list, addresses: bool = False) -> None:
    """A DER X.509 certificate: the names of its TBSCertificate (issuer, subject, named
    extensions); with `addresses`, the iPAddress names of its extensions alone."""
    tag, pos, stop = _der(stream, pos, end)
    if tag != DER_SEQUENCE or stop != end:  # bytes after it (another certificate, say) are not read
        raise Malformed(pos)
    tag, pos, stop = _der(stream, pos, end)  # tbsCertificate
    if tag != DER_SEQUENCE:
        raise Malformed(pos)
    # A field that fails to parse, or fields out of their order (a length that lied, read on
    # from the wrong place, may have skipped a name), name the whole TBSCertificate.
    first, tags = pos, []
    try:
        while pos < stop:
            tag, start, after = _der(stream, pos, stop)
            tags.append(tag)
            at = len(tags) - (tags[0] == DER_VERSION)  # 1 serial, 2 signature, 3 issuer, 4 validity, 5 subject
            if at in (3, 5) and tag == DER_SEQUENCE:
                _name(stream, start, after, [] if addresses else out)
            elif at == 4 and tag == DER_SEQUENCE:
                _validity(stream, start, after)
            elif tag == DER_EXPLICIT_EXTENSIONS:
                _extensions(stream, start, after, out, addresses)
            pos = after
    except Malformed:
        raise Malformed(first) from None
    fields = tags[1:] if tags and tags[0] == DER_VERSION else tags
    optional = [TBS_OPTIONAL.index(t) if t in TBS_OPTIONAL else -1 for t in fields[len(TBS_FIELDS) :]]
    if tuple(fields[: len(TBS_FIELDS)]) != TBS_FIELDS or -1 in optional or optional != sorted(set(optional)):
        raise Malformed(first)


def _name(stream, pos: int, end: int, out: list) -> None:
    """The contents of an X.501 Name (RFC 5280 §4.1.2.4): SETs of SEQUENCEs of an attribute
    type (an OID) and its value, which is named."""
    while pos < end:
        tag, start, stop = _der(stream, pos, end)
        if tag != DER_SET:
            raise Malformed(pos)
        while start < stop:
            tag, attribute, after = _der(stream, start, stop)
            kind, _, value = _der(stream, attribute, after) if tag == DER_SEQUENCE else (-1, 0, 0)
            if kind != DER_OID or value >= after:
                raise Malformed(start)
            tag, contents, value_end = _der(stream, value, after)
            if value_end != after:
                raise Malformed(value)
            if tag & 0x20:
                _der_contents(stream, contents, value_end, out)
            else:
                out.append((contents, value_end))
            start = after
        pos = stop


def _validity(stream, pos: int, end: int) -> None:
    """notBefore and notAfter, each a UTCTime or GeneralizedTime, and nothing else."""
    for _ in range(2):
        tag, _, pos = _der(stream, pos, end)
        if tag not in DER_TIMES:
            raise Malformed(pos)
    if pos != end:
        raise Malformed(pos)


def _extensions(stream, pos: int, end: int, out: list, addresses: bool = False) -> None:
    """Extensions (RFC 5280 §4.1): each a SEQUENCE of its OID, maybe a critical flag, and its
    value, else the certificate does not parse. Values of `NAME_FREE_EXTENSIONS` are kept;
    the others' strings are named (their DER structure kept; with `addresses`, their iPAddress
    names alone), all of a value that is no DER."""
    tag, pos, end = _der(stream, pos, end)
    if tag != DER_SEQUENCE:
        raise Malformed(pos)
    while pos < end:
        tag, start, after = _der(stream, pos, end)
        if tag != DER_SEQUENCE:
            raise Malformed(pos)
        tag, oid_start, inner = _der(stream, start, after)
        if tag != DER_OID:
            raise Malformed(start)
        oid = bytes(stream[oid_start:inner])
        tag, value_start, value_end = _der(stream, inner, after)
        if tag == DER_BOOLEAN:
            tag, value_start, value_end = _der(stream, value_end, after)
        if tag != DER_OCTET_STRING or value_end != after:
            raise Malformed(inner)
        if oid == OID_AUTHORITY_KEY_ID and not addresses:
            _authority_issuer(stream, value_start, value_end, out)
        elif oid not in NAME_FREE_EXTENSIONS:
            named: list = []
            try:
                _der_contents(stream, value_start, value_end, named, addresses=addresses)
                out += named
            except Malformed:
                out.append((value_start, value_end))
        pos = after


def _authority_issuer(stream, pos: int, end: int, out: list) -> None:
    """An authority key identifier (RFC 5280 §4.2.1.1): its key id and serial number are kept,
    anything else (its issuer's names, or a field whose tag lies) named."""
    tag, pos, end = _der(stream, pos, end)
    if tag != DER_SEQUENCE:
        raise Malformed(pos)
    while pos < end:
        tag, start, after = _der(stream, pos, end)
        if tag & 0x20:
            _der_contents(stream, start, after, out)
        elif tag not in AKI_KEPT:
            out.append((start, after))
        pos = after


def _server_hello(stream, pos: int, end: int, out: list, dtls: bool) -> None:
    """No names, but a ClientHello whose type byte lies must not pass for one: the whole body
    must parse (RFC 5246 §7.4.1.3, RFC 8446 §4.1.3), else all of it is named."""
    start = pos
    try:
        if pos + 2 + 32 > end:  # legacy_version, random
            raise Malformed(end)
        pos = _length(stream, pos + 2 + 32, 1, end) + 2 + 1  # session id, cipher suite, compression
        if pos > end:
            raise Malformed(end)
        _hello_extensions(stream, pos, end)
    except Malformed:
        raise Malformed(start) from None


def _certificate_status(stream, pos: int, end: int, out: list, dtls: bool, addresses: bool = False) -> None:
    """A stapled OCSP response (RFC 6066 §8, RFC 6960 §4.2.1): its response data's strings and
    digests (the responder's name or key hash, the certificate ids' name and key hashes,
    extensions) are named, its certificates as a Certificate message's; status, OIDs, serial
    numbers and times are kept. With `addresses`, their iPAddress names alone."""
    if pos >= end or stream[pos] != OCSP_STATUS_TYPE or _length(stream, pos + 1, 3, end) != end:
        raise Malformed(pos)
    start = pos
    try:
        tag, pos, stop = _der(stream, pos + 4, end)  # OCSPResponse
        if tag != DER_SEQUENCE or stop != end:
            raise Malformed(pos)
        tag, _, pos = _der(stream, pos, stop)
        if tag != DER_ENUMERATED:
            raise Malformed(pos)
        if pos == stop:
            return  # an error status: no response bytes
        pos, stop = _expect(stream, pos, stop, DER_EXPLICIT_0, whole=True)
        pos, stop = _expect(stream, pos, stop, DER_SEQUENCE, whole=True)  # ResponseBytes
        tag, oid, after = _der(stream, pos, stop)
        if tag != DER_OID or bytes(stream[oid:after]) != OID_OCSP_BASIC:
            raise Malformed(pos)
        pos, stop = _expect(stream, after, stop, DER_OCTET_STRING, whole=True)
        pos, stop = _expect(stream, pos, stop, DER_SEQUENCE, whole=True)  # BasicOCSPResponse
        tag, data, pos = _der(stream, pos, stop)  # tbsResponseData
        if tag != DER_SEQUENCE:
            raise Malformed(pos)
        _der_contents(stream, data, pos, out, OCSP_KEPT_TAGS, addresses)
        tag, _, pos = _der(stream, pos, stop)  # signatureAlgorithm
        if tag != DER_SEQUENCE:
            raise Malformed(pos)
        tag, _, pos = _der(stream, pos, stop)  # signature
        if tag != DER_BIT_STRING:
            raise Malformed(pos)
        if pos < stop:  # certs [0] EXPLICIT SEQUENCE OF Certificate
            pos, stop = _expect(stream, pos, stop, DER_EXPLICIT_0, whole=True)
            pos, stop = _expect(stream, pos, stop, DER_SEQUENCE, whole=True)
            while pos < stop:
                after = _der(stream, pos, stop)[2]
                _der_certificate(stream, pos, after, out, addresses)
                pos = after
    except Malformed:
        raise Malformed(start) from None


def _expect(stream, pos: int, end: int, tag: int, whole: bool = False) -> tuple[int, int]:
    """The contents of the element at `pos`, which must have `tag` (and, if `whole`, end at `end`)."""
    found, start, stop = _der(stream, pos, end)
    if found != tag or (whole and stop != end):
        raise Malformed(pos)
    return start, stop


def _empty(stream, pos: int, end: int, out: list, dtls: bool) -> None:
    """HelloRequest, ServerHelloDone: no body (RFC 5246 §7.4.1.1, §7.4.5), else it is named."""
    if pos != end:
        raise Malformed(pos)


def _vectors(stream, pos: int, end: int, sizes, out: list) -> int:
    """Past the vectors at `pos` whose length fields have the given sizes, in order; their
    contents (key material, signatures, tickets, cookies, identities) go to `out`."""
    for size in sizes:
        after = _length(stream, pos, size, end)
        out.append((pos + size, after))
        pos = after
    return pos


def _fills(stream, pos: int, end: int, forms, out: list) -> bool:
    """Whether one of `forms` (each a tuple of vector length sizes, after `skip` fixed bytes:
    ``(skip, sizes)``) reads ``[pos, end)`` exactly; its vectors' contents then go to `out`."""
    for skip, sizes in forms:
        found: list = []
        try:
            if pos + skip <= end and _vectors(stream, pos + skip, end, sizes, found) == end:
                out += found
                return True
        except Malformed:
            pass
    return False


# The layouts of messages sent in the clear whose contents are key material, signatures or
# identities: ``(fixed bytes kept, vector length sizes)``; their vectors' contents are named,
# since a type that lies could pass a Certificate off as one (its lengths nest alike)
SIGNATURES = ((0, ()), (0, (2,)), (2, (2,)))  # none (anonymous), TLS 1.0/1.1, TLS 1.2 (algorithm first)
SKE_ECDHE, SKE_NAMED_CURVE = "ecdhe", 3  # ServerKeyExchange's ECDHE form: curve type 3, a curve, a point
KEY_EXCHANGES = (
    (0, (1,)),  # ClientKeyExchange: an ECDHE point
    (0, (2,)),  # an encrypted premaster secret, a DH value, or a PSK identity alone
    (0, (2, 1)),  # ECDHE_PSK: identity, point
    (0, (2, 2)),  # DHE_PSK, RSA_PSK: identity, value
)


def _server_key_exchange(stream, pos: int, end: int, out: list, dtls: bool) -> None:
    """Parameters in one of the layouts the cipher suites use (RFC 5246 §7.4.3, RFC 8422 §5.4,
    RFC 4279): ECDHE (curve type and named curve kept), DHE, RSA export, each maybe after a
    PSK identity hint, or the hint alone; then a signature."""
    for hint in ((), (2,)):
        for params in (SKE_ECDHE, (2, 2, 2), (2, 2), ()):  # ECDHE; DHE p, g, Ys; RSA modulus, exponent
            if not (params or hint):
                continue
            found: list = []
            try:
                at = _vectors(stream, pos, end, hint, found)
                if params == SKE_ECDHE:
                    if at + 3 > end or stream[at] != SKE_NAMED_CURVE:
                        continue
                    at = _vectors(stream, at + 3, end, (1,), found)
                else:
                    at = _vectors(stream, at, end, params, found)
            except Malformed:
                continue
            if _fills(stream, at, end, SIGNATURES, found):
                out += found
                return
    raise Malformed(pos)


def _client_key_exchange(stream, pos: int, end: int, out: list, dtls: bool) -> None:
    """One of the cipher suites' layouts (RFC 5246 §7.4.7, RFC 8422 §5.7, RFC 4279)."""
    if not _fills(stream, pos, end, KEY_EXCHANGES, out):
        raise Malformed(pos)


def _certificate_verify(stream, pos: int, end: int, out: list, dtls: bool) -> None:
    """A signature (RFC 5246 §7.4.8)."""
    if pos == end or not _fills(stream, pos, end, SIGNATURES, out):
        raise Malformed(pos)


def _new_session_ticket(stream, pos: int, end: int, out: list, dtls: bool) -> None:
    """A lifetime hint and the server's sealed ticket (RFC 5077 §3.3)."""
    if not _fills(stream, pos, end, ((4, (2,)),), out):
        raise Malformed(pos)


def _hello_verify_request(stream, pos: int, end: int, out: list, dtls: bool) -> None:
    """DTLS: a version and a cookie (RFC 6347 §4.2.1)."""
    if not _fills(stream, pos, end, ((2, (1,)),), out):
        raise Malformed(pos)


_READERS = {
    HS_HELLO_REQUEST: _empty,
    HS_CLIENT_HELLO: _client_hello,
    HS_SERVER_HELLO: _server_hello,
    HS_HELLO_VERIFY_REQUEST: _hello_verify_request,
    HS_NEW_SESSION_TICKET: _new_session_ticket,
    HS_CERTIFICATE: _certificate,
    HS_SERVER_KEY_EXCHANGE: _server_key_exchange,
    HS_CERTIFICATE_REQUEST: _certificate_request,
    HS_SERVER_HELLO_DONE: _empty,
    HS_CERTIFICATE_VERIFY: _certificate_verify,
    HS_CLIENT_KEY_EXCHANGE: _client_key_exchange,
    HS_CERTIFICATE_STATUS: _certificate_status,
}
