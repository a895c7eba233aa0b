"""What a stage is: the contract between the pipeline engine and dedup, anonymize and mask."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..rows import Rows


@runtime_checkable
class Stage(Protocol):
    """A step of the pipeline.

    A chunk is a list of `~pktmask_nb.record.Packet` and `~pktmask_nb.record.Block` records
    in file order. `process` returns the records to pass on, in the same order: it may drop
    packets (dedup), change ``Packet.data`` in place or replace it with a same-length
    buffer, and hold records back while it waits for more input (mask), which `flush`
    then returns at the end of the input. Blocks are passed on untouched unless the stage
    owns container metadata. Output must not depend on where chunks are cut (SPEC §2.3).

    A stage that writes packets (anonymize, mask) keeps a byte of a frame only where the
    frame map (`~pktmask_nb.proto.spans`) gives it a reason to, and counts what it passes on
    in its ledger (``stats()["ledger"]``). A frame is dissected once: the stages read
    ``Packet.frame`` through `~pktmask_nb.proto.dissect.frame_of`, and a stage that changes
    ``data`` either keeps that map true of the new bytes or sets it to None.
    """

    name: str

    def process(self, chunk: list) -> list: ...

    def flush(self) -> list: ...

    def stats(self) -> dict: ...

    def tables(self) -> dict[str, Rows]: ...
