# Linear binning of observations onto a regular grid (Wand 1994; Fan & Marron 1994).
# Kernel only: the caller guarantees 1-D contiguous float64 input, n_grid >= 2,
# delta > 0, and an output array of length n_grid filled with zeros.
from libc.math cimport floor


def linear_bin(const double[::1] x, const double[::1] weights, double lo, double delta,
               double[::1] out):
    """Add each x[i] (with weight weights[i]) to its two neighbouring grid nodes.

    Grid nodes are ``lo + k * delta`` for ``k = 0 .. len(out)-1``. A point at position
    ``p = (x - lo) / delta`` gives ``(1 - frac(p))`` of its weight to node ``floor(p)``
    and ``frac(p)`` to the next. Points outside the grid are clamped to the end node
    (the caller builds a grid covering all data, so nothing is silently dropped).
    An empty ``weights`` means unit weights.
    """
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t m = out.shape[0]
    cdef Py_ssize_t i, k
    cdef double p, frac, w
    cdef bint unit = weights.shape[0] == 0
    with nogil:
        for i in range(n):
            w = 1.0 if unit else weights[i]
            p = (x[i] - lo) / delta
            if p <= 0.0:
                out[0] = out[0] + w
                continue
            if p >= <double>(m - 1):
                out[m - 1] = out[m - 1] + w
                continue
            k = <Py_ssize_t>floor(p)
            frac = p - <double>k
            out[k] = out[k] + w * (1.0 - frac)
            out[k + 1] = out[k + 1] + w * frac
