# One general compiled mixed-model log density with its analytic gradient, behind the C model
# interface of _sampling_model.pxd (so the NUTS kernel runs whole trajectories without Python):
#
#   eta_i = offset_i + x_i' beta + sum_k Z_k[i, :] b_k[g_k(i)]
#   b_k[j] = diag(sd_k) L_k z_k[j],  z_k[j] ~ N(0, I)          (non-centred)
#   L_k    = Cholesky factor of the correlation matrix Omega_k ~ LKJ(eta)
#   y_i | eta_i ~ family: gaussian / Student-t / gaussian with group-specific sd /
#                 binomial(trials, logit^-1 eta) / Poisson(exp eta)
# and an optional latent covariate: column `latent_col` of X is not observed; W_i = x_i + U_i,
# U_i ~ N(0, su_i^2) known, x_i ~ N(mu_x, sigma_x^2), sampled as x_i = W_i + su_i u_i.
#
# Unconstrained coordinates (offsets computed by deconv/sampling/mixed_model.py):
#   [beta (p)] then per term k [log sd_k (q_k), CPC_k (q_k(q_k-1)/2, if correlated), z_k (J_k q_k)]
#   then the family block (gaussian: log sigma; student: log sigma [, log nu];
#   group sd: log sigma_0, log tau_s, w (H)) then the latent block [mu_x, log sigma_x, u (n)].
# Correlations: the canonical partial correlations are tanh(y) (Lewandowski, Kurowicka & Joe
# 2009), mapped to L row by row as Stan's cholesky_corr_constrain does; with
# c_ij = prod_{m<j} (1 - w_im^2) we have L_ij = w_ij sqrt(c_ij), L_ii = sqrt(c_ii), and the LKJ
# density plus every log-Jacobian collapses to sum_{i,m} (1 + (i-1-m)/2 + a_i/2) log(1 - w_im^2)
# with a_i = K - i - 1 + 2 (eta - 1): cheap, with a closed-form gradient.
#
# The Python layer validates everything (shapes, finiteness, index ranges); this file trusts it.
# Scratch memory is malloc'ed per call so that the context is never written to.

from cpython.pycapsule cimport PyCapsule_New
from libc.math cimport exp, log, log1p, lgamma, sqrt, tanh, M_PI
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from _sampling_model cimport ModelHandle

import numpy as np

cdef const char* MODEL_CAPSULE = b"deconv.sampling.ModelHandle"

# term metadata columns (int64, one row per term)
DEF T_Q = 0        # coefficients per level
DEF T_J = 1        # levels
DEF T_ZCOL = 2     # first column of the term in the stacked Z (n x Qtot)
DEF T_SD = 3       # offset of log sd in q
DEF T_CPC = 4      # offset of the CPCs in q (-1: uncorrelated)
DEF T_Z = 5        # offset of z in q
DEF T_SCR = 6      # offset of the term's scratch
DEF T_CENT = 7     # 1: centred (q holds b itself, b_j ~ N(0, Sigma)); 0: non-centred (q holds z)
DEF T_NCOL = 8

# prior vector
DEF P_BETA_SD = 0
DEF P_SD_SCALE = 1
DEF P_SD_DF = 2        # 0: half-normal, else half-t with this many df
DEF P_LKJ = 3
DEF P_SIGMA_SCALE = 4  # half-normal scale of sigma (and sigma_0)
DEF P_NU_SHAPE = 5
DEF P_NU_RATE = 6
DEF P_NU_FIXED = 7     # 0: sampled
DEF P_TAU_S = 8        # half-normal scale of the spread of log group sds
DEF P_MU_X_SD = 9
DEF P_SIGMA_X = 10
DEF P_INTERCEPT_SD = 11
DEF P_MU_X_MEAN = 12
DEF P_NPRI = 13

DEF F_GAUSS = 0
DEF F_STUDENT = 1
DEF F_GROUPSD = 2
DEF F_BINOM = 3
DEF F_POIS = 4


cdef struct Mixed:
    Py_ssize_t n, p, K, Qtot, H
    int family
    Py_ssize_t fam_off      # offset of the family block in q
    Py_ssize_t lat_off      # offset of the latent block (-1: none)
    int lat_marg            # 1: latent covariate integrated out (Gaussian families)
    Py_ssize_t latent_col   # column of X that is latent (-1: none)
    Py_ssize_t icpt_col     # column of X that is the intercept (-1: none)
    Py_ssize_t dim
    Py_ssize_t scratch      # doubles of scratch per call
    const double* y
    const double* X         # n x p row-major
    const double* Z         # n x Qtot row-major
    const long long* codes  # n x K row-major
    const long long* terms  # K x T_NCOL
    const long long* fmap   # per random coefficient (Qtot): fixed-effect column it is centred
                            # on (centred terms: q holds beta_f + b), or -1
    const double* off
    const double* trials
    const long long* hg     # residual-sd group per observation (family group sd)
    const double* W         # observed latent covariate
    const double* su        # its known error sd
    const double* pri


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


cdef double digamma(double x) noexcept nogil:
    # recurrence up to x >= 6, then the asymptotic series (error < 1e-12 there); x > 0 here
    cdef double r = 0.0, f
    while x < 6.0:
        r -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    return r + log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (
        1.0 / 240 - f * (1.0 / 132)))))


cdef inline double scale_prior(double ls, double A, double df, double* g) noexcept nogil:
    # half-normal(0, A) (df == 0) or half-t(df, 0, A) on s = exp(ls), with the log-Jacobian ls;
    # returns the log density and writes d/d ls to g[0]
    cdef double s = exp(ls), u = (s / A) * (s / A)
    if df <= 0.0:
        g[0] = -u + 1.0
        return -0.5 * u + ls
    g[0] = -(df + 1.0) * (u / df) / (1.0 + u / df) + 1.0
    return -0.5 * (df + 1.0) * log1p(u / df) + ls


cdef void centred_prior(const double* q, double* grad, const double* L, double* Mm,
                        const double* sd, double* B, Py_ssize_t qk, Py_ssize_t Jk,
                        Py_ssize_t osd, Py_ssize_t oz, const long long* fm,
                        double* lp) noexcept nogil:
    # centred term: b_j = q[oz + j qk ..] ~ N(0, Sigma), Sigma = D L L' D, D = diag(sd).
    # With v = b / sd and z = L^{-1} v, a = L^{-T} z:  log p = -z'z/2 - J sum log(sd_c L_cc),
    # d/db = -a / sd, d/dlog sd_c = a_c v_c - J, d/dL_rc = a_r z_c - J [r = c] / L_cc.
    cdef Py_ssize_t j, c, r
    cdef double acc
    cdef double* z = B + Jk * qk * 2      # two spare rows of qk doubles after GB (scratch)
    cdef double* a = z + qk
    # hierarchical centring (Gelfand, Sahu & Carlin 1995): a coefficient with a matching fixed
    # effect beta_f is sampled as beta_f + b_j, so beta_f is the mean of the level values and
    # is no longer confounded with them through the likelihood
    for j in range(Jk):
        for c in range(qk):
            B[j * qk + c] = q[oz + j * qk + c] - (q[fm[c]] if fm[c] >= 0 else 0.0)
        for c in range(qk):
            acc = B[j * qk + c] / sd[c]
            for r in range(c):
                acc -= L[c * qk + r] * z[r]
            z[c] = acc / L[c * qk + c]
            lp[0] -= 0.5 * z[c] * z[c]
        for c in range(qk - 1, -1, -1):
            acc = z[c]
            for r in range(c + 1, qk):
                acc -= L[r * qk + c] * a[r]
            a[c] = acc / L[c * qk + c]
        for c in range(qk):
            grad[oz + j * qk + c] = -a[c] / sd[c]
            if fm[c] >= 0:
                grad[fm[c]] += a[c] / sd[c]
            grad[osd + c] += a[c] * B[j * qk + c] / sd[c]
            for r in range(c, qk):
                Mm[r * qk + c] += a[r] * z[c]
    for c in range(qk):
        lp[0] -= Jk * (log(sd[c]) + log(L[c * qk + c]))
        grad[osd + c] -= Jk
        Mm[c * qk + c] -= Jk / L[c * qk + c]


cdef double mixed_logp(void* ctx, const double* q, double* grad) noexcept nogil:
    cdef Mixed* M = <Mixed*> ctx
    cdef const double* pri = M.pri
    cdef Py_ssize_t n = M.n, p = M.p, K = M.K, Qt = M.Qtot
    cdef Py_ssize_t i, j, k, c, r, m, qk, Jk, zc, osd, ocpc, oz, t, fo = M.fam_off
    cdef Py_ssize_t lc = M.latent_col, lo = M.lat_off
    cdef const long long* T
    cdef double* work
    cdef double* L
    cdef double* B
    cdef double* GB
    cdef double* Mm
    cdef double* sd
    cdef double* hacc = NULL
    cdef double* lsg = NULL
    cdef double lp = 0.0, eta, G, res, v, w, cc, acc, gtmp = 0.0, bsd, a_i
    cdef double sigma = 1.0, isig2 = 1.0, nu = 1.0, ss = 0.0, dls = 0.0, dnu = 0.0
    cdef double mux = 0.0, sx = 1.0, isx2 = 1.0, xi = 0.0, ssx = 0.0, gmux = 0.0
    cdef double tau_s = 0.0, s2, tq, Sx = 1.0, gSx = 0.0, aa, lam, mm, kk, hh, su2, sig2
    cdef bint marg = M.lat_marg != 0
    cdef int fam = M.family

    work = <double*> malloc((M.scratch + 2 * M.H + 1) * sizeof(double))
    if work == NULL:
        return -1.0 / 0.0
    memset(work, 0, (M.scratch + 2 * M.H + 1) * sizeof(double))
    memset(grad, 0, M.dim * sizeof(double))

    # ---- fixed effects: N(0, beta_sd^2), the intercept N(0, intercept_sd^2)
    for c in range(p):
        bsd = pri[P_INTERCEPT_SD] if c == M.icpt_col else pri[P_BETA_SD]
        lp -= 0.5 * q[c] * q[c] / (bsd * bsd)
        grad[c] = -q[c] / (bsd * bsd)

    # ---- random-effect terms: sds, correlation factor, b = diag(sd) L z
    for k in range(K):
        T = M.terms + k * T_NCOL
        qk, Jk, osd, ocpc, oz = T[T_Q], T[T_J], T[T_SD], T[T_CPC], T[T_Z]
        L = work + T[T_SCR]
        Mm = L + qk * qk
        sd = Mm + qk * qk
        B = sd + qk
        GB = B + Jk * qk
        for c in range(qk):
            lp += scale_prior(q[osd + c], pri[P_SD_SCALE], pri[P_SD_DF], &gtmp)
            grad[osd + c] = gtmp
            sd[c] = exp(q[osd + c])
            L[c * qk + c] = 1.0
        if ocpc >= 0:
            t = ocpc
            for r in range(1, qk):
                cc = 1.0
                a_i = qk - r - 1 + 2.0 * (pri[P_LKJ] - 1.0)
                for m in range(r):
                    w = tanh(q[t])
                    L[r * qk + m] = w * sqrt(cc)
                    v = 1.0 + 0.5 * (r - 1 - m) + 0.5 * a_i
                    lp += v * log1p(-w * w)
                    grad[t] = -2.0 * v * w
                    cc *= 1.0 - w * w
                    t += 1
                L[r * qk + r] = sqrt(cc)
        if T[T_CENT]:
            centred_prior(q, grad, L, Mm, sd, B, qk, Jk, osd, oz, M.fmap + T[T_ZCOL], &lp)
            continue
        for j in range(Jk):
            for c in range(qk):
                acc = 0.0
                for m in range(c + 1):
                    acc += L[c * qk + m] * q[oz + j * qk + m]
                B[j * qk + c] = sd[c] * acc
                lp -= 0.5 * q[oz + j * qk + c] * q[oz + j * qk + c]

    # ---- family parameters
    if fam == F_GAUSS or fam == F_STUDENT:
        sigma = exp(q[fo])
        isig2 = 1.0 / (sigma * sigma)
        lp += scale_prior(q[fo], pri[P_SIGMA_SCALE], 0.0, &gtmp)
        grad[fo] = gtmp
        if fam == F_STUDENT:
            nu = pri[P_NU_FIXED]
            if nu <= 0.0:
                nu = exp(q[fo + 1])
    elif fam == F_GROUPSD:
        hacc = work + M.scratch
        lsg = hacc + M.H
        tau_s = exp(q[fo + 1])
        lp += scale_prior(q[fo], pri[P_SIGMA_SCALE], 0.0, &gtmp)
        grad[fo] = gtmp
        lp += scale_prior(q[fo + 1], pri[P_TAU_S], 0.0, &gtmp)
        grad[fo + 1] = gtmp
        for j in range(M.H):
            lsg[j] = q[fo] + tau_s * q[fo + 2 + j]
            lp -= 0.5 * q[fo + 2 + j] * q[fo + 2 + j]
    if lo >= 0:
        mux = q[lo]
        sx = exp(q[lo + 1])
        Sx = sx * sx
        isx2 = 1.0 / Sx
        v = mux - pri[P_MU_X_MEAN]
        lp -= 0.5 * v * v / (pri[P_MU_X_SD] * pri[P_MU_X_SD])
        grad[lo] = -v / (pri[P_MU_X_SD] * pri[P_MU_X_SD])
        lp += scale_prior(q[lo + 1], pri[P_SIGMA_X], 0.0, &gtmp)
        grad[lo + 1] = gtmp

    # ---- one pass over the observations: linear predictor, likelihood, dlp/deta
    for i in range(n):
        eta = M.off[i]
        for c in range(p):
            eta += M.X[i * p + c] * q[c]
        if lc >= 0 and not marg:
            xi = M.W[i] + M.su[i] * q[lo + 2 + i]
            eta += (xi - M.X[i * p + lc]) * q[lc]
        elif marg:
            eta -= M.X[i * p + lc] * q[lc]
        for k in range(K):
            T = M.terms + k * T_NCOL
            qk, zc = T[T_Q], T[T_ZCOL]
            B = work + T[T_SCR] + 2 * qk * qk + qk
            j = M.codes[i * K + k]
            for c in range(qk):
                eta += M.Z[i * Qt + zc + c] * B[j * qk + c]
        if marg:
            # latent x_i integrated out: W_i ~ N(mu_x, a_i), a_i = sx^2 + su_i^2, and
            # y_i | W_i ~ N(eta0_i + gamma m_i, gamma^2 k_i + sigma_i^2) with lam = sx^2 / a_i,
            # m_i = mu_x + lam (W_i - mu_x), k_i = lam su_i^2 (conjugate normal update)
            if fam == F_GAUSS:
                sig2 = sigma * sigma
            else:
                j = M.hg[i]
                sig2 = exp(2.0 * lsg[j])
            su2 = M.su[i] * M.su[i]
            v = M.W[i] - mux
            aa = Sx + su2
            lam = Sx / aa
            mm = mux + lam * v
            kk = lam * su2
            s2 = q[lc] * q[lc] * kk + sig2
            res = M.y[i] - eta - q[lc] * mm
            G = res / s2
            hh = 0.5 * (G * G - 1.0 / s2)
            lp += -0.5 * log(aa) - 0.5 * v * v / aa - 0.5 * log(s2) - 0.5 * res * G
            grad[lc] += G * mm + hh * 2.0 * q[lc] * kk
            gmux += v / aa + G * q[lc] * (1.0 - lam)
            gSx += (-0.5 / aa + 0.5 * v * v / (aa * aa) + G * q[lc] * v * su2 / (aa * aa)
                    + hh * q[lc] * q[lc] * su2 * su2 / (aa * aa))
            if fam == F_GAUSS:
                dls += 2.0 * sig2 * hh
            else:
                hacc[j] += 2.0 * sig2 * hh
        elif fam == F_GAUSS:
            res = M.y[i] - eta
            ss += res * res
            G = res * isig2
        elif fam == F_STUDENT:
            res = M.y[i] - eta
            s2 = sigma * sigma
            tq = res * res / (nu * s2)
            lp -= 0.5 * (nu + 1.0) * log1p(tq)
            G = (nu + 1.0) * res / (nu * s2 + res * res)
            dls += -1.0 + (nu + 1.0) * res * res / (nu * s2 + res * res)
            dnu += -0.5 * log1p(tq) + 0.5 * (nu + 1.0) * res * res / (nu * (nu * s2 + res * res))
        elif fam == F_GROUPSD:
            res = M.y[i] - eta
            j = M.hg[i]
            v = exp(-2.0 * lsg[j])
            lp -= lsg[j] + 0.5 * res * res * v
            G = res * v
            hacc[j] += res * res * v - 1.0
        elif fam == F_BINOM:
            lp += M.y[i] * eta - M.trials[i] * log1pexp(eta)
            G = M.y[i] - M.trials[i] * logistic(eta)
        else:
            v = exp(eta)
            lp += M.y[i] * eta - v
            G = M.y[i] - v
        for c in range(p):
            if c != lc or not marg:
                grad[c] += G * M.X[i * p + c]
        if lc >= 0 and not marg:
            grad[lc] += G * (xi - M.X[i * p + lc])
            # x_i = W_i + su_i u_i: structural prior, measurement N(0, 1) on u, likelihood
            v = xi - mux
            ssx += v * v
            gmux += v
            grad[lo + 2 + i] = M.su[i] * (G * q[lc] - v * isx2) - q[lo + 2 + i]
            lp -= 0.5 * q[lo + 2 + i] * q[lo + 2 + i]
        for k in range(K):
            T = M.terms + k * T_NCOL
            qk, zc = T[T_Q], T[T_ZCOL]
            GB = work + T[T_SCR] + 2 * qk * qk + qk + T[T_J] * qk
            j = M.codes[i * K + k]
            for c in range(qk):
                GB[j * qk + c] += G * M.Z[i * Qt + zc + c]

    # ---- family parameters: the sums
    if fam == F_GAUSS and marg:
        grad[fo] += dls
    elif fam == F_GAUSS:
        lp += -n * q[fo] - 0.5 * ss * isig2
        grad[fo] += -n + ss * isig2
    elif fam == F_STUDENT:
        lp += n * (lgamma(0.5 * (nu + 1.0)) - lgamma(0.5 * nu) - 0.5 * log(nu * M_PI)) - n * q[fo]
        grad[fo] += dls
        if pri[P_NU_FIXED] <= 0.0:
            dnu += n * (0.5 * digamma(0.5 * (nu + 1.0)) - 0.5 * digamma(0.5 * nu) - 0.5 / nu)
            # Gamma(shape, rate) prior on nu and the log-Jacobian of nu = exp(q)
            lp += pri[P_NU_SHAPE] * q[fo + 1] - pri[P_NU_RATE] * nu
            grad[fo + 1] = nu * (dnu - pri[P_NU_RATE]) + pri[P_NU_SHAPE]
    elif fam == F_GROUPSD:
        for j in range(M.H):
            grad[fo] += hacc[j]
            grad[fo + 1] += tau_s * hacc[j] * q[fo + 2 + j]
            grad[fo + 2 + j] = tau_s * hacc[j] - q[fo + 2 + j]
    if lo >= 0 and marg:
        grad[lo] += gmux
        grad[lo + 1] += 2.0 * Sx * gSx
    elif lo >= 0:
        lp += -n * q[lo + 1] - 0.5 * ssx * isx2
        grad[lo] += gmux * isx2
        grad[lo + 1] += -n + ssx * isx2

    # ---- back through b = diag(sd) L z to sd, z and the CPCs
    for k in range(K):
        T = M.terms + k * T_NCOL
        qk, Jk, osd, ocpc, oz = T[T_Q], T[T_J], T[T_SD], T[T_CPC], T[T_Z]
        L = work + T[T_SCR]
        Mm = L + qk * qk
        sd = Mm + qk * qk
        B = sd + qk
        GB = B + Jk * qk
        if T[T_CENT]:
            # likelihood gradient straight onto b (and, through b = q - beta_f, off beta_f);
            # the prior's parts are already in place
            for j in range(Jk):
                for c in range(qk):
                    grad[oz + j * qk + c] += GB[j * qk + c]
                    t = M.fmap[T[T_ZCOL] + c]
                    if t >= 0:
                        grad[t] -= GB[j * qk + c]
        for j in range(Jk if not T[T_CENT] else 0):
            for c in range(qk):
                # d/d log sd_c: G_c * b_c (b_c = sd_c (L z)_c)
                grad[osd + c] += GB[j * qk + c] * B[j * qk + c]
                GB[j * qk + c] *= sd[c]                     # now d lp / d (L z)_c
            for c in range(qk):
                acc = 0.0
                for r in range(c, qk):
                    acc += L[r * qk + c] * GB[j * qk + r]
                    Mm[r * qk + c] += GB[j * qk + r] * q[oz + j * qk + c]
                grad[oz + j * qk + c] = acc - q[oz + j * qk + c]
        if ocpc >= 0:
            t = ocpc
            for r in range(1, qk):
                cc = 1.0
                for m in range(r):
                    w = tanh(q[t])
                    acc = 0.0
                    for c in range(m + 1, r + 1):
                        acc += Mm[r * qk + c] * L[r * qk + c]
                    grad[t] += Mm[r * qk + m] * sqrt(cc) * (1.0 - w * w) - w * acc
                    cc *= 1.0 - w * w
                    t += 1
    free(work)
    return lp


cdef class MixedKernel:
    """The compiled mixed-model density over validated data (see deconv.sampling.mixed_model).

    Keeps contiguous copies of every array alive while the C pointers use them; picklable.
    """
    cdef ModelHandle handle
    cdef Mixed data
    cdef object _keep
    cdef readonly object args

    def __init__(self, Py_ssize_t dim, y, X, Z, codes, terms, off, trials, hg, Py_ssize_t H,
                 int family, Py_ssize_t fam_off, Py_ssize_t lat_off, Py_ssize_t latent_col,
                 Py_ssize_t icpt_col, W, su, priors, Py_ssize_t scratch, int lat_marg, fmap):
        self.args = (dim, y, X, Z, codes, terms, off, trials, hg, H, family, fam_off, lat_off,
                     latent_col, icpt_col, W, su, priors, scratch, lat_marg, fmap)
        cdef const double[::1] yv = np.ascontiguousarray(y, dtype=np.float64).reshape(-1)
        cdef const double[::1] Xv = np.ascontiguousarray(X, dtype=np.float64).reshape(-1)
        cdef const double[::1] Zv = np.ascontiguousarray(Z, dtype=np.float64).reshape(-1)
        cdef const long long[::1] cv = np.ascontiguousarray(codes, dtype=np.int64).reshape(-1)
        cdef const long long[::1] tv = np.ascontiguousarray(terms, dtype=np.int64).reshape(-1)
        cdef const double[::1] ov = np.ascontiguousarray(off, dtype=np.float64).reshape(-1)
        cdef const double[::1] nv = np.ascontiguousarray(trials, dtype=np.float64).reshape(-1)
        cdef const long long[::1] hv = np.ascontiguousarray(hg, dtype=np.int64).reshape(-1)
        cdef const double[::1] Wv = np.ascontiguousarray(W, dtype=np.float64).reshape(-1)
        cdef const double[::1] sv = np.ascontiguousarray(su, dtype=np.float64).reshape(-1)
        cdef const double[::1] pv = np.ascontiguousarray(priors, dtype=np.float64).reshape(-1)
        cdef const long long[::1] fv = np.ascontiguousarray(fmap, dtype=np.int64).reshape(-1)
        n = yv.shape[0]
        p = Xv.shape[0] // n if n else 0
        K = tv.shape[0] // T_NCOL
        if n < 1 or Xv.shape[0] != n * p or pv.shape[0] != P_NPRI or ov.shape[0] != n:
            raise ValueError("inconsistent mixed-model data")
        if Zv.shape[0] < 1 or cv.shape[0] < 1 or tv.shape[0] < 1 or nv.shape[0] < 1 \
                or hv.shape[0] < 1 or Wv.shape[0] < 1 or sv.shape[0] < 1 or Xv.shape[0] < 1:
            raise ValueError("every data array needs at least one element (pass a dummy)")
        if fv.shape[0] < 1:
            raise ValueError("every data array needs at least one element (pass a dummy)")
        self._keep = (yv, Xv, Zv, cv, tv, ov, nv, hv, Wv, sv, pv, fv)
        self.data.n = n
        self.data.p = p
        self.data.K = K
        self.data.Qtot = Zv.shape[0] // n if K else 0
        self.data.H = H
        self.data.family = family
        self.data.fam_off = fam_off
        self.data.lat_off = lat_off
        self.data.lat_marg = lat_marg
        self.data.latent_col = latent_col
        self.data.icpt_col = icpt_col
        self.data.dim = dim
        self.data.scratch = scratch
        self.data.y = &yv[0]
        self.data.X = &Xv[0]
        self.data.Z = &Zv[0]
        self.data.codes = &cv[0]
        self.data.terms = &tv[0]
        self.data.fmap = &fv[0]
        self.data.off = &ov[0]
        self.data.trials = &nv[0]
        self.data.hg = &hv[0]
        self.data.W = &Wv[0]
        self.data.su = &sv[0]
        self.data.pri = &pv[0]
        self.handle.fn = mixed_logp
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
        return (MixedKernel, self.args)
