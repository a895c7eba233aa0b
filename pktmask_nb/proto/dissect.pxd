# C declarations for dissect.py (Cython's augmenting .pxd): the stages' entry point reads the
# packet as C members (`dissect` stays a Python-level call, which tests count).
from ..record cimport Packet
from .spans cimport FrameMap


cpdef FrameMap frame_of(Packet packet)
