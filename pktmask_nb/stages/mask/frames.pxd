# What frames.pyx offers other compiled modules as C calls.
from ...proto.spans cimport FieldEntry, FrameMap, IpLayer, frame_bytes


cpdef tuple flow_key(int transport, bytes ctx, bytes a, bytes b)
cpdef tuple addresses(FrameMap m, IpLayer ip)
cpdef bytes context(FrameMap m)
cpdef tuple transport_key(FrameMap m, int transport)

cpdef long long be32(data, Py_ssize_t at) except -1
