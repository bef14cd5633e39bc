# Built-in model log densities with analytic gradients, behind the C model interface of
# _sampling_model.pxd, so the NUTS kernel runs whole trajectories without Python.
#
# Every density is on the unconstrained scale (scales enter as log-scales, the log-Jacobian
# included) and is defined up to an additive constant. The Python layer
# (deconv/sampling/models.py) validates the data, documents the models, names the parameters
# and maps draws back to the natural scale; tests compare each density and gradient with a
# NumPy twin and with finite differences.

from cpython.pycapsule cimport PyCapsule_New
from libc.math cimport exp, fabs, log, log1p

from _sampling_model cimport ModelHandle

import numpy as np

cdef const char* MODEL_CAPSULE = b"deconv.sampling.ModelHandle"


cdef struct Data:
    Py_ssize_t n        # observations
    Py_ssize_t J        # groups
    Py_ssize_t p        # columns of the design matrix (GLM)
    int flag            # model variant: centred / random slopes / family
    const double* y
    const double* x     # covariate (n), W (n) or design matrix (n, p) row-major
    const double* s     # known sds (eight schools), error variances (EIV), trials (binomial)
    const double* off   # offsets (GLM)
    const long long* g  # group index per observation, 0..J-1


cdef inline double log1pexp(double t) noexcept nogil:
    if t > 0.0:
        return t + log1p(exp(-t))
    return log1p(exp(t))


cdef inline double logistic(double t) noexcept nogil:
    cdef double e
    if t >= 0.0:
        return 1.0 / (1.0 + exp(-t))
    e = exp(t)
    return e / (1.0 + e)


# ---------------------------------------------------------------------------------------------
# Eight schools (Rubin 1981; Gelman et al. BDA3 sec. 5.5):
#   y_j ~ N(theta_j, sigma_j), theta_j ~ N(mu, tau), mu ~ N(0, 5), tau ~ half-Cauchy(0, 5).
# q = [mu, log tau, v_1..v_J]; centred: v = theta; non-centred: theta = mu + tau v, v ~ N(0, 1).
cdef double eight_schools(void* ctx, const double* q, double* grad) noexcept nogil:
    cdef Data* D = <Data*> ctx
    cdef Py_ssize_t j, J = D.J
    cdef double mu = q[0], lt = q[1], tau = exp(q[1])
    cdef double lp, r, s2, v, gmu, gtau, u
    u = tau * tau / 25.0
    lp = -mu * mu / 50.0 - log1p(u) + lt
    gmu = -mu / 25.0
    gtau = -2.0 * u / (1.0 + u) + 1.0
    if D.flag == 0:  # non-centred
        for j in range(J):
            v = q[2 + j]
            s2 = D.s[j] * D.s[j]
            r = (D.y[j] - mu - tau * v) / s2
            lp += -0.5 * v * v - 0.5 * r * r * s2
            gmu += r
            gtau += tau * r * v
            grad[2 + j] = -v + tau * r
    else:  # centred
        lp -= J * lt
        gtau -= J
        for j in range(J):
            v = q[2 + j]
            s2 = D.s[j] * D.s[j]
            r = (v - mu) / (tau * tau)
            lp += -0.5 * r * (v - mu) - 0.5 * (D.y[j] - v) * (D.y[j] - v) / s2
            gmu += r
            gtau += r * (v - mu)
            grad[2 + j] = -r + (D.y[j] - v) / s2
    grad[0] = gmu
    grad[1] = gtau
    return lp


# ---------------------------------------------------------------------------------------------
# Hierarchical linear regression, varying intercepts (and slopes), non-centred (Gelman & Hill
# 2007, ch. 12-13, radon): y_i ~ N(a_g + b_g x_i, sigma_y), a_g = mu_a + sigma_a za_g,
# b_g = mu_b + sigma_b zb_g (or b_g = mu_b); mu ~ N(0, 10), sigmas ~ half-normal(0, 5).
# q = [mu_a, mu_b, log sigma_a, log sigma_y, (log sigma_b), za_1..J, (zb_1..J)].
# The likelihood only needs per-group sufficient statistics, centred for accuracy, so a gradient
# costs O(J) instead of O(n): D.x holds J rows of (n_g, ybar, xbar, Syy, Sxx, Sxy) with
# Syy = sum (y - ybar)^2 etc.; the residual sum of squares of group g is
# Syy - 2 b Sxy + b^2 Sxx + n_g (ybar - a - b xbar)^2.
cdef double hier_linear(void* ctx, const double* q, double* grad) noexcept nogil:
    cdef Data* D = <Data*> ctx
    cdef Py_ssize_t j, J = D.J
    cdef bint slopes = (D.flag & 1) != 0
    cdef bint centred = (D.flag & 2) != 0
    cdef Py_ssize_t oz = 5 if slopes else 4
    cdef Py_ssize_t ozb = oz + J
    cdef double mu_a = q[0], mu_b = q[1], sa = exp(q[2]), sy = exp(q[3])
    cdef double sb = exp(q[4]) if slopes else 0.0
    cdef double isy2 = 1.0 / (sy * sy)
    cdef double lp, a, b, m, ng, ss = 0.0, ga, gb
    cdef double ga_sum = 0.0, gb_sum = 0.0, gsa = 0.0, gsb = 0.0, gbeta = 0.0
    cdef const double* st
    lp = 0.0
    for j in range(J):
        st = D.x + 6 * j
        ng = st[0]
        if centred:   # q holds a_g (and b_g) themselves
            a = q[oz + j]
            b = q[ozb + j] if slopes else mu_b
        else:
            a = mu_a + sa * q[oz + j]
            b = mu_b + sb * q[ozb + j] if slopes else mu_b
        m = st[1] - a - b * st[2]
        ss += st[3] - 2.0 * b * st[5] + b * b * st[4] + ng * m * m
        ga = ng * m * isy2                            # d lp / d a_g
        gb = (st[5] - b * st[4] + ng * st[2] * m) * isy2   # d lp / d b_g
        if centred:
            # a_g ~ N(mu_a, sa^2): z = (a_g - mu_a) / sa enters the prior
            m = (a - mu_a) / sa
            grad[oz + j] = ga - m / sa
            ga_sum += m / sa
            gsa += m * m
            lp -= 0.5 * m * m + q[2]
            if slopes:
                m = (b - mu_b) / sb
                grad[ozb + j] = gb - m / sb
                gb_sum += m / sb
                gsb += m * m
                lp -= 0.5 * m * m + q[4]
            else:
                gbeta += gb
            continue
        ga_sum += ga
        gsa += ga * q[oz + j]
        grad[oz + j] = ga * sa - q[oz + j]
        lp -= 0.5 * q[oz + j] * q[oz + j]
        if slopes:
            gb_sum += gb
            gsb += gb * q[ozb + j]
            grad[ozb + j] = gb * sb - q[ozb + j]
            lp -= 0.5 * q[ozb + j] * q[ozb + j]
        else:
            gbeta += gb
    lp += -D.n * q[3] - 0.5 * ss * isy2
    # priors (+ log-Jacobians of the log-scales)
    lp += -(mu_a * mu_a + mu_b * mu_b) / 200.0
    lp += -0.5 * sa * sa / 25.0 + q[2] - 0.5 * sy * sy / 25.0 + q[3]
    grad[0] = ga_sum - mu_a / 100.0
    grad[1] = (gb_sum if slopes else gbeta) - mu_b / 100.0
    # non-centred: d/dlog s = s * sum_g (dlp/da_g) z_g; centred: sum_g (m_g^2 - 1)
    grad[2] = (gsa - J if centred else sa * gsa) - sa * sa / 25.0 + 1.0
    grad[3] = -D.n + ss * isy2 - sy * sy / 25.0 + 1.0
    if slopes:
        lp += -0.5 * sb * sb / 25.0 + q[4]
        grad[4] = (gsb - J if centred else sb * gsb) - sb * sb / 25.0 + 1.0
    return lp


# ---------------------------------------------------------------------------------------------
# Hierarchical GLM with group intercepts: eta_i = x_i' beta + sigma_a z_g + offset_i,
# binomial-logit (flag 0; s = trials) or Poisson-log (flag 1); beta ~ N(0, 5),
# sigma_a ~ half-normal(0, 2.5), z ~ N(0, 1). q = [beta_1..p, log sigma_a, z_1..J].
cdef double hier_glm(void* ctx, const double* q, double* grad) noexcept nogil:
    cdef Data* D = <Data*> ctx
    cdef Py_ssize_t i, j, k, n = D.n, p = D.p, J = D.J
    cdef Py_ssize_t oz = p + 1
    cdef double sa = exp(q[p]), eta, r, lp = 0.0, gsa = 0.0, m
    for k in range(p + 1 + J):
        grad[k] = 0.0
    for i in range(n):
        eta = D.off[i] + sa * q[oz + D.g[i]]
        for k in range(p):
            eta += D.x[i * p + k] * q[k]
        if D.flag == 0:
            lp += D.y[i] * eta - D.s[i] * log1pexp(eta)
            r = D.y[i] - D.s[i] * logistic(eta)
        else:
            m = exp(eta)
            lp += D.y[i] * eta - m
            r = D.y[i] - m
        for k in range(p):
            grad[k] += r * D.x[i * p + k]
        grad[oz + D.g[i]] += r
    for k in range(p):
        lp -= q[k] * q[k] / 50.0
        grad[k] -= q[k] / 25.0
    for j in range(J):
        gsa += grad[oz + j] * q[oz + j]
        grad[oz + j] = grad[oz + j] * sa - q[oz + j]
        lp -= 0.5 * q[oz + j] * q[oz + j]
    lp += -0.5 * sa * sa / 6.25 + q[p]
    grad[p] = sa * gsa - sa * sa / 6.25 + 1.0
    return lp


# ---------------------------------------------------------------------------------------------
# Structural errors-in-variables regression (Carroll et al. 2006, ch. 9):
# X_i ~ N(mu_x, sigma_x), W_i = X_i + U_i with U_i ~ N(0, s_i) known, y_i ~ N(alpha + beta X_i,
# sigma_y); alpha, beta, mu_x ~ N(0, 10), sigma_x, sigma_y ~ half-normal(0, 5).
# q = [alpha, beta, mu_x, log sigma_x, log sigma_y, X_1..n]; D.s holds the error variances.
cdef double eiv_structural(void* ctx, const double* q, double* grad) noexcept nogil:
    cdef Data* D = <Data*> ctx
    cdef Py_ssize_t i, n = D.n
    cdef double al = q[0], be = q[1], mx = q[2], sx = exp(q[3]), sy = exp(q[4])
    cdef double isx2 = 1.0 / (sx * sx), isy2 = 1.0 / (sy * sy)
    cdef double X, e, dx, du, ssx = 0.0, ssy = 0.0, lp = 0.0
    cdef double ga = 0.0, gb = 0.0, gm = 0.0
    for i in range(n):
        X = q[5 + i]
        e = D.y[i] - al - be * X
        dx = X - mx
        du = D.x[i] - X
        ssx += dx * dx
        ssy += e * e
        lp -= 0.5 * du * du / D.s[i]
        ga += e
        gb += e * X
        gm += dx
        grad[5 + i] = -dx * isx2 + du / D.s[i] + be * e * isy2
    lp += -n * q[3] - 0.5 * ssx * isx2 - n * q[4] - 0.5 * ssy * isy2
    lp += -(al * al + be * be + mx * mx) / 200.0
    lp += -0.5 * sx * sx / 25.0 + q[3] - 0.5 * sy * sy / 25.0 + q[4]
    grad[0] = ga * isy2 - al / 100.0
    grad[1] = gb * isy2 - be / 100.0
    grad[2] = gm * isx2 - mx / 100.0
    grad[3] = -n + ssx * isx2 - sx * sx / 25.0 + 1.0
    grad[4] = -n + ssy * isy2 - sy * sy / 25.0 + 1.0
    return lp


# The same model with every X_i integrated out (flag-free kind "eiv_marginal"):
# W_i ~ N(mu_x, a_i), a_i = sigma_x^2 + s_i, and y_i | W_i ~ N(alpha + beta m_i, beta^2 k_i + sigma_y^2)
# with lambda_i = sigma_x^2 / a_i, m_i = mu_x + lambda_i (W_i - mu_x), k_i = lambda_i s_i.
# Five parameters and no funnel between sigma_y and the latent X (which made the latent form mix
# badly when sigma_y is small); X_i is recovered from its exact conditional afterwards.
# q = [alpha, beta, mu_x, log sigma_x, log sigma_y].
cdef double eiv_marginal(void* ctx, const double* q, double* grad) noexcept nogil:
    cdef Data* D = <Data*> ctx
    cdef Py_ssize_t i, n = D.n
    cdef double al = q[0], be = q[1], mx = q[2], sx = exp(q[3]), sy = exp(q[4])
    cdef double Sx = sx * sx, Sy = sy * sy
    cdef double a, lam, m, k, s2, u, r, e, h, su2
    cdef double lp = 0.0, ga = 0.0, gb = 0.0, gm = 0.0, gSx = 0.0, gSy = 0.0
    for i in range(n):
        su2 = D.s[i]
        a = Sx + su2
        u = D.x[i] - mx
        lam = Sx / a
        m = mx + lam * u
        k = lam * su2
        s2 = be * be * k + Sy
        r = D.y[i] - al - be * m
        e = r / s2
        h = 0.5 * (e * e - 1.0 / s2)          # d lp / d s2
        lp += -0.5 * log(a) - 0.5 * u * u / a - 0.5 * log(s2) - 0.5 * r * e
        ga += e
        gb += e * m + h * 2.0 * be * k
        gm += u / a + e * be * (1.0 - lam)
        gSx += (-0.5 / a + 0.5 * u * u / (a * a) + e * be * u * su2 / (a * a)
                + h * be * be * su2 * su2 / (a * a))
        gSy += h
    lp += -(al * al + be * be + mx * mx) / 200.0
    lp += -0.5 * Sx / 25.0 + q[3] - 0.5 * Sy / 25.0 + q[4]
    grad[0] = ga - al / 100.0
    grad[1] = gb - be / 100.0
    grad[2] = gm - mx / 100.0
    grad[3] = 2.0 * Sx * gSx - Sx / 25.0 + 1.0
    grad[4] = 2.0 * Sy * gSy - Sy / 25.0 + 1.0
    return lp


# ---------------------------------------------------------------------------------------------
cdef class CompiledModel:
    """A built-in density: ``kind`` names the C function, the arrays are the (validated) data.

    Keeps its own contiguous copies of the data alive for as long as the C pointers are used;
    picklable (for parallel chains).
    """
    cdef ModelHandle handle
    cdef Data data
    cdef object _keep
    cdef readonly object args
    cdef readonly str kind

    def __init__(self, str kind, Py_ssize_t dim, y, x, s, off, g, Py_ssize_t J, Py_ssize_t p,
                 int flag):
        self.args = (kind, dim, y, x, s, off, g, J, p, flag)
        self.kind = kind
        fns = {"eight_schools": 0, "hier_linear": 1, "hier_glm": 2, "eiv_structural": 3,
               "eiv_marginal": 4}
        if kind not in fns:
            raise ValueError(f"unknown model kind {kind!r}")
        cdef const double[::1] yv = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        cdef const double[::1] xv = np.ascontiguousarray(x, dtype=np.float64).reshape(-1)
        cdef const double[::1] sv = np.ascontiguousarray(s, dtype=np.float64).reshape(-1)
        cdef const double[::1] ov = np.ascontiguousarray(off, dtype=np.float64).reshape(-1)
        cdef const long long[::1] gv = np.ascontiguousarray(g, dtype=np.int64).reshape(-1)
        if yv.shape[0] < 1 or xv.shape[0] < 1 or sv.shape[0] < 1 or ov.shape[0] < 1 or gv.shape[0] < 1:
            raise ValueError("every data array needs at least one element (pass a dummy)")
        self._keep = (yv, xv, sv, ov, gv)
        self.data.n = yv.shape[0]
        self.data.J = J
        self.data.p = p
        self.data.flag = flag
        self.data.y = &yv[0]
        self.data.x = &xv[0]
        self.data.s = &sv[0]
        self.data.off = &ov[0]
        self.data.g = &gv[0]
        k = fns[kind]
        if k == 0:
            self.handle.fn = eight_schools
        elif k == 1:
            self.handle.fn = hier_linear
        elif k == 2:
            self.handle.fn = hier_glm
        elif k == 3:
            self.handle.fn = eiv_structural
        else:
            self.handle.fn = eiv_marginal
        self.handle.ctx = <void*> &self.data
        self.handle.dim = dim
        self.handle.status = 0

    @property
    def dim(self):
        return self.handle.dim

    def capsule(self):
        return PyCapsule_New(&self.handle, MODEL_CAPSULE, NULL)

    def logp_grad(self, const double[::1] q):
        """Log density and gradient at ``q`` (length ``dim``; checked)."""
        if q.shape[0] != self.handle.dim:
            raise ValueError(f"q must have length {self.handle.dim}, got {q.shape[0]}")
        g = np.zeros(self.handle.dim)
        cdef double[::1] gv = g
        lp = self.handle.fn(self.handle.ctx, &q[0], &gv[0])
        return lp, g

    def __reduce__(self):
        return (CompiledModel, self.args)
