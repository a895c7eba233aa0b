"""Two processes for one capture (pktmask_nb.split): the same output, reports and errors as one."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from multiprocessing.connection import Connection

import pytest
from captures import epb, frame, idb, pcap, shb, spb
from conftest import DATA

import pktmask_nb
from pktmask_nb import Config, split
from pktmask_nb.config import AnonymizeConfig
from pktmask_nb.errors import ProcessDied, TruncatedFile, UsageError
from pktmask_nb.pipeline import run_stages
from pktmask_nb.record import Block, Packet
from pktmask_nb.split import (
    DataReceiver,
    Ring,
    SplitRun,
    pack,
    send_data,
    should_split,
    unpack,
)
from pktmask_nb.split.messages import Setup
from pktmask_nb.stages import build_stages

KEY = bytes(range(32))


def config(processes, chunk_size=5, stages=("dedup", "anonymize", "mask")):
    return Config(stages=stages, chunk_size=chunk_size, anonymize=AnonymizeConfig(key=KEY), processes=processes)


def both(tmp_path, src, **options):
    """Run `src` in one process and in two; the two results and outputs."""
    runs = []
    for processes in (1, 2):
        out = tmp_path / f"p{processes}{''.join(src.suffixes).replace('.gz', '')}"
        seen = []
        result = pktmask_nb.run(src, out, config(processes, **options), on_chunk=seen.append)
        assert result.processes == processes
        assert seen == result.chunks
        runs.append((result, out.read_bytes()))
    return runs


def assert_same(one, two):
    (r1, b1), (r2, b2) = one, two
    assert b1 == b2
    assert r1.stages == r2.stages
    assert r1.tables == r2.tables
    assert (r1.packets_in, r1.packets_out, r1.bytes_read, r1.bytes_written) == (
        r2.packets_in,
        r2.packets_out,
        r2.bytes_read,
        r2.bytes_written,
    )
    assert [(m.chunk, m.packets_in, m.packets_out, m.bytes_in, m.bytes_out) for m in r1.chunks] == [
        (m.chunk, m.packets_in, m.packets_out, m.bytes_in, m.bytes_out) for m in r2.chunks
    ]
    assert set(r2.chunks[0].stage_seconds) == set(r1.chunks[0].stage_seconds)


def test_two_processes_write_what_one_writes_on_every_shared_capture(shared_capture, tmp_path):
    assert_same(*both(tmp_path, shared_capture, chunk_size=7))


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.glob("*.pcap*")))
@pytest.mark.parametrize("stages", [("dedup",), ("dedup", "anonymize"), ("mask",)])
def test_two_processes_on_the_bundled_samples(tmp_path, name, stages):
    assert_same(*both(tmp_path, DATA / name, chunk_size=16, stages=stages))


def test_the_child_runs_openblas_on_one_thread_unless_the_user_chose(tmp_path, monkeypatch):
    """OpenBLAS's idle threads would spin on the reading side's core while the child starts."""
    started, popen = [], subprocess.Popen

    def spy(*args, **kwargs):  # the environment the child is started with
        started.append(kwargs.get("env", os.environ))
        return popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.setenv("PKTMASK_TEST_MARK", "inherited")
    pktmask_nb.run(DATA / "tls_http.pcap", tmp_path / "a.pcap", config(2))
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    pktmask_nb.run(DATA / "tls_http.pcap", tmp_path / "b.pcap", config(2))
    assert [env.get("OPENBLAS_NUM_THREADS") for env in started] == ["1", "3"]
    assert all(env.get("PKTMASK_TEST_MARK") == "inherited" for env in started)


def test_pack_round_trip_keeps_blocks_order_and_every_field():
    records = [
        Block(0x0A0D0D0A, b"shb", "<"),
        Packet(1, 10, b"abc", 70, 1, b"H1", b"T1"),
        Block(1, b"idb", "<"),
        Packet(2, None, bytearray(b"\x00\x01"), 2, 101, b"", b""),
        Packet(3, 2**62, b"", 0, 1, b"head", b""),
        Block(5, b"isb", ">"),
    ]
    columns, datas, size = pack(records)
    assert size == 5 and datas == [b"abc", bytearray(b"\x00\x01"), b""]
    back = unpack(columns, b"".join(datas))
    assert [type(r) for r in back] == [type(r) for r in records]
    for a, b in zip(records, back):
        if isinstance(a, Packet):
            assert (a.index, a.ts, bytes(a.data), a.wirelen, a.linktype, a.head, a.tail) == (
                b.index,
                b.ts,
                b.data,
                b.wirelen,
                b.linktype,
                b.head,
                b.tail,
            )
        else:
            assert (a.kind, a.raw, a.order) == (b.kind, b.raw, b.order)
    # the data may start anywhere in what holds it (the ring's map, in the child)
    assert [p.data for p in unpack(columns, b"xyz" + b"".join(datas) + b"!", 3) if isinstance(p, Packet)] == [
        b"abc",
        b"\x00\x01",
        b"",
    ]
    same = [Packet(i, i, bytes([i]) * 3, 3, 1, bytes([i]) * 16) for i in range(1, 6)]  # pieces of one length
    columns, datas, size = pack(same)
    split.wire._splitter.cache_clear()
    back = unpack(columns, b"xy" + b"".join(datas), 2)
    assert [(p.data, p.head, p.tail) for p in back] == [(p.data, p.head, p.tail) for p in same]
    assert split.wire._splitter.cache_info().currsize == 2  # data and heads, each cut by a cached Struct
    empty = [Packet(i, i, b"", 0, 1, b"", b"") for i in (1, 2)]  # no lengths sent: still two packets
    columns, datas, size = pack(empty)
    assert size == 0 and [(p.index, p.data, p.head, p.tail) for p in unpack(columns, b"")] == [
        (1, b"", b"", b""),
        (2, b"", b"", b""),
    ]


def test_ring_places_chunks_in_order_wraps_around_and_reuses_only_freed_space():
    ring = Ring(100)

    def put(number, data):
        return ring.put(number, [data[:7], data[7:]], len(data))  # in pieces, as `pack` gives them

    def content(n):
        return os.pread(ring.fd, n, 0)

    try:
        assert put(0, b"a" * 40) == 0 and put(1, b"b" * 40) == 40
        assert not ring.fits(40)  # 20 bytes left at the end, and the start is chunk 0's
        ring.free(0)
        assert ring.fits(40) and not ring.fits(61)
        assert put(2, b"c" * 40) == 0  # wrapped: chunk 1 still holds [40, 80)
        assert content(80) == b"c" * 40 + b"b" * 40
        assert not ring.fits(21)
        ring.free(1)
        assert ring.fits(40) and not ring.fits(41)  # [80, 100), skipped by chunk 2, stays taken with it
        assert put(3, b"") == 40 and put(4, b"d" * 40) == 40
        ring.free(99)  # never placed (went through the pipe): nothing changes
        assert not ring.fits(1)
        ring.free(4)  # chunk 4 and everything before it: empty
        assert ring.fits(100) and put(5, b"e" * 100) == 0 and content(100) == b"e" * 100
    finally:
        ring.close()


def test_pieces_are_written_in_order_past_iov_max_and_after_a_short_write(tmp_path, monkeypatch):
    """`write_pieces` writes more pieces than one ``pwritev`` takes, and finishes a batch
    that the kernel wrote only in part."""
    monkeypatch.setattr(split.wire, "IOV_MAX", 3)
    pieces = [bytes([i]) * (i % 5) for i in range(11)]
    real = os.pwritev
    short = []

    def pwritev(fd, batch, offset):
        if not short:  # the first call writes 2 bytes only
            short.append(True)
            return real(fd, [b"".join(batch)[:2]], offset)
        return real(fd, batch, offset)

    monkeypatch.setattr(os, "pwritev", pwritev)
    with open(tmp_path / "f", "w+b") as f:
        f.write(b"=" * 4)
        split.wire.write_pieces(f.fileno(), pieces, 4)
        f.seek(0)
        assert f.read() == b"=" * 4 + b"".join(pieces)


@pytest.mark.parametrize("ring_bytes", [0, 300, 5_000])
def test_two_processes_with_a_small_ring_or_none(tmp_path, monkeypatch, ring_bytes):
    """Chunks' data larger than the ring go through the pipe; a small ring wraps around and
    makes this side wait for the child's results; without a ring (not Linux) it is all pipe."""
    if ring_bytes:
        monkeypatch.setattr(split.ring, "RING_BYTES", ring_bytes)
    else:
        monkeypatch.setattr(Ring, "create", classmethod(lambda cls: None))
    ringed, piped = [], []
    put, send = Ring.put, split.run.send_data
    monkeypatch.setattr(
        Ring, "put", lambda self, number, pieces, size: ringed.append(size) or put(self, number, pieces, size)
    )
    monkeypatch.setattr(split.run, "send_data", lambda fd, data: piped.append(len(data)) or send(fd, data))
    assert_same(*both(tmp_path, DATA / "tls_http.pcap", chunk_size=3))
    if ring_bytes == 0:
        assert not ringed and piped
        return
    assert all(n <= ring_bytes for n in ringed) and all(n > ring_bytes for n in piped)
    if ring_bytes == 300:
        assert ringed and piped
    else:  # every chunk (3 frames) fits, and the ring went round many times
        assert not piped and sum(ringed) > 5 * ring_bytes


def test_the_reading_side_hands_free_heap_pages_back_every_few_chunks(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(split.run, "SPLIT_TRIM_PACKETS", 13)  # every 4 chunks of 3: the whole chunks it spans
    monkeypatch.setattr(split.run, "release_free_memory", lambda: calls.append(1))
    result = pktmask_nb.run(DATA / "tls_http.pcap", tmp_path / "out.pcap", config(2, chunk_size=3))
    chunks = -(-97 // 3)  # 97 frames; the flushing step comes after them
    assert len(result.chunks) == chunks and len(calls) == chunks // 4


def test_free_heap_pages_go_back_where_the_c_library_can_and_nothing_happens_elsewhere(monkeypatch):
    import platform

    from pktmask_nb import pipeline

    if platform.libc_ver()[0] == "glibc":
        assert pipeline._malloc_trim() is not None
    pipeline.release_free_memory()  # no error, whatever the C library
    monkeypatch.setattr(pipeline, "_malloc_trim", lambda: None)
    pipeline.release_free_memory()


def test_data_goes_through_a_pipe_whole_in_order_and_ends_with_eoferror(monkeypatch):
    """`send_data` / `DataReceiver` across a real pipe, by a writer thread as the sender does:
    sizes below and above the pipe's buffer, empty messages, a message larger than the
    buffer the receiver keeps, and a writer that stops in the middle of one."""
    import threading

    monkeypatch.setattr(split.wire, "DATA_BUFFER_MAX", 3 * 2**20)
    messages = [b"", b"x", os.urandom(70_000), b"", os.urandom(5 * 2**20), os.urandom(2 * 2**20), b"yz"]
    r, w = os.pipe()

    def write():
        for m in messages:
            send_data(w, m)
        os.write(w, split.DATA_HEADER.pack(10) + b"cut")  # 3 of 10 bytes, then the end
        os.close(w)

    writer = threading.Thread(target=write)
    writer.start()
    receiver = DataReceiver(r)
    try:
        got = [receiver.recv() for _ in messages]
        with pytest.raises(EOFError):
            receiver.recv()
    finally:
        writer.join()
        os.close(r)
    assert got == messages and all(type(m) is bytes for m in got)


def test_stages_run_in_order_with_their_seconds():
    calls = []

    class Recorder:
        def __init__(self, name):
            self.name = name

        def process(self, chunk):
            calls.append(self.name)
            return chunk

        def flush(self):
            return []

    records = [Packet(1, 0, frame(1), 60, 1, b"")]
    out, seconds = run_stages([Recorder("a"), Recorder("b")], records, False)
    assert out == records and calls == ["a", "b"] and set(seconds) == {"a", "b"}


def test_pcapng_with_simple_packets_and_two_sections(tmp_path):
    src = tmp_path / "in.pcapng"
    src.write_bytes(shb() + idb() + epb(frame(1), ts=5) + spb(frame(2)) + shb() + idb(linktype=101) + epb(frame(3)))
    assert_same(*both(tmp_path, src, chunk_size=1))


def test_an_error_while_reading_leaves_no_output(tmp_path):
    src = tmp_path / "in.pcap"
    src.write_bytes(pcap([frame(i) for i in range(50)])[:-7])
    out = tmp_path / "out" / "o.pcap"
    out.parent.mkdir()
    with pytest.raises(TruncatedFile, match="ends inside the last record"):
        pktmask_nb.run(src, out, config(2))
    assert os.listdir(out.parent) == []


def test_a_failed_write_into_the_ring_leaves_no_output(tmp_path, monkeypatch):
    """Writing a chunk's data into the shared memory fails (no memory left for it): the run
    raises that error here, the child is told to stop, and no file is left."""
    import errno

    real, calls = split.ring.write_pieces, []

    def write_pieces(fd, pieces, offset):
        calls.append(offset)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, pieces, offset)

    monkeypatch.setattr(split.ring, "write_pieces", write_pieces)
    src = tmp_path / "in.pcap"
    src.write_bytes(pcap([frame(i) for i in range(50)]))
    out = tmp_path / "out" / "o.pcap"
    out.parent.mkdir()
    with pytest.raises(OSError, match="No space left"):
        pktmask_nb.run(src, out, config(2))
    assert len(calls) == 3 and os.listdir(out.parent) == []


def test_an_error_in_the_second_process_is_raised_here_with_its_file(tmp_path):
    src = tmp_path / "in.pcap"
    src.write_bytes(pcap([frame(i) for i in range(20)]))
    missing = tmp_path / "no-such-directory" / "o.pcap"
    cfg = config(2)
    with pktmask_nb.capture.open_capture(src) as reader, pytest.raises(UsageError) as error:
        SplitRun(build_stages(cfg), cfg, str(missing), cfg.chunk_size).run(reader)
    assert "output directory does not exist" in str(error.value)
    assert str(missing.parent) in str(error.value)


@pytest.mark.parametrize("ring_bytes", [None, 400])
def test_a_chunk_that_cannot_be_sent_fails_here_and_leaves_no_output(tmp_path, monkeypatch, ring_bytes):
    """The thread that writes chunks to the pipe hands its error to the feeding thread, also
    while that thread waits for room in a ring (400 bytes: one chunk of 5 frames at a time)
    for a result the child will never send."""
    import threading

    if ring_bytes is not None:
        monkeypatch.setattr(split.ring, "RING_BYTES", ring_bytes)
    src = tmp_path / "in.pcap"
    src.write_bytes(pcap([frame(i) for i in range(20)]))
    out = tmp_path / "out" / "o.pcap"
    out.parent.mkdir()
    cfg = config(2)
    stages = build_stages(cfg)
    pack = split.pack
    monkeypatch.setattr(
        split.run, "pack", lambda records: ((*pack(records)[0], lambda: None), *pack(records)[1:])
    )  # a local function does not pickle
    raised = []

    def run():
        with pktmask_nb.capture.open_capture(src) as reader:
            try:
                SplitRun(stages, cfg, str(out), cfg.chunk_size).run(reader)
            except Exception as e:  # noqa: BLE001 - checked below
                raised.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the run hangs"
    assert len(raised) == 1 and isinstance(raised[0], AttributeError | pickle.PicklingError)
    assert "pickle" in str(raised[0])
    assert os.listdir(out.parent) == []


def test_a_second_process_that_is_killed_leaves_no_file_and_says_so(tmp_path):
    """A child killed (out of memory, a signal) cannot remove its temporary output: this side
    does, and raises a one-line ProcessDied that says how the child ended."""
    import signal
    import threading
    import time

    out = tmp_path / "out" / "o.pcap"
    out.parent.mkdir()
    cfg = config(2)
    run = SplitRun(build_stages(cfg), cfg, str(out), cfg.chunk_size)
    go = threading.Event()

    class Paused:
        """A reader that hands out one chunk, then waits for the test."""

        def __init__(self, reader):
            self.reader = reader

        def chunks(self, size, size_bytes):
            for i, chunk in enumerate(self.reader.chunks(size, size_bytes)):
                if i == 1:
                    go.wait(60)
                yield chunk

        def position(self):
            return self.reader.position()

    raised = []

    def target():
        with pktmask_nb.capture.open_capture(DATA / "tls_http.pcap") as reader:
            try:
                run.run(Paused(reader))
            except Exception as e:  # noqa: BLE001 - checked below
                raised.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while run._child is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [p.suffix for p in out.parent.iterdir()] == [".part"]  # made here, written there
    os.kill(run._child.pid, signal.SIGKILL)
    go.set()
    thread.join(60)
    assert not thread.is_alive(), "the run hangs"
    assert len(raised) == 1 and isinstance(raised[0], ProcessDied), raised
    assert str(raised[0]) == f"{out}: the pipeline's second process ended without a result (killed by signal 9)"
    assert list(out.parent.iterdir()) == []


def test_a_reader_side_that_is_killed_leaves_no_file_and_no_noise(tmp_path):
    """The child of a killed run removes its temporary output and ends without a word."""
    import signal
    import time

    out = tmp_path / "out" / "o.pcap"
    out.parent.mkdir()
    script = f"""
import sys, threading
from pktmask_nb import Config, open_capture
from pktmask_nb.config import AnonymizeConfig
from pktmask_nb.split import SplitRun
from pktmask_nb.stages import build_stages

class Paused:  # hands out two chunks, then waits for ever
    def __init__(self, reader):
        self.reader = reader
    def chunks(self, size, size_bytes):
        for i, chunk in enumerate(self.reader.chunks(size, size_bytes)):
            if i == 2:
                threading.Event().wait()
            yield chunk
    def position(self):
        return self.reader.position()

config = Config(processes=2, chunk_size=5, anonymize=AnonymizeConfig(key={KEY!r}))
with open_capture(sys.argv[1]) as reader:
    SplitRun(build_stages(config), config, sys.argv[2], 5).run(Paused(reader))
"""
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(DATA / "tls_http.pcap"), str(out)], stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not list(out.parent.iterdir()) and time.monotonic() < deadline:  # the child's temporary file
        time.sleep(0.01)
    time.sleep(0.2)  # the parent is now waiting in on_chunk
    parent.send_signal(signal.SIGKILL)
    parent.wait(60)
    noise = parent.stderr.read()  # returns once the child, which shares this stderr, has ended too
    assert noise == ""
    assert list(out.parent.iterdir()) == []


def test_a_child_whose_reader_side_is_gone_removes_its_file_without_raising(tmp_path):
    """Every message to a reader side that is gone fails (EPIPE): the child cleans up and ends."""
    out = tmp_path / "o.pcap"
    chunks_r, chunks_w = os.pipe()
    results_r, results_w = os.pipe()
    os.close(results_r)  # the reader side is gone
    with Connection(chunks_w, readable=False) as chunks_out:
        chunks_out.send(Setup(config(2), str(out), 2, False))
    split.child.serve(Connection(chunks_r, writable=False), Connection(results_w, readable=False), None, None)
    assert list(tmp_path.iterdir()) == []


def test_a_child_whose_reader_side_ends_before_the_config_removes_the_temporary_file(tmp_path):
    """This side makes the temporary output before it starts the child; if it fails before
    the child opens the file, the child removes it."""
    from pktmask_nb.capture.writer import reserve_temp

    temp = reserve_temp(tmp_path / "o.pcap")
    chunks_r, chunks_w = os.pipe()
    results_r, results_w = os.pipe()
    os.close(chunks_w)  # nothing comes: end of file
    split.child.serve(Connection(chunks_r, writable=False), Connection(results_w, readable=False), None, temp)
    os.close(results_r)
    assert list(tmp_path.iterdir()) == []


def test_automatic_choice(tmp_path, monkeypatch):
    from types import SimpleNamespace

    def sized(n):  # a reader whose source has n bytes on disk (0: a pipe)
        return SimpleNamespace(source=SimpleNamespace(size=n))

    stages = build_stages(config(None))
    big, small, pipe = sized(64 * 2**20), sized((DATA / "tls_http.pcap").stat().st_size), sized(0)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert should_split(None, big, stages)
    assert not should_split(None, big, build_stages(config(None, stages=("dedup", "anonymize"))))
    assert not should_split(None, big, build_stages(config(None, stages=("mask",))))
    assert should_split(None, big, build_stages(config(None, stages=("anonymize", "mask"))))
    assert not should_split(None, pipe, stages)
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert not should_split(None, big, stages)
    assert not should_split(None, small, stages)
    assert should_split(2, small, stages)
    assert not should_split(1, small, stages)
    assert not should_split(2, small, [])  # nothing to hand over


def test_cli_processes_option(tmp_path):
    src = DATA / "duplicates.pcap"
    outs = []
    for processes in ("1", "2"):
        out = tmp_path / f"o{processes}.pcap"
        cmd = [sys.executable, "-m", "pktmask_nb.cli", "run", str(src), "-o", str(out), "--key", KEY.hex()]
        done = subprocess.run([*cmd, "--processes", processes, "-q"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
