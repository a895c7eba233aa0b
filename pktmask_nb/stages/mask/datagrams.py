"""Payloads decided one datagram (or one length-prefixed message) at a time (SPEC §6).

DTLS over UDP keeps record headers and the bodies of types 20/21/22/24, as TLS does.
BOOTP/DHCP keeps its skeleton (operation, hardware type and length, hops, transaction, flags, the
magic cookie, each option's code and length and the message type), so that Wireshark still
parses it; addresses, hardware addresses, names and option values are zeroed. DNS over TCP
keeps each message's 2-byte length (its messages are zeroed, as DNS over UDP is).
"""

from __future__ import annotations

from ...proto.dhcp import DHCP_END, DHCP_FIXED, DHCP_KEPT_FIXED, DHCP_MAGIC, DHCP_MESSAGE_TYPE, DHCP_PAD
from ...proto.text import address_text
from ...proto.tls import DTLS_HLEN, TLS_KEPT_TYPES, dtls_header

KEEP_DTLS_HEADER = "dtls-record-header"
KEEP_DTLS_BODY = {20: "dtls-change-cipher-spec", 21: "dtls-alert", 22: "dtls-handshake", 24: "dtls-heartbeat"}
KEEP_DHCP = "dhcp-skeleton"
KEEP_DNS = "dns-length"


def dtls_keeps(data, start: int, end: int, counts: list[int]) -> tuple[list[tuple[int, int, str]], bool]:
    """Kept byte ranges (and why) of a UDP payload ``data[start:end]`` read as DTLS records.

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
        keeps.append((pos, pos + DTLS_HLEN, KEEP_DTLS_HEADER))
        if content_type in TLS_KEPT_TYPES and stop > pos + DTLS_HLEN:
            body, stop = pos + DTLS_HLEN, min(stop, end)
            for a, b in address_text(bytes(data[body:stop]), binary=True):  # addresses written as text (SPEC §5)
                keeps.append((body, pos + DTLS_HLEN + a, KEEP_DTLS_BODY[content_type]))
                body = pos + DTLS_HLEN + b
            keeps.append((body, stop, KEEP_DTLS_BODY[content_type]))
        pos = stop
    return keeps, bool(keeps) and pos < end


def dhcp_keeps(data, start: int, end: int) -> list[tuple[int, int, str]]:
    """The skeleton of a BOOTP/DHCP message at `start` (RFC 2131, RFC 2132); [] if it is not one."""
    if end - start < DHCP_FIXED + len(DHCP_MAGIC) or data[start] not in (1, 2):
        return []
    if bytes(data[start + DHCP_FIXED : start + DHCP_FIXED + 4]) != DHCP_MAGIC:
        return []
    keeps = [(start + a, start + b, KEEP_DHCP) for a, b in DHCP_KEPT_FIXED]
    keeps.append((start + DHCP_FIXED, start + DHCP_FIXED + 4, KEEP_DHCP))
    pos = start + DHCP_FIXED + 4
    while pos < end:
        code = data[pos]
        if code in (DHCP_PAD, DHCP_END):
            keeps.append((pos, pos + 1, KEEP_DHCP))
            if code == DHCP_END:
                break
            pos += 1
            continue
        if pos + 2 > end or pos + 2 + data[pos + 1] > end:
            break
        length = data[pos + 1]
        keeps.append((pos, pos + (2 + length if code == DHCP_MESSAGE_TYPE else 2), KEEP_DHCP))
        pos += 2 + length
    return keeps


class DnsTcpWalker:
    """DNS over TCP (RFC 1035 §4.2.2): each message's length kept, the message zeroed."""

    __slots__ = ("remaining",)

    def __init__(self):
        self.remaining = 0

    def feed(self, d, data, offset: int) -> int:
        n, pos = len(data), 0
        while pos < n:
            if self.remaining:
                take = min(self.remaining, n - pos)
                self.remaining -= take
                pos += take
                continue
            if n - pos < 2:
                return n - pos
            d.keep(offset + pos, offset + pos + 2, KEEP_DNS)
            self.remaining = (data[pos] << 8) | data[pos + 1]
            pos += 2
        return 0
