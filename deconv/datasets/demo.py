"""Generated data for the density-deconvolution demo: a bimodal truth seen through Laplace noise."""
import numpy as np
from scipy import stats

from deconv._validation import check_int, check_rng

__all__ = ["bimodal_demo"]


class _Mixture:
    """Two-component normal mixture: the known truth of the demo (pdf, cdf, cf)."""

    def __init__(self, weights, means, sds):
        self.weights = np.asarray(weights, float)
        self.means = np.asarray(means, float)
        self.sds = np.asarray(sds, float)

    def pdf(self, x):
        x = np.asarray(x, float)[..., None]
        return np.sum(self.weights * stats.norm.pdf(x, self.means, self.sds), axis=-1)

    def cdf(self, x):
        x = np.asarray(x, float)[..., None]
        return np.sum(self.weights * stats.norm.cdf(x, self.means, self.sds), axis=-1)

    def cf(self, t):
        t = np.asarray(t, float)[..., None]
        return np.sum(self.weights * np.exp(1j * t * self.means - 0.5 * (t * self.sds) ** 2), axis=-1)

    def rvs(self, n, rng):
        comp = rng.choice(self.weights.size, size=n, p=self.weights)
        return rng.normal(self.means[comp], self.sds[comp])

    def __repr__(self):
        parts = " + ".join(f"{w:g}*N({m:g}, {s:g}^2)" for w, m, s in zip(self.weights, self.means, self.sds))
        return f"mixture {parts}"


def bimodal_demo(n=2000, noise_sd=0.4, rng=None):
    """Simulate W = X + U with X bimodal and U Laplace.

    X ~ 0.6 N(-1, 0.5^2) + 0.4 N(1.5, 0.6^2) (sd about 1.35) and U ~ Laplace with the given
    standard deviation (default 0.4: noise-to-signal variance ratio about 0.09).

    Returns
    -------
    w : ndarray, shape (n,)
        The observed, noisy values.
    x : ndarray, shape (n,)
        The true values (unobserved in practice; for checking).
    truth : object
        The true law of X with ``pdf``, ``cdf`` and ``cf``.
    noise : deconv.noise.Laplace
        The error law.
    """
    from deconv.noise import Laplace

    n = check_int(n, "n", min_value=2)
    rng = check_rng(rng)
    truth = _Mixture([0.6, 0.4], [-1.0, 1.5], [0.5, 0.6])
    law = Laplace(sd=noise_sd)
    x = truth.rvs(n, rng)
    w = x + law.rvs(size=n, rng=rng)
    return w, x, truth, law
