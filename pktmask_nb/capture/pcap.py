"""Classic pcap files: both byte orders, microsecond and nanosecond magics (draft-ietf-opsawg-pcap)."""

from __future__ import annotations

import struct

from ..errors import CorruptedFile, TruncatedFile
from ..record import PCAP_FILE_HEADER, Block
from .reader import UNBOUNDED, CaptureReader
from .records import RECORD_BAD_CAPLEN, RECORD_LIMIT, RECORD_NEEDS_HEADER, pcap_records

# magic as it appears on disk -> (byte order, nanoseconds per timestamp fraction unit)
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1000),
    b"\xa1\xb2\xc3\xd4": (">", 1000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAP_FILE_HEADER_LEN = 24
PCAP_MAX_CAPLEN = 262144  # SPEC §3: caplen above 256 KiB is impossible
PCAP_SNAPLEN_SLACK = 65536  # caplen may exceed snaplen, but not by more than this
PCAP_LINKTYPE_MASK = 0xFFFF  # upper bits carry FCS information (LT_LINKTYPE in libpcap)

_FILE_HEADER = {o: struct.Struct(o + "IHHiIII") for o in "<>"}


class PcapReader(CaptureReader):
    """Read a pcap file in chunks of `Packet` records; the file header comes first as a `Block`.

    Attributes
    ----------
    order : str
        ``"<"`` or ``">"``.
    nanosecond : bool
        True for the a1b23c4d magic.
    linktype, snaplen : int
        From the file header.
    """

    format = "pcap"

    def __init__(self, source, **kwargs):
        super().__init__(source, **kwargs)
        if not self._fill(PCAP_FILE_HEADER_LEN):
            raise TruncatedFile(
                f"file holds {self._end} bytes, less than the {PCAP_FILE_HEADER_LEN}-byte pcap file header",
                path=self.path,
                offset=0,
            )
        raw = bytes(self._buf[:PCAP_FILE_HEADER_LEN])
        self.order, self._ns_per_unit = PCAP_MAGICS[raw[:4]]
        _, major, minor, _, _, self.snaplen, network = _FILE_HEADER[self.order].unpack(raw)
        if major != 2:
            raise CorruptedFile(f"unsupported pcap version {major}.{minor}, expected 2.x", path=self.path, offset=4)
        self.nanosecond = self._ns_per_unit == 1
        self.linktype = network & PCAP_LINKTYPE_MASK
        self._max_caplen = min(PCAP_MAX_CAPLEN, max(self.snaplen, 1) + PCAP_SNAPLEN_SLACK)
        self._header = Block(PCAP_FILE_HEADER, raw, self.order)
        self._record_format = (self.order == ">", self._ns_per_unit, self.linktype, self._max_caplen)
        self._pos = PCAP_FILE_HEADER_LEN

    def _bad_caplen(self, caplen: int):
        return CorruptedFile(
            f"record caplen {caplen} is impossible (snaplen {self.snaplen}, limit {self._max_caplen})",
            path=self.path,
            offset=self.offset,
        )

    def read_chunk(self, max_packets: int, max_bytes: int = UNBOUNDED) -> list:
        out = []
        if self._header is not None:
            out.append(self._header)
            self._header = None
        if self._done:
            return out
        index, taken, pos = self.packets, 0, self._pos
        stop_index = index + max_packets
        while True:
            pos, index, taken, why, value = pcap_records(
                self._buf, pos, self._end, out, index, stop_index, taken, max_bytes, *self._record_format
            )
            if why == RECORD_LIMIT:
                break
            self._pos = pos
            if why == RECORD_BAD_CAPLEN:
                raise self._bad_caplen(value)
            if not self._refill(value, "a record header" if why == RECORD_NEEDS_HEADER else "the last record"):
                pos = self._pos
                break
            pos = self._pos
        self._pos = pos
        self.packets = index
        return out
