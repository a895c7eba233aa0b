"""DataFrames from a run hold the run's own numbers: chunks, stage stats, mapping, flows, duplicates."""

from __future__ import annotations

import json

import pytest

pd = pytest.importorskip("pandas")
nb = pytest.importorskip("pktmask_nb.notebook")

from conftest import DATA  # noqa: E402

import pktmask_nb  # noqa: E402
from pktmask_nb.capture import open_capture  # noqa: E402
from pktmask_nb.config import AnonymizeConfig, Config, MaskConfig  # noqa: E402
from pktmask_nb.record import Packet  # noqa: E402

KEY = bytes(range(32))
README = json.loads((DATA / "README.md").read_text().split("```json")[1].split("```")[0])


def _config(**changes) -> Config:
    return Config(anonymize=AnonymizeConfig(key=KEY), mask=MaskConfig(keep=("http-headers",)), **changes)


@pytest.fixture(scope="module")
def dup_run():
    """The full pipeline on duplicates.pcap in chunks of 32, with the metrics handed to on_chunk."""
    seen = []
    result = pktmask_nb.run(DATA / "duplicates.pcap", config=_config(chunk_size=32), on_chunk=seen.append)
    return result, seen


@pytest.fixture(scope="module")
def mask_run():
    """Mask alone on tls_http.pcap: a flows table with TLS, HTTP and DNS flows."""
    return pktmask_nb.run(DATA / "tls_http.pcap", config=Config(stages=("mask",), chunk_size=16))


def _capture_sizes(path) -> tuple[int, int]:
    with open_capture(path) as reader:
        packets = [r for r in reader if r.__class__ is Packet]
    return len(packets), sum(len(p.data) for p in packets)


def test_chunks_frame_rows_are_the_chunk_metrics(dup_run):
    result, _ = dup_run
    df = nb.chunks_frame(result)
    assert len(df) == len(result.chunks) == 9  # 265 packets in chunks of 32
    for row, m in zip(df.itertuples(index=False), result.chunks):
        assert (row.chunk, row.packets_in, row.packets_out) == (m.chunk, m.packets_in, m.packets_out)
        assert (row.bytes_in, row.bytes_out, row.rss_bytes) == (m.bytes_in, m.bytes_out, m.rss_bytes)
        assert (row.read_seconds, row.write_seconds) == (m.read_seconds, m.write_seconds)
        assert (row.elapsed_seconds, row.input_position) == (m.elapsed_seconds, m.input_position)
        for stage, seconds in m.stage_seconds.items():
            assert getattr(row, f"{stage}_seconds") == seconds
        steps = m.read_seconds + sum(m.stage_seconds.values()) + m.write_seconds
        assert row.total_seconds == pytest.approx(steps)
        assert row.mb_per_second == pytest.approx(m.bytes_in / 1e6 / steps)
        assert row.packets_per_second == pytest.approx(m.packets_in / steps)


def test_chunks_frame_totals_match_the_report(dup_run):
    result, _ = dup_run
    df = nb.chunks_frame(result)
    packets, size = _capture_sizes(DATA / "duplicates.pcap")
    assert df["packets_in"].sum() == result.packets_in == packets == README["duplicates.pcap"]["packets"]
    assert df["packets_out"].sum() == result.packets_out == result.stages["dedup"]["packets_out"]
    assert df["bytes_in"].sum() == size
    assert df["bytes_in"].sum() - df["bytes_out"].sum() == result.stages["dedup"]["bytes_saved"]
    assert nb.frames.step_columns(df) == [
        f"{s}_seconds" for s in ("read", "dedup", "anonymize", "mask", "scrub", "write")
    ]


def test_chunks_frame_from_live_metrics_equals_the_finished_run(dup_run):
    result, seen = dup_run
    pd.testing.assert_frame_equal(nb.chunks_frame(seen), nb.chunks_frame(result))
    pd.testing.assert_frame_equal(nb.chunks_frame(seen[:3]), nb.chunks_frame(result).iloc[:3])


def test_empty_chunks_frame_has_the_columns():
    df = nb.chunks_frame([])
    assert df.empty and {"chunk", "packets_in", "rss_bytes", "mb_per_second"} <= set(df.columns)


def test_stage_times_are_the_summed_chunk_times(dup_run):
    result, _ = dup_run
    df = nb.stage_times_frame(result)
    assert list(df.index) == ["read", "dedup", "anonymize", "mask", "scrub", "write"]
    assert df.loc["read", "seconds"] == pytest.approx(sum(m.read_seconds for m in result.chunks))
    for stage in ("dedup", "anonymize", "mask"):
        assert df.loc[stage, "seconds"] == pytest.approx(sum(m.stage_seconds[stage] for m in result.chunks))
    assert df["share"].sum() == pytest.approx(1.0)


def test_stages_frame_holds_every_scalar_stat(dup_run):
    result, _ = dup_run
    df = nb.stages_frame(result)
    values = {(row.stage, row.stat): row.value for row in df.itertuples(index=False)}
    assert set(df["stage"]) == set(result.stages)
    for stage, stats in result.stages.items():
        for name, value in stats.items():
            if name == "ledger":
                continue  # a table: ledger_frame
            if isinstance(value, dict):
                for inner, v in value.items():
                    assert values[(stage, f"{name}.{inner}")] == v
            elif not isinstance(value, list):
                assert values[(stage, name)] == value
    assert values[("dedup", "duplicates")] == README["duplicates.pcap"]["expected_removed"]["frame"]
    assert values[("mask", "keep")] == "http-headers"  # a list of strings, joined
    assert not any(stat.startswith("top") and stat != "top_exact" for stat in df["stat"])  # rows: duplicates_frame


def test_mapping_frame_is_the_mapping_table(dup_run):
    result, _ = dup_run
    df = nb.mapping_frame(result)
    columns = list(result.mapping[0])
    assert df[columns].to_dict("records") == result.mapping
    unique = result.stages["anonymize"]["unique_addresses"]
    assert len(df) == unique["ipv4"] + unique["ipv6"]
    assert (df["first_time"] == pd.to_datetime(df["first_seen"], unit="ns", utc=True)).all()
    assert (df["last_time"] >= df["first_time"]).all()
    assert df["original"].is_unique and df["anonymized"].is_unique  # one-to-one


def test_flows_frame_is_the_flows_table_and_adds_up_to_the_stats(mask_run):
    df = nb.flows_frame(mask_run)
    columns = list(mask_run.flows[0])
    assert df[columns].to_dict("records") == mask_run.flows
    stats = mask_run.stages["mask"]
    assert len(df) == stats["flows"]
    assert df["bytes_kept"].sum() == stats["payload_bytes_kept"]
    assert df["bytes_zeroed"].sum() == stats["payload_bytes_zeroed"]
    assert df["tls_application_data"].sum() == stats["tls_records"]["application_data"]
    assert (df["bytes_payload"] == df["bytes_kept"] + df["bytes_zeroed"]).all()
    with_payload = df[df["bytes_payload"] > 0]
    assert (with_payload["kept_share"] == with_payload["bytes_kept"] / with_payload["bytes_payload"]).all()
    streams = README["tls_http.pcap"]["tcp_streams"]
    tcp = df[df["transport"] == "tcp"].sort_values("first_ts")
    assert tcp["packets"].tolist() == [s["packets"] for s in streams]
    assert [f"{r.src}:{r.sport}" for r in tcp.itertuples()] == [s["client"] for s in streams]


def test_duplicates_frame_is_the_top_table(dup_run):
    result, _ = dup_run
    df = nb.duplicates_frame(result)
    assert df.to_dict("records") == result.duplicates
    assert df["duplicates"].sum() == result.stages["dedup"]["duplicates"]  # every duplicated frame listed
    known = README["duplicates.pcap"]["duplicates"]
    first_copies = {min(d for d, o in known["span"]["frames"] + known["far"]["frames"] if o == original)
                    for _, original in known["span"]["frames"] + known["far"]["frames"]}  # fmt: skip
    assert set(df["first_duplicate_frame"]) == first_copies


def test_tables_are_empty_frames_when_the_stage_did_not_run():
    result = pktmask_nb.run(DATA / "tls_http.pcap", config=Config(stages=()))
    frames = nb.run_frames(result)
    for name in ("mapping", "flows", "duplicates"):
        assert frames[name].empty and len(frames[name].columns) >= 4
    assert frames["stages"].empty
    assert list(frames["stage_times"].index) == ["read", "write"]


def test_summary_frame(dup_run):
    result, _ = dup_run
    values = nb.summary_frame(result)["value"]
    assert values["packets_in"] == result.packets_in and values["packets_out"] == result.packets_out
    assert values["bytes_read"] == result.bytes_read and values["chunks"] == len(result.chunks)
    assert values["chunk_size"] == 32 and values["stages"] == "dedup, anonymize, mask"
    assert values["mb_per_second"] == pytest.approx(result.bytes_read / 1e6 / result.seconds)
    assert set(nb.run_frames(result)) == {
        "summary",
        "chunks",
        "stage_times",
        "stages",
        "ledger",
        "mapping",
        "flows",
        "duplicates",
    }


def test_ledger_frame_accounts_for_every_written_byte(dup_run, mask_run):
    for result in (dup_run[0], mask_run):
        df = nb.ledger_frame(result)
        written = sum(m.bytes_out for m in result.chunks)
        assert df["bytes"].sum() == written > 0
        assert df["share"].sum() == pytest.approx(1.0)
        assert set(df["verdict"]) <= {"kept", "rewritten", "zeroed"}
        kept = dict(zip(df["reason"][df["verdict"] == "kept"], df["bytes"][df["verdict"] == "kept"]))
        assert kept.get("ip-header", 0) > 0
    mask = nb.ledger_frame(mask_run)
    assert {"tls-record-header", "tls-handshake"} <= set(mask["reason"])
    assert "rewritten" not in set(mask["verdict"])  # mask alone rewrites no address
    assert "rewritten" in set(nb.ledger_frame(dup_run[0])["verdict"])
