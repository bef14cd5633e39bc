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
from libc.math cimport exp, log, sqrt, lgamma, log1p, fabs, INFINITY, M_PI

cdef double LOG_SQRT_2PI = 0.5 * log(2.0 * M_PI)


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


cdef inline double _nrm_ratio(double t, double dt) noexcept nogil:
    """phi(t - dt) / phi(t) = exp(t dt - dt^2 / 2)."""
    return exp(t * dt - 0.5 * dt * dt)


def normal_matrix(const double[::1] z, const double[::1] s, const double[::1] grid,
                  double[:, ::1] out, double[::1] logmax):
    """Row-scaled normal likelihood: out[i, j] = phi((z_i - g_j)/s_i) / s_i / rowmax.

    ``logmax[i]`` receives log max_j phi((z_i - g_j)/s_i)/s_i. ``grid`` must be sorted.

    Speed: the row maximum sits at the grid point nearest z_i (binary search); from there
    each sweep multiplies by the ratio phi(t_{j+1})/phi(t_j) = exp(t_j d - d^2/2), which
    for equal steps d obeys r_{j+1} = r_j exp(-d^2): two multiplications per entry instead
    of an exp. Every 16 steps, and wherever the spacing changes, the value and the ratio
    are recomputed exactly, so the relative error stays below ~1e-14. Entries below 1e-300
    are set to 0 (the row maximum is 1, so they cannot matter and denormals are slow).
    """
    cdef Py_ssize_t n = z.shape[0], m = grid.shape[0], i, j, jstar, lo, hi, mid, k
    cdef double inv, c, t0, tj, dt, dprev, val, r, q
    for i in prange(n, nogil=True, schedule="static"):
        inv = 1.0 / s[i]
        c = -log(s[i]) - LOG_SQRT_2PI
        # nearest grid point to z_i
        lo = 0
        hi = m - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if grid[mid] <= z[i]:
                lo = mid
            else:
                hi = mid
        jstar = lo if (z[i] - grid[lo]) <= (grid[hi] - z[i]) else hi
        t0 = (z[i] - grid[jstar]) * inv
        logmax[i] = c - 0.5 * t0 * t0
        out[i, jstar] = 1.0
        # right sweep (t decreases by dt each step)
        val = 1.0
        r = 0.0
        q = 1.0
        dprev = -1.0
        k = 0
        for j in range(jstar, m - 1):
            dt = (grid[j + 1] - grid[j]) * inv
            tj = (z[i] - grid[j]) * inv
            if k % 16 == 0 or fabs(dt - dprev) > 1e-12 * dt:
                val = exp(0.5 * (t0 * t0 - tj * tj))
                r = _nrm_ratio(tj, dt)
                q = exp(-dt * dt)
                dprev = dt
            val = val * r
            r = r * q
            k = k + 1
            if val < 1e-300:
                for j2 in range(j + 1, m):
                    out[i, j2] = 0.0
                break
            out[i, j + 1] = val
        # left sweep (t increases by dt each step)
        val = 1.0
        dprev = -1.0
        k = 0
        for j in range(jstar, 0, -1):
            dt = (grid[j] - grid[j - 1]) * inv
            tj = (z[i] - grid[j]) * inv
            if k % 16 == 0 or fabs(dt - dprev) > 1e-12 * dt:
                val = exp(0.5 * (t0 * t0 - tj * tj))
                r = _nrm_ratio(-tj, dt)
                q = exp(-dt * dt)
                dprev = dt
            val = val * r
            r = r * q
            k = k + 1
            if val < 1e-300:
                for j2 in range(0, j):
                    out[i, j2] = 0.0
                break
            out[i, j - 1] = val


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
