r"""The estimated distribution of X: :class:`DeconvolvedDensity`.

The raw deconvolution estimate :math:`\hat f` is a real function that integrates to one but
may dip below zero. It is made a proper distribution explicitly: evaluated on a fine grid
:math:`x_0 < \dots < x_{G-1}`, its negative parts are clipped to zero and the rest is
renormalised to integrate to one; between grid points the density is linear (zero outside
:math:`[x_0, x_{G-1}]`). With a piecewise-linear density, ``pdf``, ``cdf`` (piecewise
quadratic), ``ppf`` (closed-form inverse of each quadratic piece), ``rvs`` (inverse CDF),
``mean`` and ``var`` (exact integrals) are exactly consistent with each other.

The raw estimate stays available: ``pdf_raw`` and ``cdf_raw`` evaluate the Fourier series
at any point, and ``negative_mass`` reports :math:`\int \max(-\hat f, 0)` over the grid.
"""
import numpy as np

from deconv._summary import SummaryTable
from deconv._validation import as_float_array, check_level, check_rng
from deconv._kernels._fourier import fourier_eval

__all__ = ["DeconvolvedDensity"]


class DeconvolvedDensity:
    """Deconvolved density of X, behaving like a frozen ``scipy.stats`` distribution.

    Built by :class:`~deconv.density.DeconvolutionKDE`; not meant to be constructed directly.

    Attributes
    ----------
    grid : ndarray
        Grid on which the distribution is piecewise linear.
    density : ndarray
        Clipped, renormalised density on ``grid``.
    density_raw : ndarray
        Raw estimate on ``grid``.
    negative_mass : float
        Integral of the negative part of the raw estimate over the grid.
    bandwidth : float
    """

    def __init__(self, coef, dt, origin, grid, bandwidth, info):
        self._coef = np.ascontiguousarray(coef, dtype=np.complex128)
        self._g_re = np.ascontiguousarray(self._coef.real)
        self._g_im = np.ascontiguousarray(self._coef.imag)
        self._dt = float(dt)
        self._origin = float(origin)
        self.bandwidth = float(bandwidth)
        self.info = dict(info)
        self.grid = np.ascontiguousarray(grid, dtype=np.float64)
        raw, raw_cdf = self._raw(self.grid, cdf=True)
        self.density_raw = raw
        self.raw_mass = float(raw_cdf[-1] - raw_cdf[0])
        dx = np.diff(self.grid)
        self.negative_mass = float(np.sum(0.5 * dx * (np.maximum(-raw[:-1], 0) + np.maximum(-raw[1:], 0))))
        clipped = np.maximum(raw, 0.0)
        seg = 0.5 * dx * (clipped[:-1] + clipped[1:])
        total = seg.sum()
        if not total > 0:
            raise ValueError("the raw estimate has no positive mass on the grid; check the noise "
                             "law and the bandwidth")
        self.density = clipped / total
        self._cum = np.concatenate([[0.0], np.cumsum(seg / total)])
        self._cum[-1] = 1.0

    # --- raw Fourier estimate --------------------------------------------------------------
    def _raw(self, x, cdf=False):
        y = np.ascontiguousarray(x - self._origin, dtype=np.float64)
        pdf = np.empty(y.size)
        out_cdf = np.empty(y.size) if cdf else np.empty(0)
        fourier_eval(self._g_re, self._g_im, self._dt, y, pdf, out_cdf)
        return (pdf, out_cdf) if cdf else pdf

    def pdf_raw(self, x):
        """Raw (unclipped) deconvolution estimate at ``x`` (evaluated exactly)."""
        x = as_float_array(x, "x", allow_empty=True)
        return self._raw(x.reshape(-1)).reshape(x.shape)

    def cdf_raw(self, x):
        """Integral of the raw estimate from the left end of its period (far left of the
        data) to ``x``: exact for the trapezoid-rule Fourier series."""
        x = as_float_array(x, "x", allow_empty=True)
        return self._raw(x.reshape(-1), cdf=True)[1].reshape(x.shape)

    # --- distribution ------------------------------------------------------------------------
    @property
    def support(self):
        """(lower, upper) end of the grid carrying the distribution."""
        return float(self.grid[0]), float(self.grid[-1])

    def _locate(self, x):
        i = np.searchsorted(self.grid, x, side="right") - 1
        return np.clip(i, 0, self.grid.size - 2)

    def pdf(self, x):
        """Density (piecewise linear between grid points, 0 outside the support)."""
        x = as_float_array(x, "x", allow_empty=True)
        out = np.interp(x, self.grid, self.density, left=0.0, right=0.0)
        return out

    def logpdf(self, x):
        with np.errstate(divide="ignore"):
            return np.log(self.pdf(x))

    def cdf(self, x):
        """Distribution function (exact integral of the piecewise-linear density)."""
        x = as_float_array(x, "x", allow_empty=True)
        xf = x.reshape(-1)
        i = self._locate(xf)
        x0 = self.grid[i]
        dx = self.grid[i + 1] - x0
        f0 = self.density[i]
        f1 = self.density[i + 1]
        u = np.clip(xf - x0, 0.0, dx)
        val = self._cum[i] + f0 * u + 0.5 * (f1 - f0) * u * u / dx
        val = np.where(xf < self.grid[0], 0.0, np.where(xf >= self.grid[-1], 1.0, val))
        return np.clip(val, 0.0, 1.0).reshape(x.shape)

    def sf(self, x):
        return 1.0 - self.cdf(x)

    def ppf(self, q):
        """Quantile function: exact inverse of :meth:`cdf`."""
        q = as_float_array(q, "q", allow_empty=True)
        if np.any((q < 0) | (q > 1)):
            raise ValueError("q must lie in [0, 1]")
        qf = q.reshape(-1)
        i = np.searchsorted(self._cum, qf, side="left") - 1
        i = np.clip(i, 0, self.grid.size - 2)
        x0 = self.grid[i]
        dx = self.grid[i + 1] - x0
        f0 = self.density[i]
        f1 = self.density[i + 1]
        c = np.maximum(qf - self._cum[i], 0.0)
        a = 0.5 * (f1 - f0) / dx
        # solve a u^2 + f0 u = c in the stable form u = 2c / (f0 + sqrt(f0^2 + 4ac))
        disc = np.sqrt(np.maximum(f0 * f0 + 4.0 * a * c, 0.0))
        denom = f0 + disc
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.where(denom > 0, 2.0 * c / denom, 0.0)
        out = x0 + np.clip(u, 0.0, dx)
        return out.reshape(q.shape)

    def isf(self, q):
        return self.ppf(1.0 - np.asarray(q, dtype=float))

    def median(self):
        return float(self.ppf(0.5))

    def _moments(self):
        x0, x1 = self.grid[:-1], self.grid[1:]
        f0, f1 = self.density[:-1], self.density[1:]
        dx = x1 - x0
        m1 = np.sum(dx * (f0 * (2 * x0 + x1) + f1 * (x0 + 2 * x1)) / 6.0)
        m2 = np.sum(dx * (f0 * (3 * x0 ** 2 + 2 * x0 * x1 + x1 ** 2)
                          + f1 * (x0 ** 2 + 2 * x0 * x1 + 3 * x1 ** 2)) / 12.0)
        return m1, m2

    def mean(self):
        """Mean of the (clipped, renormalised) distribution."""
        return float(self._moments()[0])

    def var(self):
        """Variance of the (clipped, renormalised) distribution."""
        m1, m2 = self._moments()
        return float(max(m2 - m1 * m1, 0.0))

    def std(self):
        return float(np.sqrt(self.var()))

    def interval(self, confidence):
        """Equal-tailed interval containing ``confidence`` of the probability."""
        confidence = check_level(confidence, "confidence")
        return (float(self.ppf(0.5 - confidence / 2)), float(self.ppf(0.5 + confidence / 2)))

    def rvs(self, size=None, rng=None):
        """Random draws by inversion of the CDF."""
        rng = check_rng(rng)
        u = rng.random(size)
        return self.ppf(u) if size is not None else float(self.ppf(u))

    # --- reporting -----------------------------------------------------------------------
    def summary(self):
        """A :class:`~deconv._summary.SummaryTable` of the estimate."""
        info = [(k, v) for k, v in self.info.items()]
        info += [("bandwidth", self.bandwidth), ("grid points", self.grid.size),
                 ("support", f"[{self.grid[0]:.4g}, {self.grid[-1]:.4g}]"),
                 ("raw mass on grid", self.raw_mass), ("negative mass clipped", self.negative_mass)]
        qs = [0.05, 0.25, 0.5, 0.75, 0.95]
        rows = [("mean", [self.mean()]), ("sd", [self.std()])]
        rows += [(f"quantile {q:g}", [float(self.ppf(q))]) for q in qs]
        notes = ["density: raw deconvolution estimate with negative parts clipped and "
                 "renormalised (pdf_raw/cdf_raw give the raw estimate)"]
        return SummaryTable("Deconvolved density of X", info=info, columns=["value"],
                            rows=rows, notes=notes)

    def plot(self, ax=None, raw=False, **kwargs):
        """Plot the density (and optionally the raw estimate); returns the Axes."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        kwargs.setdefault("label", "deconvolved density")
        ax.plot(self.grid, self.density, **kwargs)
        if raw:
            ax.plot(self.grid, self.density_raw, ls=":", color="0.4", label="raw estimate")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        return ax

    def __repr__(self):
        return (f"DeconvolvedDensity(bandwidth={self.bandwidth:.4g}, grid={self.grid.size} points, "
                f"support=[{self.grid[0]:.4g}, {self.grid[-1]:.4g}])")
