"""Crafted cases per protocol: STARTTLS preludes, SSLv2 hello, DTLS, HTTP/1.x under --keep http-headers."""

from __future__ import annotations

import struct

import craft
import pytest
import tshark as ts
from craft import Flow, app_data, dtls_handshake, dtls_record, handshake, record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_mask_tcp import check, mask_frames, payload

from pktmask_nb.proto.http import is_token

SMTP = [(False, b"220 mx.example.org ESMTP secret-host\r\n"), (True, b"EHLO client.example.com\r\n")] + [
    (False, b"250-mx.example.org\r\n250 STARTTLS\r\n"),
    (True, b"STARTTLS\r\n"),
    (False, b"220 2.0.0 Ready\r\n"),
]
IMAP = [(False, b"* OK IMAP4rev1 ready\r\n"), (True, b"a001 STARTTLS\r\n"), (False, b"a001 OK Begin TLS\r\n")]
POP3 = [(False, b"+OK POP3 ready <1896.697170952@dbc.mtview.ca.us>\r\n"), (True, b"STLS\r\n"), (False, b"+OK\r\n")]
TLS_C = handshake(300) + app_data(100)
TLS_S = handshake(500, kind=2) + record(20, b"\x01") + app_data(80)


def dialogue(flow: Flow, turns, then_tls: bool = True) -> list[bytes]:
    """The frames of a cleartext dialogue (then a TLS exchange), sequence numbers tracked."""
    frames, seq = flow.handshake(), [0, 0]
    for from_client, data in turns + ([(True, TLS_C), (False, TLS_S)] if then_tls else []):
        side = 0 if from_client else 1
        frames.append(flow.frame(from_client, data, seq=seq[side]))
        seq[side] += len(data)
    return frames


@pytest.mark.parametrize(
    ("name", "turns", "port"),
    [("smtp", SMTP, 25), ("imap", IMAP, 143), ("pop3", POP3, 110)],
)
def test_starttls_prelude_zeroed_then_tls_kept(name, turns, port):
    f = Flow(server=("10.0.0.2", port))
    frames = dialogue(f, turns)
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert payload(out[-2])[: len(handshake(300))] == handshake(300)
    assert payload(out[-1])[: len(handshake(500, kind=2))] == handshake(500, kind=2)
    assert stage.tables()["flows"][0]["protocol"] == "tls"
    for o in out[3:-2]:
        assert b"secret" not in payload(o) and b"client.example" not in payload(o) and b"1896" not in payload(o)
    again, _ = mask_frames(out)
    assert again == out  # idempotent: the kept framing finds the same TLS start


def test_starttls_on_a_port_of_no_starttls_protocol_is_not_followed():
    """SPEC §6: a STARTTLS command counts only in command position of a STARTTLS protocol."""
    frames = dialogue(Flow(server=("10.0.0.2", 2500)), SMTP)
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert all(not any(payload(o)) for o in out[3:])
    assert stage.tables()["flows"][0]["tls_handshake"] == 0


def test_starttls_refused_stays_zero():
    f = Flow(server=("10.0.0.2", 25))
    turns = SMTP[:-1] + [(False, b"454 TLS not available\r\n"), (True, b"MAIL FROM:<a@b.example>\r\n")]
    out, stage = mask_frames(dialogue(f, turns, then_tls=False))
    assert b"a@b.example" not in b"".join(out)
    assert stage.tables()["flows"][0]["tls_handshake"] == 0


@pytest.mark.parametrize("port", [25, 2500])
def test_an_s_answer_is_kept_after_a_postgres_sslrequest_only(port):
    """A server's first byte "S" accepts a PostgreSQL SSLRequest; after a STARTTLS line it is text (zeroed)."""
    frames = dialogue(Flow(server=("10.0.0.2", port)), [(True, b"STARTTLS\r\n"), (False, b"Sure\r\n")], False)
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert payload(out[4])[:4] == bytes(4)


def test_smtp_starttls_tshark_sees_tls(tmp_path, tshark):
    f = Flow(server=("10.0.0.2", 25))
    frames = dialogue(f, SMTP)
    out, _ = mask_frames(frames)
    a, b = craft.write(tmp_path / "in.pcap", frames), craft.write(tmp_path / "out.pcap", out)
    fields = ["tls.record.content_type", "tls.record.length"]
    assert ts.fields(b, fields, display_filter="tls") == ts.fields(a, fields, display_filter="tls") != []
    assert ts.malformed(b) <= ts.malformed(a)


def test_postgres_sslrequest():
    f = Flow(server=("10.0.0.2", 5432))
    ssl_request = struct.pack(">II", 8, 80877103)
    frames = dialogue(f, [(True, ssl_request), (False, b"S")])
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert payload(out[3]) == ssl_request and payload(out[4]) == b"S"
    assert payload(out[5])[:20] == TLS_C[:20]


def ssl2_client_hello() -> bytes:
    body = b"\x01\x00\x02\x00\x09\x00\x00\x00\x10" + b"\x01\x00\x80\x07\x00\xc0\x03\x00\x80" + bytes(range(16))
    return struct.pack(">H", 0x8000 | len(body)) + body


def test_sslv2_client_hello_then_tls():
    f = Flow()
    hello = ssl2_client_hello()
    frames = f.handshake() + [f.frame(True, hello + handshake(40)), f.frame(False, TLS_S)]
    out, stage = mask_frames(frames)
    check(frames, out, stage)
    assert payload(out[3]) == hello + handshake(40)
    assert stage.stats()["tls_records"]["sslv2"] == 1


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        (b"\x80\x20", True),  # 2-byte form: 32 bytes, a MAC and data
        (b"\x00\x20\x07", True),  # 3-byte form: four blocks, 7 bytes of padding
        (b"\x80\x05", False),  # shorter than the MAC
        (b"\x00\x1c\x04", False),  # not whole blocks
        (b"\x00\x20\x09", False),  # more padding than a block
        (b"\x00\x10\x02", False),  # no room for the MAC besides the padding
    ],
)
def test_encrypted_sslv2_records_must_hold_a_mac_and_whole_blocks(header, kept):
    # Found by mutation: after a length that lied, ciphertext was read as 3-byte headers and
    # kept; bytes that cannot be an encrypted record's header end the stream's framing.
    master_key = b"\x02\x01\x00\x80" + b"\x00\x00" + b"\x00\x05" + b"\x00\x00" + b"ENCRY"
    master_key = struct.pack(">H", 0x8000 | len(master_key)) + master_key
    length = ((header[0] & 0x3F) << 8) | header[1]
    encrypted = header + b"\xee" * length
    f = Flow()
    frames = dialogue(f, [(True, ssl2_client_hello() + master_key), (True, encrypted)], then_tls=False)
    out, stage = mask_frames(frames)
    check(frames, out, stage, exact=kept)
    assert payload(out[3]) == ssl2_client_hello() + master_key
    assert payload(out[4]) == (header if kept else b"") + bytes(len(encrypted) - (len(header) if kept else 0))


def test_dtls_records_per_datagram():
    datagrams = [
        dtls_handshake(1, 49) + dtls_handshake(2, 19, seq=1),
        dtls_record(20, b"\x01") + dtls_record(23, b"\x77" * 200, seq=2),
        dtls_record(23, b"\x66" * 100) + b"\x99" * 7,  # trailing bytes that are no record
        b"\x17\xfe\xfd" + b"\x55" * 40,  # too short a header: not DTLS
    ]
    frames = [craft.udp_frame(d) for d in datagrams]
    out, stage = mask_frames(frames)
    check(frames, out, stage, exact=False)
    assert payload_udp(out[0]) == datagrams[0]
    assert payload_udp(out[1]) == datagrams[1][: 14 + 13] + bytes(200)
    assert payload_udp(out[2]) == datagrams[2][:13] + bytes(107)
    assert payload_udp(out[3]) == bytes(43)
    assert stage.tables()["flows"][0]["protocol"] == "dtls"


def payload_udp(frame: bytes) -> bytes:
    return frame[14 + 20 + 8 :]


# -- HTTP ------------------------------------------------------------------------------------

REQ = b"GET /index.html?q=secret HTTP/1.1\r\nHost: example.com\r\nCookie: session=s3cr3t\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n"
RESP_LEN = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nSet-Cookie: id=abc123\r\nContent-Length: 12\r\n\r\nhello world!"
)
RESP_CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\nContent-Type: image/png\r\n\r\n"
    b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n"
)
POST = b"POST /form HTTP/1.1\r\nContent-Length: 9\r\n\r\nuser=pass"
HEAD_REQ = b"HEAD /x HTTP/1.1\r\n\r\n"
HEAD_RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
CLOSE_RESP = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nbody until the connection closes"


def http_flow(client_data: bytes, server_data: bytes, client_sizes=(), server_sizes=()):
    f = Flow(server=("10.0.0.2", 80))
    return f.handshake() + f.stream(True, client_data, client_sizes) + f.stream(False, server_data, server_sizes)


def stream_of(frames, from_client: bool) -> bytes:
    port = 80 if from_client else 40000
    return b"".join(payload(f) for f in frames[3:] if craft.Ether(f)[craft.TCP].dport == port)


def test_http_headers_kept_sensitive_values_and_bodies_zeroed():
    frames = http_flow(REQ + POST, RESP_LEN + RESP_CHUNKED, client_sizes=[30, 50], server_sizes=[20, 90, 40])
    out, stage = mask_frames(frames, keep=("http-headers",))
    client, server = stream_of(out, True), stream_of(out, False)
    assert client.startswith(b"GET /index.html?q=secret HTTP/1.1\r\nHost: example.com\r\nCookie:\0")
    assert b"s3cr3t" not in client and b"dXNlcjpwYXNz" not in client and b"user=pass" not in client
    assert b"POST /form HTTP/1.1\r\nContent-Length: 9\r\n\r\n" + bytes(9) in client
    assert b"Set-Cookie:" + bytes(10) + b"\r\nContent-Length: 12\r\n\r\n" + bytes(12) in server
    assert (
        b"\r\n\r\n5" + bytes(6) + b"\r\n" + bytes(5) + b"\r\n7\r\n" + bytes(7) + b"\r\n0\r\nX-Trailer: t\r\n\r\n"
        in server
    )
    assert b"gzip" not in server and b"image/png" not in server  # Wireshark would fail on zeroed bodies
    assert stage.tables()["flows"][0]["http_messages"] == 4
    again, _ = mask_frames(out, keep=("http-headers",))
    assert again == out


@pytest.mark.parametrize("name", [b"Coo\0ie", b"Cookie ish", b"Co\xc3\xb6kie", b"Host9 10.1.2.3"])
def test_http_a_field_name_that_is_no_token_keeps_no_value(name):
    # Found by mutating a real request: a NUL in "Cookie" made the name unknown, so its
    # value (a session cookie) was kept as any other header's; then a colon mutated in
    # "Host: 127.0.0.1:5000" made "Host9 127.0.0.1" a name, kept with the address in it.
    request = b"GET / HTTP/1.1\r\nHost: example.com\r\n" + name + b": PREF=s3cr3t\r\nAccept: */*\r\n\r\n"
    frames = http_flow(request, RESP_LEN)
    out, stage = mask_frames(frames, keep=("http-headers",))
    client = stream_of(out, True)
    assert b"s3cr3t" not in client and b"Accept: */*\r\n" in client
    assert client.startswith(b"GET / HTTP/1.1\r\nHost: example.com\r\n" + bytes(len(name)) + b":\0")


@pytest.mark.parametrize(("method", "keep"), [(b"GET /", ("http-headers",)), (b"CONNECT example.com:443", ())])
def test_http_a_field_name_written_as_an_address_is_zeroed(method, keep):
    # "10.1.2.3" is a token; kept names lose their address text as values do (SPEC §5), also
    # where only a CONNECT's field names are kept (without --keep http-headers).
    request = method + b" HTTP/1.1\r\nHost: example.com\r\n10.1.2.3: x\r\nAccept: */*\r\n\r\n"
    out, stage = mask_frames(http_flow(request, RESP_LEN), keep=keep)
    client = stream_of(out, True)
    assert b"10.1.2.3" not in client and b"\r\n" + bytes(8) + b":" in client and b"Accept:" in client


@given(st.binary(max_size=12))
def test_http_is_token_by_the_rfc(name):
    tchar = set(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert is_token(name) == (bool(name) and all(c in tchar for c in name))


def test_http_pipelined_head_and_close_delimited():
    frames = http_flow(HEAD_REQ + REQ, HEAD_RESP + CLOSE_RESP)
    out, stage = mask_frames(frames, keep=("http-headers",))
    server = stream_of(out, False)
    assert server == HEAD_RESP + CLOSE_RESP[: CLOSE_RESP.index(b"\r\n\r\n") + 4] + bytes(32)
    assert stage.stats()["fail_closed_events"] == 0


def test_http_without_option_is_zeroed():
    frames = http_flow(REQ, RESP_LEN)
    out, _ = mask_frames(frames)
    assert stream_of(out, True) == bytes(len(REQ)) and stream_of(out, False) == bytes(len(RESP_LEN))


def test_http_connect_then_tls():
    req = b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
    resp = b"HTTP/1.1 200 Connection established\r\n\r\n"
    f = Flow(server=("10.0.0.2", 3128))
    frames = f.handshake() + [
        f.frame(True, req),
        f.frame(False, resp),
        f.frame(True, TLS_C, seq=len(req)),
        f.frame(False, TLS_S, seq=len(resp)),
    ]
    out, stage = mask_frames(frames, keep=("http-headers",))
    assert payload(out[3]) == req and payload(out[4]) == resp
    assert payload(out[5])[:20] == TLS_C[:20] and payload(out[5])[-100:] == bytes(100)
    assert stage.stats()["tls_records"]["handshake"] == 2


def test_http_garbage_after_headers_fails_closed():
    bad = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nNOT HTTP AT ALL\r\nmore\r\n"
    frames = http_flow(bad, b"")
    out, stage = mask_frames(frames, keep=("http-headers",))
    assert stream_of(out, True) == bad[:27] + bytes(len(bad) - 27)
    assert stage.stats()["fail_closed"]["desync"] == 1


def test_proto_tls_records_leaves_a_partial_record():
    from pktmask_nb.proto.tls import records

    data = handshake(10) + app_data(4) + app_data(9)[:7]
    found, consumed = records(data)
    assert [(t, n) for _, t, n in found] == [(22, 14), (23, 4)] and consumed == len(handshake(10) + app_data(4))
    assert records(b"\x17\x03\x03\xff\xff" + bytes(10)) == ([], 0)  # length beyond 2^14 + 2048: invalid


def test_proto_http_parsers():
    from pktmask_nb.proto.http import (
        has_chunked,
        looks_like_http,
        parse_chunk_size,
        parse_request_line,
        parse_status_line,
    )

    assert (
        looks_like_http(b"GET / HTTP/1.1") and looks_like_http(b"PO") is None and looks_like_http(b"\x16\x03") is False
    )
    assert parse_request_line(b"DELETE /x HTTP/1.0\r\n") == b"DELETE" and parse_request_line(b"GET /x\r\n") is None
    assert parse_status_line(b"HTTP/1.1 304 Not Modified\r\n") == 304 and parse_status_line(b"HTTP/1.1 20x\r\n") is None
    assert parse_chunk_size(b"1A;name=v\r\n") == 26 and parse_chunk_size(b"zz\r\n") is None
    assert has_chunked(b"gzip, chunked") and not has_chunked(b"chunked, gzip")


FIELD_BYTES = st.sampled_from(list(b"aZ:-; \t\r\n\x0b\x0c\x00\xc4\xe4"))


@settings(max_examples=500, deadline=None)
@given(st.lists(FIELD_BYTES, max_size=24).map(bytes), st.integers(0, 30), st.booleans())
def test_http_field_cutting_matches_the_bytes_methods(text, pos, mutable):
    """The C cuts the HTTP walker makes of a line (`next_line`, `line_end_len`, `field_colon`,
    `field_name`, `field_value`) against the ``bytes`` methods they replace."""
    from pktmask_nb.proto.http import field_colon, field_name, field_value, line_end_len, next_line

    data = bytearray(text) if mutable else text
    pos = min(pos, len(text))
    nl = text.find(b"\n", pos)
    assert next_line(data, pos) == (None if nl < 0 else text[pos : nl + 1])
    line = text + b"\n"
    eol = line_end_len(line)
    assert eol == (2 if line.endswith(b"\r\n") else 1)
    colon = field_colon(line)
    assert colon == line.find(b":")
    if colon > 0:
        assert field_name(line, colon) == line[:colon].strip().lower()
        assert field_value(line, colon, eol) == line[colon + 1 : len(line) - eol].strip()


TEXT_LINES = [
    b"STARTTLS\r\n",
    b"a1 starttls\r\n",
    b"stls\n",
    b"AUTH TLS\r\n",
    b"auth ssl\r\n",
    b"  StartTLS \r\n",
    b"MAIL FROM:<a@b.example>\r\n",
    b"250 TLS go ahead\r\n",
    b"hello SSL world\r\n",
    b"no line end ",
    b"NOOP \0\0\r\n",  # NULs inside a line (a stream starting with them is a masked prelude, not modelled)
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.booleans(), st.lists(st.sampled_from(TEXT_LINES), min_size=1, max_size=4)), max_size=8),
    st.sampled_from([25, 143, 2500]),
    st.booleans(),
)
def test_random_preludes_agree_with_the_model_and_mask_idempotently(turns, port, then_tls):
    """Whatever lines the two sides exchange, the masker keeps no more than the model allows,
    never switches to TLS without a STARTTLS command and a positive reply, and a masked
    capture masked again is unchanged."""
    frames = dialogue(Flow(server=("10.0.0.2", port)), [(c, b"".join(lines)) for c, lines in turns], then_tls)
    out, stage = mask_frames(frames)
    check(frames, out, stage, exact=False)
    again, _ = mask_frames(out)
    assert again == out


def test_dtls_cleartext_bodies_must_be_what_their_type_says():
    beat = b"\x02\x00\x05" + b"SECRT" + bytes(range(16))
    datagrams = [
        dtls_handshake(1, 30) + dtls_record(24, beat, seq=1),  # a heartbeat: its payload zeroed
        dtls_record(21, b"\x02\x28") + dtls_record(21, b"\x09\x28", seq=1),  # the second alert is not one
        dtls_record(22, b"\x14" + bytes(11) + b"SECRET", seq=2),  # a Finished in the clear is not one
        dtls_record(21, b"\x09SECRET-ALERT", seq=3, epoch=1),  # encrypted: kept as the spec says
    ]
    frames = [craft.udp_frame(d) for d in datagrams]
    out, stage = mask_frames(frames)
    check(frames, out, stage, exact=False)
    at = len(dtls_handshake(1, 30)) + 13
    assert payload_udp(out[0]) == datagrams[0][: at + 3] + bytes(len(beat) - 3)
    assert payload_udp(out[1]) == datagrams[1][:15] + bytes(15)
    assert payload_udp(out[2]) == bytes(len(datagrams[2]))
    assert payload_udp(out[3]) == datagrams[3]
