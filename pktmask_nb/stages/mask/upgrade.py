"""Where a stream turns to TLS (SPEC §6): its first bytes, and the waits and hand-overs of the
upgrades (STARTTLS, an HTTP CONNECT, PostgreSQL's SSLRequest).

`tls_start` tells whether bytes at a stream start begin TLS: a valid record header, or a
valid SSLv2 ClientHello (or, answering one, ServerHello). After an upgrade only TLS may
follow (`TlsOnlyWalker`); the client that asked waits for the answer (`AwaitWalker`).
"""

from __future__ import annotations

from ...proto.tls import TLS_HLEN, TLS_TYPES, record_header, ssl2_client_hello, ssl2_server_hello
from .stream import FAIL_DESYNC
from .tls import TlsWalker

POSTGRES_SSL_YES, POSTGRES_SSL_NO = 0x53, 0x4E  # "S" / "N" answer to an SSLRequest


def tls_start(d, data):
    """A `TlsWalker` if `data`, at the start of direction `d`'s stream, begins TLS; False if
    it does not; None when more bytes are needed to tell."""
    flow, first = d.flow, data[0]
    if first in TLS_TYPES:
        if len(data) < TLS_HLEN:
            return None
        if record_header(data, 0)[0] >= 0:
            return TlsWalker(flow)
    if first & 0x80:
        hello = ssl2_client_hello(data) if d.client else ssl2_server_hello(data) if flow.ssl2 else False
        if hello is None:
            return None
        if hello:
            flow.ssl2 = True
            return TlsWalker(flow, ssl2=True)
    return False


class TlsOnlyWalker:
    """After an upgrade: TLS, or a desynchronised stream (zero from there, a fail-closed event)."""

    __slots__ = ()

    def feed(self, d, data, offset: int) -> int:
        walker = tls_start(d, data)
        if walker is None:  # not enough bytes to tell
            return len(data)
        if not walker:
            d.flow.set_protocol("other")
            return d.zero_rest(offset, FAIL_DESYNC)
        d.flow.set_protocol("tls")
        return d.switch(walker, data, offset)


class AwaitWalker:
    """A client direction that asked for TLS (STARTTLS, SSLRequest): its next bytes wait for the
    server's answer, which resumes it with the walker that follows (`~.flows.Flow.answer`)."""

    __slots__ = ("refused",)

    def __init__(self, refused):
        self.refused = refused  # the walker to resume with if the server says no

    def feed(self, d, data, offset: int) -> int:
        return len(data)
