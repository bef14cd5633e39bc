r"""Adaptive shrinkage (Stephens 2017): unimodal scale-mixture priors centred at zero."""
import numpy as np
from scipy import optimize, special, stats

from deconv._summary import SummaryTable
from deconv._validation import (as_1d_float, as_scale, check_choice, check_int, check_level,
                                check_positive_scalar, check_rng)
from deconv.eb.solvers import mixsqp
from deconv.exceptions import ConvergenceWarning

__all__ = ["Ash", "ScaleMixturePrior"]


def _log_diff_ndtr(b, a):
    """log(Phi(b) - Phi(a)) for b >= a, stable in both tails."""
    b, a = np.broadcast_arrays(np.asarray(b, float), np.asarray(a, float))
    right = a > 0  # both in the upper tail: use survival functions
    hi = np.where(right, special.log_ndtr(-a), special.log_ndtr(b))
    lo = np.where(right, special.log_ndtr(-b), special.log_ndtr(a))
    with np.errstate(divide="ignore"):
        return hi + np.log1p(-np.exp(np.minimum(lo - hi, 0.0)))


class ScaleMixturePrior:
    r"""``pi_0 delta_0 + sum_k pi_k h_k`` with ``h_k = N(0, sigma_k^2)`` or ``U[-a_k, a_k]``."""

    def __init__(self, weights, scales, kind):
        self.weights = np.asarray(weights, float)
        self.scales = np.asarray(scales, float)
        self.kind = kind

    def _comp_cdf(self, x):
        x = np.asarray(x, float)[..., None]
        sc = self.scales
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.kind == "normal":
                c = stats.norm.cdf(x / np.where(sc > 0, sc, 1.0))
            else:
                c = np.clip((x + sc) / np.where(sc > 0, 2 * sc, 1.0), 0, 1)
        return np.where(sc > 0, c, (x >= 0).astype(float))

    def cdf(self, x):
        return self._comp_cdf(x) @ self.weights

    def pdf(self, x):
        """Density of the continuous part (the point mass at 0 is ``weights[0]``)."""
        x = np.asarray(x, float)[..., None]
        sc = np.where(self.scales > 0, self.scales, 1.0)
        if self.kind == "normal":
            d = stats.norm.pdf(x / sc) / sc
        else:
            d = (np.abs(x) <= sc) / (2 * sc)
        return np.where(self.scales > 0, d, 0.0) @ self.weights

    def ppf(self, q):
        q = np.atleast_1d(np.asarray(q, float))
        hi = 20 * max(self.scales.max(), 1e-300)
        out = np.array([optimize.brentq(lambda x: self.cdf(x) - qq, -hi, hi) if 0 < qq < 1 else
                        (-np.inf if qq <= 0 else np.inf) for qq in q])
        return out if out.size > 1 else float(out[0])

    def mean(self):
        return 0.0

    def var(self):
        v = self.scales**2 if self.kind == "normal" else self.scales**2 / 3
        return float(self.weights @ v)

    def std(self):
        return float(np.sqrt(self.var()))

    def null_mass(self):
        return float(self.weights[self.scales == 0].sum())

    def plot(self, ax=None, **kwargs):
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        hi = 3 * np.sqrt(max(self.var(), 1e-12))
        x = np.linspace(-hi, hi, 401)
        ax.plot(x, self.cdf(x), **{"color": "C0", **kwargs})
        ax.set_xlabel(r"$\theta$")
        ax.set_ylabel("prior cdf")
        ax.set_title(f"null mass {self.null_mass():.3f}")
        return ax


class Ash:
    r"""Adaptive shrinkage: ``z_i ~ N(theta_i, s_i^2)``, ``theta_i ~ pi_0 delta_0 + sum_k pi_k h_k``.

    The components ``h_k`` are ``N(0, sigma_k^2)`` (``mixcompdist="normal"``) or
    ``U[-a_k, a_k]`` (``"uniform"``) on a geometric grid of scales (ratio ``sqrt 2``
    from ``min(s)/10`` to ``2 sqrt(max(z^2 - s^2))``, as in ashr). The weights maximise
    the likelihood plus a Dirichlet ``(nullweight - 1) log pi_0`` term (ashr's default
    ``nullweight = 10`` favours the null, making lfdr conservative), solved by the
    certified mix-SQP solver (the penalty is an extra likelihood row with count
    ``nullweight - 1``). Results: posterior means, sds, lfdr ``P(theta_i = 0 | z_i)`` and the
    local false sign rate ``lfsr_i = min(P(theta_i >= 0 | z_i), P(theta_i <= 0 | z_i))``.

    Parameters
    ----------
    mixcompdist : {"normal", "uniform"}
    nullweight : float
        Dirichlet prior weight on ``pi_0`` (>= 1; 1 means plain maximum likelihood).
    grid_mult : float
        Ratio of successive scales.

    References
    ----------
    Stephens, M. (2017). False discovery rates: a new deal. Biostatistics 18, 275--294.

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> rng = np.random.default_rng(0)
    >>> theta = np.where(rng.random(2000) < 0.8, 0.0, rng.normal(0, 3, 2000))
    >>> a = dc.eb.Ash().fit(theta + rng.normal(size=2000), se=1.0)
    >>> 0.7 < a.prior_.null_mass() < 0.9
    True
    """

    def __init__(self, mixcompdist="normal", *, nullweight=10.0, grid_mult=np.sqrt(2), tol=1e-8):
        self.mixcompdist = mixcompdist
        self.nullweight = nullweight
        self.grid_mult = grid_mult
        self.tol = tol

    def _comp_lik(self, z, s, scales, kind):
        """Log marginal likelihood of z_i under each component (n, K)."""
        out = np.empty((z.size, scales.size))
        for k, sc in enumerate(scales):
            if sc == 0:
                out[:, k] = stats.norm.logpdf(z, 0, s)
            elif kind == "normal":
                out[:, k] = stats.norm.logpdf(z, 0, np.sqrt(s**2 + sc**2))
            else:
                # log[(Phi((a - z)/s) - Phi((-a - z)/s)) / (2a)], stable in the tails
                out[:, k] = _log_diff_ndtr((sc - z) / s, (-sc - z) / s) - np.log(2 * sc)
        return out

    def fit(self, z, se):
        """Estimate the mixture weights. Returns self."""
        kind = check_choice(self.mixcompdist, "mixcompdist", ("normal", "uniform"))
        nullweight = check_positive_scalar(self.nullweight, "nullweight")
        if nullweight < 1:
            raise ValueError("nullweight must be >= 1")
        mult = check_positive_scalar(self.grid_mult, "grid_mult")
        if mult <= 1:
            raise ValueError("grid_mult must be > 1")
        z = as_1d_float(z, "z")
        s, _ = as_scale(se, z.size, "se")
        smin = s.min() / 10
        smax = max(2 * np.sqrt(max(np.max(z**2 - s**2), 0.0)), 8 * smin)
        nk = int(np.ceil(np.log(smax / smin) / np.log(mult))) + 1
        scales = np.concatenate(([0.0], smin * mult ** np.arange(nk)))
        logL = self._comp_lik(z, s, scales, kind)
        mx = logL.max(axis=1)
        L = np.exp(logL - mx[:, None])
        counts = np.ones(z.size)
        if nullweight > 1:  # Dirichlet penalty on pi_0 as a pseudo-observation
            e0 = np.zeros((1, scales.size))
            e0[0, 0] = 1.0
            L = np.vstack([L, e0])
            counts = np.append(counts, nullweight - 1)
        res = mixsqp(L, counts, tol=self.tol)
        if not res.converged:
            import warnings

            warnings.warn(f"Ash mixture weights not certified (KKT {res.kkt:.3g})", ConvergenceWarning,
                          stacklevel=2)
        w = res.weights
        self.z_, self.se_, self.scales_, self.kind_ = z, s, scales, kind
        self.prior_ = ScaleMixturePrior(w, scales, kind)
        self.loglik_ = float(np.sum(np.log(L[: z.size] @ w) + mx))
        self.kkt_ = res.kkt
        self.converged_ = res.converged
        # posterior component responsibilities
        R = L[: z.size] * w
        self._resp = R / R.sum(axis=1, keepdims=True)
        self._post_components()
        return self

    def _post_components(self):
        """Per-unit, per-component posterior mean, second moment and P(theta < 0), P(theta = 0)."""
        z, s, sc = self.z_[:, None], self.se_[:, None], self.scales_[None, :]
        if self.kind_ == "normal":
            v = sc**2
            shrink = v / (v + s**2)
            m = shrink * z
            var = shrink * s**2
            with np.errstate(divide="ignore", invalid="ignore"):
                pneg = np.where(var > 0, stats.norm.cdf(-m / np.sqrt(np.where(var > 0, var, 1.0))), 0.0)
            m2 = m**2 + var
        else:
            # N(z, s^2) truncated to [-a, a], closed-form moments with log-space ratios
            a = np.where(sc > 0, sc, 1.0)
            al, be = (-a - z) / s, (a - z) / s
            logZ = _log_diff_ndtr(be, al)
            ra = np.exp(stats.norm.logpdf(al) - logZ)
            rb = np.exp(stats.norm.logpdf(be) - logZ)
            m = np.where(sc > 0, z + s * (ra - rb), 0.0)
            with np.errstate(invalid="ignore"):
                t = np.where(np.isfinite(al), al * ra, 0.0) - np.where(np.isfinite(be), be * rb, 0.0)
            var = np.where(sc > 0, np.maximum(s**2 * (1 + t - (ra - rb) ** 2), 0.0), 0.0)
            m2 = m**2 + var
            cut = np.clip(-z / s, al, be)
            pneg = np.where(sc > 0, np.clip(np.exp(_log_diff_ndtr(cut, al) - logZ), 0, 1), 0.0)
        self._cm, self._cm2, self._cpneg = m, m2, pneg

    def _check_fitted(self):
        if not hasattr(self, "prior_"):
            raise AttributeError("this Ash is not fitted yet; call fit() first")

    def posterior_mean(self):
        self._check_fitted()
        return np.sum(self._resp * self._cm, axis=1)

    def posterior_sd(self):
        self._check_fitted()
        m = self.posterior_mean()
        return np.sqrt(np.maximum(np.sum(self._resp * self._cm2, axis=1) - m**2, 0.0))

    def transform(self, z=None):
        """Posterior means of the fitted units (new data are not supported by Ash)."""
        if z is not None:
            raise TypeError("Ash.transform works on the fitted units only; refit with the new data")
        return self.posterior_mean()

    def lfdr(self):
        """``P(theta_i = 0 | z_i)``."""
        self._check_fitted()
        return self._resp[:, self.scales_ == 0].sum(axis=1)

    def lfsr(self):
        """Local false sign rate (Stephens 2017)."""
        self._check_fitted()
        p0 = self.lfdr()
        pneg = np.sum(self._resp * self._cpneg, axis=1)
        return np.minimum(pneg + p0, 1 - pneg)

    def posterior_draws(self, size=1, *, rng=None):
        """Draws from each unit's posterior, shape ``(n, size)``."""
        size = check_int(size, "size", min_value=1)
        rng = check_rng(rng)
        n = self.z_.size
        cum = np.cumsum(self._resp, axis=1)
        u = rng.random((n, size))
        comp = np.minimum((u[:, :, None] > cum[:, None, :]).sum(axis=2), cum.shape[1] - 1)
        m = np.take_along_axis(self._cm, comp, axis=1)
        sd = np.sqrt(np.maximum(np.take_along_axis(self._cm2, comp, axis=1) - m**2, 0.0))
        if self.kind_ == "normal":
            return m + sd * rng.standard_normal((n, size))
        a = self.scales_[comp]
        zz = np.broadcast_to(self.z_[:, None], (n, size))
        ss = np.broadcast_to(self.se_[:, None], (n, size))
        aa = np.where(a > 0, a, 1.0)
        # inverse-cdf draws of the truncated normal
        pa, pb = special.ndtr((-aa - zz) / ss), special.ndtr((aa - zz) / ss)
        v = special.ndtri(np.clip(pa + rng.random((n, size)) * (pb - pa), 1e-300, 1 - 1e-16))
        draws = np.clip(zz + ss * v, -aa, aa)
        return np.where(a > 0, draws, 0.0)

    def posterior_interval(self, level=0.9, *, n_draws=4000, rng=0):
        """Equal-tailed intervals from ``n_draws`` posterior draws per unit (Monte Carlo,
        seeded by ``rng``; computed in blocks of units to bound memory)."""
        level = check_level(level)
        n_draws = check_int(n_draws, "n_draws", min_value=100)
        rng = check_rng(rng)
        n = self.z_.size
        lo, hi = np.empty(n), np.empty(n)
        full = (self.z_, self.se_, self._resp, self._cm, self._cm2, self._cpneg)
        block = max(1, 2_000_000 // n_draws)
        try:
            for a in range(0, n, block):
                sl = slice(a, min(n, a + block))
                self.z_, self.se_, self._resp, self._cm, self._cm2, self._cpneg = (v[sl] for v in full)
                d = self.posterior_draws(n_draws, rng=rng)
                lo[sl] = np.quantile(d, (1 - level) / 2, axis=1)
                hi[sl] = np.quantile(d, (1 + level) / 2, axis=1)
        finally:
            self.z_, self.se_, self._resp, self._cm, self._cm2, self._cpneg = full
        return lo, hi

    def summary(self):
        self._check_fitted()
        keep = self.prior_.weights > 1e-6
        return SummaryTable(
            f"Adaptive shrinkage ({self.kind_} components)",
            info=[("observations", self.z_.size), ("null mass pi_0", self.prior_.null_mass()),
                  ("log-likelihood", self.loglik_), ("KKT max_j d_j - 1", self.kkt_),
                  ("converged (certified)", self.converged_)],
            columns=["weight"], rows=[(f"scale {sc:.4g}", [w]) for sc, w in
                                      zip(self.scales_[keep], self.prior_.weights[keep])])

    def plot(self, ax=None):
        """Shrinkage plot: z against posterior mean, coloured by lfsr."""
        import matplotlib.pyplot as plt

        self._check_fitted()
        if ax is None:
            _, ax = plt.subplots()
        sc = ax.scatter(self.z_, self.posterior_mean(), c=self.lfsr(), s=4, cmap="viridis")
        plt.colorbar(sc, ax=ax, label="lfsr")
        ax.set_xlabel("z")
        ax.set_ylabel("posterior mean")
        return ax
