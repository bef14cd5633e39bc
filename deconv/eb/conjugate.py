r"""Parametric (conjugate) empirical Bayes: the simplest, closed-form baseline.

Three conjugate pairs, hyperparameters by marginal maximum likelihood:

* normal--normal: :math:`z_i \sim N(\theta_i, s_i^2)`, :math:`\theta_i \sim N(\mu, \tau^2)`;
  marginally :math:`z_i \sim N(\mu, \tau^2 + s_i^2)`; posterior
  :math:`N(B_i\mu + (1-B_i) z_i,\ (1-B_i) s_i^2)` with :math:`B_i = s_i^2/(s_i^2+\tau^2)`
  (Efron & Morris 1973; Morris 1983 for unequal :math:`s_i`). ``method="reml"`` maximises
  the restricted likelihood instead (less biased :math:`\tau^2` for small n).
* gamma--Poisson: :math:`k_i \sim \mathrm{Poisson}(e_i\theta_i)`,
  :math:`\theta_i \sim \mathrm{Gamma}(a, \mathrm{rate}=b)`; marginally negative binomial;
  posterior :math:`\mathrm{Gamma}(a + k_i, b + e_i)`.
* beta--binomial: :math:`k_i \sim \mathrm{Bin}(n_i, \theta_i)`,
  :math:`\theta_i \sim \mathrm{Beta}(a, b)`; marginally beta-binomial; posterior
  :math:`\mathrm{Beta}(a + k_i, b + n_i - k_i)`.
"""
import numpy as np
from scipy import optimize, special, stats

from deconv._summary import SummaryTable
from deconv._validation import check_choice, check_int, check_level, check_rng
from deconv.eb.likelihood import validate_data

__all__ = ["Conjugate", "ParametricPrior"]


class ParametricPrior:
    """A fitted parametric prior: a thin wrapper of a frozen ``scipy.stats`` law with
    ``pdf``, ``cdf``, ``ppf``, ``mean``, ``var``, ``std``, ``interval``, ``rvs`` and ``plot``."""

    def __init__(self, dist, name, params):
        self.dist = dist
        self.name = name
        self.params = dict(params)

    def pdf(self, x):
        return self.dist.pdf(x)

    def cdf(self, x):
        return self.dist.cdf(x)

    def ppf(self, q):
        return self.dist.ppf(q)

    def mean(self):
        return float(self.dist.mean())

    def var(self):
        return float(self.dist.var())

    def std(self):
        return float(self.dist.std())

    def interval(self, level=0.9):
        return tuple(float(v) for v in self.dist.interval(check_level(level)))

    def rvs(self, size=1, rng=None):
        return self.dist.rvs(size=size, random_state=check_rng(rng))

    def plot(self, ax=None, **kwargs):
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        lo, hi = self.dist.ppf([0.001, 0.999])
        x = np.linspace(lo, hi, 400)
        ax.plot(x, self.dist.pdf(x), **{"color": "C0", **kwargs})
        ax.set_xlabel(r"$\theta$")
        ax.set_ylabel("prior density")
        return ax

    def __repr__(self):
        p = ", ".join(f"{k}={v:.4g}" for k, v in self.params.items())
        return f"ParametricPrior({self.name}: {p})"


def _normal_profile(tau2, z, s2, reml):
    """Negative (restricted) marginal log-likelihood at tau^2, with mu profiled out."""
    v = tau2 + s2
    wgt = 1.0 / v
    mu = np.sum(wgt * z) / np.sum(wgt)
    nll = 0.5 * np.sum(np.log(v) + (z - mu) ** 2 * wgt)
    if reml:
        nll += 0.5 * np.log(np.sum(wgt))
    return nll, mu


class Conjugate:
    """Conjugate parametric empirical Bayes (normal--normal, gamma--Poisson, beta--binomial).

    Parameters
    ----------
    family : {"normal", "poisson", "binomial"}
    method : {"ml", "reml"}
        Marginal ML, or restricted ML (normal family only).

    Attributes
    ----------
    prior_ : ParametricPrior
    params_ : dict
        ``mu``, ``tau`` (normal); ``shape``, ``rate`` (poisson); ``a``, ``b`` (binomial).
    loglik_ : float
        Marginal log-likelihood at the estimate.
    post_params_ : dict of ndarray
        Per-unit posterior parameters (closed form).

    References
    ----------
    Efron, B. & Morris, C. (1973). Stein's estimation rule and its competitors -- an
    empirical Bayes approach. JASA 68, 117--130.
    Morris, C. (1983). Parametric empirical Bayes inference: theory and applications.
    JASA 78, 47--55.

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> rng = np.random.default_rng(0)
    >>> s = rng.uniform(0.5, 2, 500); z = rng.normal(1, 1, 500) + s * rng.normal(size=500)
    >>> eb = dc.eb.Conjugate().fit(z, se=s)
    >>> round(eb.params_["mu"], 1)
    1.0
    """

    def __init__(self, family="normal", *, method="ml"):
        self.family = family
        self.method = method

    def fit(self, z, se=None, *, exposure=None, trials=None):
        """Estimate the hyperparameters by marginal (restricted) maximum likelihood."""
        family = check_choice(self.family, "family", ("normal", "poisson", "binomial"))
        method = check_choice(self.method, "method", ("ml", "reml"))
        if method == "reml" and family != "normal":
            raise ValueError("method='reml' is available for the normal family only")
        data = validate_data(family, z, se=se, exposure=exposure, trials=trials)
        self.family_, self.data_ = family, data
        getattr(self, f"_fit_{family}")(data, method == "reml")
        self.n_obs_ = next(iter(data.values())).size
        return self

    # -- families
    def _fit_normal(self, data, reml):
        z, s2 = data["z"], data["se"] ** 2
        if z.size < 2 + reml:
            raise ValueError("z needs at least 2 values (3 for REML) to estimate mu and tau")
        scale = np.var(z) + np.max(s2) + 1e-300
        obj = lambda t: _normal_profile(t, z, s2, reml)[0]  # noqa: E731
        res = optimize.minimize_scalar(obj, bounds=(0.0, 10 * scale), method="bounded",
                                       options={"xatol": 1e-12 * scale, "maxiter": 500})
        tau2 = float(res.x)
        if obj(0.0) <= obj(tau2):  # the boundary: no heterogeneity beyond noise
            tau2 = 0.0
        nll, mu = _normal_profile(tau2, z, s2, reml)
        self.params_ = {"mu": float(mu), "tau": float(np.sqrt(tau2))}
        self.loglik_ = float(-nll - 0.5 * z.size * np.log(2 * np.pi))
        B = s2 / (s2 + tau2)
        self.shrinkage_ = B
        self.post_params_ = {"mean": B * mu + (1 - B) * z, "sd": np.sqrt((1 - B) * s2)}
        self.prior_ = ParametricPrior(stats.norm(mu, max(np.sqrt(tau2), 1e-300)), "normal", self.params_)

    @staticmethod
    def _nb_loglik(la, lb, k, e):
        a, b = np.exp(la), np.exp(lb)
        return np.sum(special.gammaln(k + a) - special.gammaln(a) - special.gammaln(k + 1)
                      + a * np.log(b / (b + e)) + k * np.log(e / (b + e)))

    def _fit_poisson(self, data, reml):
        k, e = data["k"], data["exposure"]
        r = k / e
        m, v = np.mean(r), np.var(r)
        # method-of-moments start: var(k/e) ~ a/b^2 + mean(1/e) a/b
        extra = max(v - m * np.mean(1 / e), 1e-3 * max(m, 1e-3) ** 2)
        m = max(m, 1e-3)
        x0 = np.log([m * m / extra, m / extra])
        res = optimize.minimize(lambda p: -self._nb_loglik(p[0], p[1], k, e), x0, method="BFGS",
                                options={"gtol": 1e-10})
        a, b = np.exp(res.x)
        self.params_ = {"shape": float(a), "rate": float(b)}
        self.loglik_ = float(self._nb_loglik(res.x[0], res.x[1], k, e))
        self.post_params_ = {"shape": a + k, "rate": b + e}
        self.prior_ = ParametricPrior(stats.gamma(a, scale=1 / b), "gamma", self.params_)

    @staticmethod
    def _bb_loglik(la, lb, k, n):
        a, b = np.exp(la), np.exp(lb)
        return np.sum(special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1)
                      + special.betaln(k + a, n - k + b) - special.betaln(a, b))

    def _fit_binomial(self, data, reml):
        k, n = data["k"], data["trials"]
        p = np.clip(np.sum(k) / np.sum(n), 1e-3, 1 - 1e-3)
        x0 = np.log([p * 10, (1 - p) * 10])
        res = optimize.minimize(lambda q: -self._bb_loglik(q[0], q[1], k, n), x0, method="BFGS",
                                options={"gtol": 1e-10})
        a, b = np.exp(res.x)
        self.params_ = {"a": float(a), "b": float(b)}
        self.loglik_ = float(self._bb_loglik(res.x[0], res.x[1], k, n))
        self.post_params_ = {"a": a + k, "b": b + n - k}
        self.prior_ = ParametricPrior(stats.beta(a, b), "beta", self.params_)

    # -- posteriors
    def _check_fitted(self):
        if not hasattr(self, "prior_"):
            raise AttributeError("this Conjugate is not fitted yet; call fit() first")

    def posterior(self):
        """Per-unit posterior laws as one vectorised frozen ``scipy.stats`` distribution."""
        self._check_fitted()
        p = self.post_params_
        if self.family_ == "normal":
            return stats.norm(p["mean"], p["sd"])
        if self.family_ == "poisson":
            return stats.gamma(p["shape"], scale=1 / p["rate"])
        return stats.beta(p["a"], p["b"])

    def posterior_mean(self):
        """Closed-form posterior means."""
        self._check_fitted()
        p = self.post_params_
        if self.family_ == "normal":
            return p["mean"].copy()
        if self.family_ == "poisson":
            return p["shape"] / p["rate"]
        return p["a"] / (p["a"] + p["b"])

    def posterior_sd(self):
        """Closed-form posterior standard deviations."""
        self._check_fitted()
        p = self.post_params_
        if self.family_ == "normal":
            return p["sd"].copy()
        if self.family_ == "poisson":
            return np.sqrt(p["shape"]) / p["rate"]
        ab = p["a"] + p["b"]
        return np.sqrt(p["a"] * p["b"] / (ab * ab * (ab + 1)))

    def posterior_median(self):
        if self.family_ == "normal":
            return self.posterior_mean()
        return np.asarray(self.posterior().median(), dtype=float)

    def transform(self, z=None):
        """Posterior means of the fitted units (new data are not supported by Conjugate)."""
        if z is not None:
            raise TypeError("Conjugate.transform works on the fitted units only; refit with the new data")
        return self.posterior_mean()

    def posterior_interval(self, level=0.9, *, kind="equal"):
        """Equal-tailed or highest-density (``kind="hpd"``) posterior intervals."""
        level = check_level(level)
        kind = check_choice(kind, "kind", ("equal", "hpd"))
        post = self.posterior()
        if self.family_ == "normal":  # symmetric unimodal: HPD = equal-tailed
            h = stats.norm.ppf(0.5 + level / 2) * self.post_params_["sd"]
            return self.post_params_["mean"] - h, self.post_params_["mean"] + h
        if kind == "equal":
            lo, hi = post.interval(level)
            return np.asarray(lo, float), np.asarray(hi, float)
        # HPD of a unimodal law: the lower-tail mass a in [0, 1-level] minimising the
        # width ppf(a + level) - ppf(a); golden-section search, vectorised over units
        a_lo = np.zeros(self.n_obs_)
        a_hi = np.full(self.n_obs_, 1 - level)
        gr = (np.sqrt(5) - 1) / 2
        width = lambda a: post.ppf(a + level) - post.ppf(a)  # noqa: E731
        c, d = a_hi - gr * (a_hi - a_lo), a_lo + gr * (a_hi - a_lo)
        wc, wd = width(c), width(d)
        for _ in range(60):
            left = wc < wd
            a_hi = np.where(left, d, a_hi)
            a_lo = np.where(left, a_lo, c)
            c, d = a_hi - gr * (a_hi - a_lo), a_lo + gr * (a_hi - a_lo)
            wc, wd = width(c), width(d)
        a = 0.5 * (a_lo + a_hi)
        return np.asarray(post.ppf(a), float), np.asarray(post.ppf(a + level), float)

    def lfsr(self):
        """Local false sign rate ``min(P(theta >= 0), P(theta <= 0))`` (normal family)."""
        if self.family_ != "normal":
            raise ValueError("lfsr is defined for the normal family (theta of other families is positive)")
        p = self.post_params_
        with np.errstate(divide="ignore", invalid="ignore"):
            c = np.where(p["sd"] > 0, stats.norm.cdf(-p["mean"] / np.where(p["sd"] > 0, p["sd"], 1.0)),
                         (p["mean"] <= 0).astype(float))
        return np.minimum(c, 1 - c)

    def posterior_draws(self, size=1, *, rng=None):
        """Independent posterior draws, shape ``(n, size)``."""
        size = check_int(size, "size", min_value=1)
        rng = check_rng(rng)
        p = self.post_params_
        if self.family_ == "normal":
            return p["mean"][:, None] + p["sd"][:, None] * rng.standard_normal((self.n_obs_, size))
        if self.family_ == "poisson":
            return rng.gamma(p["shape"][:, None], 1.0, (self.n_obs_, size)) / p["rate"][:, None]
        return rng.beta(p["a"][:, None], p["b"][:, None], (self.n_obs_, size))

    def summary(self):
        self._check_fitted()
        return SummaryTable(
            f"Conjugate empirical Bayes ({self.family_}-{self.prior_.name})",
            info=[("observations", self.n_obs_), ("method", self.method),
                  ("marginal log-likelihood", self.loglik_), ("prior mean", self.prior_.mean()),
                  ("prior sd", self.prior_.std())],
            columns=["estimate"], rows=[(k, [v]) for k, v in self.params_.items()])

    def plot(self, ax=None, kind="shrinkage"):
        """``kind="shrinkage"`` (raw estimate vs posterior mean) or ``"prior"``."""
        import matplotlib.pyplot as plt

        self._check_fitted()
        kind = check_choice(kind, "kind", ("prior", "shrinkage"))
        if ax is None:
            _, ax = plt.subplots()
        if kind == "prior":
            return self.prior_.plot(ax=ax)
        d = self.data_
        raw = d["z"] if self.family_ == "normal" else (
            d["k"] / d["exposure"] if self.family_ == "poisson" else d["k"] / d["trials"])
        ax.plot(raw, self.posterior_mean(), ".", ms=3)
        lo, hi = float(np.min(raw)), float(np.max(raw))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel("raw estimate")
        ax.set_ylabel("posterior mean")
        return ax
