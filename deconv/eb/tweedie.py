r"""f-modeling by Tweedie's formula (Robbins 1956; Efron 2011) for normal means."""
import numpy as np

from deconv._summary import SummaryTable
from deconv._validation import as_1d_float, check_int, check_positive_scalar
from deconv.eb.gmodel import natural_spline_basis

__all__ = ["Tweedie"]


class Tweedie:
    r"""Empirical-Bayes posterior means from the marginal density alone.

    For :math:`z_i \sim N(\theta_i, \sigma^2)` with any prior,
    :math:`E[\theta \mid z] = z + \sigma^2 \frac{d}{dz}\log f(z)` and
    :math:`\mathrm{Var}[\theta \mid z] = \sigma^2\,(1 + \sigma^2 \frac{d^2}{dz^2}\log f(z))`
    (Efron 2011, eqs. 2.8--2.10). The marginal log-density is estimated by Lindsey's
    method: counts of ``z`` in ``bins`` equal bins are Poisson with log-mean a natural
    spline of ``df`` degrees of freedom in the bin centre (Newton/IRLS); its derivatives are
    taken on the bin-centre grid and interpolated to each ``z_i``. Needs one common
    ``sigma`` (``se`` scalar).

    Parameters
    ----------
    df : int
        Spline degrees of freedom of the log-density (Efron uses 5--7).
    bins : int
        Number of histogram bins.

    References
    ----------
    Efron, B. (2011). Tweedie's formula and selection bias. JASA 106, 1602--1614.

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> rng = np.random.default_rng(0)
    >>> z = rng.choice([0.0, 3.0], 5000, p=[0.8, 0.2]) + rng.normal(size=5000)
    >>> t = dc.eb.Tweedie(df=7).fit(z, se=1.0)
    >>> shrunk = t.posterior_mean()
    """

    def __init__(self, df=7, bins=100):
        self.df = df
        self.bins = bins

    def fit(self, z, se=1.0):
        """Fit the log-density by Lindsey's method. Returns self."""
        z = as_1d_float(z, "z", min_size=10)
        sigma = check_positive_scalar(se, "se")
        df = check_int(self.df, "df", min_value=2)
        bins = check_int(self.bins, "bins", min_value=df + 3)
        lo, hi = z.min(), z.max()
        pad = 1e-9 * max(1.0, hi - lo)
        edges = np.linspace(lo - pad, hi + pad, bins + 1)
        counts, _ = np.histogram(z, edges)
        x = 0.5 * (edges[1:] + edges[:-1])
        X = np.column_stack([np.ones(bins), natural_spline_basis(x, df)])
        # Poisson GLM by Newton (IRLS), started at the flat density
        beta = np.zeros(X.shape[1])
        beta[0] = np.log(max(counts.mean(), 1e-12))
        for _ in range(100):
            mu = np.exp(X @ beta)
            grad = X.T @ (counts - mu)
            H = X.T @ (X * mu[:, None])
            step = np.linalg.solve(H, grad)
            beta += step
            if np.max(np.abs(step)) < 1e-10:
                break
        eta = X @ beta
        width = edges[1] - edges[0]
        logf = eta - np.log(z.size * width)  # log density at the bin centres
        d1 = np.gradient(logf, x)
        d2 = np.gradient(d1, x)
        self.z_, self.sigma_, self.x_, self.logf_ = z, sigma, x, logf
        self.dlogf_ = np.interp(z, x, d1)
        self.d2logf_ = np.interp(z, x, d2)
        self.beta_ = beta
        return self

    def _check_fitted(self):
        if not hasattr(self, "z_"):
            raise AttributeError("this Tweedie is not fitted yet; call fit() first")

    def posterior_mean(self):
        """Tweedie's formula ``z + sigma^2 (log f)'(z)``."""
        self._check_fitted()
        return self.z_ + self.sigma_**2 * self.dlogf_

    def posterior_sd(self):
        """``sigma sqrt(1 + sigma^2 (log f)''(z))`` (clipped at 0 where the estimate is not concave enough)."""
        self._check_fitted()
        return self.sigma_ * np.sqrt(np.clip(1 + self.sigma_**2 * self.d2logf_, 0.0, None))

    def transform(self, z=None):
        """Posterior means of the fitted units (new data are not supported by Tweedie)."""
        if z is not None:
            raise TypeError("Tweedie.transform works on the fitted units only; refit with the new data")
        return self.posterior_mean()

    def summary(self):
        self._check_fitted()
        return SummaryTable("Tweedie f-modeling (Efron 2011)",
                            info=[("observations", self.z_.size), ("sigma", self.sigma_),
                                  ("spline df", self.df), ("bins", self.bins)])

    def plot(self, ax=None):
        """Raw z against Tweedie's posterior mean. Returns the Axes."""
        import matplotlib.pyplot as plt

        self._check_fitted()
        if ax is None:
            _, ax = plt.subplots()
        order = np.argsort(self.z_)
        ax.plot(self.z_[order], self.posterior_mean()[order], "-", lw=1.5)
        ax.plot(self.z_[order], self.z_[order], "k--", lw=0.8)
        ax.set_xlabel("z")
        ax.set_ylabel(r"$E[\theta \mid z]$ (Tweedie)")
        return ax
