"""The ``pktmask-nb`` command line (SPEC §7): exit 0 ok, 1 some files failed (audit: findings), 2 bad
usage or input, 3 (audit) undecided."""

from __future__ import annotations

import _thread
import argparse
import io
import os
import signal
import stat
import sys
import warnings

from . import __version__
from .api import run
from .capture.writer import remove_temporaries
from .config import (
    ANON_KEEP,
    ANON_MAC,
    AUDIT_REMEMBER_BYTES,
    CRYPTOPAN_KEY_LEN,
    DEFAULT_CHUNK_BYTES,
    DEFAULT_CHUNK_SIZE,
    TLS_NAMES,
    AnonymizeConfig,
    Config,
    DedupConfig,
    MaskConfig,
    parse_stages,
)
from .errors import OutputError, PktmaskError, UsageError
from .files import check_side_file, make_parents, plan, write_json, write_text
from .words import plural

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_UNDECIDED = 0, 1, 2, 3
KEY_FILE_MAX = 4096  # 64 hex digits with some white space, or 32 raw bytes, fit easily


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, as for every other user mistake
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pktmask-nb", description="Make packet captures safe to share: dedup, anonymize, mask.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_run_parser(commands)
    add_audit_parser(commands)
    add_unmap_parser(commands)
    add_bench_parser(commands)
    return parser


def add_run_parser(commands) -> None:
    p = commands.add_parser("run", help="sanitize captures", description="Sanitize captures in one streaming pass.")
    p.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="capture files or directories (recursive); - reads standard input"
    )
    p.add_argument("-o", "--output", required=True, help="output file (one input), directory, or - (standard output)")
    p.add_argument("--stages", default="dedup,anonymize,mask", help="comma-separated stages, or none (default: all)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="packets per chunk (default %(default)s)")
    p.add_argument(
        "--chunk-bytes",
        type=int,
        default=DEFAULT_CHUNK_BYTES,
        metavar="B",
        help="a chunk also ends at B bytes of packets (default 8 MiB)",
    )
    p.add_argument("--report", metavar="R.json", help="write a JSON report")
    p.add_argument("--force", action="store_true", help="replace existing outputs")
    p.add_argument("--dedup-window", type=int, metavar="N", help="duplicates only within the previous N frames")
    p.add_argument("--dedup-seconds", type=float, metavar="S", help="duplicates only within S seconds")
    p.add_argument("--dedup-key", choices=("frame", "l3"), default="frame", help="compare whole frames or IP datagrams")
    p.add_argument(
        "--allow-truncated", action="store_true", help="process a capture cut short up to its last whole record"
    )
    p.add_argument("--key", metavar="HEX64", help="Crypto-PAn key as 64 hex digits (default: random per invocation)")
    p.add_argument("--key-file", metavar="F", help="file holding the key (64 hex digits, or 32 raw bytes)")
    p.add_argument("--anon-keep", choices=ANON_KEEP, default="special", help="keep special address ranges, or none")
    p.add_argument(
        "--anon-preserve-class", action="store_true", help="private addresses (RFC 1918, RFC 4193) stay private"
    )
    p.add_argument(
        "--anon-mac",
        choices=ANON_MAC,
        default="none",
        help="also map hardware addresses: all unicast MACs, or their last three octets (default none)",
    )
    p.add_argument(
        "--anon-dns",
        action="store_true",
        help="rewrite DNS answers and Client Subnet addresses; keep DNS structure (names zeroed unless --keep dns-names)",
    )
    p.add_argument("--mapping-out", metavar="M.csv", help="write the address mapping as CSV")
    p.add_argument("--keep", action="append", default=[], metavar="WHAT", help="also keep: http-headers, dns-names")
    p.add_argument(
        "--tls-names",
        choices=TLS_NAMES,
        default="keep",
        help="zero server names and (TLS <= 1.2) certificate names in kept handshakes (default keep)",
    )
    p.add_argument("--keep-metadata", action="store_true", help="keep pcapng comments, names and secrets blocks")
    p.add_argument("--mask-max-flows", type=int, metavar="N", help="flows tracked at once (default 200000; LRU beyond)")
    p.add_argument(
        "--mask-idle-timeout",
        type=float,
        metavar="S",
        help="forget a flow after S seconds without a packet (default 300)",
    )
    p.add_argument(
        "--mask-udp-idle-timeout",
        type=float,
        metavar="S",
        help="the same for UDP flows, which keep no stream state (default 60)",
    )
    p.add_argument(
        "--mask-hold-packets", type=int, metavar="N", help="out-of-order packets held back at most (default 2048)"
    )
    p.add_argument("--mask-hold-bytes", type=int, metavar="B", help="bytes held back at most (default 8 MiB)")
    p.add_argument(
        "--mask-remember-bytes",
        type=int,
        metavar="B",
        help="kept bytes remembered to judge retransmissions (default 32 MiB; acknowledged ones forgotten first)",
    )
    p.add_argument(
        "--workers", type=int, metavar="N", help="run files in parallel on a local Dask cluster of N processes"
    )
    p.add_argument("--scheduler", metavar="ADDR", help="run files on the Dask scheduler at ADDR (tcp://host:8786)")
    p.add_argument(
        "--processes",
        choices=("1", "2", "auto"),
        default="auto",
        help="per file: 2 runs the last stage and the writer in a second process (auto: when mask runs after "
        "another stage on an input of 32 MiB or more and the machine has two CPUs)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-q", "--quiet", action="store_true", help="print errors only")
    p.set_defaults(handler=command_run)


def add_audit_parser(commands) -> None:
    p = commands.add_parser(
        "audit",
        help="check a sanitized capture for leaks",
        description="Leak audit (SPEC §8): judges the sanitized capture byte by byte against its original "
        "and searches it for the original addresses in every encoding. Exit 0 clean (every non-zero "
        "byte explained), 1 findings, 3 undecided (bytes it could not judge, listed by reason), "
        "2 bad usage or input (also: the two files do not correspond).",
    )
    p.add_argument("original", metavar="ORIGINAL", help="the capture before sanitizing")
    p.add_argument("sanitized", metavar="SANITIZED", help="the sanitized capture")
    p.add_argument("--anon-keep", choices=ANON_KEEP, default="special", help="special ranges were kept, or none")
    p.add_argument(
        "--keep", action="append", default=[], metavar="WHAT", help="the run also kept: http-headers, dns-names"
    )
    p.add_argument(
        "--anon-mac", choices=ANON_MAC, default="none", help="the run anonymized MACs: look for the original ones"
    )
    p.add_argument(
        "--tls-names", choices=TLS_NAMES, default="keep", help="the run zeroed TLS names: look for the original ones"
    )
    p.add_argument("--anon-dns", action="store_true", help="the run rewrote DNS addresses and kept DNS structure")
    p.add_argument("--json", metavar="R.json", help="write the audit report as JSON")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="findings listed (default %(default)s)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="packets per chunk (default %(default)s)")
    p.add_argument(
        "--remember-bytes",
        type=int,
        default=AUDIT_REMEMBER_BYTES,
        metavar="N",
        help="first copies of kept bytes remembered to compare retransmissions with (default 64 MiB; "
        "the least recent cut to their last bytes, then forgotten: a kept copy of forgotten bytes is undecided)",
    )
    p.set_defaults(handler=command_audit)


def command_audit(args) -> int:
    from .audit import audit

    keep = {k.strip() for item in args.keep for k in item.split(",") if k.strip()}
    MaskConfig(keep=tuple(keep))  # validates the names
    if args.json is not None:
        check_side_file(args.json, "report")
    report = audit(
        args.original,
        args.sanitized,
        keep=args.anon_keep,
        http_headers="http-headers" in keep,
        macs=args.anon_mac != "none",
        tls_names=args.tls_names == "zero",
        dns=args.anon_dns,
        dns_names="dns-names" in keep,
        chunk_size=args.chunk_size,
        remember_bytes=args.remember_bytes,
        limit=args.limit,
        raise_on_findings=False,
    )
    for message in report.warnings:
        print(f"pktmask-nb: warning: {message}", file=sys.stderr)
    print(report.summary())
    for finding in report.findings:
        print(f"  {finding}")
    if len(report) > len(report.findings):
        print(f"  ... {len(report) - len(report.findings)} more (--limit)")
    for reason, where in report.undecided.items():
        frames = f"{where['frames']} frame{'s' if where['frames'] != 1 else ''}"
        print(f"  not judged: {reason}: {where['bytes']} bytes in {frames}, first at byte {where['offset']} "
              f"(frame {where['frame']})")  # fmt: skip
    if args.json:
        write_json(args.json, report.to_dict())
    return {"clean": EXIT_OK, "findings": EXIT_SOME_FAILED}.get(report.verdict, EXIT_UNDECIDED)


def add_unmap_parser(commands) -> None:
    p = commands.add_parser(
        "unmap",
        help="map anonymized addresses back (needs the key)",
        description="Invert the address mapping of a run, for the holder of its key: give the key and "
        "the --anon-* options the run had, and anonymized addresses (or a CSV column of them).",
    )
    p.add_argument("addresses", nargs="*", metavar="ADDRESS", help="anonymized IPv4, IPv6 or MAC addresses")
    p.add_argument("--key", metavar="HEX64", help="the run's Crypto-PAn key as 64 hex digits")
    p.add_argument("--key-file", metavar="F", help="file holding the key (64 hex digits, or 32 raw bytes)")
    p.add_argument("--anon-keep", choices=ANON_KEEP, default="special", help="as the run had it")
    p.add_argument("--anon-preserve-class", action="store_true", help="as the run had it")
    p.add_argument("--anon-mac", choices=ANON_MAC, default="none", help="as the run had it (MACs and EUI-64 addresses)")
    p.add_argument("--csv", metavar="FILE", help="a CSV (- for standard input): adds COLUMN_original to each row")
    p.add_argument("--column", default="anonymized", help="the CSV column of addresses (default %(default)s)")
    p.set_defaults(handler=command_unmap)


def command_unmap(args) -> int:
    import csv
    import ipaddress

    from .anon import AddressMapper

    key = read_key(args)
    if key is None:
        raise UsageError("unmap needs the run's key: --key or --key-file")
    if bool(args.csv) == bool(args.addresses):
        raise UsageError("give addresses, or --csv FILE, not both or neither")
    from .anon.mac import mac_bytes, mac_text

    mapper = AddressMapper(key, args.anon_keep, preserve_class=args.anon_preserve_class, mac=args.anon_mac)

    def back(text: str, where: str) -> str:
        try:
            address = ipaddress.ip_address(text.strip())
        except ValueError:
            mac = mac_bytes(text.strip())
            if mac is None:
                raise UsageError(f"{where}: not an IPv4, IPv6 or MAC address: {text!r}") from None
            return mac_text(mapper.original_mac(mac))  # a run without --anon-mac kept all but solicited-node MACs
        return str(ipaddress.ip_address(mapper.original(address.packed)))

    if args.addresses:
        for i, text in enumerate(args.addresses, 1):
            print(f"{text} -> {back(text, f'address {i}')}")
        return EXIT_OK
    try:
        source = sys.stdin if args.csv == "-" else open(args.csv, newline="", encoding="utf-8")  # noqa: SIM115
    except OSError as e:
        raise UsageError(f"cannot read: {e.strerror}", path=args.csv) from None
    with source:
        reader = csv.DictReader(source)
        if args.column not in (reader.fieldnames or ()):
            raise UsageError(
                f"no column {args.column!r} (columns: {', '.join(reader.fieldnames or ())})", path=args.csv
            )
        rows = [{**row, f"{args.column}_original": back(row[args.column], f"{args.csv}: row {n}")}
                for n, row in enumerate(reader, 2)]  # fmt: skip
    writer = csv.DictWriter(sys.stdout, fieldnames=[*reader.fieldnames, f"{args.column}_original"])
    writer.writeheader()
    writer.writerows(rows)
    return EXIT_OK


def add_bench_parser(commands) -> None:
    from .bench.command import add_bench_arguments

    p = commands.add_parser(
        "bench",
        help="run the benchmark suite",
        description="Benchmark the pipeline on real captures replayed, or synthetic ones (SPEC §9).",
    )
    add_bench_arguments(p)
    p.set_defaults(handler=command_bench)


def command_bench(args) -> int:
    from .bench.command import run_bench_command

    return run_bench_command(args)


def read_key(args) -> bytes | None:
    """The Crypto-PAn key from --key or --key-file, or None for a random one."""
    if args.key and args.key_file:
        raise UsageError("give --key or --key-file, not both")
    if args.key_file:
        try:
            with open(args.key_file, "rb") as f:
                raw = f.read(KEY_FILE_MAX + 1)  # /dev/zero or a wrong file must not be read whole
        except OSError as e:
            raise UsageError(f"cannot read key file: {e.strerror}", path=args.key_file) from None
        if len(raw) > KEY_FILE_MAX:
            raise UsageError(f"key file holds more than {KEY_FILE_MAX} bytes; expected a key", path=args.key_file)
        text = raw.strip()
        if len(text) == 2 * CRYPTOPAN_KEY_LEN and all(c in b"0123456789abcdefABCDEF" for c in text):
            return bytes.fromhex(text.decode())
        if len(raw) == CRYPTOPAN_KEY_LEN:
            return raw
        raise UsageError(
            f"key file must hold {2 * CRYPTOPAN_KEY_LEN} hex digits or {CRYPTOPAN_KEY_LEN} bytes", path=args.key_file
        )
    if args.key:
        try:
            key = bytes.fromhex(args.key)
        except ValueError:
            key = b""
        if len(key) != CRYPTOPAN_KEY_LEN:
            raise UsageError(f"--key must be {2 * CRYPTOPAN_KEY_LEN} hex digits")
        return key
    return None


MASK_LIMITS = {  # CLI option -> MaskConfig field
    "mask_max_flows": "max_flows",
    "mask_idle_timeout": "idle_timeout",
    "mask_udp_idle_timeout": "udp_idle_timeout",
    "mask_hold_packets": "max_held_packets",
    "mask_hold_bytes": "max_held_bytes",
    "mask_remember_bytes": "max_remembered_bytes",
}


def mask_limits(args) -> dict:
    """The mask limits given on the command line (the others keep MaskConfig's defaults)."""
    return {field: getattr(args, option) for option, field in MASK_LIMITS.items() if getattr(args, option) is not None}


def config_from_args(args) -> Config:
    keep = tuple(k.strip() for item in args.keep for k in item.split(",") if k.strip())
    return Config(
        stages=parse_stages(args.stages),
        chunk_size=args.chunk_size,
        chunk_bytes=args.chunk_bytes,
        on_truncated="warn" if args.allow_truncated else "error",
        keep_metadata=args.keep_metadata,
        dedup=DedupConfig(window_packets=args.dedup_window, window_seconds=args.dedup_seconds, key=args.dedup_key),
        anonymize=AnonymizeConfig(
            key=read_key(args),
            keep=args.anon_keep,
            preserve_class=args.anon_preserve_class,
            mac=args.anon_mac,
            dns=args.anon_dns,
        ),
        mask=MaskConfig(keep=keep, tls_names=args.tls_names, **mask_limits(args)),
        processes=None if args.processes == "auto" else int(args.processes),
    )


def _progress(total: int, unit: str, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm

    scale = unit == "B"
    return tqdm(total=total, unit=unit, unit_scale=scale, unit_divisor=1024, file=sys.stderr, leave=False)


def _summary(result) -> str:
    dedup = result.stages.get("dedup")
    dropped = f", {plural(dedup['duplicates'], 'duplicate')} dropped" if dedup else ""
    counts = f"{plural(result.packets_in, 'packet')} in, {result.packets_out} out{dropped}"
    return f"{result.input} -> {result.output}: {counts}, {result.seconds:.2f} s"


def command_run(args) -> int:
    config = config_from_args(args)
    pairs = plan(args.inputs, args.output, force=args.force)
    if (args.workers is not None or args.scheduler) and any("-" in pair for pair in pairs):
        raise UsageError("standard input and output stay in this process: - does not go with --workers/--scheduler")
    for path, what in ((args.report, "report"), (args.mapping_out, "mapping")):
        if path is not None:
            check_side_file(path, what, pairs)
    make_parents(pairs)
    show_progress = not args.no_progress and sys.stderr.isatty()
    if args.workers is not None or args.scheduler:
        results, failures = _run_distributed(pairs, config, args, show_progress)
    else:
        results, failures = _run_here(pairs, config, args, show_progress)
    if args.report:
        write_report(args.report, results, failures)
    if args.mapping_out:
        write_mapping(args.mapping_out, results)
    if failures:
        return EXIT_USAGE if not results else EXIT_SOME_FAILED
    return EXIT_OK


def _run_here(pairs, config, args, show_progress: bool) -> tuple[list, list]:
    """Sanitize the files one after the other in this process, with a byte progress bar."""
    bar = _progress(sum(_size(s) for s, _ in pairs), "B", show_progress)
    results, failures = [], []
    for source, target in pairs:
        done_before = bar.n if bar else 0

        def advance(metrics, base=done_before):
            bar.update(base + metrics.input_position - bar.n)

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # they come back in result.warnings
                outcome = run(source, target, config, force=args.force, on_chunk=advance if bar else None)
        except PktmaskError as e:
            outcome = {"input": source, "error": str(e)}
        if bar:
            bar.update(done_before + _size(source) - bar.n)
        _tell(bar, outcome, args.quiet)
        (failures if isinstance(outcome, dict) else results).append(outcome)
    if bar:
        bar.close()
    return results, failures


def _size(path: str) -> int:
    """Bytes of a regular file, for the progress bar (0 for standard input or a FIFO)."""
    try:
        info = os.stat(path)
    except OSError:
        return 0
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def _run_distributed(pairs, config, args, show_progress: bool) -> tuple[list, list]:
    """Sanitize the files as Dask tasks, with a per-file progress bar."""
    from .cluster import run_on_dask

    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be >= 1")
    bar = _progress(len(pairs), "file", show_progress)

    def done(outcome):
        _tell(bar, outcome, args.quiet)
        if bar:
            bar.update(1)

    try:
        return run_on_dask(
            pairs, config, workers=args.workers, scheduler=args.scheduler, force=args.force, on_done=done
        )
    finally:
        if bar:
            bar.close()


def _tell(bar, outcome, quiet: bool) -> None:
    """Print an error, or a result's warnings and (unless quiet) its summary."""
    if isinstance(outcome, dict):
        _print(bar, f"pktmask-nb: error: {outcome['error']}")
        return
    for message in outcome.warnings:
        _print(bar, f"pktmask-nb: warning: {message}")
    if not quiet:
        _print(bar, _summary(outcome))


def _print(bar, line: str) -> None:
    if bar:
        bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)


def write_report(path: str, results: list, failures: list) -> None:
    """Write the JSON report atomically, in one schema for one input and for many:
    ``{"files": [every result], "failed": [{"input", "error"}]}``."""
    body = {"files": [r.to_dict(chunks=True) for r in results], "failed": failures}
    write_json(path, body)


MAPPING_COLUMNS = ("original", "anonymized", "version", "packets", "first_seen", "last_seen")


def _pick_time(pick, a, b):
    """`pick` (min or max) of two times, either of which may be None (no timestamps)."""
    if a is None or b is None:
        return b if a is None else a
    return pick(a, b)


def write_mapping(path: str, results: list) -> None:
    """Write the address mapping of every file (merged: one key, one mapping) as CSV, a row at
    a time: one file's mapping is written as its table makes the rows."""
    rows = results[0].mapping if len(results) == 1 else _merged_mapping(results)
    write_text(path, _csv_lines(rows, MAPPING_COLUMNS), private=True)  # original addresses: for the owner only


def _merged_mapping(results: list):
    """One row per original address over all `results`: packets summed, first and last seen."""
    merged: dict[str, dict] = {}
    for result in results:
        for row in result.mapping:
            seen = merged.get(row["original"])
            if seen is None:
                merged[row["original"]] = dict(row)
            else:
                seen["packets"] += row["packets"]
                seen["first_seen"] = _pick_time(min, seen["first_seen"], row["first_seen"])
                seen["last_seen"] = _pick_time(max, seen["last_seen"], row["last_seen"])
    return merged.values()


def _csv_lines(rows, columns):
    """The CSV text of `rows` (dicts, other keys than `columns` left out), a line at a time."""
    import csv

    line = io.StringIO()
    writer = csv.DictWriter(line, fieldnames=columns, extrasaction="ignore")

    def taken() -> str:
        text = line.getvalue()
        line.seek(0)
        line.truncate()
        return text

    writer.writeheader()
    yield taken()
    for row in rows:
        writer.writerow(row)
        yield taken()


class Terminated(BaseException):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so every temporary file is removed."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _terminate(signum, frame):
    raise Terminated(signum)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``pktmask-nb``; returns the exit code."""
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_usage(sys.stderr)
        print(f"{parser.prog}: error: give a command: run, audit, unmap or bench (--help for more)", file=sys.stderr)
        return EXIT_USAGE
    args = parser.parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminate)
    try:
        return args.handler(args)
    except PktmaskError as e:
        print(f"pktmask-nb: error: {e}", file=sys.stderr)
        if isinstance(e, OutputError) and e.path == "<stdout>":  # nobody reads it: no second error at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("pktmask-nb: interrupted; no partial output was left", file=sys.stderr)
        return 130
    except Terminated as e:
        name = signal.Signals(e.signum).name
        print(f"pktmask-nb: stopped by {name}; no partial output was left", file=sys.stderr)
        return 128 + e.signum
    finally:
        remove_temporaries(_thread.get_ident())  # those a signal left before their writers existed


if __name__ == "__main__":
    sys.exit(main())
