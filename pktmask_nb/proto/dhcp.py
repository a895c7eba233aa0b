"""BOOTP/DHCP (RFC 2131 §2, RFC 2132): the fixed fields the stages read or keep."""

DHCP_PORTS = frozenset((67, 68))
DHCP_FIXED = 236  # op ... file
DHCP_KEPT_FIXED = ((0, 8), (10, 12))  # op, htype, hlen, hops, xid; flags
DHCP_CHADDR = 28  # the client hardware address, after op ... giaddr
DHCP_MAGIC = b"\x63\x82\x53\x63"
DHCP_PAD, DHCP_END, DHCP_MESSAGE_TYPE = 0, 255, 53
