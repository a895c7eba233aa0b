"""Fast synthetic captures for the benchmark suite (SPEC §9): concurrent TLS and HTTP flows, DNS, VLAN, IPv6.

Frames are assembled from precomputed byte templates with `struct` (`packets`); application
payloads are segmented once per template, with the one's-complement sum of every segment
precomputed (`payloads`), so a frame's IPv4/TCP/UDP checksums cost a few integer additions.
About 10 % of the frames are exact repeats of a recent frame (SPAN-port duplicates); some
segments are reordered or retransmitted (`traffic`). This module mixes the flows, writes the
file and caches standard sizes. The same seed gives the same bytes.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict
from pathlib import Path

from ..errors import UsageError
from .packets import CONTAINERS
from .replay import corpus_fingerprint, replay_capture
from .traffic import Traffic, TrafficMix

__all__ = ["MIXES", "SIZE_LABELS", "TrafficMix", "cached_capture", "generate_capture"]

GENERATOR_VERSION = 1  # bump whenever the bytes for a seed change: invalidates cached captures
REPLAY_VERSION = 1  # the same for the realistic mix (replay.py)
MIXES = ("realistic", "synthetic")
SIZE_LABELS = {"1MB": 10**6, "10MB": 10**7, "100MB": 10**8, "1GB": 10**9, "10GB": 10**10}
START_US = 1_717_243_200_000_000  # 2024-06-01 12:00:00 UTC
FLUSH_BYTES = 8 << 20  # write in blocks of this size


def write_frames(out, size_bytes: int, traffic: Traffic, record) -> tuple[int, int]:
    """Interleave flows until `size_bytes` of records are written; returns ``(packets, duplicates)``.

    A repeatable frame is followed, with probability d / (1 - d) (d: the duplicate fraction),
    by an exact copy 1 µs later, as a SPAN port does. Segments sent late (reordered,
    retransmitted) are not repeated: Wireshark takes a copy of those for new out-of-order
    data and reports a reassembly error, where a copy of the newest segment is a plain
    retransmission to it.
    """
    rng, mix = traffic.rng, traffic.mix
    random = rng.random
    flows = [traffic.new_flow() for _ in range(mix.concurrent_flows)]
    repeat = mix.duplicate_fraction / (1 - mix.duplicate_fraction)
    gaps = [2 + int(rng.expovariate(1 / 6)) for _ in range(4096)]  # µs between frames, mean 8
    ts, written, flushed, packets, duplicates, parts = START_US, 0, 0, 0, 0, []
    while written < size_bytes:
        i = int(random() * len(flows))
        burst = next(flows[i], None)
        if burst is None:
            flows[i] = traffic.new_flow()
            continue
        for frame, repeatable in zip(*burst):
            packets += 1
            ts += gaps[packets & 4095]
            data = record(ts, frame)
            if repeatable and random() < repeat:
                ts += 1
                data += record(ts, frame)
                duplicates += 1
            parts.append(data)
            written += len(data)
            if written >= size_bytes:
                break
        if written - flushed >= FLUSH_BYTES or written >= size_bytes:
            out.write(b"".join(parts))
            parts.clear()
            flushed = written
    return packets + duplicates, duplicates


def generate_capture(path, size_bytes: int, *, seed: int = 0, fmt: str = "pcap", mix: TrafficMix | None = None) -> dict:
    """Write a synthetic capture of at least `size_bytes` bytes (it stops after the frame that gets there).

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (replaced if it exists).
    size_bytes : int
        Target file size; the file ends at most one frame (plus a duplicate) beyond it.
    seed : int
        Same seed, same mix, same size: byte-identical output.
    fmt : {"pcap", "pcapng"}
        Little-endian microsecond pcap, or pcapng with one section and one Ethernet interface.
    mix : TrafficMix, optional
        What the traffic is made of; default `TrafficMix()`.

    Returns
    -------
    dict
        ``packets``, ``duplicates`` (frames that repeat an earlier frame exactly), ``flows``,
        ``tcp_flows``, ``dns_exchanges``, ``reordered`` and ``retransmissions`` (bursts with a
        swapped pair / a segment sent again), ``bytes`` (file size), ``seed``, ``format``.

    Raises
    ------
    UsageError
        Unknown format or a size that is not positive.
    """
    check_format(fmt)
    if size_bytes <= 0:
        raise UsageError(f"capture size must be positive, not {size_bytes}")
    header, record = CONTAINERS[fmt]
    traffic = Traffic(random.Random(seed), mix or TrafficMix())
    with open(path, "wb") as out:
        out.write(header)
        packets, duplicates = write_frames(out, size_bytes - len(header), traffic, record)
    flows = traffic.stats["tcp_flows"] + traffic.stats["dns_exchanges"]
    counts = {"packets": packets, "duplicates": duplicates, "flows": flows, **traffic.stats}
    return {**counts, "bytes": os.path.getsize(path), "seed": seed, "format": fmt}


def cached_capture(
    cache_dir, size_label: str, *, seed: int = 0, fmt: str = "pcap", mix: str = "synthetic", corpus=None
) -> Path:
    """A capture of a standard size, generated once and reused.

    The capture ``<mix>-<label>-seed<seed>.<fmt>`` in `cache_dir` comes with a sidecar
    ``.json`` recording the generator version, size, seed, format, traffic mix (for
    ``realistic``: a digest of the corpus) and the counts of `generate_capture` or
    `~.replay.replay_capture`; the file is reused when the sidecar matches and the file has
    the recorded size, and regenerated (atomically) otherwise.

    Parameters
    ----------
    cache_dir : str or os.PathLike
        Created if missing.
    size_label : {"1MB", "10MB", "100MB", "1GB", "10GB"}
    seed : int
    fmt : {"pcap", "pcapng"}
        ``pcap`` only for the realistic mix.
    mix : {"synthetic", "realistic"}
        Generated flows (`generate_capture`), or the real captures of `corpus` replayed.
    corpus : path
        The directory of real captures (``realistic``).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    UsageError
        Unknown size label or format.
    """
    check_format(fmt)
    if size_label not in SIZE_LABELS:
        raise UsageError(f"size must be one of {', '.join(SIZE_LABELS)}, not {size_label!r}")
    if mix not in MIXES:
        raise UsageError(f"mix must be one of {', '.join(MIXES)}, not {mix!r}")
    if mix == "realistic" and fmt != "pcap":
        raise UsageError("the realistic mix is written as pcap")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{mix}-{size_label}-seed{seed}.{fmt}"
    sidecar = path.with_name(path.name + ".json")
    wanted = {"size_bytes": SIZE_LABELS[size_label], "seed": seed, "format": fmt}
    if mix == "synthetic":
        wanted.update(generator_version=GENERATOR_VERSION, mix=asdict(TrafficMix()))
    else:
        wanted.update(generator_version=REPLAY_VERSION, corpus=corpus_fingerprint(Path(corpus)))
    if is_cached(path, sidecar, wanted):
        return path
    sidecar.unlink(missing_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        if mix == "synthetic":
            counts = generate_capture(partial, wanted["size_bytes"], seed=seed, fmt=fmt)
        else:
            counts = replay_capture(partial, wanted["size_bytes"], Path(corpus), seed=seed)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    sidecar.write_text(json.dumps({**wanted, **counts}, indent=1) + "\n")
    return path


def check_format(fmt: str) -> None:
    if fmt not in CONTAINERS:
        raise UsageError(f"capture format must be one of {', '.join(CONTAINERS)}, not {fmt!r}")


def is_cached(path: Path, sidecar: Path, wanted: dict) -> bool:
    """Whether `sidecar` records exactly `wanted` and `path` has the recorded size."""
    try:
        recorded = json.loads(sidecar.read_text())
        size = path.stat().st_size
    except (OSError, ValueError):
        return False
    return all(recorded.get(k) == v for k, v in wanted.items()) and recorded.get("bytes") == size
