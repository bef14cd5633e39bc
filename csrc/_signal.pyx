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


# --- fused vector operations of the Fourier-domain conjugate gradients (masked_solve) ---
# All arrays are flat C-contiguous rfftn half-spectra of n = rows * m bins (m = length of
# the last rfft axis). Inner products carry the rfft weights (1 for bin 0 and, when the
# real length is even, for the last bin; 2 for every other bin) so that they equal the
# full-spectrum sums. One pass each instead of NumPy's five or six temporaries.

ctypedef fused spectrum:
    float complex
    double complex


cdef inline double _rfft_weight(Py_ssize_t j, Py_ssize_t m, bint even) noexcept nogil:
    if j == 0 or (even and j == m - 1):
        return 1.0
    return 2.0


def cg_apply(const double complex[::1] Hc, const spectrum[::1] F,
             const double[::1] reg, const double complex[::1] V, double complex[::1] out,
             Py_ssize_t m, bint even):
    """``out = Hc * F + reg * V``; returns the weighted inner product ``<V, out>``.

    ``F`` may be single precision (the masked product computed with float32 FFTs).
    """
    cdef Py_ssize_t n = V.shape[0]
    cdef Py_ssize_t k, j = 0
    cdef double acc = 0.0
    cdef double complex o
    with nogil:
        for k in range(n):
            o = Hc[k] * <double complex> F[k] + reg[k] * V[k]
            out[k] = o
            acc = acc + _rfft_weight(j, m, even) * (V[k].real * o.real + V[k].imag * o.imag)
            j = j + 1
            if j == m:
                j = 0
    return acc


def cg_step(double alpha, const double complex[::1] P, const double complex[::1] AP,
            double complex[::1] X, double complex[::1] R, const double[::1] pinv,
            double complex[::1] Z, Py_ssize_t m, bint even):
    """``X += alpha P; R -= alpha AP; Z = pinv R``; returns ``(<R, R>, <R, Z>)`` weighted."""
    cdef Py_ssize_t n = P.shape[0]
    cdef Py_ssize_t k, j = 0
    cdef double rr = 0.0, rz = 0.0, wt
    cdef double complex r, z
    with nogil:
        for k in range(n):
            X[k] = X[k] + alpha * P[k]
            r = R[k] - alpha * AP[k]
            R[k] = r
            z = pinv[k] * r
            Z[k] = z
            wt = _rfft_weight(j, m, even)
            rr = rr + wt * (r.real * r.real + r.imag * r.imag)
            rz = rz + wt * (r.real * z.real + r.imag * z.imag)
            j = j + 1
            if j == m:
                j = 0
    return rr, rz


def cg_direction(double beta, const double complex[::1] Z, double complex[::1] P):
    """``P = Z + beta P`` in place."""
    cdef Py_ssize_t n = P.shape[0]
    cdef Py_ssize_t k
    with nogil:
        for k in range(n):
            P[k] = Z[k] + beta * P[k]
