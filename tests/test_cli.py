"""The CLI (SPEC §7): exit codes, one-line errors, no partial output, inputs untouched."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import struct
import subprocess
import sys

import pytest
from captures import epb, frame, idb, pcap, pcap_header, shb, spb
from conftest import DATA
from hypothesis import given, settings
from hypothesis import strategies as st


def cli(*args, cwd=None):
    cmd = [sys.executable, "-m", "pktmask_nb.cli", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)


def good_capture(tmp_path, name="in.pcap", n=20):
    path = tmp_path / name
    path.write_bytes(pcap([frame(i % 15) for i in range(n)]))
    return path


BAD_INPUTS = {
    "empty": (b"", "file is empty"),
    "random-bytes": (bytes(range(7, 200)), "not a pcap or pcapng capture: data starts with magic 0708090a"),
    "truncated-global-header": (pcap_header()[:13], "less than the 24-byte pcap file header"),
    "truncated-last-record": (pcap([frame(1), frame(2)])[:-7], "byte 100: file ends inside the last record"),
    "absurd-caplen": (
        pcap_header() + struct.pack("<IIII", 0, 0, 0x7FFFFFFF, 60) + bytes(60),
        "byte 24: record caplen 2147483647 is impossible",
    ),
    "pcapng-length-mismatch": (
        shb() + idb() + epb(frame(1))[:-4] + struct.pack("<I", 1234),
        "header says 92, trailer says 1234",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_gives_one_line_error_exit_2_and_no_output(tmp_path, case):
    data, message = BAD_INPUTS[case]
    src = tmp_path / "bad.pcap"
    src.write_bytes(data)
    out = tmp_path / "out.pcap"
    done = cli("run", src, "-o", out, "--stages", "dedup")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("pktmask-nb: error: ") and str(src) in lines[0] and message in lines[0]
    assert "Traceback" not in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.pcap"]  # no output, no temporary file
    assert src.read_bytes() == data  # input untouched


def test_missing_input(tmp_path):
    done = cli("run", tmp_path / "nope.pcap", "-o", tmp_path / "out.pcap", "--stages", "none")
    assert done.returncode == 2
    assert done.stderr.strip() == f"pktmask-nb: error: {tmp_path / 'nope.pcap'}: no such file or directory"
    assert not (tmp_path / "out.pcap").exists()


def test_output_equal_to_input_is_refused(tmp_path):
    src = good_capture(tmp_path)
    before = src.read_bytes()
    for target in (src, tmp_path / "." / "in.pcap"):
        done = cli("run", src, "-o", target, "--stages", "dedup", "--force")
        assert done.returncode == 2
        assert "same file as an input" in done.stderr and len(done.stderr.splitlines()) == 1
        assert src.read_bytes() == before


def test_hard_link_to_input_is_refused(tmp_path):
    src = good_capture(tmp_path)
    os.link(src, tmp_path / "alias.pcap")
    done = cli("run", src, "-o", tmp_path / "alias.pcap", "--stages", "none", "--force")
    assert done.returncode == 2 and "same file as an input" in done.stderr


def test_existing_output_needs_force(tmp_path):
    src = good_capture(tmp_path)
    out = tmp_path / "out.pcap"
    out.write_bytes(b"keep me")
    done = cli("run", src, "-o", out, "--stages", "dedup")
    assert done.returncode == 2 and "--force" in done.stderr
    assert out.read_bytes() == b"keep me"
    done = cli("run", src, "-o", out, "--stages", "dedup", "--force")
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == pcap([frame(i) for i in range(15)])


@pytest.mark.parametrize(
    "args,message",
    [
        (["--stages", "dedup,shuffle"], "unknown stage shuffle"),
        (["--chunk-size", "0"], "chunk size must be an integer from 1"),
        (["--dedup-window", "0"], "window_packets must be >= 1"),
        (["--key", "abc"], "--key must be 64 hex digits"),
        (["--keep", "everything"], "mask keep must be among"),
        (["--mask-max-flows", "0"], "mask max_flows must be >= 1"),
        (["--mask-idle-timeout", "0"], "mask idle_timeout must be > 0"),
        (["--mask-udp-idle-timeout", "-1"], "mask udp_idle_timeout must be > 0"),
        (["--mask-hold-packets", "-1"], "mask max_held_packets must be >= 0"),
    ],
)
def test_bad_options_are_usage_errors(tmp_path, args, message):
    src = good_capture(tmp_path)
    done = cli("run", src, "-o", tmp_path / "out.pcap", *args)
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "out.pcap").exists()


def test_argparse_errors_are_one_line_exit_2(tmp_path):
    done = cli("run", tmp_path / "x.pcap")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("pktmask-nb run: error:")
    assert len(done.stderr.strip().splitlines()) == 1


def test_directory_input_mirrors_names_and_decompresses(tmp_path):
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    good_capture(src, "a.pcap")
    (src / "sub" / "b.pcap.gz").write_bytes(gzip.compress(pcap([frame(1), frame(1), frame(2)])))
    (src / "sub" / "c.pcapng").write_bytes(shb() + idb() + epb(frame(1)) + epb(frame(1)))
    (src / "notes.txt").write_text("not a capture")
    out = tmp_path / "out"
    done = cli("run", src, "-o", out, "--stages", "dedup", "--report", tmp_path / "r.json")
    assert done.returncode == 0, done.stderr
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == [
        "a.pcap",
        "sub/b.pcap",
        "sub/c.pcapng",
    ]
    assert (out / "sub" / "b.pcap").read_bytes() == pcap([frame(1), frame(2)])[:24] + pcap(
        [frame(1), frame(1), frame(2)]
    )[24:100] + pcap([frame(1), frame(1), frame(2)])[176:]
    assert (out / "sub" / "c.pcapng").read_bytes() == shb() + idb() + epb(frame(1))
    report = json.loads((tmp_path / "r.json").read_text())
    assert [f["packets_out"] for f in report["files"]] == [15, 2, 1]
    assert report["failed"] == []


def test_some_files_failing_gives_exit_1_and_the_rest_is_processed(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    good_capture(src, "good.pcap")
    (src / "bad.pcap").write_bytes(b"garbage!")
    out = tmp_path / "out"
    done = cli("run", src, "-o", out, "--stages", "dedup", "--report", tmp_path / "r.json")
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "bad.pcap" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["good.pcap"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["failed"][0]["input"].endswith("bad.pcap")


def test_every_file_failing_gives_exit_2(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.pcap").write_bytes(b"garbage!")
    (src / "b.pcap").write_bytes(b"")
    done = cli("run", src, "-o", tmp_path / "out", "--stages", "dedup")
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 2


def test_two_inputs_with_one_name_are_refused(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    good_capture(tmp_path / "a", "x.pcap")
    good_capture(tmp_path / "b", "x.pcap")
    done = cli("run", tmp_path / "a" / "x.pcap", tmp_path / "b" / "x.pcap", "-o", tmp_path / "out", "--stages", "none")
    assert done.returncode == 2 and "would be written here" in done.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_truncated_input_can_be_salvaged_with_a_warning(tmp_path):
    src = tmp_path / "cut.pcap"
    src.write_bytes(pcap([frame(1), frame(2), frame(3)])[:-5])
    done = cli("run", src, "-o", tmp_path / "out.pcap", "--stages", "dedup", "--allow-truncated")
    assert done.returncode == 0, done.stderr
    assert "warning" in done.stderr and "byte 176" in done.stderr
    assert (tmp_path / "out.pcap").read_bytes() == pcap([frame(1), frame(2)])


def test_report_holds_stats_and_per_chunk_metrics(tmp_path):
    src = good_capture(tmp_path, n=100)
    done = cli(
        "run",
        src,
        "-o",
        tmp_path / "out.pcap",
        "--stages",
        "dedup",
        "--chunk-size",
        "10",
        "--report",
        tmp_path / "r.json",
    )
    assert done.returncode == 0, done.stderr
    whole = json.loads((tmp_path / "r.json").read_text())
    assert list(whole) == ["files", "failed"] and whole["failed"] == []  # as for many inputs
    [report] = whole["files"]
    assert report["packets_in"] == 100 and report["packets_out"] == 15
    assert report["stages"]["dedup"]["duplicates"] == 85
    assert len(report["chunks"]) == 10
    assert sum(c["packets_in"] for c in report["chunks"]) == 100
    assert all("dedup" in c["stage_seconds"] for c in report["chunks"])
    assert "key" not in json.dumps(report["config"]["anonymize"])


def test_report_rows_one_a_line_and_equal_to_the_result(tmp_path):
    from dataclasses import asdict

    from pktmask_nb.api import run
    from pktmask_nb.cli import write_report
    from pktmask_nb.config import AnonymizeConfig, Config

    src = DATA / "tls_http.pcap"
    result = run(str(src), str(tmp_path / "out.pcap"), Config(chunk_size=10, anonymize=AnonymizeConfig(key=bytes(32))))
    write_report(str(tmp_path / "r.json"), [result], [])
    text = (tmp_path / "r.json").read_text()
    # asdict: the deep copy to_dict avoids; the chunks' metrics go in as dicts
    expected = {**asdict(result), "chunks": [c.to_dict() for c in result.chunks]}
    assert json.loads(text) == {"files": [expected], "failed": []}
    lines = {line.strip().removesuffix(",") for line in text.splitlines()}
    rows = result.mapping + [c.to_dict() for c in result.chunks]
    assert len(rows) > 10 and all(json.dumps(row) in lines for row in rows)  # one line a row
    assert '"processes": 1' in lines  # the rest one key a line


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=5) | st.integers() | st.booleans() | st.none(), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_json_text_reads_back_as_the_document(doc):
    from pktmask_nb.files import json_text

    assert json.loads(json_text(doc)) == json.loads(json.dumps(doc))  # keys become strings as json makes them


def _json_text_as_lines(doc) -> str:
    """`files.json_text` as it was written before it streamed (f58c451): lines in a list, joined."""

    def walk(value, indent, lines, head):
        deeper = indent + " "
        if type(value) is dict and value:
            lines.append(head + "{")
            items = list(value.items())
            for i, (key, item) in enumerate(items):
                walk(item, deeper, lines, f"{deeper}{json.dumps(key if type(key) is str else json.dumps(key))}: ")
                if i + 1 < len(items):
                    lines[-1] += ","
            lines.append(indent + "}")
        elif type(value) is list and any(type(v) is dict or type(v) is list for v in value):
            lines.append(head + "[")
            for item in value:
                if type(item) is dict and not any(type(v) is list for v in item.values()):
                    lines.append(deeper + json.dumps(item, separators=(", ", ": ")) + ",")
                else:
                    walk(item, deeper, lines, deeper)
                    lines[-1] += ","
            lines[-1] = lines[-1][:-1]
            lines.append(indent + "]")
        else:
            lines.append(head + json.dumps(value, separators=(", ", ": ")))

    lines: list[str] = []
    walk(doc, "", lines, "")
    return "\n".join(lines) + "\n"


@settings(max_examples=300, deadline=None)
@given(doc=json_values)
def test_a_json_document_is_written_piece_by_piece_as_it_was_whole(tmp_path_factory, doc):
    from pktmask_nb.files import json_text, write_json

    path = tmp_path_factory.mktemp("json") / "doc.json"
    write_json(str(path), doc)
    assert path.read_text(encoding="utf-8") == json_text(doc) == _json_text_as_lines(doc)


def test_writing_a_report_holds_one_row_of_text_at_a_time(tmp_path):
    """A 10 GB replay maps 180,000 addresses: their 37 MiB of report text were built whole
    (and as a list of lines, 112 MiB above the rows); now each row's line is written as made."""
    import tracemalloc

    from pktmask_nb.files import write_json

    rows = [{"original": f"10.0.{i >> 8}.{i & 255}", "packets": i, "in_dns": False} for i in range(50_000)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        write_json(str(tmp_path / "r.json"), {"tables": {"mapping": rows}})
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert (tmp_path / "r.json").stat().st_size > 2 * 2**20 and peak < 2**20, f"{peak / 2**20:.1f} MiB"
    assert json.loads((tmp_path / "r.json").read_text())["tables"]["mapping"] == rows


def test_no_progress_bar_without_a_terminal(tmp_path):
    src = good_capture(tmp_path)
    done = cli("run", src, "-o", tmp_path / "out.pcap", "--stages", "dedup", "-q")
    assert done.returncode == 0 and done.stderr == "" and done.stdout == ""


def test_progress_bar_on_a_terminal(tmp_path):
    import fcntl
    import pty
    import termios

    src = good_capture(tmp_path, n=2000)
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a terminal 80 columns wide
    cmd = [
        sys.executable,
        "-m",
        "pktmask_nb.cli",
        "run",
        str(src),
        "-o",
        str(tmp_path / "out.pcap"),
        "--stages",
        "dedup",
        "--chunk-size",
        "100",
    ]
    process = subprocess.Popen(cmd, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closed
            break
        if not data:
            break
        seen += data
    assert process.wait() == 0
    os.close(leader)
    assert b"B/s" in seen or b"%|" in seen  # tqdm drew a bar
    assert b"2000 packets in, 15 out" in seen


def test_mapping_out_merges_files_with_and_without_timestamps(tmp_path):
    """A pcapng of simple packets (no timestamps) and a pcap with the same addresses: one row per address."""
    from craft import udp_frame

    frames = [udp_frame(b"x" * 10), udp_frame(b"y" * 10, src=("10.0.0.2", 4433), dst=("10.0.0.1", 40000))]
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "a.pcapng").write_bytes(shb() + idb() + b"".join(spb(f) for f in frames))
    (inputs / "b.pcap").write_bytes(pcap(frames))
    mapping = tmp_path / "mapping.csv"
    r = cli("run", inputs, "-o", tmp_path / "out", "--stages", "anonymize", "--mapping-out", mapping, "--no-progress")
    assert r.returncode == 0, r.stderr
    rows = {row["original"]: row for row in csv.DictReader(mapping.open(newline=""))}
    assert set(rows) == {"10.0.0.1", "10.0.0.2"}
    assert {row["packets"] for row in rows.values()} == {"4"}
    assert {row["first_seen"] for row in rows.values()} != {""}


def test_mapping_out_of_one_file_is_written_a_row_at_a_time(tmp_path):
    """`--mapping-out` of a 10 GB replay (180,000 addresses) copied every row into a dict and
    built the CSV whole; one file's rows are now written as its table makes them."""
    import gc
    import tracemalloc
    from types import SimpleNamespace

    from pktmask_nb.anon import AddressMapper
    from pktmask_nb.anon.table import AddressTable
    from pktmask_nb.cli import MAPPING_COLUMNS, write_mapping

    table = AddressTable(AddressMapper(bytes(range(32))).anonymize)
    for i in range(20_000):
        table.see(struct.pack("!I", 0x0A000000 + i), i + 1, None if i % 3 else 1_700_000_000_000_000_000 + i, 0)
    result = SimpleNamespace(mapping=table.rows())
    write_mapping(str(tmp_path / "warm.csv"), [result])  # imports
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        write_mapping(str(tmp_path / "m.csv"), [result])
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak / 2**20:.1f} MiB"
    whole = io.StringIO(newline="")
    writer = csv.DictWriter(whole, fieldnames=MAPPING_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(list(table.rows()))
    assert (tmp_path / "m.csv").read_bytes().decode() == whole.getvalue() and whole.getvalue().count("\n") == 20_001


def test_mask_limits_reach_the_stage(tmp_path):
    """--mask-* options set the mask's limits: the report's config shows them, and with one
    tracked flow at a time the others are evicted (counted)."""
    src = DATA / "tls_http.pcap"
    outs = []
    limits = ["--mask-max-flows", "1", "--mask-idle-timeout", "2.5", "--mask-udp-idle-timeout", "1.5"]
    for extra in ([], [*limits, "--mask-hold-packets", "0"]):
        out, report = tmp_path / f"o{len(extra)}.pcap", tmp_path / f"r{len(extra)}.json"
        done = cli("run", src, "-o", out, "--stages", "mask", "--report", report, "-q", *extra)
        assert done.returncode == 0, done.stderr
        [body] = json.loads(report.read_text())["files"]
        outs.append((out.read_bytes(), body))
    (_, default), (_, limited) = outs
    assert default["config"]["mask"]["max_flows"] == 200_000
    assert limited["config"]["mask"]["max_flows"] == 1
    assert limited["config"]["mask"]["idle_timeout"] == 2.5
    assert limited["config"]["mask"]["udp_idle_timeout"] == 1.5
    assert default["config"]["mask"]["udp_idle_timeout"] == 60.0
    assert limited["config"]["mask"]["max_held_packets"] == 0
    assert limited["stages"]["mask"]["flows_evicted"]["lru"] > 0 == default["stages"]["mask"]["flows_evicted"]["lru"]
