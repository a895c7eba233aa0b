"""The audit in a notebook: reports and findings as DataFrames, and one frame of the original
and the sanitized capture side by side as coloured hex (`compare`).

`compare` asks `pktmask_nb.audit` to explain the frame: each byte range comes with the layer
and field the audit read there and its rule (kept, address, checksum, zero, payload pieces,
open), and each byte is coloured by what the sanitized copy holds against the original.
"""

from __future__ import annotations

import html
import os

import pandas as pd

from ..audit import AuditReport, Finding, audit

FINDING_COLUMNS = ["kind", "frame", "offset", "where", "layer", "coincidence", "detail"]
# byte status -> (background, what it means)
STATUS = {
    "kept": ("#c8e6c9", "kept: equal to the original, not zero"),
    "rewritten": ("#bbdefb", "rewritten: differs from the original (an address or a checksum)"),
    "zeroed": ("#e0e0e0", "zeroed: the original was not zero"),
    "zero": ("#ffffff", "zero in both"),
}
ROW = 16


def audit_frame(reports) -> pd.DataFrame:
    """One row per report (a report, or a dict ``name -> report``): verdict, packets, findings
    by kind, bytes not judged, addresses searched."""
    rows = []
    for name, r in _named(reports):
        row = {"file": name, "verdict": r.verdict, "packets": r.packets, "duplicates": r.duplicates}
        row.update({"findings": len(r), **r.counts, "undecided_bytes": r.undecided_bytes})
        row.update({f"{v}_searched": n for v, n in r.addresses.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def findings_frame(reports) -> pd.DataFrame:
    """The findings of a report (or of a dict ``name -> report``, with a ``file`` column)."""
    named = not isinstance(reports, AuditReport)
    columns = (["file"] if named else []) + FINDING_COLUMNS
    rows = [
        {**({"file": name} if named else {}), **{c: getattr(f, c) for c in FINDING_COLUMNS}}
        for name, r in _named(reports)
        for f in r.findings
    ]
    return pd.DataFrame(rows, columns=columns)


def undecided_frame(report: AuditReport) -> pd.DataFrame:
    """Why the verdict is undecided: per reason, the bytes and frames not judged, and the first."""
    rows = [{"reason": reason, **entry} for reason, entry in report.undecided.items()]
    return pd.DataFrame(rows, columns=["reason", "bytes", "frames", "frame", "offset"])


def _named(reports):
    if isinstance(reports, AuditReport):
        return [(os.path.basename(reports.sanitized), reports)]
    return list(reports.items())


def compare(original, sanitized, frame: int | None = None, *, finding: Finding | None = None, **settings):
    """Frame `frame` (1-based, of the sanitized file) of both captures side by side.

    Parameters
    ----------
    original, sanitized : path
    frame : int
        The sanitized frame to show; or give `finding` to show its frame, its bytes outlined.
    finding : Finding
        A finding of an audit of these two files (``report.findings[i]``).
    **settings
        As for `pktmask_nb.audit` (``http_headers``, ``keep``): the audit runs again, asked
        to explain the frame.

    Returns
    -------
    FrameView
        Shows itself as HTML; ``regions`` is a DataFrame of what the audit read.
    """
    if finding is not None:
        if finding.frame is None:
            raise ValueError(f"the finding is outside packets (in the file's container): {finding}")
        frame = finding.frame
    if frame is None:
        raise ValueError("give a frame number or a finding")
    report = audit(original, sanitized, explain=[frame], raise_on_findings=False, limit=0, **settings)
    if frame not in report.explained:
        raise ValueError(f"{sanitized} has no frame {frame} ({report.packets} packets)")
    return FrameView(frame, report.explained[frame], finding)


class FrameView:
    """A frame of the original and of the sanitized capture, judged byte by byte.

    Attributes
    ----------
    frame : int
    original, sanitized : bytes
    regions : pandas.DataFrame
        ``start``, ``end`` (offsets in the frame), ``layer`` (what the audit read there),
        ``rule`` (``kept``, ``address``, ``checksum``, ``zero``, ``open``) and how many bytes
        are kept, rewritten and zeroed.
    status : list of str
        Per byte: ``kept``, ``rewritten``, ``zeroed`` or ``zero`` (see `STATUS`).
    """

    def __init__(self, frame: int, explained: dict, finding: Finding | None = None):
        self.frame, self.finding = frame, finding
        self.original, self.sanitized = explained["original"], explained["sanitized"]
        self.status = [_status(o, s) for o, s in zip(self.original, self.sanitized)]
        self.marked = range(0)
        if finding is not None:
            at = finding.offset - explained["base"]
            end = at + 1
            while end < len(self.sanitized) and self.sanitized[end]:
                end += 1  # the run of non-zero bytes the finding starts
            self.marked = range(at, end)
        rows = []
        for start, end, layer, rule in sorted(explained["regions"]):
            counts = {k: self.status[start:end].count(k) for k in ("kept", "rewritten", "zeroed")}
            rows.append({"start": start, "end": end, "layer": layer, "rule": rule, **counts})
        self.regions = pd.DataFrame(rows, columns=["start", "end", "layer", "rule", "kept", "rewritten", "zeroed"])
        self._labels = [""] * len(self.original)
        for start, end, layer, rule in explained["regions"]:
            for i in range(start, min(end, len(self._labels))):
                self._labels[i] = f"{layer} ({rule})"

    def __repr__(self) -> str:
        counts = {k: self.status.count(k) for k in STATUS}
        return f"<FrameView frame {self.frame}: {len(self.original)} bytes, " + ", ".join(
            f"{n} {k}" for k, n in counts.items()
        ) + ">"  # fmt: skip

    def _repr_html_(self) -> str:
        anchor = f"pktmask-frame-{self.frame}-{id(self)}"
        head = f"<b>Frame {self.frame}</b>: {len(self.original)} bytes. "
        legend = " ".join(
            f'<span style="background:{color};padding:0 4px">{html.escape(text)}</span>'
            for color, text in STATUS.values()
        )
        if self.finding is not None:
            head += f'<span style="color:#b71c1c">{html.escape(str(self.finding))}</span>'
        target = self.marked[0] // ROW if self.marked else None
        rows = []
        for row in range(0, len(self.original), ROW):
            cells = range(row, min(row + ROW, len(self.original)))
            row_id = f' id="{anchor}-row"' if row // ROW == target else ""
            rows.append(
                f"<tr{row_id}><td style='color:#888'>{row:04x}</td>"
                f"<td>{self._hex(self.original, cells)}</td><td>{self._hex(self.sanitized, cells)}</td></tr>"
            )
        table = (
            f'<div id="{anchor}" style="max-height:28em;overflow:auto;font-family:monospace">'
            "<table><tr><th>offset</th><th>original</th><th>sanitized</th></tr>" + "".join(rows) + "</table></div>"
        )
        scroll = ""
        if target is not None:  # jump to the finding inside the scrolled box
            scroll = (
                f"<script>(function(){{var box=document.getElementById('{anchor}'),"
                f"row=document.getElementById('{anchor}-row');if(box&&row){{box.scrollTop=row.offsetTop-box.offsetTop;}}}})();"
                "</script>"
            )
        return f"<div>{head}<br>{legend}{table}{scroll}{self.regions.to_html(index=False)}</div>"

    def _hex(self, data: bytes, cells: range) -> str:
        out = []
        for i in cells:
            color = STATUS[self.status[i]][0]
            outline = "outline:2px solid #d32f2f;" if i in self.marked else ""
            title = html.escape(f"{i}: {self._labels[i] or 'not read'}")
            out.append(f'<span title="{title}" style="background:{color};{outline}">{data[i]:02x}</span>')
        return " ".join(out)


def _status(o: int, s: int) -> str:
    if s == 0:
        return "zeroed" if o else "zero"
    return "kept" if s == o else "rewritten"
