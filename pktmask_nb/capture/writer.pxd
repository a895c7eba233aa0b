# C declarations for writer.py (Cython's augmenting .pxd): a chunk's records joined with C
# reads of each packet's members.
cimport cython

from ..record cimport Packet


@cython.locals(p=Packet, packets=Py_ssize_t, parts=list)
cpdef tuple _join(list records)
