"""Which files a run reads and writes: input discovery and output naming (SPEC §7)."""

from __future__ import annotations

import os

from .capture import check_output
from .errors import UsageError

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
GZIP_SUFFIX = ".gz"


def is_capture_name(name: str) -> bool:
    """True for ``*.pcap``, ``*.pcapng``, ``*.cap`` and their ``.gz`` forms."""
    name = name.lower()
    if name.endswith(GZIP_SUFFIX):
        name = name[: -len(GZIP_SUFFIX)]
    return name.endswith(CAPTURE_SUFFIXES)


def output_name(name: str) -> str:
    """The output name for an input name: ``x.pcap.gz`` → ``x.pcap`` (output is uncompressed)."""
    return name[: -len(GZIP_SUFFIX)] if name.lower().endswith(GZIP_SUFFIX) else name


def _walk(directory: str, skip: str | None) -> list[str]:
    found = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and os.path.join(root, d) != skip)
        found += [os.path.join(root, f) for f in sorted(files) if is_capture_name(f)]
    return found


def plan(inputs: list, output, *, force: bool = False) -> list[tuple[str, str]]:
    """Pair every input capture with its output path, refusing anything unsafe up front.

    One input file gives one output file. Otherwise `output` is a directory (created if
    needed) that mirrors the inputs: a file input goes to ``output/name``, a directory
    input's captures (recursive) to ``output/relative/path``.

    Raises
    ------
    UsageError
        Missing input, no capture found, two inputs mapping to one output, an output that
        is an input or exists without `force`.
    """
    inputs = [os.fspath(p) for p in inputs]
    output = os.fspath(output)
    for path in inputs:
        if not os.path.exists(path):
            raise UsageError("no such file or directory", path=path)
    if len(inputs) == 1 and not os.path.isdir(inputs[0]):
        check_output(inputs, output, force=force)
        return [(inputs[0], output)]
    if os.path.exists(output) and not os.path.isdir(output):
        raise UsageError("several inputs need an output directory, but this is a file", path=output)
    skip = os.path.realpath(output)
    pairs = []
    for path in inputs:
        if os.path.isdir(path):
            for found in _walk(path, skip):
                pairs.append((found, os.path.join(output, output_name(os.path.relpath(found, path)))))
        else:
            pairs.append((path, os.path.join(output, output_name(os.path.basename(path)))))
    if not pairs:
        raise UsageError("no capture files (*.pcap, *.pcapng, *.cap, and .gz of them) found", path=inputs[0])
    seen = {}
    for source, target in pairs:
        if target in seen:
            raise UsageError(f"both {seen[target]} and {source} would be written here", path=target)
        seen[target] = source
    every_input = [source for source, _ in pairs]
    for _, target in pairs:
        check_output(every_input, target, force=force)
    return pairs


def make_parents(pairs: list[tuple[str, str]]) -> None:
    """Create the output directories a plan needs."""
    for _, target in pairs:
        parent = os.path.dirname(target)
        if parent:
            os.makedirs(parent, exist_ok=True)
