"""Per-unit posterior summaries for a prior on a grid.

With a prior ``w`` on the grid ``g`` and the row-scaled likelihood ``L``, unit ``i`` has
the discrete posterior ``P(theta_i = g_j | z_i) = L_ij w_j / f_i`` with ``f_i = (L w)_i``.
Means, sds, quantiles, intervals and draws are computed row by row in the compiled kernels
of ``deconv._kernels._mixture`` (no ``n x m`` posterior matrix is formed); tail masses
(lfdr, lfsr) are matrix-vector products (BLAS).

Only the grid points where the prior has mass enter a posterior (``L_ij w_j = 0``
elsewhere), and an NPMLE has few atoms, so every summary works on the columns ``S`` of
the support: ``L[:, S]`` (for the matrix-free normal likelihood computed directly, without
the full matrix), ``w[S]`` and ``g[S]``. Sums only skip exact zeros, so the results equal
those over the whole grid.
"""
import numpy as np

from deconv._kernels import _mixture
from deconv._validation import check_int, check_level, check_rng, check_choice
from deconv.eb.likelihood import build_likelihood, validate_data

__all__ = ["GridPosteriorMixin"]


class GridPosteriorMixin:
    """Posterior summaries shared by every grid-based estimator (NPMLE, GModel, Ash).

    Subclasses set ``prior_`` (a :class:`~deconv.eb.Prior`), ``likelihood_`` (the
    :class:`~deconv.eb.likelihood.LikelihoodMatrix` of the fitted data) and ``family_``.
    Every method works on the fitted data, or on new data passed the same way as to
    ``fit`` (``z`` with ``se=``, ``exposure=`` or ``trials=``).
    """

    def _check_fitted(self):
        if not hasattr(self, "prior_"):
            raise AttributeError(f"this {type(self).__name__} is not fitted yet; call fit() first")

    def _lik(self, z=None, **data):
        self._check_fitted()
        if z is None:
            if any(v is not None for v in data.values()):
                raise TypeError("pass z together with se/exposure/trials to evaluate new data")
            return self.likelihood_
        valid = validate_data(self.family_, z, **{k: v for k, v in data.items()})
        # new normal data: matrix-free (posteriors need only the prior's support columns)
        return build_likelihood(self.family_, valid, self.prior_.grid,
                                matrix_free=self.family_ == "normal")

    def _parts(self, lik):
        """``(LS, wS, gS, f)``: the support columns of L, the weights and grid points
        there, and the marginal densities ``f = L w``."""
        w = np.asarray(self.prior_.weights, dtype=np.float64)
        S = np.flatnonzero(w > 0)
        LS = lik.columns(S)
        wS = np.ascontiguousarray(w[S])
        gS = np.ascontiguousarray(self.prior_.grid[S])
        return LS, wS, gS, LS @ wS

    def posterior_mean(self, z=None, se=None, *, exposure=None, trials=None):
        """Posterior mean ``E[theta_i | z_i]`` of each unit (the shrinkage estimate)."""
        return self.posterior_moments(z, se, exposure=exposure, trials=trials)[0]

    def posterior_sd(self, z=None, se=None, *, exposure=None, trials=None):
        """Posterior standard deviation of each unit."""
        return self.posterior_moments(z, se, exposure=exposure, trials=trials)[1]

    def posterior_moments(self, z=None, se=None, *, exposure=None, trials=None):
        """``(mean, sd)`` of each unit's posterior in one pass."""
        lik = self._lik(z, se=se, exposure=exposure, trials=trials)
        LS, w, g, f = self._parts(lik)
        n = LS.shape[0]
        mean, sd = np.empty(n), np.empty(n)
        _mixture.posterior_moments(LS, w, f, g, mean, sd)
        return lik.expand(mean), lik.expand(sd)

    def posterior_quantile(self, q, z=None, se=None, *, exposure=None, trials=None):
        """Posterior quantiles (on the grid): shape ``(n,)`` for scalar ``q``, else ``(n, len(q))``."""
        qs = np.atleast_1d(np.asarray(q, dtype=np.float64))
        if qs.ndim != 1 or np.any(~np.isfinite(qs)) or np.any((qs < 0) | (qs > 1)):
            raise ValueError("q must be probabilities in [0, 1]")
        order = np.argsort(qs)
        lik = self._lik(z, se=se, exposure=exposure, trials=trials)
        LS, w, g, f = self._parts(lik)
        out = np.empty((LS.shape[0], qs.size))
        _mixture.posterior_quantiles(LS, w, f, g, np.ascontiguousarray(qs[order]), out)
        res = np.empty_like(out)
        res[:, order] = out
        res = lik.expand(res)
        return res[:, 0] if np.ndim(q) == 0 else res

    def posterior_median(self, z=None, se=None, *, exposure=None, trials=None):
        """Posterior median of each unit (on the grid)."""
        return self.posterior_quantile(0.5, z, se, exposure=exposure, trials=trials)

    def posterior_interval(self, level=0.9, z=None, se=None, *, kind="equal", exposure=None, trials=None):
        """Credible interval of each unit: ``(lower, upper)`` arrays.

        ``kind="equal"``: equal-tailed (quantiles ``(1 -/+ level)/2``); ``kind="hpd"``: the
        shortest grid interval holding at least ``level`` posterior mass.
        """
        level = check_level(level)
        kind = check_choice(kind, "kind", ("equal", "hpd"))
        if kind == "equal":
            a = (1 - level) / 2
            q = self.posterior_quantile([a, 1 - a], z, se, exposure=exposure, trials=trials)
            return q[:, 0], q[:, 1]
        lik = self._lik(z, se=se, exposure=exposure, trials=trials)
        LS, w, g, f = self._parts(lik)
        n = LS.shape[0]
        lo, hi = np.empty(n), np.empty(n)
        _mixture.posterior_hpd(LS, w, f, g, level, lo, hi)
        return lik.expand(lo), lik.expand(hi)

    def _mass(self, mask, lik, parts=None):
        LS, w, g, f = self._parts(lik) if parts is None else parts
        S = np.flatnonzero(self.prior_.weights > 0)
        wm = np.where(mask[S], w, 0.0)
        return lik.expand(np.clip(LS @ wm / f, 0.0, 1.0))

    def lfdr(self, null=0.0, z=None, se=None, *, atol=None, exposure=None, trials=None):
        """Local false discovery rate ``P(theta_i in null | z_i)``.

        ``null`` is a value (the grid points within ``atol`` of it; default ``atol`` is half
        the smallest grid spacing, i.e. the grid point at the null) or an interval
        ``(lo, hi)``. Raises if no grid point falls in the null (refit with a grid
        containing it: automatic normal grids include 0).
        """
        g = self.prior_.grid
        if np.ndim(null) == 0:
            null = float(null)
            if atol is None:
                atol = 0.5 * float(np.min(np.diff(g))) if g.size > 1 else 0.0
            mask = np.abs(g - null) <= atol
        else:
            lo, hi = (float(v) for v in null)
            if hi < lo:
                raise ValueError("null interval must have lo <= hi")
            mask = (g >= lo) & (g <= hi)
        if not mask.any():
            raise ValueError(f"no grid point lies in the null {null!r}; fit with a grid that contains it")
        return self._mass(mask, self._lik(z, se=se, exposure=exposure, trials=trials))

    def lfsr(self, z=None, se=None, *, exposure=None, trials=None):
        """Local false sign rate ``min(P(theta_i >= 0 | z_i), P(theta_i <= 0 | z_i))``
        (Stephens 2017): the probability of getting the sign of ``theta_i`` wrong."""
        lik = self._lik(z, se=se, exposure=exposure, trials=trials)
        g = self.prior_.grid
        parts = self._parts(lik)
        return np.minimum(self._mass(g >= 0, lik, parts), self._mass(g <= 0, lik, parts))

    def posterior_draws(self, size=1, z=None, se=None, *, rng=None, exposure=None, trials=None):
        """Independent draws from each unit's posterior: array ``(n, size)``."""
        size = check_int(size, "size", min_value=1)
        rng = check_rng(rng)
        lik = self._lik(z, se=se, exposure=exposure, trials=trials)
        LS, w, g, f = self._parts(lik)
        n = lik.n_obs if lik.inverse is not None else LS.shape[0]
        u = rng.random((n, size))
        if lik.inverse is None:
            rows = np.arange(n)
        else:
            rows = lik.inverse
        # sort each unit's uniforms so one pass over the grid serves all its draws
        order = np.argsort(u, axis=1)
        us = np.take_along_axis(u, order, axis=1)
        Lr = LS if lik.inverse is None else np.ascontiguousarray(LS[rows])
        fr = f if lik.inverse is None else np.ascontiguousarray(f[rows])
        out = np.empty_like(us)
        _mixture.posterior_draws(Lr, w, fr, g, np.ascontiguousarray(us), out)
        res = np.empty_like(out)
        np.put_along_axis(res, order, out, axis=1)
        return res

    def transform(self, z=None, se=None, *, exposure=None, trials=None):
        """Posterior means (scikit-learn ``transform``): of the fitted data or of new data."""
        return self.posterior_mean(z, se, exposure=exposure, trials=trials)

    def _raw_estimates(self):
        d = self.data_
        if self.family_ == "normal":
            return d["z"]
        if self.family_ == "poisson":
            return d["k"] / d["exposure"]
        if self.family_ == "binomial":
            return d["k"] / d["trials"]
        return None

    def plot(self, ax=None, kind="prior"):
        """``kind="prior"``: the prior over a histogram of the raw estimates;
        ``kind="shrinkage"``: raw estimates against posterior means. Returns the Axes."""
        import matplotlib.pyplot as plt

        self._check_fitted()
        kind = check_choice(kind, "kind", ("prior", "shrinkage"))
        if ax is None:
            _, ax = plt.subplots()
        raw = self._raw_estimates()
        if kind == "prior":
            if raw is not None:
                ax2 = ax.twinx()
                ax2.hist(raw, bins=min(100, max(10, raw.size // 20)), density=True, color="0.8",
                         zorder=0, label="raw estimates")
                ax2.set_ylabel("density of raw estimates")
                ax.set_zorder(ax2.get_zorder() + 1)
                ax.patch.set_visible(False)
            self.prior_.plot(ax=ax)
            ax.set_title(f"{type(self).__name__} prior")
        else:
            if raw is None:
                raise ValueError("a shrinkage plot needs the raw estimates (not available for family='matrix')")
            pm = self.posterior_mean()
            ax.plot(raw, pm, ".", ms=2, alpha=0.5)
            lo, hi = float(np.min(raw)), float(np.max(raw))
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            ax.axhline(self.prior_.mean(), color="C1", lw=0.8)
            ax.set_xlabel("raw estimate")
            ax.set_ylabel("posterior mean")
            ax.set_title("shrinkage")
        return ax
