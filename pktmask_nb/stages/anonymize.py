"""The anonymize stage (SPEC §5): Crypto-PAn on every address field, checksums kept right.

Per packet, `~pktmask_nb.proto.dissect.dissect` gives every byte a reason and lists the
address fields (IP headers at every level, quoted headers, options and extension headers,
ARP, ICMP bodies, MPTCP, tunnels, PPP and LLDP/CDP management addresses). Each address is
looked up in a per-address cache filled by `~pktmask_nb.anon.AddressMapper` and written
into one `bytearray` copy of the frame; `~pktmask_nb.proto.checksum.patch` updates every
checksum the new bytes fall under, or whose pseudo-header holds them (RFC 1624).

The frame map's zeroed spans (unknown option data, lengths that overrun, ...) are zeroed
here too, so that a run without mask leaks no header corner either. Transport payloads are
kept (that is what anonymize-only is for), and so are the payloads of later fragments of a
datagram whose first fragment ended in payload (a small table remembers which); other
later fragments may hold tunnelled headers and are zeroed.
"""

from __future__ import annotations

from collections import OrderedDict

from ..anon import AddressMapper
from ..anon.table import ENTRY_ANON, ENTRY_CHANGED, ENTRY_DELTA, AddressTable
from ..config import AnonymizeConfig
from ..proto.checksum import patch, word_sum
from ..proto.dissect import frame_of
from ..proto.spans import (
    ADDRESS,
    ADDRESS_KINDS,
    FORM_OBSCURED,
    FORM_PREFIX,
    FRAG_FIRST,
    FRAG_LATER,
    FRAG_NONE,
    PAYLOAD,
    R_DATA,
    R_FRAGMENT,
    R_PAYLOAD,
    R_TRUNCATED,
    R_UNSEEN_CHECKSUM,
    REASON_ACTIONS,
    REASONS,
    STATUS_NOT_DISSECTED,
    STATUS_TRUNCATED,
    ZERO,
    FrameMap,
    Ledger,
)
from ..record import Packet

FRAGMENTS_REMEMBERED = 4096  # first fragments whose datagram ended in payload (LRU)
MASK32 = 0xFFFFFFFF


class AnonymizeStage:
    """Rewrite every IPv4/IPv6 address with keyed, prefix-preserving Crypto-PAn (SPEC §5).

    Parameters
    ----------
    config : AnonymizeConfig
        Key and kept ranges; without a key a random one is drawn (one per stage object).

    Notes
    -----
    The mapping is a pure function of the key and `keep`, so it is the same across files,
    chunk sizes, processes and machines. The cache and the mapping table hold one entry
    per distinct address seen.
    """

    name = "anonymize"

    def __init__(self, config: AnonymizeConfig | None = None):
        self.config = (config or AnonymizeConfig()).with_key()
        self.mapper = AddressMapper(self.config.key, self.config.keep, preserve_class=self.config.preserve_class)
        self.table = AddressTable(self.mapper)
        self.ledger = Ledger()
        self._prefixes: dict[tuple, bytes] = {}
        self._fragments: OrderedDict = OrderedDict()
        self._rewritten = {(k, v): 0 for k in ADDRESS_KINDS for v in (4, 6)}
        self._kept = dict(self._rewritten)
        # bytes by reason code in this chunk, and address bytes kept/rewritten: added to the
        # ledger once per chunk rather than once per span
        self._kept_bytes = [0] * len(REASONS)
        self._zeroed_bytes = [0] * len(REASONS)
        self._address_bytes = [0, 0]
        self._not_dissected: dict[int, int] = {}
        self.packets = self.packets_rewritten = self.truncated = 0
        self.partial_zeroed = self.checksums_not_updated = 0

    def process(self, chunk: list) -> list:
        for record in chunk:
            if record.__class__ is Packet:
                self._rewrite(record)
        self._tally()
        return chunk

    def flush(self) -> list:
        return []

    def _rewrite(self, packet: Packet) -> None:
        data = packet.data
        self.packets += 1
        m = frame_of(packet)
        if m.status == STATUS_NOT_DISSECTED:
            self._not_dissected[packet.linktype] = self._not_dissected.get(packet.linktype, 0) + 1
        elif m.status == STATUS_TRUNCATED:
            self.truncated += 1
        changes, pseudo, changed = self._addresses(m, data, packet)
        rewritten = len(changes)  # the changes before this many are address fields
        keep_fragment = self._fragment(m, data)
        kept, zeroed = self._kept_bytes, self._zeroed_bytes
        for start, end, reason in m.iter_spans():
            action = REASON_ACTIONS[reason]
            if action == ADDRESS:
                continue
            if action == ZERO or (reason == R_FRAGMENT and not keep_fragment):
                zeroed[reason] += end - start
                if reason == R_TRUNCATED:
                    self.partial_zeroed += 1
                elif reason == R_UNSEEN_CHECKSUM:
                    self.checksums_not_updated += 1
                if data.count(0, start, end) != end - start:
                    changes.append((start, bytes(end - start)))
            else:
                kept[reason] += end - start
        addresses = self._address_bytes
        for field, is_changed in zip(m.fields, changed):
            addresses[is_changed] += field.size
        if changes:
            buf = bytearray(data)
            patch(buf, m.checksums, changes, pseudo)
            packet.data = m.data = buf
            if len(changes) > rewritten:
                # The walk reads no address or checksum, so the map stays true of new ones; but
                # zeros written where it understood nothing may read as options, even a payload:
                # the stages after this one dissect what they are given, as in another process.
                packet.frame = None
            self.packets_rewritten += 1

    def _tally(self) -> None:
        """Add the chunk's byte counts to the ledger."""
        ledger, kept, zeroed, addresses = self.ledger, self._kept_bytes, self._zeroed_bytes, self._address_bytes
        for code, (name, action) in enumerate(REASONS):
            ledger.add("kept", "payload" if action == PAYLOAD else name, kept[code])
            ledger.add("zeroed", name, zeroed[code])
            kept[code] = zeroed[code] = 0
        ledger.add("kept", "ip-address", addresses[False])
        ledger.add("rewritten", "ip-address", addresses[True])
        addresses[:] = [0, 0]

    def _addresses(self, m: FrameMap, data, packet: Packet) -> tuple[list, dict, list]:
        """The byte changes of the frame's address fields, their pseudo-header deltas by field
        index, and for each field whether it changed."""
        changes, pseudo, changed = [], {}, []
        see, frame, ts = self.table.see, packet.index, packet.ts
        for order, field in enumerate(m.fields):
            offset, size, width = field.offset, field.size, field.width
            raw = bytes(data[offset : offset + size])
            if field.form == FORM_PREFIX:
                new, delta, is_changed = self._prefix(raw, field.bits)
            else:
                original = (
                    raw if field.form != FORM_OBSCURED else (int.from_bytes(raw, "big") ^ MASK32).to_bytes(4, "big")
                )
                if size < width:  # compressed: the leading bytes are those of another address
                    original = bytes(data[field.prefix_at : field.prefix_at + width - size]) + raw
                entry = see(original, frame, ts, order)
                new, delta, is_changed = entry[ENTRY_ANON], entry[ENTRY_DELTA], entry[ENTRY_CHANGED]
                if field.form == FORM_OBSCURED:
                    new = (int.from_bytes(new, "big") ^ MASK32).to_bytes(4, "big")
                new = new[width - size :]
            version = 4 if width == 4 else 6
            counts = self._rewritten if is_changed else self._kept
            counts[ADDRESS_KINDS[field.kind], version] += 1
            changed.append(is_changed)
            if is_changed:
                changes.append((offset, new))
                pseudo[order] = delta
        return changes, pseudo, changed

    def _prefix(self, raw: bytes, bits: int) -> tuple[bytes, int, bool]:
        """An IPv6 prefix of `bits` bits (NDP): the first bits of any address under it, mapped."""
        key = (raw, bits)
        new = self._prefixes.get(key)
        if new is None:
            full = int.from_bytes(raw.ljust(16, b"\0"), "big")
            mapped = int.from_bytes(self.mapper.anonymize(full.to_bytes(16, "big")), "big")
            mask = ((1 << min(bits, 128)) - 1) << (128 - min(bits, 128))
            new = (mapped & mask).to_bytes(16, "big")[: len(raw)]
            if len(self._prefixes) < FRAGMENTS_REMEMBERED:
                self._prefixes[key] = new
        return new, (word_sum(new, 0, len(new)) - word_sum(raw, 0, len(raw))) % 0xFFFF, new != raw

    def _fragment(self, m: FrameMap, data) -> bool:
        """Whether a later fragment's payload may be kept: its datagram's first fragment ended in payload."""
        if m.fragment == FRAG_NONE or m.frag_id < 0:
            return False
        ip = m.ips[m.ip]
        size = 4 if ip.version == 4 else 16
        source = ip.offset + (12 if ip.version == 4 else 8)
        ident = bytes(data[m.frag_id : m.frag_id + (2 if ip.version == 4 else 4)])
        key = (bytes(data[source : source + 2 * size]), ident, m.transport)
        fragments = self._fragments
        if m.fragment == FRAG_FIRST:
            if _ends_in_payload(m):
                fragments[key] = True
                fragments.move_to_end(key)
                if len(fragments) > FRAGMENTS_REMEMBERED:
                    fragments.popitem(last=False)
            return False
        return m.fragment == FRAG_LATER and key in fragments

    def stats(self) -> dict:
        """Counters: packets, packets rewritten, address fields rewritten and kept by where they
        sit and IP version, distinct addresses, bytes zeroed by reason, partial addresses
        zeroed, truncated packets, checksums zeroed because they sum bytes the frame lacks
        (SPEC §2.5), link types not dissected, and the kept-bytes ledger of what this stage
        passed on."""
        ledger = self.ledger.to_dict()
        return {
            "keep": self.config.keep,
            "preserve_class": self.config.preserve_class,
            "packets": self.packets,
            "packets_rewritten": self.packets_rewritten,
            "addresses_rewritten": _by_kind(self._rewritten),
            "addresses_kept": _by_kind(self._kept),
            "unique_addresses": self.table.counts(),
            "bytes_zeroed": dict(ledger.get("zeroed", {})),  # its own dict: callers may change one
            "partial_addresses_zeroed": self.partial_zeroed,
            "truncated_packets": self.truncated,
            "checksums_not_updated": self.checksums_not_updated,
            "not_dissected": {str(k): v for k, v in sorted(self._not_dissected.items())},
            "ledger": ledger,
        }

    def tables(self) -> dict[str, list[dict]]:
        """``{"mapping": rows}``: see `~pktmask_nb.anon.table.AddressTable.rows`."""
        return {"mapping": self.table.rows()}


def _ends_in_payload(m: FrameMap) -> bool:
    """Whether the walk of a first fragment reached a payload that runs to the fragment's end
    (every header of the datagram lies in this fragment)."""
    ip = m.ips[m.ip]
    end = min(m.n, ip.end)
    spans = m.spans
    for i in range(0, len(spans), 3):
        if spans[i] < end <= spans[i + 1]:
            return spans[i + 2] in (R_PAYLOAD, R_DATA)
    return False


def _by_kind(counts: dict) -> dict[str, int]:
    return {f"ipv{version}_{kind}": n for (kind, version), n in counts.items()}
