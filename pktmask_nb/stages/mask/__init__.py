"""The mask stage (SPEC §6): one module per concern.

- `stream`: one TCP direction in sequence space, reassembly, the decision map
- `detect`, `tls`, `http`, `starttls`: walkers that decide stream bytes per protocol
- `dtls`: DTLS records in UDP datagrams
- `control`, `icmp`, `wlan`: PPP/ICMPv6 option skeletons, ICMP-quoted payloads, 802.11 / radiotap frames
- `frames`: a chunk's plain TCP frames parsed in one NumPy pass, flow keys
- `flows`: the bounded flow table and the per-flow report
- `writer`: the chunk's zeroing and checksum updates, done together in NumPy
- `stage`: `MaskStage`, holding back and releasing packets in input order
"""

from .stage import MaskStage

__all__ = ["MaskStage"]
