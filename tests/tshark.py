"""tshark as an independent oracle: run it on a capture and read fields back."""

from __future__ import annotations

import subprocess

CHECKSUM_PREFS = [
    "-o", "ip.check_checksum:TRUE",
    "-o", "tcp.check_checksum:TRUE",
    "-o", "udp.check_checksum:TRUE",
]  # fmt: skip


def fields(
    path, names: list[str], *, display_filter: str | None = None, two_pass: bool = False, prefs=()
) -> list[list[str]]:
    """One row per packet (matching `display_filter`) with the values of `names` ("" when absent)."""
    cmd = [
        "tshark",
        "-n",
        "-r",
        str(path),
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]
    if two_pass:
        cmd.append("-2")
    cmd += list(prefs)
    if display_filter:
        cmd += ["-Y", display_filter]
    for name in names:
        cmd += ["-e", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def count(path, display_filter: str, *, prefs=(), two_pass: bool = False) -> int:
    """Number of packets matching `display_filter`."""
    return len(fields(path, ["frame.number"], display_filter=display_filter, prefs=prefs, two_pass=two_pass))


def malformed(path) -> int:
    """Packets tshark marks malformed or with expert errors."""
    return count(path, "_ws.malformed || _ws.expert.severity == error")
