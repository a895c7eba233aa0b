"""``--keep http-headers`` on the shared HTTP captures: tshark's view, and bodies checked on reassembled streams."""

from __future__ import annotations

import re
from collections import defaultdict

import mask_model
import oracle
import pytest
import tshark as ts
from test_mask_shared import mask, out_name

START_FIELDS = ["http.request.method", "http.request.uri", "http.response.code", "http.content_length_header", "http.chunk_size"]  # fmt: skip
SENSITIVE_FIELDS = ["http.cookie", "http.set_cookie", "http.authorization", "http.proxy_authorization"]
SENSITIVE = re.compile(
    rb"^(cookie|set-cookie|authorization|proxy-authorization|content-encoding)\s*:(.*)$", re.I | re.M
)


@pytest.fixture
def masked_http(shared_capture, tmp_path):
    if not ts.count(shared_capture, "http.request || http.response"):
        pytest.skip("no HTTP in this capture")
    out = tmp_path / out_name(shared_capture)
    return shared_capture, out, mask(shared_capture, out, keep=("http-headers",))


ADDRESS_TEXT = re.compile(r"(?<![0-9.])\d{1,3}(\.\d{1,3}){3}(?![0-9])|[0-9A-Fa-f]*:[0-9A-Fa-f:]*:[0-9A-Fa-f.]*")


def up_to_address(row: list[str]) -> list[str]:
    """Fields as far as the first address written as text (SPEC §5 zeroes it; tshark stops at the zeros)."""
    return [ADDRESS_TEXT.split(value, 1)[0] for value in row]


def test_tshark_methods_uris_codes_and_framing_unchanged(masked_http):
    src, out, _ = masked_http
    after = [up_to_address(row) for row in ts.fields(out, START_FIELDS, two_pass=True)]
    assert after == [up_to_address(row) for row in ts.fields(src, START_FIELDS, two_pass=True)]


def test_tshark_sensitive_values_are_zero(masked_http):
    _, out, _ = masked_http
    for row in ts.fields(out, SENSITIVE_FIELDS):
        for value in row:
            assert value.replace("\\000", "").replace(",", "").strip() == "", value


def test_no_new_malformed(masked_http):
    src, out, _ = masked_http
    assert ts.malformed(out) <= ts.malformed(src)


def streams(path) -> dict:
    """Each TCP direction's bytes from its start to its first gap (first copy wins), by the model's reassembly."""
    dirs = defaultdict(mask_model.Direction)
    for data, _, linktype in oracle.frames(path):
        info = mask_model.parse(data, linktype)
        if info is None or info.get("quoted") or info["proto"] != 6:
            continue
        d = dirs[info["key"]]
        if info["flags"] & 2 and d.isn is None:
            d.isn = (info["seq"] + 1) % 2**32
        d.segments.append((0, info["seq"], 1 if info["flags"] & 2 else 0, bytes(data[info["start"] : info["end"]]), 0))
    return {k: d.place()[1] for k, d in dirs.items()}


def http_bodies(stream: bytes):
    """Yield ``(header_block, body_bytes)`` of each message, framed the simple way (no HEAD/1xx subtleties)."""
    pos = 0
    while pos < len(stream):
        end = stream.find(b"\r\n\r\n", pos)
        if end < 0:
            return
        head = stream[pos : end + 4]
        pos = end + 4
        length = re.search(rb"^content-length\s*:\s*(\d+)", head, re.I | re.M)
        if re.search(rb"^transfer-encoding\s*:.*chunked", head, re.I | re.M):
            body = b""
            while True:
                nl = stream.find(b"\r\n", pos)
                size = int(stream[pos:nl].split(b";")[0].strip(b" \0") or b"0", 16) if nl >= 0 else 0
                body += stream[nl + 2 : nl + 2 + size]
                pos = nl + 2 + size + 2
                if not size or nl < 0:
                    pos = stream.find(b"\r\n\r\n", pos - 2) + 4 if nl >= 0 else len(stream)
                    break
        elif length:
            body, pos = stream[pos : pos + int(length.group(1))], pos + int(length.group(1))
        elif head.startswith(b"HTTP/") and head[9:12] not in (b"204", b"304") and head[9:10] != b"1":
            body, pos = stream[pos:], len(stream)
        else:
            body = b""
        yield head, body


def test_bodies_and_sensitive_values_zero_in_reassembled_streams(masked_http):
    src, out, _ = masked_http
    before, after = streams(src), streams(out)
    checked = 0
    for key, stream in after.items():
        if not re.match(rb"(GET|POST|HEAD|PUT|HTTP/1\.)[ /]", before.get(key, b"")):
            continue
        for head, body in http_bodies(stream):
            assert body == bytes(len(body)), f"non-zero body bytes in {head[:60]!r}"
            for _, value in SENSITIVE.findall(head):
                assert value.strip(b"\r\0 ") == b"", f"sensitive value kept: {value[:40]!r}"
            checked += 1
    assert checked > 0
