"""Cleartext preludes before TLS (SPEC §6): SMTP/IMAP/POP3/FTP/NNTP STARTTLS, PostgreSQL SSLRequest.

The prelude is zeroed like any other payload, except the bare STARTTLS command line and
PostgreSQL's fixed SSLRequest / ``S`` answer (protocol keywords, no user data), kept so
that masking a masked capture finds the same TLS start (idempotence). Once the client
asked for TLS, each direction looks for a TLS handshake record header at every segment
start and line start; the first one switches the direction to the TLS walker.
"""

from __future__ import annotations

from ...proto.tls import TLS_HANDSHAKE, TLS_HLEN, record_header
from .tls import TlsWalker

PRELUDE_MAX_BYTES = 64 * 1024  # a text stream with no STARTTLS within this many bytes stays zeroed
PRELUDE_MAX_LINE = 128  # longer lines are never commands
STARTTLS_COMMANDS = (b"STARTTLS", b"STLS", b"AUTH TLS", b"AUTH SSL", b"AUTH TLS-C")  # RFC 3207, 2595, 4217, 4642


def is_starttls_command(line: bytes) -> bool:
    """True for a client line asking to start TLS: ``STARTTLS``, ``a001 STARTTLS``, ``STLS``, ``AUTH TLS``."""
    words = line.strip().upper()
    if not words or len(words) > PRELUDE_MAX_LINE:
        return False
    if words in STARTTLS_COMMANDS:
        return True
    _, _, rest = words.partition(b" ")  # IMAP: a tag first
    return rest == b"STARTTLS"


class PreludeWalker:
    """Zero a text prelude, watch for STARTTLS, and hand over to `TlsWalker` where TLS starts."""

    __slots__ = ("line", "seen", "partial", "counts")

    def __init__(self, counts: list[int]):
        self.line = b""  # the start of the current (unfinished) line, at most PRELUDE_MAX_LINE bytes
        self.seen = 0
        self.partial = b""  # the first bytes of a possible TLS header at a boundary
        self.counts = counts

    def feed(self, d, data, offset: int) -> None:
        if self.partial:
            data = self.partial + data
            offset -= len(self.partial)
            self.partial = b""
        if d.flow.starttls and self._tls_at(d, data, 0, offset):
            return
        n, pos = len(data), 0
        while pos < n:
            nl = data.find(b"\n", pos)
            if nl < 0:
                if len(self.line) < PRELUDE_MAX_LINE:
                    self.line += bytes(data[pos : pos + PRELUDE_MAX_LINE - len(self.line)])
                break
            whole = not self.line  # the line lies wholly in this segment: a command may be kept
            line = self.line + bytes(data[pos : nl + 1])
            self.line = b""
            if d.client and is_starttls_command(line):
                d.flow.starttls = True
                if whole:
                    d.keep(offset + pos, offset + nl + 1)
            pos = nl + 1
            if pos < n and d.flow.starttls and self._tls_at(d, data, pos, offset):
                return
        self.seen += n
        if self.seen > PRELUDE_MAX_BYTES and not d.flow.starttls:
            return d.zero_rest(offset + n)
        d.decided = offset + n

    def _tls_at(self, d, data, pos: int, offset: int) -> bool:
        """Switch to TLS if a handshake record header starts at `pos`; wait if it may."""
        n = len(data)
        if n - pos < TLS_HLEN:
            if data[pos] == TLS_HANDSHAKE and (n - pos < 2 or data[pos + 1] == 3):
                self.partial = bytes(data[pos:])
                d.decided = offset + pos
                return True
            return False
        content_type, _ = record_header(data, pos)
        if content_type != TLS_HANDSHAKE:
            return False
        d.flow.set_protocol("tls")
        d.switch(TlsWalker(self.counts), data[pos:], offset + pos)
        return True
