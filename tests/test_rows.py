"""Report tables (`Rows`) read as the lists of dicts they stand for, and cost nothing until read."""

from __future__ import annotations

import pickle
import struct

from hypothesis import given
from hypothesis import strategies as st

from pktmask_nb.files import json_text
from pktmask_nb.rows import NO_ROWS, Rows

ROW_LISTS = st.lists(st.fixed_dictionaries({"original": st.text(max_size=4), "packets": st.integers(0, 9)}), max_size=6)


@given(ROW_LISTS, ROW_LISTS, st.integers(-8, 8), st.integers(-8, 8), st.integers(-3, 3).filter(bool))
def test_rows_read_as_the_list_they_stand_for(first, second, i, j, step):
    rows = Rows(len(first), lambda k: dict(first[k]))  # a new dict each time, as a stage makes them
    assert len(rows) == len(first) and list(rows) == first and rows == first and first == rows
    assert rows[i:j:step] == first[i:j:step]
    if -len(first) <= i < len(first):
        assert rows[i] == first[i]
    else:
        try:
            rows[i]
        except IndexError:
            pass
        else:
            raise AssertionError(f"row {i} of {len(first)}")
    both = rows + Rows.of(second)
    assert list(both) == first + second and both == first + second and len(both) == len(first) + len(second)
    assert (rows == first + [{"x": 1}]) is False and rows != "text"
    again = pickle.loads(pickle.dumps(both))
    assert type(again) is Rows and again == first + second
    assert json_text({"t": both}) == json_text({"t": first + second})
    assert bool(rows) == bool(first)


def test_a_table_no_stage_filled_is_empty_and_written_as_an_empty_list():
    assert len(NO_ROWS) == 0 and list(NO_ROWS) == [] and NO_ROWS == [] and not NO_ROWS
    assert json_text({"mapping": NO_ROWS, "flows": Rows.of([])}) == '{\n "mapping": [],\n "flows": []\n}\n'


def test_the_mapping_costs_nothing_until_read_and_is_written_a_row_at_a_time(tmp_path):
    """A 10 GB replay maps 180,000 addresses: made whole as dicts at the end of the run, their
    rows took 106 MiB beside the table's 35; now a row is made when the report reads it."""
    import gc
    import tracemalloc

    from pktmask_nb.anon import AddressMapper
    from pktmask_nb.anon.table import AddressTable
    from pktmask_nb.files import write_json

    table = AddressTable(AddressMapper(bytes(range(32))).anonymize)
    for i in range(20_000):
        table.see(struct.pack("!I", 0x0A000000 + i), i + 1, 1_700_000_000_000_000_000 + i, 0)
    first = table.rows()[0]  # imports and caches the first row needs
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        rows = table.rows()
        made = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.reset_peak()
        write_json(str(tmp_path / "r.json"), {"tables": {"mapping": rows}})
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert made < 5 * 20_000, f"{made} bytes for the table's rows"  # its order: 4 bytes a row
    assert peak < 2**20, f"{peak / 2**20:.1f} MiB writing 20,000 rows"
    written = __import__("json").loads((tmp_path / "r.json").read_text())["tables"]["mapping"]
    assert written[0] == first and written == list(rows) and len(written) == 20_000
    assert [r["first_frame"] for r in written] == list(range(1, 20_001))
