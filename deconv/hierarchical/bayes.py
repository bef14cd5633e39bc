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
:func:`mixed_bayes`         any mixed model: correlated (LKJ) or independent    compiled
(``fit_sampler``)           effects, several factors (nested, crossed),         (one general
                            Gaussian / Student-t / group residual sds /         model)
                            binomial / Poisson, an error-prone covariate
:func:`normal_means_bayes`  :math:`y_j \sim N(\theta_j, s_j^2)`,                compiled
                            :math:`\theta_j \sim N(\mu, \tau^2)`                (or Python)
:func:`lmm_bayes`           one factor, varying intercepts (and slopes);        compiled
                            Student-t or group sds -> the general model
:func:`glmm_bayes`          binomial-logit / Poisson-log, group intercepts      compiled
                            (``random_slopes`` -> the general model)
==========================  ==================================================  ==============

Group effects are non-centred (:math:`b = \operatorname{diag}(s) L z`, :math:`z \sim N(0, I)`),
which removes the funnel between a group scale and its effects when the scale is small --
exactly the case where the REML mode is degenerate and the posterior expectation is what the
user wants; :func:`mixed_bayes` centres a term instead when the exact fit shows that the data
pin its levels down (there the non-centred form is the harder geometry).

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
from deconv.hierarchical.formula import categorical_parts, factor_codes
from deconv.hierarchical.results import EffectTable, HierarchicalResult
from deconv.sampling import diagnostics as dg
from deconv.sampling.draws import Posterior
from deconv.sampling.nuts import check_diagnostics, nuts

__all__ = ["normal_means_bayes", "lmm_bayes", "glmm_bayes", "mixed_bayes", "fit_sampler",
           "StudentTLMM",
           "HeteroscedasticLMM", "NormalMeansModel"]

_INTERVAL = "equal-tailed posterior quantiles (NUTS)"


# --------------------------------------------------------------------------- shared plumbing
def _sample(model, *, chains, warmup, draws, rng, target_accept, dim=None, init=None,
            metric="grad"):
    """Run NUTS without warnings; return the posterior and its diagnostic messages."""
    post = nuts(model, init=init, chains=chains, warmup=warmup, draws=draws, rng=rng,
                target_accept=target_accept, dim=dim, warn=False, metric=metric)
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
    # the level order of the exact solvers (formula.factor_codes): a pandas Categorical
    # keeps its categories' order, numeric strings sort by value
    g = groups if categorical_parts(groups) is not None else np.asarray(groups)
    if np.ndim(g) != 1 or len(g) != n:
        raise ValueError(f"groups must be 1-D with one label per observation ({n}), got shape "
                         f"{np.shape(g)}")
    idx, labels = factor_codes(g, "groups")
    labels = np.asarray(labels)
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
    labels, g = _labels(groups, n)
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
    if student or group_variances or p != 1:
        # the non-cute extensions (Student-t residuals with nu fixed or sampled; a residual sd
        # per group) and several covariates run on the compiled general mixed model
        from deconv.hierarchical.design import Design, RandomTerm
        if group_variances and (student or random_slopes):
            raise ValueError("group_variances=True supports normal residuals and random "
                             "intercepts only")
        Zr, cn = np.ones((n, 1)), ["(Intercept)"]
        terms = [RandomTerm(factor, g, lv, Zr, cn)]
        if random_slopes:
            if p != 1:
                raise ValueError(f"random_slopes takes one covariate; X has {p} columns")
            terms.append(RandomTerm(factor, g, lv, Xm, names))
        design = Design(yv, np.column_stack([np.ones(n), Xm]), ["(Intercept)"] + names, terms)
        res = mixed_bayes(design, residual=residual, nu=nu, group_variances=group_variances,
                          level=level, warn=warn, method_reason=method_reason, **kw)
        res.formula = None
        return res
    # normal residuals: the compiled HierarchicalLinear model (sufficient statistics)
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
               group_name=None, random_slopes=False, level=0.95, chains=4, warmup=1000,
               draws=1000, rng=None, target_accept=0.9, warn=True, method_reason=None):
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
    random_slopes : bool
        Let every covariate's slope vary by group too, correlated with the intercept
        (lme4's ``(x | g)``): sampled on the compiled mixed model
        (:func:`mixed_bayes`, LKJ(2) on the correlations).

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
    labels, g = _labels(groups, n)
    if random_slopes:
        from deconv.hierarchical.design import Design, RandomTerm
        if p == 0:
            raise ValueError("random_slopes needs covariates in X")
        tr = np.ones(n) if trials is None else as_1d_float(trials, "trials")
        if tr.size != n:
            raise ValueError(f"trials has {tr.size} values but y has {n}")
        yy = np.column_stack([yv, tr - yv]) if family == "binomial" else yv
        if family != "binomial" and trials is not None:
            raise ValueError("trials is only used with family='binomial'")
        off = None if offset is None else as_1d_float(offset, "offset")
        D = np.column_stack([np.ones(n), Xm])
        term = RandomTerm(factor, g, [str(v) for v in labels], D, ["(Intercept)"] + names)
        design = Design(yy, D, ["(Intercept)"] + names, [term], off)
        return mixed_bayes(design, family=family, level=level, chains=chains, warmup=warmup,
                           draws=draws, rng=rng, target_accept=target_accept, warn=warn,
                           method_reason=method_reason)
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


# -------------------------------------------------- the general compiled mixed model
def _col_scale(M):
    """Per-column scale: the sd, or 1 for a constant column (intercepts, dummies stay put)."""
    sd = M.std(axis=0, ddof=1) if M.shape[0] > 1 else np.ones(M.shape[1])
    const = np.ptp(M, axis=0) == 0
    return np.where(const | (sd == 0), 1.0, sd)


def _term_tags(terms):
    """lme4's labels: a factor's first term is 'f', the next 'f.1', ... (as lmm names them)."""
    seen, tags = {}, []
    for t in terms:
        seen[t.factor] = seen.get(t.factor, 0) + 1
        tags.append(t.factor if seen[t.factor] == 1 else f"{t.factor}.{seen[t.factor] - 1}")
    return tags


_DENSE_MAX_DIM = 250   # the dense metric costs O(d^2) per leapfrog step


def _mixed_graph(design, family, student, nu, sd_factor, latent):
    """The lmm graph plus the nodes of the non-cute extensions."""
    from deconv.hierarchical.graph import Node, lmm_graph

    g = lmm_graph(design, family)
    if student:
        g.nodes["y"].distribution = "t_nu(X beta + Z b, sigma^2)"
        if nu is None:
            g.add_node(Node("nu", "parameter", "Gamma(2, 0.1)"))
            g.add_edge("nu", "y")
    if sd_factor is not None:
        g.nodes["y"].distribution = f"N(X beta + Z b, sigma_{sd_factor}^2)"
        g.add_node(Node("tau_s", "parameter", "half-normal: spread of log sds"))
        g.add_node(Node(f"sigma_{sd_factor}", "latent", "log-normal(log sigma, tau_s^2)",
                        plate=sd_factor))
        g.add_edge("tau_s", f"sigma_{sd_factor}")
        g.add_edge("sigma", f"sigma_{sd_factor}")
        g.add_edge(f"sigma_{sd_factor}", "y")
    if latent is not None:
        x = latent[3]
        plate = f"obs ({design.n})"
        for nd in (Node("mu_x", "parameter", "normal"), Node("sigma_x", "parameter", "scale > 0"),
                   Node(f"{x}_true", "latent", "N(mu_x, sigma_x^2)", plate=plate),
                   Node("s_u", "constant", "error sd (" + latent[4] + ")", plate=plate),
                   Node(f"{x}_observed", "observed", f"N({x}_true, s_u^2)", plate=plate)):
            g.add_node(nd)
        for a, b in (("mu_x", f"{x}_true"), ("sigma_x", f"{x}_true"), (f"{x}_true", "y"),
                     (f"{x}_true", f"{x}_observed"), ("s_u", f"{x}_observed")):
            g.add_edge(a, b)
    return g


def _auto_centering(design, family, X):
    """Per term: centre when the data pin the level effects down, judged from the exact fit.

    A REML fit (Gaussian) or Laplace fit (binomial/Poisson) of the same design gives each
    level's conditional sd and the term's sd. When the conditional sds are small against the
    sd (median ratio < 0.5, i.e. a level's data weigh more than about 3 prior draws), the
    non-centred form makes a narrow curved ridge between the sd and the standardised effects
    (the posterior of b_j hardly depends on the sd) and the centred form samples better; when
    they are close to 1 (little data per level, or an sd near 0) the centred form has the
    funnel. Papaspiliopoulos, Roberts & Skold (2007); Betancourt & Girolami (2015). Any
    failure of the exact fit falls back to non-centred.
    """
    from deconv.hierarchical.generalized import glmm
    from deconv.hierarchical.mixed import lmm

    keys = [f"t{k}" for k in range(len(design.terms))]
    groups = {k: t.codes for k, t in zip(keys, design.terms)}
    Z = {k: t.Xr for k, t in zip(keys, design.terms)}
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if family == "gaussian":
                fit = lmm(y=design.y - design.offset, X=X, groups=groups, Z=Z)
            else:
                y = design.y if family == "poisson" else np.asarray(design.y).reshape(design.n, -1)
                fit = glmm(y=y, X=X, groups=groups, Z=Z, family=family, offset=design.offset)
        out = []
        vc = fit.variance_components
        for k, t in zip(keys, design.terms):
            csd = fit.group_effects[k].se.reshape(t.n_levels, t.k)
            sd = np.array([e for nm, e in zip(vc.names, vc.estimate)
                           if nm.startswith(f"{k}: sd(")])
            ratio = np.median(csd / np.maximum(sd, 1e-12), axis=0)
            out.append(bool(np.all(np.isfinite(ratio)) and np.max(ratio) < 0.5))
        return out
    except Exception:  # noqa: BLE001 -- a heuristic only: never let it stop the sampler
        return [False] * len(design.terms)


def _latent_column(design, error_sd, replicates):
    """(column index, W, error sd per observation) for the error-prone covariate, or None."""
    if error_sd is None and replicates is None:
        return None
    spec = replicates if replicates is not None else error_sd
    if error_sd is not None and replicates is not None:
        raise ValueError("give error_sd or replicates, not both")
    if not isinstance(spec, dict):
        cand = [j for j, nm in enumerate(design.xnames) if nm != "(Intercept)"]
        if len(cand) != 1:
            raise ValueError("with several covariates, give error_sd (or replicates) as a dict "
                             f"{{covariate name: value}}; covariates: {design.xnames}")
        spec = {design.xnames[cand[0]]: spec}
    if len(spec) != 1:
        raise NotImplementedError("the compiled mixed model has one error-prone covariate; "
                                  f"got {sorted(spec)}")
    name, val = next(iter(spec.items()))
    if name not in design.xnames or name == "(Intercept)":
        raise ValueError(f"error-prone covariate {name!r} is not a covariate of the model "
                         f"({design.xnames})")
    col = design.xnames.index(name)
    n = design.n
    if replicates is not None:
        R = np.asarray(val, dtype=np.float64)
        if R.ndim != 2 or R.shape[0] != n:
            raise ValueError(f"replicates[{name!r}] must be an (n, k) array with n = {n}")
        k = np.sum(np.isfinite(R), axis=1)
        if np.any(k < 1):
            raise ValueError(f"replicates[{name!r}]: every row needs a finite replicate")
        W = np.nanmean(R, axis=1)
        m = k >= 2
        if not np.any(m):
            raise ValueError(f"replicates[{name!r}]: no row has two replicates")
        # pooled within-row variance; the mean of k_i replicates has variance s_u^2 / k_i
        su2 = np.nansum((R[m] - W[m, None]) ** 2) / np.sum(k[m] - 1)
        su = np.sqrt(su2 / k)
        how = f"replicate-estimated error sd {np.sqrt(su2):.4g} (pooled, {int(np.sum(k[m] - 1))} df)"
    else:
        W = design.X[:, col].copy()
        su = np.broadcast_to(np.asarray(val, dtype=np.float64), (n,)).copy()
        if not np.all(np.isfinite(su)) or np.any(su <= 0):
            raise ValueError("error_sd must be finite and positive")
        how = "known error sd"
    for t in design.terms:
        if np.any([np.allclose(t.Xr[:, c], design.X[:, col]) for c in range(t.k)]):
            raise NotImplementedError(f"a random slope on the error-prone covariate {name!r} "
                                      "has no sampler route")
    return col, W, su, name, how


def mixed_bayes(design, *, family="gaussian", residual="normal", nu=None, group_variances=False,
                error_sd=None, replicates=None, priors=None, centered="auto", metric="auto",
                level=0.95,
                chains=4, warmup=1000, draws=1000, rng=None, target_accept=0.9, warn=True,
                method_reason=None):
    r"""Full-Bayes (generalised) linear mixed model through the compiled mixed-model density.

    .. math::
        \eta_i = o_i + x_i^\top\beta + \sum_k Z_{k,i}^\top b_{k,g_k(i)},\quad
        b_{k,j} \sim N(0, \Sigma_k),\ \Sigma_k = \operatorname{diag}(s_k)\,\Omega_k\,
        \operatorname{diag}(s_k),\ \Omega_k \sim \text{LKJ}(2),

    any number of terms and grouping factors (nested, crossed), each correlated term with its
    own covariance, and the response Gaussian, Student-t (``residual="student-t"``, ``nu``
    fixed or sampled with a Gamma(2, 0.1) prior), Gaussian with a residual sd per level of a
    grouping factor (``group_variances``), binomial with trials or Poisson with an offset.
    An error-prone covariate (``error_sd`` or ``replicates``) is replaced by its latent true
    value :math:`\xi_i \sim N(\mu_x, \sigma_x^2)`, observed as :math:`W_i = \xi_i + U_i`.
    The density and its gradient are the C code of :class:`deconv.sampling.mixed_model.MixedModel`
    (non-centred, b = diag(s) L z).

    Priors (rstanarm-like, on standardised data): for Gaussian models ``y`` is centred (when
    there is an intercept) and scaled to sd 1, every non-constant column of ``X`` and of the
    random-effect designs divided by its sd; then fixed effects :math:`N(0, 10^2)`, random-effect
    sds and :math:`\sigma` half-normal(0, 5), LKJ(2) on correlations. For binomial/Poisson the
    columns are scaled likewise, fixed effects :math:`N(0, 5^2)` and sds half-normal(0, 2.5).
    ``priors`` overrides any key of :data:`deconv.sampling.mixed_model.DEFAULT_PRIORS`.

    Parameters
    ----------
    design : deconv.hierarchical.design.Design
        From :func:`~deconv.hierarchical.design.design_from_formula` or ``design_from_arrays``.
    family : {"gaussian", "binomial", "poisson"}
    residual : {"normal", "student-t"}
    nu : float, optional
        Fixed Student-t degrees of freedom.
    group_variances : bool or str
        Residual sd per level of a grouping factor: ``True`` (the only factor) or its name;
        :math:`\log\sigma_h = \log\sigma_0 + \tau_s w_h`, :math:`\tau_s \sim` half-normal(0, 1).
    error_sd : float, array or dict, optional
        Known measurement-error sd of one covariate (``{name: sd}``; a bare value when the
        model has one covariate); the covariate's column holds the measurements.
    replicates : dict, optional
        ``{name: (n, k) array}`` of replicate measurements (NaN for missing): their row means
        replace the column and the error variance is the pooled within-row variance / k_i.
    priors : dict, optional
    level, chains, warmup, draws, rng, target_accept, warn, method_reason :
        As in :func:`lmm_bayes`.

    Returns
    -------
    HierarchicalResult
        Named as :func:`deconv.hierarchical.lmm` names its rows: fixed effects, variance
        components ``f: sd(coef)``, ``f: cor(c1, c2)``, ``Residual: sd`` (or ``scale``/``nu``;
        group sds in ``group_effects["Residual: sd by <f>"]``), latent-covariate parameters
        ``<x>: mean``/``<x>: sd``, and one group-effect table per term.

    References
    ----------
    Bates, D., Maechler, M., Bolker, B. and Walker, S. (2015). Fitting linear mixed-effects
    models using lme4. *J. Stat. Softw.* 67(1).
    Goodrich, B., Gabry, J., Ali, I. and Brilleman, S. (2020). rstanarm: Bayesian applied
    regression modeling via Stan (prior defaults scaled to the data).
    Lewandowski, D., Kurowicka, D. and Joe, H. (2009). *J. Multivariate Anal.* 100, 1989-2001.

    Examples
    --------
    >>> from deconv.datasets.hierarchical import load_sleepstudy
    >>> from deconv.hierarchical.design import design_from_formula
    >>> from deconv.hierarchical.bayes import mixed_bayes
    >>> d = design_from_formula("Reaction ~ Days + (Days | Subject)", load_sleepstudy())
    >>> res = mixed_bayes(d, rng=1, chains=2, warmup=300, draws=300, warn=False)
    >>> bool(8 < res.fixed_effects["Days"]["estimate"] < 13)
    True
    """
    from deconv.sampling.mixed_model import MixedModel

    family = str(family).lower()
    if family not in ("gaussian", "binomial", "poisson"):
        raise ValueError(f"family must be 'gaussian', 'binomial' or 'poisson', got {family!r}")
    if residual not in ("normal", "student-t", "t"):
        raise ValueError(f"residual must be 'normal' or 'student-t', got {residual!r}")
    student = residual != "normal"
    gauss = family == "gaussian"
    if not gauss and (student or group_variances):
        raise ValueError("residual and group_variances apply to Gaussian models only")
    if student and group_variances:
        raise NotImplementedError("Student-t residuals with group-specific scales have no "
                                  "sampler route")
    if nu is not None:
        nu = check_positive_scalar(nu, "nu")
        if not student:
            raise ValueError("nu applies to residual='student-t' only")
    level = check_level(level)
    design.check(gaussian=gauss)
    terms = design.terms
    n, p = design.n, design.p
    X = design.X.copy()
    latent = _latent_column(design, error_sd, replicates)
    if latent is not None:
        X[:, latent[0]] = latent[1]
    icpt = [j for j in range(p) if np.all(X[:, j] == 1.0)]
    icpt = icpt[0] if icpt else None
    kwm = {}
    if gauss:
        yv = np.asarray(design.y, dtype=np.float64)
        ybar = yv.mean() if icpt is not None else 0.0
        ysd = yv.std(ddof=1)
        if ysd == 0:
            raise ValueError("the response does not vary")
        ys = (yv - ybar) / ysd
        off = design.offset / ysd
        fam = "student-t" if student else ("group-sd" if group_variances else "gaussian")
        pri = {}
    else:
        ybar, ysd = 0.0, 1.0
        if family == "binomial":
            ya = np.asarray(design.y, dtype=np.float64)
            if ya.ndim == 2:
                ys, kwm["trials"] = ya[:, 0], ya[:, 0] + ya[:, 1]
            else:
                ys, kwm["trials"] = ya, np.ones(n)
        else:
            ys = np.asarray(design.y, dtype=np.float64)
        off = design.offset
        fam = family
        pri = {"beta_sd": 5.0, "intercept_sd": 5.0, "sd_scale": 2.5}
    pri.update(priors or {})
    fx = _col_scale(X)
    Xs = X / fx
    fz = [_col_scale(t.Xr) for t in terms]
    mterms = [(t.codes, t.Xr / f, t.k > 1) for t, f in zip(terms, fz)]
    tags = _term_tags(terms)
    sd_factor = None
    if group_variances:
        facs = sorted({t.factor for t in terms})
        if group_variances is True:
            if len(facs) != 1:
                raise ValueError(f"several grouping factors {facs}: give group_variances as "
                                 "the factor's name")
            sd_factor = facs[0]
        else:
            sd_factor = str(group_variances)
            if sd_factor not in facs:
                raise ValueError(f"group_variances={sd_factor!r} is not a grouping factor "
                                 f"({facs})")
        st = next(t for t in terms if t.factor == sd_factor)
        kwm["sd_groups"] = st.codes
    if latent is not None:
        kwm["latent_col"] = latent[0]
        kwm["error_sd"] = latent[2] / fx[latent[0]]
    if isinstance(centered, str):
        if centered != "auto":
            raise ValueError(f"centered must be 'auto', a bool or one bool per term, got "
                             f"{centered!r}")
        # Student-t residuals: the Gaussian fit overstates how well the data pin the effects
        # down (measured: centring gave divergences); keep them non-centred
        centered = [False] * len(terms) if student else _auto_centering(design, family, X)
    model = MixedModel(ys, Xs, mterms, fam, offset=off, nu=nu if student else None,
                       intercept_col=icpt, priors=pri, centered=centered, **kwm)
    if metric == "auto":
        # the centred form leaves linear correlations (intercept vs the level effects) that a
        # dense metric removes; beyond a few hundred dimensions its O(d^2) cost is too high
        # (with only non-centred terms it buys little and costs much: a binomial random-slope
        # model ran 10x slower). Student-t: the non-centred intercept/effects ridge needs it
        # too (measured: R-hat 1.14 with "grad", 1.00 with "dense" at 4 x 500).
        # With hierarchical centring (a centred coefficient sampled as beta_f + b) the
        # intercept is no longer confounded with the level effects, so only centred
        # coefficients without their own fixed effect (the second of two crossed intercepts)
        # still need it (measured, crossed 20 x 15: R-hat 1.025 "grad", 1.005 "dense").
        small = model.dim <= _DENSE_MAX_DIM
        loose = any(c and min(t["fmap"]) < 0 for c, t in zip(model.centered, model.terms))
        # A latent covariate couples its slope with mu_x, sigma_x and sigma (measured with
        # replicates: R-hat 1.016 "grad", 1.00 "dense").
        # Group residual sds: log sd_h = log sigma_0 + tau_s w_h is non-centred and, with much
        # data per group, a ridge of the same kind (R-hat 1.018 "grad" at 4 x 1000).
        metric = "dense" if small and (loose or student or latent is not None
                                       or fam == "group-sd") else "grad"
    post, msgs = _sample(model, chains=chains, warmup=warmup, draws=draws, rng=rng,
                         target_accept=target_accept, metric=metric)
    u = model.unpack(post.unconstrained)
    beta = u["beta"] * (ysd / fx)
    if icpt is not None:
        beta[..., icpt] += ybar
    fixed = [(nm, beta[..., j]) for j, nm in enumerate(design.xnames)]
    vc, groups, raw = [], {}, {}
    for k, (t, tag, f) in enumerate(zip(terms, tags, fz)):
        sd = u[f"sd[{k}]"] * (ysd / f)
        vc += [(f"{tag}: sd({cn})", sd[..., c]) for c, cn in enumerate(t.coef_names)]
        R = u[f"cor[{k}]"]
        vc += [(f"{tag}: cor({t.coef_names[j]}, {t.coef_names[i]})", R[..., i, j])
               for j in range(t.k) for i in range(j + 1, t.k)]
        b = u[f"b[{k}]"] * (ysd / f)
        rows = [f"{lv}: {cn}" for lv in t.levels for cn in t.coef_names]
        groups[tag] = (rows, b.reshape(b.shape[:2] + (-1,)))
    if fam == "gaussian":
        vc.append(("Residual: sd", ysd * u["sigma"]))
    elif fam == "student-t":
        vc.append(("Residual: scale", ysd * u["sigma"]))
        if nu is None:
            vc.append(("Residual: nu", u["nu"]))
    elif fam == "group-sd":
        vc += [("Residual: sd (geometric mean over groups)", ysd * u["sigma_0"]),
               ("Residual: sd of log sd", u["tau_s"])]
        st = next(t for t in terms if t.factor == sd_factor)
        groups[f"{sd_factor}: residual sd"] = ([f"{lv}: residual sd" for lv in st.levels],
                                               ysd * u["sigma_groups"])
    if latent is not None:
        fw = fx[latent[0]]
        vc += [(f"{latent[3]}: mean (latent)", fw * u["mu_x"]),
               (f"{latent[3]}: sd (latent)", fw * u["sigma_x"])]
        groups[f"{latent[3]}: latent true values"] = (
            [f"{i}" for i in range(n)], fw * u["x"])
    if gauss and latent is None:
        bm = np.array([d.mean(axis=(0, 1)) for _, d in fixed])
        r = (np.asarray(design.y) - X @ bm)
        for t, tag in zip(terms, tags):
            if t.k == 1 and np.all(t.Xr[:, 0] == 1.0):
                raw[tag] = np.bincount(t.codes, r, t.n_levels) / np.bincount(t.codes,
                                                                           minlength=t.n_levels)
    names = [nm for nm, _ in fixed + vc]
    full = [np.stack([d for _, d in fixed + vc], axis=-1)]
    for key, (rows, d) in groups.items():
        names += [f"{key}[{r_}]" for r_ in rows]
        full.append(d)
    out_post = _relabel(post, np.concatenate(full, axis=-1), names)
    parts = []
    if any(t.k > 1 for t in terms):
        parts.append("correlated terms (LKJ)")
    if len({t.factor for t in terms}) > 1:
        parts.append("several grouping factors")
    if student:
        parts.append("Student-t residuals")
    if group_variances:
        parts.append("group-specific residual sds")
    if latent is not None:
        parts.append(f"latent covariate {latent[3]!r}, {latent[4]}")
    form = ", ".join(f"{tag} {'centred' if c else 'non-centred'}"
                     for tag, c in zip(tags, model.centered))
    how = "compiled mixed model (" + form + "".join(", " + s_ for s_ in parts) + ")"
    shown = {k_: v for k_, v in model.priors.items() if k_ in ("beta_sd", "sd_scale", "lkj_eta")}
    prior = ("on standardised data: " if gauss else "") + \
        f"fixed effects N(0, {shown['beta_sd']:g}^2), sds " + \
        (f"half-t({model.priors['sd_df']:g}, 0, {shown['sd_scale']:g})" if model.priors["sd_df"]
         else f"half-normal(0, {shown['sd_scale']:g})") + \
        f", correlations LKJ({shown['lkj_eta']:g})" + \
        (", nu ~ Gamma(2, 0.1)" if student and nu is None else "")
    reason = f"{method_reason}; {how}" if method_reason else f"full Bayes by NUTS: {how}"
    reason += f"; metric {metric!r}"
    res = _finish(out_post, msgs, model=f"GLMM ({family})" if not gauss else "linear mixed model",
                  reason=reason, fixed=fixed, vc=vc, groups=groups, level=level, prior=prior,
                  nobs=n, warn=warn, raw=raw or None,
                  graph=_mixed_graph(design, family, student, nu, sd_factor, latent))
    res.formula = design.formula
    return res


# ------------------------------------------------------------------- the front door's router
_SAMPLER_KW = ("chains", "warmup", "draws", "rng", "target_accept", "warn", "priors",
               "centered", "metric")


def fit_sampler(model, data=None, *, se=None, X=None, groups=None, Z=None, family="gaussian",
                residual="normal", group_variances=False, error_sd=None, replicates=None,
                level=0.95, correlated=True, nu=None, method_reason=None, **kwargs):
    """Route a model stated as :func:`deconv.hierarchical.fit` states it to a sampler route.

    Called by ``fit(method="sampler")`` and by ``fit(method="auto")`` for non-cute models.
    Normal means (``se=``) go to :func:`normal_means_bayes`; every mixed model -- correlated or
    independent random effects, several grouping factors (nested, crossed), Gaussian /
    Student-t / group-specific residual sds / binomial / Poisson, an error-prone covariate
    (``error_sd`` or ``replicates``) -- to :func:`mixed_bayes` (compiled). ``kwargs`` may hold
    ``chains``, ``warmup``, ``draws``, ``rng``, ``target_accept``, ``warn``, ``priors``,
    ``offset`` (array route) and (normal means) ``mu_prior_sd``, ``tau_prior_scale``,
    ``names``.
    """
    from deconv.hierarchical.design import design_from_arrays, design_from_formula

    if residual not in ("normal", "student-t", "t"):
        raise ValueError(f"residual must be 'normal' or 'student-t', got {residual!r}")
    if se is not None and group_variances:
        raise ValueError("group_variances does not apply to normal means (the se are known)")
    if se is not None:
        if isinstance(model, str):
            raise TypeError("with se= give the group estimates y as an array, not a formula")
        if residual != "normal":
            raise NotImplementedError("Student-t normal means have no sampler route yet")
        if error_sd is not None or replicates is not None:
            raise NotImplementedError("error-prone covariates have no place in the normal-means "
                                      "model (known se); state a mixed model instead")
        return normal_means_bayes(model, se, level=level, method_reason=method_reason, **kwargs)
    offset = kwargs.pop("offset", None)
    bad = set(kwargs) - set(_SAMPLER_KW)
    if bad:
        raise TypeError(f"unexpected keyword argument(s) for the sampler route: {sorted(bad)}")
    binom = family == "binomial"
    if isinstance(model, str):
        if offset is not None:
            raise ValueError("with a formula, state the offset in it: offset(log(exposure))")
        design = design_from_formula(model, data)
    else:
        if binom and np.ndim(model) == 1:
            raise ValueError("binomial y in the array route: an (n, 2) array of "
                             "(successes, failures)")
        design = design_from_arrays(model, X, groups, Z, correlated=correlated,
                                    offset=offset, binomial=binom)
        # an all-ones column under an automatic name is the intercept: name it as lmm does
        for j, nm in enumerate(design.xnames):
            if nm == f"x{j}" and np.all(design.X[:, j] == 1.0):
                design.xnames[j] = "(Intercept)"
                break
    if not design.terms:
        raise ValueError("the model has no random-effect terms")
    return mixed_bayes(design, family=family, residual=residual, nu=nu,
                       group_variances=group_variances, error_sd=error_sd,
                       replicates=replicates, level=level, method_reason=method_reason, **kwargs)
