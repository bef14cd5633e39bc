# Fused accumulation of the score and Fisher information of a canonical-link GLM
# (logistic or Poisson) in one pass over the data, with no temporaries:
#     score = X^T w (y - mu),   info = X^T diag(w v(mu)) X,
# v(mu) = mu (1 - mu) (logistic) or mu (Poisson), w the prior weights.
# The caller computes mu = g^{-1}(X beta) with NumPy's vectorised exp (faster than a
# scalar libm call per element here) and runs the Newton iterations; SIMEX and the
# bootstrap call this hundreds of times per fit.
#
# Kernel only: the caller guarantees X (n, k) C-contiguous float64, y and mu of length n,
# weights of length n or 0 (unit weights), info (k, k) and score (k,) outputs.


def glm_accumulate(const double[:, ::1] X, const double[::1] y, const double[::1] mu,
                   const double[::1] weights, int family, double[:, ::1] info,
                   double[::1] score):
    """Overwrite ``info`` and ``score`` with the information and score at ``mu``
    (family 1 = logistic, 2 = Poisson). The full symmetric ``info`` is filled."""
    cdef Py_ssize_t n = X.shape[0]
    cdef Py_ssize_t k = X.shape[1]
    cdef Py_ssize_t i, j, l
    cdef double m, v, r, xij, wi
    cdef bint unit = weights.shape[0] == 0
    with nogil:
        for j in range(k):
            score[j] = 0.0
            for l in range(k):
                info[j, l] = 0.0
        for i in range(n):
            m = mu[i]
            wi = 1.0 if unit else weights[i]
            v = wi * (m * (1.0 - m) if family == 1 else m)
            r = wi * (y[i] - m)
            for j in range(k):
                xij = X[i, j]
                score[j] = score[j] + xij * r
                xij = v * xij
                for l in range(j + 1):
                    info[j, l] = info[j, l] + xij * X[i, l]
        for j in range(k):
            for l in range(j + 1, k):
                info[j, l] = info[l, j]
