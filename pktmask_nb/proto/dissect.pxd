# C declarations for dissect.py (Cython's augmenting .pxd): the stages' entry point reads the
# packet as C members (`dissect` stays a Python-level call, which tests count).
from ..record cimport Packet
from .spans cimport FrameMap, new_map

# the module's integer constants as C values: no lookup, no boxing where they are used
cdef long long R_NOT_DISSECTED, STATUS_NOT_DISSECTED


cdef dict LINKTYPES  # the walk of each link type (a C reference: `dissect` looks it up per frame)

cpdef FrameMap frame_of(Packet packet)
