# Fourier-domain kernels of deconv.density: empirical characteristic functions on a uniform
# frequency grid t_k = k * dt (plain and Delaigle-Meister heteroscedastic) and evaluation of a
# real function from its one-sided Fourier coefficients (density and its exact integral).
#
# Kernel only: the caller (deconv.density) guarantees contiguous float64 input of matching
# lengths, finite values, K >= 1 and output arrays of the right length. No validation here.
#
# Threads are used only for large jobs (a parallel region costs milliseconds of start-up and
# barrier waiting on a busy machine).
# Determinism: observations are split into fixed-size blocks (the split depends on n only),
# each block is summed serially into its own buffer, and the buffers are added in block
# order, so results do not depend on the number of threads.
from cython.parallel cimport prange
from libc.math cimport cos, sin, exp, fabs, M_PI
from libc.stdlib cimport malloc, free

from _noise_cf cimport std_cf

import numpy as np

# exp(i k dt y) is advanced by complex rotation and re-anchored with exact cos/sin every
# ANCHOR steps, so the rounding error stays O(ANCHOR * eps) whatever the grid length.
cdef enum:
    ANCHOR = 64


cdef inline Py_ssize_t _block_size(Py_ssize_t n) noexcept nogil:
    # at most ~128 blocks (bounded scratch memory), at least 1024 observations per block
    cdef Py_ssize_t b = (n + 127) // 128
    return b if b > 1024 else 1024


cdef enum:
    LANES = 4   # observations advanced together: independent rotations hide FP latency


cdef inline void _ecf_lanes(const double* yv, const double* wv, int m, double dt,
                            Py_ssize_t K, double* acc_re, double* acc_im) noexcept nogil:
    """acc[k] += sum over m (<= LANES) observations of w exp(i k dt y), k < K."""
    cdef double re[LANES]
    cdef double im[LANES]
    cdef double c[LANES]
    cdef double s[LANES]
    cdef double y_[LANES]
    cdef double w_[LANES]
    cdef double tmp, ph, sr, si
    cdef Py_ssize_t ka, k0, k, kend
    cdef int q
    for q in range(LANES):
        y_[q] = yv[q] if q < m else 0.0
        w_[q] = wv[q] if q < m else 0.0
        c[q] = cos(dt * y_[q])
        s[q] = sin(dt * y_[q])
    for ka in range((K + ANCHOR - 1) // ANCHOR):
        k0 = ka * ANCHOR
        for q in range(LANES):
            ph = <double>k0 * dt * y_[q]
            re[q] = w_[q] * cos(ph)
            im[q] = w_[q] * sin(ph)
        kend = k0 + ANCHOR
        if kend > K:
            kend = K
        for k in range(k0, kend):
            sr = 0.0
            si = 0.0
            for q in range(LANES):
                sr = sr + re[q]
                si = si + im[q]
                tmp = re[q] * c[q] - im[q] * s[q]
                im[q] = re[q] * s[q] + im[q] * c[q]
                re[q] = tmp
            acc_re[k] += sr
            acc_im[k] += si


def ecf(const double[::1] y, const double[::1] weights, double dt,
        double[::1] out_re, double[::1] out_im):
    """out[k] = sum_j weights[j] * exp(i k dt y[j]), k < len(out_re) (unnormalised).

    Empty ``weights`` means unit weights. O(n K), parallel over fixed blocks.
    """
    cdef Py_ssize_t n = y.shape[0], K = out_re.shape[0]
    cdef Py_ssize_t bs = _block_size(n)
    cdef Py_ssize_t nb = (n + bs - 1) // bs
    cdef double[:, ::1] part_re = np.zeros((nb, K))
    cdef double[:, ::1] part_im = np.zeros((nb, K))
    cdef const double[::1] wts = np.ones(n) if weights.shape[0] == 0 else weights
    cdef Py_ssize_t b, j, jq, jend, k
    cdef int m
    with nogil:
        for b in prange(nb, schedule="dynamic", use_threads_if=nb > 1 and n * K > 2000000):
            jend = (b + 1) * bs
            if jend > n:
                jend = n
            for jq in range((jend - b * bs + LANES - 1) // LANES):
                j = b * bs + jq * LANES
                m = <int>(jend - j) if jend - j < LANES else LANES
                _ecf_lanes(&y[j], &wts[j], m, dt, K, &part_re[b, 0], &part_im[b, 0])
        for k in range(K):
            out_re[k] = 0.0
            out_im[k] = 0.0
        for b in range(nb):
            for k in range(K):
                out_re[k] = out_re[k] + part_re[b, k]
                out_im[k] = out_im[k] + part_im[b, k]


cdef inline double complex _cf(int code, double param, const double* tab, Py_ssize_t ntab,
                               double inv_step, double u) noexcept nogil:
    """std_cf(code, param, u), or from a table of a real, even log-cf when ntab > 0.

    tab[2i] = log phi(i step), tab[2i+1] = step * (log phi)'(i step), i < ntab: cubic Hermite
    interpolation of log phi (relative accuracy in phi), exact evaluation on the first two
    intervals (where log phi may be non-smooth at 0, e.g. |u|^df for Student-t) and beyond
    the table.
    """
    cdef double x, s, s2, s3, lg
    cdef Py_ssize_t i
    if ntab == 0:
        return std_cf(code, param, u)
    x = fabs(u) * inv_step
    if x < 2.0 or x >= <double>(ntab - 1):
        return std_cf(code, param, u)
    i = <Py_ssize_t>x
    s = x - <double>i
    s2 = s * s
    s3 = s2 * s
    lg = ((2.0 * s3 - 3.0 * s2 + 1.0) * tab[2 * i] + (s3 - 2.0 * s2 + s) * tab[2 * i + 1]
          + (3.0 * s2 - 2.0 * s3) * tab[2 * i + 2] + (s3 - s2) * tab[2 * i + 3])
    return exp(lg)


cdef inline void _hetero_lanes(const double* yv, const double* sv, const double* wv, int m,
                               int code, double param, double dt, Py_ssize_t k_start,
                               Py_ssize_t K, double* pre, double* pim, const double* tab,
                               Py_ssize_t ntab, double inv_step) noexcept nogil:
    """pre/pim[kk] += sum over the m (<= LANES) observations of w e^{i t y} conj(phi(sd t))."""
    cdef double re[LANES]
    cdef double im[LANES]
    cdef double c[LANES]
    cdef double s[LANES]
    cdef double gk[LANES]
    cdef double gr[LANES]
    cdef double gq[LANES]
    cdef double a[LANES]
    cdef double sd_[LANES]
    cdef double y_[LANES]
    cdef double w_[LANES]
    cdef Py_ssize_t ka, k0, kend, kk
    cdef int q
    cdef double kf, ph, tmp, pr, pi_, sr, si
    cdef double complex phi
    for q in range(LANES):
        # pad missing lanes with a zero-weight observation
        y_[q] = yv[q] if q < m else 0.0
        sd_[q] = sv[q] if q < m else 1.0
        w_[q] = wv[q] if q < m else 0.0
        c[q] = cos(dt * y_[q])
        s[q] = sin(dt * y_[q])
        a[q] = sd_[q] * sd_[q] * dt * dt
    for ka in range((K + ANCHOR - 1) // ANCHOR):
        k0 = ka * ANCHOR
        kend = k0 + ANCHOR
        if kend > K:
            kend = K
        kf = <double>(k_start + k0)
        for q in range(LANES):
            ph = kf * dt * y_[q]
            re[q] = w_[q] * cos(ph)
            im[q] = w_[q] * sin(ph)
        if code == 0:
            # normal errors: exp(-a k^2 / 2) by a two-term recurrence, exact at each anchor
            for q in range(LANES):
                gk[q] = exp(-0.5 * a[q] * kf * kf)
                gr[q] = exp(-0.5 * a[q] * (2.0 * kf + 1.0))
                gq[q] = exp(-a[q])
            for kk in range(k0, kend):
                sr = 0.0
                si = 0.0
                for q in range(LANES):
                    sr = sr + re[q] * gk[q]
                    si = si + im[q] * gk[q]
                    gk[q] = gk[q] * gr[q]
                    gr[q] = gr[q] * gq[q]
                    tmp = re[q] * c[q] - im[q] * s[q]
                    im[q] = re[q] * s[q] + im[q] * c[q]
                    re[q] = tmp
                pre[kk] += sr
                pim[kk] += si
        elif code == 1:
            # Laplace at unit sd: 1 / (1 + u^2 / 2), real
            for kk in range(k0, kend):
                kf = <double>(k_start + kk)
                sr = 0.0
                si = 0.0
                for q in range(LANES):
                    pr = 1.0 / (1.0 + 0.5 * a[q] * kf * kf)
                    sr = sr + re[q] * pr
                    si = si + im[q] * pr
                    tmp = re[q] * c[q] - im[q] * s[q]
                    im[q] = re[q] * s[q] + im[q] * c[q]
                    re[q] = tmp
                pre[kk] += sr
                pim[kk] += si
        else:
            for kk in range(k0, kend):
                kf = <double>(k_start + kk)
                sr = 0.0
                si = 0.0
                for q in range(LANES):
                    phi = _cf(code, param, tab, ntab, inv_step, sd_[q] * (kf * dt))
                    pr = phi.real
                    pi_ = phi.imag
                    # (re + i im) * (pr - i pi_)
                    sr = sr + re[q] * pr + im[q] * pi_
                    si = si + im[q] * pr - re[q] * pi_
                    tmp = re[q] * c[q] - im[q] * s[q]
                    im[q] = re[q] * s[q] + im[q] * c[q]
                    re[q] = tmp
                pre[kk] += sr
                pim[kk] += si


def ecf_hetero(const double[::1] y, const double[::1] sd, const double[::1] weights,
               int code, double param, double dt, Py_ssize_t k_start,
               double[::1] num_re, double[::1] num_im, const double[::1] table=None,
               double table_step=1.0):
    """Delaigle-Meister numerator for heteroscedastic errors U_j with sd[j]:

    num[kk] = sum_j w_j exp(i t_k y_j) conj(phi_j(t_k)),  k = k_start + kk,
    with phi_j(t) = std_cf(code, param, sd[j] * t) and t_k = k dt. Empty ``weights`` = unit.
    The frequency offset lets callers extend a spectrum without recomputing it.
    Observations are processed LANES at a time (in a fixed order). ``table`` (optional,
    codes other than 0 and 1): log phi and step * (log phi)' at u = i * table_step,
    interleaved, for a real even cf (see ``_cf``); the caller makes it long enough.
    """
    cdef Py_ssize_t n = y.shape[0], K = num_re.shape[0]
    cdef Py_ssize_t bs = _block_size(n)
    cdef Py_ssize_t nb = (n + bs - 1) // bs
    cdef double[:, ::1] p_re = np.zeros((nb, K))
    cdef double[:, ::1] p_im = np.zeros((nb, K))
    cdef const double[::1] wts = np.ones(n) if weights.shape[0] == 0 else weights
    cdef Py_ssize_t b, j, jq, jend, kk
    cdef int m
    cdef Py_ssize_t ntab = 0 if table is None else table.shape[0] // 2
    cdef const double* tab = NULL
    cdef double inv_step = 1.0 / table_step
    if ntab > 0:
        tab = &table[0]
    with nogil:
        for b in prange(nb, schedule="dynamic", use_threads_if=nb > 1 and n * K > 2000000):
            jend = (b + 1) * bs
            if jend > n:
                jend = n
            for jq in range((jend - b * bs + LANES - 1) // LANES):
                j = b * bs + jq * LANES
                m = <int>(jend - j) if jend - j < LANES else LANES
                _hetero_lanes(&y[j], &sd[j], &wts[j], m, code, param, dt, k_start, K,
                              &p_re[b, 0], &p_im[b, 0], tab, ntab, inv_step)
        for kk in range(K):
            num_re[kk] = 0.0
            num_im[kk] = 0.0
        for b in range(nb):
            for kk in range(K):
                num_re[kk] = num_re[kk] + p_re[b, kk]
                num_im[kk] = num_im[kk] + p_im[b, kk]


def hetero_den(const double[::1] sd, const double[::1] weights, int code, double param,
               double dt, double[::1] den, const double[::1] table=None, double table_step=1.0):
    """den[k] = sum_j w_j |phi_j(t_k)|^2, t_k = k dt (the Delaigle-Meister denominator).

    No rotation recurrence, so it costs a fraction of the numerator. Empty ``weights`` = unit.
    ``table``: as for :func:`ecf_hetero`.
    """
    cdef Py_ssize_t n = sd.shape[0], K = den.shape[0]
    cdef Py_ssize_t bs = _block_size(n)
    cdef Py_ssize_t nb = (n + bs - 1) // bs
    cdef double[:, ::1] part = np.zeros((nb, K))
    cdef bint unit = weights.shape[0] == 0
    cdef Py_ssize_t b, j, jend, k, ka, k0, kend
    cdef double w, a, pr, kf, gk, gr, gq
    cdef double complex phi
    cdef double* pd
    cdef Py_ssize_t ntab = 0 if table is None else table.shape[0] // 2
    cdef const double* tab = NULL
    cdef double inv_step = 1.0 / table_step
    if ntab > 0:
        tab = &table[0]
    with nogil:
        for b in prange(nb, schedule="dynamic", use_threads_if=nb > 1 and n * K > 2000000):
            jend = (b + 1) * bs
            if jend > n:
                jend = n
            pd = &part[b, 0]
            for j in range(b * bs, jend):
                w = 1.0 if unit else weights[j]
                if w == 0.0:
                    continue
                a = sd[j] * dt
                if code == 0:
                    # |phi|^2 = exp(-a^2 k^2) by the same two-term recurrence as above,
                    # re-anchored with an exact exp every ANCHOR steps
                    for ka in range((K + ANCHOR - 1) // ANCHOR):
                        k0 = ka * ANCHOR
                        kf = <double>k0
                        gk = w * exp(-a * a * kf * kf)
                        gr = exp(-a * a * (2.0 * kf + 1.0))
                        gq = exp(-2.0 * a * a)
                        kend = k0 + ANCHOR
                        if kend > K:
                            kend = K
                        for k in range(k0, kend):
                            pd[k] += gk
                            gk = gk * gr
                            gr = gr * gq
                elif code == 1:
                    a = 0.5 * a * a
                    kf = 0.0
                    for k in range(K):
                        pr = 1.0 / (1.0 + a * kf * kf)
                        pd[k] += w * pr * pr
                        kf = kf + 1.0
                else:
                    for k in range(K):
                        phi = _cf(code, param, tab, ntab, inv_step, a * <double>k)
                        pd[k] += w * (phi.real * phi.real + phi.imag * phi.imag)
        for k in range(K):
            den[k] = 0.0
        for b in range(nb):
            for k in range(K):
                den[k] = den[k] + part[b, k]


def fourier_eval(const double[::1] g_re, const double[::1] g_im, double dt,
                 const double[::1] y, double[::1] pdf_out, double[::1] cdf_out):
    """Evaluate f and its integral from 0 given one-sided coefficients g_k = G(k dt):

    f(y) = (dt/pi) [g_0/2 + sum_{k>=1} Re(g_k exp(-i t_k y))]
    F(y) = (dt/pi) [Re(g_0) y/2 + sum_{k>=1} (Re g_k sin(t_k y) + Im g_k (1 - cos(t_k y))) / t_k]

    (trapezoid rule in t; F is the exact integral of f over [0, y]). An empty ``cdf_out``
    skips the integral. Parallel over y; each output is computed independently.
    """
    cdef Py_ssize_t K = g_re.shape[0], G = y.shape[0]
    cdef bint want_cdf = cdf_out.shape[0] != 0
    cdef Py_ssize_t i, k, ka, k0, kend
    cdef double yi, c, s, re, im, tmp, ph, fsum, Fsum, tk
    with nogil:
        for i in prange(G, schedule="static", use_threads_if=G * K > 2000000):
            yi = y[i]
            c = cos(dt * yi)
            s = sin(dt * yi)
            fsum = 0.5 * g_re[0]
            Fsum = 0.5 * g_re[0] * yi
            re = 1.0
            im = 0.0
            for ka in range((K + ANCHOR - 1) // ANCHOR):
                k0 = ka * ANCHOR
                # (re, im) = (cos(t_k y), sin(t_k y))
                ph = <double>k0 * dt * yi
                re = cos(ph)
                im = sin(ph)
                kend = k0 + ANCHOR
                if kend > K:
                    kend = K
                for k in range(k0, kend):
                    if k > 0:
                        fsum = fsum + g_re[k] * re + g_im[k] * im
                        if want_cdf:
                            tk = <double>k * dt
                            Fsum = Fsum + (g_re[k] * im + g_im[k] * (1.0 - re)) / tk
                    tmp = re * c - im * s
                    im = re * s + im * c
                    re = tmp
            pdf_out[i] = fsum * dt / M_PI
            if want_cdf:
                cdf_out[i] = Fsum * dt / M_PI
