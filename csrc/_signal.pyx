# Single-pass spectral sums for deconv.signal's automatic regularisation rules.
# Kernel only: the caller guarantees 1-D contiguous float64 arrays of equal length,
# lam >= 0, c >= 0, and output arrays of the same length.


def filter_criterion(const double[::1] A, const double[::1] D, const double[::1] P,
                     const double[::1] w, double lam):
    """Residual energy and trace of the filter A / (A + lam D), in one pass.

    Returns ``(sum_k P_k r_k^2, sum_k w_k A_k / (A_k + lam D_k))`` with
    ``r_k = lam D_k / (A_k + lam D_k)``; bins where ``A_k + lam D_k == 0`` carry no
    information and count as r = 0, trace 0.
    """
    cdef Py_ssize_t n = A.shape[0]
    cdef Py_ssize_t k
    cdef double rss = 0.0, tr = 0.0, t, den, r
    with nogil:
        for k in range(n):
            t = lam * D[k]
            den = A[k] + t
            if den > 0.0:
                r = t / den
                rss = rss + P[k] * r * r
                tr = tr + w[k] * A[k] / den
    return rss, tr


def wiener_gain(const double[::1] A, const double[::1] PX, const double[::1] w, double c,
                double[::1] q):
    """ForWaRD's regularised Wiener gain and its Fourier distortion, in one pass.

    Writes ``q_k = PX_k / (A_k PX_k + c)`` (0 where the denominator is 0) so that the
    shrinkage is ``lambda_k = A_k q_k`` and the filter ``conj(H_k) q_k``; returns
    ``sum_k w_k (1 - lambda_k)^2 PX_k``.
    """
    cdef Py_ssize_t n = A.shape[0]
    cdef Py_ssize_t k
    cdef double dist = 0.0, den, lamf
    with nogil:
        for k in range(n):
            den = A[k] * PX[k] + c
            if den > 0.0:
                q[k] = PX[k] / den
            else:
                q[k] = 0.0
            lamf = A[k] * q[k]
            dist = dist + w[k] * (1.0 - lamf) * (1.0 - lamf) * PX[k]
    return dist
