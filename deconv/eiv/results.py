"""Result classes of ``deconv.eiv``: one family, the same surface for every method.

Every fit returns an :class:`EIVResults` (or a subclass) with

* ``params`` -- the estimates, a 1-D array (names in ``param_names``),
* ``cov`` -- their estimated covariance matrix, ``bse`` -- standard errors,
* ``conf_int(alpha=0.05)`` -- ``(k, 2)`` Wald intervals (Student-t with ``df_resid``
  degrees of freedom when the method defines them, normal otherwise),
* ``tvalues``, ``pvalues``, ``summary()`` (a :class:`~deconv._summary.SummaryTable`)
  and ``plot(ax=None)`` returning the matplotlib Axes.
"""
import numpy as np
from scipy import special


from deconv._summary import SummaryTable
from deconv._validation import check_level

__all__ = ["EIVResults", "LineFitResults", "RegressionResults", "SimexResults", "ODRResults"]


class _Normal:
    """Standard normal quantiles/tails via scipy.special (importing scipy.stats is slow)."""

    df = np.inf

    @staticmethod
    def ppf(q):
        return special.ndtri(q)

    @staticmethod
    def sf(x):
        return special.ndtr(-np.asarray(x, dtype=float))


class _StudentT:
    def __init__(self, df):
        self.df = float(df)

    def ppf(self, q):
        return special.stdtrit(self.df, q)

    def sf(self, x):
        return special.stdtr(self.df, -np.asarray(x, dtype=float))


NORMAL = _Normal()


class EIVResults:
    """Estimates with a covariance matrix, from any errors-in-variables method.

    Parameters
    ----------
    params : array_like (k,)
    cov : array_like (k, k)
    param_names : list of str
    method : str
        Human-readable method name (shown by ``summary()``).
    nobs : int
    df_resid : float or None
        Degrees of freedom of Student-t intervals; None uses the normal distribution.
    se_method : str
        How ``cov`` was obtained ("analytic", "jackknife", "bootstrap", "sandwich", ...).
    info : list of (str, object)
        Extra header facts for ``summary()``.
    notes : list of str
    """

    def __init__(self, params, cov, param_names, method, nobs, *, df_resid=None,
                 se_method="analytic", info=(), notes=()):
        self.params = np.asarray(params, dtype=np.float64).copy()
        k = self.params.size
        cov = np.asarray(cov, dtype=np.float64)
        if cov.shape != (k, k):
            raise ValueError(f"cov must be ({k}, {k}), got {cov.shape}")
        self.cov = cov.copy()
        self.param_names = list(param_names)
        self.method = str(method)
        self.nobs = int(nobs)
        self.df_resid = df_resid
        self.se_method = se_method
        self.info = list(info)
        self.notes = list(notes)

    # -- inference ----------------------------------------------------------------
    @property
    def bse(self):
        """Standard errors ``sqrt(diag(cov))``."""
        return np.sqrt(np.clip(np.diag(self.cov), 0.0, None))

    @property
    def tvalues(self):
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.params / self.bse

    def _dist(self):
        if self.df_resid is None or not np.isfinite(self.df_resid):
            return NORMAL
        return _StudentT(self.df_resid)

    @property
    def pvalues(self):
        """Two-sided p-values of ``params == 0``."""
        return 2.0 * self._dist().sf(np.abs(self.tvalues))

    def conf_int(self, alpha=0.05):
        """Wald confidence intervals, array (k, 2) of ``(lower, upper)`` at level ``1 - alpha``."""
        alpha = check_level(alpha, "alpha")
        q = self._dist().ppf(1.0 - alpha / 2.0)
        return np.column_stack([self.params - q * self.bse, self.params + q * self.bse])

    def __getitem__(self, name):
        """Estimate by parameter name (``res["slope"]``)."""
        try:
            return self.params[self.param_names.index(name)]
        except ValueError:
            raise KeyError(f"no parameter named {name!r}; have {self.param_names}") from None

    # -- display ------------------------------------------------------------------
    def _summary_columns(self, alpha):
        ci = self.conf_int(alpha)
        lo, hi = f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]"
        normal = self._dist() is NORMAL
        cols = ["coef", "std err", "z" if normal else "t", "P>|z|" if normal else "P>|t|",
                lo, hi]
        rows = [(nm, [self.params[i], self.bse[i], self.tvalues[i], self.pvalues[i],
                      ci[i, 0], ci[i, 1]]) for i, nm in enumerate(self.param_names)]
        return cols, rows

    def summary(self, alpha=0.05):
        """A :class:`~deconv._summary.SummaryTable` of estimates, errors and intervals."""
        cols, rows = self._summary_columns(alpha)
        info = [("Method", self.method), ("Observations", self.nobs),
                ("Std. errors", self.se_method)] + self.info
        if self.df_resid is not None:
            info.append(("Df residuals", self.df_resid))
        return SummaryTable(f"{self.method} results", info=info, columns=cols, rows=rows,
                            notes=self.notes)

    def __repr__(self):
        est = ", ".join(f"{n}={v:.6g}" for n, v in zip(self.param_names, self.params))
        return f"<{type(self).__name__} {self.method}: {est}>"

    def plot(self, ax=None, alpha=0.05):
        """Coefficient plot: estimates with ``1 - alpha`` intervals. Returns the Axes."""
        ci = self.conf_int(alpha)
        return _interval_plot(ax, self.param_names, alpha,
                              [(self.params, ci[:, 0], ci[:, 1], 0.0,
                                dict(fmt="o", label=self.method))])


def _get_ax(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots()
    return ax


def _interval_plot(ax, names, alpha, series):
    """Coefficient plot shared by the result classes: one row per parameter.

    ``series`` holds ``(estimate, lower, upper, row_offset, errorbar_kwargs)`` per set of
    estimates drawn (e.g. naive and corrected side by side).
    """
    ax = _get_ax(ax)
    y = np.arange(len(names))
    for est, lo, hi, off, kw in series:
        est = np.asarray(est, dtype=float)
        ax.errorbar(est, y + off, xerr=[est - np.asarray(lo), np.asarray(hi) - est],
                    capsize=3, **kw)
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    ax.axvline(0.0, color="0.7", lw=0.8)
    ax.set_xlabel(f"estimate ({100 * (1 - alpha):g}% interval)")
    ax.legend(loc="best")
    return ax


class LineFitResults(EIVResults):
    """A straight line ``y = intercept + slope * x`` fitted with errors in both variables.

    Extra attributes: ``intercept``, ``slope``, ``x``, ``y`` (the data), ``mswd``
    (mean square of weighted deviates, York only), ``x_fitted``/``y_fitted`` (the
    least-squares adjusted points, when the method defines them), ``replicates``
    (jackknife or bootstrap estimates, when used).
    """

    def __init__(self, params, cov, method, x, y, *, sx=None, sy=None, mswd=None,
                 x_fitted=None, y_fitted=None, replicates=None, **kw):
        super().__init__(params, cov, ["intercept", "slope"], method, len(x), **kw)
        self.x, self.y = x, y
        self.sx, self.sy = sx, sy
        self.mswd = mswd
        self.x_fitted, self.y_fitted = x_fitted, y_fitted
        self.replicates = replicates

    @property
    def intercept(self):
        return float(self.params[0])

    @property
    def slope(self):
        return float(self.params[1])

    def predict(self, x):
        """``intercept + slope * x``."""
        return self.params[0] + self.params[1] * np.asarray(x, dtype=float)

    def plot(self, ax=None, alpha=0.05):
        """Data (with 1-sigma error bars when known) and the fitted line. Returns the Axes."""
        ax = _get_ax(ax)
        if self.sx is not None or self.sy is not None:
            ax.errorbar(self.x, self.y, xerr=self.sx, yerr=self.sy, fmt="o", ms=4,
                        capsize=2, color="C0", alpha=0.8, label="data")
        else:
            ax.plot(self.x, self.y, "o", ms=4, color="C0", alpha=0.8, label="data")
        xs = np.linspace(np.min(self.x), np.max(self.x), 200)
        ax.plot(xs, self.predict(xs), color="C3",
                label=f"{self.method}: y = {self.intercept:.4g} + {self.slope:.4g} x")
        # pointwise band for the line from cov(intercept, slope)
        se = np.sqrt(np.clip(self.cov[0, 0] + 2 * xs * self.cov[0, 1] + xs ** 2 * self.cov[1, 1],
                             0, None))
        q = self._dist().ppf(1 - alpha / 2)
        ax.fill_between(xs, self.predict(xs) - q * se, self.predict(xs) + q * se, color="C3",
                        alpha=0.15, lw=0, label=f"{100 * (1 - alpha):g}% band")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(loc="best")
        return ax


class RegressionResults(EIVResults):
    """A corrected regression (moments, regression calibration), with the naive fit beside it.

    Extra attributes: ``naive_params`` / ``naive_bse`` (the fit that ignores the error),
    ``family``, ``reliability`` (estimated reliability of each error-prone covariate),
    ``error_cov`` (error covariance used), ``replicates`` (bootstrap estimates if used).
    """

    def __init__(self, params, cov, param_names, method, nobs, *, naive_params=None,
                 naive_cov=None, family="linear", reliability=None, error_cov=None,
                 replicates=None, **kw):
        super().__init__(params, cov, param_names, method, nobs, **kw)
        self.naive_params = None if naive_params is None else np.asarray(naive_params)
        self.naive_cov = None if naive_cov is None else np.asarray(naive_cov)
        self.family = family
        self.reliability = reliability
        self.error_cov = error_cov
        self.replicates = replicates

    @property
    def naive_bse(self):
        return None if self.naive_cov is None else np.sqrt(np.diag(self.naive_cov))

    def _summary_columns(self, alpha):
        cols, rows = super()._summary_columns(alpha)
        if self.naive_params is None:
            return cols, rows
        return cols + ["naive"], [(nm, vals + [self.naive_params[i]])
                                  for i, (nm, vals) in enumerate(rows)]

    def predict(self, w, z=None, kind="mean"):
        """Prediction at true covariate values ``w`` (and ``z``): the linear predictor
        (``kind="linear"``) or the mean response through the family's link (``"mean"``)."""
        w = np.asarray(w, dtype=float)
        w = w[:, None] if w.ndim == 1 else w
        cols = [np.ones((w.shape[0], 1)), w]
        if z is not None:
            z = np.asarray(z, dtype=float)
            cols.append(z[:, None] if z.ndim == 1 else z)
        X = np.hstack(cols)
        if X.shape[1] != self.params.size:
            raise ValueError(f"need {self.params.size - 1} covariate columns, got "
                             f"{X.shape[1] - 1}")
        eta = X @ self.params
        if kind == "linear" or self.family == "linear":
            return eta
        if kind != "mean":
            raise ValueError("kind must be 'mean' or 'linear'")
        if self.family == "logistic":
            return 0.5 * (1.0 + np.tanh(0.5 * eta))
        return np.exp(eta)

    def plot(self, ax=None, alpha=0.05):
        """Naive vs corrected estimates with intervals. Returns the Axes."""
        q = self._dist().ppf(1 - alpha / 2)
        series = []
        if self.naive_params is not None:
            h = q * self.naive_bse
            series.append((self.naive_params, self.naive_params - h, self.naive_params + h,
                           0.15, dict(fmt="s", color="0.5", label="naive (ignores error)")))
        h = q * self.bse
        series.append((self.params, self.params - h, self.params + h, -0.15,
                       dict(fmt="o", color="C3", label=self.method)))
        return _interval_plot(ax, self.param_names, alpha, series)


class SimexResults(RegressionResults):
    """SIMEX fit: the extrapolated estimates plus the simulation curve.

    Extra attributes: ``lambdas`` (including 0), ``theta`` (``(len(lambdas), k)`` mean
    estimates at each lambda), ``extrapolant``, ``extrapolation`` (a callable giving the
    fitted extrapolation curve of every parameter at given lambdas), ``estimates``
    (``(len(lambdas)-1, B, k)`` replicate estimates when kept).
    """

    def __init__(self, params, cov, param_names, method, nobs, *, lambdas, theta,
                 extrapolant, extrapolation, estimates=None, **kw):
        super().__init__(params, cov, param_names, method, nobs, **kw)
        self.lambdas = np.asarray(lambdas)
        self.theta = np.asarray(theta)
        self.extrapolant = extrapolant
        self.extrapolation = extrapolation
        self.estimates = estimates

    def plot(self, ax=None, param=None, alpha=0.05):
        """Extrapolation plot: mean estimate against lambda, the fitted extrapolant, and the
        SIMEX estimate at ``lambda = -1``. ``param`` is a name or index (default: first
        error-prone coefficient). Returns the Axes."""
        ax = _get_ax(ax)
        if param is None:
            j = 1 if self.params.size > 1 else 0
        elif isinstance(param, str):
            j = self.param_names.index(param)
        else:
            j = int(param)
        grid = np.linspace(-1.0, self.lambdas.max(), 200)
        ax.plot(self.lambdas, self.theta[:, j], "o", color="C0", label="simulated means")
        ax.plot(grid, self.extrapolation(grid)[:, j], "-", color="C0",
                label=f"{self.extrapolant} extrapolant")
        q = self._dist().ppf(1 - alpha / 2)
        ax.errorbar([-1.0], [self.params[j]], yerr=[[q * self.bse[j]], [q * self.bse[j]]],
                    fmt="*", ms=12, color="C3", capsize=3, label="SIMEX estimate")
        ax.plot([0.0], [self.theta[0, j]], "s", color="0.4", label="naive")
        ax.axvline(-1.0, color="0.8", lw=0.8, ls="--")
        ax.set_xlabel(r"$\lambda$ (added error variance / error variance)")
        ax.set_ylabel(self.param_names[j])
        ax.legend(loc="best")
        return ax


class ODRResults(EIVResults):
    """Orthogonal distance regression fit of ``y = f(x; beta)``.

    Covariance conventions (ODRPACK's ``cov_beta`` confuses users, scipy issues 6842, 9857,
    16661): ``cov_unscaled`` is the inverse of the Gauss-Newton matrix
    ``(J^T W J)^{-1}`` at the solution, with the ``delta`` block eliminated; it is the
    covariance of ``beta`` **if the weights are exact inverse variances**. ``res_var`` is
    the weighted residual sum of squares over ``n - k``. ODRPACK's ``sd_beta`` equals
    ``sqrt(diag(cov_unscaled) * res_var)``. Here ``cov`` (hence ``bse``) is
    ``cov_unscaled * res_var`` when ``scale_cov=True`` (default, matches ``sd_beta``: use
    it when weights are only relative) and ``cov_unscaled`` when ``scale_cov=False``
    (weights known to be ``1 / variance``).
    """

    def __init__(self, params, cov, param_names, method, x, y, *, f, delta, eps,
                 cov_unscaled, res_var, sum_square, n_iter, converged, **kw):
        super().__init__(params, cov, param_names, method, np.shape(y)[-1], **kw)
        self.x, self.y, self.f = x, y, f
        self.delta, self.eps = delta, eps
        self.cov_unscaled = cov_unscaled
        self.res_var = res_var
        self.sum_square = sum_square
        self.n_iter = n_iter
        self.converged = converged

    @property
    def sd_beta(self):
        """ODRPACK's ``sd_beta``: ``sqrt(diag(cov_unscaled) * res_var)``."""
        return np.sqrt(np.diag(self.cov_unscaled) * self.res_var)

    @property
    def xplus(self):
        return self.x + self.delta

    def plot(self, ax=None, alpha=0.05):
        """Data, adjusted points and the fitted curve. Returns the Axes."""
        ax = _get_ax(ax)
        x = np.asarray(self.x)
        if x.ndim > 1:
            # several explanatory variables: observed against fitted
            fitted = np.asarray(self.y) + self.eps
            ax.plot(fitted, self.y, "o", ms=4, color="C0", label="data")
            lims = [min(fitted.min(), np.min(self.y)), max(fitted.max(), np.max(self.y))]
            ax.plot(lims, lims, color="C3", label="y = fitted")
            ax.set_xlabel("fitted f(x + delta; beta)")
            ax.set_ylabel("y")
            ax.legend(loc="best")
            return ax
        ax.plot(x, self.y, "o", ms=4, color="C0", label="data")
        ax.plot(self.xplus, np.asarray(self.y) + self.eps, ".", ms=3, color="C1",
                label="adjusted points")
        xs = np.linspace(x.min(), x.max(), 300)
        ax.plot(xs, self.f(xs, self.params), color="C3", label="ODR fit")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(loc="best")
        return ax
