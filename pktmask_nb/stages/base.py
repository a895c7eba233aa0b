"""What a stage is: the contract between the pipeline engine and dedup, anonymize and mask."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Stage(Protocol):
    """A step of the pipeline.

    A chunk is a list of `~pktmask_nb.record.Packet` and `~pktmask_nb.record.Block` records
    in file order. `process` returns the records to pass on, in the same order: it may drop
    packets (dedup), change ``Packet.data`` in place or replace it with a same-length
    buffer, and hold records back while it waits for more input (mask), which `flush`
    then returns at the end of the input. Blocks are passed on untouched unless the stage
    owns container metadata. Output must not depend on where chunks are cut (SPEC §2.3).

    A stage may also offer ``prepare(chunk)``: the part of its work on a chunk that needs
    none of its state (parsing), whose result ``process(chunk, prepared)`` then takes
    instead of computing it. A two-process run (`~pktmask_nb.split`) calls it on the
    reader's side for the first stage of the child, where a core has time to spare.

    A stage with a ``views`` attribute, when it is True, may set ``Packet.data`` to a
    ``memoryview`` of a buffer of its own instead of copying the bytes out (anonymize's
    rewritten frames, mask's zeroed ones). A two-process run sets it on both sides, where
    the records are only copied on (into the child's memory, or into the output file) or
    measured; everywhere else data stays ``bytes`` or ``bytearray``, which the stages search.
    """

    name: str

    def process(self, chunk: list) -> list: ...

    def flush(self) -> list: ...

    def stats(self) -> dict: ...

    def tables(self) -> dict[str, list[dict]]: ...
