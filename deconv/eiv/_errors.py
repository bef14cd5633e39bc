"""One description of the measurement error, shared by every method of ``deconv.eiv``.

The error-prone covariates are observed as ``W = X + U`` with ``E[U] = 0`` and
``Cov(U_i) = Sigma_i``. A user says how ``X`` was mis-measured in exactly one of three ways:

* the **error variance** is known: a scalar, one value per observation, one per
  covariate, a covariance matrix shared by all observations, or per-observation
  diagonals (``(n, p)``);
* the **reliability ratio** ``lambda_j = var(X_j) / var(W_j)`` of each covariate is known;
* **replicate measurements** ``W_i1, ..., W_ik_i`` of each unit are available, from which
  the error covariance is estimated (missing replicates as NaN).

:class:`MeasurementError` holds that statement; :meth:`MeasurementError.resolve` turns it,
together with the observed ``w``, into a :class:`ResolvedError` that the estimators read:
the (averaged) observed covariates, the error covariance of each observation's ``W``, and
where the numbers came from. Every public function of ``deconv.eiv`` accepts either
``error=MeasurementError(...)`` or the keyword shortcuts ``error_sd=``, ``error_var=``,
``reliability=``, ``replicates=True`` (see :func:`make_error`).
"""
from dataclasses import dataclass

import numpy as np

from deconv._validation import _to_array

__all__ = ["MeasurementError", "ResolvedError", "make_error", "values_and_sd"]


class MeasurementError:
    """How the error-prone covariates were mis-measured (``W = X + U``).

    Give exactly one of ``variance``, ``sd``, ``reliability`` or ``replicates=True``.

    Parameters
    ----------
    variance : float or array_like, optional
        Variance of the additive error ``U``. Shapes (``n`` observations, ``p`` error-prone
        covariates): scalar (all); ``(n,)`` per observation (``p = 1``); ``(p,)`` one per
        covariate (``p > 1``); ``(p, p)`` a covariance matrix shared by all observations;
        ``(n, p)`` per-observation variances of uncorrelated errors.
    sd : float or array_like, optional
        Standard deviation of ``U``; same shapes as ``variance`` except ``(p, p)``.
    reliability : float or array_like, optional
        Reliability ratio ``var(X_j) / var(W_j)`` in ``(0, 1]``, scalar or one per covariate.
        The error variance is then ``(1 - reliability) * var(W_j)`` (errors uncorrelated).
    replicates : bool, default False
        ``w`` holds replicate measurements: shape ``(n, k)`` for one covariate or
        ``(n, k, p)`` for several; NaN marks a missing replicate. The covariate used is the
        unit mean, and the error covariance of a single measurement is the pooled
        within-unit covariance; the mean of ``k_i`` replicates has covariance ``Sigma / k_i``.

    Examples
    --------
    >>> import deconv as dc
    >>> err = dc.eiv.MeasurementError(sd=0.3)
    >>> r = err.resolve([1.0, 2.0, 3.5, 4.0])
    >>> float(r.cov[0, 0])
    0.09
    """

    def __init__(self, variance=None, *, sd=None, reliability=None, replicates=False):
        given = [variance is not None, sd is not None, reliability is not None,
                 bool(replicates)]
        if sum(given) != 1:
            raise ValueError("MeasurementError needs exactly one of variance, sd, reliability "
                             f"or replicates=True; got {sum(given)}")
        self.variance = variance
        self.sd = sd
        self.reliability = reliability
        self.replicates = bool(replicates)

    @property
    def kind(self):
        if self.replicates:
            return "replicates"
        if self.reliability is not None:
            return "reliability"
        return "variance"

    def __repr__(self):
        for k in ("variance", "sd", "reliability"):
            v = getattr(self, k)
            if v is not None:
                return f"MeasurementError({k}={np.array2string(np.asarray(v), threshold=6)})"
        return "MeasurementError(replicates=True)"

    # ------------------------------------------------------------------
    def resolve(self, w, name="w"):
        """Read the observed covariates ``w`` and return a :class:`ResolvedError`."""
        if self.replicates:
            return _resolve_replicates(w, name)
        arr = _to_array(w, name)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"{name} must be 1-D or 2-D (n, p), got shape {arr.shape}")
        wm = np.array(arr, dtype=np.float64, order="C")
        if wm.size == 0:
            raise ValueError(f"{name} is empty")
        if not np.all(np.isfinite(wm)):
            raise ValueError(f"{name} contains non-finite value(s) (NaN or inf)")
        n, p = wm.shape
        if n < 3:
            raise ValueError(f"{name} needs at least 3 observations, got {n}")
        if self.reliability is not None:
            rel = _positive_vector(self.reliability, p, "reliability")
            if np.any(rel > 1):
                raise ValueError(f"reliability must lie in (0, 1], found {rel.max()}")
            var_w = wm.var(axis=0, ddof=1)
            cov = np.diag((1.0 - rel) * var_w)
            return ResolvedError(w=wm, cov=cov, per_obs=None, kind="reliability",
                                 n_rep=None, df=np.inf, row_cov=None)
        if self.sd is not None:
            sd = _to_array(self.sd, "error_sd")
            if sd.ndim == 2 and sd.shape == (p, p) and p > 1 and n != p:
                raise ValueError("error_sd cannot be a matrix; give a covariance as error_var")
            _check_finite_nonneg(sd, "error_sd", strict=True)
            var = np.asarray(sd, dtype=np.float64) ** 2
            vname = "error_sd"
        else:
            var = _to_array(self.variance, "error_var").astype(np.float64)
            vname = "error_var"
        return _resolve_variance(wm, var, vname)


@dataclass
class ResolvedError:
    """The measurement error as the estimators use it.

    Attributes
    ----------
    w : ndarray (n, p)
        Observed error-prone covariates (unit means when replicates were given).
    cov : ndarray (p, p)
        Average error covariance of one row of ``w``: ``mean_i Sigma_i``.
    per_obs : ndarray (n, p) or None
        Per-observation error variances (diagonal) when they differ between rows.
    kind : str
        ``"variance"``, ``"reliability"`` or ``"replicates"``.
    n_rep : ndarray (n,) or None
        Number of replicates of each unit.
    df : float
        Degrees of freedom behind an estimated error covariance (``inf`` if known).
    row_cov : ndarray (n, p, p) or None
        Unbiased per-unit estimates ``S_i / k_i`` of ``Cov(U_i)`` (replicates with
        ``k_i >= 2`` for every unit); used by sandwich variances so that the uncertainty
        of the estimated error variance is propagated.
    scale_influence : ndarray (n,) or None
        Replicates of one covariate: unit ``i``'s influence on the relative error of the
        pooled variance, ``(SS_i - (k_i - 1) sigma^2) / (df sigma^2)`` (``SS_i`` the
        within-unit sum of squares), so ``sum_i scale_influence_i^2`` estimates
        ``Var(sigma_hat^2 / sigma^2)`` without assuming normal errors. Used by SIMEX to
        propagate the estimated error variance.
    """

    w: np.ndarray
    cov: np.ndarray
    per_obs: np.ndarray
    kind: str
    n_rep: np.ndarray
    df: float
    row_cov: np.ndarray
    scale_influence: np.ndarray = None

    @property
    def n(self):
        return self.w.shape[0]

    @property
    def p(self):
        return self.w.shape[1]

    @property
    def unit_cov(self):
        """Pooled error covariance of a single replicate (replicates only)."""
        if self.n_rep is None:
            return None
        return self.cov / np.mean(1.0 / self.n_rep)

    def cov_of_row(self, i):
        """Error covariance of row ``i`` of ``w`` (full matrix, also for replicates of
        several covariates with unequal counts)."""
        if self.n_rep is not None:
            return self.unit_cov / self.n_rep[i]
        if self.per_obs is not None:
            return np.diag(self.per_obs[i])
        return self.cov

    def row_covs(self):
        """All row error covariances, array (n, p, p)."""
        if self.n_rep is not None:
            return self.unit_cov[None, :, :] / self.n_rep[:, None, None]
        if self.per_obs is not None:
            out = np.zeros((self.n, self.p, self.p))
            idx = np.arange(self.p)
            out[:, idx, idx] = self.per_obs
            return out
        return np.broadcast_to(self.cov, (self.n, self.p, self.p))

    def noise_transform(self):
        """A function mapping standardised draws ``e`` (n, p) to errors with covariance
        ``Sigma_i`` for each row (used to simulate pseudo-errors)."""
        if self.n_rep is not None:
            L = _psd_sqrt(self.unit_cov)
            f = 1.0 / np.sqrt(self.n_rep)[:, None]
            return lambda e: (e @ L.T) * f
        if self.per_obs is not None:
            sd = np.sqrt(self.per_obs)
            return lambda e: e * sd
        L = _psd_sqrt(self.cov)
        return lambda e: e @ L.T

    def variances(self):
        """Per-observation error variances, shape (n, p) (diagonal of each ``Sigma_i``)."""
        if self.per_obs is not None:
            return self.per_obs
        return np.broadcast_to(np.diag(self.cov), self.w.shape)

    def reliability(self):
        """Estimated reliability ``1 - sigma_uu / var(W)`` of each covariate."""
        return 1.0 - np.diag(self.cov) / self.w.var(axis=0, ddof=1)

    def check_identifiable(self, z=None):
        """Raise if the error covariance is not smaller than the observed covariance.

        The covariance of the true ``X`` (after partialling out the error-free ``z``)
        is estimated by ``S_ww.z - Sigma_uu``; if that is not positive definite no
        consistent corrected estimate exists and we say so instead of returning garbage.
        """
        w = self.w - self.w.mean(axis=0)
        if z is not None and z.shape[1] > 0:
            zc = z - z.mean(axis=0)
            coef, *_ = np.linalg.lstsq(zc, w, rcond=None)
            w = w - zc @ coef
        s_ww = w.T @ w / (self.n - 1)
        return check_positive_xx(s_ww, self.cov, z is not None and z.shape[1] > 0)


def check_positive_xx(s_ww, cov, adjusted=False):
    """``S_ww - Sigma_uu`` (the implied covariance of the true covariates), or a clear
    ValueError when it is not positive definite."""
    s_xx = s_ww - cov
    ev = np.linalg.eigvalsh(s_xx)
    if ev.min() <= 1e-12 * max(np.abs(np.diag(s_ww)).max(), 1e-300):
        diag_o, diag_e = np.diag(s_ww), np.diag(cov)
        worst = int(np.argmax(diag_e / diag_o))
        raise ValueError(
            "the measurement-error variance is not smaller than the observed variance of w "
            f"(column {worst}: error variance {diag_e[worst]:.4g} vs observed "
            f"{diag_o[worst]:.4g}{' after adjusting for z' if adjusted else ''}); "
            "the implied variance of the true covariate is not positive, so no corrected "
            "estimate exists. Check the error variance / reliability you supplied.")
    return s_xx


def _psd_sqrt(S):
    """A square root ``L`` with ``L L^T = S`` for positive semi-definite ``S`` (a zero
    error variance, reliability 1, is allowed)."""
    ev, V = np.linalg.eigh(S)
    return V * np.sqrt(np.clip(ev, 0.0, None))


def _check_finite_nonneg(arr, name, strict=True):
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    if strict and np.any(arr <= 0):
        raise ValueError(f"{name} must be positive, found {np.min(arr)}")


def _positive_vector(v, p, name):
    arr = _to_array(v, name).astype(np.float64)
    if arr.ndim == 0:
        arr = np.full(p, float(arr))
    if arr.shape != (p,):
        raise ValueError(f"{name} must be a scalar or have {p} values (one per covariate), "
                         f"got shape {arr.shape}")
    _check_finite_nonneg(arr, name)
    return arr


def _resolve_variance(wm, var, vname):
    n, p = wm.shape
    per_obs = None
    if var.ndim == 0:
        _check_finite_nonneg(var, vname)
        cov = np.eye(p) * float(var)
    elif var.ndim == 1 and p == 1:
        if var.size != n:
            raise ValueError(f"{vname} has {var.size} values but there are {n} observations")
        _check_finite_nonneg(var, vname)
        per_obs = var.reshape(n, 1).copy()
        cov = np.array([[per_obs.mean()]])
    elif var.ndim == 1:
        if var.size != p:
            raise ValueError(f"{vname} must have {p} values (one per covariate) or be a "
                             f"({p}, {p}) matrix or ({n}, {p}) array; got shape {var.shape}")
        _check_finite_nonneg(var, vname)
        cov = np.diag(var)
    elif var.ndim == 2 and var.shape == (1, 1) and p == 1:
        _check_finite_nonneg(var, vname)
        cov = np.array(var, dtype=np.float64)
    elif var.ndim == 2 and var.shape == (p, p) and p > 1:
        # (an (n, p) array with n == p is read as a covariance matrix)
        if not np.all(np.isfinite(var)):
            raise ValueError(f"{vname} contains non-finite values")
        if not np.allclose(var, var.T, rtol=1e-10, atol=0):
            raise ValueError(f"{vname} covariance matrix must be symmetric")
        ev = np.linalg.eigvalsh(var)
        if ev.min() <= 0:
            raise ValueError(f"{vname} covariance matrix must be positive definite "
                             f"(smallest eigenvalue {ev.min():.3g})")
        cov = np.array(var, dtype=np.float64)
    elif var.ndim == 2 and var.shape == (n, p):
        _check_finite_nonneg(var, vname)
        per_obs = np.array(var, dtype=np.float64)
        cov = np.diag(per_obs.mean(axis=0))
    else:
        raise ValueError(f"{vname} has shape {var.shape}, which fits neither a scalar, ({n},), "
                         f"({p},), ({p}, {p}) nor ({n}, {p})")
    return ResolvedError(w=wm, cov=cov, per_obs=per_obs, kind="variance", n_rep=None,
                         df=np.inf, row_cov=None)


def _resolve_replicates(w, name):
    arr = _to_array(w, name).astype(np.float64)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise ValueError(f"with replicates=True, {name} must have shape (n, k) or (n, k, p); "
                         f"got {arr.shape}")
    n, k, p = arr.shape
    if np.any(np.isinf(arr)):
        raise ValueError(f"{name} contains infinite values")
    present = ~np.isnan(arr)
    if np.any(present.any(axis=2) != present.all(axis=2)):
        raise ValueError(f"{name}: a replicate must be missing (NaN) for all covariates or none")
    pres = present[:, :, 0]
    k_i = pres.sum(axis=1)
    if np.any(k_i == 0):
        raise ValueError(f"{name}: unit {int(np.argmin(k_i))} has no non-missing measurement")
    if n < 3:
        raise ValueError(f"{name} needs at least 3 units, got {n}")
    filled = np.where(present, arr, 0.0)
    wbar = filled.sum(axis=1) / k_i[:, None]
    dev = np.where(present, arr - wbar[:, None, :], 0.0)
    ss = np.einsum("ikp,ikq->ipq", dev, dev)          # within-unit SSCP per unit
    df = float(np.sum(k_i - 1))
    if df < 1:
        raise ValueError(f"{name}: need at least one unit with 2 or more replicates to "
                         "estimate the error variance")
    sigma = ss.sum(axis=0) / df                       # pooled covariance of one measurement
    if np.any(np.diag(sigma) <= 0):
        raise ValueError(f"{name}: replicates are identical within every unit; the estimated "
                         "error variance is zero")
    row_cov = None
    if np.all(k_i >= 2):
        row_cov = ss / ((k_i - 1) * k_i)[:, None, None]
    per_obs = None
    if np.any(k_i != k_i[0]):
        per_obs = np.diag(sigma)[None, :] / k_i[:, None]
    cov = sigma * np.mean(1.0 / k_i)
    scale_influence = None
    if p == 1:
        scale_influence = (ss[:, 0, 0] - (k_i - 1) * sigma[0, 0]) / (df * sigma[0, 0])
    return ResolvedError(w=np.ascontiguousarray(wbar), cov=cov, per_obs=per_obs,
                         kind="replicates", n_rep=k_i, df=df, row_cov=row_cov,
                         scale_influence=scale_influence)


def make_error(error=None, error_sd=None, error_var=None, reliability=None, replicates=False):
    """Build a :class:`MeasurementError` from the keyword shortcuts every function accepts."""
    given = [error is not None, error_sd is not None, error_var is not None,
             reliability is not None, bool(replicates)]
    if sum(given) == 0:
        raise ValueError("describe the measurement error: give one of error_sd=, error_var=, "
                         "reliability=, replicates=True or error=MeasurementError(...)")
    if sum(given) > 1:
        raise ValueError("give only one of error, error_sd, error_var, reliability, replicates")
    if error is not None:
        from deconv.noise import NoiseLaw

        if isinstance(error, NoiseLaw):
            # the same error law object the rest of deconv takes (noise=): its sd (scalar or
            # per observation) is what these moment-based methods need
            return MeasurementError(sd=error.sd)
        if not isinstance(error, MeasurementError):
            raise TypeError("error must be a MeasurementError or a deconv.noise law, "
                            f"got {type(error).__name__}")
        return error
    if error_sd is not None:
        return MeasurementError(sd=error_sd)
    if error_var is not None:
        return MeasurementError(variance=error_var)
    if reliability is not None:
        return MeasurementError(reliability=reliability)
    return MeasurementError(replicates=True)


def values_and_sd(data, sd, name):
    """Per-point values and standard errors for a fit taking ``sx``/``sy``.

    ``sd`` may be a number/array (returned as is) or a :class:`MeasurementError`, which
    is resolved against ``data``: e.g. replicates give the unit means and the standard
    error of each mean, ``sqrt(sigma^2 / k_i)``.
    """
    if not isinstance(sd, MeasurementError):
        return data, sd
    r = sd.resolve(data, name)
    if r.p != 1:
        raise ValueError(f"{name} must be a single variable here")
    return r.w[:, 0], np.sqrt(r.variances()[:, 0])
