"""Capture I/O: chunked readers for pcap and pcapng (plain or gzip) and an atomic writer."""

from __future__ import annotations

from ..errors import BadMagic, TruncatedFile
from .pcap import PCAP_MAGICS, PcapReader
from .pcapng import PCAPNG_SHB_MAGIC, PcapngReader
from .reader import CaptureReader, TruncationWarning
from .source import Source
from .writer import CaptureWriter, NullWriter, check_output, open_writer

__all__ = [
    "CaptureReader",
    "CaptureWriter",
    "NullWriter",
    "PcapReader",
    "PcapngReader",
    "TruncationWarning",
    "check_output",
    "open_capture",
    "open_writer",
]


def open_capture(path, *, on_truncated: str = "error") -> CaptureReader:
    """Open a pcap or pcapng file (gzip-compressed or not) for chunked reading.

    Parameters
    ----------
    path : str or os.PathLike
    on_truncated : {"error", "warn"}
        See `CaptureReader`.

    Returns
    -------
    PcapReader or PcapngReader

    Raises
    ------
    UsageError
        The file does not exist or cannot be opened.
    CaptureError
        The file is not a capture (`BadMagic`), too short (`TruncatedFile`) or corrupt.
    """
    source = Source(path)
    try:
        magic = source.peek(4)
        if magic in PCAP_MAGICS:
            return PcapReader(source, on_truncated=on_truncated)
        if magic == PCAPNG_SHB_MAGIC:
            return PcapngReader(source, on_truncated=on_truncated)
        if not magic:
            raise TruncatedFile("file is empty, expected a pcap or pcapng capture", path=source.path, offset=0)
        if len(magic) < 4:
            raise TruncatedFile(
                f"file holds {len(magic)} bytes, too short for a capture magic", path=source.path, offset=0
            )
        kind = "gzip-compressed data" if source.compressed else "data"
        raise BadMagic(
            f"not a pcap or pcapng capture: {kind} starts with magic {magic.hex()}", path=source.path, offset=0
        )
    except BaseException:
        source.close()
        raise
