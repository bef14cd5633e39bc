r"""Method-of-moments (reliability-ratio) correction for linear models (Fuller 1987, sec. 2.2).

Model: ``y_i = b0 + x_i^T b_x + z_i^T b_z + e_i``, ``w_i = x_i + u_i`` with
``Cov(u_i) = Sigma_i`` known (or estimated). With ``d_i = (1, w_i, z_i)`` and
``Sigma~_i`` the error covariance padded with zeros for the error-free columns,

.. math::

    \hat b = \Big(\tfrac1n \sum_i d_i d_i^T - \tfrac{n-1}{n}\,\bar{\tilde\Sigma}\Big)^{-1}
             \tfrac1n \sum_i d_i y_i ,

the least-squares normal equations with the error covariance subtracted. It solves the
unbiased estimating equation ``psi_i(b) = d_i (y_i - d_i^T b) + Sigma~_i b``, so the
sandwich covariance ``A^{-1} B A^{-T} / n`` (``A = M_dd - Sigma~``,
``B = mean psi_i psi_i^T``) is valid under heteroscedastic ``e`` and non-normal errors.
"""
import numpy as np

from deconv._validation import as_1d_float, as_2d_float, check_same_length
from deconv.eiv._errors import make_error
from deconv.eiv.results import RegressionResults

__all__ = ["moments"]


def _design(w, z):
    n = w.shape[0]
    cols = [np.ones((n, 1)), w] + ([z] if z is not None else [])
    return np.ascontiguousarray(np.hstack(cols))


def check_full_rank(w, z):
    """Raise ValueError unless the design ``[1, w, z]`` has full column rank."""
    D = _design(w, z)
    scale = np.sqrt(np.sum(D * D, axis=0))
    if D.shape[0] <= D.shape[1] or np.any(scale == 0) or \
            np.linalg.matrix_rank(D / scale) < D.shape[1]:
        raise ValueError("the design [1, w, z] is singular (constant or collinear columns, "
                         "or fewer observations than coefficients)")


def column_names(data, k):
    """Names of a pandas Series/DataFrame's columns (k of them), else None."""
    cols = getattr(data, "columns", None)
    if cols is not None and len(cols) == k:
        return [str(c) for c in cols]
    name = getattr(data, "name", None)
    if k == 1 and name is not None and not isinstance(data, np.ndarray):
        return [str(name)]
    return None


def param_names(p, q, w=None, z=None):
    """``[const, w..., z...]``, using pandas column names when the inputs carry them."""
    wn = column_names(w, p) if w is not None else None
    zn = column_names(z, q) if z is not None else None
    if wn is None:
        wn = ["w"] if p == 1 else [f"w{j}" for j in range(p)]
    if zn is None:
        zn = [f"z{j}" for j in range(q)]
    return ["const"] + wn + zn


def prepare(w, y, z, error, error_sd, error_var, reliability, replicates):
    """Shared validation: resolve the error description, read y and z."""
    spec = make_error(error, error_sd, error_var, reliability, replicates)
    res = spec.resolve(w, "w")
    y = as_1d_float(y, "y", min_size=3)
    zz = None
    if z is not None:
        zz = as_2d_float(z, "z")
        check_same_length(w=res.w, y=y, z=zz)
    else:
        check_same_length(w=res.w, y=y)
    return res, y, zz


def moments(w, y, z=None, *, error=None, error_sd=None, error_var=None, reliability=None,
            replicates=False):
    r"""Linear regression corrected for covariate measurement error by the method of moments.

    Parameters
    ----------
    w : array_like (n,) or (n, p)
        Error-prone covariates (or replicates ``(n, k)`` / ``(n, k, p)`` with
        ``replicates=True``).
    y : array_like (n,)
    z : array_like (n,) or (n, q), optional
        Error-free covariates.
    error, error_sd, error_var, reliability, replicates
        The measurement error, once (see :class:`~deconv.eiv.MeasurementError`).

    Returns
    -------
    RegressionResults
        ``params`` ordered ``[const, w..., z...]``, sandwich ``cov``; ``naive_params``
        the least-squares fit ignoring the error; ``reliability`` per covariate.

    Raises
    ------
    ValueError
        If the error covariance is not smaller than the observed covariance of ``w``
        (given ``z``): then the true covariate would have non-positive variance and no
        corrected estimate exists.

    Notes
    -----
    With one covariate and no ``z`` this is the naive slope divided by the estimated
    reliability, ``S_wy / (S_ww - (n-1) sigma_u^2)`` (centred sums ``S``; Fuller's
    moments with divisor ``n - 1``). Uncertainty in a supplied
    reliability ratio is not propagated; with replicates (every unit measured at least
    twice) the per-unit estimates ``S_i / k_i`` enter the estimating equation, so the
    sandwich includes the uncertainty of the estimated error covariance.

    References
    ----------
    Fuller, W. A. (1987). *Measurement Error Models*, sections 2.2 and 2.5. Wiley.
    Carroll, R. J., Ruppert, D., Stefanski, L. A. & Crainiceanu, C. M. (2006).
    *Measurement Error in Nonlinear Models*, 2nd ed., ch. 3. Chapman & Hall.

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=2000)
    >>> w, y = x + rng.normal(0, 0.5, 2000), 1 + 2 * x + rng.normal(size=2000)
    >>> res = dc.eiv.moments(w, y, error_sd=0.5)
    >>> bool(abs(res.params[1] - 2) < 0.15)
    True
    """
    z_in = z
    res, y, z = prepare(w, y, z, error, error_sd, error_var, reliability, replicates)
    n, p = res.w.shape
    q = 0 if z is None else z.shape[1]
    check_full_rank(res.w, z)
    res.check_identifiable(z)
    D = _design(res.w, z)
    k = D.shape[1]
    idx = slice(1, 1 + p)
    Mdd = D.T @ D / n
    Sig = np.zeros((k, k))
    # Fuller's centred moments use the divisor n - 1; in the uncentred form with an
    # intercept column that is the error covariance scaled by (n - 1) / n
    c = (n - 1) / n
    Sig[idx, idx] = c * res.cov
    A = Mdd - Sig
    b = np.linalg.solve(A, D.T @ y / n)
    # estimating-function contributions
    r = y - D @ b
    psi = D * r[:, None]
    if res.row_cov is not None:
        psi[:, idx] += c * np.einsum("ipq,q->ip", res.row_cov, b[idx])
    elif res.n_rep is not None:
        psi[:, idx] += c * (res.unit_cov @ b[idx])[None, :] / res.n_rep[:, None]
    elif res.per_obs is not None:
        psi[:, idx] += c * res.per_obs * b[idx]
    else:
        psi[:, idx] += c * res.cov @ b[idx]
    psi_c = psi - psi.mean(axis=0)
    B = psi_c.T @ psi_c / n
    Ainv = np.linalg.inv(A)
    cov = Ainv @ B @ Ainv.T / n * n / (n - k)     # small-sample df correction (HC1)
    # naive least squares for comparison
    bn = np.linalg.solve(Mdd, D.T @ y / n)
    rn = y - D @ bn
    naive_cov = (rn @ rn) / (n - k) * np.linalg.inv(D.T @ D)
    rel = res.reliability()
    notes = []
    if res.kind == "reliability":
        notes.append("error variance from the given reliability; its uncertainty is not "
                     "propagated to the standard errors")
    elif res.kind == "replicates" and res.row_cov is None:
        notes.append("some units have a single measurement: the pooled error covariance is "
                     "treated as known in the standard errors")
    names = param_names(p, q, w if not replicates else None, z_in)
    return RegressionResults(b, cov, names, "Moment correction (Fuller 1987)", n,
                             naive_params=bn, naive_cov=naive_cov, family="linear",
                             reliability=rel, error_cov=res.cov, se_method="sandwich",
                             info=[("Error description", res.kind)] +
                                  [(f"Reliability {nm}", r_) for nm, r_ in
                                   zip(names[1:1 + p], rel)],
                             notes=notes)
