"""Which files a run reads and writes: input discovery and output naming (SPEC §7)."""

from __future__ import annotations

import itertools
import json
import os

from .capture import check_output
from .capture.writer import STDIO, drop_temp, make_temp
from .errors import OutputError, UsageError
from .rows import Rows

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
        # regular files only: a FIFO found here would block the run until something writes it
        found += [os.path.join(root, f) for f in sorted(files) if is_capture_name(f) and _regular(root, f)]
    return found


def _regular(root: str, name: str) -> bool:
    return os.path.isfile(os.path.join(root, name))


def plan(inputs: list, output, *, force: bool = False) -> list[tuple[str, str]]:
    """Pair every input capture with its output path, refusing anything unsafe up front.

    One input file gives one output file. Otherwise `output` is a directory (created if
    needed) that mirrors the inputs: a file input goes to ``output/name``, a directory
    input's captures (recursive, regular files only) to ``output/relative/path``. ``-`` is
    standard input (alone, with an output file or ``-``) or standard output (for one input).

    Raises
    ------
    UsageError
        Missing input, no capture found, two inputs mapping to one output, an output that
        is an input or exists without `force`.
    """
    inputs = [os.fspath(p) for p in inputs]
    output = os.fspath(output)
    if STDIO in inputs and len(inputs) > 1:
        raise UsageError("standard input (-) can only be the one input")
    for path in inputs:
        if path != STDIO and not os.path.exists(path):
            raise UsageError("no such file or directory", path=path)
    if output == STDIO and (len(inputs) > 1 or os.path.isdir(inputs[0])):
        raise UsageError("standard output (-) takes one input file")
    if inputs == [STDIO] and os.path.isdir(output):
        raise UsageError("standard input needs an output file name, or - for standard output", path=output)
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
    """Create the output directories a plan needs.

    Raises
    ------
    UsageError
        A directory cannot be made (a file is in the way, no permission).
    """
    for _, target in pairs:
        parent = os.path.dirname(target)
        if parent and target != STDIO:
            try:
                os.makedirs(parent, exist_ok=True)
            except OSError as e:
                what = "a file is in the way" if isinstance(e, FileExistsError | NotADirectoryError) else e.strerror
                raise UsageError(f"cannot make the output directory: {what}", path=parent) from None


def check_side_file(path: str, what: str, pairs=()) -> None:
    """Refuse, before a run, a path for a report, a mapping or results that could not be
    written after it (its directory may be one the plan `pairs` will make).

    Raises
    ------
    UsageError
    """
    if not path:
        raise UsageError(f"the {what} file name is empty")
    if path.endswith(os.sep) or os.path.isdir(path):
        raise UsageError(f"{what} is a directory, expected a file name", path=path)
    directory = os.path.dirname(os.path.abspath(path))
    planned = {os.path.abspath(os.path.dirname(target)) for _, target in pairs if target != STDIO}
    while directory in planned and not os.path.isdir(directory):
        directory = os.path.dirname(directory)  # made with the outputs: its parent must be writable
    if not os.path.isdir(directory):
        raise UsageError(f"{what} directory does not exist", path=directory)
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the {what} here: permission denied", path=directory)


def write_text(path: str, text, *, private: bool = False) -> None:
    """Write `text` (a string, or strings one after another) to `path` atomically (a temporary
    file beside it, renamed), mode 0600 when `private`; on failure nothing is left behind.

    Raises
    ------
    OutputError
    """
    fd, temp = make_temp(path, private=private)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            if isinstance(text, str):
                f.write(text)
            else:
                f.writelines(text)
        os.replace(temp, path)
        drop_temp(temp, remove=False)
    except BaseException as e:
        drop_temp(temp)
        if isinstance(e, OSError):
            raise OutputError(f"cannot write: {e.strerror or e}", path=path) from None
        raise


def _is_row(value) -> bool:
    """A table row: a dict holding no list (its values scalars or dicts of scalars)."""
    return type(value) is dict and not any(type(v) is list for v in value.values())


def _json_pieces(value, indent: str, head: str):
    """The text of `value` in pieces, its first line after `head`, no newline after its last:
    a report's tables reach 10^5 rows, so they are written as they are made, never whole."""
    deeper = indent + " "
    if type(value) is dict and value:
        yield head + "{"
        separator = "\n"
        for key, item in value.items():
            name = key if type(key) is str else json.dumps(key)  # as json writes a number, bool or None key
            yield separator
            yield from _json_pieces(item, deeper, f"{deeper}{json.dumps(name)}: ")
            separator = ",\n"
        yield "\n" + indent + "}"
    elif type(value) is Rows and not value:
        yield head + "[]"
    elif type(value) is Rows or type(value) is list and any(type(v) is dict or type(v) is list for v in value):
        yield head + "["
        separator = "\n"
        for item in value:
            yield separator
            if _is_row(item):  # one line a row, by the C encoder
                yield deeper + json.dumps(item, separators=(", ", ": "))
            else:
                yield from _json_pieces(item, deeper, deeper)
            separator = ",\n"
        yield "\n" + indent + "]"
    else:
        yield head + json.dumps(value, separators=(", ", ": "))


def json_text(doc) -> str:
    """`doc` as JSON for people and programs: objects one key a line, table rows one a line."""
    return "".join(_json_pieces(doc, "", "")) + "\n"


def write_json(path: str, doc) -> None:
    """Write `doc` atomically as `json_text`, piece by piece."""
    write_text(path, itertools.chain(_json_pieces(doc, "", ""), ("\n",)))
