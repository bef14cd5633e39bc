"""Normal means / random-effects meta-analysis.

Model
-----
.. math::

    y_j \\mid \\theta_j \\sim N(\\theta_j, s_j^2)\\ (s_j \\text{ known}),\\qquad
    \\theta_j \\sim N(\\mu, \\tau^2),\\qquad j = 1..J.

Marginally :math:`y_j \\sim N(\\mu, s_j^2 + \\tau^2)`. With :math:`w_j = 1/(s_j^2+\\tau^2)` and
:math:`\\hat\\mu(\\tau) = \\sum w_j y_j / \\sum w_j`, the profiled log-likelihoods are

.. math::

    \\ell_{ML}(\\tau) = -\\tfrac12 \\sum_j [\\log(s_j^2+\\tau^2) + w_j (y_j-\\hat\\mu)^2],\\qquad
    \\ell_{REML}(\\tau) = \\ell_{ML}(\\tau) - \\tfrac12 \\log \\textstyle\\sum_j w_j .

Methods: ``"reml"`` and ``"ml"`` (type-II maximum likelihood of tau, maximised on
[0, inf) -- the maximum can be exactly 0), ``"dl"`` (DerSimonian & Laird 1986 moment
estimator) and ``"bayes"`` (exact posterior by one-dimensional quadrature over tau with
flat priors on mu and tau, Gelman et al. BDA3 section 5.4: mu and theta are conditionally
normal given tau, so no sampler is needed for this model).

Group effects are the shrinkage estimates
:math:`E[\\theta_j \\mid y, \\hat\\mu, \\hat\\tau] = \\hat\\mu + B_j (y_j - \\hat\\mu)`,
:math:`B_j = \\hat\\tau^2/(\\hat\\tau^2 + s_j^2)` (empirical Bayes, plug-in), or posterior
means for ``"bayes"``.

References
----------
DerSimonian, R. and Laird, N. (1986). Meta-analysis in clinical trials. Controlled
Clinical Trials 7, 177-188.
Gelman, A. et al. (2013). Bayesian Data Analysis, 3rd ed., section 5.4-5.5 (eight schools).
"""
import numpy as np
from scipy import optimize, stats

from deconv._validation import as_1d_float, check_choice, check_level
from deconv.hierarchical.graph import normal_means_graph
from deconv.hierarchical.results import EffectTable, HierarchicalResult

__all__ = ["normal_means", "tau_loglik"]


def tau_loglik(tau, y, se, reml=True):
    """Profiled (over mu) log-likelihood of the between-group sd ``tau`` (vectorised)."""
    tau = np.atleast_1d(np.asarray(tau, dtype=float))
    v = se[None, :] ** 2 + tau[:, None] ** 2
    w = 1.0 / v
    mu = np.sum(w * y, axis=1) / np.sum(w, axis=1)
    ll = -0.5 * np.sum(np.log(v) + w * (y - mu[:, None]) ** 2 + np.log(2 * np.pi), axis=1)
    if reml:
        ll = ll - 0.5 * np.log(np.sum(w, axis=1)) + 0.5 * np.log(2 * np.pi)
    return ll


def _tau_mode(y, se, reml):
    f = lambda t: -tau_loglik(t, y, se, reml)[0]  # noqa: E731
    span = max(np.ptp(y), np.max(se)) * 10 + 1.0
    grid = np.concatenate([[0.0], np.geomspace(1e-6 * span, span, 400)])
    vals = -tau_loglik(grid, y, se, reml)
    i = int(np.argmin(vals))
    if i == 0:
        # check the one-sided derivative at 0: d ell / d(tau^2) at 0 <= 0 means tau_hat = 0
        return 0.0
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    r = optimize.minimize_scalar(f, bounds=(lo, hi), method="bounded",
                                 options=dict(xatol=1e-12 * max(1.0, hi)))
    return float(r.x) if r.fun <= vals[i] else float(grid[i])


def _dersimonian_laird(y, se):
    w = 1.0 / se ** 2
    mu_fe = np.sum(w * y) / np.sum(w)
    Q = np.sum(w * (y - mu_fe) ** 2)
    denom = np.sum(w) - np.sum(w ** 2) / np.sum(w)
    tau2 = max(0.0, (Q - (y.size - 1)) / denom)
    return np.sqrt(tau2), Q


def _posterior_quadrature(y, se, level, tau_prior_scale=None, n_grid=4000):
    """Exact posterior (BDA3 eq. 5.21) with tau on a grid: flat prior on mu; flat prior on
    tau, or half-Cauchy(0, tau_prior_scale) when a scale is given."""
    s2max = np.max(se) ** 2
    upper = 10 * np.sqrt(np.var(y) + s2max) + 5 * np.max(se)
    tau = np.linspace(0.0, upper, n_grid)
    v = se[None, :] ** 2 + tau[:, None] ** 2
    w = 1.0 / v
    Vmu = 1.0 / np.sum(w, axis=1)
    mu = Vmu * np.sum(w * y, axis=1)
    logp = 0.5 * np.log(Vmu) - 0.5 * np.sum(np.log(v) + w * (y - mu[:, None]) ** 2, axis=1)
    if tau_prior_scale is not None:
        logp = logp - np.log1p((tau / tau_prior_scale) ** 2)
    p = np.exp(logp - logp.max())
    # trapezoid weights
    dt = np.diff(tau)
    wq = np.zeros_like(tau)
    wq[:-1] += dt / 2
    wq[1:] += dt / 2
    p = p * wq
    p /= p.sum()
    # theta_j | tau, y ~ N(m_j, V_j) after integrating mu (BDA3 eq. 5.17-5.20)
    B = se[None, :] ** 2 / v                       # shrinkage toward mu
    m = (1 - B) * y + B * mu[:, None]
    Vt = (1 - B) * se[None, :] ** 2 + B ** 2 * Vmu[:, None]
    theta_mean = p @ m
    theta_var = p @ (Vt + m ** 2) - theta_mean ** 2
    mu_mean = p @ mu
    mu_var = p @ (Vmu + mu ** 2) - mu_mean ** 2
    tau_mean = p @ tau
    tau_sd = np.sqrt(p @ tau ** 2 - tau_mean ** 2)
    a = (1 - level) / 2
    cdf_tau = np.cumsum(p)
    tau_lo, tau_hi = np.interp([a, 1 - a], cdf_tau, tau)

    def mixture_quantiles(means, sds):
        lo_hi = []
        for q in (a, 1 - a):
            g = lambda x: p @ stats.norm.cdf((x - means) / sds) - q  # noqa: E731
            span = np.max(np.abs(means)) + 20 * np.max(sds)
            lo_hi.append(optimize.brentq(g, -span, span, xtol=1e-10))
        return lo_hi

    mu_lo, mu_hi = mixture_quantiles(mu, np.sqrt(Vmu))
    th_lo, th_hi = np.empty(y.size), np.empty(y.size)
    for j in range(y.size):
        th_lo[j], th_hi[j] = mixture_quantiles(m[:, j], np.sqrt(Vt[:, j]))
    return dict(tau_grid=tau, tau_weights=p, tau_mean=tau_mean, tau_sd=tau_sd, tau_ci=(tau_lo, tau_hi),
                mu_mean=mu_mean, mu_sd=np.sqrt(mu_var), mu_ci=(mu_lo, mu_hi),
                theta_mean=theta_mean, theta_sd=np.sqrt(theta_var), theta_ci=(th_lo, th_hi))


def normal_means(y, se, *, method="reml", level=0.95, names=None, tau_prior="uniform",
                 method_reason=None):
    """Fit the normal-means (random-effects meta-analysis) model.

    Parameters
    ----------
    y : (J,) array
        Group estimates (e.g. study effects).
    se : (J,) array or scalar
        Their known standard errors.
    method : {"reml", "ml", "dl", "bayes", "npmle", "gmodel"}
        Type-II REML/ML, DerSimonian-Laird, the exact posterior by quadrature, or
        nonparametric empirical Bayes: G left unspecified and estimated by the Kiefer-Wolfowitz
        NPMLE (:class:`deconv.eb.NPMLE`, certified convex solver) or Efron's g-modeling
        (:class:`deconv.eb.GModel`); ``mu`` and ``tau`` are then the mean and sd of the
        estimated G and the group effects are posterior means under it.
    level : float
        Interval level.
    names : list of str, optional
        Group labels.
    tau_prior : "uniform" or ("half-cauchy", scale)
        Prior on tau for ``method="bayes"`` (mu always has a flat prior).

    Returns
    -------
    HierarchicalResult
        ``fixed_effects`` holds mu, ``variance_components`` tau, ``group_effects["group"]``
        the theta_j. For the point-estimate methods a tau on the boundary (0) is flagged in
        ``diagnostics`` with a pointer to the posterior expectation.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.hierarchical import normal_means
    >>> y = np.array([28., 8, -3, 7, -1, 1, 18, 12]); s = np.array([15., 10, 16, 11, 9, 11, 10, 18])
    >>> float(normal_means(y, s, method="reml").variance_components.estimate[0])
    0.0
    """
    y = as_1d_float(y, "y", min_size=2)
    se = np.broadcast_to(np.asarray(se, dtype=float), y.shape).copy() if np.ndim(se) == 0 else \
        as_1d_float(se, "se")
    if se.shape != y.shape:
        raise ValueError(f"se has {se.size} values but y has {y.size}")
    if not np.all(np.isfinite(se)) or np.any(se <= 0):
        raise ValueError("se must be finite and positive")
    method = check_choice(method, "method", ("reml", "ml", "dl", "bayes", "npmle", "gmodel"))
    level = check_level(level)
    J = y.size
    names = [str(n) for n in (names if names is not None else range(1, J + 1))]
    if len(names) != J:
        raise ValueError(f"names has {len(names)} labels but y has {J} values")
    z = stats.norm.ppf(0.5 + level / 2)
    diagnostics = []
    if method in ("npmle", "gmodel"):
        return _normal_means_eb(y, se, names, method, level, method_reason)
    if method == "bayes":
        if isinstance(tau_prior, str) and tau_prior == "uniform":
            scale, prior_txt = None, "flat on mu and tau (BDA3 5.4)"
        elif (isinstance(tau_prior, tuple) and len(tau_prior) == 2 and tau_prior[0] == "half-cauchy"
              and np.isscalar(tau_prior[1]) and float(tau_prior[1]) > 0):
            scale = float(tau_prior[1])
            prior_txt = f"flat on mu, half-Cauchy(0, {scale:g}) on tau"
        else:
            raise ValueError("tau_prior must be 'uniform' or ('half-cauchy', scale>0), "
                             f"got {tau_prior!r}")
        post = _posterior_quadrature(y, se, level, scale)
        fixed = EffectTable(["mu"], [post["mu_mean"]], [post["mu_sd"]], [post["mu_ci"][0]],
                            [post["mu_ci"][1]], kind="posterior", level=level,
                            interval_method="exact quadrature, equal-tailed")
        vc = EffectTable(["tau"], [post["tau_mean"]], [post["tau_sd"]], [post["tau_ci"][0]],
                         [post["tau_ci"][1]], kind="posterior", level=level,
                         interval_method="exact quadrature, equal-tailed")
        ge = EffectTable(names, post["theta_mean"], post["theta_sd"], post["theta_ci"][0],
                         post["theta_ci"][1], kind="posterior", level=level,
                         interval_method="exact quadrature, equal-tailed")
        fit_stats = {"groups": J, "prior": prior_txt}
        label = "exact Bayes (quadrature)"
        reason = method_reason or ("normal-normal model: the posterior is a 1-D integral over tau "
                                   "(mu, theta conditionally normal), computed exactly on a grid")
        res = HierarchicalResult(model="normal means", method=label, method_reason=reason,
                                 fixed_effects=fixed, variance_components=vc,
                                 group_effects={"group": ge}, fit_stats=fit_stats,
                                 graph=normal_means_graph(J), raw_group_estimates={"group": y})
        res.posterior = post
        return res

    if method == "dl":
        tau, Q = _dersimonian_laird(y, se)
        label = "DerSimonian-Laird"
    else:
        tau = _tau_mode(y, se, reml=(method == "reml"))
        label = method.upper()
    w = 1.0 / (se ** 2 + tau ** 2)
    mu = np.sum(w * y) / np.sum(w)
    mu_se = np.sqrt(1.0 / np.sum(w))
    B = tau ** 2 / (tau ** 2 + se ** 2)
    theta = mu + B * (y - mu)
    # plug-in conditional sd of theta_j, plus the uncertainty of mu-hat (Morris 1983)
    theta_sd = np.sqrt(B * se ** 2 + (1 - B) ** 2 * mu_se ** 2)
    fixed = EffectTable(["mu"], [mu], [mu_se], [mu - z * mu_se], [mu + z * mu_se], level=level,
                        interval_method="Wald-z given tau-hat")
    tau_lo = tau_hi = np.nan
    im = ""
    if method in ("reml", "ml"):
        # profile-likelihood interval for tau (chi-square(1) cut-off)
        reml = method == "reml"
        lmax = tau_loglik(tau, y, se, reml)[0]
        crit = stats.chi2.ppf(level, 1) / 2
        g = lambda t: tau_loglik(t, y, se, reml)[0] - lmax + crit  # noqa: E731
        tau_lo = 0.0 if g(0.0) > 0 else optimize.brentq(g, 0.0, tau, xtol=1e-12)
        hi = max(tau, np.std(y)) + 1.0
        while g(hi) > 0:
            hi *= 2
        tau_hi = optimize.brentq(g, tau, hi, xtol=1e-12)
        im = "profile likelihood"
    vc = EffectTable(["tau"], [tau], None, [tau_lo], [tau_hi], level=level, interval_method=im,
                     extra={"variance": [tau ** 2]})
    ge = EffectTable(names, theta, theta_sd, theta - z * theta_sd, theta + z * theta_sd,
                     level=level, interval_method="empirical Bayes plug-in (shrinkage)")
    ll_ml = tau_loglik(tau, y, se, False)[0]
    fit_stats = {"groups": J, "loglik (ML)": ll_ml}
    if method == "reml":
        fit_stats["loglik (REML)"] = tau_loglik(tau, y, se, True)[0]
    if method == "dl":
        fit_stats["Q"] = Q
    if tau <= 1e-8 * (np.max(se) + 1):
        diagnostics.append(
            f"tau is estimated on the boundary (tau = 0, {label}): the mode is degenerate and "
            "every theta_j is shrunk fully to mu. The posterior expectation of tau is positive "
            "(eight schools: about 3.6 under a half-Cauchy(0, 5) prior, about 6.6 under a flat "
            "prior); use normal_means(..., method='bayes') for the exact posterior. Full Bayes by NUTS: "
            "deconv.hierarchical.fit(y, se=se, method='sampler').")
    reason = method_reason or f"{label} estimate of tau (closed-form profile likelihood in tau)"
    return HierarchicalResult(model="normal means", method=label, method_reason=reason,
                              fixed_effects=fixed, variance_components=vc,
                              group_effects={"group": ge}, fit_stats=fit_stats,
                              diagnostics=diagnostics, graph=normal_means_graph(J),
                              raw_group_estimates={"group": y})


def _normal_means_eb(y, se, names, method, level, method_reason):
    """Normal means with G estimated nonparametrically by :mod:`deconv.eb` (same result type).

    theta_j ~ G with G unrestricted: the group effects are the posterior means, sds and
    equal-tailed intervals of theta_j under the estimated G (an empirical-Bayes plug-in: the
    uncertainty of G-hat itself is not in the intervals).
    """
    from deconv.eb import GModel, NPMLE

    est = (NPMLE() if method == "npmle" else GModel()).fit(y, se=se)
    prior = est.prior_
    mu, tau = float(prior.mean()), float(np.sqrt(max(prior.var(), 0.0)))
    lo, hi = est.posterior_interval(level)
    label = {"npmle": "NPMLE (Kiefer-Wolfowitz)", "gmodel": "g-modeling (Efron 2016)"}[method]
    fixed = EffectTable(["mu"], [mu], None, None, None, level=level,
                        interval_method="mean of the estimated G")
    vc = EffectTable(["tau"], [tau], None, None, None, level=level,
                     interval_method="sd of the estimated G", extra={"variance": [tau ** 2]})
    ge = EffectTable(names, est.posterior_mean(), est.posterior_sd(), lo, hi, level=level,
                     interval_method=f"posterior under the estimated G ({label}, plug-in)")
    fit_stats = {"groups": y.size, "loglik (marginal)": float(est.loglik_)}
    if method == "npmle":
        fit_stats["KKT max_j d_j - 1"] = float(est.kkt_)
        fit_stats["support points"] = int(np.count_nonzero(prior.weights > 1e-12 * prior.weights.max()))
    reason = method_reason or (f"{label}: G estimated nonparametrically by deconv.eb; "
                               "group effects are posterior means under G-hat")
    res = HierarchicalResult(model="normal means", method=label, method_reason=reason,
                             fixed_effects=fixed, variance_components=vc,
                             group_effects={"group": ge}, fit_stats=fit_stats,
                             graph=normal_means_graph(y.size), raw_group_estimates={"group": y})
    res.eb = est
    return res
