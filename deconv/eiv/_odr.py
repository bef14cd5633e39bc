r"""Orthogonal distance regression for a nonlinear curve ``y = f(x; beta)``.

Model: ``y_i = f(x_i + delta_i; beta) - eps_i`` with errors in ``x`` (``delta``) and ``y``
(``eps``). The weighted ODR estimate minimises over ``beta`` *and* the ``n m`` nuisance
``delta``

.. math::

    S(\beta, \delta) = \sum_i w_{y,i}\,\big(f(x_i + \delta_i;\beta) - y_i\big)^2
                     + \sum_i \delta_i^T \operatorname{diag}(w_{x,i})\,\delta_i .

We solve it by Levenberg-Marquardt on the joint problem, using the structure that makes
ODR cheap (Boggs, Byrd & Schnabel 1987): the Jacobian's ``delta`` block is block-diagonal,
so each step eliminates the ``delta`` updates point by point and solves only a ``p x p``
system -- O(n (m^3 + p^2)) per iteration instead of O((n m + p)^3).

Covariance conventions (see :class:`~deconv.eiv.results.ODRResults`): ``cov_unscaled`` is
the inverse of the reduced Gauss-Newton matrix at the solution (ODRPACK's ``cov_beta``,
which confusingly is *not* scaled by the residual variance); ``res_var = S / (n - p)``;
``sd_beta = sqrt(diag(cov_unscaled) res_var)``. ``cov`` of the result is
``cov_unscaled * res_var`` by default (``scale_cov=True``), matching ``sd_beta``; with
weights that are exact inverse variances use ``scale_cov=False``.
"""
import warnings

import numpy as np

from deconv._validation import as_float_array, check_int, check_positive_scalar
from deconv.eiv._errors import values_and_sd
from deconv.eiv.results import ODRResults
from deconv.exceptions import ConvergenceWarning

__all__ = ["odr"]


def _weights(w, s, n, m, name):
    """Weights as an (m, n) array from a weight or a standard deviation spec."""
    if w is not None and s is not None:
        raise ValueError(f"give weight_{name} or s{name}, not both")
    if w is None and s is None:
        return np.ones((m, n))
    arr = np.asarray(w if w is not None else s, dtype=np.float64)
    label = f"weight_{name}" if w is not None else f"s{name}"
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{label} must be positive and finite")
    if s is not None:
        arr = 1.0 / arr ** 2
    if arr.ndim == 0:
        return np.full((m, n), float(arr))
    if arr.ndim == 1 and arr.size == n and (m == 1 or arr.size != m):
        return np.broadcast_to(arr, (m, n)).copy()
    if arr.ndim == 1 and arr.size == m:
        return np.repeat(arr[:, None], n, axis=1)
    if arr.shape == (m, n):
        return arr.copy()
    raise ValueError(f"{label} must be a scalar, ({n},), ({m},) or ({m}, {n}); got {arr.shape}")


def _num_jac_beta(f, x, beta, f0):
    p = beta.size
    J = np.empty((p, f0.size))
    for j in range(p):
        h = np.cbrt(np.finfo(float).eps) * max(abs(beta[j]), 1.0)
        bp, bm = beta.copy(), beta.copy()
        bp[j] += h
        bm[j] -= h
        J[j] = (f(x, bp) - f(x, bm)) / (2 * h)
    return J


def _num_jac_x(f, x, beta, f0):
    m = x.shape[0]
    J = np.empty((m, f0.size))
    for j in range(m):
        h = np.cbrt(np.finfo(float).eps) * np.maximum(np.abs(x[j]), 1.0)
        xp, xm = x.copy(), x.copy()
        xp[j] += h
        xm[j] -= h
        J[j] = (f(xp if m > 1 else xp[0], beta) - f(xm if m > 1 else xm[0], beta)) / (2 * h)
    return J


def odr(f, x, y, beta0, *, weight_x=None, weight_y=None, sx=None, sy=None, jac_beta=None,
        jac_x=None, scale_cov=True, maxiter=200, tol=1e-12, param_names=None):
    r"""Weighted orthogonal distance regression ``y = f(x; beta)`` with errors in x and y.

    Parameters
    ----------
    f : callable
        ``f(x, beta)`` returning an array of shape ``(n,)``; ``x`` is passed as ``(n,)`` for
        one explanatory variable or ``(m, n)`` for several (ODRPACK's layout).
    x : array_like (n,) or (m, n)
    y : array_like (n,)
    beta0 : array_like (p,)
        Starting values.
    weight_x, weight_y : float or array_like, optional
        Weights (inverse variances, up to a common factor when ``scale_cov=True``):
        scalar, per point ``(n,)``, per variable ``(m,)`` or ``(m, n)``. Default 1.
    sx, sy : float, array_like or MeasurementError, optional
        Standard deviations instead of weights (``weight = 1 / s^2``); a
        :class:`~deconv.eiv.MeasurementError` is resolved against ``x``/``y`` (one
        explanatory variable), e.g. replicates give unit means and their standard errors.
    jac_beta, jac_x : callable, optional
        ``jac_beta(x, beta)`` -> ``(p, n)``, ``jac_x(x, beta)`` -> ``(m, n)`` (or ``(n,)``).
        Central differences are used when absent.
    scale_cov : bool
        ``cov = cov_unscaled * res_var`` (True, matches ODRPACK's ``sd_beta``) or
        ``cov = cov_unscaled`` (False; weights are exact inverse variances).
    maxiter : int
    tol : float
        Converged when the relative change of every parameter and of ``S`` is below ``tol``.
    param_names : list of str, optional

    Returns
    -------
    ODRResults
        ``params``; ``delta`` and ``eps`` (estimated errors, ``x + delta`` are the adjusted
        points); ``cov_unscaled``, ``res_var``, ``sd_beta``, ``sum_square``; ``cov``/``bse``
        per ``scale_cov``.

    Notes
    -----
    ``sd_beta`` vs ``cov_beta``: ODRPACK (and ``scipy.odr``, ``odrpack``) report
    ``sd_beta = sqrt(diag(cov_beta) * res_var)``: ``cov_beta`` there is our
    ``cov_unscaled``. If your weights are ``1/sigma^2`` with known sigmas, the standard
    errors are ``sqrt(diag(cov_unscaled))`` (``scale_cov=False``); if the weights are only
    relative, use ``sd_beta`` (``scale_cov=True``, the default). Intervals use Student-t
    with ``n - p`` degrees of freedom when ``scale_cov=True`` and the normal otherwise.

    References
    ----------
    Boggs, P. T., Byrd, R. H. & Schnabel, R. B. (1987). A stable and efficient algorithm for
    nonlinear orthogonal distance regression. *SIAM J. Sci. Stat. Comput.* 8, 1052-1078.
    Boggs, P. T., Byrd, R. H., Rogers, J. E. & Schnabel, R. B. (1992). *User's Reference
    Guide for ODRPACK Version 2.01*. NISTIR 4834.

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> rng = np.random.default_rng(0)
    >>> xt = np.linspace(0, 5, 40)
    >>> x = xt + rng.normal(0, 0.05, 40)
    >>> y = 2 * np.exp(0.3 * xt) + rng.normal(0, 0.1, 40)
    >>> res = dc.eiv.odr(lambda x, b: b[0] * np.exp(b[1] * x), x, y, [1.0, 0.2],
    ...                  sx=0.05, sy=0.1)
    >>> bool(abs(res.params[1] - 0.3) < 0.02)
    True
    """
    if not callable(f):
        raise TypeError("f must be callable f(x, beta)")
    x, sx = values_and_sd(x, sx, "x")
    y, sy = values_and_sd(y, sy, "y")
    xa = as_float_array(x, "x")
    if xa.ndim not in (1, 2):
        raise ValueError(f"x must be (n,) or (m, n), got shape {xa.shape}")
    one_d = xa.ndim == 1
    X = xa[None, :] if one_d else xa
    m, n = X.shape
    y = as_float_array(y, "y", ndim=1)
    if y.size != n:
        raise ValueError(f"mismatched lengths: x has {n} points, y has {y.size}")
    beta = as_float_array(beta0, "beta0", ndim=1).copy()
    p = beta.size
    if n <= p:
        raise ValueError(f"need more points ({n}) than parameters ({p})")
    maxiter = check_int(maxiter, "maxiter", min_value=1)
    tol = check_positive_scalar(tol, "tol")
    wx = _weights(weight_x, sx, n, m, "x")
    wy = _weights(weight_y, sy, n, 1, "y")[0]

    def model(xx, b):
        out = np.asarray(f(xx[0] if one_d else xx, b), dtype=np.float64)
        if out.shape != (n,):
            raise ValueError(f"f(x, beta) must return shape ({n},), got {out.shape}")
        return out

    def jacobians(xx, b, f0):
        if jac_beta is not None:
            Jb = np.asarray(jac_beta(xx[0] if one_d else xx, b), dtype=np.float64).reshape(p, n)
        else:
            Jb = _num_jac_beta(lambda xv, bv: model(xv, bv), xx, b, f0)
        if jac_x is not None:
            Jx = np.asarray(jac_x(xx[0] if one_d else xx, b), dtype=np.float64).reshape(m, n)
        else:
            Jx = _num_jac_x(lambda xv, bv: model(xv if xv.ndim == 2 else xv[None], bv),
                            xx, b, f0)
        return Jb, Jx

    def objective(b, d):
        r = model(X + d, b) - y
        return float(wy @ (r * r) + np.sum(wx * d * d)), r

    delta = np.zeros_like(X)
    S, r = objective(beta, delta)
    if not np.isfinite(S):
        raise ValueError("f(x, beta0) is not finite at the starting values")
    mu = None
    converged = False
    it = 0
    for it in range(1, maxiter + 1):
        Jb, Jx = jacobians(X + delta, beta, r + y)
        gb = Jb @ (wy * r)                                  # (p,)
        gd = Jx * (wy * r) + wx * delta                     # (m, n)
        Hbb = (Jb * wy) @ Jb.T                              # (p, p)
        if mu is None:
            mu = 1e-3 * max(np.max(np.diag(Hbb)), np.max(wx), 1e-12)
        improved = False
        for _ in range(60):
            # per-point m x m blocks E_i = w_y Jx_i Jx_i^T + diag(w_x,i) + mu I
            if m == 1:
                E = wy * Jx[0] ** 2 + wx[0] + mu
                Einv_gd = gd[0] / E
                C = Jb * (wy * Jx[0])                       # (p, n): Jb_i w_y Jx_i
                Mred = Hbb + mu * np.eye(p) - (C / E) @ C.T
                rhs = -(gb - C @ Einv_gd)
                sb = np.linalg.solve(Mred, rhs)
                sd = (-(gd[0] + (wy * Jx[0]) * (Jb.T @ sb)) / E)[None, :]
            else:
                Eb = np.einsum("in,jn->nij", Jx * wy, Jx)
                Eb[:, np.arange(m), np.arange(m)] += wx.T + mu
                Cb = np.einsum("pn,jn->npj", Jb * wy, Jx)  # (n, p, m)
                Einv_gd = np.linalg.solve(Eb, gd.T[:, :, None])[:, :, 0]
                Einv_Ct = np.linalg.solve(Eb, np.transpose(Cb, (0, 2, 1)))  # (n, m, p)
                Mred = Hbb + mu * np.eye(p) - np.einsum("npj,njq->pq", Cb, Einv_Ct)
                rhs = -(gb - np.einsum("npj,nj->p", Cb, Einv_gd))
                sb = np.linalg.solve(Mred, rhs)
                sd = -(Einv_gd + np.einsum("njp,p->nj", Einv_Ct, sb)).T
            b_new, d_new = beta + sb, delta + sd
            S_new, r_new = objective(b_new, d_new)
            if np.isfinite(S_new) and S_new <= S:
                improved = True
                break
            mu *= 4.0
        if not improved:
            break
        small_step = np.all(np.abs(sb) <= tol * (np.abs(beta) + tol))
        small_drop = (S - S_new) <= tol * max(S, 1e-300)
        beta, delta, S, r = b_new, d_new, S_new, r_new
        mu = max(mu / 3.0, 1e-300)
        if small_step and small_drop:
            converged = True
            break
    if not converged:
        # a last check: a stationary point where no step improves is converged too
        converged = not improved and it > 1
        if not converged:
            warnings.warn(f"odr: no convergence in {maxiter} iterations", ConvergenceWarning,
                          stacklevel=2)
    # covariance from the Gauss-Newton matrix at the solution (mu = 0), delta eliminated
    Jb, Jx = jacobians(X + delta, beta, r + y)
    Hbb = (Jb * wy) @ Jb.T
    if m == 1:
        E = wy * Jx[0] ** 2 + wx[0]
        C = Jb * (wy * Jx[0])
        Mred = Hbb - (C / E) @ C.T
    else:
        Eb = np.einsum("in,jn->nij", Jx * wy, Jx)
        Eb[:, np.arange(m), np.arange(m)] += wx.T
        Cb = np.einsum("pn,jn->npj", Jb * wy, Jx)
        Mred = Hbb - np.einsum("npj,njq->pq", Cb,
                               np.linalg.solve(Eb, np.transpose(Cb, (0, 2, 1))))
    try:
        cov_unscaled = np.linalg.inv(Mred)
    except np.linalg.LinAlgError:
        cov_unscaled = np.full((p, p), np.nan)
    res_var = S / (n - p)
    cov = cov_unscaled * res_var if scale_cov else cov_unscaled
    names = list(param_names) if param_names is not None else [f"beta{j}" for j in range(p)]
    if len(names) != p:
        raise ValueError(f"param_names needs {p} names")
    return ODRResults(beta, cov, names, "ODR (orthogonal distance regression)",
                      xa, y, f=f, delta=delta[0] if one_d else delta, eps=r,
                      cov_unscaled=cov_unscaled, res_var=res_var, sum_square=S, n_iter=it,
                      converged=converged, df_resid=(n - p) if scale_cov else None,
                      se_method="Gauss-Newton, x res_var (= ODRPACK sd_beta)" if scale_cov
                      else "Gauss-Newton, weights = inverse variances",
                      info=[("Sum of squares", S), ("Residual variance", res_var),
                            ("Iterations", it)])
