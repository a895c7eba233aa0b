"""Capture I/O: readers and writer round-trip byte for byte; bad input raises our errors only."""

from __future__ import annotations

import contextlib
import gzip
import io
import struct
import warnings

import pytest
from captures import block, epb, frame, idb, opb, pcap, pcap_header, pcap_record, shb, spb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pktmask_nb import open_capture
from pktmask_nb.capture import CaptureWriter, TruncationWarning
from pktmask_nb.errors import BadMagic, CaptureError, CorruptedFile, TruncatedFile
from pktmask_nb.record import Block, Packet


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_all(path, chunk_size=3, **kw):
    with open_capture(path, **kw) as reader:
        return [r for chunk in reader.chunks(chunk_size) for r in chunk], reader


def copy(tmp_path, path, chunk_size=3) -> bytes:
    records, _ = read_all(path, chunk_size)
    out = tmp_path / "copy.out"
    with CaptureWriter(out, replace=True) as writer:
        writer.write(records)
    return out.read_bytes()


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nanosecond", [False, True])
def test_pcap_round_trip_both_orders_and_resolutions(tmp_path, order, nanosecond):
    frames = [frame(i, 60 + i) for i in range(10)]
    data = pcap(frames, order, nanosecond)
    path = write(tmp_path, "x.pcap", data)
    assert copy(tmp_path, path) == data
    records, reader = read_all(path)
    packets = [r for r in records if isinstance(r, Packet)]
    assert [p.data for p in packets] == frames
    assert [p.index for p in packets] == list(range(1, 11))
    unit = 1 if nanosecond else 1000
    assert packets[3].ts == (1_600_000_003) * 10**9 + (3 * 7) * unit
    assert reader.order == order and reader.nanosecond == nanosecond


def test_pcap_keeps_linktype_snaplen_and_fcs_bits(tmp_path):
    header = bytearray(pcap_header(linktype=1))
    header[20:24] = struct.pack("<I", 1 | 0x14000000)  # FCS length bits set
    data = bytes(header) + pcap_record(frame(1))
    path = write(tmp_path, "x.pcap", data)
    records, reader = read_all(path)
    assert reader.linktype == 1
    assert records[1].linktype == 1
    assert copy(tmp_path, path) == data


def test_pcap_record_with_caplen_below_wirelen(tmp_path):
    data = pcap_header() + pcap_record(frame(1, 40), wirelen=1500)
    records, _ = read_all(write(tmp_path, "x.pcap", data))
    assert records[1].wirelen == 1500 and len(records[1].data) == 40


def test_gzip_input_is_read_transparently(tmp_path):
    data = pcap([frame(i) for i in range(5)])
    path = write(tmp_path, "x.pcap.gz", gzip.compress(data))
    assert copy(tmp_path, path) == data


def test_gzip_output_when_name_ends_in_gz(tmp_path):
    data = pcap([frame(i) for i in range(5)])
    records, _ = read_all(write(tmp_path, "x.pcap", data))
    with CaptureWriter(tmp_path / "y.pcap.gz") as writer:
        writer.write(records)
    assert gzip.decompress((tmp_path / "y.pcap.gz").read_bytes()) == data


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_writer_chunk_by_chunk_with_and_without_blocks(tmp_path, fmt):
    """Written chunk by chunk, some with blocks and some of packets only: the input's bytes
    come out, and every packet is counted."""
    data = pcap([frame(i, 60 + i) for i in range(7)]) if fmt == "pcap" else pcapng_sample("<")
    path = write(tmp_path, f"x.{fmt}", data)
    with open_capture(path) as reader:
        chunks = list(reader.chunks(2 if fmt == "pcap" else 1))
    kinds = {all(isinstance(r, Packet) for r in chunk) for chunk in chunks}
    assert kinds == {True, False}  # both kinds of chunk
    out = tmp_path / "chunked.out"
    with CaptureWriter(out) as writer:
        for chunk in chunks:
            writer.write(chunk)
    assert out.read_bytes() == data
    assert writer.packets_written == sum(isinstance(r, Packet) for chunk in chunks for r in chunk)
    assert writer.bytes_written == len(data)


def pcapng_sample(order: str) -> bytes:
    """Two sections; interfaces with options; EPB with options, SPB, OPB; NRB, ISB, DSB, custom, unknown."""
    return b"".join(
        [
            shb(order, [(1, b"section comment"), (4, b"test os")]),
            idb(1, order, opts=[(2, b"eth0"), (3, b"uplink")]),
            idb(101, order, opts=[(9, b"\x09"), (14, struct.pack(order + "q", 10))]),
            epb(frame(1), 0, 1_000_000, order, opts=[(1, b"a comment"), (2, struct.pack(order + "I", 1))]),
            epb(bytes([0x45]) + bytes(39), 1, 2_000_000_123, order),
            block(
                4, struct.pack(order + "HH", 1, 8) + b"\x0a\x00\x00\x01abc\0" + struct.pack(order + "HH", 0, 0), order
            ),
            spb(frame(2, 61), order),
            opb(frame(3), 0, 5, order),
            block(0x0000000A, struct.pack(order + "II", 0x544C534B, 4) + b"key!", order),
            block(0x00000BAD, struct.pack(order + "I", 32473) + b"custom data!", order),
            block(0x7FFF0001, b"unknown block body", order),
            block(5, struct.pack(order + "III", 0, 0, 0), order),
            shb(order),
            idb(228, order),
            epb(bytes([0x45]) + bytes(19), 0, 7, order),
        ]
    )


@pytest.mark.parametrize("order", ["<", ">"])
def test_pcapng_round_trip_every_block(tmp_path, order):
    data = pcapng_sample(order)
    path = write(tmp_path, "x.pcapng", data)
    for chunk_size in (1, 2, 100):
        assert copy(tmp_path, path, chunk_size) == data
    records, reader = read_all(path)
    packets = [r for r in records if isinstance(r, Packet)]
    assert [p.linktype for p in packets] == [1, 101, 1, 1, 228]
    assert packets[0].ts == 1_000_000 * 1000  # default resolution: microseconds
    assert packets[1].ts == 2_000_000_123 + 10 * 10**9  # if_tsresol 9 and if_tsoffset 10 s
    assert packets[2].ts is None  # simple packet block
    assert packets[2].data == frame(2, 61)
    assert [r.kind for r in records if isinstance(r, Block)] == [
        0x0A0D0D0A,
        1,
        1,
        4,
        0xA,
        0xBAD,
        0x7FFF0001,
        5,
        0x0A0D0D0A,
        1,
    ]
    assert reader.sections == 2


def test_pcapng_sections_of_different_byte_orders(tmp_path):
    data = shb("<") + idb(1, "<") + epb(frame(1), order="<") + shb(">") + idb(1, ">") + epb(frame(2), order=">")
    path = write(tmp_path, "x.pcapng", data)
    assert copy(tmp_path, path) == data
    records, _ = read_all(path)
    assert [r.data for r in records if isinstance(r, Packet)] == [frame(1), frame(2)]


def test_pcapng_binary_resolution(tmp_path):
    data = shb() + idb(1, opts=[(9, bytes([0x80 | 10]))]) + epb(frame(1), 0, 3 * 1024)
    records, _ = read_all(write(tmp_path, "x.pcapng", data))
    assert records[2].ts == 3 * 10**9


# -- bad input -------------------------------------------------------------------------------


def test_empty_file(tmp_path):
    with pytest.raises(TruncatedFile, match="empty"):
        open_capture(write(tmp_path, "x.pcap", b""))


def test_random_bytes_name_the_magic(tmp_path):
    with pytest.raises(BadMagic, match="magic 54686973") as e:
        open_capture(write(tmp_path, "x.pcap", b"This is not a capture at all"))
    assert "x.pcap" in str(e.value) and "\n" not in str(e.value)


def test_gzip_of_non_capture(tmp_path):
    with pytest.raises(BadMagic, match="gzip-compressed"):
        open_capture(write(tmp_path, "x.pcap.gz", gzip.compress(b"hello world")))


def test_truncated_gzip(tmp_path):
    data = gzip.compress(pcap([frame(i, 500) for i in range(50)]))
    path = write(tmp_path, "x.pcap.gz", data[: len(data) // 2])
    with pytest.raises(TruncatedFile):
        read_all(path)


def test_truncated_global_header(tmp_path):
    with pytest.raises(TruncatedFile, match="24-byte pcap file header") as e:
        open_capture(write(tmp_path, "x.pcap", pcap_header()[:20]))
    assert e.value.offset == 0


def test_truncated_last_record_is_an_error_by_default(tmp_path):
    data = pcap([frame(1), frame(2)])
    path = write(tmp_path, "x.pcap", data[:-10])
    with pytest.raises(TruncatedFile) as e:
        read_all(path)
    assert e.value.offset == 24 + 16 + 60  # where the cut record starts


def test_truncated_last_record_header(tmp_path):
    data = pcap([frame(1), frame(2)])
    with pytest.raises(TruncatedFile, match="record header") as e:
        read_all(write(tmp_path, "x.pcap", data[: 24 + 76 + 5]))
    assert e.value.offset == 100


def test_truncated_last_record_can_be_salvaged(tmp_path):
    data = pcap([frame(1), frame(2), frame(3)])
    path = write(tmp_path, "x.pcap", data[:-1])
    with pytest.warns(TruncationWarning, match="byte 176"):
        records, reader = read_all(path, on_truncated="warn")
    assert [r.data for r in records if isinstance(r, Packet)] == [frame(1), frame(2)]
    assert reader.truncated.offset == 24 + 2 * 76


def test_absurd_caplen(tmp_path):
    data = pcap_header() + struct.pack("<IIII", 0, 0, 10_000_000, 60) + bytes(60)
    with pytest.raises(CorruptedFile, match="caplen 10000000") as e:
        read_all(write(tmp_path, "x.pcap", data))
    assert e.value.offset == 24


def test_caplen_far_beyond_small_snaplen(tmp_path):
    data = pcap_header(snaplen=96) + pcap_record(bytes(70_000))
    with pytest.raises(CorruptedFile, match="snaplen 96"):
        read_all(write(tmp_path, "x.pcap", data))


def test_unsupported_pcap_version(tmp_path):
    data = bytearray(pcap([frame(1)]))
    data[4:6] = b"\x01\x00"
    with pytest.raises(CorruptedFile, match="version 1.4"):
        open_capture(write(tmp_path, "x.pcap", bytes(data)))


def test_pcapng_block_length_mismatch(tmp_path):
    good = shb() + idb() + epb(frame(1))
    bad = bytearray(good + epb(frame(2)))
    bad[-4:] = struct.pack("<I", 999)
    with pytest.raises(CorruptedFile, match="header says 92, trailer says 999") as e:
        read_all(write(tmp_path, "x.pcapng", bytes(bad)))
    assert e.value.offset == len(good)


def test_pcapng_impossible_block_length(tmp_path):
    bad = bytearray(shb() + idb() + epb(frame(1)))
    bad[len(shb()) + 4 : len(shb()) + 8] = struct.pack("<I", 7)
    with pytest.raises(CorruptedFile, match="impossible length 7"):
        read_all(write(tmp_path, "x.pcapng", bytes(bad)))


def test_pcapng_packet_for_unknown_interface(tmp_path):
    data = shb() + idb() + epb(frame(1), iface=3)
    with pytest.raises(CorruptedFile, match="interface 3"):
        read_all(write(tmp_path, "x.pcapng", data))


def test_pcapng_truncated_block(tmp_path):
    data = shb() + idb() + epb(frame(1))
    with pytest.raises(TruncatedFile):
        read_all(write(tmp_path, "x.pcapng", data[:-3]))


def test_pcapng_bad_byte_order_magic(tmp_path):
    data = bytearray(shb() + idb())
    data[8:12] = b"\x01\x02\x03\x04"
    with pytest.raises(CorruptedFile, match="byte-order magic 01020304"):
        read_all(write(tmp_path, "x.pcapng", bytes(data)))


def test_missing_file(tmp_path):
    with pytest.raises(Exception, match="no such file") as e:
        open_capture(tmp_path / "nope.pcap")
    assert "nope.pcap" in str(e.value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400), st.sampled_from([b"", pcap_header(), shb() + idb(), pcap_header(">", True)]))
def test_readers_raise_only_our_errors_on_random_bytes(tmp_path, tail, head):
    path = write(tmp_path, "fuzz.pcap", head + tail)
    with contextlib.suppress(CaptureError):
        read_all(path, chunk_size=2)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(min_value=1, max_value=200), st.integers(min_value=0, max_value=10**6))
def test_corrupting_one_byte_of_a_valid_capture_raises_only_our_errors(tmp_path, position, value):
    data = bytearray(pcapng_sample("<") if value % 2 else pcap([frame(i) for i in range(5)]))
    data[position % len(data)] = value % 256
    path = write(tmp_path, "fuzz.cap", bytes(data))
    with contextlib.suppress(CaptureError):
        read_all(path, chunk_size=2)


class Trickle(io.RawIOBase):
    """A stream that gives at most `step` bytes a read, as a pipe may."""

    def __init__(self, data: bytes, step: int):
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self._step, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


def records_of(stream, chunk_size: int) -> tuple[list, str | None]:
    """Every record's fields, and the truncation message, reading `stream` with warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        with open_capture(stream, on_truncated="warn") as reader:
            records = [r for chunk in reader.chunks(chunk_size) for r in chunk]
            truncated = None if reader.truncated is None else str(reader.truncated)
    fields = [
        (r.index, r.ts, bytes(r.data), r.wirelen, r.linktype, r.head, r.tail)
        if type(r) is Packet
        else (r.kind, r.raw, r.order)
        for r in records
    ]
    assert all(type(f[2] if len(f) == 7 else f[1]) is bytes for f in fields)  # never views of the read buffer
    return fields, truncated


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.integers(1, 300), st.integers(1, 97), st.sampled_from(["pcap", "pcapng"]), st.booleans(), st.integers(0, 10**6)
)
def test_reads_of_any_size_and_short_reads_give_the_same_records(monkeypatch, read_size, step, fmt, gz, cut):
    """The reader reads into one buffer again and again: records that straddle its reads, short
    reads (a pipe), gzip and a file cut anywhere give what one whole read gives."""
    import pktmask_nb.capture.reader as reader_module

    data = pcapng_sample("<") if fmt == "pcapng" else pcap([frame(i, 60 + 37 * i) for i in range(12)])
    data = data[: len(data) - cut % 200]
    expected = records_of(io.BytesIO(data), 1000)
    monkeypatch.setattr(reader_module, "READ_SIZE", read_size)
    assert records_of(Trickle(gzip.compress(data) if gz else data, step), 1 + cut % 4) == expected


def test_a_stream_that_only_has_read_is_read_too():
    class Reads:
        def __init__(self, data: bytes):
            self._data = data

        def read(self, size: int = -1) -> bytes:
            size = len(self._data) if size < 0 else min(size, 7)  # a few bytes a read
            data, self._data = self._data[:size], self._data[size:]
            return data

    data = pcap([frame(i, 60 + 37 * i) for i in range(12)])
    assert records_of(Reads(data), 5) == records_of(io.BytesIO(data), 5)


def test_writer_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "out.pcap"
    with pytest.raises(RuntimeError), CaptureWriter(out) as writer:
        writer.write([Block(-1, pcap_header(), "<")])
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_signal_that_came_during_compiled_code_stops_a_waiting_read():
    # A SIGTERM that arrived while compiled code ran (no bytecode, so no handler yet) once left
    # a run on a pipe waiting for bytes that never came, instead of stopping it.
    import hashlib
    import operator
    import os
    import signal
    import threading
    from functools import partial

    from pktmask_nb.capture.source import Source

    class Stopped(Exception):
        pass

    def stop(signum, frame):
        raise Stopped

    r, w = os.pipe()
    os.write(w, pcap_header())
    late = []
    rescue = threading.Timer(5, lambda: late.append(os.write(w, b"x")))  # a broken read must not hang
    alarm = signal.signal(signal.SIGALRM, stop)
    try:
        with open(r, "rb", buffering=0) as raw:
            source = Source(raw)
            header, got = memoryview(bytearray(24)), 0
            while got < 24:  # the bytes peeked at come first, alone
                got += source.readinto(header[got:])
            rescue.start()
            signal.setitimer(signal.ITIMER_REAL, 0.01)
            # map, operator.call and the key derivation (~0.5 s) are C: the alarm's C handler runs
            # during them, its Python handler cannot until something checks, and the next thing
            # is the read from the empty pipe
            work = partial(hashlib.pbkdf2_hmac, "sha256", b"k", b"s", 1_000_000)
            with pytest.raises(Stopped):
                list(map(operator.call, [work, partial(source.readinto, memoryview(bytearray(1)))]))
            assert not late
    finally:
        rescue.cancel()
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, alarm)
        os.close(w)
