r"""Straight lines through data with errors in both variables.

Model: ``x_i = xi_i + u_i``, ``y_i = alpha + beta * xi_i + e_i``.

* :func:`deming` -- known error-variance ratio ``delta = var(e) / var(u)`` (Deming 1943;
  Linnet 1990); ``delta = 1`` is :func:`orthogonal` regression (total least squares).
* :func:`york` -- per-point standard errors of ``x`` and ``y`` and their correlation
  (York 1966; York, Evensen, Martinez & De Basabe Delgado 2004), reporting the MSWD.
* :func:`passing_bablok`, :func:`theil_sen` -- rank-based robust alternatives used in
  method-comparison studies (Passing & Bablok 1983; Theil 1950, Sen 1968).

All return a :class:`~deconv.eiv.results.LineFitResults` (``params = [intercept, slope]``).
Fits are O(n) (O(n^2) for the pairwise-slope methods); the Deming jackknife is O(n) via
leave-one-out updates of the sums of squares.
"""
import warnings

import numpy as np
from scipy import special

from deconv._validation import (as_1d_float, as_scale, check_choice, check_int, check_level,
                                check_positive_scalar, check_rng, check_same_length)
from deconv.eiv._errors import MeasurementError, values_and_sd
from deconv.eiv.results import LineFitResults
from deconv.exceptions import ConvergenceWarning

__all__ = ["deming", "orthogonal", "york", "passing_bablok", "theil_sen"]


def _xy(x, y, min_size=3):
    x = as_1d_float(x, "x", min_size=min_size)
    y = as_1d_float(y, "y", min_size=min_size)
    check_same_length(x=x, y=y)
    if np.ptp(x) == 0:
        raise ValueError("x is constant; no line can be fitted")
    return x, y


# ----------------------------------------------------------------------------- Deming
def _deming_from_moments(sxx, syy, sxy, delta):
    """Deming slope from centred sums (vectorised). ``delta = var(e_y) / var(e_x)``."""
    d = syy - delta * sxx
    with np.errstate(divide="ignore", invalid="ignore"):
        return (d + np.sqrt(d * d + 4.0 * delta * sxy * sxy)) / (2.0 * sxy)


def _deming_fit(x, y, delta):
    xm, ym = x.mean(), y.mean()
    dx, dy = x - xm, y - ym
    sxx, syy, sxy = dx @ dx, dy @ dy, dx @ dy
    b = _deming_from_moments(sxx, syy, sxy, delta)
    return np.array([ym - b * xm, b]), (sxx, syy, sxy, xm, ym)


def _deming_jackknife(x, y, delta):
    """Leave-one-out Deming estimates in O(n) by downdating the centred sums."""
    n = x.size
    sx, sy = x.sum(), y.sum()
    sxx, syy, sxy = x @ x, y @ y, x @ y
    m = n - 1
    sx_i, sy_i = sx - x, sy - y
    cxx = (sxx - x * x) - sx_i * sx_i / m
    cyy = (syy - y * y) - sy_i * sy_i / m
    cxy = (sxy - x * y) - sx_i * sy_i / m
    b = _deming_from_moments(cxx, cyy, cxy, delta)
    a = sy_i / m - b * sx_i / m
    return np.column_stack([a, b])


def _leave_one_out(n):
    """Index arrays of the n leave-one-out samples (O(n) memory each, made lazily)."""
    full = np.arange(n)
    for i in range(n):
        yield np.delete(full, i)


def _jackknife_cov(est):
    n = est.shape[0]
    d = est - est.mean(axis=0)
    return (n - 1) / n * d.T @ d


def _bootstrap(fit, x, y, n_boot, rng, extra=()):
    """Row-resampling bootstrap estimates (B, 2) of ``fit(x, y, *extra)``."""
    n = x.size
    out = np.empty((n_boot, 2))
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        out[b] = fit(x[idx], y[idx], *(e[idx] for e in extra))
    return out


def _weighted_deming_fit(x, y, delta, tol=1e-14, maxiter=200):
    """Linnet's (1990) weighted Deming fit for proportional errors (constant CV).

    Weights ``1 / d_i^2`` with ``d_i = (x^_i + lambda y^_i) / (1 + lambda)`` computed from
    the current estimates of the true values (``lambda = 1/delta``), iterated to a fixed
    point. Returns ``(params, iterations, converged)``.
    """
    lam = 1.0 / delta
    xh, yh = x, y
    b_old = np.nan
    for it in range(1, maxiter + 1):
        d = (xh + lam * yh) / (1.0 + lam)
        w = 1.0 / (d * d)
        sw = w.sum()
        xm, ym = w @ x / sw, w @ y / sw
        dx, dy = x - xm, y - ym
        u, q, p = w @ (dx * dx), w @ (dy * dy), w @ (dx * dy)
        b = ((lam * q - u) + np.sqrt((u - lam * q) ** 2 + 4 * lam * p * p)) / (2 * lam * p)
        a = ym - b * xm
        r = y - a - b * x
        xh = x + lam * b * r / (1.0 + lam * b * b)
        yh = a + b * xh
        if abs(b - b_old) <= tol * abs(b):
            return np.array([a, b]), it, True
        b_old = b
    return np.array([a, b]), maxiter, False


def deming(x, y, ratio=None, *, x_error=None, y_error=None, weighted=False, se="jackknife",
           n_boot=999, rng=None):
    r"""Deming regression: a straight line with a known ratio of error variances.

    Model: ``x_i = xi_i + u_i``, ``y_i = alpha + beta xi_i + e_i`` with independent
    ``u_i ~ (0, s_u^2)``, ``e_i ~ (0, s_e^2)`` and known ``delta = s_e^2 / s_u^2``. The
    maximum-likelihood slope (normal errors, Deming 1943; Fuller 1987, eq. 1.3.7) is

    .. math::

        \hat\beta = \frac{S_{yy} - \delta S_{xx} + \sqrt{(S_{yy} - \delta S_{xx})^2
                    + 4 \delta S_{xy}^2}}{2 S_{xy}},\qquad
        \hat\alpha = \bar y - \hat\beta \bar x .

    Parameters
    ----------
    x, y : array_like (n,)
        Paired measurements (reference method ``x``, test method ``y``).
    ratio : float, optional
        ``delta = var(error of y) / var(error of x)``. Default 1 (orthogonal regression)
        unless ``x_error`` and ``y_error`` are given. Note: R's ``mcr`` and
        Analyse-it call ``var(error of x) / var(error of y)`` the "error ratio", the
        reciprocal of ``delta``.
    x_error, y_error : MeasurementError, optional
        Error descriptions for both methods (e.g. ``MeasurementError(replicates=True)``
        with ``x``, ``y`` of shape ``(n, k)``); then ``delta`` is the ratio of the two
        error variances and the unit means are fitted.
    weighted : bool
        Weighted Deming regression for proportional errors (constant coefficients of
        variation; Linnet 1990): weights ``1/d_i^2`` with ``d_i`` the average of the
        estimated true values, iterated. Needs positive data; SEs by jackknife or bootstrap.
    se : {"jackknife", "analytic", "bootstrap"}
        Standard errors: leave-one-out jackknife (Linnet 1990; the method-comparison
        standard), the large-sample formula of Fuller (1987, Thm 1.3.1), or a row bootstrap.
        Intervals use Student-t with ``n - 2`` degrees of freedom.
    n_boot : int
        Bootstrap replicates when ``se="bootstrap"``.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    LineFitResults

    References
    ----------
    Deming, W. E. (1943). *Statistical Adjustment of Data*. Wiley.
    Fuller, W. A. (1987). *Measurement Error Models*, section 1.3. Wiley.
    Linnet, K. (1990). Estimation of the linear relationship between the measurements of
    two methods with proportional errors. *Statistics in Medicine* 9, 1463-1473.

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> rng = np.random.default_rng(0)
    >>> xi = rng.uniform(0, 10, 200)
    >>> x, y = xi + rng.normal(0, 0.5, 200), 1 + 2 * xi + rng.normal(0, 1.0, 200)
    >>> res = dc.eiv.deming(x, y, ratio=4.0)
    >>> bool(abs(res.slope - 2) < 0.1)
    True
    """
    se = check_choice(se, "se", ("jackknife", "analytic", "bootstrap"))
    notes = []
    if x_error is not None or y_error is not None:
        if x_error is None or y_error is None or ratio is not None:
            raise ValueError("give both x_error and y_error (and no ratio), or ratio alone")
        for nm, e in (("x_error", x_error), ("y_error", y_error)):
            if not isinstance(e, MeasurementError):
                raise TypeError(f"{nm} must be a MeasurementError, got {type(e).__name__}")
            if e.kind == "reliability":
                raise ValueError(f"{nm}: a reliability ratio does not define Deming's delta; "
                                 "give an error variance or replicates")
        rx, ry = x_error.resolve(x, "x"), y_error.resolve(y, "y")
        if rx.p != 1 or ry.p != 1:
            raise ValueError("deming fits one x against one y")
        x, y = rx.w[:, 0], ry.w[:, 0]
        delta = float(ry.cov[0, 0] / rx.cov[0, 0])
        notes.append(f"delta = var(e_y)/var(e_x) = {delta:.6g} from the error descriptions")
    else:
        delta = 1.0 if ratio is None else check_positive_scalar(ratio, "ratio")
    x, y = _xy(x, y)
    n = x.size
    params, (sxx, syy, sxy, xm, ym) = _deming_fit(x, y, delta)
    if sxy == 0:
        raise ValueError("x and y are uncorrelated (S_xy = 0): the Deming slope is undefined")
    if weighted:
        return _weighted_deming(x, y, delta, se, n_boot, rng, notes)
    b = params[1]
    replicates = None
    if se == "jackknife":
        replicates = _deming_jackknife(x, y, delta)
        cov = _jackknife_cov(replicates)
    elif se == "bootstrap":
        n_boot = check_int(n_boot, "n_boot", min_value=10)
        gen = check_rng(rng)
        replicates = _bootstrap(lambda a, c: _deming_fit(a, c, delta)[0], x, y, n_boot, gen)
        cov = np.cov(replicates, rowvar=False)
    else:
        cov = _deming_analytic_cov(b, delta, sxx, syy, sxy, xm, n)
    # adjusted points: the ML estimates of (xi_i, alpha + beta xi_i)
    r = y - params[0] - b * x
    x_hat = x + b * r / (delta + b * b)
    return LineFitResults(params, cov, "Deming" if delta != 1 else "Orthogonal (Deming, delta=1)",
                          x, y, x_fitted=x_hat, y_fitted=params[0] + b * x_hat,
                          replicates=replicates, df_resid=n - 2, se_method=se,
                          info=[("delta = var(e_y)/var(e_x)", delta)], notes=notes)


def _weighted_deming(x, y, delta, se, n_boot, rng, notes):
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("weighted Deming regression (proportional errors) needs positive "
                         "x and y")
    if se == "analytic":
        raise ValueError("weighted Deming has no analytic standard errors here; use "
                         "se='jackknife' or 'bootstrap'")
    n = x.size
    params, it, ok = _weighted_deming_fit(x, y, delta)
    if not ok:
        warnings.warn("weighted Deming iteration did not converge", ConvergenceWarning,
                      stacklevel=3)
    if se == "jackknife":
        replicates = np.array([_weighted_deming_fit(x[k], y[k], delta)[0]
                               for k in _leave_one_out(n)])
        cov = _jackknife_cov(replicates)
    else:
        n_boot = check_int(n_boot, "n_boot", min_value=10)
        gen = check_rng(rng)
        replicates = _bootstrap(lambda a, c: _weighted_deming_fit(a, c, delta)[0], x, y,
                                n_boot, gen)
        cov = np.cov(replicates, rowvar=False)
    return LineFitResults(params, cov, "Weighted Deming (Linnet 1990)", x, y,
                          replicates=replicates, df_resid=n - 2, se_method=se,
                          info=[("delta = var(e_y)/var(e_x)", delta), ("Iterations", it)],
                          notes=notes)


def _deming_analytic_cov(b, delta, sxx, syy, sxy, xm, n):
    """Fuller (1987) Theorem 1.3.1 large-sample covariance, delta known."""
    mxx, myy, mxy = sxx / (n - 1), syy / (n - 1), sxy / (n - 1)
    # error variance of x (Fuller 1.3.11 with the n-2 degrees-of-freedom correction)
    s_uu = (n - 1) / (n - 2) * (myy - 2 * b * mxy + b * b * mxx) / (delta + b * b)
    s_vv = (delta + b * b) * s_uu          # var(e - b u)
    s_xx = mxx - s_uu                      # variance of the true x
    if s_xx <= 0:
        s_xx = abs(mxy / b) if b != 0 else mxx
    var_b = (s_vv / s_xx + delta * s_uu * s_uu / s_xx ** 2) / (n - 1)
    var_a = s_vv / n + xm * xm * var_b
    return np.array([[var_a, -xm * var_b], [-xm * var_b, var_b]])


def orthogonal(x, y, *, se="jackknife", n_boot=999, rng=None):
    """Orthogonal (total least squares) line: :func:`deming` with ``ratio=1``.

    Minimises the sum of squared perpendicular distances; appropriate when both variables
    are in the same units and have equal error variances.

    Examples
    --------
    >>> import deconv as dc
    >>> res = dc.eiv.orthogonal([0, 1, 2, 3], [0.1, 0.9, 2.1, 2.9])
    >>> round(res.slope, 3)
    0.963
    """
    return deming(x, y, 1.0, se=se, n_boot=n_boot, rng=rng)


# ----------------------------------------------------------------------------- York
def york(x, y, sx, sy, r=0.0, *, tol=1e-15, maxiter=1000, scale_by_mswd=False,
         se="analytic", n_boot=999, rng=None):
    r"""York's best straight line with per-point errors in x and y (York et al. 2004).

    Each point has standard errors ``sx_i``, ``sy_i`` (weights ``omega(X_i) = 1/sx_i^2``,
    ``omega(Y_i) = 1/sy_i^2``) and error correlation ``r_i``. The slope solves York's
    equations by fixed-point iteration:

    .. math::

        W_i = \frac{\omega(X_i)\omega(Y_i)}{\omega(X_i) + b^2\omega(Y_i)
              - 2 b r_i \alpha_i},\quad \alpha_i = \sqrt{\omega(X_i)\omega(Y_i)},\\
        \beta_i = W_i\Big[\frac{U_i}{\omega(Y_i)} + \frac{b V_i}{\omega(X_i)}
              - (b U_i + V_i)\frac{r_i}{\alpha_i}\Big],\quad
        b = \frac{\sum W_i \beta_i V_i}{\sum W_i \beta_i U_i},

    with ``U_i = X_i - Xbar``, ``V_i = Y_i - Ybar`` (``W``-weighted means) and
    ``a = Ybar - b Xbar``. Standard errors are York et al.'s (2004) eq. (13)-(14):
    ``sigma_b^2 = 1 / sum W_i u_i^2``, ``sigma_a^2 = 1/sum W_i + xbar^2 sigma_b^2`` with
    ``u_i`` the deviations of the least-squares adjusted points ``x_i = Xbar + beta_i``.

    Parameters
    ----------
    x, y : array_like (n,)
    sx, sy : float, array_like (n,) or MeasurementError
        Standard errors (1 sigma) of x and y, positive; or error descriptions resolved
        against ``x``/``y`` (e.g. ``MeasurementError(replicates=True)`` with ``x`` of
        shape ``(n, k)``: unit means with standard errors ``sqrt(s^2 / k_i)``).
    r : float or array_like (n,)
        Correlation of the x and y errors of each point, in (-1, 1).
    tol : float
        Relative convergence tolerance of the slope.
    maxiter : int
    scale_by_mswd : bool
        Multiply the covariance by the MSWD (for over-dispersed data, "model 1" of
        Isoplot); default False reports York's (2004) analytic errors.
    se : {"analytic", "jackknife", "bootstrap"}
        York's analytic errors, or leave-one-out jackknife / point-resampling bootstrap
        (each point keeping its own ``sx``, ``sy``, ``r``).
    n_boot : int
        Bootstrap replicates for ``se="bootstrap"``.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    LineFitResults
        ``mswd = sum W_i (Y_i - a - b X_i)^2 / (n - 2)`` and ``p_value_mswd`` (chi-square
        test of the fit) are attached; ``x_fitted`` holds the adjusted points.

    References
    ----------
    York, D. (1966). Least-squares fitting of a straight line. *Can. J. Phys.* 44, 1079.
    York, D., Evensen, N. M., Martinez, M. L. & De Basabe Delgado, J. (2004). Unified
    equations for the slope, intercept, and standard errors of the best straight line.
    *Am. J. Phys.* 72, 367-375.

    Examples
    --------
    Pearson's (1901) data with York's (1966) weights:

    >>> import numpy as np, deconv as dc
    >>> x = [0, 0.9, 1.8, 2.6, 3.3, 4.4, 5.2, 6.1, 6.5, 7.4]
    >>> y = [5.9, 5.4, 4.4, 4.6, 3.5, 3.7, 2.8, 2.8, 2.4, 1.5]
    >>> wx = np.array([1000, 1000, 500, 800, 200, 80, 60, 20, 1.8, 1])
    >>> wy = np.array([1, 1.8, 4, 8, 20, 20, 70, 70, 100, 500])
    >>> res = dc.eiv.york(x, y, 1 / np.sqrt(wx), 1 / np.sqrt(wy))
    >>> print(np.round(res.params, 4))
    [ 5.4799 -0.4805]
    """
    x, sx = values_and_sd(x, sx, "x")
    y, sy = values_and_sd(y, sy, "y")
    x, y = _xy(x, y)
    n = x.size
    sx, _ = as_scale(sx, n, "sx")
    sy, _ = as_scale(sy, n, "sy")
    r_arr = np.asarray(r, dtype=np.float64)
    if r_arr.ndim == 0:
        r_arr = np.full(n, float(r_arr))
    elif r_arr.shape != (n,):
        raise ValueError(f"r must be a scalar or have {n} values, got shape {r_arr.shape}")
    if not np.all(np.isfinite(r_arr)) or np.any(np.abs(r_arr) >= 1):
        raise ValueError("r (error correlations) must lie strictly between -1 and 1")
    maxiter = check_int(maxiter, "maxiter", min_value=1)
    tol = check_positive_scalar(tol, "tol")
    se = check_choice(se, "se", ("analytic", "jackknife", "bootstrap"))
    a, b, cov, mswd, p_mswd, it, x_adj = _york_core(x, y, sx, sy, r_arr, tol, maxiter)
    replicates = None
    notes = []
    se_label = "analytic (York 2004)"
    if se == "jackknife":
        replicates = np.array([_york_core(x[k], y[k], sx[k], sy[k], r_arr[k], tol, maxiter,
                                          quiet=True)[:2] for k in _leave_one_out(n)])
        cov = _jackknife_cov(replicates)
        se_label = "jackknife"
    elif se == "bootstrap":
        n_boot = check_int(n_boot, "n_boot", min_value=10)
        gen = check_rng(rng)
        replicates = np.empty((n_boot, 2))
        for i in range(n_boot):
            idx = gen.integers(0, n, n)
            if np.ptp(x[idx]) == 0:
                replicates[i] = np.nan
                continue
            replicates[i] = _york_core(x[idx], y[idx], sx[idx], sy[idx], r_arr[idx], tol,
                                       maxiter, quiet=True)[:2]
        replicates = replicates[np.isfinite(replicates).all(axis=1)]
        cov = np.cov(replicates, rowvar=False)
        se_label = f"bootstrap (B={replicates.shape[0]})"
    if scale_by_mswd:
        cov = cov * mswd
        notes.append("covariance multiplied by the MSWD")
        se_label += " x MSWD"
    res = LineFitResults([a, b], cov, "York (2004)", x, y, sx=sx, sy=sy, mswd=mswd,
                         x_fitted=x_adj, y_fitted=a + b * x_adj, df_resid=None,
                         replicates=replicates, se_method=se_label,
                         info=[("MSWD", mswd), ("P(chi2 > MSWD (n-2))", p_mswd),
                               ("Iterations", it)], notes=notes)
    res.p_value_mswd = p_mswd
    res.n_iter = it
    return res


def _york_core(x, y, sx, sy, r_arr, tol, maxiter, quiet=False):
    """York et al. (2004) iteration; returns a, b, cov, mswd, p_mswd, iterations, x_adj."""
    n = x.size
    wx, wy = 1.0 / sx ** 2, 1.0 / sy ** 2
    alpha = np.sqrt(wx * wy)

    def weights(b):
        return wx * wy / (wx + b * b * wy - 2.0 * b * r_arr * alpha)

    b = np.polyfit(x, y, 1)[0]            # OLS start
    converged = False
    for it in range(maxiter):
        W = weights(b)
        xbar, ybar = W @ x / W.sum(), W @ y / W.sum()
        U, V = x - xbar, y - ybar
        beta = W * (U / wy + b * V / wx - (b * U + V) * r_arr / alpha)
        b_new = (W * beta) @ V / ((W * beta) @ U)
        if abs(b_new - b) <= tol * max(abs(b_new), 1e-300):
            b = b_new
            converged = True
            break
        b = b_new
    if not converged and not quiet:
        warnings.warn(f"york: slope did not converge in {maxiter} iterations",
                      ConvergenceWarning, stacklevel=3)
    W = weights(b)
    sw = W.sum()
    xbar, ybar = W @ x / sw, W @ y / sw
    U, V = x - xbar, y - ybar
    beta = W * (U / wy + b * V / wx - (b * U + V) * r_arr / alpha)
    a = ybar - b * xbar
    x_adj = xbar + beta
    x_adj_bar = W @ x_adj / sw
    u = x_adj - x_adj_bar
    var_b = 1.0 / (W @ (u * u))
    var_a = 1.0 / sw + x_adj_bar ** 2 * var_b
    cov_ab = -x_adj_bar * var_b
    cov = np.array([[var_a, cov_ab], [cov_ab, var_b]])
    chi2 = W @ (y - b * x - a) ** 2
    mswd = chi2 / (n - 2)
    p_mswd = float(special.chdtrc(n - 2, chi2)) if not quiet else np.nan
    return a, b, cov, mswd, p_mswd, it + 1, x_adj


# ----------------------------------------------------------------------------- robust lines
def _pairwise_slopes(x, y):
    i, j = np.triu_indices(x.size, k=1)
    dx, dy = x[j] - x[i], y[j] - y[i]
    return dx, dy


def _half_index(s, h2):
    """Element at 1-based position ``h2 / 2`` of sorted ``s`` (mean of neighbours if even)."""
    half = (h2 + 1) // 2
    if h2 % 2 == 1:
        return s[half - 1]
    return 0.5 * (s[half - 1] + s[half])


def _shifted_median_ci(s, k_shift, n, level):
    """Shifted median of sorted slopes ``s`` and its distribution-free interval.

    ``C = z sqrt(n(n-1)(2n+5)/18)`` (the normal approximation to Kendall's tau, Sen 1968);
    the limits are the order statistics at positions ``(N -+ C)/2 + K``, taken as quantiles
    in analogy with the median (the mean of two neighbours when the position is a half
    integer), as R's ``mcr`` and Analyse-it do. Passing & Bablok (1983) round ``(N - C)/2``
    instead; the two differ by at most one order statistic.
    """
    N = s.size
    b = _half_index(s, N + 2 * k_shift)
    z = special.ndtri(0.5 + level / 2)
    C = z * np.sqrt(n * (n - 1) * (2 * n + 5) / 18.0)
    lo_h2 = int(np.round(N - C + 2 * k_shift))
    hi_h2 = int(np.round(N + C + 2 * k_shift))
    lo = _half_index(s, lo_h2) if lo_h2 >= 1 else -np.inf
    hi = _half_index(s, hi_h2) if hi_h2 <= 2 * N - 1 else np.inf
    return b, lo, hi


def _robust_result(method, x, y, b, b_lo, b_hi, level, n):
    a = np.median(y - b * x)
    # intercept limits from the slope limits (Passing & Bablok 1983, sec. 3)
    a_1 = np.median(y - b_hi * x) if np.isfinite(b_hi) else -np.inf
    a_2 = np.median(y - b_lo * x) if np.isfinite(b_lo) else np.inf
    a_lo, a_hi = min(a_1, a_2), max(a_1, a_2)
    z = special.ndtri(0.5 + level / 2)
    # a symmetric-error summary for cov: half-width / z (the intervals themselves are the
    # distribution-free ones in `.ci`)
    se_b = (b_hi - b_lo) / (2 * z)
    se_a = (a_hi - a_lo) / (2 * z)
    cov = np.diag([se_a ** 2, se_b ** 2])
    res = LineFitResults([a, b], cov, method, x, y, df_resid=None,
                         se_method="rank-based (half-width of the distribution-free interval)",
                         notes=["conf_int() returns the distribution-free interval at the "
                                "level given to the fit; bse = half-width / z"])
    res.ci = np.array([[a_lo, a_hi], [b_lo, b_hi]])
    res._ci_level = level

    def conf_int(alpha=None):
        if alpha is not None and not np.isclose(1 - alpha, level):
            raise ValueError(f"this {method} fit holds a {level:g} interval; refit with "
                             f"level={1 - alpha:g}")
        return res.ci.copy()
    res.conf_int = conf_int
    return res


def passing_bablok(x, y, *, level=0.95):
    r"""Passing-Bablok regression: a robust, distribution-free method-comparison line.

    All pairwise slopes ``S_ij = (y_j - y_i)/(x_j - x_i)`` except ``0/0`` and those equal
    to ``-1`` are sorted; with ``K`` the number of slopes below ``-1`` the slope is the
    median shifted by ``K`` (which makes it invariant to swapping x and y), and the
    intercept is ``median(y_i - b x_i)``. The ``level`` interval for the slope takes the
    order statistics ``M1 + K`` and ``M2 + K`` with
    ``C = z sqrt(n(n-1)(2n+5)/18)``, ``M1 = round((N - C)/2)``, ``M2 = N - M1 + 1``.

    Parameters
    ----------
    x, y : array_like (n,)
    level : float
        Confidence level of the distribution-free intervals.

    Returns
    -------
    LineFitResults
        ``conf_int()`` returns the distribution-free intervals; ``bse`` their half-width/z.

    References
    ----------
    Passing, H. & Bablok, W. (1983). A new biometrical procedure for testing the equality
    of measurements from two different analytical methods. *J. Clin. Chem. Clin. Biochem.*
    21, 709-720.

    Examples
    --------
    >>> import deconv as dc
    >>> res = dc.eiv.passing_bablok([1, 2, 3, 4, 5], [1.1, 2.0, 2.9, 4.2, 5.0])
    >>> round(res.slope, 4)
    0.9875
    """
    level = check_level(level, "level")
    x, y = _xy(x, y)
    dx, dy = _pairwise_slopes(x, y)
    keep = ~((dx == 0) & (dy == 0))
    dx, dy = dx[keep], dy[keep]
    with np.errstate(divide="ignore"):
        s = np.where(dx != 0, dy / np.where(dx != 0, dx, 1.0), np.sign(dy) * np.inf)
    s = s[s != -1.0]
    s.sort()
    k_shift = int(np.sum(s < -1.0))
    b, lo, hi = _shifted_median_ci(s, k_shift, x.size, level)
    return _robust_result("Passing-Bablok", x, y, b, lo, hi, level, x.size)


def theil_sen(x, y, *, level=0.95):
    r"""Theil-Sen line: median of pairwise slopes, intercept ``median(y - b x)``.

    Pairs with equal x are skipped. The slope interval takes the order statistics
    ``round((N - z sigma)/2) - 1`` and ``round((N + z sigma)/2)`` (0-based) of the ``N`` sorted slopes, ``sigma^2`` the variance of
    Kendall's statistic with tie corrections (Sen 1968), as ``scipy.stats.theilslopes``.

    References
    ----------
    Theil, H. (1950). A rank-invariant method of linear and polynomial regression
    analysis. *Indag. Math.* 12, 85-91. Sen, P. K. (1968). Estimates of the regression
    coefficient based on Kendall's tau. *JASA* 63, 1379-1389.

    Examples
    --------
    >>> import deconv as dc
    >>> round(dc.eiv.theil_sen([1, 2, 3, 4], [2, 4.1, 6, 8.2]).slope, 4)
    2.0583
    """
    level = check_level(level, "level")
    x, y = _xy(x, y)
    dx, dy = _pairwise_slopes(x, y)
    keep = dx != 0
    s = np.sort(dy[keep] / dx[keep])
    if s.size == 0:
        raise ValueError("all x values are equal; no Theil-Sen slope")
    b = _half_index(s, s.size)
    # Sen (1968): Kendall-tau variance with tie corrections; 0-based order statistics
    # round((N -+ z sigma) / 2) as in scipy.stats.theilslopes
    n = x.size

    def ties(v):
        _, c = np.unique(v, return_counts=True)
        return np.sum(c * (c - 1) * (2 * c + 5))
    sig = np.sqrt((n * (n - 1) * (2 * n + 5) - ties(x) - ties(y)) / 18.0)
    z = special.ndtri(0.5 + level / 2)
    lo_i = max(int(np.round((s.size - z * sig) / 2.0)) - 1, 0)
    hi_i = min(int(np.round((s.size + z * sig) / 2.0)), s.size - 1)
    lo, hi = s[lo_i], s[hi_i]
    return _robust_result("Theil-Sen", x, y, b, lo, hi, level, n)
