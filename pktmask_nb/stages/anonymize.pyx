# cython: language_level=3
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

A compiled kernel: the frame's walk (spans, fields) is read as C data, and byte counts go to
C tallies that reach the ledger and the counters once per chunk.
"""

from collections import OrderedDict

from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.string cimport memset

from ..anon.table cimport AddressTable
from ..proto.spans cimport Field, FrameMap, frame_bytes
from ..record cimport Packet

from ..anon import AddressMapper
from ..anon.table import ENTRY_ANON, ENTRY_CHANGED, ENTRY_DELTA
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
    Ledger,
)

FRAGMENTS_REMEMBERED = 4096  # first fragments whose datagram ended in payload (LRU)
MASK32 = 0xFFFFFFFF

cdef enum:
    MAX_REASONS = 64
    MAX_KINDS = 16

assert len(REASONS) <= MAX_REASONS and len(ADDRESS_KINDS) <= MAX_KINDS


cdef struct Tally:
    # what a chunk's frames added: the stage's counters and the ledger's bytes by reason code
    long long packets, rewritten, truncated, partial, unseen
    long long kept[MAX_REASONS]
    long long zeroed[MAX_REASONS]
    long long address_bytes[2]  # of fields kept, rewritten
    long long fields[2][MAX_KINDS][2]  # [rewritten][kind][IPv6]


cdef int _actions[MAX_REASONS]
for _code, _action in enumerate(REASON_ACTIONS):
    _actions[_code] = _action
cdef int _address = ADDRESS, _zero = ZERO, _r_fragment = R_FRAGMENT, _r_truncated = R_TRUNCATED
cdef int _r_unseen = R_UNSEEN_CHECKSUM, _form_prefix = FORM_PREFIX, _form_obscured = FORM_OBSCURED
cdef int _not_dissected = STATUS_NOT_DISSECTED, _truncated = STATUS_TRUNCATED, _frag_none = FRAG_NONE


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
        self._not_dissected: dict[int, int] = {}
        self.packets = self.packets_rewritten = self.truncated = 0
        self.partial_zeroed = self.checksums_not_updated = 0

    def process(self, chunk: list) -> list:
        cdef Tally t
        memset(&t, 0, sizeof(t))
        for record in chunk:
            if type(record) is Packet:
                _rewrite(self, record, &t)
        _add(self, &t)
        return chunk

    def flush(self) -> list:
        return []

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

    def _fragment(self, m, data) -> bool:
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


cdef void _rewrite(stage, Packet packet, Tally* t) except *:
    """Map one frame's address fields, zero what its map says to, keep its checksums right."""
    cdef FrameMap m = frame_of(packet)
    data = packet.data
    cdef const unsigned char* p = frame_bytes(data)
    t.packets += 1
    if m.status == _not_dissected:
        stage._not_dissected[packet.linktype] = stage._not_dissected.get(packet.linktype, 0) + 1
    elif m.status == _truncated:
        t.truncated += 1
    cdef list changes = []
    cdef dict pseudo = {}
    _addresses(stage, m, p, packet, changes, pseudo, t)
    cdef Py_ssize_t rewritten = len(changes)  # the changes before this many are address fields
    cdef bint keep_fragment = m.fragment != _frag_none and stage._fragment(m, data)
    cdef list spans = m.spans
    cdef Py_ssize_t i, start, end
    cdef int reason, action
    for i in range(0, len(spans), 3):
        start, end, reason = spans[i], spans[i + 1], spans[i + 2]
        action = _actions[reason]
        if action == _address:
            continue
        if action == _zero or (reason == _r_fragment and not keep_fragment):
            t.zeroed[reason] += end - start
            if reason == _r_truncated:
                t.partial += 1
            elif reason == _r_unseen:
                t.unseen += 1
            if data.count(0, start, end) != end - start:
                changes.append((start, bytes(end - start)))
        else:
            t.kept[reason] += end - start
    if changes:
        buf = bytearray(data)
        patch(buf, m.checksums, changes, pseudo)
        packet.data = m.data = buf
        if len(changes) > rewritten:
            # The walk reads no address or checksum, so the map stays true of new ones; but
            # zeros written where it understood nothing may read as options, even a payload:
            # the stages after this one dissect what they are given, as in another process.
            packet.frame = None
        t.rewritten += 1


cdef void _addresses(stage, FrameMap m, const unsigned char* p, Packet packet, list changes, dict pseudo, Tally* t) except *:
    """Add the byte changes of the frame's address fields to `changes` and their
    pseudo-header deltas by field index to `pseudo`; count the fields."""
    cdef AddressTable table = stage.table
    cdef list fields = m.fields
    cdef Field field
    cdef Py_ssize_t order, offset, size, width
    cdef bint is_changed
    frame, ts = packet.index, packet.ts
    for order in range(len(fields)):
        field = fields[order]
        offset, size, width = field.offset, field.size, field.width
        raw = PyBytes_FromStringAndSize(<const char*>p + offset, size)
        if field.form == _form_prefix:
            new, delta, is_changed = stage._prefix(raw, field.bits)
        else:
            original = raw if field.form != _form_obscured else (int.from_bytes(raw, "big") ^ MASK32).to_bytes(4, "big")
            if size < width:  # compressed: the leading bytes are those of another address
                original = PyBytes_FromStringAndSize(<const char*>p + field.prefix_at, width - size) + raw
            entry = table.see(original, frame, ts, order)
            new, delta, is_changed = entry[ENTRY_ANON], entry[ENTRY_DELTA], entry[ENTRY_CHANGED]
            if field.form == _form_obscured:
                new = (int.from_bytes(new, "big") ^ MASK32).to_bytes(4, "big")
            if size < width:
                new = new[width - size :]
        t.fields[is_changed][field.kind][width != 4] += 1
        t.address_bytes[is_changed] += size
        if is_changed:
            changes.append((offset, new))
            pseudo[order] = delta


cdef void _add(stage, Tally* t) except *:
    """Add a chunk's tally to the stage's counters and ledger."""
    stage.packets += t.packets
    stage.packets_rewritten += t.rewritten
    stage.truncated += t.truncated
    stage.partial_zeroed += t.partial
    stage.checksums_not_updated += t.unseen
    ledger = stage.ledger
    for code, (name, action) in enumerate(REASONS):
        ledger.add("kept", "payload" if action == PAYLOAD else name, t.kept[code])
        ledger.add("zeroed", name, t.zeroed[code])
    ledger.add("kept", "ip-address", t.address_bytes[0])
    ledger.add("rewritten", "ip-address", t.address_bytes[1])
    for changed, counts in ((0, stage._kept), (1, stage._rewritten)):
        for kind, name in enumerate(ADDRESS_KINDS):
            counts[name, 4] += t.fields[changed][kind][0]
            counts[name, 6] += t.fields[changed][kind][1]


def _ends_in_payload(FrameMap m) -> bool:
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
