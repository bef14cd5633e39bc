# Vectorised access to the compiled error-law characteristic functions (used to test that the
# compiled cfs match deconv.noise's Python ones, and by kernels needing a quick cf table).
from _noise_cf cimport std_cf


def std_cf_array(int code, double param, const double[::1] u, double complex[::1] out):
    """out[k] = std_cf(code, param, u[k]) for the unit-sd law with the given kernel code."""
    cdef Py_ssize_t k, n = u.shape[0]
    with nogil:
        for k in range(n):
            out[k] = std_cf(code, param, u[k])
