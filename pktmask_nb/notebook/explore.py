"""The capture explorer: a capture read chunk by chunk into per-packet DataFrames, and summaries of them."""

from __future__ import annotations

import ipaddress

import pandas as pd

from ..capture import open_capture
from ..proto.dissect import dissect
from ..proto.ip import IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_TCP, IPPROTO_UDP
from ..proto.link import ETH_HLEN, LINKTYPE_ETHERNET, VLAN_TYPES
from ..proto.spans import (
    A_ARP,
    PAYLOAD,
    REASON_ACTIONS,
    STATUS_FAILED,
    STATUS_NOT_DISSECTED,
    STATUS_OK,
    STATUS_TRUNCATED,
)
from ..record import Packet

EXPLORE_CHUNK_PACKETS = 4096
FOLD_PARTS = 32  # per-chunk aggregates kept before they are combined
PROTOCOL_NAMES = {IPPROTO_TCP: "tcp", IPPROTO_UDP: "udp", IPPROTO_ICMP: "icmp", IPPROTO_ICMPV6: "icmpv6", 47: "gre"}
STATUS_NAMES = {STATUS_OK: "ok", STATUS_NOT_DISSECTED: "not_dissected", STATUS_TRUNCATED: "truncated"}
STATUS_NAMES[STATUS_FAILED] = "unknown"
TCP_FLAG_LETTERS = "FSRPAUEC"  # bit 0 (FIN) .. bit 7 (CWR), RFC 9293 §3.1
PACKET_COLUMNS = (
    "frame", "ts_ns", "caplen", "wirelen", "linktype", "vlan", "ip_version", "src", "dst", "ip_layers",
    "protocol", "ip_proto", "sport", "dport", "tcp_flags", "flags", "payload_len", "status", "flow",
)  # fmt: skip
NULLABLE_INTS = ("ts_ns", "ip_version", "ip_proto", "sport", "dport", "tcp_flags")


def vlan_ids(data, linktype: int) -> tuple[int, ...]:
    """The 802.1Q/802.1ad VLAN IDs of an Ethernet frame, outermost first."""
    if linktype != LINKTYPE_ETHERNET or len(data) < ETH_HLEN:
        return ()
    ids, pos, n = [], ETH_HLEN, len(data)
    ethertype = (data[12] << 8) | data[13]
    while ethertype in VLAN_TYPES and pos + 4 <= n:
        ids.append(((data[pos] << 8) | data[pos + 1]) & 0x0FFF)
        ethertype = (data[pos + 2] << 8) | data[pos + 3]
        pos += 4
    return tuple(ids)


def tcp_flag_letters(flags: int) -> str:
    """``"SA"`` for SYN+ACK: one letter per set bit of the TCP flags byte (FSRPAUEC)."""
    return "".join(letter for bit, letter in enumerate(TCP_FLAG_LETTERS) if flags >> bit & 1)


class _Explorer:
    """Per-file state of the explorer: flow numbers and decoded addresses."""

    def __init__(self, payload: bool):
        self.flows: dict = {}
        self.addresses: dict = {}
        self.payload = payload

    def address(self, raw) -> str:
        raw = bytes(raw)
        text = self.addresses.get(raw)
        if text is None:
            text = self.addresses[raw] = str(ipaddress.ip_address(raw))
        return text

    def flow(self, key) -> int:
        number = self.flows.get(key)
        if number is None:
            number = self.flows[key] = len(self.flows)
        return number

    def endpoints(self, m) -> tuple:
        """``(version, src, dst)`` of the innermost IP header carrying the payload, or of an ARP packet."""
        if m.ip >= 0:
            ip = m.ips[m.ip]
            if ip.src >= 0 and ip.dst >= 0:
                return ip.version, self._field(m, ip.src), self._field(m, ip.dst)
            return ip.version, None, None
        arp = [i for i, f in enumerate(m.fields) if f.kind == A_ARP]
        if len(arp) == 2 and m.fields[arp[0]].size == 4:
            return None, self._field(m, arp[0]), self._field(m, arp[1])
        return None, None, None

    def _field(self, m, index: int) -> str:
        field = m.fields[index]
        return self.address(m.data[field.offset : field.offset + field.size])

    def row(self, packet: Packet) -> dict:
        data = packet.data
        m = dissect(data, packet.linktype, packet.wirelen)
        version, src, dst = self.endpoints(m)
        proto = m.transport if m.ip >= 0 else None
        sport = dport = flags = None
        t = m.l4
        if proto in (IPPROTO_TCP, IPPROTO_UDP) and t >= 0 and t + 4 <= len(data):
            sport, dport = (data[t] << 8) | data[t + 1], (data[t + 2] << 8) | data[t + 3]
            if proto == IPPROTO_TCP and t + 14 <= len(data):
                flags = ((data[t + 12] & 0x0F) << 8) | data[t + 13]
        flow = -1
        if src is not None and proto is not None:
            ends = sorted(((src, sport or 0), (dst, dport or 0)))
            flow = self.flow((proto, *ends))
        vlans = vlan_ids(data, packet.linktype)
        payload = [(a, b) for a, b, r in m.iter_spans() if REASON_ACTIONS[r] == PAYLOAD] if proto is not None else []
        row = {
            "frame": packet.index,
            "ts_ns": packet.ts,
            "caplen": len(data),
            "wirelen": packet.wirelen,
            "linktype": packet.linktype,
            "vlan": ",".join(map(str, vlans)),
            "ip_version": version,
            "src": src,
            "dst": dst,
            "ip_layers": sum(1 for ip in m.ips if not ip.quoted),
            "protocol": _protocol_name(proto, m),
            "ip_proto": proto,
            "sport": sport,
            "dport": dport,
            "tcp_flags": flags,
            "flags": "" if flags is None else tcp_flag_letters(flags & 0xFF),
            "payload_len": sum(b - a for a, b in payload),
            "status": STATUS_NAMES.get(m.status, str(m.status)),
            "flow": flow,
        }
        if self.payload:
            row["payload"] = b"".join(bytes(data[a:b]) for a, b in payload)
        return row


def _protocol_name(proto, m) -> str:
    if proto is not None:
        return PROTOCOL_NAMES.get(proto, f"ip/{proto}")
    if any(f.kind == A_ARP for f in m.fields):
        return "arp"
    return "not_dissected" if m.status == STATUS_NOT_DISSECTED else "other"


def _frame(columns: dict[str, list]) -> pd.DataFrame:
    df = pd.DataFrame(columns)
    for name in NULLABLE_INTS:
        df[name] = pd.array(columns[name], dtype="Int64")
    df.insert(1, "time", pd.to_datetime(df["ts_ns"], unit="ns", utc=True))
    return df


def _empty_columns(payload: bool) -> dict[str, list]:
    return {name: [] for name in (*PACKET_COLUMNS, *(("payload",) if payload else ()))}


def capture_frames(path, *, chunk_size: int = EXPLORE_CHUNK_PACKETS, every: int = 1, payload: bool = False):
    """Read a capture chunk by chunk and yield one per-packet DataFrame per chunk.

    Memory holds one chunk (plus the flow numbering), so this walks files of any size;
    aggregate each frame as it comes (see `summarize_capture`) or keep a filtered subset.

    Parameters
    ----------
    path : str or os.PathLike
        A pcap or pcapng capture (gzip-compressed or not).
    chunk_size : int
        Packets read per chunk (rows per frame, before `every` thins them).
    every : int
        Keep one packet in `every` (frames 1, 1 + every, ...): a deterministic sample.
    payload : bool
        Add a ``payload`` column with the innermost payload bytes (for audits).

    Yields
    ------
    DataFrame
        Columns: ``frame`` (1-based, as Wireshark), ``time`` (UTC), ``ts_ns``, ``caplen``,
        ``wirelen``, ``linktype``, ``vlan`` (VLAN IDs, outermost first, comma-separated),
        ``ip_version``, ``src``, ``dst`` (innermost IP header, or ARP sender/target),
        ``ip_layers`` (IP headers on the way, 2+ for tunnels), ``protocol`` (tcp, udp, icmp,
        icmpv6, arp, ...), ``ip_proto``, ``sport``, ``dport``, ``tcp_flags`` (12 bits, as
        tshark's ``tcp.flags``), ``flags`` (letters FSRPAUEC), ``payload_len`` (captured
        innermost payload, padding excluded), ``status`` (ok, truncated, unknown,
        not_dissected) and ``flow``: the number of the packet's bidirectional 5-tuple in
        order of first appearance in the file (-1 without IP).
    """
    explorer = _Explorer(payload)
    with open_capture(path, on_truncated="warn") as reader:
        for chunk in reader.chunks(chunk_size):
            columns = _empty_columns(payload)
            for record in chunk:
                if record.__class__ is not Packet:
                    continue
                row = explorer.row(record)  # every packet, so flow numbers do not depend on `every`
                if (record.index - 1) % every:
                    continue
                for name, value in row.items():
                    columns[name].append(value)
            yield _frame(columns)


def capture_frame(path, *, limit: int | None = None, every: int = 1, query: str | None = None, payload: bool = False):
    """Read a capture into one per-packet DataFrame, streaming, optionally filtered and capped.

    Parameters
    ----------
    path : str or os.PathLike
    limit : int, optional
        Stop after this many rows (reading stops too: cheap on large files).
    every : int
        Keep one packet in `every`.
    query : str, optional
        A `DataFrame.query` expression applied to each chunk as it is read, e.g.
        ``"protocol == 'tcp' and dport == 443"``: only matching rows are kept.
    payload : bool
        Add the ``payload`` bytes column.

    Returns
    -------
    DataFrame
        The columns of `capture_frames`, indexed from 0.
    """
    parts, rows = [], 0
    for df in capture_frames(path, chunk_size=EXPLORE_CHUNK_PACKETS, every=every, payload=payload):
        if query:
            df = df.query(query)
        if limit is not None:
            df = df.iloc[: limit - rows]
        parts.append(df)
        rows += len(df)
        if limit is not None and rows >= limit:
            break
    if not parts:
        return _frame(_empty_columns(payload))
    return pd.concat(parts, ignore_index=True)


def protocol_mix(df: pd.DataFrame) -> pd.DataFrame:
    """Packets and wire bytes per protocol, with shares, most packets first."""
    mix = df.groupby("protocol").agg(packets=("frame", "size"), bytes=("wirelen", "sum"))
    return _shares(mix)


def _shares(mix: pd.DataFrame) -> pd.DataFrame:
    mix = mix.sort_values(["packets", "bytes"], ascending=False)
    mix["packet_share"] = mix["packets"] / max(mix["packets"].sum(), 1)
    mix["byte_share"] = mix["bytes"] / max(mix["bytes"].sum(), 1)
    return mix


def _talker_parts(df: pd.DataFrame) -> pd.DataFrame:
    """Per address: packets and bytes sent and received (unsorted, complete)."""
    sent = df.groupby("src").agg(packets_sent=("frame", "size"), bytes_sent=("wirelen", "sum"))
    received = df.groupby("dst").agg(packets_received=("frame", "size"), bytes_received=("wirelen", "sum"))
    parts = sent.join(received, how="outer").fillna(0).astype("int64")
    parts.index.name = "address"
    return parts


def top_talkers(df: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    """The `n` addresses with the most bytes sent plus received (innermost IP, ARP included)."""
    return _rank_talkers(_talker_parts(df), n)


def _rank_talkers(parts: pd.DataFrame, n: int) -> pd.DataFrame:
    parts = parts.assign(
        packets=parts["packets_sent"] + parts["packets_received"], bytes=parts["bytes_sent"] + parts["bytes_received"]
    )
    return parts.sort_values(["bytes", "packets"], ascending=False).head(n)


FLOW_AGG = {
    "protocol": "first",
    "src": "first",
    "sport": "first",
    "dst": "first",
    "dport": "first",
    "packets": "sum",
    "bytes": "sum",
    "payload_bytes": "sum",
    "first_time": "min",
    "last_time": "max",
}


def flow_summary(df: pd.DataFrame) -> pd.DataFrame:
    """One row per flow: endpoints as first seen (the initiator first), packets, bytes, duration."""
    flows = df[df["flow"] >= 0].assign(packets=1, bytes=df["wirelen"], payload_bytes=df["payload_len"])
    flows = flows.assign(first_time=flows["time"], last_time=flows["time"])
    return _finish_flows(flows.groupby("flow").agg(FLOW_AGG))


def _finish_flows(flows: pd.DataFrame) -> pd.DataFrame:
    flows["duration"] = (flows["last_time"] - flows["first_time"]).dt.total_seconds()
    return flows.sort_index()


def summarize_capture(
    path, *, every: int = 1, top: int = 10, chunk_size: int = EXPLORE_CHUNK_PACKETS
) -> dict[str, pd.DataFrame]:
    """Protocol mix, top talkers and flows of a capture of any size, aggregated chunk by chunk.

    Only per-chunk aggregates are kept in memory, never the per-packet rows; the result
    does not depend on `chunk_size`.

    Returns
    -------
    dict
        ``{"packets": int, "protocols": DataFrame, "talkers": DataFrame, "flows": DataFrame}``
        with the frames of `protocol_mix`, `top_talkers` (`top` rows) and `flow_summary`.
    """
    mixes, talkers, flows, packets = [], [], [], 0
    for df in capture_frames(path, chunk_size=chunk_size, every=every):
        packets += len(df)
        mixes.append(protocol_mix(df)[["packets", "bytes"]])
        talkers.append(_talker_parts(df))
        flows.append(flow_summary(df).drop(columns="duration"))
        if len(mixes) >= FOLD_PARTS:
            mixes, talkers, flows = _fold(mixes, "sum"), _fold(talkers, "sum"), _fold(flows, FLOW_AGG)
    mixes, talkers, flows = _fold(mixes, "sum"), _fold(talkers, "sum"), _fold(flows, FLOW_AGG)
    if not mixes:
        empty = capture_frame(path, limit=0)
        return {
            "packets": 0,
            "protocols": protocol_mix(empty),
            "talkers": top_talkers(empty),
            "flows": flow_summary(empty),
        }
    return {
        "packets": packets,
        "protocols": _shares(mixes[0]),
        "talkers": _rank_talkers(talkers[0], top),
        "flows": _finish_flows(flows[0]),
    }


def _fold(parts: list[pd.DataFrame], how) -> list[pd.DataFrame]:
    """Combine partial aggregates (same index meaning) into one."""
    if len(parts) <= 1:
        return parts
    combined = pd.concat(parts)
    return [combined.groupby(level=0).agg(how)]
