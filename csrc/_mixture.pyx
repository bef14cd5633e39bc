# Kernels for empirical-Bayes mixtures on a grid (deconv.eb).
#
# Likelihood matrices are built in log space and each row is divided by its maximum
# (L_ij = exp(log p(z_i | theta_j) - max_k log p(z_i | theta_k))), so every row has a 1 in
# it and nothing underflows to an all-zero row however extreme z_i is. The row log-maxima
# are returned separately so that log-likelihoods can be restored exactly.
#
# Kernels only: the caller (deconv/eb/likelihood.py, deconv/eb/posterior.py) checks
# shapes, finiteness, positivity and integrality before calling. Rows are independent,
# so the ``prange`` loops give results that do not depend on the number of threads.
from cython.parallel import prange
from libc.math cimport exp, log, sqrt, lgamma, log1p, INFINITY


cdef inline void _exp_row(double[:, ::1] out, double[::1] logmax, Py_ssize_t i,
                          Py_ssize_t m) noexcept nogil:
    """Replace row i of out (log values) by exp(value - row max); store the max."""
    cdef Py_ssize_t j
    cdef double mx = -INFINITY
    for j in range(m):
        if out[i, j] > mx:
            mx = out[i, j]
    logmax[i] = mx
    for j in range(m):
        out[i, j] = exp(out[i, j] - mx)


def poisson_matrix(const double[::1] k, const double[::1] e, const double[::1] grid,
                   double[:, ::1] out, double[::1] logmax):
    """Row-scaled Poisson likelihood: k_i ~ Poisson(e_i g_j); grid values >= 0.

    log p = k log(e g) - e g - log k!, with 0 log 0 = 0 (a zero rate gives k = 0 surely).
    """
    cdef Py_ssize_t n = k.shape[0], m = grid.shape[0], i, j
    cdef double mu, c
    for i in prange(n, nogil=True, schedule="static"):
        c = -lgamma(k[i] + 1.0)
        for j in range(m):
            mu = e[i] * grid[j]
            if mu > 0.0:
                out[i, j] = c + k[i] * log(mu) - mu
            elif k[i] == 0.0:
                out[i, j] = 0.0
            else:
                out[i, j] = -INFINITY
        _exp_row(out, logmax, i, m)


def binomial_matrix(const double[::1] k, const double[::1] ntr, const double[::1] grid,
                    double[:, ::1] out, double[::1] logmax):
    """Row-scaled binomial likelihood: k_i ~ Bin(n_i, g_j); grid values in [0, 1]."""
    cdef Py_ssize_t n = k.shape[0], m = grid.shape[0], i, j
    cdef double c, p, v
    for i in prange(n, nogil=True, schedule="static"):
        c = lgamma(ntr[i] + 1.0) - lgamma(k[i] + 1.0) - lgamma(ntr[i] - k[i] + 1.0)
        for j in range(m):
            p = grid[j]
            v = c
            if k[i] > 0.0:
                v = v + (k[i] * log(p) if p > 0.0 else -INFINITY)
            if ntr[i] - k[i] > 0.0:
                v = v + ((ntr[i] - k[i]) * log1p(-p) if p < 1.0 else -INFINITY)
            out[i, j] = v
        _exp_row(out, logmax, i, m)


def scale_log_matrix(const double[:, ::1] logL, double[:, ::1] out, double[::1] logmax):
    """Row-scale a user-supplied log-likelihood matrix (rows must have a finite max)."""
    cdef Py_ssize_t n = logL.shape[0], m = logL.shape[1], i, j
    for i in prange(n, nogil=True, schedule="static"):
        for j in range(m):
            out[i, j] = logL[i, j]
        _exp_row(out, logmax, i, m)


def posterior_quantiles(const double[:, ::1] L, const double[::1] w, const double[::1] f,
                        const double[::1] grid, const double[::1] probs,
                        double[:, ::1] out):
    """Quantiles of each unit's discrete posterior P(theta = g_j | z_i) = L_ij w_j / f_i.

    out[i, q] = smallest g_j whose posterior CDF reaches probs[q] (probs sorted ascending);
    a relative slack of 1e-12 keeps round-off from skipping a grid point.
    """
    cdef Py_ssize_t n = L.shape[0], m = L.shape[1], nq = probs.shape[0], i, j, q
    cdef double cum, inv
    for i in prange(n, nogil=True, schedule="static"):
        inv = 1.0 / f[i]
        cum = 0.0
        q = 0
        for j in range(m):
            cum = cum + L[i, j] * w[j] * inv
            while q < nq and cum >= probs[q] * (1.0 - 1e-12):
                out[i, q] = grid[j]
                q = q + 1
            if q == nq:
                break
        while q < nq:
            out[i, q] = grid[m - 1]
            q = q + 1


def posterior_hpd(const double[:, ::1] L, const double[::1] w, const double[::1] f,
                  const double[::1] grid, double level, double[::1] lo, double[::1] hi):
    """Shortest grid interval [g_a, g_b] holding posterior mass >= level (two pointers)."""
    cdef Py_ssize_t n = L.shape[0], m = L.shape[1], i, a, b, best_a, best_b
    cdef double mass, inv, width, best_w, need
    for i in prange(n, nogil=True, schedule="static"):
        inv = 1.0 / f[i]
        need = level * (1.0 - 1e-12)
        a = 0
        mass = 0.0
        best_w = INFINITY
        best_a = 0
        best_b = m - 1
        for b in range(m):
            mass = mass + L[i, b] * w[b] * inv
            # shrink from the left while the window still holds enough mass
            while a < b and mass - L[i, a] * w[a] * inv >= need:
                mass = mass - L[i, a] * w[a] * inv
                a = a + 1
            if mass >= need:
                width = grid[b] - grid[a]
                if width < best_w:
                    best_w = width
                    best_a = a
                    best_b = b
        lo[i] = grid[best_a]
        hi[i] = grid[best_b]


def posterior_draws(const double[:, ::1] L, const double[::1] w, const double[::1] f,
                    const double[::1] grid, const double[:, ::1] u, double[:, ::1] out):
    """Inverse-CDF draws: out[i, d] = first g_j with posterior CDF >= u[i, d].

    Each row of ``u`` must be sorted ascending (the caller sorts and then permutes back),
    so one pass over the grid serves every draw of the unit.
    """
    cdef Py_ssize_t n = L.shape[0], m = L.shape[1], nd = u.shape[1], i, j, d
    cdef double cum, inv
    for i in prange(n, nogil=True, schedule="static"):
        inv = 1.0 / f[i]
        cum = 0.0
        d = 0
        for j in range(m):
            cum = cum + L[i, j] * w[j] * inv
            while d < nd and cum >= u[i, d]:
                out[i, d] = grid[j]
                d = d + 1
            if d == nd:
                break
        while d < nd:
            out[i, d] = grid[m - 1]
            d = d + 1


def posterior_moments(const double[:, ::1] L, const double[::1] w, const double[::1] f,
                      const double[::1] grid, double[::1] mean, double[::1] sd):
    """Posterior mean and sd of each unit on the grid (two passes per row: the variance is
    accumulated around the row's own mean, so no cancellation when |mean| >> sd)."""
    cdef Py_ssize_t n = L.shape[0], m = L.shape[1], i, j
    cdef double inv, mu, v, p, t
    for i in prange(n, nogil=True, schedule="static"):
        inv = 1.0 / f[i]
        mu = 0.0
        for j in range(m):
            mu = mu + L[i, j] * w[j] * grid[j]
        mu = mu * inv
        v = 0.0
        for j in range(m):
            t = grid[j] - mu
            v = v + L[i, j] * w[j] * t * t
        mean[i] = mu
        sd[i] = sqrt(v * inv)

