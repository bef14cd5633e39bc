"""Linear mixed models by REML and ML (the lme4 algorithm, in NumPy/SciPy).

Model
-----
.. math::

    y = X\\beta + Z b + \\varepsilon,\\quad b \\sim N(0, \\Sigma_\\theta),\\quad
    \\varepsilon \\sim N(0, \\sigma^2 I),\\quad \\Sigma_\\theta = \\sigma^2 \\Lambda_\\theta\\Lambda_\\theta^T

with :math:`\\Lambda_\\theta` block diagonal: one lower-triangular relative covariance factor
``T_r`` per random-effect term, repeated over the term's levels. The deviance is profiled
over ``beta`` and ``sigma`` and minimised over ``theta`` (bounds: diagonal of each ``T_r``
>= 0) by L-BFGS-B with central-difference gradients, then polished by a few projected
Newton steps. See :mod:`deconv.hierarchical._lmmcore` for the linear algebra.

Inference
---------
* fixed effects: ``sigma^2 (R_X' R_X)^{-1}`` (as lme4's ``vcov``), t statistics with
  Satterthwaite degrees of freedom computed as lmerTest does (numerical Hessian of the
  deviance in ``(theta, sigma)``, numerical gradient of ``Var(beta_j)``);
* variance components (standard deviations and correlations) with profile-likelihood
  (deviance on the sd/cor scale, chi-square(1) cut-off, as lme4's ``confint``),
  parametric-bootstrap or no intervals;
* conditional modes (BLUPs) of the random effects with conditional variances;
* log-likelihood, AIC, BIC, REML criterion; likelihood-ratio tests (:func:`lrt`).

References
----------
Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear mixed-effects
models using lme4. Journal of Statistical Software 67(1), 1-48.
Kuznetsova, A., Brockhoff, P. B. and Christensen, R. H. B. (2017). lmerTest package: tests
in linear mixed effects models. Journal of Statistical Software 82(13).
"""
import warnings

import numpy as np
from scipy import optimize, stats

from deconv._progress import progress_bar
from deconv._validation import check_choice, check_int, check_level, check_rng
from deconv.exceptions import ConvergenceWarning
from deconv.hierarchical._lmmcore import LMMCore
from deconv.hierarchical.design import design_from_arrays, design_from_formula
from deconv.hierarchical.graph import lmm_graph
from deconv.hierarchical.results import EffectTable, HierarchicalResult

__all__ = ["lmm", "LinearMixedResult", "lrt"]


# ------------------------------------------------------------------ optimisation helpers
def _num_grad(f, x, h_rel=1e-4):
    g = np.empty_like(x)
    for i in range(x.size):
        h = h_rel * max(1.0, abs(x[i]))
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


def _num_hess(f, x, h_rel=1e-4):
    m = x.size
    H = np.empty((m, m))
    hs = np.array([h_rel * max(1.0, abs(v)) for v in x])
    f0 = f(x)
    for i in range(m):
        for j in range(i, m):
            if i == j:
                xp, xm = x.copy(), x.copy()
                xp[i] += hs[i]
                xm[i] -= hs[i]
                H[i, i] = (f(xp) - 2 * f0 + f(xm)) / hs[i] ** 2
            else:
                v = []
                for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                    xx = x.copy()
                    xx[i] += si * hs[i]
                    xx[j] += sj * hs[j]
                    v.append(f(xx))
                H[i, j] = H[j, i] = (v[0] - v[1] - v[2] + v[3]) / (4 * hs[i] * hs[j])
    return H


def _num_hess_richardson(f, x, h_rel=1e-3):
    """Central-difference Hessian with one Richardson step (error O(h^4) instead of O(h^2))."""
    return (4.0 * _num_hess(f, x, h_rel / 2) - _num_hess(f, x, h_rel)) / 3.0


def _minimize_theta(core, reml, theta0):
    """Minimise the profiled deviance over theta; returns (theta, deviance, converged)."""
    f = lambda th: core.deviance(th, reml)  # noqa: E731
    lower = core.lower
    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    # L-BFGS-B with forward differences gets close cheaply; Newton steps below finish
    def fwd_grad(th):   # forward differences (upwards: stays inside the bounds)
        f0 = f(th)
        g = np.empty_like(th)
        for i in range(th.size):
            h = 1e-7 * max(1.0, abs(th[i]))
            t = th.copy()
            t[i] += h
            g[i] = (f(t) - f0) / h
        return f0, g

    res = optimize.minimize(fwd_grad, theta0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options=dict(ftol=1e-13, gtol=1e-7, maxiter=5000))
    theta, fval = np.maximum(res.x, lower), f(np.maximum(res.x, lower))
    # projected Newton polish on the free coordinates (tightens theta to ~1e-9)
    for _ in range(4):
        free = ~((lower == 0) & (theta <= 1e-10))
        if not free.any():
            break
        idx = np.flatnonzero(free)

        def fs(z):
            t = theta.copy()
            t[idx] = z
            return f(t)

        g = _num_grad(fs, theta[idx], 1e-5)
        H = _num_hess(fs, theta[idx], 1e-4)
        try:
            c = np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            break
        step = -np.linalg.solve(c.T, np.linalg.solve(c, g))
        improved = False
        for scale in (1.0, 0.5, 0.25):
            t_new = theta.copy()
            t_new[idx] += scale * step
            t_new = np.maximum(t_new, lower)
            fn = f(t_new)
            if fn <= fval:
                theta, fval, improved = t_new, fn, True
                break
        if not improved or np.max(np.abs(step) / (1.0 + np.abs(theta[idx]))) < 1e-7:
            break
    # converged if the projected gradient is small, or (large n: the deviance and its
    # curvature grow with n, so does the finite-difference noise in the gradient) if the
    # Newton step it implies, |g_i| / curvature_i, is negligible
    g, curv = np.empty_like(theta), np.empty_like(theta)
    for i in range(theta.size):
        h = 1e-4 * max(1.0, abs(theta[i]))
        tp, tm = theta.copy(), theta.copy()
        tp[i] += h
        tm[i] -= h
        fp, fm = f(tp), f(tm)
        g[i] = (fp - fm) / (2 * h)
        curv[i] = (fp - 2 * fval + fm) / h ** 2
    at_bound = (lower == 0) & (theta <= 1e-10) & (g > 0)
    gfree = np.where(at_bound, 0.0, g)
    gmax = np.max(np.abs(gfree)) if g.size else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        newton = np.where(curv > 0, np.abs(gfree) / curv, np.inf)
    small_step = bool(np.all((gfree == 0) | (newton < 1e-6 * (1.0 + np.abs(theta)))))
    converged = bool(np.isfinite(fval) and (gmax < 1e-3 or small_step))
    return theta, fval, converged


# ------------------------------------------------------------------ sd/cor parameterisation
def _psi_from_theta(core, theta, sigma):
    """Variance-component vector: per term sds then correlations, then residual sigma."""
    out = []
    for T in core.T_list(theta):
        S = sigma ** 2 * T @ T.T
        sd = np.sqrt(np.diag(S))
        out.extend(sd)
        k = T.shape[0]
        for j in range(k):
            for i in range(j + 1, k):
                out.append(S[i, j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else np.nan)
    out.append(sigma)
    return np.array(out)


def _theta_from_psi(core, psi):
    sigma = psi[-1]
    theta, o = [], 0
    for t, (r, c) in zip(core.terms, core.tri):
        k = t.k
        sd = psi[o:o + k]
        o += k
        C = np.eye(k)
        for j in range(k):
            for i in range(j + 1, k):
                C[i, j] = C[j, i] = psi[o]
                o += 1
        S = C * np.outer(sd, sd)
        try:
            T = np.linalg.cholesky(S + 1e-300 * np.eye(k)) / sigma if k > 1 else np.sqrt(S) / sigma
        except np.linalg.LinAlgError:
            return None, sigma
        theta.extend(T[r, c])
    return np.array(theta), sigma


def _term_tags(terms):
    """One label per random-effect term: the factor name, with ``.1``, ``.2``... for the
    second, third... term on the same factor (``(1 | g) + (0 + x | g)``), as lme4 does."""
    tags, seen = [], {}
    for t in terms:
        seen[t.factor] = seen.get(t.factor, 0) + 1
        tags.append(t.factor if seen[t.factor] == 1 else f"{t.factor}.{seen[t.factor] - 1}")
    return tags


def _group_effect_table(term, modes, condvar, level):
    """EffectTable of one term's conditional modes with +- z conditional-sd intervals."""
    z = stats.norm.ppf(0.5 + level / 2)
    csd = np.sqrt(np.diagonal(condvar, axis1=1, axis2=2))
    rows = [f"{lv}: {cn}" for lv in term.levels for cn in term.coef_names]
    return EffectTable(rows, modes.ravel(), csd.ravel(), (modes - z * csd).ravel(),
                       (modes + z * csd).ravel(), level=level,
                       interval_method="conditional mode +- z * conditional sd")


def _psi_names(core):
    names, kinds = [], []
    for t, tag in zip(core.terms, _term_tags(core.terms)):
        for cn in t.coef_names:
            names.append(f"{tag}: sd({cn})")
            kinds.append("sd")
        for j in range(t.k):
            for i in range(j + 1, t.k):
                names.append(f"{tag}: cor({t.coef_names[j]}, {t.coef_names[i]})")
                kinds.append("cor")
    names.append("Residual: sd")
    kinds.append("sd")
    return names, kinds


class LinearMixedResult(HierarchicalResult):
    """Result of a REML/ML linear-mixed-model fit (see :func:`lmm`).

    Extra attributes: ``theta`` (relative Cholesky-factor parameters, lme4's order),
    ``sigma``, ``beta``, ``vcov`` (fixed effects covariance), ``reml`` (bool),
    ``converged``, ``random_effects`` (factor -> (levels, k) conditional modes) and
    ``condvar`` (factor -> (levels, k, k) conditional covariances).
    """

    def conf_int(self, method="profile", level=0.95, n_boot=200, rng=None, progress=False,
                 criterion=None, which=None):
        """Intervals for the variance components (sd/cor scale); updates the table.

        Parameters
        ----------
        method : {"profile", "bootstrap"}
            Profile likelihood (chi-square(1) cut-off of the deviance on the sd/cor
            scale, like lme4's ``confint(method="profile")``) or parametric bootstrap
            percentile intervals (``n_boot`` refits of data simulated from the fit).
        level : float
        n_boot : int
        rng : None, int or numpy.random.Generator
        progress : bool
        criterion : {None, "reml", "ml"}
            Deviance profiled (None: the one fitted). lme4's ``confint`` profiles the ML
            deviance even for REML fits; pass ``"ml"`` to reproduce it.
        which : list of str, optional
            Names of the components to profile (default: all); the others keep NaN.

        Returns
        -------
        EffectTable
        """
        method = check_choice(method, "method", ("profile", "bootstrap"))
        level = check_level(level)
        if method == "profile":
            crit = check_choice(criterion, "criterion", ("reml", "ml")) if criterion else None
            use_reml = self.reml if crit is None else crit == "reml"
            idx = _component_indices(self.variance_components.names, which)
            lo, hi = _profile_intervals(self._core, self.theta, self.sigma, use_reml, level, idx)
            im = f"profile likelihood ({'REML' if use_reml else 'ML'} deviance)"
        else:
            n_boot = check_int(n_boot, "n_boot", min_value=10)
            boot_psi, boot_beta = _bootstrap(self._core, self.theta, self.beta, self.sigma,
                                             self.reml, n_boot, check_rng(rng), progress)
            a = (1 - level) / 2
            lo = np.nanquantile(boot_psi, a, axis=0)
            hi = np.nanquantile(boot_psi, 1 - a, axis=0)
            im = f"parametric bootstrap, {n_boot} refits"
            self.bootstrap_draws = {"variance_components": boot_psi, "fixed_effects": boot_beta}
        vc = self.variance_components
        self.variance_components = EffectTable(vc.names, vc.estimate, vc.se, lo, hi, kind="estimate",
                                               level=level, interval_method=im, extra=vc.extra)
        return self.variance_components


def _component_indices(names, which):
    """Positions of the components named in ``which`` (None: all), or a ValueError."""
    if which is None:
        return None
    bad = [w for w in which if w not in names]
    if bad:
        raise ValueError(f"which: unknown component(s) {bad}; choose from {names}")
    return [names.index(w) for w in which]


def _profile_intervals(core, theta, sigma, reml, level, which=None):
    """Profile-likelihood intervals for the sd/cor components (all, or the indices ``which``)."""
    psi_hat = _psi_from_theta(core, theta, sigma)
    _, kinds = _psi_names(core)

    def dev_psi(psi, extra):
        th, s = _theta_from_psi(core, psi)
        if th is None or not np.all(np.isfinite(th)) or s <= 0:
            return np.inf
        return core.deviance_sigma(th, s, reml)

    return profile_limits(dev_psi, psi_hat, kinds, np.zeros(0), psi_hat[-1],
                          core.deviance_sigma(theta, sigma, reml), level, which)


def profile_limits(deviance, psi_hat, kinds, extra_hat, scale, dmin, level, which=None):
    """Profile-likelihood limits of each component of ``psi`` (sds and correlations).

    Shared by the linear (REML/ML deviance) and generalised (Laplace deviance) mixed models.
    For component j the profile is ``min over the others of deviance(psi, extra)`` with
    ``psi_j`` fixed; the limits are where it rises ``chi2_1(level)`` above ``dmin``.
    Boundary-aware: an sd whose profile does not cross below its estimate (or that is
    estimated at 0) gets the lower limit 0; a correlation that does not cross gets -1/+1.

    Parameters
    ----------
    deviance : callable ``(psi, extra) -> float`` (inf where undefined)
    psi_hat : (m,) estimates; kinds : "sd"/"cor" per entry
    extra_hat : (e,) other parameters optimised freely in each profile (e.g. fixed effects)
    scale : typical size of an sd (bounds the search: 1e-8 .. 1e4 times it)
    dmin : deviance at the optimum
    """
    kinds = np.array(kinds)
    m, ne = psi_hat.size, extra_hat.size
    crit = stats.chi2.ppf(level, 1)

    # unconstrained transform: log for sds, atanh for correlations
    def to_eta(psi):
        return np.where(kinds == "sd", np.log(np.maximum(psi, 1e-12)),
                        np.arctanh(np.clip(psi, -0.999999, 0.999999)))

    def from_eta(eta, idx):
        return np.where(kinds[idx] == "sd", np.exp(eta), np.tanh(eta))

    lower, upper = np.full(m, np.nan), np.full(m, np.nan)
    eta_hat = to_eta(np.where(np.isnan(psi_hat), 0.0, psi_hat))
    ls = np.log(scale)
    eta_lo = np.r_[np.where(kinds == "sd", ls + np.log(1e-8), -7.0), np.full(ne, -np.inf)]
    eta_hi = np.r_[np.where(kinds == "sd", ls + np.log(1e4), 7.0), np.full(ne, np.inf)]
    start_all = np.r_[eta_hat, extra_hat]
    for j in (range(m) if which is None else which):
        if not np.isfinite(psi_hat[j]):
            continue
        others = np.array([i for i in range(m) if i != j], dtype=int)
        free = np.r_[others, m + np.arange(ne)].astype(int)
        state = {"eta": start_all[free].copy()}
        bnds = [(lo if np.isfinite(lo) else None, hi if np.isfinite(hi) else None)
                for lo, hi in zip(eta_lo[free], eta_hi[free])]

        def prof(v):
            def obj(e):
                full = np.empty(m)
                with np.errstate(over="ignore", invalid="ignore"):   # far-out trial points
                    full[others] = from_eta(e[:others.size], others)
                full[j] = v
                if not np.all(np.isfinite(full)):
                    return np.inf
                return deviance(full, e[others.size:])

            if free.size:
                # bounded quasi-Newton: keeps trial points finite (log-sd within 1e-8..1e4
                # times the scale, |atanh(cor)| <= 7)
                best = optimize.minimize(obj, np.clip(state["eta"], eta_lo[free], eta_hi[free]),
                                         method="L-BFGS-B", bounds=bnds,
                                         options=dict(gtol=1e-6, ftol=1e-13, maxiter=300))
                fun = best.fun
                if np.isfinite(fun):
                    state["eta"] = best.x
            else:
                fun = obj(np.zeros(0))
            # the profile can never lie below the global minimum
            return max(fun - dmin, 0.0) - crit

        est = psi_hat[j]
        is_sd = kinds[j] == "sd"
        # work on x = log(sd) or atanh(cor), where the signed root of the deviance change,
        # zeta(x) = sign(x - x_hat) sqrt(dev(x) - dmin), is close to linear (Bates et al.
        # 2015, section 5.1): secant iterations on zeta(x) = +-sqrt(crit) converge fast.
        if is_sd and est <= 0:
            lower[j] = 0.0
        if is_sd:   # an sd on the boundary (0): start just above it, on the residual scale
            x_hat = np.log(est) if est > 0 else np.log(1e-6 * scale)
        else:
            x_hat = np.arctanh(np.clip(est, -0.999999, 0.999999))
        to_v = np.exp if is_sd else np.tanh
        target = np.sqrt(crit)
        for side, out in ((-1, lower), (1, upper)):
            if is_sd and est <= 0 and side < 0:
                continue
            state["eta"] = start_all[free].copy()

            def zeta(x):
                val = prof(to_v(x)) + crit
                return np.sqrt(max(val, 0.0)) if np.isfinite(val) else np.inf

            x0, z0 = x_hat, 0.0
            x1 = x_hat + side * (0.3 if is_sd else 0.5)
            z1 = zeta(x1)
            result = None
            for _ in range(40):
                if not np.isfinite(z1):      # inner fit failed far out: step back halfway
                    x1 = 0.5 * (x0 + x1)
                    z1 = zeta(x1)
                    continue
                if abs(z1 - target) < 1e-6:
                    result = x1
                    break
                slope = (z1 - z0) / (x1 - x0) if x1 != x0 else 0.0
                if slope * side <= 1e-12:          # flat profile: step outwards
                    x2 = x1 + side * 2.0 * abs(x1 - x0 if x1 != x0 else 0.5)
                else:
                    x2 = x1 + (target - z1) / slope
                    # keep the step bounded (the profile may curve)
                    x2 = x1 + np.clip(x2 - x1, -3.0, 3.0)
                limit = 7.0 if not is_sd else 25.0   # |cor| -> 1, sd -> 0 or inf
                if abs(x2 - x_hat) > limit:
                    x2 = x_hat + side * limit
                    z2 = zeta(x2)
                    if z2 < target:             # never crosses: interval reaches the bound
                        result = -np.inf if side < 0 else np.inf
                        break
                else:
                    z2 = zeta(x2)
                x0, z0, x1, z1 = x1, z1, x2, z2
            if result is None:
                result = x1
            if np.isinf(result):
                out[j] = (0.0 if side < 0 else np.inf) if is_sd else float(side)
            else:
                out[j] = to_v(result)
    return lower, upper


def _bootstrap(core, theta, beta, sigma, reml, n_boot, rng, progress):
    Ts = core.T_list(theta)
    y0 = core.y
    psi_draws, beta_draws = [], []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            bar = progress_bar(n_boot, "parametric bootstrap", progress)
            for _ in range(n_boot):
                ysim = core.simulate(beta, Ts, sigma, rng)
                core.set_response(ysim - core.design.offset)
                th, _, _ = _minimize_theta(core, reml, theta.copy())
                d = core.decompose(th)
                s = core.sigma_hat(d, reml)
                psi_draws.append(_psi_from_theta(core, th, s))
                beta_draws.append(d["beta"])
                bar.update(1)
            bar.close()
    finally:
        core.set_response(y0)
    return np.array(psi_draws), np.array(beta_draws)


def _satterthwaite(core, theta, sigma, reml):
    """Satterthwaite df for each fixed effect (lmerTest's method, numerical derivatives)."""
    varpar = np.r_[theta, sigma]
    f = lambda vp: core.deviance_sigma(vp[:-1], vp[-1], reml)  # noqa: E731
    H = _num_hess_richardson(f, varpar)
    try:
        A = 2.0 * np.linalg.inv(H)
    except np.linalg.LinAlgError:
        return np.full(core.p, np.nan)
    if not np.all(np.isfinite(A)):
        return np.full(core.p, np.nan)

    def vcov_diag(vp):
        d = core.decompose(vp[:-1])
        RXinv = np.linalg.inv(d["RX"])
        return vp[-1] ** 2 * np.sum(RXinv ** 2, axis=0)

    V = vcov_diag(varpar)

    def central(h_rel):
        J = np.empty((core.p, varpar.size))
        for i in range(varpar.size):
            h = h_rel * max(1.0, abs(varpar[i]))
            vp, vm = varpar.copy(), varpar.copy()
            vp[i] += h
            vm[i] -= h
            J[:, i] = (vcov_diag(vp) - vcov_diag(vm)) / (2 * h)
        return J

    J = (4.0 * central(5e-4) - central(1e-3)) / 3.0      # Richardson
    denom = np.einsum("ji,ik,jk->j", J, A, J)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = 2.0 * V ** 2 / denom
    return np.where(denom > 0, df, np.nan)


def _raw_group_estimates(core, beta, term):
    """No-pooling estimate of each group's coefficients: per-group least squares on y - X beta."""
    r = core.y - core.design.X @ beta
    G, k, codes, Xr = term.n_levels, term.k, term.codes, term.Xr
    XtX = np.zeros((G, k, k))
    Xtr = np.zeros((G, k))
    for a in range(k):
        Xtr[:, a] = np.bincount(codes, Xr[:, a] * r, minlength=G)
        for b in range(k):
            XtX[:, a, b] = np.bincount(codes, Xr[:, a] * Xr[:, b], minlength=G)
    out = np.full((G, k), np.nan)
    ok = np.linalg.cond(XtX) < 1e10
    if ok.any():
        out[ok] = np.linalg.solve(XtX[ok], Xtr[ok][..., None])[..., 0]
    return out


# ------------------------------------------------------------------------ public API
def lmm(formula=None, data=None, *, y=None, X=None, groups=None, Z=None, correlated=True,
        reml=True, level=0.95, ci_method=None, ddf="satterthwaite", n_boot=200, rng=None,
        method_reason=None, schur="auto"):
    """Fit a linear mixed model by REML (default) or ML.

    .. math::

        y = X\\beta + \\textstyle\\sum_r Z_r b_r + \\varepsilon,\\qquad
        b_{r,g} \\sim N(0, \\Sigma_r)\\ \\text{i.i.d. over levels } g,\\qquad
        \\varepsilon \\sim N(0, \\sigma^2 I)

    Parameters
    ----------
    formula : str, optional
        lme4-style formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``; see
        :mod:`deconv.hierarchical.formula`. Either ``formula`` + ``data`` or arrays.
    data : pandas.DataFrame or mapping of columns
    y, X, groups, Z, correlated :
        Array input (see :func:`deconv.hierarchical.design.design_from_arrays`).
    reml : bool
        REML (True, default) or maximum likelihood.
    level : float
        Level of all intervals.
    ci_method : {None, "profile", "bootstrap"}
        Intervals for the variance components computed at fit time (None: call
        ``result.conf_int()`` later).
    ddf : {"satterthwaite", "residual", "none"}
        Degrees of freedom for the fixed-effect t tests (Satterthwaite by default;
        "residual" uses n - p; "none" gives normal-based z intervals).
    n_boot, rng :
        Parametric bootstrap size and random generator (``ci_method="bootstrap"``).
    schur : {"auto", "dense", "cholesky", "splu"}
        Linear algebra for designs with several grouping factors (the Schur complement of
        the secondary factors; see :mod:`deconv.hierarchical._lmmcore`). All give the same
        fit to rounding; "auto" picks dense arrays for small designs, a sparse assembly
        with a dense Cholesky factor for crossed factors with thousands of levels, and
        SuperLU when the Schur complement is large and sparse.

    Returns
    -------
    LinearMixedResult

    References
    ----------
    Bates, Maechler, Bolker & Walker (2015), J. Stat. Softw. 67(1).

    Examples
    --------
    >>> from deconv.datasets.hierarchical import load_sleepstudy
    >>> from deconv.hierarchical import lmm
    >>> res = lmm("Reaction ~ Days + (Days | Subject)", data=load_sleepstudy())
    >>> round(float(res.fixed_effects["Days"]["estimate"]), 4)
    10.4673
    """
    level = check_level(level)
    ddf = check_choice(ddf, "ddf", ("satterthwaite", "residual", "none"))
    if formula is not None:
        design = design_from_formula(formula, data)
    else:
        if y is None:
            raise TypeError("give either a formula (with data) or arrays y, groups[, X, Z]")
        design = design_from_arrays(y, X, groups, Z, correlated=correlated)
    design.check()
    if design.y.ndim != 1:
        raise ValueError("a linear mixed model needs a 1-D numeric response")
    if not design.terms:
        raise ValueError("the model has no random-effect terms; use ordinary least squares")
    if design.n <= design.p + 1:
        raise ValueError(f"too few observations ({design.n}) for {design.p} fixed effects")
    schur = check_choice(schur, "schur", ("auto", "dense", "cholesky", "splu"))
    core = LMMCore(design, schur=schur)
    theta, dev, converged = _minimize_theta(core, reml, core.theta0.copy())
    return _assemble(core, theta, dev, converged, reml, level, ddf, ci_method, n_boot, rng,
                     method_reason)


def _assemble(core, theta, dev, converged, reml, level, ddf, ci_method, n_boot, rng, method_reason):
    design = core.design
    d = core.decompose(theta)
    sigma = core.sigma_hat(d, reml)
    beta = d["beta"]
    RXinv = np.linalg.inv(d["RX"]) if core.p else np.zeros((0, 0))
    vcov = sigma ** 2 * RXinv.T @ RXinv
    se = np.sqrt(np.diag(vcov))
    n, p = core.n, core.p
    diagnostics = []
    if not converged:
        msg = "the optimiser did not certify convergence (projected gradient not small)"
        warnings.warn(msg, ConvergenceWarning, stacklevel=3)
        diagnostics.append(msg)
    # fixed effects
    if ddf == "satterthwaite" and core.p:
        df = _satterthwaite(core, theta, sigma, reml)
        im = "Wald-t, Satterthwaite df"
        if not np.all(np.isfinite(df) & (df > 0)):
            diagnostics.append("Satterthwaite df could not be computed for some fixed effects "
                               "(singular information for the variance parameters); their "
                               "intervals use the normal distribution")
            df = np.where(np.isfinite(df) & (df > 0), df, np.inf)
    elif ddf == "residual":
        df = np.full(p, float(n - p))
        im = "Wald-t, residual df"
    else:
        df = np.full(p, np.inf)
        im = "Wald-z"
    q = np.where(np.isfinite(df), stats.t.ppf(0.5 + level / 2, np.where(np.isfinite(df), df, 1)),
                 stats.norm.ppf(0.5 + level / 2))
    tval = beta / se
    pval = np.where(np.isfinite(df), 2 * stats.t.sf(np.abs(tval), np.where(np.isfinite(df), df, 1)),
                    2 * stats.norm.sf(np.abs(tval)))
    fixed = EffectTable(design.xnames, beta, se, beta - q * se, beta + q * se, level=level,
                        interval_method=im, extra={"df": df, "t": tval, "p": pval})
    # variance components
    psi = _psi_from_theta(core, theta, sigma)
    names, kinds = _psi_names(core)
    variances = [v ** 2 if kd == "sd" else np.nan for v, kd in zip(psi, kinds)]
    # covariances for correlation rows
    Ts = core.T_list(theta)
    o = 0
    for T in Ts:
        S = sigma ** 2 * T @ T.T
        k = T.shape[0]
        o += k
        for j in range(k):
            for i in range(j + 1, k):
                variances[o] = S[i, j]
                o += 1
    vc = EffectTable(names, psi, None, None, None, level=level, interval_method="",
                     extra={"variance": variances})
    # group effects
    modes = core.conditional_modes(d)
    condvar = core.conditional_variances(d, sigma)
    group_effects, raw, random_effects, condvars = {}, {}, {}, {}
    for t, tag, bm, cv in zip(core.terms, _term_tags(core.terms), modes, condvar):
        group_effects[tag] = _group_effect_table(t, bm, cv, level)
        raw[tag] = _raw_group_estimates(core, beta, t).ravel()
        random_effects[tag] = bm
        condvars[tag] = cv
    # fit statistics: log-likelihood is the ML or REML one, as lme4's logLik
    crit = core._profiled(d, reml)
    loglik = -crit / 2
    npar = p + core.n_theta + 1
    fit_stats = {"nobs": n, "REML criterion" if reml else "deviance": crit, "loglik": loglik,
                 "AIC": -2 * loglik + 2 * npar, "BIC": -2 * loglik + np.log(n) * npar}
    for t in core.terms:
        fit_stats.setdefault(f"groups: {t.factor}", t.n_levels)
    # boundary diagnostics
    for nm, kd, v in zip(names, kinds, psi):
        if nm == "Residual: sd":
            continue
        if kd == "sd" and v < 1e-4 * sigma:
            diagnostics.append(
                f"{nm} is estimated on the boundary (~0): the {'REML' if reml else 'ML'} mode is "
                "degenerate (singular fit). The posterior expectation of this scale is positive; "
                "a full-Bayes fit (method='sampler'; random intercepts and (x || g)) reports it.")
        if kd == "cor" and np.isfinite(v) and abs(v) > 1 - 1e-4:
            diagnostics.append(f"{nm} is estimated at +-1 (boundary): singular covariance.")
    reason = method_reason or (f"{'REML' if reml else 'ML'} via the profiled deviance "
                               "(exact Gaussian likelihood, lme4 algorithm)")
    res = LinearMixedResult(model="linear mixed model", method="REML" if reml else "ML",
                            method_reason=reason, fixed_effects=fixed, variance_components=vc,
                            group_effects=group_effects, fit_stats=fit_stats,
                            diagnostics=diagnostics, graph=lmm_graph(design),
                            raw_group_estimates=raw, formula=design.formula)
    res.theta, res.sigma, res.beta, res.vcov, res.reml = theta, sigma, beta, vcov, reml
    res.converged = converged
    res.random_effects, res.condvar = random_effects, condvars
    res.n_params = npar
    res._core = core
    if ci_method is not None:
        res.conf_int(ci_method, level=level, n_boot=n_boot, rng=rng)
    return res


def _refit_ml(res):
    if not res.reml:
        return res
    core = res._core
    theta, dev, conv = _minimize_theta(core, False, res.theta.copy())
    return _assemble(core, theta, dev, conv, False, 0.95, "none", None, 0, None, None)


def lrt(small, large):
    """Likelihood-ratio test between nested linear mixed models (ML; REML fits are refitted).

    Like lme4's ``anova(m0, m1)``: the chi-square statistic is the difference in ML
    deviance, with df the difference in the number of parameters. For a variance
    component tested at its boundary (0) the chi-square p-value is conservative
    (the null distribution is a chi-square mixture; Self & Liang 1987).

    Returns
    -------
    dict with ``chisq``, ``df``, ``p_value``, ``deviance_small``, ``deviance_large``.
    """
    for nm, r in (("small", small), ("large", large)):
        if not isinstance(r, LinearMixedResult):
            raise TypeError(f"{nm} must be a LinearMixedResult (a result of lmm())")
    if small._core.n != large._core.n or not np.allclose(small._core.y, large._core.y):
        raise ValueError("the two models were not fitted to the same response")
    a, b = _refit_ml(small), _refit_ml(large)
    df = b.n_params - a.n_params
    if df <= 0:
        raise ValueError(f"'large' must have more parameters than 'small' ({b.n_params} vs {a.n_params})")
    chisq = max(0.0, -2 * a.fit_stats["loglik"] + 2 * b.fit_stats["loglik"])
    return {"chisq": chisq, "df": df, "p_value": float(stats.chi2.sf(chisq, df)),
            "deviance_small": -2 * a.fit_stats["loglik"], "deviance_large": -2 * b.fit_stats["loglik"]}
