# C declarations for frames.py (Cython's augmenting .pxd): flow keys from a frame map's C fields.
cimport cython

from ...proto.spans cimport Field, FrameMap, IpLayer


cpdef tuple flow_key(int transport, bytes ctx, bytes a, bytes b)
@cython.locals(src=Field, dst=Field)
cpdef tuple addresses(FrameMap m, IpLayer ip)
@cython.locals(ip=IpLayer)
cpdef bytes context(FrameMap m)
@cython.locals(t=Py_ssize_t)
cpdef tuple transport_key(FrameMap m, int transport)
