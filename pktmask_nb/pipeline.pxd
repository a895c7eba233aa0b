# C declarations for pipeline.py (Cython's augmenting .pxd): the per-chunk count reads each
# packet's data as a C member.
cimport cython

from .record cimport Packet


@cython.locals(p=Packet, n=Py_ssize_t, size=Py_ssize_t)
cpdef tuple packet_bytes(list records)
