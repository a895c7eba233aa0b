"""A chunk between the two processes: columns that pickle small, and the pipe's framing for
packet data that does not go through the `~pktmask_nb.split.ring.Ring`."""

from __future__ import annotations

import contextlib
import functools
import os
import struct
from array import array
from itertools import accumulate

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from ..record import Packet

PIPE_BYTES = 2**20  # /proc/sys/fs/pipe-max-size's default
DATA_HEADER = struct.Struct("<Q")  # the length of a chunk's joined packet data, which follows it
DATA_BUFFER_MAX = 64 * 2**20  # the child keeps a receive buffer up to this size for the next chunks
IOV_MAX = 1024  # pieces one pwritev takes (Linux's limit; the ring is Linux only)
SPLITTER_MAX = 16384  # pieces of one length that a cached `struct.Struct` cuts at once


def pack(records: list) -> tuple[tuple, list, int]:
    """A chunk as columns: packet fields, joined byte strings with their lengths, and the blocks;
    the packet data apart, as a list of pieces with their total size, to go into the `Ring`
    (or joined through the pipe) without pickling."""
    packets = [r for r in records if type(r) is Packet]
    blocks = [] if len(packets) == len(records) else [(i, r) for i, r in enumerate(records) if type(r) is not Packet]
    heads = [p.head for p in packets]
    datas = [p.data for p in packets]
    tails = [p.tail for p in packets]
    data_lens = _lengths(datas)
    return (
        (
            array("q", [p.index for p in packets]),
            [p.ts for p in packets],
            array("q", [p.wirelen for p in packets]),
            array("i", [p.linktype for p in packets]),
            _lengths(heads),
            b"".join(heads),
            data_lens,
            _lengths(tails),
            b"".join(tails),
            blocks,
        ),
        datas,
        sum(data_lens),
    )


def unpack(columns: tuple, datas, start: int = 0) -> list:
    """The records `pack` took apart, in their order; their joined packet data is in `datas`
    (bytes, or the `Ring`'s map) from `start` on."""
    index, ts, wirelen, linktype, head_lens, heads, data_lens, tail_lens, tails, blocks = columns
    n = len(index)
    records = list(
        map(
            Packet,
            index,
            ts,
            _cut(datas, data_lens, n, start),
            wirelen,
            linktype,
            _cut(heads, head_lens, n),
            _cut(tails, tail_lens, n),
        )
    )
    for i, block in blocks:
        records.insert(i, block)
    return records


def _lengths(pieces: list) -> array:
    """The lengths of `pieces`, or an empty array when all are empty."""
    lengths = list(map(len, pieces))  # an array from a list, not from an iterator: 2x faster
    return array("q", lengths if any(lengths) else ())


def _cut(joined, lengths: array, count: int, start: int = 0) -> list:
    """`joined` from `start` on cut back into `count` pieces of `lengths` (`_lengths`: empty
    if all are). Slicing a map gives bytes as slicing bytes does."""
    if not lengths:
        return [b""] * count
    if count <= SPLITTER_MAX and lengths.count(lengths[0]) == count:  # all of one length (pcap record headers)
        return list(_splitter(lengths[0], count).unpack_from(joined, start))
    ends = list(accumulate(lengths, initial=start))
    return [joined[a:b] for a, b in zip(ends, ends[1:])]


@functools.lru_cache(maxsize=4)
def _splitter(size: int, count: int) -> struct.Struct:
    """A `struct.Struct` that cuts `count` pieces of `size` bytes."""
    return struct.Struct(f"{size}s" * count)


def send_data(fd: int, data: bytes) -> None:
    """Write `data` to `fd` after its length (`DATA_HEADER`), for a `DataReceiver` at the other end."""
    os.write(fd, DATA_HEADER.pack(len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class DataReceiver:
    """Reads what `send_data` wrote, into a buffer it keeps: a pipe read costs half of
    `Connection.recv_bytes`'s, which takes a fresh buffer of the whole size for every read
    and copies it twice more."""

    def __init__(self, fd: int):
        self._file = open(fd, "rb", buffering=0, closefd=False)  # noqa: SIM115 - the Connection owns the fd
        self._buffer = memoryview(bytearray())

    def recv(self) -> bytes:
        (size,) = DATA_HEADER.unpack(self._read(DATA_HEADER.size))
        return self._read(size)

    def _read(self, size: int) -> bytes:
        view = self._buffer
        if size > len(view):
            view = memoryview(bytearray(size))
            if size <= DATA_BUFFER_MAX:
                self._buffer = view
        got = 0
        while got < size:
            n = self._file.readinto(view[got:size])
            if not n:
                raise EOFError
            got += n
        return bytes(view[:size])


def write_pieces(fd: int, pieces: list, offset: int) -> None:
    """Write `pieces` one after another into file `fd` from `offset` on (``pwritev``, IOV_MAX at a time)."""
    for i in range(0, len(pieces), IOV_MAX):
        batch = pieces[i : i + IOV_MAX]
        n = os.pwritev(fd, batch, offset)
        want = sum(map(len, batch))
        offset += n
        if n < want:  # a short write (a signal): the rest of this batch by plain writes
            rest = memoryview(b"".join(batch))[n:]
            while rest:
                n = os.pwrite(fd, rest, offset)
                rest, offset = rest[n:], offset + n


def widen(fd: int) -> None:
    """Ask for a pipe buffer of PIPE_BYTES (Linux): fewer wake-ups per chunk."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl else None
    if set_size is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, set_size, PIPE_BYTES)
