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
from libc.math cimport cos, sin, exp, M_PI
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


cdef inline void _ecf_one(double y, double w, double dt, Py_ssize_t K,
                          double* acc_re, double* acc_im) noexcept nogil:
    """acc[k] += w * exp(i k dt y) for k < K."""
    cdef double c = cos(dt * y), s = sin(dt * y)
    cdef double re, im, tmp, ph
    cdef Py_ssize_t ka, k0, k, kend
    for ka in range((K + ANCHOR - 1) // ANCHOR):
        k0 = ka * ANCHOR
        ph = <double>k0 * dt * y
        re = w * cos(ph)
        im = w * sin(ph)
        kend = k0 + ANCHOR
        if kend > K:
            kend = K
        for k in range(k0, kend):
            acc_re[k] += re
            acc_im[k] += im
            tmp = re * c - im * s
            im = re * s + im * c
            re = tmp


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
    cdef bint unit = weights.shape[0] == 0
    cdef Py_ssize_t b, j, jend, k
    cdef double w
    with nogil:
        for b in prange(nb, schedule="dynamic", use_threads_if=nb > 1 and n * K > 2000000):
            jend = (b + 1) * bs
            if jend > n:
                jend = n
            for j in range(b * bs, jend):
                w = 1.0 if unit else weights[j]
                if w != 0.0:
                    _ecf_one(y[j], w, dt, K, &part_re[b, 0], &part_im[b, 0])
        for k in range(K):
            out_re[k] = 0.0
            out_im[k] = 0.0
        for b in range(nb):
            for k in range(K):
                out_re[k] = out_re[k] + part_re[b, k]
                out_im[k] = out_im[k] + part_im[b, k]


def ecf_hetero(const double[::1] y, const double[::1] sd, const double[::1] weights,
               int code, double param, double dt, Py_ssize_t k_start,
               double[::1] num_re, double[::1] num_im):
    """Delaigle-Meister numerator for heteroscedastic errors U_j with sd[j]:

    num[kk] = sum_j w_j exp(i t_k y_j) conj(phi_j(t_k)),  k = k_start + kk,
    with phi_j(t) = std_cf(code, param, sd[j] * t) and t_k = k dt. Empty ``weights`` = unit.
    The frequency offset lets callers extend a spectrum without recomputing it.
    """
    cdef Py_ssize_t n = y.shape[0], K = num_re.shape[0]
    cdef Py_ssize_t bs = _block_size(n)
    cdef Py_ssize_t nb = (n + bs - 1) // bs
    cdef double[:, ::1] p_re = np.zeros((nb, K))
    cdef double[:, ::1] p_im = np.zeros((nb, K))
    cdef bint unit = weights.shape[0] == 0
    cdef Py_ssize_t b, j, jend, kk, ka, k0, kend
    cdef double w, c, s, re, im, tmp, ph, yj, sj, pr, pi_, a, gk, gr, gq, kf
    cdef double complex phi
    cdef double* pre
    cdef double* pim
    with nogil:
        for b in prange(nb, schedule="dynamic", use_threads_if=nb > 1 and n * K > 2000000):
            jend = (b + 1) * bs
            if jend > n:
                jend = n
            pre = &p_re[b, 0]
            pim = &p_im[b, 0]
            for j in range(b * bs, jend):
                w = 1.0 if unit else weights[j]
                if w == 0.0:
                    continue
                yj = y[j]
                sj = sd[j]
                c = cos(dt * yj)
                s = sin(dt * yj)
                for ka in range((K + ANCHOR - 1) // ANCHOR):
                    k0 = ka * ANCHOR
                    kf = <double>(k_start + k0)
                    ph = kf * dt * yj
                    re = w * cos(ph)
                    im = w * sin(ph)
                    kend = k0 + ANCHOR
                    if kend > K:
                        kend = K
                    if code == 0:
                        # normal errors: exp(-a k^2 / 2) by a two-term recurrence, exact
                        # exp at each anchor (saves one exp per observation and frequency)
                        a = sj * sj * dt * dt
                        gk = exp(-0.5 * a * kf * kf)
                        gr = exp(-0.5 * a * (2.0 * kf + 1.0))
                        gq = exp(-a)
                        for kk in range(k0, kend):
                            pre[kk] += re * gk
                            pim[kk] += im * gk
                            gk = gk * gr
                            gr = gr * gq
                            tmp = re * c - im * s
                            im = re * s + im * c
                            re = tmp
                    elif code == 1:
                        # Laplace at unit sd: 1 / (1 + u^2 / 2), real
                        a = 0.5 * sj * sj * dt * dt
                        for kk in range(k0, kend):
                            kf = <double>(k_start + kk)
                            pr = 1.0 / (1.0 + a * kf * kf)
                            pre[kk] += re * pr
                            pim[kk] += im * pr
                            tmp = re * c - im * s
                            im = re * s + im * c
                            re = tmp
                    else:
                        for kk in range(k0, kend):
                            phi = std_cf(code, param, sj * (<double>(k_start + kk) * dt))
                            pr = phi.real
                            pi_ = phi.imag
                            # (re + i im) * (pr - i pi_)
                            pre[kk] += re * pr + im * pi_
                            pim[kk] += im * pr - re * pi_
                            tmp = re * c - im * s
                            im = re * s + im * c
                            re = tmp
        for kk in range(K):
            num_re[kk] = 0.0
            num_im[kk] = 0.0
        for b in range(nb):
            for kk in range(K):
                num_re[kk] = num_re[kk] + p_re[b, kk]
                num_im[kk] = num_im[kk] + p_im[b, kk]


def hetero_den(const double[::1] sd, const double[::1] weights, int code, double param,
               double dt, double[::1] den):
    """den[k] = sum_j w_j |phi_j(t_k)|^2, t_k = k dt (the Delaigle-Meister denominator).

    No rotation recurrence, so it costs a fraction of the numerator. Empty ``weights`` = unit.
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
                    for k in range(K):
                        pr = 1.0 / (1.0 + a * <double>k * <double>k)
                        pd[k] += w * pr * pr
                else:
                    for k in range(K):
                        phi = std_cf(code, param, a * <double>k)
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
