"""The estimated prior ``G``: a distribution on a grid, used like a frozen scipy.stats law."""
import numpy as np

from deconv._summary import SummaryTable
from deconv._validation import as_float_array, check_level, check_rng

__all__ = ["Prior"]


class Prior:
    """A discrete distribution with masses ``weights`` on the points ``grid``.

    NPMLE priors are genuinely discrete (a few atoms); g-modeling and ash priors are
    smooth densities represented on the grid. ``pdf`` is the density of the histogram
    that spreads each mass ``w_j`` over its grid cell (cell boundaries are the midpoints
    between grid points); ``cdf``, ``ppf``, ``mean`` and ``var`` are exact for the
    discrete distribution.

    Parameters
    ----------
    grid : ndarray (m,)
        Increasing support points.
    weights : ndarray (m,)
        Non-negative masses summing to 1.
    weights_se : ndarray (m,), optional
        Standard errors of the masses (g-modeling, delta method).
    name : str
        Label used in summaries and plots.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.eb import Prior
    >>> g = Prior([-1.0, 0.0, 2.0], [0.25, 0.5, 0.25])
    >>> g.mean(), g.cdf(0.0)
    (0.25, 0.75)
    """

    def __init__(self, grid, weights, weights_se=None, name="prior"):
        self.grid = np.asarray(grid, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        self.weights = w / w.sum()
        self.weights_se = None if weights_se is None else np.asarray(weights_se, dtype=np.float64)
        self.name = name

    # -- cells for the histogram density
    def _edges(self):
        g = self.grid
        if g.size == 1:
            return np.array([g[0] - 0.5, g[0] + 0.5])
        mid = 0.5 * (g[1:] + g[:-1])
        return np.concatenate(([g[0] - (mid[0] - g[0])], mid, [g[-1] + (g[-1] - mid[-1])]))

    def pmf(self):
        """Masses on the grid (a copy)."""
        return self.weights.copy()

    def pdf(self, x):
        """Histogram density: ``w_j / width_j`` on grid cell ``j``, 0 outside."""
        x = as_float_array(x, "x", allow_empty=True)
        edges = self._edges()
        dens = self.weights / np.diff(edges)
        idx = np.searchsorted(edges, x, side="right") - 1
        inside = (idx >= 0) & (idx < self.grid.size)
        out = np.zeros(x.shape)
        out[inside] = dens[idx[inside]]
        return out if out.ndim else float(out)

    def cdf(self, x):
        """``P(theta <= x)`` (a right-continuous step function)."""
        x = as_float_array(x, "x", allow_empty=True)
        c = np.concatenate(([0.0], np.cumsum(self.weights)))
        out = np.minimum(c[np.searchsorted(self.grid, x, side="right")], 1.0)
        return out if out.ndim else float(out)

    def ppf(self, q):
        """Smallest grid point with ``cdf >= q``."""
        q = as_float_array(q, "q", allow_empty=True)
        if np.any((q < 0) | (q > 1)):
            raise ValueError("q must lie in [0, 1]")
        c = np.cumsum(self.weights)
        idx = np.minimum(np.searchsorted(c, q * (1 - 1e-12), side="left"), self.grid.size - 1)
        out = self.grid[idx]
        return out if out.ndim else float(out)

    def mean(self):
        return float(self.weights @ self.grid)

    def var(self):
        mu = self.mean()
        return float(self.weights @ (self.grid - mu) ** 2)

    def std(self):
        return float(np.sqrt(self.var()))

    def interval(self, level=0.9):
        """Equal-tailed interval holding ``level`` of the mass."""
        level = check_level(level)
        a = (1 - level) / 2
        return self.ppf(a), self.ppf(1 - a)

    def rvs(self, size=1, rng=None):
        """Draws from the prior."""
        rng = check_rng(rng)
        return rng.choice(self.grid, size=size, p=self.weights)

    def support(self, threshold=1e-8):
        """Grid points carrying more than ``threshold`` mass (the atoms of an NPMLE)."""
        keep = self.weights > threshold
        return self.grid[keep], self.weights[keep]

    def summary(self):
        atoms, mass = self.support()
        rows = []
        if atoms.size <= 30:
            rows = [(f"{a:.6g}", [m]) for a, m in zip(atoms, mass)]
        return SummaryTable(
            f"Prior ({self.name})",
            info=[("grid points", self.grid.size), ("atoms (mass > 1e-8)", atoms.size),
                  ("mean", self.mean()), ("sd", self.std())],
            columns=["mass"] if rows else [], rows=rows)

    def plot(self, ax=None, kind="auto", **kwargs):
        """Plot the prior: stems at the atoms (discrete) or the histogram density (smooth).

        ``kind`` is ``"mass"``, ``"density"`` or ``"auto"`` (mass when there are at most
        50 atoms). Returns the Axes.
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        atoms, mass = self.support()
        if kind == "auto":
            kind = "mass" if atoms.size <= 50 else "density"
        if kind == "mass":
            ax.vlines(atoms, 0, mass, **{"color": "C0", "lw": 2, **kwargs})
            ax.plot(atoms, mass, "o", color=kwargs.get("color", "C0"), ms=3)
            ax.set_ylabel("prior mass")
        else:
            edges = self._edges()
            ax.stairs(self.weights / np.diff(edges), edges, **{"color": "C0", **kwargs})
            if self.weights_se is not None:
                dens_se = self.weights_se / np.diff(edges)
                dens = self.weights / np.diff(edges)
                ax.fill_between(self.grid, dens - 2 * dens_se, dens + 2 * dens_se, alpha=0.25,
                                color="C0", lw=0)
            ax.set_ylabel("prior density")
        ax.set_xlabel(r"$\theta$")
        return ax

    def __repr__(self):
        return f"Prior(name={self.name!r}, grid points={self.grid.size}, mean={self.mean():.4g}, sd={self.std():.4g})"
