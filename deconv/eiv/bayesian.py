r"""Structural Bayesian errors-in-variables regression (latent true covariate) by NUTS.

Model (Carroll et al. 2006, ch. 9; Richardson & Gilks 1993):

.. math::
    X_i \sim N(\mu_x, \sigma_x^2),\qquad W_i = X_i + U_i,\ U_i \sim N(0, \sigma_{u,i}^2)
    \ (\text{known}),\qquad y_i \sim N(\alpha + \beta X_i, \sigma_y^2).

The latent :math:`X_i` are integrated out analytically -- given the parameters,
:math:`(W_i, y_i)` is bivariate normal -- so the sampler
(:class:`deconv.sampling.models.ErrorsInVariables`, compiled) moves in five dimensions and the
posterior means of the :math:`X_i` come back Rao-Blackwellised. The data are standardised
(``w`` and ``y`` centred and scaled to sd 1, the error sd scaled with ``w``) and the compiled
model's priors -- :math:`\alpha, \beta, \mu_x \sim N(0, 10^2)`,
:math:`\sigma_x, \sigma_y \sim \text{half-normal}(0, 5)` -- apply on that scale (weakly
informative whatever the units); the draws are mapped back.
"""
import warnings

import numpy as np

from deconv._summary import SummaryTable
from deconv._validation import as_1d_float, check_level
from deconv.eiv._errors import make_error
from deconv.eiv.results import RegressionResults, _get_ax
from deconv.exceptions import SamplingWarning

__all__ = ["bayes", "BayesRegressionResults"]


class BayesRegressionResults(RegressionResults):
    """Posterior summaries of a Bayesian errors-in-variables regression.

    Same surface as the other ``deconv.eiv`` results, with Bayesian meanings: ``params`` are
    posterior means of ``[const, w]``, ``cov`` their posterior covariance (``bse`` posterior
    sds), ``conf_int(alpha)`` equal-tailed credible intervals from the draws. ``tvalues`` and
    ``pvalues`` are not defined for a posterior and are NaN.

    Extra attributes: ``posterior`` (:class:`deconv.sampling.Posterior` of ``const, w, mu_x,
    sigma_x, sigma_y`` and ``x_hat[i]`` on the data's scale), ``nuisance`` (dict of posterior
    means of ``mu_x, sigma_x, sigma_y``), ``x_hat`` (posterior means of the true covariate),
    ``diagnostics`` (sampler warnings), ``naive_params`` (least squares ignoring the error).
    """

    def __init__(self, params, cov, param_names, method, nobs, *, posterior, x_hat,
                 diagnostics=(), **kw):
        super().__init__(params, cov, param_names, method, nobs, se_method="posterior sd", **kw)
        self.posterior = posterior
        self.x_hat = x_hat
        self.diagnostics = list(diagnostics)
        self.nuisance = {k: float(posterior.mean(k)) for k in ("mu_x", "sigma_x", "sigma_y")}

    @property
    def tvalues(self):
        return np.full(self.params.size, np.nan)

    @property
    def pvalues(self):
        return np.full(self.params.size, np.nan)

    def conf_int(self, alpha=0.05):
        """Equal-tailed ``1 - alpha`` credible intervals, array (k, 2)."""
        alpha = check_level(alpha, "alpha")
        out = []
        for nm in self._post_names():
            lo, hi = self.posterior.interval(nm, 1.0 - alpha)
            out.append((float(lo), float(hi)))
        return np.array(out)

    def _post_names(self):
        return ["const", "w"]

    def summary(self, alpha=0.05):
        """Posterior mean, sd, MCSE, credible interval, ESS and R-hat of every parameter."""
        from deconv.sampling import diagnostics as dg  # lazy: keeps `import deconv.eiv` light

        p = self.posterior
        names = ["const", "w", "mu_x", "sigma_x", "sigma_y"]
        x = np.stack([p[n] for n in names], axis=-1)
        lo, hi = np.quantile(x, [alpha / 2, 1 - alpha / 2], axis=(0, 1))
        mc, eb, rh = dg.mcse_mean(x), dg.ess_bulk(x), dg.rhat(x)
        cols = ["post. mean", "post. sd", "mcse", f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]",
                "ess_bulk", "r_hat", "naive"]
        naive = list(self.naive_params) + [np.nan] * 3
        rows = [(nm, [x[..., k].mean(), x[..., k].std(ddof=1), mc[k], lo[k], hi[k], eb[k], rh[k],
                      naive[k]]) for k, nm in enumerate(names)]
        info = [("Method", self.method), ("Observations", self.nobs),
                ("chains x draws", f"{p.n_chains} x {p.n_draws}"),
                ("divergences", p.n_divergent)] + self.info
        notes = self.notes + [f"sampler: {m}" for m in self.diagnostics]
        return SummaryTable(f"{self.method} results", info=info, columns=cols, rows=rows,
                            notes=notes)

    def plot(self, ax=None, alpha=0.05):
        """Data, naive line and posterior-mean line with a pointwise credible band; the
        posterior means of the true covariate drawn as the corrected points. Returns the Axes."""
        ax = _get_ax(ax)
        w, y = self.w, self.y
        ax.plot(w, y, "o", ms=3, color="0.6", alpha=0.7, label="observed (w, y)")
        ax.plot(self.x_hat, y, ".", ms=3, color="C0", alpha=0.6, label="E[x | data]")
        xs = np.linspace(min(w.min(), self.x_hat.min()), max(w.max(), self.x_hat.max()), 200)
        lines = self.posterior["const"][..., None] + self.posterior["w"][..., None] * xs
        lo, hi = np.quantile(lines.reshape(-1, xs.size), [alpha / 2, 1 - alpha / 2], axis=0)
        ax.fill_between(xs, lo, hi, color="C3", alpha=0.2, lw=0,
                        label=f"{100 * (1 - alpha):g}% credible band")
        ax.plot(xs, self.params[0] + self.params[1] * xs, color="C3",
                label=f"posterior mean: slope {self.params[1]:.4g}")
        ax.plot(xs, self.naive_params[0] + self.naive_params[1] * xs, "--", color="0.3",
                label=f"naive OLS: slope {self.naive_params[1]:.4g}")
        ax.set_xlabel("covariate")
        ax.set_ylabel("y")
        ax.legend(loc="best", fontsize=8)
        return ax


def bayes(w, y, *, error=None, error_sd=None, error_var=None, reliability=None,
          replicates=False, chains=4, warmup=1000, draws=1000, rng=None, target_accept=0.9,
          warn=True):
    r"""Structural Bayesian errors-in-variables linear regression (latent true covariate).

    .. math::
        X_i \sim N(\mu_x, \sigma_x^2),\quad W_i = X_i + U_i,\
        U_i \sim N(0, \sigma_{u,i}^2),\quad y_i \sim N(\alpha + \beta X_i, \sigma_y^2),

    sampled by NUTS with every :math:`X_i` integrated out analytically (see the module
    docstring for the priors, stated on the standardised scale).

    Parameters
    ----------
    w : array_like (n,)
        The error-prone covariate (or replicates ``(n, k)`` with ``replicates=True``).
    y : array_like (n,)
    error, error_sd, error_var, reliability, replicates
        The measurement error, once (see :class:`~deconv.eiv.MeasurementError`); per-observation
        variances are used as such. An error variance estimated from replicates or implied by a
        reliability ratio is plugged in (its uncertainty is not propagated).
    chains, warmup, draws, rng, target_accept
        Passed to :func:`deconv.sampling.nuts`.
    warn : bool
        Raise :class:`~deconv.exceptions.SamplingWarning` for doubtful sampler diagnostics.

    Returns
    -------
    BayesRegressionResults
        ``params`` posterior means of ``[const, w]``, ``bse`` posterior sds, ``conf_int()``
        credible intervals, ``naive_params`` the least-squares fit ignoring the error.

    Notes
    -----
    With a normal :math:`X` the structural model is identified by the known error variance,
    and for large ``n`` the posterior mean of the slope approaches the method-of-moments
    estimate :func:`deconv.eiv.moments` (both estimate :math:`\sigma_{wy} / (\sigma_w^2 -
    \sigma_u^2)`); the posterior adds honest finite-sample uncertainty, keeps the slope
    finite when the reliability is poorly determined, and gives ``E[X_i | data]``.

    References
    ----------
    Carroll, R. J., Ruppert, D., Stefanski, L. A. and Crainiceanu, C. M. (2006). *Measurement
    Error in Nonlinear Models*, 2nd ed., ch. 9. Chapman & Hall.
    Richardson, S. and Gilks, W. R. (1993). Conditional independence models for epidemiological
    studies with covariate measurement error. *Stat. Med.* 12, 1703-1722.

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> from deconv.eiv.bayesian import bayes
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=500)
    >>> w, y = x + rng.normal(0, 0.5, 500), 1 + 2 * x + rng.normal(0, 0.5, 500)
    >>> res = bayes(w, y, error_sd=0.5, rng=0, warmup=300, draws=300, warn=False)
    >>> bool(abs(res.params[1] - 2) < 0.3)
    True
    """
    from deconv.sampling import nuts
    from deconv.sampling.models import ErrorsInVariables
    from deconv.sampling.nuts import check_diagnostics

    spec = make_error(error, error_sd, error_var, reliability, replicates)
    r = spec.resolve(w, "w")
    if r.p != 1:
        raise ValueError(f"bayes takes one error-prone covariate; w has {r.p} columns")
    yv = as_1d_float(y, "y", min_size=3)
    wv = r.w[:, 0]
    if wv.size != yv.size:
        raise ValueError(f"w has {wv.size} observations but y has {yv.size}")
    var_u = np.array(r.variances()[:, 0], dtype=np.float64)
    r.check_identifiable()
    wbar, wsd = wv.mean(), wv.std(ddof=1)
    ybar, ysd = yv.mean(), yv.std(ddof=1)
    if ysd == 0:
        raise ValueError("y must vary")
    model = ErrorsInVariables((wv - wbar) / wsd, (yv - ybar) / ysd, error_sd=np.sqrt(var_u) / wsd)
    post = nuts(model, chains=chains, warmup=warmup, draws=draws, rng=rng,
                target_accept=target_accept, warn=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplingWarning)
        msgs = check_diagnostics(post, max_depth=post.info.get("max_depth"))
    if warn:
        for m in msgs:
            warnings.warn(m, SamplingWarning, stacklevel=2)
    # back to the data's scale: y = ybar + ysd * (a + b (x - wbar) / wsd)
    slope = ysd / wsd * post["beta"]
    const = ybar + ysd * post["alpha"] - slope * wbar
    nat = np.stack([const, slope, wbar + wsd * post["mu_x"], wsd * post["sigma_x"],
                    ysd * post["sigma_y"]], axis=-1)
    x_hat = wbar + wsd * post["x_hat"]
    from deconv.sampling.draws import Posterior
    names = ["const", "w", "mu_x", "sigma_x", "sigma_y"]
    out = Posterior(np.concatenate([nat, x_hat], axis=-1),
                    names + [f"x_hat[{i}]" for i in range(wv.size)], stats=post.stats,
                    step_size=post.step_size, inv_metric=post.inv_metric, info=post.info)
    flat = nat[..., :2].reshape(-1, 2)
    D = np.column_stack([np.ones(wv.size), wv])
    naive, *_ = np.linalg.lstsq(D, yv, rcond=None)
    res_n = yv - D @ naive
    naive_cov = res_n @ res_n / (wv.size - 2) * np.linalg.inv(D.T @ D)
    res = BayesRegressionResults(
        flat.mean(axis=0), np.cov(flat, rowvar=False), ["const", "w"],
        "Bayesian structural EIV (NUTS)", wv.size, posterior=out,
        x_hat=x_hat.mean(axis=(0, 1)), diagnostics=msgs, naive_params=naive,
        naive_cov=naive_cov, reliability=r.reliability(), error_cov=r.cov,
        info=[("error variance", r.kind)],
        notes=["priors on standardised data: alpha, beta, mu_x ~ N(0, 10^2); sigma_x, sigma_y "
               "~ half-normal(0, 5); latent x integrated out analytically",
               "intervals are equal-tailed posterior quantiles; 'naive' is OLS ignoring the error"])
    res.w, res.y = wv, yv
    return res
