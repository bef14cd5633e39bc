"""Generalised linear mixed models (binomial/logistic, Poisson with offset) by Laplace.

Model
-----
.. math::

    \\eta = \\text{offset} + X\\beta + Z\\Lambda_\\theta u,\\quad u \\sim N(0, I),\\quad
    y_i \\mid u \\sim \\text{Binomial}(n_i, \\text{logit}^{-1}\\eta_i)\\ \\text{or}\\
    \\text{Poisson}(e^{\\eta_i}).

The Laplace approximation (lme4's ``glmer``, ``nAGQ = 1``) to the marginal log-likelihood is

.. math::

    \\ell(\\theta, \\beta) \\approx \\sum_i \\log p(y_i \\mid u^*) - \\tfrac12 \\|u^*\\|^2
    - \\tfrac12 \\log |L|^2,\\qquad L L^T = \\Lambda^T Z^T W Z \\Lambda + I,

with ``u*`` the conditional mode found by penalised iteratively reweighted least squares
(Newton's method, block diagonal over the levels of the grouping factor) and ``W`` the GLM
weights at ``u*``. ``(theta, beta)`` are optimised jointly (L-BFGS-B), as lme4 does in its
second stage; standard errors come from the inverse of a finite-difference Hessian of the
deviance in ``(theta, beta)``, again as lme4 does for GLMMs.

Scope: random-effect terms on one grouping factor (random intercepts and slopes,
correlated or not). Several grouping factors raise NotImplementedError.

References
----------
Bates, Maechler, Bolker & Walker (2015), J. Stat. Softw. 67(1), section 5 (glmer).
"""
import numpy as np
from scipy import optimize, special, stats

from deconv._validation import check_level
from deconv.hierarchical._lmmcore import _tril_colmajor
from deconv.hierarchical.design import design_from_arrays, design_from_formula
from deconv.hierarchical.graph import lmm_graph
from deconv.hierarchical.mixed import _num_grad, _num_hess, _psi_names
from deconv.hierarchical.results import EffectTable, HierarchicalResult

__all__ = ["glmm"]


class _LaplaceGLMM:
    def __init__(self, design, family):
        self.d = design
        self.family = family
        terms = design.terms
        if len({t.factor for t in terms}) != 1:
            raise NotImplementedError(
                "glmm (Laplace) supports random-effect terms on one grouping factor; several "
                "grouping factors (nested/crossed) need the sparse GLMM path or the sampler "
                "(deconv.sampling), neither available yet")
        self.codes = terms[0].codes
        self.G = terms[0].n_levels
        self.W = np.hstack([t.Xr for t in terms])
        self.K = self.W.shape[1]
        self.tri = [_tril_colmajor(t.k) for t in terms]
        self.koff = np.concatenate([[0], np.cumsum([t.k for t in terms])]).astype(int)
        self.toff = np.concatenate([[0], np.cumsum([t.n_theta for t in terms])]).astype(int)
        self.n_theta = int(self.toff[-1])
        self.lower_theta = np.concatenate([np.where(r == c, 0.0, -np.inf) for r, c in self.tri])
        if family == "binomial":
            self.succ = design.y[:, 0]
            self.ntr = design.y[:, 0] + design.y[:, 1]
            self.const = np.sum(special.gammaln(self.ntr + 1) - special.gammaln(self.succ + 1)
                                - special.gammaln(self.ntr - self.succ + 1))
        else:
            self.succ = design.y
            self.const = -np.sum(special.gammaln(design.y + 1))
        self.u = np.zeros((self.G, self.K))

    def Tb(self, theta):
        T = np.zeros((self.K, self.K))
        for (r, c), a, b, o in zip(self.tri, self.koff[:-1], self.koff[1:], self.toff):
            blk = np.zeros((b - a, b - a))
            blk[r, c] = theta[o:o + len(r)]
            T[a:b, a:b] = blk
        return T

    def _mean_weight(self, eta):
        if self.family == "binomial":
            mu = special.expit(eta)
            return self.ntr * mu, self.ntr * mu * (1 - mu)
        m = np.exp(eta)
        return m, m

    def _loglik_obs(self, eta):
        if self.family == "binomial":
            return self.const + np.sum(self.succ * eta - self.ntr * np.logaddexp(0.0, eta))
        return self.const + np.sum(self.succ * eta - np.exp(eta))

    def laplace(self, theta, beta, return_all=False):
        """-2 x Laplace log-likelihood at (theta, beta); PIRLS warm-started."""
        T = self.Tb(theta)
        ZT = self.W @ T                                   # (n, K): rows of Z Lambda within group
        eta0 = self.d.offset + self.d.X @ beta
        u = self.u.copy()
        G, K, codes = self.G, self.K, self.codes

        def objective(u):
            eta = eta0 + np.einsum("nk,nk->n", ZT, u[codes])
            return -self._loglik_obs(eta) + 0.5 * np.sum(u * u), eta

        f, eta = objective(u)
        for _ in range(100):
            mean, w = self._mean_weight(eta)
            r = self.succ - mean
            grad = np.zeros((G, K))
            H = np.zeros((G, K, K))
            for a in range(K):
                grad[:, a] = np.bincount(codes, ZT[:, a] * r, minlength=G)
                for b in range(a, K):
                    v = np.bincount(codes, ZT[:, a] * ZT[:, b] * w, minlength=G)
                    H[:, a, b] = v
                    H[:, b, a] = v
            grad = u - grad
            H[:, np.arange(K), np.arange(K)] += 1.0
            step = np.linalg.solve(H, grad[..., None])[..., 0]
            t = 1.0
            while True:
                u_new = u - t * step
                f_new, eta_new = objective(u_new)
                if f_new <= f + 1e-12 * abs(f) or t < 1e-8:
                    break
                t *= 0.5
            converged = abs(f - f_new) < 1e-12 * (1 + abs(f)) and np.max(np.abs(t * step)) < 1e-9
            u, f, eta = u_new, f_new, eta_new
            if converged:
                break
        mean, w = self._mean_weight(eta)
        H = np.zeros((G, K, K))
        for a in range(K):
            for b in range(a, K):
                v = np.bincount(codes, ZT[:, a] * ZT[:, b] * w, minlength=G)
                H[:, a, b] = v
                H[:, b, a] = v
        H[:, np.arange(K), np.arange(K)] += 1.0
        _, logdet = np.linalg.slogdet(H)
        self.u = u
        dev = 2 * f + np.sum(logdet)      # -2 * Laplace log-likelihood
        if return_all:
            return dev, u, H, T
        return dev


def _glm_start(X, offset, succ, ntr, family):
    beta = np.zeros(X.shape[1])
    for _ in range(50):
        eta = offset + X @ beta
        if family == "binomial":
            mu = special.expit(eta)
            mean, w = ntr * mu, ntr * mu * (1 - mu)
        else:
            mean = w = np.exp(eta)
        step = np.linalg.solve(X.T @ (X * w[:, None]) + 1e-10 * np.eye(X.shape[1]), X.T @ (succ - mean))
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    return beta


def glmm(formula=None, data=None, *, y=None, X=None, groups=None, Z=None, family="binomial",
         offset=None, correlated=True, level=0.95, method_reason=None):
    """Fit a binomial (logit) or Poisson (log) GLMM by the Laplace approximation.

    Parameters
    ----------
    formula : str, optional
        e.g. ``"cbind(incidence, size - incidence) ~ period + (1 | herd)"`` (binomial) or
        ``"incidence ~ period + offset(log(size)) + (1 | herd)"`` (Poisson).
    data : DataFrame or mapping
    y, X, groups, Z, offset, correlated :
        Array input; binomial ``y`` is ``(n, 2)`` (successes, failures).
    family : {"binomial", "poisson"}
    level : float

    Returns
    -------
    HierarchicalResult
        With attributes ``theta``, ``beta``, ``vcov``, ``random_effects``.

    Examples
    --------
    >>> from deconv.datasets.hierarchical import load_cbpp
    >>> from deconv.hierarchical import glmm
    >>> res = glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", load_cbpp())
    >>> round(float(res.fixed_effects["(Intercept)"]["estimate"]), 3)
    -1.399
    """
    level = check_level(level)
    family = str(family).lower()
    if family not in ("binomial", "poisson"):
        raise ValueError(f"family must be 'binomial' or 'poisson', got {family!r}")
    if formula is not None:
        design = design_from_formula(formula, data)
    else:
        design = design_from_arrays(y, X, groups, Z, correlated=correlated, offset=offset,
                                    binomial=family == "binomial")
    design.check()
    if family == "binomial":
        if design.y.ndim != 2 or design.y.shape[1] != 2:
            raise ValueError("binomial response must be (successes, failures): use "
                             "cbind(successes, failures) in the formula or an (n, 2) y")
        if np.any(design.y < 0) or np.any(design.y != np.round(design.y)):
            raise ValueError("binomial counts must be non-negative integers")
    else:
        if design.y.ndim != 1 or np.any(design.y < 0) or np.any(design.y != np.round(design.y)):
            raise ValueError("Poisson response must be non-negative integer counts")
    if not design.terms:
        raise ValueError("the model has no random-effect terms")
    m = _LaplaceGLMM(design, family)
    beta0 = _glm_start(design.X, design.offset, m.succ, m.ntr if family == "binomial" else None, family)
    x0 = np.r_[np.where(m.lower_theta == 0, 1.0, 0.0), beta0]
    nth = m.n_theta

    def f(x):
        return m.laplace(x[:nth], x[nth:])

    bounds = [(0.0 if lo == 0 else None, None) for lo in m.lower_theta] + [(None, None)] * design.p
    res = optimize.minimize(f, x0, jac=lambda x: _num_grad(f, x, 1e-6), method="L-BFGS-B",
                            bounds=bounds, options=dict(ftol=1e-15, gtol=1e-8, maxiter=2000))
    x = res.x
    # Newton polish (interior only)
    for _ in range(3):
        if np.any((m.lower_theta == 0) & (x[:nth] < 1e-8)):
            break
        g = _num_grad(f, x, 1e-5)
        H = _num_hess(f, x, 1e-4)
        try:
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        if f(x - step) < f(x):
            x = x - step
        else:
            break
    theta, beta = x[:nth], x[nth:]
    dev, u, Hu, T = m.laplace(theta, beta, return_all=True)
    Hfull = _num_hess(f, x, 1e-4)
    try:
        cov = 2.0 * np.linalg.inv(Hfull)
        vcov = cov[nth:, nth:]
        se = np.sqrt(np.diag(vcov))
    except np.linalg.LinAlgError:
        vcov = np.full((design.p, design.p), np.nan)
        se = np.full(design.p, np.nan)
    z = stats.norm.ppf(0.5 + level / 2)
    zval = beta / se
    fixed = EffectTable(design.xnames, beta, se, beta - z * se, beta + z * se, level=level,
                        interval_method="Wald-z (Hessian of the Laplace deviance)",
                        extra={"z": zval, "p": 2 * stats.norm.sf(np.abs(zval))})
    # variance components on the sd/cor scale of the linear predictor
    names, kinds = _psi_names(_Shim(design, m))
    psi = []
    for (r, c), a, b, o in zip(m.tri, m.koff[:-1], m.koff[1:], m.toff):
        S = T[a:b, a:b] @ T[a:b, a:b].T
        sd = np.sqrt(np.diag(S))
        psi.extend(sd)
        k = b - a
        for j in range(k):
            for i in range(j + 1, k):
                psi.append(S[i, j] / (sd[i] * sd[j]) if sd[i] * sd[j] > 0 else np.nan)
    names, kinds = names[:-1], kinds[:-1]          # no residual sd in a GLMM
    vc = EffectTable(names, psi)
    b = u @ T.T
    Hinv = np.linalg.inv(Hu)
    cv = T @ Hinv @ T.T
    csd = np.sqrt(np.diagonal(cv, axis1=1, axis2=2))
    t0 = design.terms[0]
    coef_names = [cn for t in design.terms for cn in t.coef_names]
    rows = [f"{lv}: {cn}" for lv in t0.levels for cn in coef_names]
    ge = EffectTable(rows, b.ravel(), csd.ravel(), (b - z * csd).ravel(), (b + z * csd).ravel(),
                     level=level, interval_method="conditional mode +- z * conditional sd")
    loglik = -dev / 2
    npar = nth + design.p
    fit_stats = {"nobs": design.n, "loglik (Laplace)": loglik, "AIC": dev + 2 * npar,
                 "BIC": dev + np.log(design.n) * npar, f"groups: {t0.factor}": t0.n_levels}
    diagnostics = [f"{nm} is estimated on the boundary (0): degenerate mode; the posterior "
                   "expectation (sampler route, not yet available) would be positive"
                   for nm, kd, v in zip(names, kinds, psi) if kd == "sd" and v < 1e-4]
    reason = method_reason or "Laplace approximation (lme4::glmer, nAGQ = 1)"
    out = HierarchicalResult(model=f"GLMM ({family})", method="Laplace", method_reason=reason,
                             fixed_effects=fixed, variance_components=vc,
                             group_effects={t0.factor: ge}, fit_stats=fit_stats,
                             diagnostics=diagnostics, graph=lmm_graph(design, family),
                             formula=design.formula)
    out.theta, out.beta, out.vcov, out.random_effects = theta, beta, vcov, {t0.factor: b}
    out.converged = bool(res.success or np.linalg.norm(_num_grad(f, x, 1e-5)) < 1e-3)
    return out


class _Shim:
    """Adapter so _psi_names can read the terms of a GLMM design."""

    def __init__(self, design, m):
        self.terms = design.terms
