"""Report tables: sequences of row dicts, each row made when it is read (and the sequence type
they share with a run's chunk metrics)."""

from __future__ import annotations

from collections.abc import Callable, Sequence


class MadeOnRead(Sequence):
    """A sequence whose items are made as they are read (``_item(i)``), equal to any sequence of
    equal items: a report table (`Rows`), a run's chunk metrics (`~pktmask_nb.pipeline.ChunkLog`).

    An item read twice is made twice: two equal objects, not one.
    """

    __slots__ = ()

    def _item(self, i: int):
        raise NotImplementedError

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self._item(k) for k in range(*i.indices(len(self)))]
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"item {i} of {n}")
        return self._item(i)

    def __iter__(self):
        for i in range(len(self)):
            yield self._item(i)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes, bytearray)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # equal to a list of the same items, which has none


class Rows(MadeOnRead):
    """A report table of `count` rows; ``row(i)`` makes the i-th as a dict.

    A stage hands out its tables as `Rows` over its own records rather than as lists of
    dicts: the address mapping of a 10 GB capture has 10^5 rows, which as dicts took more
    memory than the records they are made from, all at once at the end of the run. Reports,
    CSV files and DataFrames read the rows one at a time. Pickled (the second process, Dask),
    a table travels as its rows, made.

    A row read twice is made twice: two equal dicts, not one object.
    """

    __slots__ = ("_count", "_row")

    def __init__(self, count: int, row: Callable[[int], dict]):
        self._count = count
        self._row = row

    @classmethod
    def of(cls, rows: list[dict]) -> Rows:
        """The table of rows already made."""
        return cls(len(rows), rows.__getitem__)

    def __len__(self) -> int:
        return self._count

    def _item(self, i: int) -> dict:
        return self._row(i)

    def __add__(self, other: Sequence) -> Rows:
        """This table's rows, then `other`'s."""
        first, count = self._row, self._count
        return Rows(count + len(other), lambda i: first(i) if i < count else other[i - count])

    def __repr__(self) -> str:
        return f"<Rows: {self._count} rows>"

    def __reduce__(self):
        return Rows.of, (list(self),)


NO_ROWS = Rows(0, list.__getitem__)  # a table no stage filled
