"""Traffic of the synthetic captures: the mix, the endpoints, and flows as generators of frame bursts."""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from .packets import (
    ETH_P_8021Q,
    ETH_P_IP,
    ETH_P_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    TCP_ACK,
    TCP_FIN,
    TCP_PSH,
    TCP_SYN,
    Half,
)
from .payloads import Segments, Templates

VLAN_IDS = (10, 20, 100, 200)
TCP_INITIAL_WINDOW, TCP_MAX_BURST = 10, 40  # segments per burst: IW10 (RFC 6928), doubling up to this
EPHEMERAL_PORTS = (32768, 60999)  # Linux ip_local_port_range
DNS_PORT, HTTP_PORT, HTTPS_PORT = 53, 80, 443


@dataclass(frozen=True, kw_only=True)
class TrafficMix:
    """What the synthetic traffic is made of.

    Parameters
    ----------
    duplicate_fraction : float
        Share of output frames that are exact repeats of one of the last 8 frames.
    ipv6_fraction, vlan_fraction : float
        Share of flows over IPv6, and of flows carrying an 802.1Q tag.
    dns_fraction, http_fraction : float
        Share of new flows that are a DNS query/answer, and of TCP flows that are plain
        HTTP/1.1 (the rest is TLS 1.2 on port 443).
    reorder_probability, retransmit_probability : float
        Per burst of segments: swap two adjacent segments; send one segment again.
    concurrent_flows : int
        Flows interleaved at any time.
    """

    duplicate_fraction: float = 0.10
    ipv6_fraction: float = 0.15
    vlan_fraction: float = 0.10
    dns_fraction: float = 0.40
    http_fraction: float = 0.30
    reorder_probability: float = 0.02
    retransmit_probability: float = 0.02
    concurrent_flows: int = 512


SERVER_V4_FIRST_OCTETS = (23, 31, 34, 52, 104, 142, 151, 157, 185, 199, 203, 208)
SERVER_V6_PREFIXES = (b"\x26\x06\x47\x00", b"\x2a\x00\x14\x50", b"\x26\x00\x1f\x18", b"\x2a\x03\x28\x80")
CLIENT_V6_PREFIX = b"\x2a\x02\x81\x08\x12\x34"  # one /48 site
CLIENT_TTL = 64
SERVER_TTLS = (44, 51, 54, 57, 113, 117, 120)  # what is left of 64 or 128 after some hops
ALL_REPEATABLE = (True, True)  # bursts of one or two frames, each the newest of its direction


def transfer(sender: Half, receiver: Half, segments: Segments, traffic: Traffic) -> Iterator[tuple[list, list]]:
    """Send `segments` in bursts growing from IW10; the receiver ACKs every second segment and a burst's last.

    Yields ``(frames, repeatable)`` per burst. Now and then two adjacent segments swap places
    or a segment is sent again; those late segments are not repeatable (see `write_frames`).
    """
    rng, mix, stats = traffic.rng, traffic.mix, traffic.stats
    start, burst, total = 0, TCP_INITIAL_WINDOW, len(segments)
    while start < total:
        chunk = segments[start : start + burst]
        last = len(chunk)
        start, burst, first_seq = start + last, min(2 * burst, TCP_MAX_BURST), sender.seq
        sender.tsval += 1
        receiver.tsval += 1
        frames = []
        append, send, acknowledge = frames.append, sender.tcp, receiver.tcp
        for i, (payload, psum, _) in enumerate(chunk, 1):
            push = TCP_PSH if i == last and start == total else 0
            append(send(receiver, TCP_ACK | push, payload, psum))
            if i % 2 == 0 or i == last:
                append(acknowledge(sender, TCP_ACK))
        repeatable = [True] * len(frames)
        pairs = [k for k in range(0, last - 1, 2) if chunk[k][2] and chunk[k + 1][2]]
        if pairs and rng.random() < mix.reorder_probability:
            k = 3 * rng.choice(pairs) // 2  # frames k, k + 1 are a pair of segments, then their ACK
            frames[k], frames[k + 1] = frames[k + 1], frames[k]
            repeatable[k + 1] = False
            stats["reordered"] += 1
        if rng.random() < mix.retransmit_probability:
            frames.append(retransmission(sender, receiver, chunk, rng.randrange(last), first_seq))
            repeatable.append(False)
            stats["retransmissions"] += 1
        yield frames, repeatable


def retransmission(sender: Half, receiver: Half, chunk: Segments, n: int, first_seq: int) -> bytes:
    """Segment `n` of `chunk` (sent from `first_seq` on) once more, with a later timestamp."""
    seq = (first_seq + sum(len(segment[0]) for segment in chunk[:n])) & 0xFFFFFFFF
    payload, psum, _ = chunk[n]
    sender.tsval += 1
    return sender.tcp(receiver, TCP_ACK, payload, psum, seq=seq)


def tcp_flow(client: Half, server: Half, script: list, traffic: Traffic) -> Iterator[tuple[list, list]]:
    """Handshake, the `script` of ``(from_client, Message)`` steps, FIN from the client."""
    yield [client.syn(server, TCP_SYN)], ALL_REPEATABLE
    yield [server.syn(client, TCP_SYN | TCP_ACK)], ALL_REPEATABLE
    yield [client.tcp(server, TCP_ACK)], ALL_REPEATABLE
    for from_client, message in script:
        sender, receiver = (client, server) if from_client else (server, client)
        yield from transfer(sender, receiver, message[sender.v6], traffic)
    yield [client.tcp(server, TCP_FIN | TCP_ACK)], ALL_REPEATABLE
    yield [server.tcp(client, TCP_FIN | TCP_ACK), client.tcp(server, TCP_ACK)], ALL_REPEATABLE


def dns_flow(client: Half, server: Half, template: tuple, qid: int) -> Iterator[tuple[list, list]]:
    """A query and its answer, transaction `qid`."""
    query, query_sum, response, response_sum = template
    ident = struct.pack("!H", qid)
    yield [client.udp(ident + query, query_sum + qid)], ALL_REPEATABLE
    yield [server.udp(ident + response, response_sum + qid)], ALL_REPEATABLE


class Traffic:
    """Endpoints, templates and counters; `new_flow` starts a flow: a generator of frame bursts.

    The capture point is the client side of a gateway: every frame is between a client MAC
    and the gateway MAC, optionally with an 802.1Q tag.
    """

    def __init__(self, rng: random.Random, mix: TrafficMix):
        self.rng, self.mix = rng, mix
        self.templates = Templates(rng)
        self.gateway = b"\x00\x1b\x21" + rng.randbytes(3)
        self.clients = {v6: [self._client(v6) for _ in range(1024)] for v6 in (False, True)}
        self.servers = {v6: [self._server(v6) for _ in range(512)] for v6 in (False, True)}
        self.resolvers = {False: bytes((10, 0, 0, 53)), True: CLIENT_V6_PREFIX + bytes(9) + b"\x35"}
        self.port, self.dns_id = rng.randrange(*EPHEMERAL_PORTS), rng.getrandbits(16)
        self.stats = {"tcp_flows": 0, "dns_exchanges": 0, "reordered": 0, "retransmissions": 0}

    def _client(self, v6: bool) -> tuple[bytes, bytes]:
        address = CLIENT_V6_PREFIX + self.rng.randbytes(10) if v6 else bytes((10, 0)) + self.rng.randbytes(2)
        return address, b"\x3c\x22\xfb" + self.rng.randbytes(3)

    def _server(self, v6: bool) -> tuple[bytes, int]:
        rng = self.rng
        address = (
            rng.choice(SERVER_V6_PREFIXES) + rng.randbytes(12)
            if v6
            else bytes([rng.choice(SERVER_V4_FIRST_OCTETS)]) + rng.randbytes(3)
        )
        return address, rng.choice(SERVER_TTLS)

    def _halves(self, client: tuple, server: tuple, port: int, protocol: int) -> tuple[Half, Half]:
        (c_addr, c_mac), (s_addr, ttl) = client, server
        vlan = self.rng.choice(VLAN_IDS) if self.rng.random() < self.mix.vlan_fraction else 0
        tag = struct.pack("!HH", ETH_P_8021Q, vlan) if vlan else b""
        ethertype = struct.pack("!H", ETH_P_IPV6 if len(c_addr) == 16 else ETH_P_IP)
        self.port = self.port + 1 if self.port < EPHEMERAL_PORTS[1] else EPHEMERAL_PORTS[0]
        ports = (self.port, port)
        up = Half(self.gateway + c_mac + tag + ethertype, c_addr, s_addr, ports, protocol, CLIENT_TTL, self.rng)
        down = Half(c_mac + self.gateway + tag + ethertype, s_addr, c_addr, ports[::-1], protocol, ttl, self.rng)
        return up, down

    def new_flow(self) -> Iterator[tuple[list, list]]:
        """A DNS exchange, or an HTTP or TLS connection of 1 to 8 request/response exchanges."""
        rng, mix, templates = self.rng, self.mix, self.templates
        v6 = rng.random() < mix.ipv6_fraction
        client = rng.choice(self.clients[v6])
        if rng.random() < mix.dns_fraction:
            self.stats["dns_exchanges"] += 1
            self.dns_id = (self.dns_id + 1) & 0xFFFF
            up, down = self._halves(client, (self.resolvers[v6], CLIENT_TTL), DNS_PORT, IPPROTO_UDP)
            return dns_flow(up, down, rng.choice(templates.dns), self.dns_id)
        self.stats["tcp_flows"] += 1
        exchanges = 1 + min(int(rng.expovariate(0.5)), 7)
        if rng.random() < mix.http_fraction:
            script = [step for _ in range(exchanges) for step in rng.choice(templates.http_exchanges)]
            up, down = self._halves(client, rng.choice(self.servers[v6]), HTTP_PORT, IPPROTO_TCP)
        else:
            script = rng.choice(templates.tls_handshakes) + [
                step for _ in range(exchanges) for step in rng.choice(templates.tls_exchanges)
            ]
            script += templates.tls_close
            up, down = self._halves(client, rng.choice(self.servers[v6]), HTTPS_PORT, IPPROTO_TCP)
        return tcp_flow(up, down, script, self)
