"""DataFrames from a `RunResult`: per chunk, per stage, the IP mapping, flows, duplicates."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..api import RunResult
from ..pipeline import ChunkMetrics

MB = 1_000_000
CHUNK_COLUMNS = (
    "chunk",
    "packets_in",
    "packets_out",
    "bytes_in",
    "bytes_out",
    "read_seconds",
    "write_seconds",
    "total_seconds",
    "elapsed_seconds",
    "rss_bytes",
    "input_position",
    "packets_per_second",
    "mb_per_second",
)
NOT_STEP_SECONDS = ("total_seconds", "elapsed_seconds")
MAPPING_COLUMNS = (
    "original",
    "anonymized",
    "version",
    "packets",
    "first_seen",
    "last_seen",
    "first_frame",
    "last_frame",
    "in_dns",
)
FLOW_COLUMNS = ("transport", "src", "sport", "dst", "dport", "protocol", "packets", "bytes_kept", "bytes_zeroed")
DUPLICATE_COLUMNS = ("digest", "duplicates", "first_duplicate_frame", "caplen")


def _metrics(source) -> list[dict]:
    """Chunk metrics as dicts, from a RunResult or an iterable of ChunkMetrics / dicts."""
    items = source.chunks if isinstance(source, RunResult) else source
    return [m.to_dict() if isinstance(m, ChunkMetrics) else dict(m) for m in items]


def _chunk_row(m: dict) -> dict:
    row = {k: m[k] for k in ("chunk", "packets_in", "packets_out", "bytes_in", "bytes_out", "read_seconds")}
    row.update({f"{stage}_seconds": s for stage, s in m["stage_seconds"].items()})
    row["write_seconds"] = m["write_seconds"]
    row["total_seconds"] = m["read_seconds"] + sum(m["stage_seconds"].values()) + m["write_seconds"]
    row.update({k: m[k] for k in ("elapsed_seconds", "rss_bytes", "input_position")})
    return row


def chunks_frame(source: RunResult | Iterable[ChunkMetrics]) -> pd.DataFrame:
    """One row per chunk: packets and bytes in/out, seconds per step, memory, throughput.

    Parameters
    ----------
    source : RunResult or iterable of ChunkMetrics
        A finished run, or the metrics collected so far by an ``on_chunk`` callback.

    Returns
    -------
    DataFrame
        Columns ``chunk, packets_in, packets_out, bytes_in, bytes_out, read_seconds``, one
        ``<stage>_seconds`` per stage in run order, ``write_seconds, total_seconds`` (their
        sum), ``elapsed_seconds`` (since the run started), ``rss_bytes``, ``input_position``
        (file bytes consumed), ``packets_per_second`` and ``mb_per_second`` (input over
        ``total_seconds``; NaN for an empty chunk).
    """
    rows = [_chunk_row(m) for m in _metrics(source)]
    if not rows:
        return pd.DataFrame(columns=list(CHUNK_COLUMNS))
    df = pd.DataFrame(rows)
    seconds = df["total_seconds"].where(df["total_seconds"] > 0)
    df["packets_per_second"] = df["packets_in"].where(df["packets_in"] > 0) / seconds
    df["mb_per_second"] = df["bytes_in"].where(df["bytes_in"] > 0) / MB / seconds
    return df


def step_columns(df: pd.DataFrame) -> list[str]:
    """The per-step time columns of a `chunks_frame` in pipeline order: read, stages, write."""
    return [c for c in df.columns if c.endswith("_seconds") and c not in NOT_STEP_SECONDS]


def stage_times_frame(result: RunResult) -> pd.DataFrame:
    """Seconds spent per step over the whole run (read, each stage, write) and their shares.

    Returns
    -------
    DataFrame
        Indexed by step name; columns ``seconds`` and ``share`` (of the summed steps).
    """
    chunks = chunks_frame(result)
    columns = step_columns(chunks)
    seconds = chunks[columns].sum() if len(chunks) else pd.Series(0.0, index=columns)
    df = pd.DataFrame({"seconds": seconds.to_numpy(dtype=float)}, index=[c.removesuffix("_seconds") for c in columns])
    total = df["seconds"].sum()
    df["share"] = df["seconds"] / total if total > 0 else 0.0
    df.index.name = "step"
    return df


def _flatten(prefix: str, value, out: list) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list | tuple):
        if all(not isinstance(v, dict | list | tuple) for v in value):
            out.append((prefix, ", ".join(map(str, value))))
        # lists of rows (dedup's top frames) are tables of their own: see duplicates_frame
    else:
        out.append((prefix, value))


def stages_frame(result: RunResult) -> pd.DataFrame:
    """Every stage statistic in long form: one row per ``(stage, stat)``.

    Nested statistics get dotted names (``addresses_rewritten.ipv4_outer``); lists of
    plain values are joined with ``", "``; lists of rows (the top duplicated frames) are
    left to `duplicates_frame`, and the kept-bytes ledger to `ledger_frame`.

    Returns
    -------
    DataFrame
        Columns ``stage, stat, value`` (``value`` has object dtype: numbers, strings, None).
    """
    rows = []
    for stage, stats in result.stages.items():
        flat: list = []
        _flatten("", {k: v for k, v in stats.items() if k != "ledger"}, flat)
        rows.extend({"stage": stage, "stat": stat, "value": value} for stat, value in flat)
    return pd.DataFrame(rows, columns=["stage", "stat", "value"]).astype({"value": object})


def _times(df: pd.DataFrame, ns_columns: dict[str, str]) -> pd.DataFrame:
    """Add datetime columns (UTC) next to nanosecond timestamp columns."""
    for ns_column, name in ns_columns.items():
        if ns_column in df.columns:
            df[name] = pd.to_datetime(df[ns_column], unit="ns", utc=True)
    return df


def mapping_frame(result: RunResult) -> pd.DataFrame:
    """The anonymize stage's address mapping (SPEC §5): one row per original address.

    Columns are the report's (``original, anonymized, version`` — 4, 6 or ``"mac"`` —,
    ``packets, first_seen, last_seen`` in ns, ``first_frame, last_frame, in_dns``: seen in
    DNS data) plus ``first_time``/``last_time`` as UTC datetimes. Empty (with these columns)
    when anonymize did not run.
    """
    # a list: each row made once (pandas reads a sequence of dicts twice)
    df = pd.DataFrame(list(result.mapping)) if result.mapping else pd.DataFrame(columns=list(MAPPING_COLUMNS))
    return _times(df, {"first_seen": "first_time", "last_seen": "last_time"})


def flows_frame(result: RunResult) -> pd.DataFrame:
    """The mask stage's flows (SPEC §6): 5-tuple as written, protocol, TLS records, bytes.

    Adds ``bytes_payload`` (``bytes_kept + bytes_zeroed``), ``kept_share`` (of the
    payload; NaN without payload) and ``first_time``/``last_time`` as UTC datetimes.
    """
    if not result.flows:
        return pd.DataFrame(columns=[*FLOW_COLUMNS, "bytes_payload", "kept_share"])
    df = pd.DataFrame(list(result.flows))
    df["bytes_payload"] = df["bytes_kept"] + df["bytes_zeroed"]
    df["kept_share"] = df["bytes_kept"] / df["bytes_payload"].where(df["bytes_payload"] > 0)
    return _times(df, {"first_ts": "first_time", "last_ts": "last_time"})


def duplicates_frame(result: RunResult) -> pd.DataFrame:
    """The dedup stage's most duplicated frames (SPEC §4), most duplicated first."""
    if not result.duplicates:
        return pd.DataFrame(columns=list(DUPLICATE_COLUMNS))
    return pd.DataFrame(list(result.duplicates))


def summary_frame(result: RunResult) -> pd.DataFrame:
    """The run in one small table: files, packets, bytes, time, memory, throughput."""
    seconds = result.seconds or float("nan")
    items = {
        "input": result.input,
        "output": result.output or "(not written)",
        "format": result.format,
        "stages": ", ".join(result.config.get("stages", ())) or "none",
        "chunk_size": result.config.get("chunk_size"),
        "chunks": len(result.chunks),
        "packets_in": result.packets_in,
        "packets_out": result.packets_out,
        "bytes_read": result.bytes_read,
        "bytes_written": result.bytes_written,
        "seconds": result.seconds,
        "packets_per_second": result.packets_in / seconds,
        "mb_per_second": result.bytes_read / MB / seconds,
        "peak_rss_bytes": result.peak_rss_bytes,
        "warnings": len(result.warnings),
    }
    return pd.DataFrame({"value": pd.Series(items, dtype=object)}).rename_axis("field")


def ledger_frame(result: RunResult) -> pd.DataFrame:
    """The kept-bytes ledger (SPEC §2.4): why every written byte is what it is.

    One row per ``(verdict, reason)``: ``verdict`` is ``kept`` (understood structure, or
    payload kept by a protocol rule), ``rewritten`` (address fields) or ``zeroed``;
    ``bytes`` sum to the captured bytes written; ``share`` is their fraction. Empty when
    neither anonymize nor mask ran.
    """
    rows = [
        {"verdict": verdict, "reason": reason, "bytes": n}
        for verdict, reasons in result.ledger.items()
        for reason, n in reasons.items()
    ]
    df = pd.DataFrame(rows, columns=["verdict", "reason", "bytes"])
    total = df["bytes"].sum()
    df["share"] = df["bytes"] / total if total else 0.0
    return df.sort_values(["verdict", "bytes"], ascending=[True, False], ignore_index=True)


def run_frames(result: RunResult) -> dict[str, pd.DataFrame]:
    """Every table of a run by name: summary, chunks, stage_times, stages, ledger, mapping, flows, duplicates."""
    return {
        "summary": summary_frame(result),
        "chunks": chunks_frame(result),
        "stage_times": stage_times_frame(result),
        "stages": stages_frame(result),
        "ledger": ledger_frame(result),
        "mapping": mapping_frame(result),
        "flows": flows_frame(result),
        "duplicates": duplicates_frame(result),
    }
