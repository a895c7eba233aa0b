"""The mask stage (SPEC §6): one module per concern.

- `stream`: one TCP direction in sequence space, reassembly, the decision map
- `detect`, `tls`, `http`, `starttls`: walkers that decide stream bytes per protocol
- `dtls`: DTLS records in UDP datagrams
- `wlan`: 802.11 / radiotap frames
- `flows`: the bounded flow table and the per-flow report
- `stage`: `MaskStage`, holding back and releasing packets in input order
"""

from .stage import MaskStage

__all__ = ["MaskStage"]
