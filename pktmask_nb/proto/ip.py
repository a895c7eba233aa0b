"""IPv4 (RFC 791) and IPv6 (RFC 8200) header fields and lengths."""

from __future__ import annotations

IPV4_MIN_HLEN = 20
IPV4_TOTAL_LENGTH = 2  # offsets within the IPv4 header
IPV4_TTL = 8
IPV4_PROTOCOL = 9
IPV4_CHECKSUM = 10
IPV4_SRC = 12
IPV4_DST = 16

IPV6_HLEN = 40
IPV6_PAYLOAD_LENGTH = 4  # offsets within the IPv6 header
IPV6_NEXT_HEADER = 6
IPV6_HOP_LIMIT = 7
IPV6_SRC = 8
IPV6_DST = 24


def ipv4_datagram_end(data, offset: int) -> int:
    """End of the IPv4 datagram at `offset` by its total length, clipped to the captured bytes."""
    if offset + IPV4_MIN_HLEN > len(data):
        return len(data)
    return min(len(data), offset + ((data[offset + 2] << 8) | data[offset + 3]))


def ipv6_datagram_end(data, offset: int) -> int:
    """End of the IPv6 datagram at `offset` by its payload length, clipped to the captured bytes.

    A payload length of 0 (jumbogram) runs to the end of the captured bytes.
    """
    if offset + IPV6_HLEN > len(data):
        return len(data)
    payload = (data[offset + 4] << 8) | data[offset + 5]
    return min(len(data), offset + IPV6_HLEN + payload) if payload else len(data)
