# Single-pass spectral sums for deconv.signal's automatic regularisation rules.
# Kernel only: the caller guarantees 1-D contiguous float64 arrays of equal length,
# lam >= 0, c >= 0, and output arrays of the same length.
from libc.math cimport sqrt



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


def cg_step_nz(double alpha, const double complex[::1] P, const double complex[::1] AP,
               double complex[::1] X, double complex[::1] R, const double[::1] pinv,
               Py_ssize_t m, bint even):
    """``X += alpha P; R -= alpha AP``; returns the weighted ``<R, pinv R>``.

    :func:`cg_step` without storing ``Z = pinv R``: the single-precision CG rebuilds
    it inside :func:`cg_direction_blur`, which saves a write and a read of a full
    complex128 vector per iteration (the passes are memory-bound).
    """
    cdef Py_ssize_t n = P.shape[0]
    cdef Py_ssize_t k, j = 0
    cdef double rz = 0.0
    cdef double complex r
    with nogil:
        for k in range(n):
            X[k] = X[k] + alpha * P[k]
            r = R[k] - alpha * AP[k]
            R[k] = r
            rz = rz + _rfft_weight(j, m, even) * pinv[k] * (r.real * r.real + r.imag * r.imag)
            j = j + 1
            if j == m:
                j = 0
    return rz


def cg_direction_blur(double beta, const double complex[::1] R, const double[::1] pinv,
                      double complex[::1] P, const float complex[::1] H,
                      float complex[::1] out):
    """``P = pinv R + beta P`` in place and ``out = complex64(P) * H`` in one pass.

    The next CG direction and its blur (rounded for the float32 FFT of the operator).
    """
    cdef Py_ssize_t n = P.shape[0]
    cdef Py_ssize_t k
    cdef double complex p
    with nogil:
        for k in range(n):
            p = pinv[k] * R[k] + beta * P[k]
            P[k] = p
            out[k] = (<float complex> p) * H[k]


def cg_direction(double beta, const double complex[::1] Z, double complex[::1] P):
    """``P = Z + beta P`` in place."""
    cdef Py_ssize_t n = P.shape[0]
    cdef Py_ssize_t k
    with nogil:
        for k in range(n):
            P[k] = Z[k] + beta * P[k]


# --- total variation: the dual step and the divergence on a periodic n-D grid ---------
# x is the flattened C-order grid of shape `shape` (at most 8 axes, checked by the
# caller); p holds one dual component per axis, shape (d, N). Forward differences wrap
# periodically, as in the FFT-diagonal data term.

cdef enum:
    _MAXDIM = 8


cdef inline void _advance(Py_ssize_t* coord, const Py_ssize_t* shape,
                          Py_ssize_t d) noexcept nogil:
    """Odometer step of the C-order multi-index (last axis fastest)."""
    cdef Py_ssize_t a = d - 1
    coord[a] += 1
    while a > 0 and coord[a] == shape[a]:
        coord[a] = 0
        a -= 1
        coord[a] += 1


cdef void _dual_step_2d(const double* x, double* p0, double* p1, Py_ssize_t n0,
                        Py_ssize_t n1, double sigma, double inv_lam) noexcept nogil:
    cdef Py_ssize_t i, j, r, rn
    cdef double g0, g1, v0, v1, nrm, xc
    for i in range(n0):
        r = i * n1
        rn = 0 if i == n0 - 1 else r + n1
        for j in range(n1):
            xc = x[r + j]
            g0 = x[rn + j] - xc
            g1 = (x[r + j + 1] if j < n1 - 1 else x[r]) - xc
            v0 = p0[r + j] + sigma * g0
            v1 = p1[r + j] + sigma * g1
            nrm = (v0 * v0 + v1 * v1) * inv_lam * inv_lam
            if nrm > 1.0:
                nrm = 1.0 / sqrt(nrm)
                v0 = v0 * nrm
                v1 = v1 * nrm
            p0[r + j] = v0
            p1[r + j] = v1


cdef void _divergence_2d(const double* p0, const double* p1, double* out, Py_ssize_t n0,
                         Py_ssize_t n1) noexcept nogil:
    cdef Py_ssize_t i, j, r, rp
    for i in range(n0):
        r = i * n1
        rp = (n0 - 1) * n1 if i == 0 else r - n1
        out[r] = p0[r] - p0[rp] + p1[r] - p1[r + n1 - 1]
        for j in range(1, n1):
            out[r + j] = p0[r + j] - p0[rp + j] + p1[r + j] - p1[r + j - 1]


cdef inline void _grid_setup(const Py_ssize_t[::1] shape, Py_ssize_t d, Py_ssize_t* shp,
                             Py_ssize_t* stride, Py_ssize_t* coord) noexcept nogil:
    """C copies of the shape, its C-order strides (in elements) and a zero multi-index."""
    cdef Py_ssize_t a
    for a in range(d):
        shp[a] = shape[a]
        coord[a] = 0
    stride[d - 1] = 1
    for a in range(d - 2, -1, -1):
        stride[a] = stride[a + 1] * shp[a + 1]


def tv_dual_step(const double[::1] xbar, double[:, ::1] p, const Py_ssize_t[::1] shape,
                 double sigma, double lam):
    """``p <- proj_{|.| <= lam}(p + sigma grad(xbar))`` pointwise (isotropic TV)."""
    cdef Py_ssize_t d = shape.shape[0], n = xbar.shape[0]
    if d == 2:
        with nogil:
            _dual_step_2d(&xbar[0], &p[0, 0], &p[1, 0], shape[0], shape[1], sigma, 1.0 / lam)
        return
    cdef Py_ssize_t stride[_MAXDIM]
    cdef Py_ssize_t coord[_MAXDIM]
    cdef Py_ssize_t shp[_MAXDIM]
    cdef Py_ssize_t a, k, nb
    cdef double v, nrm
    with nogil:
        _grid_setup(shape, d, shp, stride, coord)
        for k in range(n):
            nrm = 0.0
            for a in range(d):
                if coord[a] == shp[a] - 1:
                    nb = k - (shp[a] - 1) * stride[a]
                else:
                    nb = k + stride[a]
                v = p[a, k] + sigma * (xbar[nb] - xbar[k])
                p[a, k] = v
                nrm = nrm + v * v
            nrm = sqrt(nrm) / lam
            if nrm > 1.0:
                for a in range(d):
                    p[a, k] = p[a, k] / nrm
            _advance(coord, shp, d)


def tv_divergence(const double[:, ::1] p, const Py_ssize_t[::1] shape, double[::1] out):
    """``out = div p`` (minus the adjoint of the forward-difference gradient)."""
    cdef Py_ssize_t d = shape.shape[0], n = out.shape[0]
    if d == 2:
        with nogil:
            _divergence_2d(&p[0, 0], &p[1, 0], &out[0], shape[0], shape[1])
        return
    cdef Py_ssize_t stride[_MAXDIM]
    cdef Py_ssize_t coord[_MAXDIM]
    cdef Py_ssize_t shp[_MAXDIM]
    cdef Py_ssize_t a, k, pv
    cdef double s
    with nogil:
        _grid_setup(shape, d, shp, stride, coord)
        for k in range(n):
            s = 0.0
            for a in range(d):
                if coord[a] == 0:
                    pv = k + (shp[a] - 1) * stride[a]
                else:
                    pv = k - stride[a]
                s = s + p[a, k] - p[a, pv]
            out[k] = s
            _advance(coord, shp, d)


def tv_relax(double[::1] x, const double[::1] x_new, double[::1] xbar):
    """``xbar = 2 x_new - x; x = x_new``; returns ``(|x_new - x|^2, |x_new|^2)``."""
    cdef Py_ssize_t n = x.shape[0]
    cdef Py_ssize_t k
    cdef double dd = 0.0, nn = 0.0, diff
    with nogil:
        for k in range(n):
            diff = x_new[k] - x[k]
            dd = dd + diff * diff
            nn = nn + x_new[k] * x_new[k]
            xbar[k] = x_new[k] + diff
            x[k] = x_new[k]
    return dd, nn


def cg_blur_single(const double complex[::1] V, const float complex[::1] H,
                   float complex[::1] out):
    """``out = complex64(V) * H``: the blur in Fourier, rounded for a float32 FFT."""
    cdef Py_ssize_t n = V.shape[0]
    cdef Py_ssize_t k
    with nogil:
        for k in range(n):
            out[k] = (<float complex> V[k]) * H[k]


def gibbs_draw(const double complex[::1] H, const double[::1] A, const double[::1] D,
               const double complex[::1] Y, const double complex[::1] Zn, double g_n,
               double g_x, double complex[::1] mu, double complex[::1] X, Py_ssize_t m,
               bint even):
    """One Fourier-domain draw of the unsupervised Wiener-Hunt sampler, in one pass.

    ``Q = g_n A + g_x D``, ``mu = g_n conj(H) Y / Q``, ``X = mu + Zn / sqrt(Q)`` (``Zn``
    the rfft of white noise, orthonormal scaling). Returns the weighted sums
    ``(sum w D |X|^2, sum w |Y - H X|^2)``: the prior energy and the data residual.
    Bins with ``Q == 0`` carry nothing (mu = X = 0).
    """
    cdef Py_ssize_t n = Y.shape[0]
    cdef Py_ssize_t k, j = 0
    cdef double energy = 0.0, resid = 0.0, q, wt
    cdef double complex h, x, r, mk
    with nogil:
        for k in range(n):
            q = g_n * A[k] + g_x * D[k]
            if q > 0.0:
                h = H[k]
                mk = g_n * h.conjugate() * Y[k] / q
                x = mk + Zn[k] / sqrt(q)
            else:
                mk = 0.0
                x = 0.0
            mu[k] = mk
            X[k] = x
            wt = _rfft_weight(j, m, even)
            energy = energy + wt * D[k] * (x.real * x.real + x.imag * x.imag)
            r = Y[k] - H[k] * x
            resid = resid + wt * (r.real * r.real + r.imag * r.imag)
            j = j + 1
            if j == m:
                j = 0
    return energy, resid
