"""The records that flow through the pipeline: captured packets and pass-through container blocks."""

from __future__ import annotations


class Packet:
    """One captured frame.

    A chunk is a plain ``list`` of `Packet` and `Block` records in file order. Stages read
    and replace ``data`` (same length, ``bytes`` or ``bytearray``); the writer emits
    ``head + data + tail`` so everything the container said about the frame (record
    header, pcapng options, padding) survives byte for byte.

    Attributes
    ----------
    index : int
        1-based frame number in the input, as Wireshark numbers it.
    ts : int or None
        Capture time in nanoseconds since the epoch; None for pcapng Simple Packet Blocks.
    data : bytes or bytearray
        The captured bytes (``caplen`` of them).
    wirelen : int
        Original length on the wire.
    linktype : int
        LINKTYPE_* value of the interface that captured the frame.
    head, tail : bytes
        Container bytes written before and after ``data``.
    frame : FrameMap or None
        What the dissector found in ``data`` (`~pktmask_nb.proto.dissect.frame_of`): made by
        the first stage that reads it, shared by the stages after it. A stage that changes
        ``data`` keeps it true (it rewrote only addresses and checksums, which the walk does
        not read) or sets it to None.
    """

    # its fields are declared in record.pxd

    def __init__(self, index, ts, data, wirelen, linktype, head, tail=b""):
        self.index = index
        self.ts = ts
        self.data = data
        self.wirelen = wirelen
        self.linktype = linktype
        self.head = head
        self.tail = tail
        self.frame = None

    def __repr__(self) -> str:
        return (
            f"Packet(index={self.index}, ts={self.ts}, caplen={len(self.data)}, "
            f"wirelen={self.wirelen}, linktype={self.linktype})"
        )


class Block:
    """A container block that is not a packet: pcap file header, pcapng SHB/IDB/NRB/ISB/DSB/...

    Attributes
    ----------
    kind : int
        pcapng block type, or `PCAP_FILE_HEADER` for a pcap global header.
    raw : bytes
        The whole block, written verbatim.
    order : str
        ``"<"`` or ``">"``: byte order of the section the block belongs to.
    """

    # its fields are declared in record.pxd

    def __init__(self, kind: int, raw: bytes, order: str):
        self.kind = kind
        self.raw = raw
        self.order = order

    def __repr__(self) -> str:
        return f"Block(kind=0x{self.kind:08x}, length={len(self.raw)})"


PCAP_FILE_HEADER = -1  # Block.kind of a pcap global header
