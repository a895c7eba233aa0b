"""Dispatch tables of the frame walk: EtherType, IP protocol and UDP port → handler.

Protocol modules register their handlers here (dpkt style); `network` and `ip_payload`
look them up. The unknown case of each table is explicit: what follows is zeroed
(fail closed, SPEC §2.4).

Handlers take the `~.spans.FrameMap` being built and the offsets of their header and of
the end of the bytes they may use, and give every byte up to that end a reason.
"""

from __future__ import annotations

from .spans import R_FAIL, R_OVERRUN, R_PADDING, FrameMap, IpLayer

MAX_NESTING = 8  # encapsulations followed before giving up (fail closed)
NOWHERE = 1 << 62  # an offset past any frame

ETHERTYPES: dict = {}  # EtherType -> handler(m, offset, end)
IP_PROTOCOLS: dict = {}  # IP protocol -> handler(m, offset, end, ip)
UDP_PORTS: dict = {}  # UDP destination port -> handler(m, offset, end) -> bool (False: not that protocol after all)
UDP_SOURCE_PORTS: dict = {}  # the same for protocols whose replies come from the well-known port (GTP-U, Teredo, L2TP)


def network(m: FrameMap, offset: int, ethertype: int, end: int) -> None:
    """Walk a network-layer header of `ethertype` at `offset`; bytes up to `end` get reasons."""
    table = ETHERTYPES  # a typed local: compiled, the lookup is a C call
    handler = table.get(ethertype)
    if handler is None or m.depth > MAX_NESTING:
        return m.fail(end)
    m.depth += 1
    limit = bound(m, end)
    handler(m, offset, end)
    unbound(m, end, limit)
    m.depth -= 1


def ip_payload(m: FrameMap, offset: int, end: int, protocol: int, ip: IpLayer) -> None:
    """Walk what the IP header `ip` carries: `protocol` at `offset`, up to `end`."""
    table = IP_PROTOCOLS
    handler = table.get(protocol)
    if handler is None or m.depth > MAX_NESTING:
        return m.fail(end)
    limit = bound(m, end)
    handler(m, offset, end, ip)
    unbound(m, end, limit)


def within(m: FrameMap, end: int, handler, *args):
    """Call `handler(m, *args)` with the walk bounded to `end`; what it leaves is not understood (zeroed)."""
    limit = bound(m, end)
    result = handler(m, *args)
    unbound(m, end, limit)
    return result


def bound(m: FrameMap, end: int) -> int:
    """Bound the walk to `end` (a handler may describe no byte past it); the bound it had."""
    limit = m.limit
    if end < limit:
        m.limit = end
    return limit


def unbound(m: FrameMap, end: int, limit: int) -> None:
    """A handler bounded by `bound` returned: what it left before `end` is not understood
    (zeroed), and the walk's bound is `limit` again."""
    m.fail(end)
    m.limit = limit


def options(m: FrameMap, pos: int, stop: int, option, pad1: int, reason: int, eol: int = -1, counted=False) -> bool:
    """A type-length-value area ``[pos, stop)``; False if an item in it is not valid.

    A `pad1` byte stands alone; after `eol` only zero padding may follow. Every other item
    goes to ``option(m, kind, pos, size)``, which gives its `size` bytes (type and length
    included) reasons or returns False. The length field counts the type and length bytes
    when `counted` (IPv4, TCP), else only the value (IPv6). Where the capture cuts the
    area, the walk ends content.
    """
    data, n = m.data, m.limit
    while pos < stop:
        if pos >= n:
            return True
        kind = data[pos]
        if kind == eol:  # RFC 791 §3.1, RFC 9293 §3.1: the padding is zeros
            if any(data[pos + 1 : min(stop, n)]):
                return False
            m.put(pos + 1, reason)
            m.put(stop, R_PADDING)
            return True
        if kind == pad1:
            m.put(pos + 1, reason)
            pos += 1
            continue
        if pos + 2 > stop:
            return False
        if pos + 2 > n:
            return True
        size = data[pos + 1] + (0 if counted else 2)
        if size < 2 or pos + size > stop or not option(m, kind, pos, size):
            return False
        pos += size
    return True


def failed_since(m: FrameMap, mark: tuple, before: int = NOWHERE) -> bool:
    """True if the walk since `mark` gave up on something (a fail-closed or overrun span),
    counting only what it gave up on before offset `before` if one is given."""
    for i in range(max(mark[0] // 3 - 1, 0), m.span_count()):
        if m.span_reason(i) in (R_FAIL, R_OVERRUN) and m.span_start(i) < before:
            return True
    return False


def u16(data, offset: int) -> int:
    return (data[offset] << 8) | data[offset + 1]


def u32(data, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "big")
