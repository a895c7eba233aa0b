"""DTLS over UDP (SPEC §6): per datagram, keep record headers and types 20/21/22/24, zero the rest."""

from __future__ import annotations

from ...proto.tls import DTLS_HLEN, TLS_KEPT_TYPES, dtls_header


def dtls_keeps(data, start: int, end: int, counts: list[int]) -> tuple[list[tuple[int, int]], bool]:
    """Kept byte ranges of a UDP payload ``data[start:end]`` read as DTLS records.

    Returns ``(keeps, broken)``: an empty list when the payload does not start with a DTLS
    record; `broken` when valid records are followed by bytes that are not one (zeroed).
    """
    keeps, pos = [], start
    while pos + DTLS_HLEN <= end:
        content_type, length = dtls_header(data, pos)
        if content_type < 0:
            break
        counts[content_type - 20] += 1
        stop = pos + DTLS_HLEN + length
        keeps.append((pos, min(stop, end) if content_type in TLS_KEPT_TYPES else pos + DTLS_HLEN))
        pos = stop
    return keeps, bool(keeps) and pos < end
