"""Small, fast GLM fits (linear, logistic, Poisson) used inside SIMEX, regression
calibration and their resampling loops: no formula machinery, warm starts, and the
logistic/Poisson Newton iterations in the compiled kernel ``deconv._kernels._eiv_glm``.

Callers validate the data once; these helpers assume finite float64 arrays of matching
shapes (``X`` C-contiguous ``(n, k)``).
"""
import numpy as np

from deconv._kernels._eiv_glm import glm_accumulate

FAMILIES = ("linear", "logistic", "poisson")
_CODE = {"logistic": 1, "poisson": 2}


def check_response(y, family):
    """Validate the response for the family (0/1 for logistic, counts for Poisson)."""
    if family == "logistic" and not np.all((y == 0) | (y == 1)):
        raise ValueError("y must contain only 0 and 1 for family='logistic'")
    if family == "poisson" and (np.any(y < 0) or np.any(y != np.round(y))):
        raise ValueError("y must contain non-negative integer counts for family='poisson'")


def start_values(y, k, family):
    beta = np.zeros(k)
    m = float(np.mean(y))
    if family == "logistic":
        m = min(max(m, 1e-6), 1 - 1e-6)
        beta[0] = np.log(m / (1 - m))
    elif family == "poisson":
        beta[0] = np.log(max(m, 1e-10))
    return beta


class GLMFit:
    """beta, model-based covariance, information matrix and convergence status."""

    __slots__ = ("beta", "cov", "info", "converged", "n_iter", "scale")

    def __init__(self, beta, cov, info, converged, n_iter, scale):
        self.beta, self.cov, self.info = beta, cov, info
        self.converged, self.n_iter, self.scale = converged, n_iter, scale


def fit_glm(X, y, family, beta0=None, weights=None, maxiter=50, tol=1e-10, want_cov=True,
            quadratic_stop=False):
    """Fit ``y ~ X`` (X includes the intercept column). Returns a :class:`GLMFit`.

    Linear: least squares, ``cov = s^2 (X^T X)^{-1}`` with ``s^2 = RSS / (n - k)``.
    Logistic / Poisson: Newton from ``beta0`` (or a null-model start), ``cov`` the inverse
    Fisher information. Converged when every step satisfies
    ``|step_j| <= tol (1 + |beta_j|)``; with ``quadratic_stop`` the test is against
    ``sqrt(tol)``, because Newton's quadratic convergence leaves an error of order
    ``step^2`` after the step (one pass fewer for warm-started refits).
    """
    n, k = X.shape
    if family == "linear":
        if weights is None:
            xtx = X.T @ X
            xty = X.T @ y
        else:
            xtx = (X * weights[:, None]).T @ X
            xty = X.T @ (weights * y)
        try:
            beta = np.linalg.solve(xtx, xty)
        except np.linalg.LinAlgError:
            return GLMFit(np.full(k, np.nan), np.full((k, k), np.nan), xtx, False, 1, np.nan)
        cov = None
        s2 = np.nan
        if want_cov:
            r = y - X @ beta
            wsum = n if weights is None else weights.sum()
            s2 = float((r @ r if weights is None else (weights * r) @ r) / max(wsum - k, 1))
            cov = s2 * np.linalg.inv(xtx)
        return GLMFit(beta, cov, xtx / s2 if want_cov else xtx, True, 1, s2)
    if k > 64:
        raise ValueError("the built-in logistic/Poisson refits support at most 64 coefficients")
    beta = start_values(y, k, family) if beta0 is None else np.array(beta0, dtype=np.float64)
    info = np.empty((k, k))
    score = np.empty(k)
    mu = np.empty(n)
    w = np.empty(0) if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
    code = _CODE[family]
    crit = np.sqrt(tol) if quadratic_stop else tol
    ok = False
    it = 0
    for it in range(1, maxiter + 1):
        _exp_eta(X, beta, code, mu)
        glm_accumulate(X, y, mu, w, code, info, score)
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)):
            break
        # damp wild first steps (separation, poor starts): Newton on a concave
        # log-likelihood, halve until the step is moderate
        big = np.max(np.abs(step))
        if big > 10.0:
            step *= 10.0 / big
        beta += step
        if np.all(np.abs(step) <= crit * (1.0 + np.abs(beta))):
            ok = bool(np.all(np.isfinite(beta)))
            break
    cov = None
    if want_cov:
        try:
            cov = np.linalg.inv(info) if ok else np.full((k, k), np.nan)
        except np.linalg.LinAlgError:
            cov, ok = np.full((k, k), np.nan), False
    return GLMFit(beta, cov, info, ok, it, 1.0)


def _exp_eta(X, beta, code, out):
    """``exp(-X beta)`` (logistic) or ``exp(X beta)`` (Poisson) into ``out``; the kernel
    forms the mean from it. exp overflowing to inf is exact here (mu = 0)."""
    np.dot(X, -beta if code == 1 else beta, out=out)
    if code == 2:
        np.minimum(out, 700.0, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)


def mean_function(eta, family):
    if family == "linear":
        return eta
    if family == "logistic":
        return 0.5 * (1.0 + np.tanh(0.5 * eta))       # overflow-free logistic
    return np.exp(np.minimum(eta, 700.0))


def scores_and_hessian(X, y, beta, family):
    """Per-observation estimating-function contributions ``x_i (y_i - mu_i)`` (n, k) and
    the mean negative derivative ``A = X^T diag(v) X / n`` (v = 1 for linear)."""
    eta = X @ beta
    mu = mean_function(eta, family)
    s = X * (y - mu)[:, None]
    if family == "linear":
        v = None
        A = X.T @ X / X.shape[0]
    else:
        v = mu * (1 - mu) if family == "logistic" else mu
        A = (X * v[:, None]).T @ X / X.shape[0]
    return s, A
