# What http.pyx offers other compiled modules as C calls: cutting lines and header fields.
cpdef Py_ssize_t line_end_len(bytes line) except -1
cpdef object next_line(data, Py_ssize_t pos)
cpdef Py_ssize_t field_colon(bytes line) except -2
cpdef bytes field_name(bytes line, Py_ssize_t colon)
cpdef bint is_token(bytes name)
cpdef bytes field_value(bytes line, Py_ssize_t colon, Py_ssize_t eol)
