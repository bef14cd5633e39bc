r"""Bootstrap confidence bands for the deconvolution density estimate.

Each bootstrap replicate resamples the n observations with replacement. A resample is
represented by its multinomial counts, used as weights in the empirical characteristic
function (weighted binning or weighted exact sums), so a replicate costs one pass over the
data plus one evaluation on the band's grid.

* ``kind="pointwise"``: basic bootstrap intervals
  :math:`[\hat f(x) - q_{1-\alpha/2}(x),\ \hat f(x) - q_{\alpha/2}(x)]`, with :math:`q` the
  quantiles of :math:`\hat f^*(x) - \hat f(x)`.
* ``kind="simultaneous"``: :math:`\hat f(x) \pm c\,\hat s(x)`, with :math:`\hat s(x)` the
  bootstrap standard deviation and :math:`c` the level-quantile of the studentised maximum
  :math:`\max_x |\hat f^*(x) - \hat f(x)|/\hat s(x)` over the grid.

These are bands for :math:`E\hat f` (the smoothed density at the chosen bandwidth): the
smoothing bias is not covered, as usual for kernel estimators. With ``noise="replicates"``
whole individuals (rows of replicates) are resampled and the error law is re-estimated in each
replicate, so the band includes the uncertainty of the estimated error law; otherwise the
error law is held fixed. Bands are for the raw
estimate; both limits are reported clipped at zero (a density is non-negative).

References
----------
Bissantz, N., Dümbgen, L., Holzmann, H. and Munk, A. (2007). Non-parametric confidence bands
in deconvolution density estimation. *JRSS B* 69, 483-506.
"""
import numpy as np

from deconv._kernels._fourier import fourier_eval
from deconv._progress import progress_bar
from deconv._validation import as_1d_float, check_choice, check_int, check_level, check_rng
from deconv.density import _spectrum as sp
from deconv.noise import Empirical

__all__ = ["ConfidenceBand", "bootstrap_band"]


class ConfidenceBand:
    """A bootstrap confidence band: ``x``, ``estimate``, ``lower``, ``upper``.

    Attributes
    ----------
    x, estimate, lower, upper : ndarray
    level : float
    kind : str
    n_boot : int
    critical_value : float or None
        Studentised-maximum quantile (simultaneous bands).
    """

    def __init__(self, x, estimate, lower, upper, level, kind, n_boot, critical_value=None):
        self.x = x
        self.estimate = estimate
        self.lower = lower
        self.upper = upper
        self.level = level
        self.kind = kind
        self.n_boot = n_boot
        self.critical_value = critical_value

    def plot(self, ax=None, **kwargs):
        """Shade the band and draw the estimate; returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        kwargs.setdefault("alpha", 0.25)
        kwargs.setdefault("label", f"{self.level:.0%} {self.kind} band")
        ax.fill_between(self.x, self.lower, self.upper, **kwargs)
        ax.plot(self.x, self.estimate, color="C0", lw=1)
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        return ax

    def __repr__(self):
        return (f"ConfidenceBand(kind={self.kind!r}, level={self.level}, n_boot={self.n_boot}, "
                f"{self.x.size} points)")


def bootstrap_band(est, level=0.95, kind="pointwise", n_boot=200, rng=None, x=None,
                   progress=False):
    """Bootstrap confidence band for the density of a fitted :class:`DeconvolutionKDE`.

    Parameters
    ----------
    est : DeconvolutionKDE
        A fitted estimator (its bandwidth is kept fixed across replicates).
    level : float
    kind : {"pointwise", "simultaneous"}
    n_boot : int
        Number of bootstrap replicates (>= 20).
    rng : None, int or numpy.random.Generator
    x : array_like, optional
        Points of the band (default: 256 points over the estimate's support).
    progress : bool
        Show a progress bar.

    Returns
    -------
    ConfidenceBand
    """
    level = check_level(level)
    kind = check_choice(kind, "kind", ("pointwise", "simultaneous"))
    n_boot = check_int(n_boot, "n_boot", min_value=20)
    rng = check_rng(rng)
    dens = est._fitted()
    b = est._boot
    if x is None:
        lo, hi = dens.support
        x = np.linspace(lo, hi, 256)
    else:
        x = as_1d_float(x, "x")
    noise = b["noise"]
    kernel = est.kernel_
    y, dt, M = b["y"], b["dt"], b["M"]
    n = y.size
    pk = kernel.phi(np.arange(M) * dt * est.bandwidth_)
    f_hat = dens.pdf_raw(x)
    reps = np.empty((n_boot, x.size))
    p = np.full(n, 1.0 / n)
    x_rel = np.ascontiguousarray(x - b["origin"])
    with progress_bar(n_boot, "bootstrap", progress) as bar:
        for i in range(n_boot):
            if b["replicates"] is None:
                counts = rng.multinomial(n, p).astype(np.float64)
                spec = sp.spectrum(y, noise, dt, M, method=b["method"], n_bins=b["n_bins"],
                                   weights=counts)
            else:
                # resample individuals and re-estimate the error law from their replicates
                reps_all = b["replicates"]
                rows = reps_all[rng.integers(0, reps_all.shape[0], reps_all.shape[0])]
                spec_r = b["replicate_spec"]
                if spec_r.heteroscedastic:
                    # per-individual variances (and their moderation) re-estimated as well
                    means, law, _ = spec_r.estimate(rows)
                else:
                    means, law = est._row_means(rows, Empirical.from_replicates(rows))
                spec = sp.spectrum(means - b["origin"], law, dt, M, method=b["method"],
                                   n_bins=b["n_bins"])
            coef = pk * spec.z
            out = np.empty(x.size)
            fourier_eval(np.ascontiguousarray(coef.real), np.ascontiguousarray(coef.imag), dt,
                         x_rel, out, np.empty(0))
            reps[i] = out
            bar.update(1)
    dev = reps - f_hat
    alpha = 1.0 - level
    crit = None
    if kind == "pointwise":
        qlo, qhi = np.quantile(dev, [alpha / 2, 1 - alpha / 2], axis=0)
        lower, upper = f_hat - qhi, f_hat - qlo
    else:
        s = dev.std(axis=0, ddof=1)
        ok = s > 1e-12 * max(np.max(s), 1e-300)
        tmax = np.max(np.abs(dev[:, ok]) / s[ok], axis=1)
        crit = float(np.quantile(tmax, level))
        lower, upper = f_hat - crit * s, f_hat + crit * s
    return ConfidenceBand(x, f_hat, np.maximum(lower, 0.0), np.maximum(upper, 0.0), level, kind, n_boot, crit)
