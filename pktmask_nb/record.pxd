# C declarations for record.py (Cython's augmenting .pxd): the records are extension types, so
# compiled stages read a packet's fields as C members.

cdef class Packet:
    cdef public object index, ts, data, wirelen
    cdef public int linktype
    cdef public object head, tail, frame


cdef class Block:
    cdef public object kind, raw, order
