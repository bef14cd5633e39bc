r"""Full-Bayes routes of the hierarchical front door, through the NUTS sampler.

Each function samples a hierarchical model with :func:`deconv.sampling.nuts` and returns the
same :class:`~deconv.hierarchical.results.HierarchicalResult` as the exact solvers, with every
:class:`~deconv.hierarchical.results.EffectTable` of kind ``"posterior"`` (posterior mean,
posterior sd, equal-tailed credible interval; extra columns ``mcse``, ``ess_bulk``, ``r_hat``),
the sampler's diagnostics (max R-hat, min bulk/tail ESS, divergences, E-BFMI) in
``fit_stats`` and ``diagnostics``, and the draws attached as ``result.posterior``
(a :class:`deconv.sampling.Posterior` on the scale of the data).

==========================  ==================================================  ==============
function                    model                                               density
==========================  ==================================================  ==============
:func:`normal_means_bayes`  :math:`y_j \sim N(\theta_j, s_j^2)`,                compiled
                            :math:`\theta_j \sim N(\mu, \tau^2)`                (or Python)
:func:`lmm_bayes`           :math:`y_i \sim N(a_{g} + b_{g} x_i, \sigma^2)`     compiled
                            varying intercepts (and slopes)
:func:`lmm_bayes`           Student-t residuals, random intercepts, any ``X``   Python, analytic
(``residual="student-t"``)                                                      gradient
:func:`glmm_bayes`          binomial-logit / Poisson-log, group intercepts      compiled
==========================  ==================================================  ==============

Every sampler route is non-centred (group effects :math:`= \sigma z_g`, :math:`z_g \sim N(0,1)`),
which removes the funnel between a group scale and its effects that makes centred samplers
diverge when the scale is small -- exactly the case (a scale near 0) where the REML mode is
degenerate and the posterior expectation is what the user wants.

The linear-model routes standardise the data first (``y`` to mean 0, sd 1; covariates divided
by their sd), state the priors on that scale (as rstanarm does), and map the draws back.

References
----------
Gelman, A. et al. (2013). *Bayesian Data Analysis*, 3rd ed., ch. 5 and 15.
Betancourt, M. and Girolami, M. (2015). Hamiltonian Monte Carlo for hierarchical models.
In *Current Trends in Bayesian Methodology with Applications*, CRC Press.
Juarez, M. A. and Steel, M. F. J. (2010). Model-based clustering of non-Gaussian panel data
based on skew-t distributions. *J. Bus. Econ. Stat.* 28, 52-66 (the Gamma(2, 0.1) prior on nu).
"""
import warnings

import numpy as np
from scipy import special

from deconv._validation import as_1d_float, as_2d_float, check_level, check_positive_scalar
from deconv.exceptions import SamplingWarning
from deconv.hierarchical.results import EffectTable, HierarchicalResult
from deconv.sampling import diagnostics as dg
from deconv.sampling.draws import Posterior
from deconv.sampling.nuts import check_diagnostics, nuts

__all__ = ["normal_means_bayes", "lmm_bayes", "glmm_bayes", "fit_sampler", "StudentTLMM",
           "HeteroscedasticLMM", "NormalMeansModel"]

_INTERVAL = "equal-tailed posterior quantiles (NUTS)"


# --------------------------------------------------------------------------- shared plumbing
def _sample(model, *, chains, warmup, draws, rng, target_accept, dim=None, init=None):
    """Run NUTS without warnings; return the posterior and its diagnostic messages."""
    post = nuts(model, init=init, chains=chains, warmup=warmup, draws=draws, rng=rng,
                target_accept=target_accept, dim=dim, warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        msgs = check_diagnostics(post, max_depth=post.info.get("max_depth"))
    return post, msgs


def _relabel(post, draws, names):
    """A Posterior on the data's scale carrying the sampler's statistics."""
    out = Posterior(draws, names, stats=post.stats, step_size=post.step_size,
                    inv_metric=post.inv_metric, info=post.info)
    out.unconstrained = post.unconstrained
    return out


def _table(names, x, level):
    """EffectTable of posterior means / sds / credible intervals from draws (chain, draw, k)."""
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(x, [a, 1.0 - a], axis=(0, 1))
    extra = {"mcse": dg.mcse_mean(x), "ess_bulk": dg.ess_bulk(x), "ess_tail": dg.ess_tail(x)}
    if x.shape[0] > 1:
        extra["r_hat"] = dg.rhat(x)
    return EffectTable(names, x.mean(axis=(0, 1)), x.std(axis=(0, 1), ddof=1), lo, hi,
                       kind="posterior", level=level, interval_method=_INTERVAL, extra=extra)


def _finish(post, msgs, *, model, reason, fixed, vc, groups, level, prior, nobs, warn,
            raw=None, graph=None):
    """Assemble the HierarchicalResult; put the sampler's health in fit_stats/diagnostics."""
    fixed_t = _table([n for n, _ in fixed], np.stack([d for _, d in fixed], axis=-1), level)
    vc_t = _table([n for n, _ in vc], np.stack([d for _, d in vc], axis=-1), level)
    group_t = {f: _table(rows, d, level) for f, (rows, d) in groups.items()}
    x = post.draws
    keep = np.ptp(x.reshape(-1, x.shape[2]), axis=0) > 0
    xk = x[:, :, keep]
    eb, et = dg.ess_bulk(xk), dg.ess_tail(xk)
    fit_stats = {"nobs": nobs, "prior": prior,
                 "chains x draws": f"{post.n_chains} x {post.n_draws} (warm-up {post.info.get('warmup')})",
                 "max R-hat": float(np.nanmax(dg.rhat(xk))) if post.n_chains > 1 else None,
                 "min bulk ESS": float(np.nanmin(eb)), "min tail ESS": float(np.nanmin(et)),
                 "divergences": post.n_divergent}
    bf = post.ebfmi()
    if bf is not None:
        fit_stats["min E-BFMI"] = float(np.min(bf))
    diagnostics = [f"sampler: {m}" for m in msgs]
    if warn:
        for m in msgs:
            warnings.warn(m, SamplingWarning, stacklevel=3)
    res = HierarchicalResult(model=model, method="full Bayes (NUTS)", method_reason=reason,
                             fixed_effects=fixed_t, variance_components=vc_t,
                             group_effects=group_t, fit_stats=fit_stats, diagnostics=diagnostics,
                             graph=graph, raw_group_estimates=raw)
    res.posterior = post
    return res


def _labels(groups, n):
    g = np.asarray(groups)
    if g.ndim != 1 or g.size != n:
        raise ValueError(f"groups must be 1-D with one label per observation ({n}), got shape "
                         f"{g.shape}")
    labels, idx = np.unique(g, return_inverse=True)
    if labels.size < 2:
        raise ValueError("groups must have at least two levels")
    return labels, idx.astype(np.int64)


def _factor_name(groups, name):
    return str(name if name is not None else getattr(groups, "name", None) or "group")


# ------------------------------------------------------------------------------ normal means
class NormalMeansModel:
    r"""Python density of the normal-means model for priors the compiled model does not have.

    Unconstrained coordinates ``[mu, log tau, eta_1..eta_J]`` (non-centred,
    :math:`\theta_j = \mu + \tau\eta_j`):

    .. math::
        \log p = \log p(\mu) + \log p(\tau) + \log\tau - \tfrac12\sum_j \eta_j^2
                 - \tfrac12 \sum_j (y_j - \mu - \tau\eta_j)^2 / s_j^2 ,

    with :math:`p(\mu)` flat (``mu_sd=None``) or :math:`N(0, \text{mu\_sd}^2)` and
    :math:`p(\tau)` flat (``tau_scale=None``) or half-Cauchy(0, ``tau_scale``).
    """

    def __init__(self, y, se, mu_sd=None, tau_scale=None):
        self.y, self.se, self.mu_sd, self.tau_scale = y, se, mu_sd, tau_scale
        self.dim = y.size + 2

    def __call__(self, z):
        # far-out warm-up proposals may overflow: the sampler treats a non-finite log density
        # as a divergence and rejects it, so silence NumPy's warnings here
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._eval(z)

    def _eval(self, z):
        y, s2 = self.y, self.se ** 2
        mu, lt, eta = z[0], z[1], z[2:]
        tau = np.exp(lt)
        r = (y - mu - tau * eta) / s2
        lp = -0.5 * eta @ eta - 0.5 * np.sum(r * r * s2) + lt
        g = np.empty_like(z)
        g[0] = np.sum(r)
        dtau = r @ eta
        if self.mu_sd is not None:
            lp -= 0.5 * (mu / self.mu_sd) ** 2
            g[0] -= mu / self.mu_sd ** 2
        if self.tau_scale is not None:
            A = self.tau_scale
            lp -= np.log1p((tau / A) ** 2)
            dtau -= 2.0 * tau / (A * A + tau * tau)
        g[1] = tau * dtau + 1.0
        g[2:] = -eta + tau * r
        return lp, g


def normal_means_bayes(y, se, *, mu_prior_sd=5.0, tau_prior_scale=5.0, names=None, level=0.95,
                       chains=4, warmup=1000, draws=1000, rng=None, target_accept=0.9,
                       warn=True, method_reason=None):
    r"""Full-Bayes normal means (eight schools) through the NUTS sampler.

    .. math::
        y_j \sim N(\theta_j, s_j^2),\quad \theta_j = \mu + \tau\eta_j,\quad \eta_j \sim N(0, 1),
        \quad \mu \sim N(0, \text{mu\_prior\_sd}^2),\quad \tau \sim \text{half-Cauchy}(0,
        \text{tau\_prior\_scale}).

    The default priors are those of the compiled :class:`deconv.sampling.models.EightSchools`
    (non-centred), sampled in C. Other priors -- ``mu_prior_sd=None`` (flat on mu),
    ``tau_prior_scale=None`` (flat on tau) or other scales -- use a Python density with an
    analytic gradient (:class:`NormalMeansModel`). For this model the posterior is also
    available exactly by quadrature (:func:`deconv.hierarchical.normal_means`,
    ``method="bayes"``, flat mu); the sampler route is the check and the template.

    Parameters
    ----------
    y, se : array_like, shape (J,)
        Group estimates and their known standard errors (``se`` may be a scalar).
    mu_prior_sd, tau_prior_scale : float or None
    names : list of str, optional
        Group labels.
    level : float
        Credible-interval level.
    chains, warmup, draws, rng, target_accept :
        Passed to :func:`deconv.sampling.nuts`.
    warn : bool
        Raise :class:`~deconv.exceptions.SamplingWarning` for doubtful diagnostics (they are
        also listed in ``result.diagnostics``).

    Returns
    -------
    HierarchicalResult
        ``fixed_effects`` mu, ``variance_components`` tau, ``group_effects["group"]`` theta_j,
        all posterior means with credible intervals; ``posterior`` the draws.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.hierarchical.bayes import normal_means_bayes
    >>> y = np.array([28., 8, -3, 7, -1, 1, 18, 12]); s = np.array([15., 10, 16, 11, 9, 11, 10, 18])
    >>> res = normal_means_bayes(y, s, rng=0, warmup=300, draws=500, warn=False)
    >>> bool(2.5 < res.variance_components["tau"]["estimate"] < 5)
    True
    """
    from deconv.hierarchical.graph import normal_means_graph
    from deconv.sampling.models import EightSchools

    y = as_1d_float(y, "y", min_size=2)
    se = np.full(y.shape, float(se)) if np.ndim(se) == 0 else as_1d_float(se, "se")
    if se.shape != y.shape:
        raise ValueError(f"se has {se.size} values but y has {y.size}")
    if not np.all(np.isfinite(se)) or np.any(se <= 0):
        raise ValueError("se must be finite and positive")
    if mu_prior_sd is not None:
        mu_prior_sd = check_positive_scalar(mu_prior_sd, "mu_prior_sd")
    if tau_prior_scale is not None:
        tau_prior_scale = check_positive_scalar(tau_prior_scale, "tau_prior_scale")
    level = check_level(level)
    J = y.size
    names = [str(n) for n in (names if names is not None else range(1, J + 1))]
    if len(names) != J:
        raise ValueError(f"names has {len(names)} labels but y has {J} values")
    kw = dict(chains=chains, warmup=warmup, draws=draws, rng=rng, target_accept=target_accept)
    if mu_prior_sd == 5.0 and tau_prior_scale == 5.0:
        post, msgs = _sample(EightSchools(y, se), **kw)
        mu, tau, theta = post["mu"], post["tau"], post["theta"]
        how = "compiled EightSchools model (non-centred)"
    else:
        model = NormalMeansModel(y, se, mu_prior_sd, tau_prior_scale)
        post, msgs = _sample(model, dim=model.dim, **kw)
        z = post.draws
        mu, tau = z[..., 0], np.exp(z[..., 1])
        theta = mu[..., None] + tau[..., None] * z[..., 2:]
        how = "Python density with analytic gradient (non-centred)"
    prior = (("flat" if mu_prior_sd is None else f"N(0, {mu_prior_sd:g}^2)") + " on mu, " +
             ("flat" if tau_prior_scale is None else f"half-Cauchy(0, {tau_prior_scale:g})") +
             " on tau")
    full = np.concatenate([mu[..., None], tau[..., None], theta], axis=-1)
    out_post = _relabel(post, full, ["mu", "tau"] + [f"theta[{j}]" for j in range(J)])
    reason = method_reason or f"full Bayes by NUTS: {how}"
    return _finish(out_post, msgs, model="normal means", reason=reason, fixed=[("mu", mu)],
                   vc=[("tau", tau)], groups={"group": (names, theta)}, level=level,
                   prior=prior, nobs=J, warn=warn, raw={"group": y}, graph=normal_means_graph(J))


# ------------------------------------------------------------------------ linear mixed models
class StudentTLMM:
    r"""Random-intercept linear model with Student-t residuals (Python density, analytic gradient).

    On standardised data (the caller's job),

    .. math::
        y_i = x_i^\top\beta + \sigma_a z_{g[i]} + \varepsilon_i,\quad
        \varepsilon_i \sim t_\nu(0, \sigma^2),\quad z_g \sim N(0, 1),

    with :math:`\beta \sim N(0, 10^2)`, :math:`\sigma_a, \sigma \sim \text{half-normal}(0, 5)`
    and :math:`\nu \sim \text{Gamma}(2, 0.1)` when sampled (``nu=None``).

    Unconstrained coordinates ``[beta (p), log sigma_a, log sigma, (log nu), z (J)]``; calling
    the instance returns ``(log density, gradient)``.
    """

    def __init__(self, y, X, g, n_groups, nu=None):
        self.y, self.X, self.g, self.J = y, X, g, int(n_groups)
        self.p = X.shape[1]
        self.nu = nu
        self.dim = self.p + 2 + (nu is None) + self.J

    def split(self, z):
        p = self.p
        beta = z[..., :p]
        sa, sig = np.exp(z[..., p]), np.exp(z[..., p + 1])
        k = p + 2
        if self.nu is None:
            nu = np.exp(z[..., k])
            k += 1
        else:
            nu = np.full(np.shape(z)[:-1], float(self.nu))
        return beta, sa, sig, nu, z[..., k:]

    def __call__(self, z):
        # far-out warm-up proposals may overflow: the sampler treats a non-finite log density
        # as a divergence and rejects it, so silence NumPy's warnings here
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._eval(z)

    def _eval(self, z):
        p, J, g = self.p, self.J, self.g
        beta, sa, sig, nu, u = self.split(z)
        r = self.y - self.X @ beta - sa * u[g]
        s2 = sig * sig
        q = r * r / (nu * s2)
        lp = (r.size * (special.gammaln((nu + 1) / 2) - special.gammaln(nu / 2)
                        - 0.5 * np.log(nu * np.pi) - np.log(sig))
              - 0.5 * (nu + 1) * np.sum(np.log1p(q)))
        dmu = (nu + 1) * r / (nu * s2 + r * r)          # d loglik / d mean_i
        grad = np.empty_like(z)
        # priors: beta ~ N(0, 10^2); sigma_a, sigma ~ half-normal(0, 5) with log-Jacobians
        lp += -0.5 * beta @ beta / 100.0 - 0.5 * (sa * sa + s2) / 25.0 + np.log(sa) + np.log(sig)
        lp += -0.5 * u @ u
        grad[:p] = self.X.T @ dmu - beta / 100.0
        sum_g = np.bincount(g, dmu, J)
        grad[p] = sa * (sum_g @ u) - sa * sa / 25.0 + 1.0
        grad[p + 1] = np.sum(-1.0 + (nu + 1) * r * r / (nu * s2 + r * r)) - s2 / 25.0 + 1.0
        k = p + 2
        if self.nu is None:
            dnu = np.sum(0.5 * special.digamma((nu + 1) / 2) - 0.5 * special.digamma(nu / 2)
                         - 0.5 / nu - 0.5 * np.log1p(q)
                         + 0.5 * (nu + 1) * r * r / (nu * (nu * s2 + r * r)))
            lp += np.log(nu) - 0.1 * nu + np.log(nu)   # Gamma(2, 0.1) prior and log-Jacobian
            grad[k] = nu * (dnu - 0.1) + 2.0
            k += 1
        grad[k:] = sa * sum_g - u
        return lp, grad


class HeteroscedasticLMM:
    r"""Random-intercept linear model with group-specific residual sds (Python density).

    On standardised data,

    .. math::
        y_i = x_i^\top\beta + \sigma_a z_{g[i]} + \varepsilon_i,\quad
        \varepsilon_i \sim N(0, s_{g[i]}^2),\quad
        \log s_g = \log\sigma_0 + \tau_s w_g,\quad z_g, w_g \sim N(0, 1),

    with :math:`\beta \sim N(0, 10^2)`, :math:`\sigma_a, \sigma_0 \sim \text{half-normal}(0, 5)`
    and :math:`\tau_s \sim \text{half-normal}(0, 1)` (the spread of the log residual sds).
    Both group-level layers are non-centred.

    Unconstrained coordinates ``[beta (p), log sigma_a, log sigma_0, log tau_s, z (J), w (J)]``;
    calling the instance returns ``(log density, gradient)``.
    """

    def __init__(self, y, X, g, n_groups):
        self.y, self.X, self.g, self.J = y, X, g, int(n_groups)
        self.p = X.shape[1]
        self.dim = self.p + 3 + 2 * self.J

    def split(self, z):
        p, J = self.p, self.J
        z = np.asarray(z)
        sa, s0, ts = np.exp(z[..., p]), np.exp(z[..., p + 1]), np.exp(z[..., p + 2])
        u, v = z[..., p + 3:p + 3 + J], z[..., p + 3 + J:]
        sg = s0[..., None] * np.exp(ts[..., None] * v)
        return z[..., :p], sa, s0, ts, u, v, sg

    def __call__(self, z):
        # far-out warm-up proposals may overflow: the sampler treats a non-finite log density
        # as a divergence and rejects it, so silence NumPy's warnings here
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._eval(z)

    def _eval(self, z):
        p, J, g = self.p, self.J, self.g
        beta, sa, s0, ts, u, v, sg = self.split(z)
        logs = np.log(s0) + ts * v
        r = self.y - self.X @ beta - sa * u[g]
        inv2 = np.exp(-2.0 * logs)[g]
        lp = -np.sum(logs[g]) - 0.5 * np.sum(r * r * inv2)
        dmu = r * inv2
        h = np.bincount(g, r * r * inv2 - 1.0, J)        # d loglik / d log s_g
        lp += (-0.5 * beta @ beta / 100.0 - 0.5 * (sa * sa + s0 * s0) / 25.0 - 0.5 * ts * ts
               + np.log(sa) + np.log(s0) + np.log(ts) - 0.5 * u @ u - 0.5 * v @ v)
        grad = np.empty_like(z)
        grad[:p] = self.X.T @ dmu - beta / 100.0
        sum_g = np.bincount(g, dmu, J)
        grad[p] = sa * (sum_g @ u) - sa * sa / 25.0 + 1.0
        grad[p + 1] = np.sum(h) - s0 * s0 / 25.0 + 1.0
        grad[p + 2] = ts * (h @ v) - ts * ts + 1.0
        grad[p + 3:p + 3 + J] = sa * sum_g - u
        grad[p + 3 + J:] = ts * h - v
        return lp, grad


def lmm_bayes(y, X, groups, *, random_slopes=False, residual="normal", nu=None,
              group_variances=False, names=None,
              group_name=None, level=0.95, chains=4, warmup=1000, draws=1000, rng=None,
              target_accept=0.9, warn=True, method_reason=None):
    r"""Full-Bayes linear mixed model with varying intercepts (and slopes) by group.

    ``residual="normal"`` (compiled :class:`deconv.sampling.models.HierarchicalLinear`, one
    covariate ``x``):

    .. math::
        y_i \sim N(\beta_0 + a_{g[i]} + (\beta_1 + b_{g[i]}) x_i, \sigma^2),\quad
        a_g \sim N(0, \sigma_a^2),\quad b_g \sim N(0, \sigma_b^2)\ (\text{random\_slopes}),

    intercepts and slopes independent (lme4's ``y ~ x + (x || g)``). ``residual="student-t"``
    (the non-cute extension, :class:`StudentTLMM`, any number of covariates, random
    intercepts): :math:`y_i = X_i\beta + a_{g[i]} + \varepsilon_i`,
    :math:`\varepsilon_i \sim t_\nu(0, \sigma^2)` with ``nu`` fixed or (``nu=None``) sampled.

    Priors, on the standardised scale (``y`` centred and scaled to sd 1, each covariate divided
    by its sd; not centred, so intercepts keep their meaning at ``x = 0``): fixed effects
    :math:`N(0, 10^2)`, every scale half-normal(0, 5), :math:`\nu \sim \text{Gamma}(2, 0.1)`.

    Parameters
    ----------
    y : array_like (n,)
    X : array_like (n,) or (n, p)
        Covariates (no intercept column: it is added).
    groups : array_like (n,)
        Group labels.
    random_slopes : bool
        Also let the slope of ``x`` vary (normal residuals, one covariate).
    residual : {"normal", "student-t"}
    nu : float or None
        Degrees of freedom of Student-t residuals; ``None`` samples them.
    group_variances : bool
        Group-specific residual sds (normal residuals, random intercepts, any number of
        covariates): :class:`HeteroscedasticLMM`, :math:`\log s_g = \log\sigma_0 + \tau_s w_g`.
    names : list of str, optional
        Covariate names (default ``x`` or ``x0, x1, ...``, or the DataFrame's columns).
    group_name : str, optional
        Name of the grouping factor (default: the Series' name or ``"group"``).
    level, chains, warmup, draws, rng, target_accept, warn :
        As in :func:`normal_means_bayes`.

    Returns
    -------
    HierarchicalResult
        Rows named as :func:`deconv.hierarchical.lmm` names them: fixed ``(Intercept)`` and the
        covariates; variance components ``group: sd((Intercept))``, ``group: sd(x)``,
        ``Residual: sd`` (and ``nu``); group effects (deviations from the fixed effects) with
        rows ``"level: (Intercept)"`` / ``"level: x"``.

    Examples
    --------
    >>> from deconv.datasets.hierarchical import load_sleepstudy
    >>> from deconv.hierarchical.bayes import lmm_bayes
    >>> d = load_sleepstudy()
    >>> res = lmm_bayes(d["Reaction"], d["Days"], d["Subject"], rng=1, warmup=300, draws=300,
    ...                 warn=False)
    >>> bool(8 < res.fixed_effects["Days"]["estimate"] < 13)
    True
    """
    from deconv.sampling.models import HierarchicalLinear

    if residual not in ("normal", "student-t", "t"):
        raise ValueError(f"residual must be 'normal' or 'student-t', got {residual!r}")
    student = residual != "normal"
    level = check_level(level)
    yv = as_1d_float(y, "y", min_size=3)
    n = yv.size
    Xm = as_2d_float(np.asarray(X, dtype=float).reshape(n, -1) if np.ndim(X) == 1 else X, "X")
    if Xm.shape[0] != n:
        raise ValueError(f"X has {Xm.shape[0]} rows but y has {n} values")
    p = Xm.shape[1]
    if names is None:
        cols = getattr(X, "columns", None)
        nm = getattr(X, "name", None)
        names = [str(c) for c in cols] if cols is not None else \
            ([str(nm)] if nm is not None and p == 1 else (["x"] if p == 1 else [f"x{j}" for j in range(p)]))
    names = [str(s) for s in names]
    if len(names) != p:
        raise ValueError(f"names has {len(names)} entries but X has {p} columns")
    factor = _factor_name(groups, group_name)
    labels, g = _labels(np.asarray(groups), n)
    J = labels.size
    if nu is not None:
        nu = check_positive_scalar(nu, "nu")
    ybar, ysd = yv.mean(), yv.std(ddof=1)
    xsd = Xm.std(axis=0, ddof=1)
    if ysd == 0 or np.any(xsd == 0):
        raise ValueError("y and every column of X must vary")
    ys, Xs = (yv - ybar) / ysd, Xm / xsd
    kw = dict(chains=chains, warmup=warmup, draws=draws, rng=rng, target_accept=target_accept)
    lv = [str(v) for v in labels]
    extra_groups = {}
    if group_variances:
        if student or random_slopes:
            raise ValueError("group_variances=True supports normal residuals and random "
                             "intercepts only")
        D = np.column_stack([np.ones(n), Xs])
        model = HeteroscedasticLMM(ys, D, g, J)
        post, msgs = _sample(model, dim=model.dim, **kw)
        beta, sa_s, s0, ts, u, _, sg = model.split(post.draws)
        fixed = [("(Intercept)", ybar + ysd * beta[..., 0])] + \
            [(names[k], ysd / xsd[k] * beta[..., k + 1]) for k in range(p)]
        vc = [(f"{factor}: sd((Intercept))", ysd * sa_s),
              ("Residual: sd (geometric mean over groups)", ysd * s0),
              ("Residual: sd of log sd", ts)]
        dev = ysd * sa_s[..., None] * u
        rows = [f"{v}: (Intercept)" for v in lv]
        extra_groups[f"{factor}: residual sd"] = ([f"{v}: residual sd" for v in lv], ysd * sg)
        how = "Python density with group-specific residual sds, analytic gradient (non-centred)"
        prior_res = "log residual sd by group ~ N(log sigma_0, tau_s^2), tau_s ~ half-normal(0, 1)"
    elif not student:
        if p != 1:
            raise ValueError("the normal-residual sampler route (compiled HierarchicalLinear) takes "
                             f"one covariate; X has {p} columns (use residual='student-t' for "
                             "several, or deconv.hierarchical.lmm)")
        post, msgs = _sample(HierarchicalLinear(ys, Xs[:, 0], g, random_slopes=random_slopes), **kw)
        c = ysd / xsd[0]
        b0 = ybar + ysd * post["mu_a"]
        b1 = c * post["mu_b"]
        sa, sy = ysd * post["sigma_a"], ysd * post["sigma_y"]
        dev_a = ysd * (post["a"] - post["mu_a"][..., None])
        fixed = [("(Intercept)", b0), (names[0], b1)]
        vc = [(f"{factor}: sd((Intercept))", sa)]
        rows = [f"{v}: (Intercept)" for v in lv]
        dev = dev_a
        if random_slopes:
            vc.append((f"{factor}: sd({names[0]})", c * post["sigma_b"]))
            dev_b = c * (post["b"] - post["mu_b"][..., None])
            # rows ordered as lmm orders a correlated term: level-major
            dev = np.stack([dev_a, dev_b], axis=-1).reshape(*dev_a.shape[:2], 2 * J)
            rows = [f"{v}: {cn}" for v in lv for cn in ("(Intercept)", names[0])]
        vc.append(("Residual: sd", sy))
        how = ("compiled HierarchicalLinear model (non-centred, independent intercepts and "
               "slopes)" if random_slopes else "compiled HierarchicalLinear model (non-centred)")
        prior_res = "normal residuals"
    else:
        if random_slopes:
            raise ValueError("residual='student-t' supports random intercepts only")
        D = np.column_stack([np.ones(n), Xs])
        model = StudentTLMM(ys, D, g, J, nu=nu)
        post, msgs = _sample(model, dim=model.dim, **kw)
        beta, sa_s, sig_s, nu_d, u = model.split(post.draws)
        b0 = ybar + ysd * beta[..., 0]
        fixed = [("(Intercept)", b0)] + [(names[k], ysd / xsd[k] * beta[..., k + 1])
                                         for k in range(p)]
        vc = [(f"{factor}: sd((Intercept))", ysd * sa_s), ("Residual: scale", ysd * sig_s)]
        if nu is None:
            vc.append(("Residual: nu", nu_d))
        dev = ysd * sa_s[..., None] * u
        rows = [f"{v}: (Intercept)" for v in lv]
        how = "Python Student-t density with analytic gradient (non-centred)"
        prior_res = "Student-t residuals, " + ("nu ~ Gamma(2, 0.1)" if nu is None else f"nu = {nu:g}")
    allnames = [n_ for n_, _ in fixed + vc] + [f"b[{r}]" for r in rows]
    full = [np.stack([d for _, d in fixed + vc], axis=-1), dev]
    for rr, dd in extra_groups.values():
        allnames += [f"s[{r_}]" for r_ in rr]
        full.append(dd)
    out_post = _relabel(post, np.concatenate(full, axis=-1), allnames)
    raw = None if random_slopes else {factor: _raw_intercepts(
        yv, Xm, g, J, fixed[0][1].mean(), np.array([d.mean() for _, d in fixed[1:]]))}
    prior = ("on standardised data: fixed effects N(0, 10^2), scales half-normal(0, 5); "
             + prior_res)
    reason = method_reason or f"full Bayes by NUTS: {how}"
    return _finish(out_post, msgs, model="linear mixed model", reason=reason, fixed=fixed, vc=vc,
                   groups={factor: (rows, dev), **extra_groups}, level=level, prior=prior,
                   nobs=n, warn=warn, raw=raw)


def _raw_intercepts(y, X, g, J, b0, b):
    """Per-group mean residual from the fixed part: the unpooled intercept deviations."""
    r = y - b0 - X @ b
    return np.bincount(g, r, J) / np.bincount(g, minlength=J)


# --------------------------------------------------------------------------------- GLMMs
def glmm_bayes(y, X, groups, *, family="binomial", trials=None, offset=None, names=None,
               group_name=None, level=0.95, chains=4, warmup=1000, draws=1000, rng=None,
               target_accept=0.9, warn=True, method_reason=None):
    r"""Full-Bayes hierarchical logistic or Poisson regression with group intercepts.

    .. math::
        \eta_i = x_i^\top\beta + a_{g[i]} + \text{offset}_i,\quad a_g = \sigma_a z_g,\
        z_g \sim N(0, 1),\quad
        y_i \sim \text{Binomial}(n_i, \text{logit}^{-1}\eta_i)\ \text{or}\ \text{Poisson}(e^{\eta_i}),

    with :math:`\beta \sim N(0, 5^2)` and :math:`\sigma_a \sim \text{half-normal}(0, 2.5)` (the
    compiled :class:`deconv.sampling.models.HierarchicalGLM`, on the data's scale).

    Parameters
    ----------
    y : array_like (n,) or (n, 2)
        Counts (Poisson), successes (binomial, with ``trials``) or ``(successes, failures)``
        columns as :func:`deconv.hierarchical.glmm` takes them.
    X : array_like (n,) or (n, p) or None
        Covariates without the intercept column (it is added).
    groups : array_like (n,)
    family : {"binomial", "poisson"}
    trials : array_like (n,), optional
        Binomial trials (default 1, or successes + failures for a two-column ``y``).
    offset : array_like (n,), optional
        Known offset of the linear predictor (log exposure for Poisson).
    names, group_name, level, chains, warmup, draws, rng, target_accept, warn :
        As in :func:`lmm_bayes`.

    Returns
    -------
    HierarchicalResult
        Fixed effects ``(Intercept)`` and covariates, variance component
        ``group: sd((Intercept))`` and group intercept deviations ``"level: (Intercept)"``.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.hierarchical.bayes import glmm_bayes
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(10), 20); x = rng.normal(size=200)
    >>> y = rng.poisson(np.exp(0.5 + 0.3 * x + rng.normal(0, 0.5, 10)[g]))
    >>> res = glmm_bayes(y, x, g, family="poisson", rng=0, warmup=300, draws=300, warn=False)
    >>> bool(0.1 < res.fixed_effects["x"]["estimate"] < 0.5)
    True
    """
    from deconv.sampling.models import HierarchicalGLM

    family = str(family).lower()
    if family not in ("binomial", "poisson"):
        raise ValueError(f"family must be 'binomial' or 'poisson', got {family!r}")
    level = check_level(level)
    ya = np.asarray(y, dtype=float)
    if ya.ndim == 2:
        if family != "binomial" or ya.shape[1] != 2:
            raise ValueError("a two-column y means (successes, failures): binomial only")
        if trials is not None:
            raise ValueError("give trials or a two-column y, not both")
        trials, ya = ya[:, 0] + ya[:, 1], ya[:, 0]
    yv = as_1d_float(ya, "y", min_size=2)
    n = yv.size
    if X is None:
        Xm, p = None, 0
    else:
        Xm = as_2d_float(np.asarray(X, dtype=float).reshape(n, -1) if np.ndim(X) == 1 else X, "X")
        p = Xm.shape[1]
    if names is None:
        cols, nm = getattr(X, "columns", None), getattr(X, "name", None)
        names = [str(c) for c in cols] if cols is not None else \
            ([str(nm)] if nm is not None and p == 1 else (["x"] if p == 1 else [f"x{j}" for j in range(p)]))
    names = [str(s) for s in names]
    if len(names) != p:
        raise ValueError(f"names has {len(names)} entries but X has {p} columns")
    factor = _factor_name(groups, group_name)
    labels, g = _labels(np.asarray(groups), n)
    model = HierarchicalGLM(yv, Xm, g, family="logistic" if family == "binomial" else "poisson",
                            trials=trials, offset=offset)
    post, msgs = _sample(model, chains=chains, warmup=warmup, draws=draws, rng=rng,
                         target_accept=target_accept)
    beta = post["beta"]
    fixed = [(nm, beta[..., k]) for k, nm in enumerate(["(Intercept)"] + names)]
    vc = [(f"{factor}: sd((Intercept))", post["sigma_a"])]
    dev = post["a"]
    rows = [f"{v}: (Intercept)" for v in labels]
    allnames = [n_ for n_, _ in fixed + vc] + [f"b[{r}]" for r in rows]
    full = np.concatenate([np.stack([d for _, d in fixed + vc], axis=-1), dev], axis=-1)
    reason = method_reason or "full Bayes by NUTS: compiled HierarchicalGLM model (non-centred)"
    prior = "beta ~ N(0, 5^2), sigma_a ~ half-normal(0, 2.5)"
    return _finish(_relabel(post, full, allnames), msgs, model=f"GLMM ({family})", reason=reason,
                   fixed=fixed, vc=vc, groups={factor: (rows, dev)}, level=level, prior=prior,
                   nobs=n, warn=warn)


# ------------------------------------------------------------------- the front door's router
_SAMPLER_KW = ("chains", "warmup", "draws", "rng", "target_accept", "warn")


def fit_sampler(model, data=None, *, se=None, X=None, groups=None, Z=None, family="gaussian",
                residual="normal", group_variances=False, error_sd=None, level=0.95,
                correlated=True, nu=None, method_reason=None, **kwargs):
    """Route a model stated as :func:`deconv.hierarchical.fit` states it to a sampler route.

    Called by ``fit(method="sampler")`` and by ``fit(method="auto")`` for non-cute models.
    Supported: normal means (``se=``); Gaussian models with one grouping factor and random
    intercepts, or independent random intercept and slope on the single covariate
    (``y ~ x + (x || g)``); Student-t residuals with random intercepts (any fixed effects);
    binomial/Poisson models with random intercepts. Anything else raises
    :class:`NotImplementedError` naming the missing part. ``kwargs`` may hold ``chains``,
    ``warmup``, ``draws``, ``rng``, ``target_accept``, ``warn`` and (normal means)
    ``mu_prior_sd``, ``tau_prior_scale``, ``names``.
    """
    from deconv.hierarchical.design import design_from_arrays, design_from_formula

    if error_sd is not None:
        raise NotImplementedError("error-prone covariates inside a mixed model have no sampler "
                                  "route yet; for a regression with one error-prone covariate "
                                  "use deconv.eiv.bayes (latent-X structural model)")
    if residual not in ("normal", "student-t", "t"):
        raise ValueError(f"residual must be 'normal' or 'student-t', got {residual!r}")
    if se is not None and group_variances:
        raise ValueError("group_variances does not apply to normal means (the se are known)")
    if se is not None:
        if isinstance(model, str):
            raise TypeError("with se= give the group estimates y as an array, not a formula")
        if residual != "normal":
            raise NotImplementedError("Student-t normal means have no sampler route yet")
        return normal_means_bayes(model, se, level=level, method_reason=method_reason, **kwargs)
    bad = set(kwargs) - set(_SAMPLER_KW)
    if bad:
        raise TypeError(f"unexpected keyword argument(s) for the sampler route: {sorted(bad)}")
    binom = family == "binomial"
    if isinstance(model, str):
        design = design_from_formula(model, data)
    else:
        design = design_from_arrays(model, X, groups, Z, correlated=correlated,
                                    offset=kwargs.pop("offset", None), binomial=binom)
    design.check()
    terms = design.terms
    if not terms:
        raise ValueError("the model has no random-effect terms")
    factors = {t.factor for t in terms}
    if len(factors) != 1:
        raise NotImplementedError("the sampler routes take one grouping factor; nested/crossed "
                                  f"factors {sorted(factors)} have no compiled model yet")
    factor = terms[0].factor
    if any(t.k > 1 for t in terms):
        raise NotImplementedError(
            "correlated random effects (x | g) have no sampler route: the compiled model has "
            "independent intercepts and slopes; state (x || g), or use REML for (x | g)")
    has_icpt = design.p > 0 and np.all(design.X[:, 0] == 1.0)
    if not has_icpt or not any(np.all(t.Xr[:, 0] == 1.0) for t in terms):
        raise NotImplementedError("the sampler routes need a fixed intercept (first column of "
                                  "X all ones) and a random intercept")
    slopes = [t for t in terms if not np.all(t.Xr[:, 0] == 1.0)]
    Xc, xn = design.X[:, 1:], design.xnames[1:]
    codes = terms[0].codes
    levels = terms[0].levels
    if family == "gaussian":
        if slopes:
            if len(slopes) > 1 or Xc.shape[1] != 1 or residual != "normal" or \
                    not np.allclose(slopes[0].Xr[:, 0], Xc[:, 0]):
                raise NotImplementedError(
                    "random slopes in the sampler route: one covariate, normal residuals, slope "
                    "on the fixed covariate (compiled HierarchicalLinear)")
        if Xc.shape[1] == 0:
            raise NotImplementedError("the Gaussian sampler route needs at least one covariate")
        if group_variances and (slopes or residual != "normal"):
            raise NotImplementedError("group-specific residual variances: normal residuals and "
                                      "random intercepts only")
        res = lmm_bayes(design.y, Xc, codes, random_slopes=bool(slopes), residual=residual,
                        nu=nu, group_variances=group_variances, names=xn, group_name=factor, level=level,
                        method_reason=method_reason, **kwargs)
    else:
        if slopes:
            raise NotImplementedError("GLMM sampler route: random intercepts only "
                                      "(compiled HierarchicalGLM)")
        if residual != "normal" or group_variances:
            raise ValueError("residual and group_variances apply to Gaussian models only")
        off = design.offset if np.any(design.offset != 0) else None
        res = glmm_bayes(design.y, Xc if Xc.shape[1] else None, codes, family=family,
                         offset=off, names=xn, group_name=factor, level=level,
                         method_reason=method_reason, **kwargs)
    _rename_levels(res, factor, levels)
    res.formula = design.formula
    return res


def _rename_levels(res, factor, levels):
    """Integer codes -> the design's level labels, in group tables and posterior names."""
    def fix(name):
        code, _, coef = name.partition(": ")
        return f"{levels[int(code)]}: {coef}"

    for key, tab in res.group_effects.items():
        if key == factor or key.startswith(f"{factor}: "):
            tab.names = [fix(n) for n in tab.names]
    post = res.posterior
    post.names = [f"{n[0]}[{fix(n[2:-1])}]" if n[:2] in ("b[", "s[") else n for n in post.names]
