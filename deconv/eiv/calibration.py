r"""Regression calibration (Carroll, Ruppert, Stefanski & Crainiceanu 2006, ch. 4).

Replace the error-prone ``W`` by an estimate of ``E[X | W, Z]`` and fit the usual model
(linear, logistic, Poisson). The calibration function is the best linear predictor

.. math::

    \hat X_i = \mu_w + (\Sigma_{xx}, \Sigma_{xz})
      \begin{pmatrix}\Sigma_{xx} + \Sigma_{uu,i} & \Sigma_{xz}\\ \Sigma_{zx} & \Sigma_{zz}
      \end{pmatrix}^{-1}
      \begin{pmatrix} W_i - \mu_w \\ Z_i - \mu_z \end{pmatrix},\qquad
    \Sigma_{xx} = S_{ww} - \bar\Sigma_{uu},

with the error covariance known, implied by a reliability ratio, or estimated from
replicates (heteroscedastic ``Sigma_uu,i = Sigma / k_i`` for unequal replicate counts); or,
with an internal validation subsample where the true ``X`` was measured, the least-squares
regression of ``X`` on ``(1, W, Z)`` there (validated units keep their true ``X``).

Regression calibration is exact for linear models and approximately consistent for
generalised linear models when the error is moderate. Standard errors come from the
bootstrap (re-estimating the calibration in every resample), so the uncertainty of an
estimated error covariance or calibration function is included.
"""
import numpy as np

from deconv._progress import progress_bar
from deconv._validation import (as_1d_float, as_2d_float, check_choice, check_int, check_rng,
                                check_same_length)
from deconv.eiv._errors import ResolvedError, check_positive_xx, make_error
from deconv.eiv._glm import FAMILIES, check_response, fit_glm
from deconv.eiv._moments import _design, check_full_rank, param_names
from deconv.eiv.results import RegressionResults

__all__ = ["regression_calibration"]


def _calibrate_error(res, z):
    """E[X | W, Z] from a resolved error covariance (best linear predictor)."""
    w = res.w
    n, p = w.shape
    wz = w if z is None else np.hstack([w, z])
    mean = wz.mean(axis=0)
    dev = wz - mean
    V = dev.T @ dev / (n - 1)                              # covariance of (W, Z)
    if z is None:
        s_ww_z = V
    else:
        s_ww_z = V[:p, :p] - V[:p, p:] @ np.linalg.solve(V[p:, p:], V[p:, :p])
    # raises if Sigma_uu is not smaller than S_ww.z (no corrected estimate exists)
    check_positive_xx(s_ww_z, res.cov, z is not None)
    s_xx = V[:p, :p] - res.cov
    C = np.hstack([s_xx, V[:p, p:]])                       # cov(X, (W, Z))
    if res.per_obs is None and res.n_rep is None:
        return mean[:p] + dev @ np.linalg.solve(V, C.T)
    # heteroscedastic: each unit has its own Cov(W_i, Z_i) = base + Sigma_i
    base = V.copy()
    base[:p, :p] = s_xx
    Vb = np.repeat(base[None, :, :], n, axis=0)
    Vb[:, :p, :p] += res.row_covs()
    sol = np.linalg.solve(Vb, dev[:, :, None])[:, :, 0]
    return mean[:p] + sol @ C.T


def _calibrate_validation(w, z, xv, have):
    """Least-squares calibration X ~ (1, W, Z) on the validated rows."""
    D = _design(w, z)
    coef, *_ = np.linalg.lstsq(D[have], xv[have], rcond=None)
    xhat = D @ coef
    xhat[have] = xv[have]
    return xhat


class _Problem:
    """Everything needed to (re)compute the calibrated fit on a subset of rows."""

    def __init__(self, spec, w_raw, y, z, xv, family, res0=None):
        self.spec, self.w_raw, self.y, self.z, self.xv = spec, w_raw, y, z, xv
        self.family, self.res0 = family, res0

    def resolved(self, idx=None):
        """The error description on rows ``idx``: known variances are subset; a
        reliability ratio or replicates are re-estimated on the resample."""
        if idx is None:
            return self.res0
        if self.spec.kind == "variance":
            r = self.res0
            per = None if r.per_obs is None else r.per_obs[idx]
            cov = r.cov if per is None else np.diag(per.mean(axis=0))
            return ResolvedError(w=r.w[idx], cov=cov, per_obs=per, kind="variance",
                                 n_rep=None, df=np.inf, row_cov=None)
        return self.spec.resolve(self.w_raw[idx], "w")

    def fit(self, idx=None, beta0=None, want_cov=False):
        y = self.y if idx is None else self.y[idx]
        z = None if self.z is None else (self.z if idx is None else self.z[idx])
        if self.spec is None:
            w = self.w_raw if idx is None else self.w_raw[idx]
            xv = self.xv if idx is None else self.xv[idx]
            have = ~np.isnan(xv).any(axis=1)
            if have.sum() < w.shape[1] + (0 if z is None else z.shape[1]) + 2:
                raise ValueError("too few validated units to estimate the calibration")
            xhat = _calibrate_validation(w, z, xv, have)
        else:
            xhat = _calibrate_error(self.resolved(idx), z)
        X = _design(xhat, z)
        return fit_glm(X, y, self.family, beta0=beta0, want_cov=want_cov), X


def regression_calibration(w, y, z=None, *, family="linear", error=None, error_sd=None,
                           error_var=None, reliability=None, replicates=False,
                           x_validation=None, se="bootstrap", n_boot=200, rng=None,
                           progress=False):
    r"""Regression calibration for linear, logistic and Poisson regression.

    Parameters
    ----------
    w : array_like (n,) or (n, p)
        Error-prone covariates (replicates ``(n, k)``/``(n, k, p)`` with ``replicates=True``).
    y : array_like (n,)
    z : array_like (n,) or (n, q), optional
        Error-free covariates.
    family : {"linear", "logistic", "poisson"}
    error, error_sd, error_var, reliability, replicates
        The measurement error (see :class:`~deconv.eiv.MeasurementError`).
    x_validation : array_like (n,) or (n, p), optional
        True covariate values for an internal validation subsample, NaN elsewhere. Use
        instead of an error description: the calibration ``E[X | W, Z]`` is then
        estimated by least squares on the validated units.
    se : {"bootstrap", "model"}
        ``"bootstrap"`` resamples units and re-estimates the calibration (and the error
        covariance from replicates) each time; ``"model"`` reports the GLM's covariance
        treating ``X-hat`` as data (too small; for quick looks only).
    n_boot : int
    rng : None, int or numpy.random.Generator
    progress : bool

    Returns
    -------
    RegressionResults
        ``params`` ``[const, w..., z...]`` on the scale of the true covariate; ``naive_params``
        the fit on ``w``; ``replicates`` the bootstrap estimates.

    References
    ----------
    Carroll, R. J., Ruppert, D., Stefanski, L. A. & Crainiceanu, C. M. (2006). *Measurement
    Error in Nonlinear Models*, 2nd ed., ch. 4. Chapman & Hall/CRC.
    Rosner, B., Spiegelman, D. & Willett, W. C. (1990). Correction of logistic regression
    relative risk estimates and confidence intervals for measurement error: the case of
    multiple covariates measured with error. *Am. J. Epidemiol.* 132, 734-745.

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=3000)
    >>> w = x + rng.normal(0, 0.5, 3000)
    >>> y = (rng.random(3000) < 1 / (1 + np.exp(-(0.5 * x)))).astype(float)
    >>> res = dc.eiv.regression_calibration(w, y, family="logistic", error_sd=0.5,
    ...                                     n_boot=50, rng=1)
    >>> bool(res.params[1] > res.naive_params[1])
    True
    """
    family = check_choice(family, "family", FAMILIES)
    se = check_choice(se, "se", ("bootstrap", "model"))
    y = as_1d_float(y, "y", min_size=3)
    check_response(y, family)
    zz = None if z is None else as_2d_float(z, "z")
    if x_validation is not None:
        if any(v is not None for v in (error, error_sd, error_var, reliability)) or replicates:
            raise ValueError("give either x_validation or an error description, not both")
        wv = as_2d_float(w, "w")
        xv = np.asarray(x_validation, dtype=np.float64)
        if xv.ndim == 1:
            xv = xv[:, None]
        if xv.shape != wv.shape:
            raise ValueError(f"x_validation must have the shape of w {wv.shape}, got {xv.shape}")
        if np.any(np.isinf(xv)):
            raise ValueError("x_validation contains infinite values (use NaN for 'not measured')")
        partial = np.isnan(xv).any(axis=1) & ~np.isnan(xv).all(axis=1)
        if partial.any():
            raise ValueError("x_validation rows must be fully observed or fully NaN")
        check_same_length(w=wv, y=y, **({} if zz is None else {"z": zz}))
        check_full_rank(wv, zz)
        prob = _Problem(None, wv, y, zz, xv, family)
        p = wv.shape[1]
        source = f"validation subsample ({int((~np.isnan(xv[:, 0])).sum())} units)"
        w_naive = wv
        rel = None
        err_cov = None
    else:
        spec = make_error(error, error_sd, error_var, reliability, replicates)
        res0 = spec.resolve(w, "w")
        check_same_length(w=res0.w, y=y, **({} if zz is None else {"z": zz}))
        check_full_rank(res0.w, zz)
        w_raw = np.asarray(w, dtype=np.float64)
        prob = _Problem(spec, w_raw, y, zz, None, family, res0)
        p = res0.p
        source = spec.kind
        w_naive = res0.w
        rel = res0.reliability()
        err_cov = res0.cov
    n = y.size
    q = 0 if zz is None else zz.shape[1]
    main, _ = prob.fit(want_cov=True)
    if not main.converged:
        raise ValueError("the calibrated model fit did not converge (separation?)")
    naive = fit_glm(_design(w_naive, zz), y, family)
    names = param_names(p, q, w if not replicates else None, z)
    notes = []
    boot = None
    if se == "bootstrap":
        n_boot = check_int(n_boot, "n_boot", min_value=10)
        gen = check_rng(rng)
        boot = np.empty((n_boot, main.beta.size))
        bad = 0
        bar = progress_bar(n_boot, "bootstrap", progress)
        for b in range(n_boot):
            idx = gen.integers(0, n, n)
            try:
                f, _ = prob.fit(idx, beta0=main.beta)
                ok = f.converged
            except (ValueError, np.linalg.LinAlgError):
                ok = False
            if ok:
                boot[b] = f.beta
            else:
                boot[b] = np.nan
                bad += 1
            bar.update(1)
        bar.close()
        boot = boot[~np.isnan(boot).any(axis=1)]
        if boot.shape[0] < 10:
            raise ValueError("fewer than 10 bootstrap fits succeeded")
        if bad:
            notes.append(f"{bad} of {n_boot} bootstrap resamples failed (dropped)")
        cov = np.cov(boot, rowvar=False)
        se_name = f"bootstrap (B={boot.shape[0]})"
    else:
        cov = main.cov
        se_name = "model (ignores calibration uncertainty)"
        notes.append("standard errors treat the calibrated covariate as known")
    info = [("Family", family), ("Calibration from", source)]
    return RegressionResults(main.beta, cov, names, "Regression calibration", n,
                             naive_params=naive.beta, naive_cov=naive.cov, family=family,
                             reliability=rel, error_cov=err_cov, replicates=boot,
                             se_method=se_name, info=info, notes=notes)
