"""Policy tables shared by the mask stage and the audit (SPEC §6, §8): what protocols say, not how either reads them.

Both the masker and the audit read these; neither imports the other's code.
"""

from __future__ import annotations

HTTP_SENSITIVE_HEADERS = ("cookie", "set-cookie", "authorization", "proxy-authorization")
STARTTLS_PORTS = frozenset((21, 25, 110, 119, 143, 433, 587, 2525, 4190, 389, 3268, 5222, 5269))
STARTTLS_COMMANDS = (b"STARTTLS", b"STLS", b"AUTH TLS", b"AUTH SSL", b"AUTH TLS-C")  # RFC 3207, 2595, 4217, 4642
PRELUDE_MAX_BYTES = 64 * 1024  # a text stream with no STARTTLS within this many bytes stays zeroed
PRELUDE_VERBS = frozenset(
    b"HELO EHLO MAIL RCPT DATA BDAT RSET VRFY EXPN HELP NOOP QUIT AUTH STARTTLS "  # SMTP (RFC 5321)
    b"CAPA USER PASS APOP STAT LIST RETR DELE TOP UIDL STLS "  # POP3 (RFC 1939, 2595)
    b"CAPABILITY LOGIN AUTHENTICATE LOGOUT ID ENABLE SELECT EXAMINE "  # IMAP (RFC 9051)
    b"FEAT SYST PWD TYPE ACCT MODE ARTICLE GROUP".split()  # FTP, NNTP
)
IMAP_STATUS = frozenset((b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH", b"CAPABILITY"))
