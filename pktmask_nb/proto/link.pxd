# C declarations for link.py (Cython's augmenting .pxd): Ethernet and VLAN tags with C offsets.
cimport cython

from .ip cimport cut, ip_ethertype
from .spans cimport FrameMap
from .walk cimport network, u16

# the module's integer constants as C values: no lookup, no boxing where they are used
cdef long long A_CONTROL, R_CONTROL, R_IDENTIFIER, R_LINK, R_MAC, R_TRAILER, R_UNKNOWN, STATUS_TRUNCATED
cdef long long LINKTYPE_RAW_12, LINKTYPE_RAW_14, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4
cdef long long LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2, ETH_P_8021AD, ETH_P_QINQ_9100, ETH_P_MPLS_MC
cdef long long ETH_P_PPPOE_DISC, ETH_P_PPPOE_SESS, ETH_P_LLDP, ETH_P_802_3_MIN, ETH_P_802_2, ETH_ALEN
cdef long long VLAN_HLEN, MPLS_ENTRY_LEN, MPLS_MAX_LABELS, PW_CONTROL_WORD_LEN, PPPOE_HLEN, PPPOE_VER_TYPE
cdef long long LLC_HLEN, SNAP_HLEN, STP_BPDU_MAX, STP_ROOT_MAC, STP_BRIDGE_MAC, SNAP_PID_CDP, SLL_HLEN
cdef long long SLL2_HLEN, LLDP_END, LLDP_CHASSIS_ID, LLDP_PORT_ID, LLDP_TTL, LLDP_CAPABILITIES
cdef long long LLDP_ORGANIZATIONAL, CDP_HLEN
cdef long long LINKTYPE_NULL, ETH_P_IP, ETH_P_ARP, ETH_P_RARP, ETH_P_8021Q, ETH_P_IPV6, ETH_P_MPLS_UC
cdef long long ETH_P_TEB, ETH_P_ERSPAN, ETH_P_ERSPAN3, LLDP_MANAGEMENT


cpdef link_ethernet(FrameMap m)
@cython.locals(ethertype=int, stop=Py_ssize_t)
cpdef ethernet(FrameMap m, Py_ssize_t offset, Py_ssize_t end)
cpdef vlan(FrameMap m, Py_ssize_t offset, Py_ssize_t end)
