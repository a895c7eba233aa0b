"""What a TCP stream carries, decided without guessing (SPEC §6).

A direction whose first byte is known (its SYN was seen) starts with `StartWalker`: TLS as
`~.upgrade.tls_start` tells it (after a STARTTLS exchange or an HTTP CONNECT only TLS may
follow: `~.upgrade.TlsOnlyWalker`); the port of a
STARTTLS protocol starts its prelude; PostgreSQL's SSLRequest and an HTTP/1.x start line are
recognised by their fixed syntax. Anything else is zero.

A direction that starts mid-stream takes `MidStreamWalker`: TLS only, and only through a
chain of two valid record headers, each at the start of a segment, the first record ending
exactly where the segment holding the second begins. Bytes before the chain are zero.
"""

from __future__ import annotations

from ...proto.http import HTTP_DETECT_LEN, header_block, looks_like_http
from ...proto.tls import POSTGRES_SSL_REQUEST, TLS_HLEN, record_header
from .datagrams import DnsTcpWalker
from .http import HttpWalker
from .starttls import PostgresAnswer, PostgresWalker, prelude_walker
from .tls import TlsWalker
from .upgrade import tls_start

DNS_PORT = 53
MIDSTREAM_MAX_CANDIDATES = 16  # record headers at segment starts waiting for their second header
MIDSTREAM_MAX_PENDING = 1 << 20  # bytes held while candidates wait; past it they are dropped (zero)


class StartWalker:
    """The walker of a direction at a known stream start."""

    __slots__ = ()

    def feed(self, d, data, offset: int) -> int:
        verdict = self._detect(d, data)
        if verdict is None:  # not enough bytes to tell
            return len(data)
        protocol, walker = verdict
        d.flow.set_protocol(protocol)
        if walker is None:
            return d.zero_rest(offset)
        return d.switch(walker, data, offset)

    def _detect(self, d, data):
        """``(protocol, walker)`` (walker None: all zero), or None when more bytes are needed."""
        tls = tls_start(d, data)
        if tls is None:
            return None
        if tls:
            return "tls", tls
        flow, n, first = d.flow, len(data), data[0]
        if d.client and first == 0:
            if n < len(POSTGRES_SSL_REQUEST) and POSTGRES_SSL_REQUEST.startswith(bytes(data)):
                return None
            if data[: len(POSTGRES_SSL_REQUEST)] == POSTGRES_SSL_REQUEST:
                return "text", PostgresWalker()
        if not d.client and isinstance(flow.starttls, PostgresWalker):
            return "text", PostgresAnswer()
        if flow.server[1] == DNS_PORT:
            return "dns", DnsTcpWalker(flow.dns, flow.dns_names)
        walker = prelude_walker(d)
        if walker is not None:
            return "text", walker
        found = looks_like_http(data)
        if found is None and n < HTTP_DETECT_LEN:
            return None
        if found:
            return "http", HttpWalker(d.flow)
        return "other", None


class MidStreamWalker:
    """A stream joined mid-way: resynchronise on a chain of two TLS record headers, or (with
    ``--keep http-headers``) on a complete, valid HTTP/1.x message head.

    A valid record header at the start of a segment is a candidate; it is confirmed when its
    record ends exactly where a later segment starts, with a valid header there. A request or
    status line at the start of a segment is a candidate confirmed when every line up to the
    empty line that ends its head is valid. Until then the bytes from the oldest candidate on
    stay undecided (their packets held back); bytes before every remaining candidate are zero.
    """

    __slots__ = ("tls", "http", "starts")

    def __init__(self):
        self.tls: list[int] = []  # stream offsets of record headers at segment starts
        self.http: list[int] = []  # stream offsets of HTTP start lines at segment starts
        self.starts: list[int] = []  # segment starts whose first TLS_HLEN bytes have not all arrived

    def feed(self, d, data, offset: int) -> int:
        end = offset + len(data)
        segment = d.segment
        if offset <= segment < end:
            self.starts.append(segment)
        while self.starts and end - self.starts[0] >= TLS_HLEN:  # a segment start, judged once its header is whole
            start = self.starts.pop(0)
            chained = record_header(data, start - offset)[0] >= 0
            for first in self.tls:
                if chained and first + TLS_HLEN + record_header(data, first - offset)[1] == start:
                    d.flow.set_protocol("tls")
                    return d.switch(TlsWalker(d.flow), data[first - offset :], first)
            if len(self.tls) + len(self.http) < MIDSTREAM_MAX_CANDIDATES:
                if chained:
                    self.tls.append(start)
                elif d.flow.http_keep and looks_like_http(data[start - offset :]):
                    self.http.append(start)
        for start in list(self.http):
            head = header_block(data, start - offset)
            if head:
                d.flow.set_protocol("http")
                return d.switch(HttpWalker(d.flow), data[start - offset :], start)
            if head is False:
                self.http.remove(start)
        # a record that ends inside what arrived, not at a segment start still to be judged, refutes its candidate
        ends = [(c, c + TLS_HLEN + record_header(data, c - offset)[1]) for c in self.tls]
        self.tls = [c for c, stop in ends if stop >= end or stop in self.starts]
        pending = self.tls + self.http + self.starts
        if not pending or end - min(pending) > MIDSTREAM_MAX_PENDING:
            self.tls, self.http, self.starts = [], [], []
            return 0
        return end - min(pending)
