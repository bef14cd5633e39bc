# Fused accumulation of the score and Fisher information of a canonical-link GLM
# (logistic or Poisson) in one pass over the data, with no temporaries:
#     score = X^T w (y - mu),   info = X^T diag(w v(mu)) X,
# v(mu) = mu (1 - mu) (logistic) or mu (Poisson), w the prior weights.
# The caller computes ex = exp(-X beta) (logistic) or exp(X beta) (Poisson) with NumPy's
# vectorised exp (measured faster than a scalar libm call per element here); the kernel
# turns it into the mean, mu = 1 / (1 + ex) or mu = ex (ex = inf gives mu = 0 exactly),
# and the caller runs the Newton iterations. SIMEX and the bootstrap call this hundreds of
# times per fit.
#
# Kernel only: the caller guarantees X (n, k) C-contiguous float64, y and mu of length n,
# weights of length n or 0 (unit weights), info (k, k) and score (k,) outputs.


def glm_accumulate(const double[:, ::1] X, const double[::1] y, const double[::1] ex,
                   const double[::1] weights, int family, double[:, ::1] info,
                   double[::1] score):
    """Overwrite ``info`` and ``score`` with the information and score at the mean given
    by ``ex`` (family 1 = logistic: ``ex = exp(-eta)``; 2 = Poisson: ``ex = exp(eta)``).
    The full symmetric ``info`` is filled."""
    cdef Py_ssize_t n = X.shape[0]
    cdef Py_ssize_t k = X.shape[1]
    cdef Py_ssize_t i, j, l
    cdef double m, v, r, xij, wi
    cdef bint unit = weights.shape[0] == 0
    # local accumulators (k <= 64 guaranteed by the caller) let the compiler keep the
    # sums out of the output buffers inside the hot loop
    cdef double h[64 * 64]
    cdef double g[64]
    if k == 2 and unit:
        _accumulate2(X, y, ex, family, info, score)
        return
    if k == 3 and unit:
        _accumulate3(X, y, ex, family, info, score)
        return
    with nogil:
        for j in range(k):
            g[j] = 0.0
            for l in range(k):
                h[j * k + l] = 0.0
        for i in range(n):
            m = 1.0 / (1.0 + ex[i]) if family == 1 else ex[i]
            wi = 1.0 if unit else weights[i]
            v = wi * (m * (1.0 - m) if family == 1 else m)
            r = wi * (y[i] - m)
            for j in range(k):
                xij = X[i, j]
                g[j] = g[j] + xij * r
                xij = v * xij
                for l in range(j + 1):
                    h[j * k + l] = h[j * k + l] + xij * X[i, l]
        for j in range(k):
            score[j] = g[j]
            for l in range(j + 1):
                info[j, l] = h[j * k + l]
                info[l, j] = h[j * k + l]


cdef void _accumulate2(const double[:, ::1] X, const double[::1] y, const double[::1] ex,
                       int family, double[:, ::1] info, double[::1] score) noexcept nogil:
    """The common SIMEX case (intercept + one covariate, unit weights) with the five
    sums in registers: about twice as fast as the general loop."""
    cdef Py_ssize_t n = X.shape[0]
    cdef Py_ssize_t i
    cdef double m, v, r, x0, x1
    cdef double s0 = 0.0, s1 = 0.0, h00 = 0.0, h01 = 0.0, h11 = 0.0
    for i in range(n):
        m = 1.0 / (1.0 + ex[i]) if family == 1 else ex[i]
        v = m * (1.0 - m) if family == 1 else m
        r = y[i] - m
        x0 = X[i, 0]
        x1 = X[i, 1]
        s0 = s0 + x0 * r
        s1 = s1 + x1 * r
        h00 = h00 + v * x0 * x0
        h01 = h01 + v * x0 * x1
        h11 = h11 + v * x1 * x1
    score[0] = s0
    score[1] = s1
    info[0, 0] = h00
    info[0, 1] = h01
    info[1, 0] = h01
    info[1, 1] = h11


cdef void _accumulate3(const double[:, ::1] X, const double[::1] y, const double[::1] ex,
                       int family, double[:, ::1] info, double[::1] score) noexcept nogil:
    """Intercept + two covariates (e.g. w and one z), unit weights: nine sums in registers."""
    cdef Py_ssize_t n = X.shape[0]
    cdef Py_ssize_t i
    cdef double m, v, r, x0, x1, x2
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0
    cdef double h00 = 0.0, h01 = 0.0, h02 = 0.0, h11 = 0.0, h12 = 0.0, h22 = 0.0
    for i in range(n):
        m = 1.0 / (1.0 + ex[i]) if family == 1 else ex[i]
        v = m * (1.0 - m) if family == 1 else m
        r = y[i] - m
        x0 = X[i, 0]
        x1 = X[i, 1]
        x2 = X[i, 2]
        s0 = s0 + x0 * r
        s1 = s1 + x1 * r
        s2 = s2 + x2 * r
        h00 = h00 + v * x0 * x0
        h01 = h01 + v * x0 * x1
        h02 = h02 + v * x0 * x2
        h11 = h11 + v * x1 * x1
        h12 = h12 + v * x1 * x2
        h22 = h22 + v * x2 * x2
    score[0] = s0
    score[1] = s1
    score[2] = s2
    info[0, 0] = h00
    info[0, 1] = h01
    info[1, 0] = h01
    info[0, 2] = h02
    info[2, 0] = h02
    info[1, 1] = h11
    info[1, 2] = h12
    info[2, 1] = h12
    info[2, 2] = h22
