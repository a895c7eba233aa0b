"""The mask stage (SPEC §6): one module per concern.

- `stream`: one TCP direction in sequence space, reassembly, the decision map
- `detect`, `tls`, `http`, `starttls`: walkers that decide stream bytes per protocol
- `datagrams`: DTLS records and the DHCP skeleton in UDP datagrams, DNS over TCP framing
- `frames`: flow keys from a frame's map
- `flows`: the bounded flow table and the per-flow report
- `writer`: the chunk's zeroing and checksum updates, done together in NumPy
- `stage`: `MaskStage`, holding back and releasing packets in input order
"""

from .stage import MaskStage

__all__ = ["MaskStage"]
