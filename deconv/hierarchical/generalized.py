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

Scope: random intercepts and slopes (correlated or not) on one or several grouping
factors (nested, crossed, observation-level). With one factor the PIRLS Newton system is
block diagonal; with several it is solved by the block-diagonal + Schur-complement split
of the linear mixed model.

References
----------
Bates, Maechler, Bolker & Walker (2015), J. Stat. Softw. 67(1), section 5 (glmer).
"""
import warnings

import numpy as np
from scipy import optimize, special, stats

from deconv._progress import progress_bar
from deconv._validation import check_choice, check_int, check_level, check_rng
from deconv.hierarchical._lmmcore import LMMCore, _tril_colmajor
from deconv.hierarchical.design import Design, design_from_arrays, design_from_formula
from deconv.hierarchical.graph import lmm_graph
from deconv.hierarchical.mixed import (_component_indices, _group_effect_table, _num_grad, _num_hess,
                                       _psi_from_theta, _psi_names, _term_tags,
                                       _theta_from_psi, profile_limits)
from deconv.hierarchical.results import EffectTable, HierarchicalResult

__all__ = ["glmm", "GeneralizedMixedResult"]



def _response(design, family):
    """Successes, trials (None for Poisson) and the log-likelihood constant of the response."""
    if family == "binomial":
        succ = design.y[:, 0]
        ntr = design.y[:, 0] + design.y[:, 1]
        const = np.sum(special.gammaln(ntr + 1) - special.gammaln(succ + 1)
                       - special.gammaln(ntr - succ + 1))
        return succ, ntr, const
    return design.y, None, -np.sum(special.gammaln(design.y + 1))

def _block_crossprod(codes, V, w, G):
    """Per-level weighted cross-products sum_{i in g} w_i v_i v_i' as a (G, K, K) array."""
    K = V.shape[1]
    H = np.empty((G, K, K))
    for a in range(K):
        for b in range(a, K):
            h = np.bincount(codes, V[:, a] * V[:, b] * w, minlength=G)
            H[:, a, b] = h
            H[:, b, a] = h
    return H


def _pirls(objective, direction, u):
    """Penalised iteratively reweighted least squares: Newton steps with step halving on
    the penalised deviance ``objective(u) -> (-log p(y | u) + |u|^2 / 2, eta)``;
    ``direction(u, eta)`` is the Newton direction. Returns (u, f, eta) at convergence."""
    f, eta = objective(u)
    for _ in range(100):
        d = direction(u, eta)
        t = 1.0
        while True:
            f_new, eta_new = objective(u + t * d)
            if f_new <= f + 1e-12 * abs(f) or t < 1e-8:
                break
            t *= 0.5
        step = np.max(np.abs(t * d)) if d.size else 0.0
        converged = abs(f - f_new) < 1e-12 * (1 + abs(f)) and step < 1e-9
        u, f, eta = u + t * d, f_new, eta_new
        if converged:
            break
    return u, f, eta


class _LaplaceGLMM:
    def __init__(self, design, family):
        self.d = design
        self.family = family
        terms = design.terms
        self.codes = terms[0].codes
        self.G = terms[0].n_levels
        self.W = np.hstack([t.Xr for t in terms])
        self.K = self.W.shape[1]
        self.tri = [_tril_colmajor(t.k) for t in terms]
        self.koff = np.concatenate([[0], np.cumsum([t.k for t in terms])]).astype(int)
        self.toff = np.concatenate([[0], np.cumsum([t.n_theta for t in terms])]).astype(int)
        self.n_theta = int(self.toff[-1])
        self.lower_theta = np.concatenate([np.where(r == c, 0.0, -np.inf) for r, c in self.tri])
        self.succ, self.ntr, self.const = _response(design, family)
        self.u = np.zeros((self.G, self.K))

    def Tb(self, theta):
        T = np.zeros((self.K, self.K))
        for (r, c), a, b, o in zip(self.tri, self.koff[:-1], self.koff[1:], self.toff):
            blk = np.zeros((b - a, b - a))
            blk[r, c] = theta[o:o + len(r)]
            T[a:b, a:b] = blk
        return T

    def _mean_weight(self, eta):
        if self.family == "poisson":
            eta = np.minimum(eta, 700.0)     # exp overflow guard for wild trial points
        if self.family == "binomial":
            mu = special.expit(eta)
            return self.ntr * mu, self.ntr * mu * (1 - mu)
        m = np.exp(eta)
        return m, m

    def _loglik_obs(self, eta):
        if self.family == "binomial":
            return self.const + np.sum(self.succ * eta - self.ntr * np.logaddexp(0.0, eta))
        return self.const + np.sum(self.succ * eta - np.exp(np.minimum(eta, 700.0)))

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

        def direction(u, eta):          # Newton direction of the penalised deviance
            mean, w = self._mean_weight(eta)
            r = self.succ - mean
            grad = np.empty((G, K))
            for a in range(K):
                grad[:, a] = np.bincount(codes, ZT[:, a] * r, minlength=G)
            H = _block_crossprod(codes, ZT, w, G)
            H[:, np.arange(K), np.arange(K)] += 1.0
            return -np.linalg.solve(H, (u - grad)[..., None])[..., 0]

        u, f, eta = _pirls(objective, direction, u)
        mean, w = self._mean_weight(eta)
        H = _block_crossprod(codes, ZT, w, G)
        H[:, np.arange(K), np.arange(K)] += 1.0
        _, logdet = np.linalg.slogdet(H)
        self.u = u
        dev = 2 * f + np.sum(logdet)      # -2 * Laplace log-likelihood
        if return_all:
            return dev, u, H, T
        return dev


class _LaplaceGLMMGeneral(_LaplaceGLMM):
    """Several grouping factors (nested or crossed): the Newton system of PIRLS,
    Lambda' Z' W Z Lambda + I, is solved by the same block-diagonal + Schur-complement
    split as the linear mixed model (primary factor level-major, the rest dense)."""

    def __init__(self, design, family):
        from deconv.hierarchical._lmmcore import LMMCore

        self.d = design
        self.family = family
        shim = _Design1D(design)
        self.core = LMMCore(shim)
        c = self.core
        self.n_theta = c.n_theta
        self.lower_theta = c.lower
        self.succ, self.ntr, self.const = _response(design, family)
        self.u1 = np.zeros((c.G, c.K))
        self.u2 = np.zeros(c.q2)

    def _system(self, w, Tb, Ts):
        """Blocks of H = Lambda' Z' W Z Lambda + I at weights w."""
        c = self.core
        G, K = c.G, c.K
        H11 = Tb.T @ _block_crossprod(c.codes1, c.W, w, G) @ Tb
        H11[:, np.arange(K), np.arange(K)] += 1.0
        Z2w = c.Z2.multiply(w[:, None]).tocsr()
        A12 = (c.Z1.T @ Z2w).toarray()
        A12 = c._rmul_lam2(A12, Ts).reshape(G, K, c.q2)
        A12 = (Tb.T @ A12).reshape(c.q1, c.q2)
        A22 = (c.Z2.T @ Z2w).toarray()
        A22 = c._rmul_lam2(c._rmul_lam2(A22, Ts).T, Ts).T
        A22[np.diag_indices_from(A22)] += 1.0
        return H11, A12, A22

    def _solve(self, H11, A12, A22, g1, g2):
        """Solve H x = g by block elimination; also return log|H|."""
        c = self.core
        H11inv = np.linalg.inv(H11)
        B = (H11inv @ A12.reshape(c.G, c.K, c.q2)).reshape(c.q1, c.q2)    # H11^{-1} A12
        S = A22 - A12.T @ B
        cS = np.linalg.cholesky(S)
        r2 = g2 - A12.T @ np.einsum("gab,gb->ga", H11inv, g1).ravel()
        x2 = np.linalg.solve(cS.T, np.linalg.solve(cS, r2))
        x1 = np.einsum("gab,gb->ga", H11inv, g1 - (A12 @ x2).reshape(c.G, c.K))
        logdet = np.sum(np.linalg.slogdet(H11)[1]) + 2 * np.sum(np.log(np.diag(cS)))
        return x1, x2, logdet

    def _lam2(self, u2, Ts):
        c = self.core
        out = np.empty_like(u2)
        for i, o in zip(c.rest, c.rest_offsets):
            t = c.terms[i]
            sl = slice(o, o + t.n_levels * t.k)
            out[sl] = (u2[sl].reshape(t.n_levels, t.k) @ Ts[i].T).ravel()
        return out

    def laplace(self, theta, beta, return_all=False):
        c = self.core
        Ts = c.T_list(theta)
        Tb = c._Tb(Ts)
        ZT = c.W @ Tb
        eta0 = self.d.offset + self.d.X @ beta
        u1, u2 = self.u1.copy(), self.u2.copy()

        q1 = c.q1

        def objective(u):               # u = (u1 level-major, u2) flattened
            u1, u2 = u[:q1].reshape(c.G, c.K), u[q1:]
            eta = eta0 + np.einsum("nk,nk->n", ZT, u1[c.codes1]) + c.Z2 @ self._lam2(u2, Ts)
            return -self._loglik_obs(eta) + 0.5 * (np.sum(u1 * u1) + u2 @ u2), eta

        def direction(u, eta):
            u1, u2 = u[:q1].reshape(c.G, c.K), u[q1:]
            mean, w = self._mean_weight(eta)
            r = self.succ - mean
            g1 = np.empty((c.G, c.K))
            for a in range(c.K):
                g1[:, a] = np.bincount(c.codes1, ZT[:, a] * r, minlength=c.G)
            g1 = g1 - u1
            g2 = c._rmul_lam2((c.Z2.T @ r)[None, :], Ts)[0] - u2
            H11, A12, A22 = self._system(w, Tb, Ts)
            s1, s2, _ = self._solve(H11, A12, A22, g1, g2)
            return np.concatenate([s1.ravel(), s2])

        u, f, eta = _pirls(objective, direction, np.concatenate([u1.ravel(), u2]))
        u1, u2 = u[:q1].reshape(c.G, c.K), u[q1:]
        mean, w = self._mean_weight(eta)
        H11, A12, A22 = self._system(w, Tb, Ts)
        _, _, logdet = self._solve(H11, A12, A22, np.zeros((c.G, c.K)), np.zeros(c.q2))
        self.u1, self.u2 = u1, u2
        dev = 2 * f + logdet
        if return_all:
            return dev, (u1, u2), (H11, A12, A22), Ts
        return dev


def _general_effects(m, Ts, u, H):
    """Conditional modes b = Lambda u and Var(b | y) ~= Lambda H^{-1} Lambda' per term."""
    c = m.core
    u1, u2 = u
    H11, A12, A22 = H
    H11inv = np.linalg.inv(H11)
    B = (H11inv @ A12.reshape(c.G, c.K, c.q2)).reshape(c.q1, c.q2)
    Sinv = np.linalg.inv(A22 - A12.T @ B)
    Bg = B.reshape(c.G, c.K, c.q2)
    V11 = H11inv + np.einsum("gaq,qr,gbr->gab", Bg, Sinv, Bg)
    Tb = c._Tb(Ts)
    b1 = u1 @ Tb.T
    V1 = Tb @ V11 @ Tb.T
    b2 = m._lam2(u2, Ts)
    out = [None] * len(c.terms)
    for i, a, e in zip(c.blk, c.blk_offsets[:-1], c.blk_offsets[1:]):
        out[i] = (b1[:, a:e], V1[:, a:e, a:e])
    for i, o in zip(c.rest, c.rest_offsets):
        t = c.terms[i]
        T = Ts[i]
        blocks = np.empty((t.n_levels, t.k, t.k))
        for g in range(t.n_levels):
            sl = slice(o + g * t.k, o + (g + 1) * t.k)
            blocks[g] = T @ Sinv[sl, sl] @ T.T
        out[i] = (b2[o:o + t.n_levels * t.k].reshape(t.n_levels, t.k), blocks)
    return out


class _Design1D:
    """A view of a GLMM design with a dummy 1-D response, so LMMCore can build the layout."""

    def __init__(self, design):
        self.X = design.X
        self.terms = design.terms
        self.offset = np.zeros(design.n)
        self.y = np.zeros(design.n)
        self.n, self.p = design.n, design.p


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


def _fit_laplace(design, family, x0=None):
    """Minimise the Laplace deviance over (theta, beta); returns (model, x, f, optimiser result)."""
    general = len({t.factor for t in design.terms}) > 1
    m = _LaplaceGLMMGeneral(design, family) if general else _LaplaceGLMM(design, family)
    if x0 is None:
        beta0 = _glm_start(design.X, design.offset, m.succ,
                           m.ntr if family == "binomial" else None, family)
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
    return m, x, f, res


def _glmm_psi(m, theta):
    """Variance components on the sd/cor scale of the linear predictor (no residual)."""
    return _psi_from_theta(_TermShim(m), theta, 1.0)[:-1]


class GeneralizedMixedResult(HierarchicalResult):
    """Result of a Laplace GLMM fit (see :func:`glmm`).

    Extra attributes: ``theta`` (relative Cholesky-factor parameters, lme4's order),
    ``beta``, ``vcov``, ``random_effects``, ``family``, ``deviance`` (-2 x Laplace
    log-likelihood) and ``converged``.
    """

    def conf_int(self, method="profile", level=0.95, n_boot=200, rng=None, progress=False,
                 which=None):
        """Intervals for the variance components (sd/cor of the random effects).

        Parameters
        ----------
        method : {"profile", "bootstrap"}
            ``"profile"``: profile likelihood on the Laplace deviance, as lme4's
            ``confint(glmer_fit, method = "profile")``: for each component the deviance is
            minimised over all other parameters (other components and the fixed effects)
            and the interval is where it stays within the chi-square(1) quantile of its
            minimum. Boundary-aware: an sd whose profile does not rise enough towards 0
            (or that is estimated at 0) gets the lower limit 0.
            ``"bootstrap"``: parametric bootstrap percentile intervals (``n_boot`` refits of
            responses simulated from the fitted model; seeded by ``rng``).
        level : float
        n_boot : int
        rng : None, int or numpy.random.Generator
        progress : bool
        which : list of str, optional
            Names of the components to profile (default: all); the others keep NaN.

        Returns
        -------
        EffectTable
            The updated ``variance_components`` table.

        Examples
        --------
        >>> from deconv.datasets.hierarchical import load_cbpp
        >>> from deconv.hierarchical import glmm
        >>> res = glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", load_cbpp())
        >>> ci = res.conf_int("profile")
        >>> round(float(ci.lower[0]), 2), round(float(ci.upper[0]), 2)
        (0.35, 1.1)
        """
        method = check_choice(method, "method", ("profile", "bootstrap"))
        level = check_level(level)
        m, x = self._model, self._x
        vc = self.variance_components
        if method == "profile":
            lo, hi = _glmm_profile(m, x, level, _component_indices(vc.names, which))
            im = "profile likelihood (Laplace deviance)"
        else:
            n_boot = check_int(n_boot, "n_boot", min_value=10)
            psi_draws, beta_draws = _glmm_bootstrap(m, x, n_boot, check_rng(rng), progress)
            a = (1 - level) / 2
            lo = np.nanquantile(psi_draws, a, axis=0)
            hi = np.nanquantile(psi_draws, 1 - a, axis=0)
            im = f"parametric bootstrap, {n_boot} refits"
            self.bootstrap_draws = {"variance_components": psi_draws, "fixed_effects": beta_draws}
        self.variance_components = EffectTable(vc.names, vc.estimate, vc.se, lo, hi,
                                               kind="estimate", level=level,
                                               interval_method=im, extra=vc.extra)
        return self.variance_components


def _glmm_profile(m, x, level, which):
    nth = m.n_theta
    shim = _TermShim(m)
    _, kinds = _psi_names(shim)
    kinds = kinds[:-1]
    psi_hat = _glmm_psi(m, x[:nth])
    u_saved = _save_modes(m)

    def deviance(psi, beta):
        th, _ = _theta_from_psi(shim, np.r_[psi, 1.0])
        if th is None or not np.all(np.isfinite(th)):
            return np.inf
        with np.errstate(all="ignore"):
            d = m.laplace(th, beta)
        return d if np.isfinite(d) else np.inf

    try:
        dmin = m.laplace(x[:nth], x[nth:])
        return profile_limits(deviance, psi_hat, kinds, x[nth:].copy(), 1.0, dmin, level, which)
    finally:
        _restore_modes(m, u_saved)


def _save_modes(m):
    return (m.u1.copy(), m.u2.copy()) if hasattr(m, "u1") else m.u.copy()


def _restore_modes(m, saved):
    if hasattr(m, "u1"):
        m.u1, m.u2 = saved
    else:
        m.u = saved


def _glmm_simulate(m, theta, beta, rng):
    """One response from the fitted GLMM: b = Lambda u with u ~ N(0, I), then y | b."""
    d = m.d
    eta = d.offset + d.X @ beta
    for t, T in zip(d.terms, LMMCore.T_list(_TermShim(m), theta)):
        b = rng.standard_normal((t.n_levels, t.k)) @ T.T
        eta = eta + np.einsum("nk,nk->n", t.Xr, b[t.codes])
    if m.family == "binomial":
        ntr = m.ntr.astype(np.int64)
        succ = rng.binomial(ntr, special.expit(eta)).astype(np.float64)
        return np.column_stack([succ, ntr - succ])
    return rng.poisson(np.exp(np.minimum(eta, 700.0))).astype(np.float64)


def _glmm_bootstrap(m, x, n_boot, rng, progress):
    d, nth = m.d, m.n_theta
    theta, beta = x[:nth], x[nth:]
    psi_draws, beta_draws = [], []
    bar = progress_bar(n_boot, "parametric bootstrap", progress)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for _ in range(n_boot):
            ysim = _glmm_simulate(m, theta, beta, rng)
            dsim = Design(ysim, d.X, d.xnames, d.terms, d.offset)
            try:
                mb, xb, _, _ = _fit_laplace(dsim, m.family, x0=x.copy())
                psi_draws.append(_glmm_psi(mb, xb[:nth]))
                beta_draws.append(xb[nth:])
            except (np.linalg.LinAlgError, ValueError):
                psi_draws.append(np.full(len(_glmm_psi(m, theta)), np.nan))
                beta_draws.append(np.full(beta.size, np.nan))
            bar.update(1)
    bar.close()
    return np.array(psi_draws), np.array(beta_draws)


def glmm(formula=None, data=None, *, y=None, X=None, groups=None, Z=None, family="binomial",
         offset=None, correlated=True, level=0.95, ci_method=None, n_boot=200, rng=None,
         method_reason=None):
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
    ci_method : {None, "profile", "bootstrap"}
        Intervals for the variance components computed at fit time (None: call
        ``result.conf_int()`` later); see :meth:`GeneralizedMixedResult.conf_int`.
    n_boot, rng :
        Parametric bootstrap size and random generator (``ci_method="bootstrap"``).

    Returns
    -------
    GeneralizedMixedResult
        With attributes ``theta``, ``beta``, ``vcov``, ``random_effects``, ``deviance``.

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
    design.check(gaussian=False)
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
    general = len({t.factor for t in design.terms}) > 1
    m, x, f, res = _fit_laplace(design, family)
    nth = m.n_theta
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
    # per-term factors, conditional modes and conditional covariances
    if general:
        effects = _general_effects(m, T, u, Hu)       # T: the per-term factors here
    else:
        bfull = u @ T.T
        cv = T @ np.linalg.inv(Hu) @ T.T
        effects = [(bfull[:, a:b], cv[:, a:b, a:b]) for a, b in zip(m.koff[:-1], m.koff[1:])]
    # variance components on the sd/cor scale of the linear predictor (no residual sd)
    names, kinds = _psi_names(_TermShim(m))
    names, kinds = names[:-1], kinds[:-1]
    psi = _glmm_psi(m, theta)
    vc = EffectTable(names, psi)
    group_effects, random_effects = {}, {}
    for t, tag, (b, cvt) in zip(design.terms, _term_tags(design.terms), effects):
        group_effects[tag] = _group_effect_table(t, b, cvt, level)
        random_effects[tag] = b
    loglik = -dev / 2
    npar = nth + design.p
    fit_stats = {"nobs": design.n, "loglik (Laplace)": loglik, "AIC": dev + 2 * npar,
                 "BIC": dev + np.log(design.n) * npar}
    for t in design.terms:
        fit_stats.setdefault(f"groups: {t.factor}", t.n_levels)
    diagnostics = [f"{nm} is estimated on the boundary (0): degenerate mode; the posterior "
                   "expectation (method='sampler') would be positive"
                   for nm, kd, v in zip(names, kinds, psi) if kd == "sd" and v < 1e-4]
    reason = method_reason or "Laplace approximation (lme4::glmer, nAGQ = 1)"
    out = GeneralizedMixedResult(model=f"GLMM ({family})", method="Laplace", method_reason=reason,
                             fixed_effects=fixed, variance_components=vc,
                             group_effects=group_effects, fit_stats=fit_stats,
                             diagnostics=diagnostics, graph=lmm_graph(design, family),
                             formula=design.formula)
    out.theta, out.beta, out.vcov, out.random_effects = theta, beta, vcov, random_effects
    out.converged = bool(res.success or np.linalg.norm(_num_grad(f, x, 1e-5)) < 1e-3)
    out.family, out.deviance = family, dev
    out._model, out._x = m, x.copy()
    if ci_method is not None:
        out.conf_int(ci_method, level=level, n_boot=n_boot, rng=rng)
    return out


class _TermShim:
    """Adapter giving a Laplace GLMM the term layout that the LMM helpers read
    (``terms``, ``tri``, ``theta_offsets``; ``LMMCore.T_list`` then works on it)."""

    def __init__(self, m):
        self.terms = m.d.terms
        self.tri = [_tril_colmajor(t.k) for t in self.terms]
        self.theta_offsets = np.concatenate([[0], np.cumsum([t.n_theta for t in self.terms])]).astype(int)

    def T_list(self, theta):
        return LMMCore.T_list(self, theta)
