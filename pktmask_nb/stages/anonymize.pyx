# cython: language_level=3
"""The anonymize stage (SPEC §5): Crypto-PAn on every address field, checksums kept right.

Per packet, `~pktmask_nb.proto.dissect.dissect` gives every byte a reason and lists the
address fields (IP headers at every level, quoted headers, options and extension headers,
ARP, ICMP bodies, MPTCP, tunnels, PPP and LLDP/CDP management addresses). Each address is
looked up in a per-address cache filled by `~pktmask_nb.anon.AddressMapper` and written
into one `bytearray` copy of the frame; `~pktmask_nb.proto.checksum.patch` updates every
checksum the new bytes fall under, or whose pseudo-header holds them (RFC 1624).

With MACs mapped (``mac`` in the config), the map's hardware addresses (`FrameMap.macs`) and
the client hardware address of BOOTP/DHCP are rewritten through a second table; other bytes
of hardware-address spans (other lengths, padding, an address cut short) are then zeroed.
A solicited-node multicast MAC is always rewritten: it is the tail of an IPv6 address.
With ``dns``, the addresses of DNS messages (`~pktmask_nb.proto.dns.message`: A/AAAA data, the
prefix of an EDNS Client Subnet option) are rewritten too: over UDP, and over TCP in the
messages that lie whole in a segment; mask reads the same messages and keeps their structure.

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
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.string cimport memset

from ..anon.table cimport AddressTable
from ..proto.checksum cimport frame_copy, nonzero, rewrite
from ..proto.dissect cimport frame_of
from ..proto.spans cimport FieldEntry, FrameMap, frame_bytes
from ..record cimport Packet

from ..anon import AddressMapper
from ..anon.mapper import solicited_group, solicited_mac
from ..config import AnonymizeConfig
from ..proto.checksum import word_sum
from ..proto.dhcp import DHCP_CHADDR, DHCP_PORTS
from ..proto.dns import DNS_PORT, message, segment_addresses
from ..proto.spans import (
    A_DNS,
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
    R_MAC,
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
from ..rows import Rows

FRAGMENTS_REMEMBERED = 4096  # first fragments whose datagram ended in payload (LRU)
MASK32 = 0xFFFFFFFF

cdef enum:
    MAX_REASONS = 64
    MAX_KINDS = 16
    STACK_FIELDS = 32  # address fields of a frame whose word-sum changes sit on the C stack (more: heap)

assert len(REASONS) <= MAX_REASONS and len(ADDRESS_KINDS) <= MAX_KINDS


cdef struct Tally:
    # what a chunk's frames added: the stage's counters and the ledger's bytes by reason code
    long long packets, rewritten, truncated, partial, unseen
    long long kept[MAX_REASONS]
    long long zeroed[MAX_REASONS]
    long long address_bytes[2]  # of fields kept, rewritten
    long long fields[2][MAX_KINDS][2]  # [rewritten][kind][IPv6]
    long long macs[2]  # hardware addresses kept, rewritten


cdef int _actions[MAX_REASONS]
for _code, _action in enumerate(REASON_ACTIONS):
    _actions[_code] = _action
cdef int _address = ADDRESS, _zero = ZERO, _r_fragment = R_FRAGMENT, _r_truncated = R_TRUNCATED
cdef int _r_mac = R_MAC, _r_payload = R_PAYLOAD, _r_unseen = R_UNSEEN_CHECKSUM, _form_prefix = FORM_PREFIX, _form_obscured = FORM_OBSCURED
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
        config = self.config
        self.mapper = AddressMapper(config.key, config.keep, preserve_class=config.preserve_class, mac=config.mac)
        self.table = AddressTable(self.mapper.anonymize)
        self.macs = AddressTable(self.mapper.anonymize_mac, hardware=True) if self.mapper.mac else None
        self.ledger = Ledger()
        self._prefixes: dict[tuple, bytes] = {}
        self._fragments: OrderedDict = OrderedDict()
        self._rewritten = {(k, v): 0 for k in ADDRESS_KINDS for v in (4, 6)}
        self._kept = dict(self._rewritten)
        self._not_dissected: dict[int, int] = {}
        self.packets = self.packets_rewritten = self.truncated = 0
        self.partial_zeroed = self.checksums_not_updated = 0
        self.macs_rewritten = self.macs_kept = 0

    def process(self, chunk: list) -> list:
        cdef Tally t
        memset(&t, 0, sizeof(t))
        table, macs, dns = self.table, self.macs, self.config.dns
        for record in chunk:
            if type(record) is Packet:
                _rewrite(self, table, macs, dns, record, &t)
        _add(self, &t)
        return chunk

    def flush(self) -> list:
        return []

    def _prefix(self, raw: bytes, bits: int) -> tuple[bytes, int, bool]:
        """An IPv6 prefix of `bits` bits (NDP): the first bits of any address under it, mapped."""
        key = (raw, bits)
        new = self._prefixes.get(key)
        if new is None:
            new = _prefix_of(self.mapper.anonymize(raw.ljust(16, b"\0")), bits, len(raw))
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
            "mac": self.config.mac,
            "dns": self.config.dns,
            "packets": self.packets,
            "packets_rewritten": self.packets_rewritten,
            "addresses_rewritten": _by_kind(self._rewritten),
            "addresses_kept": _by_kind(self._kept),
            "macs_rewritten": self.macs_rewritten,
            "macs_kept": self.macs_kept,
            "unique_addresses": {**self.table.counts(), **(self.macs.counts() if self.macs else {})},
            "bytes_zeroed": dict(ledger.get("zeroed", {})),  # its own dict: callers may change one
            "partial_addresses_zeroed": self.partial_zeroed,
            "truncated_packets": self.truncated,
            "checksums_not_updated": self.checksums_not_updated,
            "not_dissected": {str(k): v for k, v in sorted(self._not_dissected.items())},
            "ledger": ledger,
        }

    def tables(self) -> dict[str, Rows]:
        """``{"mapping": rows}``: see `~pktmask_nb.anon.table.AddressTable.rows` (MAC rows last)."""
        return {"mapping": self.table.rows() + (self.macs.rows() if self.macs else [])}


cdef void _rewrite(stage, AddressTable table, AddressTable macs, bint dns, Packet packet, Tally* t) except *:
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
    cdef long long on_stack[STACK_FIELDS]
    cdef long long* moved = on_stack  # the word-sum change of each address field
    cdef Py_ssize_t count = m.field_count()
    if count > STACK_FIELDS:
        moved = <long long*>PyMem_Malloc(count * sizeof(long long))
        if moved == NULL:
            raise MemoryError()
    try:
        _rewrite_frame(stage, table, macs, dns, packet, m, data, p, changes, moved, t)
    finally:
        if moved != on_stack:
            PyMem_Free(moved)


cdef void _rewrite_frame(stage, AddressTable table, AddressTable macs, bint dns, Packet packet, FrameMap m, data,
                         const unsigned char* p, list changes, long long* moved, Tally* t) except *:
    """`_rewrite` with room in `moved` for the word-sum change of each address field."""
    cdef bint any_moved = _addresses(stage, table, m, p, packet, changes, moved, t)
    _hardware(table, macs, m, p, packet, changes, t)
    if dns and m.transport in (6, 17) and m.l4 >= 0 and m.payload_end > m.payload_start:
        _dns(table, m, p, packet, changes, t)
    cdef Py_ssize_t rewritten = len(changes)  # the changes before this many are address fields
    cdef bint keep_fragment = m.fragment != _frag_none and stage._fragment(m, data)
    cdef Py_ssize_t i, start, end
    cdef int reason, action
    for i in range(m.span_count()):
        start, end, reason = m.span_start(i), m.span_end(i), m.span_reason(i)
        action = _actions[reason]
        if action == _address:
            continue
        if reason == _r_mac and macs is not None:
            _unmapped(m, start, end, data, changes, t)
            continue
        if action == _zero or (reason == _r_fragment and not keep_fragment):
            t.zeroed[reason] += end - start
            if reason == _r_truncated:
                t.partial += 1
            elif reason == _r_unseen:
                t.unseen += 1
            if nonzero(data, start, end):
                changes.append((start, bytes(end - start)))
        else:
            t.kept[reason] += end - start
    if changes:
        buf = frame_copy(data)
        rewrite(buf, m, changes, moved if any_moved else NULL)
        packet.data = m.data = buf
        if len(changes) > rewritten:
            # The walk reads no address or checksum, so the map stays true of new ones; but
            # zeros written where it understood nothing may read as options, even a payload:
            # the stages after this one dissect what they are given, as in another process.
            packet.frame = None
        t.rewritten += 1


cdef bint _addresses(stage, AddressTable table, FrameMap m, const unsigned char* p, Packet packet, list changes,
                     long long* moved, Tally* t) except -1:
    """Add the byte changes of the frame's address fields to `changes` and their word-sum
    changes (for pseudo-headers) to `moved`, by field index; count the fields. Whether one changed."""
    cdef const FieldEntry* field
    cdef Py_ssize_t order, offset, size, width, i
    cdef bint is_changed, any_changed = False
    frame, ts = packet.index, packet.ts
    for order in range(m.field_count()):
        field = m.field_at(order)
        offset, size, width = field.offset, field.size, field.width
        if field.form == _form_prefix:
            new, delta, is_changed = stage._prefix(PyBytes_FromStringAndSize(<const char*>p + offset, size), field.bits)
        elif field.form != _form_obscured and size == width:  # the usual field: looked up in place
            i = table.see_at(p + offset, size, frame, ts, order)
            new, delta, is_changed = table.anon_of(i), table.delta_of(i), table.changed_of(i)
        else:
            raw = PyBytes_FromStringAndSize(<const char*>p + offset, size)
            original = raw if field.form != _form_obscured else (int.from_bytes(raw, "big") ^ MASK32).to_bytes(4, "big")
            if size < width:  # compressed: the leading bytes are those of another address
                original = PyBytes_FromStringAndSize(<const char*>p + field.prefix_at, width - size) + raw
            i = table.see(original, frame, ts, order)
            new, delta, is_changed = table.anon_of(i), table.delta_of(i), table.changed_of(i)
            if field.form == _form_obscured:
                new = (int.from_bytes(new, "big") ^ MASK32).to_bytes(4, "big")
            if size < width:
                new = new[width - size :]
        t.fields[is_changed][field.kind][width != 4] += 1
        t.address_bytes[is_changed] += size
        moved[order] = delta if is_changed else 0
        if is_changed:
            changes.append((offset, new))
            any_changed = True
    return any_changed


cdef void _hardware(AddressTable table, AddressTable macs, FrameMap m, const unsigned char* p, Packet packet,
                    list changes, Tally* t) except *:
    """Add the byte changes of the frame's MACs (and of a DHCP client's) to `changes`; count them.

    A solicited-node multicast MAC carries the last 24 bits of an IPv6 address: it follows
    that group address's mapping (`table`) whether or not other MACs are mapped (`macs`).
    """
    cdef Py_ssize_t count = m.mac_count()
    cdef Py_ssize_t chaddr = _dhcp_chaddr(m, p) if macs is not None else -1
    if chaddr >= 0:
        t.kept[_r_payload] -= 6  # counted as a MAC, not as the payload it sits in
    cdef Py_ssize_t order, offset
    cdef bint is_changed, solicited
    cdef Py_ssize_t i
    for order in range(count + (chaddr >= 0)):
        offset = m.mac_at(order) if order < count else chaddr
        solicited = p[offset] == 0x33 and p[offset + 1] == 0x33 and p[offset + 2] == 0xFF
        if not solicited and macs is None:
            continue
        frame, ts = packet.index, packet.ts
        if solicited:
            group = solicited_group(PyBytes_FromStringAndSize(<const char*>p + offset, 6))
            i = table.see(group, frame, ts, m.field_count() + order)
            new, is_changed = solicited_mac(table.anon_of(i)), table.changed_of(i)
            if macs is None:
                t.kept[_r_mac] -= 6  # the span loop counted it kept
        else:
            i = macs.see_at(p + offset, 6, frame, ts, order)
            new, is_changed = macs.anon_of(i), macs.changed_of(i)
        t.macs[is_changed] += 1
        if is_changed:
            changes.append((offset, new))


cdef void _dns(AddressTable table, FrameMap m, const unsigned char* p, Packet packet, list changes, Tally* t) except *:
    """Add the byte changes of the addresses of a DNS message over UDP (or of the whole messages of
    a TCP segment, `~pktmask_nb.proto.dns.segment_addresses`); count them as address fields."""
    cdef Py_ssize_t l4 = m.l4
    if ((p[l4] << 8) | p[l4 + 1]) != DNS_PORT and ((p[l4 + 2] << 8) | p[l4 + 3]) != DNS_PORT:
        return
    frame, ts = packet.index, packet.ts
    cdef Py_ssize_t offset, size, i
    if m.transport == 17:
        addresses = message(packet.data, m.payload_start, m.payload_end).addresses
    else:
        addresses = segment_addresses(packet.data, m.payload_start, m.payload_end)
    for order, address in enumerate(addresses):
        offset, size = address.offset, address.size
        raw = PyBytes_FromStringAndSize(<const char*>p + offset, size)
        i = table.see(raw.ljust(address.width, b"\0"), frame, ts, m.field_count() + order)
        table.set_dns(i)
        new = _prefix_of(table.anon_of(i), address.bits, size)  # a Client Subnet's bits past its prefix stay 0
        changed = new != raw
        t.fields[changed][A_DNS][address.width != 4] += 1
        t.address_bytes[changed] += size
        t.kept[_r_payload] -= size  # counted as an address, not as the payload it sits in
        if changed:
            changes.append((offset, new))


cdef Py_ssize_t _dhcp_chaddr(FrameMap m, const unsigned char* p):
    """Where a BOOTP/DHCP message's Ethernet client address is (RFC 2131 §2), or -1."""
    cdef Py_ssize_t start = m.payload_start, l4 = m.l4
    if m.transport != 17 or l4 < 0 or m.payload_end - start < DHCP_CHADDR + 6:
        return -1
    if ((p[l4] << 8) | p[l4 + 1]) not in DHCP_PORTS and ((p[l4 + 2] << 8) | p[l4 + 3]) not in DHCP_PORTS:
        return -1
    if p[start] not in (1, 2) or p[start + 1] != 1 or p[start + 2] != 6:  # op; htype Ethernet, hlen 6
        return -1
    return start + DHCP_CHADDR


cdef void _unmapped(FrameMap m, Py_ssize_t start, Py_ssize_t end, data, list changes, Tally* t) except *:
    """Zero the bytes of a hardware-address span that no mapped MAC covers; count both."""
    cdef Py_ssize_t at, pos = start
    cdef list covered = sorted([m.mac_at(i) for i in range(m.mac_count()) if start <= m.mac_at(i) < end])
    for at in covered + [end]:
        if at > pos:
            t.zeroed[_r_mac] += at - pos
            if nonzero(data, pos, at):
                changes.append((pos, bytes(at - pos)))
        pos = max(pos, at + 6)


cdef void _add(stage, Tally* t) except *:
    """Add a chunk's tally to the stage's counters and ledger."""
    stage.packets += t.packets
    stage.packets_rewritten += t.rewritten
    stage.truncated += t.truncated
    stage.partial_zeroed += t.partial
    stage.checksums_not_updated += t.unseen
    stage.macs_kept += t.macs[0]
    stage.macs_rewritten += t.macs[1]
    ledger = stage.ledger
    for code, (name, action) in enumerate(REASONS):
        ledger.add("kept", "payload" if action == PAYLOAD else name, t.kept[code])
        ledger.add("zeroed", name, t.zeroed[code])
    ledger.add("kept", "ip-address", t.address_bytes[0])
    ledger.add("rewritten", "ip-address", t.address_bytes[1])
    ledger.add("kept", "mac-address", 6 * t.macs[0])
    ledger.add("rewritten", "mac-address", 6 * t.macs[1])
    for changed, counts in ((0, stage._kept), (1, stage._rewritten)):
        for kind, name in enumerate(ADDRESS_KINDS):
            counts[name, 4] += t.fields[changed][kind][0]
            counts[name, 6] += t.fields[changed][kind][1]


def _ends_in_payload(FrameMap m) -> bool:
    """Whether the walk of a first fragment reached a payload that runs to the fragment's end
    (every header of the datagram lies in this fragment)."""
    ip = m.ips[m.ip]
    end = min(m.n, ip.end)
    cdef Py_ssize_t i
    for i in range(m.span_count()):
        if m.span_start(i) < end <= m.span_end(i):
            return m.span_reason(i) in (R_PAYLOAD, R_DATA)
    return False


def _prefix_of(address: bytes, bits: int, size: int) -> bytes:
    """The first `size` bytes of `address`, its bits past the first `bits` zero (a prefix's bytes)."""
    width = 8 * len(address)
    value = int.from_bytes(address, "big") & ~((1 << (width - min(bits, width))) - 1)
    return value.to_bytes(len(address), "big")[:size]


def _by_kind(counts: dict) -> dict[str, int]:
    return {f"ipv{version}_{kind}": n for (kind, version), n in counts.items()}
