"""The audit in the notebook layer: reports and findings as DataFrames, a frame side by side."""

from __future__ import annotations

import re

import pytest

pd = pytest.importorskip("pandas")
nb = pytest.importorskip("pktmask_nb.notebook")

from conftest import DATA  # noqa: E402

import pktmask_nb  # noqa: E402
from pktmask_nb.audit import Finding  # noqa: E402
from pktmask_nb.config import AnonymizeConfig, Config  # noqa: E402

KEY = bytes(range(32))
SOURCE = DATA / "tls_http.pcap"


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "out.pcap"
    pktmask_nb.run(SOURCE, out, Config(anonymize=AnonymizeConfig(key=KEY)))
    return out


def test_reports_and_findings_as_frames(sanitized):
    clean = pktmask_nb.audit(SOURCE, sanitized)
    leaked = pktmask_nb.audit(SOURCE, SOURCE, raise_on_findings=False, limit=5)
    summary = nb.audit_frame({"clean": clean, "leaked": leaked})
    assert list(summary["verdict"]) == ["clean", "findings"]
    assert summary.loc[1, "findings"] == len(leaked) and summary.loc[1, "address"] == leaked.counts["address"]
    found = nb.findings_frame(leaked)
    assert list(found.columns) == nb.audit.FINDING_COLUMNS and len(found) == 5
    assert list(found["offset"]) == [f.offset for f in leaked.findings]
    assert nb.findings_frame({"a": clean}).empty and "file" in nb.findings_frame({"a": clean}).columns
    assert nb.undecided_frame(clean).empty


def test_compare_colours_every_byte_by_what_the_sanitized_copy_holds(sanitized):
    view = nb.compare(SOURCE, sanitized, 4)
    o, s = view.original, view.sanitized
    assert len(view.status) == len(o) == len(s)
    for i, status in enumerate(view.status):
        expected = ("zeroed" if o[i] else "zero") if not s[i] else "kept" if s[i] == o[i] else "rewritten"
        assert status == expected
    assert {"kept", "rewritten"} <= set(view.status)  # headers kept, addresses rewritten
    regions = view.regions
    assert regions.loc[regions["layer"] == "ipv4 source", "rule"].tolist() == ["address"]
    assert (regions["rewritten"] > 0).any() and regions["end"].max() == len(o)
    page = view._repr_html_()
    for color, _ in nb.audit.STATUS.values():
        assert color in page
    assert 'title="26: ipv4 source (address)"' in page  # each byte says what the audit read there


def test_compare_jumps_to_a_finding(sanitized, tmp_path):
    leaked = pktmask_nb.audit(SOURCE, SOURCE, raise_on_findings=False, limit=10_000)
    finding = next(f for f in leaked.findings if f.kind == "tls_app_data")
    view = nb.compare(SOURCE, SOURCE, finding=finding)
    assert view.frame == finding.frame and len(view.marked) >= 1
    page = view._repr_html_()
    assert page.count("outline:2px solid") == 2 * len(view.marked)  # in both columns
    row = re.search(r'<tr id="([^"]+)-row"><td[^>]*>([0-9a-f]{4})</td>', page)
    assert row and int(row.group(2), 16) == view.marked[0] // 16 * 16 and "scrollTop" in page
    with pytest.raises(ValueError, match="has no frame 999"):
        nb.compare(SOURCE, sanitized, 999)
    outside = Finding("metadata", None, 0, "SHB comment", "container")
    with pytest.raises(ValueError, match="outside packets"):
        nb.compare(SOURCE, sanitized, finding=outside)
