"""Policy tables shared by the mask stage and the audit (SPEC §6, §8): what protocols say, not how either reads them.

Both the masker and the audit read these; neither imports the other's code.
"""

from __future__ import annotations

HTTP_SENSITIVE_HEADERS = ("cookie", "set-cookie", "authorization", "proxy-authorization")
STARTTLS_PORTS = frozenset((21, 25, 110, 119, 143, 433, 587, 2525, 4190, 389, 3268, 5222, 5269))
STARTTLS_COMMANDS = (b"STARTTLS", b"STLS", b"AUTH TLS", b"AUTH SSL", b"AUTH TLS-C")  # RFC 3207, 2595, 4217, 4642
PRELUDE_MAX_BYTES = 64 * 1024  # a text stream with no STARTTLS within this many bytes stays zeroed
# Command verbs of the STARTTLS text protocols: in command position, the only client words kept
# (anything else there may be a credential, e.g. an SMTP AUTH LOGIN line in base64).
PRELUDE_VERBS = frozenset(
    b"HELO EHLO MAIL RCPT DATA BDAT RSET VRFY EXPN HELP NOOP QUIT AUTH STARTTLS "  # SMTP (RFC 5321)
    b"CAPA USER PASS APOP STAT LIST RETR DELE TOP UIDL STLS "  # POP3 (RFC 1939, 2595)
    b"CAPABILITY LOGIN AUTHENTICATE LOGOUT ID ENABLE SELECT EXAMINE CREATE DELETE RENAME SUBSCRIBE "
    b"UNSUBSCRIBE LSUB STATUS APPEND CHECK CLOSE UNSELECT EXPUNGE SEARCH FETCH STORE COPY MOVE UID "
    b"IDLE NAMESPACE "  # IMAP (RFC 9051)
    b"ACCT CWD CDUP SMNT REIN PORT PASV EPRT EPSV TYPE STRU MODE STOR STOU APPE ALLO REST RNFR RNTO "
    b"ABOR RMD MKD PWD NLST SITE SYST FEAT OPTS SIZE MDTM MLSD MLST PBSZ PROT CCC "  # FTP (RFC 959, 2389, 4217)
    b"CAPABILITIES ARTICLE BODY GROUP HEAD IHAVE LAST LISTGROUP NEWGROUPS NEWNEWS NEXT OVER POST HDR "
    b"TAKETHIS CHECK XOVER XHDR "  # NNTP (RFC 3977, 4644)
    b"HAVESPACE PUTSCRIPT LISTSCRIPTS SETACTIVE GETSCRIPT DELETESCRIPT RENAMESCRIPT CHECKSCRIPT "
    b"UNAUTHENTICATE".split()  # ManageSieve (RFC 5804)
)
IMAP_STATUS = frozenset((b"OK", b"NO", b"BAD", b"BYE", b"PREAUTH", b"CAPABILITY"))
