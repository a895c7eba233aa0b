"""Cleartext preludes before TLS (SPEC §6): SMTP/IMAP/POP3/FTP/NNTP STARTTLS, PostgreSQL SSLRequest.

The prelude is zeroed like any other payload, except the STARTTLS command line and, on
the ports of STARTTLS protocols, its framing (line ends of text lines, command verbs from
a fixed list, reply status codes), and PostgreSQL's fixed SSLRequest / ``S`` answer (protocol keywords, no user data:
arguments such as names and passwords are zeroed). Wireshark needs them to follow the
switch to TLS, and masking a masked capture finds the same TLS start (idempotence). Once the client
asked for TLS, each direction looks for a TLS handshake record header at every segment
start and line start; the first one switches the direction to the TLS walker.
"""

from __future__ import annotations

from ...proto.tls import TLS_HANDSHAKE, TLS_HLEN, record_header
from .tls import TlsWalker

PRELUDE_MAX_BYTES = 64 * 1024  # a text stream with no STARTTLS within this many bytes stays zeroed
PRELUDE_MAX_LINE = 128  # longer lines are never commands
STARTTLS_PORTS = frozenset((21, 25, 110, 119, 143, 433, 587, 2525, 4190))  # FTP SMTP POP3 NNTP IMAP SUBMISSION SIEVE
PRELUDE_VERBS = frozenset(
    b"HELO EHLO MAIL RCPT DATA BDAT RSET VRFY EXPN HELP NOOP QUIT AUTH STARTTLS "  # SMTP (RFC 5321)
    b"CAPA USER PASS APOP STAT LIST RETR DELE TOP UIDL STLS "  # POP3 (RFC 1939, 2595)
    b"CAPABILITY LOGIN AUTHENTICATE LOGOUT ID ENABLE SELECT EXAMINE "  # IMAP (RFC 9051)
    b"FEAT SYST PWD TYPE ACCT MODE ARTICLE GROUP".split()  # FTP, NNTP
)
IMAP_STATUS = frozenset((b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH", b"CAPABILITY"))
PRELUDE_TEXT = bytes(range(0x20, 0x7F)) + b"\t\0"  # a line of these is text (NUL: masked before)
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


def may_ask_for_tls(data) -> bool:
    """False when no line of `data` can be a STARTTLS command (`is_starttls_command`): each one names TLS or SSL."""
    upper = data.upper()
    return b"TLS" in upper or b"SSL" in upper


def command_len(line: bytes) -> int:
    """Length of a client line's command verb and the space after it (an IMAP tag before), 0 if none."""
    words = line.rstrip(b"\r\n").replace(b"\0", b" ").split(b" ", 2)  # NUL: masked before
    if words[0].upper() in PRELUDE_VERBS:
        return len(words[0]) + (len(words) > 1)  # the separator too: Wireshark looks for it
    if len(words) > 1 and words[1].upper() in PRELUDE_VERBS and len(words[0]) <= 16 and words[0].isalnum():
        return len(words[0]) + 1 + len(words[1]) + (len(words) > 2)
    return 0


def response_status_len(line: bytes) -> int:
    """Length of a server line's status token (``250-``, ``+OK``, ``* OK``, ``a001 OK``), 0 if none."""
    if line[:3].isdigit():
        return 4 if line[3:4] in (b" ", b"-") else 3
    first, _, rest = line.replace(b"\0", b" ").partition(b" ")  # NUL: masked before
    if first in (b"+OK", b"-ERR"):
        return len(first)
    word = rest.split(b" ", 1)[0].rstrip(b"\r\n")
    if word.upper() in IMAP_STATUS and len(first) <= 16:
        return len(first) + 1 + len(word)
    return 0


class PreludeWalker:
    """Zero a text prelude, watch for STARTTLS, and hand over to `TlsWalker` where TLS starts.

    Every segment start counts as a line start. A STARTTLS command line is kept whole. On
    the ports of STARTTLS protocols (``framing``), of text lines within PRELUDE_MAX_BYTES
    the line end, a client's command verb (an IMAP tag with it) and a server's status
    token are kept too, so that Wireshark, which dissects by port, follows the dialogue to
    the switch to TLS; a second masking pass finds the same TLS start either way.

    Parameters
    ----------
    masked : bool
        The stream's first segment was zeros and line ends: a prelude masked before. TLS is
        looked for at every segment and line start without waiting for a command.
    """

    __slots__ = ("seen", "counts", "masked", "framing")

    def __init__(self, counts: list[int], masked: bool = False, framing: bool = False):
        self.framing = framing  # a STARTTLS protocol's port: keep the dialogue's framing
        self.seen = 0
        self.counts = counts
        self.masked = masked

    def span(self, stop: int) -> None:
        return None  # every byte is read (Direction.advance)

    def feed(self, d, data, offset: int) -> int:
        flow = d.flow
        if flow.starttls or self.masked:
            undecided = self._tls_at(d, data, 0, offset)
            if undecided is not None:
                return undecided
        elif not self.framing and not (d.client and may_ask_for_tls(data)):
            return self._count_seen(d, len(data), offset)  # no line of it can matter: nothing kept, nothing starts
        n, pos = len(data), 0
        while pos < n:
            nl = data.find(b"\n", pos)
            if nl < 0:
                break
            line = bytes(data[pos : nl + 1])
            eol = 2 if line.endswith(b"\r\n") else 1
            if not self.framing:
                if d.client and is_starttls_command(line):
                    flow.starttls = True
                    d.keep(offset + pos, offset + nl + 1)
            elif offset + nl < PRELUDE_MAX_BYTES and not line[: len(line) - eol].translate(None, PRELUDE_TEXT):
                self._keep_framing(d, line, offset + pos, eol)
            pos = nl + 1
            if pos < n and (flow.starttls or self.masked):
                undecided = self._tls_at(d, data, pos, offset)
                if undecided is not None:
                    return undecided
        return self._count_seen(d, n, offset)

    def _count_seen(self, d, n: int, offset: int) -> int:
        """`n` bytes at `offset` went by: past PRELUDE_MAX_BYTES with no STARTTLS, the rest of the stream is zero."""
        self.seen += n
        if self.seen > PRELUDE_MAX_BYTES and not (d.flow.starttls or self.masked):
            return d.zero_rest(offset + n)
        return 0

    def _keep_framing(self, d, line: bytes, at: int, eol: int) -> None:
        """Keep a text line's end, command verb or status token; a STARTTLS command whole."""
        if d.client and is_starttls_command(line):
            d.flow.starttls = True
            return d.keep(at, at + len(line))
        token = command_len(line) if d.client else response_status_len(line)
        if token:
            d.keep(at, at + token)
        d.keep(at + len(line) - eol, at + len(line))

    def _tls_at(self, d, data, pos: int, offset: int) -> int | None:
        """Switch to TLS if a handshake record header starts at `pos` (returns the undecided tail
        length), or wait for the rest of what may be one (the bytes from `pos`); None if not."""
        n = len(data)
        if n - pos < TLS_HLEN:
            if data[pos] == TLS_HANDSHAKE and (n - pos < 2 or data[pos + 1] == 3):
                return n - pos
            return None
        content_type, _ = record_header(data, pos)
        if content_type != TLS_HANDSHAKE:
            return None
        d.flow.set_protocol("tls")
        return d.switch(TlsWalker(self.counts), data[pos:], offset + pos)
