"""Byte builders for the synthetic captures: Ethernet/IP/TCP/UDP frames and pcap/pcapng records.

A `Half` (one direction of a flow) packs its fixed header bytes once and keeps the
one's-complement sums of its constant fields, so a frame's IPv4/TCP/UDP checksums cost a
few integer additions.
"""

from __future__ import annotations

import struct

# Ethernet, IPv4 (RFC 791), IPv6 (RFC 8200), UDP (RFC 768)
ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q = 0x0800, 0x86DD, 0x8100
IPPROTO_TCP, IPPROTO_UDP = 6, 17
IPV4_HLEN, UDP_HLEN = 20, 8
IPV4_VERSION_IHL_TOS = 0x4500
IPV4_FLAGS_DF = 0x4000
IPV6_VERSION = 6 << 28

# TCP (RFC 9293; timestamps RFC 7323)
TCP_FIN, TCP_SYN, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x08, 0x10
TCP_TS_OPTION = b"\x01\x01\x08\x0a"  # NOP, NOP, Timestamps kind 8 length 10; TSval and TSecr follow
TCP_TS_HLEN = 32
TCP_DATA_OFFSET_TS = (TCP_TS_HLEN // 4) << 12
TCP_MSS = (1460, 1440)  # by IPv6-ness; segments carry 12 bytes less payload (timestamps)
TCP_OPT_MSS, TCP_OPT_SACK_PERMITTED, TCP_OPT_TIMESTAMPS = b"\x02\x04", b"\x04\x02", b"\x08\x0a"
TCP_OPT_NOP_WSCALE = b"\x01\x03\x03\x07"  # NOP, window scale 7
TCP_SYN_WINDOW, TCP_WINDOW = 64240, 501

# Containers (draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng)
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144
PCAP_FILE_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
PCAP_RECORD = struct.Struct("<IIII")
PCAPNG_HEADER = (
    struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)  # SHB, no options
    + struct.pack("<IIHHII", 1, 20, LINKTYPE_ETHERNET, 0, SNAPLEN, 20)  # IDB, µs timestamps
)
PCAPNG_EPB_TYPE = 6
PCAPNG_EPB = struct.Struct("<IIIIIII")  # type, length, interface, ts high, ts low, caplen, origlen
PCAPNG_EPB_OVERHEAD = 32

# Frame layouts after a per-direction prefix (Ethernet header, then IPv4 version/IHL/TOS or the
# IPv6 version/flow label word); constant neighbours are packed as one field.
IPV4_REST = "HHIH8s"  # total length, id, flags/fragment + TTL/protocol, header checksum, addresses
IPV6_REST = "HH32s"  # payload length, next header/hop limit, addresses
IPV4_HEADER_REST, IPV6_HEADER_REST = struct.Struct("!" + IPV4_REST), struct.Struct("!" + IPV6_REST)
TCP_TS_REST = "4sIIHHH6sII"  # ports, seq, ack, offset/flags, window, checksum, urgent + NOP NOP TS, TSval, TSecr
IPV4_TCP, IPV6_TCP = struct.Struct("!" + IPV4_REST + TCP_TS_REST), struct.Struct("!" + IPV6_REST + TCP_TS_REST)
IPV4_UDP, IPV6_UDP = struct.Struct("!" + IPV4_REST + "4sHH"), struct.Struct("!" + IPV6_REST + "4sHH")
TCP_SYN_HEADER = struct.Struct("!4sIIHHHH")  # ports, seq, ack, offset/flags, window, checksum, urgent
TCP_URGENT_TS_OPTION = b"\0\0" + TCP_TS_OPTION


def ones_sum(data: bytes) -> int:
    """The 16-bit one's-complement word sum of `data`, modulo 0xFFFF (odd length: zero-padded)."""
    value = int.from_bytes(data, "big") << (8 * (len(data) & 1))
    return value % 0xFFFF


def internet_checksum(total: int) -> int:
    """RFC 1071 checksum from a sum of 16-bit words (or of any integers ≡ them modulo 0xFFFF)."""
    rest = total % 0xFFFF
    return 0xFFFF - rest if rest else 0


class Half:
    """One direction of a flow: its fixed header bytes, precomputed checksum sums, TCP state."""

    __slots__ = ("prefix", "v6", "addrs", "ports", "word", "ip_sum", "l4_sum", "seq", "ip_id", "tsval")

    def __init__(self, l2: bytes, src: bytes, dst: bytes, ports: tuple[int, int], protocol: int, ttl: int, rng):
        self.v6, self.addrs, self.ports = len(src) == 16, src + dst, struct.pack("!HH", *ports)
        if self.v6:  # version and flow label; next header and hop limit
            self.prefix = l2 + struct.pack("!I", IPV6_VERSION | rng.getrandbits(20))
            self.word = protocol << 8 | ttl
        else:  # version, IHL and TOS; DF (TCP) and fragment offset, TTL and protocol
            self.prefix = l2 + struct.pack("!H", IPV4_VERSION_IHL_TOS)
            self.word = (IPV4_FLAGS_DF if protocol == IPPROTO_TCP else 0) << 16 | ttl << 8 | protocol
        self.ip_sum = IPV4_VERSION_IHL_TOS + self.word + ones_sum(self.addrs)
        self.l4_sum = ones_sum(self.addrs + self.ports) + protocol  # pseudo-header and ports
        if protocol == IPPROTO_TCP:
            self.l4_sum += TCP_WINDOW + ones_sum(TCP_TS_OPTION)
        self.seq, self.ip_id, self.tsval = rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(31)

    def ip(self, length: int) -> tuple:
        """IP header fields after the prefix, for a transport length (IPv4: next id, checksum)."""
        if self.v6:
            return length, self.word, self.addrs
        self.ip_id = ip_id = (self.ip_id + 1) & 0xFFFF
        total = IPV4_HLEN + length
        return total, ip_id, self.word, internet_checksum(self.ip_sum + total + ip_id), self.addrs

    def tcp(self, peer: Half, flags: int, payload: bytes = b"", psum: int = 0, seq: int | None = None) -> bytes:
        """A segment with the timestamps option, `psum` the payload's `ones_sum`.

        `seq` defaults to the next sequence number, which then advances. (The hot path:
        the IP header is inlined.)
        """
        n = len(payload)
        if seq is None:
            seq = self.seq
            self.seq = (seq + n + (flags & TCP_FIN)) & 0xFFFFFFFF
        ack, tsval, tsecr = peer.seq, self.tsval, peer.tsval
        length, off_flags = TCP_TS_HLEN + n, TCP_DATA_OFFSET_TS | flags
        csum = internet_checksum(self.l4_sum + length + off_flags + seq + ack + tsval + tsecr + psum)
        if self.v6:
            head = IPV6_TCP.pack(
                length, self.word, self.addrs,
                self.ports, seq, ack, off_flags, TCP_WINDOW, csum, TCP_URGENT_TS_OPTION, tsval, tsecr,
            )  # fmt: skip
        else:
            self.ip_id = ip_id = (self.ip_id + 1) & 0xFFFF
            total = IPV4_HLEN + length
            head = IPV4_TCP.pack(
                total, ip_id, self.word, internet_checksum(self.ip_sum + total + ip_id), self.addrs,
                self.ports, seq, ack, off_flags, TCP_WINDOW, csum, TCP_URGENT_TS_OPTION, tsval, tsecr,
            )  # fmt: skip
        return self.prefix + head + payload

    def syn(self, peer: Half, flags: int) -> bytes:
        """SYN or SYN-ACK with MSS, SACK-permitted, timestamps and window scale options."""
        seq, ack, tsecr = self.seq, peer.seq, peer.tsval
        if not flags & TCP_ACK:
            ack = tsecr = 0
        self.seq = (seq + 1) & 0xFFFFFFFF
        options = b"".join(
            (TCP_OPT_MSS, struct.pack("!H", TCP_MSS[self.v6]), TCP_OPT_SACK_PERMITTED, TCP_OPT_TIMESTAMPS,
             struct.pack("!II", self.tsval, tsecr), TCP_OPT_NOP_WSCALE)
        )  # fmt: skip
        length = TCP_SYN_HEADER.size + len(options)
        off_flags = (length // 4) << 12 | flags
        header = TCP_SYN_HEADER.pack(self.ports, seq, ack, off_flags, TCP_SYN_WINDOW, 0, 0) + options
        csum = internet_checksum(ones_sum(self.addrs) + IPPROTO_TCP + length + ones_sum(header))
        ip = (IPV6_HEADER_REST if self.v6 else IPV4_HEADER_REST).pack(*self.ip(length))
        return b"".join((self.prefix, ip, header[:16], struct.pack("!H", csum), header[18:]))

    def udp(self, payload: bytes, psum: int) -> bytes:
        length = UDP_HLEN + len(payload)
        csum = internet_checksum(self.l4_sum + 2 * length + psum) or 0xFFFF  # RFC 768: 0 is sent as 0xFFFF
        pack = IPV6_UDP.pack if self.v6 else IPV4_UDP.pack
        return b"".join((self.prefix, pack(*self.ip(length), self.ports, length, csum), payload))


# Container records (draft-ietf-opsawg-pcap, draft-ietf-opsawg-pcapng)
PCAPNG_PADDING = (b"", b"\0\0\0", b"\0\0", b"\0")  # by length % 4
PCAPNG_BLOCK_TRAILER = struct.Struct("<I")


def pcap_record(ts_us: int, frame: bytes) -> bytes:
    sec, usec = divmod(ts_us, 1_000_000)
    n = len(frame)
    return PCAP_RECORD.pack(sec, usec, n, n) + frame


def pcapng_record(ts_us: int, frame: bytes) -> bytes:
    n = len(frame)
    padding = PCAPNG_PADDING[n & 3]
    total = PCAPNG_EPB_OVERHEAD + n + len(padding)
    head = PCAPNG_EPB.pack(PCAPNG_EPB_TYPE, total, 0, ts_us >> 32, ts_us & 0xFFFFFFFF, n, n)
    return b"".join((head, frame, padding, PCAPNG_BLOCK_TRAILER.pack(total)))


CONTAINERS = {"pcap": (PCAP_FILE_HEADER, pcap_record), "pcapng": (PCAPNG_HEADER, pcapng_record)}
