"""Cleartext preludes before TLS (SPEC §6): the STARTTLS family and PostgreSQL's SSLRequest.

A prelude is zeroed like any payload, except what Wireshark needs to follow it and what
decides the switch, so that masking a masked capture finds the same switch:

- text protocols (SMTP, IMAP, POP3, FTP, NNTP, ManageSieve) keep line ends, a client's
  command verb (one of `~pktmask_nb.policy.PRELUDE_VERBS`, with an IMAP tag) and a server's
  status token; the STARTTLS command line
  whole. A command counts only in command position: not inside SMTP DATA/BDAT content,
  NNTP articles or IMAP/Sieve literals. The client's bytes after its STARTTLS command wait
  for the server's reply (`~.upgrade.AwaitWalker`); only a positive reply switches both
  directions to TLS, at the byte after the command line and after the reply line;
- LDAP keeps the StartTLS extended request and its response (without the diagnostic text);
- XMPP keeps the ``<starttls/>`` and ``<proceed/>`` elements;
- PostgreSQL keeps the SSLRequest and the one-byte answer.
"""

from __future__ import annotations

import re

from ...policy import PRELUDE_VERBS, STARTTLS_PORTS
from .upgrade import POSTGRES_SSL_NO, POSTGRES_SSL_YES, AwaitWalker, TlsOnlyWalker

PRELUDE_MAX_LINE = 4096  # a longer line is content, never a command (zeroed, framing included)
KEEP_COMMAND = "starttls-command"
KEEP_FRAMING = "text-framing"
KEEP_LDAP = "ldap-starttls"
KEEP_XMPP = "xmpp-starttls"
KEEP_POSTGRES = "postgres-ssl-request"


class TextProtocol:
    """What a line protocol's STARTTLS exchange looks like.

    Attributes
    ----------
    starttls : tuple of bytes
        Client command lines (upper case, after any tag) that ask for TLS.
    tagged : bool
        Commands carry a tag that the final reply repeats (IMAP, not ManageSieve).
    accept, refuse : tuple of bytes
        Prefixes of the server's final reply line (after a tag) that accept or refuse.
    content : tuple of bytes
        Commands after which the client sends dot-terminated content (SMTP DATA, NNTP POST).
    literals : bool
        ``{n}`` / ``{n+}`` at a line's end announces n bytes of literal data (IMAP, Sieve).
    unframed : tuple of bytes
        Reply codes whose arguments Wireshark parses (FTP's passive-mode address and port,
        current directory): their lines keep only the line end.
    """

    def __init__(self, starttls, accept, refuse, tagged=False, content=(), literals=False, unframed=()):
        self.starttls, self.accept, self.refuse = starttls, accept, refuse
        self.tagged, self.content, self.literals = tagged, content, literals
        self.unframed = unframed  # reply codes whose zeroed arguments Wireshark would call malformed: code zeroed too


SMTP = TextProtocol((b"STARTTLS",), (b"220",), (b"4", b"5"), content=(b"DATA",))  # RFC 3207
POP3 = TextProtocol((b"STLS",), (b"+OK",), (b"-ERR",))  # RFC 2595 §4
IMAP = TextProtocol((b"STARTTLS",), (b"OK",), (b"NO", b"BAD"), tagged=True, literals=True)  # RFC 9051 §6.2.1
FTP = TextProtocol(  # RFC 4217
    (b"AUTH TLS", b"AUTH SSL", b"AUTH TLS-C", b"AUTH TLS-P"),
    (b"234",),
    (b"4", b"5"),
    unframed=(b"227", b"228", b"229", b"257"),
)
NNTP = TextProtocol((b"STARTTLS",), (b"382",), (b"4", b"5"), content=(b"POST", b"IHAVE", b"TAKETHIS"))  # RFC 4642
SIEVE = TextProtocol((b"STARTTLS",), (b"OK",), (b"NO", b"BYE"), literals=True)  # RFC 5804 §2.2
TEXT_PORTS = {25: SMTP, 587: SMTP, 2525: SMTP, 110: POP3, 143: IMAP, 21: FTP, 119: NNTP, 433: NNTP, 4190: SIEVE}
LDAP_PORTS = frozenset((389, 3268))
XMPP_PORTS = frozenset((5222, 5269))

LITERAL = re.compile(rb"\{(\d{1,9})\+?\}\r?\n$")
BDAT = re.compile(rb"BDAT +(\d{1,9})", re.IGNORECASE)
STATUS_CODE = re.compile(rb"\d{3}[ -]?")


def prelude_walker(d):
    """The prelude walker for a direction of a flow on a STARTTLS protocol's port, else None."""
    port = d.flow.server[1]
    if port not in STARTTLS_PORTS:
        return None
    if port in TEXT_PORTS:
        return TextPrelude(TEXT_PORTS[port], d.client)
    if port in LDAP_PORTS:
        return LdapWalker(d.client)
    if port in XMPP_PORTS:
        return XmppWalker(d.client)
    return None


def _tls_start():
    return TlsOnlyWalker()


class TextPrelude:
    """One direction of a line protocol before TLS: framing kept, the switch found."""

    __slots__ = ("protocol", "client", "skip", "content", "continuation", "tag", "long_line")

    def __init__(self, protocol: TextProtocol, client: bool):
        self.protocol, self.client = protocol, client
        self.skip = 0  # literal or BDAT bytes still to come (zeroed)
        self.content = False  # inside dot-terminated content
        self.continuation = False  # the next line continues a command (after a literal)
        self.tag = b""  # the tag of the client's STARTTLS command (IMAP)
        self.long_line = False  # inside a line longer than PRELUDE_MAX_LINE (zeroed to its end)

    def feed(self, d, data, offset: int) -> int:
        n, pos = len(data), 0
        while pos < n:
            if self.skip:
                take = min(self.skip, n - pos)
                self.skip -= take
                pos += take
                continue
            nl = data.find(b"\n", pos)
            if nl < 0:
                if n - pos > PRELUDE_MAX_LINE or self.long_line:
                    self.long_line = True
                    return 0
                return n - pos  # a line not finished yet
            if self.long_line:
                self.long_line = False
                pos = nl + 1
                continue
            line = bytes(data[pos : nl + 1])
            after = (
                self._client_line(d, line, offset + pos) if self.client else self._server_line(d, line, offset + pos)
            )
            pos = nl + 1
            if after is not None:  # the walker changes here
                if isinstance(after, AwaitWalker):
                    d.walker = after
                    return n - pos
                return d.switch(after, data[pos:], offset + pos)
        return 0

    def _client_line(self, d, line: bytes, at: int):
        """Keep a client line's framing; the walker that follows it if it asks for TLS."""
        eol = 2 if line.endswith(b"\r\n") else 1
        body = line[: len(line) - eol]
        protocol = self.protocol
        if self.content:
            if body == b".":
                self.content = False
                d.keep(at, at + len(line), KEEP_FRAMING)
            return None
        if not self.continuation:
            words = body.replace(b"\0", b" ").split(b" ", 1) if protocol.tagged else [b"", body]
            if len(words) == 2 and words[1].upper() in protocol.starttls and (not protocol.tagged or words[0]):
                self.tag = words[0]
                d.keep(at, at + len(line), KEEP_COMMAND)
                d.flow.starttls = self
                return AwaitWalker(refused=self)
            verb = _verb(body, protocol.tagged)
            if verb:
                d.keep(at, at + len(verb), KEEP_FRAMING)
                for space in range(len(verb), len(body)):  # argument separators: Wireshark counts arguments
                    if body[space] == 0x20:
                        d.keep(at + space, at + space + 1, KEEP_FRAMING)
                self._command(body[len(verb) :].strip(), verb)
        d.keep(at + len(line) - eol, at + len(line), KEEP_FRAMING)
        literal = LITERAL.search(line) if protocol.literals else None
        self.continuation = literal is not None
        if literal is not None:
            self.skip = int(literal.group(1))
        return None

    def _command(self, arguments: bytes, verb: bytes) -> None:
        word = verb.split(b" ")[-1].upper()
        if word in self.protocol.content:
            self.content = True
        elif word == b"BDAT" and self.protocol is SMTP:
            found = BDAT.match(b"BDAT " + arguments)
            self.skip = int(found.group(1)) if found else 0

    def _server_line(self, d, line: bytes, at: int):
        """Keep a server line's status token and line end; TLS after a positive reply to STARTTLS."""
        eol = 2 if line.endswith(b"\r\n") else 1
        body = line[: len(line) - eol]
        token = _status(body)
        if token[:3] in self.protocol.unframed:
            token = b""
        if token:
            d.keep(at, at + len(token), KEEP_FRAMING)
        d.keep(at + len(line) - eol, at + len(line), KEEP_FRAMING)
        asked = d.flow.starttls
        if not isinstance(asked, TextPrelude) or not token:
            return None
        protocol = asked.protocol
        status = token.strip()
        if protocol.tagged:
            tag, _, status = status.partition(b" ")
            if tag != asked.tag:
                return None  # untagged or another command's reply
        elif body[len(status) : len(status) + 1] == b"-":
            return None  # not the last line of a multi-line reply
        if status.upper().startswith(protocol.accept):
            d.flow.answer(True)
            return _tls_start()
        if status.upper().startswith(protocol.refuse):
            d.flow.answer(False)
        return None


def _verb(body: bytes, tagged: bool) -> bytes:
    """The leading command word of a client line (with an IMAP tag), if it is a known verb."""
    words = body.replace(b"\0", b" ").split(b" ", 2)
    if tagged:
        if len(words) < 2 or not words[0] or len(words[0]) > 32 or not words[0].isalnum():
            return b""
        verb = words[1]
        return words[0] + b" " + verb if verb.upper() in PRELUDE_VERBS else b""
    verb = words[0]
    return verb if verb.upper() in PRELUDE_VERBS else b""


def _status(body: bytes) -> bytes:
    """A server line's status token: ``250-``, ``+OK``, ``* OK``, ``a001 NO``, ``OK``; b"" if none.

    Zero bytes separate words like spaces: a masked line keeps its token and nothing else."""
    found = STATUS_CODE.match(body)
    if found:
        return found.group(0)
    spaced = body.replace(b"\0", b" ")
    first, _, rest = spaced.partition(b" ")
    if first in (b"+OK", b"-ERR", b"OK", b"NO", b"BYE"):
        return body[
            : len(first) + (body[len(first) : len(first) + 1] == b" ")
        ]  # the separator too: Wireshark looks for it
    word = rest.split(b" ", 1)[0]
    if word.upper() in (b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH", b"CAPABILITY") and 0 < len(first) <= 32:
        end = len(first) + 1 + len(word)
        return body[: end + (body[end : end + 1] == b" ")]
    return b""


class PostgresWalker:
    """PostgreSQL's SSLRequest (client): kept, then the client's bytes wait for the answer."""

    __slots__ = ()

    def feed(self, d, data, offset: int) -> int:
        from ...proto.tls import POSTGRES_SSL_REQUEST

        d.keep(offset, offset + len(POSTGRES_SSL_REQUEST), KEEP_POSTGRES)
        d.flow.starttls = self
        d.walker = AwaitWalker(refused=None)
        return len(data) - len(POSTGRES_SSL_REQUEST)


class PostgresAnswer:
    """The server's first byte after an SSLRequest: ``S`` switches to TLS, ``N`` does not."""

    __slots__ = ()

    def feed(self, d, data, offset: int) -> int:

        if data[0] not in (POSTGRES_SSL_YES, POSTGRES_SSL_NO):
            d.flow.answer(False)
            return d.zero_rest(offset)
        d.keep(offset, offset + 1, KEEP_POSTGRES)
        accepted = data[0] == POSTGRES_SSL_YES
        d.flow.answer(accepted)
        return d.switch(_tls_start(), data[1:], offset + 1) if accepted else d.zero_rest(offset + 1)


# -- LDAP (RFC 4511 §4.14) --------------------------------------------------------------------

LDAP_STARTTLS_OID = b"1.3.6.1.4.1.1466.20037"
LDAP_EXTENDED_REQUEST, LDAP_EXTENDED_RESPONSE = 0x77, 0x78
LDAP_MAX_MESSAGE = 1 << 16


def _ber_length(data, pos: int) -> tuple[int, int]:
    """``(length, header bytes after the tag)`` of a BER length at `pos`; (-1, 0) if not there yet or invalid."""
    if pos >= len(data):
        return -1, 0
    first = data[pos]
    if first < 0x80:
        return first, 1
    count = first & 0x7F
    if not 0 < count <= 3 or pos + 1 + count > len(data):
        return -1, 0
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), 1 + count


BER_KEPT_VALUES = frozenset((0x01, 0x02, 0x0A))  # BOOLEAN, INTEGER, ENUMERATED: message ids, versions, results
BER_MAX_DEPTH = 16


def ber_skeleton(d, data, pos: int, end: int, at: int, depth: int = 0) -> None:
    """Keep the tags and lengths of the BER elements in ``data[pos:end]`` (stream offset `at` of
    `pos`), and the values of booleans, integers and enumerations; strings are zeroed."""
    while pos + 2 <= end and depth < BER_MAX_DEPTH:
        tag = data[pos]
        length, size = _ber_length(data, pos + 1)
        value = pos + 1 + size
        if length < 0 or value + length > end or tag & 0x1F == 0x1F:  # (multi-byte tags are not followed)
            return
        d.keep(at + pos, at + value, KEEP_LDAP)
        if tag & 0x20:
            ber_skeleton(d, data, value, value + length, at, depth + 1)
        elif tag in BER_KEPT_VALUES:
            d.keep(at + value, at + value + length, KEEP_LDAP)
        pos = value + length


class LdapWalker:
    """LDAP before TLS: every message keeps its BER skeleton (tags, lengths, message ids, result
    codes) with its strings zeroed (names, passwords, filters, attributes); the StartTLS extended
    request and the response to it are kept whole but for the matched DN and diagnostic message."""

    __slots__ = ("client",)

    def __init__(self, client: bool):
        self.client = client

    def feed(self, d, data, offset: int) -> int:
        pos, n = 0, len(data)
        while pos < n:
            if data[pos] != 0x30:
                return d.zero_rest(offset + pos)
            length, size = _ber_length(data, pos + 1)
            if length < 0:
                return n - pos if n - pos < 8 else d.zero_rest(offset + pos)
            stop = pos + 1 + size + length
            if length > LDAP_MAX_MESSAGE:
                return d.zero_rest(offset + pos)
            if stop > n:
                return n - pos
            message = bytes(data[pos:stop])
            switch = self._message(d, message, offset + pos)
            if switch is None:  # (over what _message kept, keeping adds nothing)
                ber_skeleton(d, message, 0, len(message), offset + pos)
            pos = stop
            if switch is not None:
                if isinstance(switch, AwaitWalker):
                    d.walker = switch
                    return n - pos
                return d.switch(switch, data[pos:], offset + pos)
        return 0

    def _message(self, d, message: bytes, at: int):
        _, size = _ber_length(message, 1)
        pos = 1 + size
        if pos + 2 > len(message) or message[pos] != 0x02:  # messageID INTEGER
            return None
        pos += 2 + message[pos + 1]
        if pos >= len(message):
            return None
        op = message[pos]
        if self.client and op == LDAP_EXTENDED_REQUEST and LDAP_STARTTLS_OID in message[pos:]:
            d.keep(at, at + len(message), KEEP_LDAP)
            d.flow.starttls = self
            return AwaitWalker(refused=LdapWalker(True))
        if not self.client and op == LDAP_EXTENDED_RESPONSE and isinstance(d.flow.starttls, LdapWalker):
            return self._response(d, message, at, pos)
        return None

    def _response(self, d, message: bytes, at: int, pos: int):
        """The ExtendedResponse: resultCode, matchedDN, diagnosticMessage, [responseName]."""
        _, size = _ber_length(message, pos + 1)
        pos += 1 + size
        if pos + 3 > len(message) or message[pos] != 0x0A:
            return None
        result = message[pos + 2]
        d.keep(at, at + pos + 3, KEEP_LDAP)
        pos += 3
        for _ in range(2):  # matchedDN, diagnosticMessage: their tags and lengths kept
            if pos + 2 > len(message) or message[pos] != 0x04:
                return None
            length, size = _ber_length(message, pos + 1)
            d.keep(at + pos, at + pos + 1 + size, KEEP_LDAP)
            pos += 1 + size + length
        d.keep(at + pos, at + len(message), KEEP_LDAP)  # responseName: the StartTLS OID
        d.flow.answer(result == 0)
        return _tls_start() if result == 0 else None


# -- XMPP (RFC 6120 §5.4) ---------------------------------------------------------------------

XMPP_NS = rb"""xmlns=(['"])urn:ietf:params:xml:ns:xmpp-tls\1"""
XMPP_STARTTLS = re.compile(rb"<starttls\s+" + XMPP_NS + rb"\s*/>")
XMPP_PROCEED = re.compile(rb"<proceed\s+" + XMPP_NS + rb"\s*/>")
XMPP_FAILURE = re.compile(rb"<failure\s+" + XMPP_NS + rb"\s*/>")
XMPP_MAX_PRELUDE = 1 << 16


class XmppWalker:
    """XMPP before TLS: everything zeroed but the client's ``<starttls/>`` and the server's
    ``<proceed/>`` (or ``<failure/>``), after which both directions switch to TLS."""

    __slots__ = ("client", "seen")

    def __init__(self, client: bool):
        self.client = client
        self.seen = 0

    def feed(self, d, data, offset: int) -> int:
        text = bytes(data)
        pattern = XMPP_STARTTLS if self.client else XMPP_PROCEED
        found = pattern.search(text)
        if found is not None and (self.client or isinstance(d.flow.starttls, XmppWalker)):
            d.keep(offset + found.start(), offset + found.end(), KEEP_XMPP)
            rest = found.end()
            if self.client:
                d.flow.starttls = self
                d.walker = AwaitWalker(refused=None)
                return len(text) - rest
            d.flow.answer(True)
            return d.switch(_tls_start(), data[rest:], offset + rest)
        failure = None if self.client else XMPP_FAILURE.search(text)
        if failure is not None:
            d.keep(offset + failure.start(), offset + failure.end(), KEEP_XMPP)
            d.flow.answer(False)
            return d.zero_rest(offset + failure.end())
        self.seen += len(text)
        if self.seen > XMPP_MAX_PRELUDE:
            return d.zero_rest(offset + len(text))
        keep_back = text.rfind(b"<")  # an element may be cut by the segment's end
        return len(text) - keep_back if keep_back >= 0 and b">" not in text[keep_back:] else 0
