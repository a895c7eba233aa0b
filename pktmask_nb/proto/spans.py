"""The frame map (SPEC §2.4): a reason for every byte of a frame, the address fields, the checksums.

A dissector walks a frame from its first byte and gives every byte one *reason*, as a
contiguous run of spans covering the whole frame. Each reason has an *action*:

- ``KEEP``: structure the dissector understood and that carries no identifier;
- ``ADDRESS``: an IP address field, rewritten by anonymize (listed in `FrameMap.fields`);
- ``PAYLOAD``: transport payload, decided by mask (anonymize-only runs keep it);
- ``ZERO``: bytes nobody may keep — unknown option data, lengths that overrun, padding,
  anything past the point where the walk stopped understanding the frame.

The stages only ever keep a byte for a reason listed here, so the allowlist is the frame
map; the ledger (`Ledger`) counts written bytes by reason.
"""

from __future__ import annotations

from typing import NamedTuple

KEEP, ADDRESS, PAYLOAD, ZERO = range(4)
ACTION_NAMES = ("kept", "rewritten", "payload", "zeroed")

# (name, action) of every reason; a span's code is its index here.
REASONS = (
    ("link-header", KEEP),
    ("mac-address", KEEP),  # hardware addresses: kept unless MACs are mapped (SPEC §5), see `FrameMap.macs`
    ("ip-header", KEEP),
    ("ip-option", KEEP),  # known IPv4 options and IPv6 extension headers/options
    ("tcp-header", KEEP),
    ("tcp-option", KEEP),
    ("udp-header", KEEP),
    ("icmp-header", KEEP),  # ICMP/ICMPv6 messages' fixed fields, NDP/extension object headers
    ("tunnel-header", KEEP),
    ("arp-header", KEEP),
    ("control-header", KEEP),  # PPP control, LLDP/CDP/STP/DHCP skeletons: types and lengths
    ("wlan-header", KEEP),  # radiotap and 802.11 MAC headers (not dissected further)
    ("ip-address", ADDRESS),
    ("payload", PAYLOAD),  # the TCP/UDP payload mask walks
    ("data", PAYLOAD),  # other payload: ICMP echo data, payloads quoted in ICMP errors
    ("fragment", PAYLOAD),  # payload of a non-first IP fragment
    ("unknown-option", ZERO),  # data of an option, extension header or TLV we do not know
    ("identifier", ZERO),  # a known field holding an identifier we cannot rewrite (names, digests of originals)
    ("padding", ZERO),
    ("overrun", ZERO),  # bytes a length field claims past its frame or datagram
    ("fail-closed", ZERO),  # past the last header the walk could understand
    ("not-dissected", ZERO),  # bodies of link types we do not dissect (802.11)
    ("trailer", ZERO),  # bytes after a datagram (Ethernet padding, trailers)
    ("encrypted", ZERO),  # ESP, MACsec: ciphertext (or NULL-encrypted cleartext)
    ("truncated", ZERO),  # the part of an address field the capture cut off
    ("unseen-checksum", ZERO),  # a checksum that also sums bytes this frame lacks: a digest nothing can correct
)
REASON_CODES = {name: code for code, (name, _) in enumerate(REASONS)}
REASON_ACTIONS = tuple(action for _, action in REASONS)

(
    R_LINK,
    R_MAC,
    R_IP,
    R_IP_OPTION,
    R_TCP,
    R_TCP_OPTION,
    R_UDP,
    R_ICMP,
    R_TUNNEL,
    R_ARP,
    R_CONTROL,
    R_WLAN,
    R_ADDRESS,
    R_PAYLOAD,
    R_DATA,
    R_FRAGMENT,
    R_UNKNOWN,
    R_IDENTIFIER,
    R_PADDING,
    R_OVERRUN,
    R_FAIL,
    R_NOT_DISSECTED,
    R_TRAILER,
    R_ENCRYPTED,
    R_TRUNCATED,
    R_UNSEEN_CHECKSUM,
) = range(len(REASONS))

# Address field kinds (`Field.kind`): where the address sits, for the anonymize stage's counters
(
    A_OUTER,
    A_INNER,
    A_QUOTED,
    A_ARP,
    A_OPTION,  # inside IP options / IPv6 extension headers (routes, HAO, mobility, HIP)
    A_ICMP,  # ICMP/ICMPv6 bodies: redirects, NDP targets and prefixes, MLD, RFC 4884/5837/8335
    A_TCP_OPTION,  # MPTCP ADD_ADDR
    A_TUNNEL,  # Teredo origin indication
    A_CONTROL,  # PPP IPCP, LLDP/CDP management addresses
    A_DNS,  # DNS answers and Client Subnet options (``--anon-dns``: found by the stage, not the walk)
) = range(10)
ADDRESS_KINDS = ("outer", "inner", "quoted", "arp", "ip_option", "icmp", "tcp_option", "tunnel", "control", "dns")

# `Field.form`: how the bytes encode the address
FORM_PLAIN = 0  # `size` bytes, the whole address (or its last bytes, see `Field.prefix_at`)
FORM_OBSCURED = 1  # Teredo: the IPv4 address with every bit inverted (RFC 4380 §4)
FORM_PREFIX = 2  # an IPv6 prefix of `Field.bits` bits, zero beyond (NDP prefix, route information)

# Checksum kinds (`Checksum.kind`)
CK_IPV4_HEADER, CK_TCP, CK_UDP, CK_ICMP, CK_ICMPV6, CK_GRE, CK_PLAIN = range(7)
CK_OPTIONAL = 7  # like CK_PLAIN, but 0 means "not computed" and stays 0 (RFC 4884 §7), as UDP's
# CK_PLAIN: an RFC 1071 sum over its range with no pseudo-header (CDP, Shim6)

# FrameMap.status
STATUS_OK = 0
STATUS_NOT_DISSECTED = 1  # link type outside SPEC §3 (802.11, radiotap, ...)
STATUS_TRUNCATED = 2  # the capture (snaplen) ends inside a header
STATUS_FAILED = 3  # the walk stopped at something it could not understand (zeroed)

# FrameMap.fragment
FRAG_NONE, FRAG_FIRST, FRAG_LATER = range(3)


class Quote(NamedTuple):
    """The innermost TCP/UDP datagram quoted by an ICMP error (`FrameMap.quote`)."""

    protocol: int
    l4: int  # offset of its TCP/UDP header
    ip: int  # index in `FrameMap.ips` of its IP header
    payload_start: int  # its payload, as much of it as the quote holds
    payload_end: int


class Field(NamedTuple):
    """An address field (`FrameMap.fields`): anonymize maps it, mask keeps it.

    Attributes
    ----------
    offset, size : int
        Where its bytes are in the frame (all captured).
    width : int
        4 (IPv4) or 16 (IPv6): the address the bytes are (part of).
    kind : int
        An A_* constant.
    form : int
        FORM_PLAIN, FORM_OBSCURED or FORM_PREFIX.
    prefix_at : int
        For a compressed address (``size < width``, RFC 6554): the frame offset of the full
        address whose first ``width - size`` bytes it shares; -1 otherwise.
    bits : int
        For FORM_PREFIX: the prefix length.
    """

    offset: int
    size: int
    width: int
    kind: int
    form: int = FORM_PLAIN
    prefix_at: int = -1
    bits: int = 0

    def __repr__(self) -> str:
        return f"Field({self.offset}, {self.size}, width={self.width}, kind={ADDRESS_KINDS[self.kind]})"


class Checksum(NamedTuple):
    """An Internet checksum field and what it covers (`FrameMap.checksums`).

    Attributes
    ----------
    position : int
        Offset of the 2-byte field (may be past the captured bytes).
    start, end : int
        The covered bytes (``end`` may lie past the captured bytes).
    kind : int
        A CK_* constant.
    pseudo : tuple of int
        Indices into `FrameMap.fields` of the addresses in its pseudo-header (source and
        destination as the transport sees them: a Home Address option or a route's final
        destination instead of the IP header's); empty for checksums without one.
    """

    position: int
    start: int
    end: int
    kind: int
    pseudo: tuple = ()

    def __repr__(self) -> str:
        return f"Checksum({self.position}, [{self.start}:{self.end}), kind={self.kind}, pseudo={self.pseudo})"


class IpLayer:
    """One IP header on the walk (made by `~.ip.new_layer`).

    Attributes
    ----------
    offset, version : int
    quoted : bool
        Inside a datagram an ICMP error quotes.
    index : int
        Its position in `FrameMap.ips`.
    src, dst : int
        Indices into `FrameMap.fields` (-1: cut off by the capture).
    pseudo : tuple of int
        ``(source, destination)`` field indices for transport checksums.
    end : int
        Where its datagram ends on the wire (past the captured bytes if cut).
    """

    # its fields are declared in spans.pxd


class FrameMap:
    """What a dissector found in one frame (see the module docstring).

    Attributes
    ----------
    spans : list of int
        Flat ``[start, end, reason, start, end, reason, ...]``, contiguous from 0 to the
        frame's length (a new list; compiled code reads the map's C entries with
        ``span_count``, ``span_start``, ``span_end`` and ``span_reason``).
    fields : list of Field
        A new list (compiled code reads the C entries, ``field_count`` and ``field_at``).
    checksums : list of Checksum
        Outermost first: an inner checksum field lies inside an outer one's range (a new
        list; compiled code reads ``checksum_count`` and ``checksum_at``).
    unseen : list of (int, int)
        The part in the frame of checksum fields that are not wholly in it (`seal` zeroes it;
        a new list).
    ips : list of IpLayer
        Every IP header in walk order (quoted ones included).
    macs : list of int
        Offsets of the 6-byte MACs (EUI-48) in "mac-address" spans, wholly captured; other
        bytes of such spans (other address lengths, padding, a MAC cut short) are zeroed
        when MACs are mapped (a new list; compiled code reads ``mac_count`` and ``mac_at``).
    status : int
        STATUS_*.
    transport : int
        IP protocol of the innermost datagram that is not quoted (-1 without IP).
    l4 : int
        Offset of its TCP/UDP header (-1 if none).
    ip : int
        Index in `ips` of the IP header carrying it (-1 if none).
    payload_start, payload_end : int
        Its TCP/UDP payload (the "payload" span); equal when there is none.
    fragment : int
        FRAG_* of that datagram.
    frag_id : int
        Where the identification of that fragmented datagram is (-1 if not fragmented).
    quote : Quote or None
        The innermost TCP/UDP datagram quoted by an ICMP error.
    """

    # its fields are declared in spans.pxd (compiled: an extension type with C members; the
    # spans, fields, checksums, MACs and unseen fields are C entries in the map, growing past
    # the first few)

    def __cinit__(self, *args, **kwargs):
        self._init_entries()

    def __dealloc__(self):
        self._free_entries()

    def __init__(self, data, truncated: bool = False):
        self._setup(data, truncated)

    def _setup(self, data, truncated) -> None:
        self.data = data
        self.n = len(data)
        self.truncated = truncated  # the capture cut the frame (caplen < wire length)
        self.pos = 0
        self.ips: list[IpLayer] = []
        self.status = STATUS_OK
        self.transport = -1
        self.l4 = -1
        self.ip = -1
        self.payload_start = self.payload_end = 0
        self.fragment = FRAG_NONE
        self.quoting = 0  # > 0 while walking a datagram quoted by an ICMP error
        self.depth = 0  # encapsulations followed so far
        self.limit = self.n  # the end of the bytes the current handler may describe (`put` stops there)
        self.frag_id = -1  # offset of the fragment's identification (2 bytes IPv4, 4 IPv6), if fragmented
        self.quote = None  # a Quote: what an ICMP error quotes

    @property
    def spans(self) -> list[int]:
        """Flat ``[start, end, reason, ...]`` of every span, a new list."""
        return [self._spans[i] for i in range(self._used)]

    @spans.setter
    def spans(self, values) -> None:
        self._used = 0
        for i in range(0, len(values), 3):
            self._push(values[i], values[i + 1], values[i + 2])

    @property
    def unseen(self) -> list[tuple[int, int]]:
        """The unseen checksum fields' parts in the frame, a new list."""
        return [(self._unseen[i], self._unseen[i + 1]) for i in range(0, self._nunseen, 2)]

    @property
    def macs(self) -> list[int]:
        """The MACs' offsets, a new list."""
        return [self._macs[i] for i in range(self._nmacs)]

    @property
    def fields(self) -> list[Field]:
        """The address fields, a new list."""
        fields = []
        for i in range(self._nfields):
            f = self._fields[i]
            fields.append(Field(f.offset, f.size, f.width, f.kind, f.form, f.prefix_at, f.bits))
        return fields

    @property
    def checksums(self) -> list[Checksum]:
        """The checksums, outermost first, a new list."""
        checksums = []
        for i in range(self._nchecksums):
            c = self._checksums[i]
            pseudo = (c.pseudo[0], c.pseudo[1])
            checksums.append(Checksum(c.position, c.start, c.end, c.kind, pseudo[: c.npseudo]))
        return checksums

    def __repr__(self) -> str:
        spans = self.spans
        parts = [f"{spans[i]}-{spans[i + 1]}:{REASONS[spans[i + 2]][0]}" for i in range(0, len(spans), 3)]
        return f"FrameMap({', '.join(parts)}; status={self.status})"

    # -- building (dissectors) -------------------------------------------------------------

    def put(self, end: int, reason: int) -> None:
        """Give the bytes from `pos` to `end` (clipped to the current handler's bytes) the `reason`."""
        if end > self.limit:
            end = self.limit
        pos = self.pos
        if end <= pos:
            return
        n = self._used
        if n and self._spans[n - 1] == reason and self._spans[n - 2] == pos:
            self._spans[n - 2] = end
        else:
            self._push(pos, end, reason)
        self.pos = end

    def address(self, offset: int, size: int, width: int, kind: int, form=FORM_PLAIN, prefix_at=-1, bits=0) -> int:
        """An address field at `offset` (bytes before it must already have reasons); its index, or -1.

        A field the capture cuts short cannot be mapped: its captured bytes are zeroed.
        """
        end = offset + size
        if end > self.limit:
            self.put(offset, R_FAIL)
            self.put(end, R_TRUNCATED)
            return -1
        self.put(offset, R_FAIL)  # nothing may lie unexplained before a field
        self.put(end, R_ADDRESS)
        field = self._new_field()
        field.offset, field.size, field.width, field.kind = offset, size, width, kind
        field.form, field.prefix_at, field.bits = form, prefix_at, bits
        return self._nfields - 1

    def hardware(self, offset: int, count: int = 1) -> None:
        """`count` MACs, one after the other, at `offset` (bytes before them must already have reasons)."""
        if self.pos < offset:
            self.put(offset, R_FAIL)
        self.put(offset + 6 * count, R_MAC)
        limit = self.limit
        for i in range(count):
            if offset + 6 * i + 6 <= limit:
                self._push_mac(offset + 6 * i)

    def checksum(self, position: int, start: int, end: int, kind: int, pseudo=()) -> None:
        """A checksum field at `position` over ``[start, end)`` whose pseudo-header holds the
        fields of `pseudo` (at most two indices); `unseen` if the field is not wholly in the
        current handler's bytes (an ICMP quote or the capture cut it)."""
        if position + 2 > self.limit:
            if position < self.limit:
                self._push_unseen(position, self.limit)
            return
        n = len(pseudo)
        if n > 2:
            raise ValueError(f"a pseudo-header of {n} address fields")
        c = self._new_checksum()
        c.position, c.start, c.end, c.kind = position, start, end, kind
        c.npseudo = n
        c.pseudo[0] = pseudo[0] if n > 0 else -1
        c.pseudo[1] = pseudo[1] if n > 1 else -1

    def mark(self) -> tuple:
        """A point to `rewind` to when a tentative parse turns out wrong."""
        return (
            self._used,
            self.pos,
            self._nfields,
            self._nchecksums,
            self._nunseen,
            len(self.ips),
            self._nmacs,
            (self.transport, self.l4, self.ip, self.payload_start, self.payload_end),
            (self.fragment, self.frag_id, self.quote),
        )

    def rewind(self, mark: tuple) -> None:
        """Forget everything found since `mark` (an extended span is cut back to where it was),
        the transport, payload and fragment it found too (they would describe bytes now zeroed)."""
        nspans, pos, nfields, nchecksums, nunseen, nips, nmacs, transport, fragment = mark
        self._used = nspans
        if nspans and self._spans[nspans - 2] > pos:
            self._spans[nspans - 2] = pos
        self.pos = pos
        self._nfields = nfields
        self._nchecksums = nchecksums
        self._nunseen = nunseen
        del self.ips[nips:]
        self._nmacs = nmacs
        self.transport, self.l4, self.ip, self.payload_start, self.payload_end = transport
        self.fragment, self.frag_id, self.quote = fragment

    def fail(self, end: int, reason: int = R_FAIL) -> None:
        """Zero everything from `pos` to `end`: the walk cannot understand it."""
        if self.pos < min(end, self.limit) and self.status == STATUS_OK:
            self.status = STATUS_FAILED
        self.put(end, reason)

    def seal(self) -> None:
        """Zero the checksum fields that cannot be kept right: those not wholly in the frame,
        and those over bytes past its end unless the frame ends in a payload. They sum bytes
        nobody will see (the rest of an address cut in two, say) and nothing can correct them;
        the checksum of a payload the capture cut only follows what changes, as does a UDP
        checksum over IPv6, which may not be zero (RFC 8200 §8.1).
        """
        n = self.n
        over = self._nunseen > 0
        for i in range(self._nchecksums):
            over = over or self._checksums[i].end > n
        if not over:
            return  # the usual frame: nothing to zero
        cuts = self.unseen
        if REASON_ACTIONS[self.span_reason(self.span_count() - 1)] != PAYLOAD:
            kept = 0
            for i in range(self._nchecksums):
                c = self._checksums[i]
                if c.end > n and not (
                    c.kind == CK_UDP
                    and c.npseudo
                    and 0 <= c.pseudo[0] < self._nfields
                    and self._fields[c.pseudo[0]].width == 16
                ):
                    cuts.append((c.position, min(c.position + 2, n)))
                else:
                    self._checksums[kept] = c
                    kept += 1
            self._nchecksums = kept
        cuts.sort()
        spans, out = self.spans, []
        for i in range(0, len(spans), 3):
            start, end, reason = spans[i], spans[i + 1], spans[i + 2]
            for a, z in cuts:
                if a < end and z > start:
                    if start < a:
                        out += (start, a, reason)
                    out += (max(a, start), min(z, end), R_UNSEEN_CHECKSUM)
                    start = min(z, end)
            if start < end:
                out += (start, end, reason)
        self.spans = out

    # -- reading (stages) --------------------------------------------------------------------

    def iter_spans(self):
        """``(start, end, reason)`` of every span, in order."""
        for i in range(self.span_count()):
            yield self.span_start(i), self.span_end(i), self.span_reason(i)


def new_map(data, truncated: bool = False) -> FrameMap:
    """``FrameMap(data, truncated)`` without a call to the type and its argument parsing: the
    walk makes one a frame."""
    m = FrameMap.__new__(FrameMap)
    m._setup(data, truncated)
    return m


class Ledger:
    """Bytes written, by verdict and reason (SPEC §2.4): the kept-bytes ledger of a run.

    Verdicts are ``kept``, ``rewritten`` (address fields) and ``zeroed``; reasons are the
    frame map's (`REASONS`) and the mask stage's payload reasons (``tls-handshake``, ...).
    The totals add up to the captured bytes of the packets written.
    """

    # its fields are declared in spans.pxd

    def __init__(self):
        self.counts: dict[str, dict[str, int]] = {}  # verdict -> reason -> bytes (no tuple key per call)

    def add(self, verdict: str, reason: str, n: int) -> None:
        if n > 0:
            by_reason = self.counts.get(verdict)
            if by_reason is None:
                by_reason = self.counts[verdict] = {}
            by_reason[reason] = by_reason.get(reason, 0) + n

    def total(self) -> int:
        return sum(sum(by_reason.values()) for by_reason in self.counts.values())

    def to_dict(self) -> dict[str, dict[str, int]]:
        """``{verdict: {reason: bytes}}``, verdicts and reasons sorted."""
        return {verdict: dict(sorted(self.counts[verdict].items())) for verdict in sorted(self.counts)}
