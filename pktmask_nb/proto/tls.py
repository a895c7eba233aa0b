"""TLS / SSL 3.0 / SSLv2 / DTLS record headers (RFC 8446 §5.1, RFC 6101 §5.2, RFC 6347 §4.1).

Pure functions over ``bytes``: they validate headers and walk records, returning offsets and
lengths; a partial record is left for the caller's next segment (as dpkt's ``tls_multi_factory``).
"""

from __future__ import annotations

TLS_CHANGE_CIPHER_SPEC = 20
TLS_ALERT = 21
TLS_HANDSHAKE = 22
TLS_APPLICATION_DATA = 23
TLS_HEARTBEAT = 24  # RFC 6520
TLS_HLEN = 5  # type, version, length
DTLS_HLEN = 13  # type, version, epoch, sequence number, length
TLS_MAX_RECORD = 2**14 + 2048  # RFC 5246 §6.2.3: ciphertext limit
TLS_KEPT_TYPES = frozenset((TLS_CHANGE_CIPHER_SPEC, TLS_ALERT, TLS_HANDSHAKE, TLS_HEARTBEAT))  # SPEC §6
TLS_TYPES = frozenset(range(TLS_CHANGE_CIPHER_SPEC, TLS_HEARTBEAT + 1))
DTLS_TYPES = TLS_TYPES
DTLS_VERSION_MAJOR = 0xFE  # DTLS 1.0 = fefe... (0xfeff), 1.2 = 0xfefd, 1.3 = 0xfefc

SSL2_CLIENT_HELLO = 1  # SSLv2 message types (draft-hickman-netscape-ssl-00)
SSL2_CLIENT_MASTER_KEY = 2
SSL2_SERVER_HELLO = 4
SSL2_HANDSHAKE_TYPES = frozenset((SSL2_CLIENT_HELLO, SSL2_CLIENT_MASTER_KEY, SSL2_SERVER_HELLO))
SSL2_HLEN = 2  # the 2-byte header form (high bit set); the 3-byte form is not followed
# An encrypted SSLv2 record holds an MD5 MAC (every SSLv2 cipher's); the 3-byte header form pads
# for a block cipher, all of whose blocks are 8 bytes (draft-hickman-netscape-ssl-00)
SSL2_MAC_LEN = 16
SSL2_BLOCK = 8

POSTGRES_SSL_REQUEST = b"\x00\x00\x00\x08\x04\xd2\x16\x2f"  # length 8, code 80877103

# What a cleartext record body of a kept type may hold (IANA TLS registries): anything else
# means the bytes are not what their header says, and nothing of them is kept.
# HandshakeType values sent in the clear: a Finished, EncryptedExtensions, KeyUpdate... is always
# encrypted (RFC 5246 §7.4.9, RFC 8446 §4.3), so in a cleartext record it is not one
CLEARTEXT_HANDSHAKE_TYPES = frozenset((0, 1, 2, 3, 4, 6, 11, 12, 13, 14, 15, 16, 21, 22, 23))
ALERT_LEVELS = frozenset((1, 2))  # warning, fatal
ALERT_DESCRIPTIONS = frozenset(
    (0, 10, 20, 21, 22, 30, *range(40, 52), 60, 70, 71, 80, 86, 90, 100, *range(109, 117), 120, 121)
)
HEARTBEAT_TYPES = frozenset((1, 2))  # request, response (RFC 6520 §4)
HEARTBEAT_HLEN = 3  # type, payload length
HEARTBEAT_MIN_PADDING = 16
HANDSHAKE_HLEN = 4  # type, 3-byte length


def record_header(data, offset: int = 0) -> tuple[int, int]:
    """``(content_type, length)`` of a TLS/SSL 3.0 record header at `offset`, or ``(-1, 0)``.

    Valid means type 20–24, version 3.x with x ≤ 4 and length ≤ 2^14 + 2048 (SPEC §6).
    The caller checks that 5 bytes are there.
    """
    content_type = data[offset]
    if content_type not in TLS_TYPES or data[offset + 1] != 3 or data[offset + 2] > 4:
        return -1, 0
    length = (data[offset + 3] << 8) | data[offset + 4]
    if length > TLS_MAX_RECORD:
        return -1, 0
    return content_type, length


def records(data, offset: int = 0) -> tuple[list[tuple[int, int, int]], int]:
    """Walk whole TLS records from `offset`.

    Returns
    -------
    (records, consumed)
        ``(offset, content_type, length)`` of every complete record, and the bytes they
        take; a partial record at the end is left unconsumed. Walking stops at an invalid
        header as well: ``offset + consumed`` then points at it.
    """
    found, pos, n = [], offset, len(data)
    while pos + TLS_HLEN <= n:
        content_type, length = record_header(data, pos)
        if content_type < 0 or pos + TLS_HLEN + length > n:
            break
        found.append((pos, content_type, length))
        pos += TLS_HLEN + length
    return found, pos - offset


def ssl2_header(data, offset: int = 0) -> tuple[int, int]:
    """``(message_type, record_length)`` of a 2-byte-header SSLv2 record at `offset`, or ``(-1, 0)``.

    The caller checks that 3 bytes are there. ``message_type`` is the first body byte,
    meaningful only while the record is in the clear (hello, master key).
    """
    if not data[offset] & 0x80:
        return -1, 0
    length = ((data[offset] & 0x7F) << 8) | data[offset + 1]
    if length == 0:
        return -1, 0
    return data[offset + 2], length


SSL2_CLIENT_HELLO_LEN = 11  # header, type, version, three lengths (RFC 6101 appendix E.1)
SSL2_SERVER_HELLO_LEN = 13  # header, type, session id hit, certificate type, version, three lengths
SSL2_HELLO_VERSIONS = frozenset((0x0002, 0x0300, 0x0301, 0x0302, 0x0303))


def ssl2_client_hello(data, offset: int = 0) -> bool | None:
    """Whether an SSLv2-format ClientHello starts at `offset`: None until 11 bytes are there.

    Valid means: a 2-byte header, message type 1, a known version, a non-empty cipher list
    of 3-byte specs, a session id of 0 or 16 bytes, a challenge of 16 to 32 bytes, and a
    record length that is exactly their sum (RFC 6101 E.1, RFC 5246 E.2).
    """
    if len(data) - offset < SSL2_CLIENT_HELLO_LEN:
        return None
    b = data[offset : offset + SSL2_CLIENT_HELLO_LEN]
    length = ((b[0] & 0x7F) << 8) | b[1]
    ciphers, session, challenge = (b[5] << 8) | b[6], (b[7] << 8) | b[8], (b[9] << 8) | b[10]
    return (
        bool(b[0] & 0x80)
        and b[2] == SSL2_CLIENT_HELLO
        and (b[3] << 8) | b[4] in SSL2_HELLO_VERSIONS
        and ciphers > 0
        and ciphers % 3 == 0
        and session in (0, 16)
        and 16 <= challenge <= 32
        and length == 9 + ciphers + session + challenge
    )


def ssl2_server_hello(data, offset: int = 0) -> bool | None:
    """Whether an SSLv2 ServerHello starts at `offset`: None until 13 bytes are there.

    Valid means: a 2-byte header, message type 4, a session id hit of 0 or 1, certificate
    type X.509, version 2, a cipher list of 3-byte specs, a connection id of 16 to 32
    bytes, and a record length that is exactly their sum.
    """
    if len(data) - offset < SSL2_SERVER_HELLO_LEN:
        return None
    b = data[offset : offset + SSL2_SERVER_HELLO_LEN]
    length = ((b[0] & 0x7F) << 8) | b[1]
    certificate, ciphers, connection = (b[7] << 8) | b[8], (b[9] << 8) | b[10], (b[11] << 8) | b[12]
    return (
        bool(b[0] & 0x80)
        and b[2] == SSL2_SERVER_HELLO
        and b[3] in (0, 1)
        and b[4] == 1
        and (b[5] << 8) | b[6] == 0x0002
        and ciphers % 3 == 0
        and 16 <= connection <= 32
        and length == 11 + certificate + ciphers + connection
    )


def dtls_header(data, offset: int = 0) -> tuple[int, int]:
    """``(content_type, length)`` of a DTLS 1.0–1.3 plaintext record header at `offset`, or ``(-1, 0)``.

    The caller checks that 13 bytes are there. DTLS 1.3's unified (ciphertext) header is
    not a plaintext header: it yields ``(-1, 0)``.
    """
    content_type = data[offset]
    if content_type not in DTLS_TYPES or data[offset + 1] != DTLS_VERSION_MAJOR or data[offset + 2] < 0xFC:
        return -1, 0
    length = (data[offset + 11] << 8) | data[offset + 12]
    if length > TLS_MAX_RECORD:
        return -1, 0
    return content_type, length


def cleartext_kept(content_type: int, data, start: int, end: int) -> int:
    """How many leading bytes of the cleartext body ``data[start:end]`` of a ChangeCipherSpec,
    Alert or Heartbeat record are structure; -1 if the body is not what its type says.

    A ChangeCipherSpec body is the byte 1 (RFC 5246 §7.1), kept; an Alert body is pairs of a
    level and a registered description (§7.2), kept; a Heartbeat is a request or response
    whose payload and at least 16 bytes of padding fill the record (RFC 6520 §4): its type and
    payload length are kept, not the payload (content: what Heartbleed answers carried).
    """
    length = end - start
    if content_type == TLS_CHANGE_CIPHER_SPEC:
        return 1 if length == 1 and data[start] == 1 else -1
    if content_type == TLS_ALERT:
        if length == 0 or length % 2:
            return -1
        for i in range(start, end, 2):
            if data[i] not in ALERT_LEVELS or data[i + 1] not in ALERT_DESCRIPTIONS:
                return -1
        return length
    if content_type == TLS_HEARTBEAT:
        if length < HEARTBEAT_HLEN + HEARTBEAT_MIN_PADDING or data[start] not in HEARTBEAT_TYPES:
            return -1
        payload = (data[start + 1] << 8) | data[start + 2]
        return HEARTBEAT_HLEN if HEARTBEAT_HLEN + payload + HEARTBEAT_MIN_PADDING <= length else -1
    return -1


def handshake_framing(data, start: int, end: int, state: int) -> tuple[int, int]:
    """Walk the handshake messages (RFC 8446 §4, RFC 5246 §7.4) in the cleartext body
    ``data[start:end]`` of a handshake record, which continues those of the records before it.

    `state` (0 at a stream's start) is where the record starts among them: bytes of a message
    still to come (positive), or the first bytes of a message header the previous record cut,
    as ``-(bytes << 2 | count)``.

    Returns ``(bad, state)``: the position of the first message whose type is not one sent in
    the clear (-1 if none), and the state for the next record.
    """
    pos = start
    while pos < end:
        if state > 0:
            step = min(state, end - pos)
            pos += step
            state -= step
            continue
        if state == 0 and data[pos] not in CLEARTEXT_HANDSHAKE_TYPES:
            return pos, 0
        count, value = (-state & 3, -state >> 2) if state else (0, 0)
        while count < HANDSHAKE_HLEN and pos < end:
            value = (value << 8) | data[pos]
            pos += 1
            count += 1
        if count < HANDSHAKE_HLEN:
            return -1, -((value << 2) | count)
        state = value & 0xFFFFFF
    return -1, state


def is_hello(data, start: int, end: int) -> bool:
    """Whether the handshake record body ``data[start:end]`` is exactly one ClientHello or
    ServerHello: after TLS 1.3's compatibility ChangeCipherSpec (RFC 8446 D.4) the second
    ClientHello (after a HelloRetryRequest) and the ServerHello still come in the clear."""
    return (
        end - start >= HANDSHAKE_HLEN
        and data[start] in (1, 2)
        and ((data[start + 1] << 16) | (data[start + 2] << 8) | data[start + 3]) == end - start - HANDSHAKE_HLEN
    )
