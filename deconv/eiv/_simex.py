r"""SIMEX: simulation-extrapolation (Cook & Stefanski 1994) and MC-SIMEX.

For ``W = X + U`` with ``Cov(U_i) = Sigma_i`` known, SIMEX adds *more* error,
``W_b(lambda) = W + sqrt(lambda) U*_b`` with ``U*_b ~ (0, Sigma_i)``, so the total
error variance is ``(1 + lambda) Sigma``. The naive estimator is refitted on
``B`` pseudo-data sets for each ``lambda`` in a grid, averaged to ``theta(lambda)``, and the
trend is extrapolated back to ``lambda = -1`` (no error):

* ``"linear"``: ``a + b lambda``; ``"quadratic"``: ``a + b lambda + c lambda^2``;
* ``"nonlinear"``: ``a + b / (c + lambda)`` -- exact for linear regression, where
  ``theta(lambda) = S_wy / (S_ww + lambda (n-1) sigma^2)``.

Variance: the Stefanski & Cook (1995) jackknife-type estimator extrapolates
``tau^2(lambda) - s^2_Delta(lambda)`` (mean model-based variance of the refits minus
their between-replicate covariance) to ``lambda = -1``; the sandwich estimator
(Carroll, Kuechenhoff, Lombard & Stefanski 1996) differentiates the extrapolation and
stacks each observation's average estimating-function contribution at every lambda.

MC-SIMEX (Kuechenhoff, Mwalili & Lesaffre 2006) does the same for a misclassified binary
covariate with misclassification matrix ``Pi``, simulating with ``Pi^lambda``.

Built-in refits (linear, logistic, Poisson) share one design-matrix buffer, start every
refit from the previous solution at the same lambda, use common random numbers across
lambdas, and accumulate score and information in a compiled kernel.
"""
import copy
import warnings

import numpy as np

from deconv._progress import progress_bar
from deconv._validation import (as_1d_float, check_choice, check_int, check_rng)
from deconv.eiv._glm import FAMILIES, check_response, fit_glm, scores_and_hessian
from deconv.eiv._moments import _design, check_full_rank, param_names, prepare
from deconv.eiv.results import SimexResults
from deconv.exceptions import ConvergenceWarning, DeconvWarning

__all__ = ["simex", "mcsimex", "extrapolate"]

EXTRAPOLANTS = ("linear", "quadratic", "nonlinear")


# ----------------------------------------------------------------------------- extrapolation
def _poly_weights(lambdas, degree, at=-1.0):
    """Row vector c with ``fit(at) = c @ theta`` for a least-squares polynomial fit."""
    V = np.vander(lambdas, degree + 1, increasing=True)
    return np.vander(np.atleast_1d(at), degree + 1, increasing=True) @ np.linalg.pinv(V)


def _rational_three_point(lam, th):
    """Exact ``a + b/(c + lambda)`` through three points (start values for the LS fit)."""
    (l1, l2, l3), (t1, t2, t3) = lam, th
    if t2 == t3 or t1 == t2:
        return None
    R = (t1 - t2) / (t2 - t3)
    den = R * (l3 - l2) - (l2 - l1)
    if den == 0:
        return None
    c = ((l2 - l1) * l3 - R * (l3 - l2) * l1) / den
    b = (t1 - t2) * (c + l1) * (c + l2) / (l2 - l1)
    a = t1 - b / (c + l1)
    return np.array([a, b, c])


def _fit_rational(lambdas, theta):
    """Least-squares fit of ``a + b/(c + lambda)``; returns params or None on failure."""
    m = lambdas.size
    idx = [0, m // 2, m - 1]
    start = _rational_three_point(lambdas[idx], theta[idx])
    if start is None or not np.all(np.isfinite(start)):
        return None
    if m == 3:
        return start

    def resid(p):
        return p[0] + p[1] / (p[2] + lambdas) - theta

    def jac(p):
        d = 1.0 / (p[2] + lambdas)
        return np.column_stack([np.ones(m), d, -p[1] * d * d])
    from scipy import optimize          # imported here: scipy.optimize is slow to import
    try:
        sol = optimize.least_squares(resid, start, jac=jac, method="lm", xtol=1e-15,
                                     ftol=1e-15, gtol=1e-15, max_nfev=2000)
    except (ValueError, FloatingPointError):
        return None
    p = sol.x
    return p if np.all(np.isfinite(p)) else None


def extrapolate(lambdas, theta, extrapolant="quadratic", at=-1.0):
    r"""Fit the extrapolant to ``theta(lambda)`` column by column and evaluate it at ``at``.

    Parameters
    ----------
    lambdas : array_like (m,)
        Grid, normally including 0.
    theta : array_like (m,) or (m, k)
        Mean estimates at each lambda.
    extrapolant : {"linear", "quadratic", "nonlinear"}
    at : float
        Where to evaluate (``-1`` is the SIMEX estimate).

    Returns
    -------
    values : ndarray (k,)
    curve : callable
        ``curve(lams)`` -> ``(len(lams), k)`` fitted extrapolation curves.
    ok : ndarray of bool (k,)
        False where the nonlinear fit failed or has its pole in ``[at, max(lambdas)]``
        (the quadratic is used there instead).

    Examples
    --------
    The nonlinear extrapolant is exact for the attenuation curve of linear regression:

    >>> import numpy as np
    >>> from deconv.eiv import simex_extrapolate as extrapolate
    >>> lam = np.array([0, 0.5, 1, 1.5, 2])
    >>> theta = 3.0 / (2.0 + lam)              # b / (c + lambda), a = 0
    >>> round(float(extrapolate(lam, theta, "nonlinear")[0][0]), 10)
    3.0
    """
    lambdas = np.asarray(lambdas, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    one = theta.ndim == 1
    if one:
        theta = theta[:, None]
    extrapolant = check_choice(extrapolant, "extrapolant", EXTRAPOLANTS)
    k = theta.shape[1]
    ok = np.ones(k, dtype=bool)
    if extrapolant in ("linear", "quadratic"):
        deg = 1 if extrapolant == "linear" else 2
        coefs = np.linalg.pinv(np.vander(lambdas, deg + 1, increasing=True)) @ theta

        def curve(lams):
            return np.vander(np.atleast_1d(np.asarray(lams, float)), deg + 1,
                             increasing=True) @ coefs
        return curve(at)[0], curve, ok
    params = []
    quad = np.linalg.pinv(np.vander(lambdas, 3, increasing=True)) @ theta
    for j in range(k):
        p = _fit_rational(lambdas, theta[:, j])
        # a pole between `at` and the largest lambda makes the curve useless there
        if p is None or (at <= -p[2] <= lambdas.max()):
            ok[j] = False
            params.append(None)
        else:
            params.append(p)

    def curve(lams):
        lams = np.atleast_1d(np.asarray(lams, float))
        out = np.empty((lams.size, k))
        for j, p in enumerate(params):
            if p is None:
                out[:, j] = np.vander(lams, 3, increasing=True) @ quad[:, j]
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    out[:, j] = p[0] + p[1] / (p[2] + lams)
        return out
    return curve(at)[0], curve, ok


def _extrapolation_gradient(lambdas, theta, extrapolant):
    """d(extrapolated value of column j) / d theta[l, j]: array (m, k)."""
    m, k = theta.shape
    if extrapolant in ("linear", "quadratic"):
        c = _poly_weights(lambdas, 1 if extrapolant == "linear" else 2)[0]
        return np.repeat(c[:, None], k, axis=1)
    G = np.empty((m, k))
    base, _, _ = extrapolate(lambdas, theta, extrapolant)
    for j in range(k):
        h = 1e-6 * max(np.abs(theta[:, j]).max(), 1e-8)
        for l in range(m):
            tp, tm = theta[:, j].copy(), theta[:, j].copy()
            tp[l] += h
            tm[l] -= h
            vp = extrapolate(lambdas, tp, extrapolant)[0][0]
            vm = extrapolate(lambdas, tm, extrapolant)[0][0]
            G[l, j] = (vp - vm) / (2 * h)
    return G


# ----------------------------------------------------------------------------- pseudo-errors
def _standard_noise(kind, rng, shape):
    """Pseudo-errors with mean 0 and variance 1."""
    if callable(kind):
        e = np.asarray(kind(rng, shape), dtype=np.float64)
        if e.shape != shape or not np.all(np.isfinite(e)):
            raise ValueError(f"pseudo_errors callable must return finite values of shape {shape}")
        return e
    if kind == "normal":
        return rng.standard_normal(shape)
    if kind == "laplace":
        return rng.laplace(0.0, 1.0 / np.sqrt(2.0), shape)
    if kind == "uniform":
        return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), shape)
    # "rademacher": +-1
    return rng.choice(np.array([-1.0, 1.0]), size=shape)


# ----------------------------------------------------------------------------- engine
class _Refit:
    """Refits the model on pseudo-data. Built-in families or a user callable."""

    def __init__(self, family, estimator, D, y, z, cols):
        self.family, self.estimator = family, estimator
        self.D, self.y, self.z, self.cols = D, y, z, cols

    def __call__(self, wl, start):
        if self.estimator is not None:
            out = self.estimator(wl if wl.shape[1] > 1 else wl[:, 0], self.y, self.z)
            if isinstance(out, tuple):
                par, cov = np.asarray(out[0], float), np.asarray(out[1], float)
            else:
                par, cov = np.asarray(out, float), None
            return par, cov, True
        self.D[:, self.cols] = wl
        # warm-started refits stop once a Newton step is below 1e-5 (relative): by
        # quadratic convergence the remaining error is ~1e-10, far below the Monte-Carlo
        # error of SIMEX; cold starts (the naive fit) converge fully
        f = fit_glm(self.D, self.y, self.family, beta0=start,
                    tol=1e-10 if start is not None else 1e-14,
                    quadratic_stop=start is not None)
        return f.beta, f.cov, f.converged


def _run_simex(refit, w_obs, y, make_columns, new_state, lambdas, n_sim, rng, sandwich,
               family, progress, want_cov):
    """Refit for every (replicate b, lambda); common random numbers across lambdas."""
    m = lambdas.size
    naive_par, naive_cov, ok = refit(w_obs, None)
    if not ok or not np.all(np.isfinite(naive_par)):
        raise ValueError("the naive fit on the observed data failed (separation or a "
                         "singular design?)")
    k = naive_par.size
    est = np.empty((m, n_sim, k))
    cov_sum = np.zeros((m, k, k))
    have_cov = want_cov
    n = y.size
    score_sum = np.zeros((m, n, k)) if sandwich else None
    hess_sum = np.zeros((m, k, k)) if sandwich else None
    starts = [naive_par.copy() for _ in range(m)]
    failed = 0
    bar = progress_bar(n_sim, "SIMEX", progress)
    for b in range(n_sim):
        state = new_state(rng)
        for l in range(m):
            wl = make_columns(state, lambdas[l])
            par, cov, ok = refit(wl, starts[l])
            if not ok or not np.all(np.isfinite(par)):
                failed += 1
                par, ok = starts[l].copy(), False
            est[l, b] = par
            starts[l] = par.copy()
            if have_cov:
                if cov is None:
                    have_cov = False
                else:
                    cov_sum[l] += cov
            if sandwich:
                s, A = scores_and_hessian(refit.D, y, par, family)
                score_sum[l] += s
                hess_sum[l] += A
        bar.update(1)
    bar.close()
    if failed:
        warnings.warn(f"{failed} of {m * n_sim} SIMEX refits did not converge; their previous "
                      "estimates were reused", ConvergenceWarning, stacklevel=3)
    return dict(naive=naive_par, naive_cov=naive_cov, est=est,
                cov_mean=cov_sum / n_sim if have_cov else None,
                score_mean=None if not sandwich else score_sum / n_sim,
                hess_mean=None if not sandwich else hess_sum / n_sim)


def _finish(run, lambdas, extrapolant, variance, y, X0, family, names, method, info, notes,
            watch=None, scale_influence=None, scale_derivative=None, **extra):
    lam_all = np.r_[0.0, lambdas]
    theta = np.vstack([run["naive"], run["est"].mean(axis=1)])
    params, curve, ok = extrapolate(lam_all, theta, extrapolant)
    if not np.all(ok):
        bad = [names[j] for j in np.flatnonzero(~ok)]
        notes = notes + [f"quadratic extrapolant used for {bad} (nonlinear fit failed)"]
        # coefficients that barely move with lambda (e.g. an intercept with centred
        # covariates) often defeat the rational fit harmlessly; warn for the others
        watched = np.ones(len(names), bool) if watch is None else watch
        if np.any(~ok & watched):
            bad = [names[j] for j in np.flatnonzero(~ok & watched)]
            warnings.warn(f"the nonlinear extrapolant failed for {bad} (no fit, or a pole "
                          "between lambda=-1 and the grid); the quadratic was used for them",
                          ConvergenceWarning, stacklevel=3)
    k = params.size
    n = y.size
    cov = np.full((k, k), np.nan)
    se_method = variance
    if variance == "jackknife":
        if run["cov_mean"] is None or run["naive_cov"] is None:
            raise ValueError("variance='jackknife' needs a covariance from every refit: make "
                             "the estimator return (params, cov), or use variance=None")
        B = run["est"].shape[1]
        s2 = np.array([np.cov(run["est"][l], rowvar=False).reshape(k, k)
                       for l in range(lambdas.size)])
        diff = run["cov_mean"] - s2
        vt = np.concatenate([run["naive_cov"][None], diff], axis=0).reshape(lam_all.size, k * k)
        # the variance curve is extrapolated with the quadratic for the nonlinear
        # extrapolant (the rational fit is unstable for these noisier curves)
        v_ext = "quadratic" if extrapolant == "nonlinear" else extrapolant
        cov = extrapolate(lam_all, vt, v_ext)[0].reshape(k, k)
        cov = 0.5 * (cov + cov.T)
        if np.any(np.diag(cov) <= 0):
            warnings.warn("the jackknife variance extrapolated to a non-positive variance; "
                          "use more replicates (n_sim) or variance='sandwich'",
                          DeconvWarning, stacklevel=3)
        se_method = f"jackknife (Stefanski & Cook 1995; B={B})"
        if scale_influence is not None:
            # estimated error variance: the delta-method term; unit means and within-unit
            # sums of squares are independent under normal errors, so the two parts add
            d = scale_derivative
            cov = cov + np.outer(d, d) * np.sum(scale_influence ** 2)
    elif variance == "sandwich":
        # influence of each observation at every lambda, combined through the gradient
        # of the extrapolation with respect to theta(lambda)
        G = _extrapolation_gradient(lam_all, theta, extrapolant)            # (m+1, k)
        s0, A0 = scores_and_hessian(X0, y, run["naive"], family)
        infl = np.zeros((n, k))
        infl += (s0 @ np.linalg.inv(A0).T) * G[0]
        for l in range(lambdas.size):
            Ainv = np.linalg.inv(run["hess_mean"][l])
            infl += (run["score_mean"][l] @ Ainv.T) * G[l + 1]
        if scale_influence is not None:
            # stacked estimating equation of the pooled error variance (cross terms kept)
            infl += n * scale_influence[:, None] * scale_derivative[None, :]
        infl -= infl.mean(axis=0)
        cov = infl.T @ infl / n ** 2
        se_method = "sandwich (Carroll et al. 1996)"
    return SimexResults(params, cov, names, method, n, lambdas=lam_all, theta=theta,
                        extrapolant=extrapolant, extrapolation=curve, estimates=run["est"],
                        naive_params=run["naive"], naive_cov=run["naive_cov"],
                        family=family, se_method=se_method, info=info, notes=notes, **extra)


def _scale_derivative(rerun, run, lambdas, extrapolant, eps=1e-3):
    r"""Derivative of the SIMEX estimate with respect to the relative error ``e`` of the
    error variance, ``sigma^2 -> (1 + e) sigma^2``, by a forward difference.

    With the pseudo-errors of the run replayed (common random numbers), scaling the error
    variance by ``1 + e`` is the same as simulating at ``lambda (1 + e)`` while the
    extrapolation still uses the grid ``lambda``: ``rerun(lambdas)`` does that simulation.
    The estimate is smooth in ``e``, so a small step is accurate. (The slope of the fitted
    extrapolant at ``-1`` is *not* this derivative when the extrapolant does not fit the
    curve exactly -- e.g. the linear extrapolant of a convex attenuation curve.)
    """
    lam_all = np.r_[0.0, lambdas]
    base = extrapolate(lam_all, np.vstack([run["naive"], run["est"].mean(axis=1)]),
                       extrapolant)[0]
    est = rerun(lambdas * (1.0 + eps))
    moved = extrapolate(lam_all, np.vstack([run["naive"], est.mean(axis=1)]), extrapolant)[0]
    return (moved - base) / eps


def _check_common(family, estimator, lambdas, n_sim, extrapolant, variance):
    if estimator is not None:
        if not callable(estimator):
            raise TypeError("estimator must be callable: estimator(w, y, z) -> params or "
                            "(params, cov)")
        if family is not None:
            raise ValueError("give either family (built-in refit) or estimator, not both")
    else:
        family = check_choice("linear" if family is None else family, "family", FAMILIES)
    lam = as_1d_float(lambdas, "lambdas")
    if np.any(lam <= 0):
        raise ValueError("lambdas must be positive (lambda = 0 is the naive fit, added "
                         "automatically)")
    lam = np.unique(lam)
    n_sim = check_int(n_sim, "n_sim", min_value=2)
    extrapolant = check_choice(extrapolant, "extrapolant", EXTRAPOLANTS)
    if extrapolant == "quadratic" and lam.size < 2:
        raise ValueError("the quadratic extrapolant needs at least 2 positive lambdas")
    if extrapolant == "nonlinear" and lam.size < 2:
        raise ValueError("the nonlinear extrapolant needs at least 2 positive lambdas")
    if variance is not None:
        variance = check_choice(variance, "variance", ("jackknife", "sandwich"))
        if variance == "sandwich" and estimator is not None:
            raise ValueError("variance='sandwich' is available for the built-in families; "
                             "use 'jackknife' with a user estimator")
    return family, lam, n_sim, extrapolant, variance


def simex(w, y, z=None, *, family=None, estimator=None, error=None, error_sd=None,
          error_var=None, reliability=None, replicates=False,
          lambdas=(0.5, 1.0, 1.5, 2.0), n_sim=100, extrapolant="quadratic",
          variance="jackknife", pseudo_errors="normal", rng=None, progress=False):
    r"""SIMEX estimate for a regression with error-prone covariates (Cook & Stefanski 1994).

    Parameters
    ----------
    w : array_like (n,) or (n, p)
        Error-prone covariates (replicates ``(n, k)``/``(n, k, p)`` with ``replicates=True``).
    y : array_like (n,)
    z : array_like (n,) or (n, q), optional
        Error-free covariates.
    family : {"linear", "logistic", "poisson"}, optional
        Built-in refit (default "linear"). Parameters are ``[const, w..., z...]``.
    estimator : callable, optional
        Any estimator instead of a built-in family: ``estimator(w, y, z)`` returning
        ``params`` or ``(params, cov)`` (``cov`` needed for the jackknife variance).
    error, error_sd, error_var, reliability, replicates
        The measurement error (see :class:`~deconv.eiv.MeasurementError`); per-observation
        (heteroscedastic) variances and covariance matrices are honoured.
    lambdas : sequence of float
        Positive grid of added-error multiples (0 is added automatically).
    n_sim : int
        Pseudo-data sets ``B`` per lambda.
    extrapolant : {"quadratic", "linear", "nonlinear"}
    variance : {"jackknife", "sandwich", None}
        ``"jackknife"``: Stefanski & Cook (1995); ``"sandwich"``: asymptotic (built-in
        families); None: no standard errors.
    pseudo_errors : {"normal", "laplace", "uniform", "rademacher"} or callable
        Law of the standardised pseudo-errors ``U*`` (``callable(rng, shape)`` returns
        mean-0, variance-1 draws). Normal matches the usual normal-error assumption.
    rng : None, int or numpy.random.Generator
    progress : bool
        Show a progress bar (tqdm).

    Returns
    -------
    SimexResults
        ``params``, ``cov``/``bse``/``conf_int``; ``lambdas`` and ``theta`` (mean estimates
        at each lambda, row 0 the naive fit); ``plot()`` draws the extrapolation.

    Notes
    -----
    The simulation uses the same pseudo-errors ``U*_b`` for every lambda (common random
    numbers), which smooths ``theta(lambda)`` without biasing any mean. For one error-prone
    covariate with replicates, the uncertainty of the estimated error variance is added to
    both standard errors by the delta method: the derivative of the estimate with respect
    to the error variance (one more simulation with the same pseudo-errors, so the cost
    doubles) times the variance of the pooled estimate from its per-unit influence
    (Carroll et al. 2006, sec. B.4). With several covariates it is not included.

    References
    ----------
    Cook, J. R. & Stefanski, L. A. (1994). Simulation-extrapolation estimation in parametric
    measurement error models. *JASA* 89, 1314-1328.
    Stefanski, L. A. & Cook, J. R. (1995). Simulation-extrapolation: the measurement error
    jackknife. *JASA* 90, 1247-1256.
    Carroll, R. J., Kuechenhoff, H., Lombard, F. & Stefanski, L. A. (1996). Asymptotics for
    the SIMEX estimator in nonlinear measurement error models. *JASA* 91, 242-250.
    Carroll, R. J., Ruppert, D., Stefanski, L. A. & Crainiceanu, C. M. (2006).
    *Measurement Error in Nonlinear Models*, 2nd ed., appendix B.4. Chapman & Hall.

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=3000)
    >>> w = x + rng.normal(0, 0.5, 3000)
    >>> y = (rng.random(3000) < 1 / (1 + np.exp(-(x - 0.5)))).astype(float)
    >>> res = dc.eiv.simex(w, y, error_sd=0.5, family="logistic", n_sim=50, rng=0)
    >>> bool(res.params[1] > res.naive_params[1])
    True
    """
    family, lam, n_sim, extrapolant, variance = _check_common(family, estimator, lambdas,
                                                              n_sim, extrapolant, variance)
    if not (callable(pseudo_errors) or pseudo_errors in ("normal", "laplace", "uniform",
                                                          "rademacher")):
        raise ValueError("pseudo_errors must be 'normal', 'laplace', 'uniform', 'rademacher' "
                         f"or a callable; got {pseudo_errors!r}")
    res, y, zz = prepare(w, y, z, error, error_sd, error_var, reliability, replicates)
    if family is not None:
        check_response(y, family)
    gen = check_rng(rng)
    n, p = res.w.shape
    q = 0 if zz is None else zz.shape[1]
    if estimator is None:
        check_full_rank(res.w, zz)
    # an error variance at least as large as var(w) leaves no true-covariate variance:
    # the extrapolation to lambda = -1 would be meaningless, so refuse
    res.check_identifiable(zz if estimator is None else None)
    D = _design(res.w, zz)
    cols = slice(1, 1 + p)
    # pseudo-errors with the error covariance of each row (heteroscedastic, correlated,
    # or Sigma / k_i for unit means of k_i replicates)
    noise = res.noise_transform()
    w_obs = res.w

    def new_state(g):
        return noise(_standard_noise(pseudo_errors, g, (n, p)))

    def make_columns(state, lam_):
        out = np.multiply(state, np.sqrt(lam_))
        out += w_obs
        return out

    refit = _Refit(family, estimator, D, y, zz, cols)
    replay = copy.deepcopy(gen)          # the pseudo-errors again, for the derivative below
    run = _run_simex(refit, w_obs, y, make_columns, new_state, lam, n_sim, gen,
                     variance == "sandwich", family, progress, variance == "jackknife")
    X0 = _design(res.w, zz)
    names = (param_names(p, q, w if not replicates else None, z) if estimator is None
             else [f"b{j}" for j in range(run["naive"].size)])
    notes = []
    scale_infl = scale_deriv = None
    if res.kind == "replicates":
        if res.scale_influence is not None and variance is not None:
            scale_infl = res.scale_influence

            def rerun(lams):
                return _run_simex(refit, w_obs, y, make_columns, new_state, lams, n_sim,
                                  copy.deepcopy(replay), False, family, False, False)["est"]

            scale_deriv = _scale_derivative(rerun, run, lam, extrapolant)
            notes.append(f"error variance estimated from replicates (df = {res.df:g}); its "
                         "uncertainty is propagated to the standard errors (delta method)")
        elif variance is not None:
            notes.append("error covariance of several covariates estimated from replicates; "
                         "its uncertainty is not propagated to the standard errors")
    if res.kind == "reliability":
        notes.append("error variance from the given reliability")
    info = [("Family", family if estimator is None else "user estimator"),
            ("Extrapolant", extrapolant), ("Lambdas", ", ".join(f"{v:g}" for v in lam)),
            ("Replicates per lambda", n_sim), ("Pseudo-errors", pseudo_errors
                                               if isinstance(pseudo_errors, str) else "custom")]
    watch = None
    if estimator is None:
        watch = np.zeros(len(names), bool)
        watch[cols] = True
    return _finish(run, lam, extrapolant, variance, y, X0, family, names,
                   "SIMEX", info, notes, watch=watch, reliability=res.reliability(),
                   error_cov=res.cov, scale_influence=scale_infl,
                   scale_derivative=scale_deriv)


def _matrix_power(pi, lam):
    ev, E = np.linalg.eig(pi)
    return np.real(E @ np.diag(ev.astype(complex) ** lam) @ np.linalg.inv(E))


def mcsimex(w, y, z=None, *, pi, family=None, estimator=None, lambdas=(0.5, 1.0, 1.5, 2.0),
            n_sim=100, extrapolant="quadratic", variance="jackknife", rng=None,
            progress=False):
    r"""MC-SIMEX for a misclassified binary covariate (Kuechenhoff, Mwalili & Lesaffre 2006).

    ``w`` is a 0/1 covariate observed with misclassification matrix
    ``pi[i, j] = P(W = i | X = j)`` (columns sum to 1). For each ``lambda`` the data are
    misclassified further with ``Pi^lambda`` (so the total is ``Pi^(1 + lambda)``), the model
    is refitted, and the estimates are extrapolated to ``lambda = -1``.

    Parameters
    ----------
    w : array_like (n,) of 0/1
    y, z, family, estimator, lambdas, n_sim, extrapolant, variance, rng, progress
        As in :func:`simex` (variance: "jackknife" or None).
    pi : array_like (2, 2)
        Misclassification matrix; needs ``pi[0, 0] + pi[1, 1] > 1`` so that ``Pi^lambda``
        exists for every ``lambda >= 0``.

    Returns
    -------
    SimexResults

    References
    ----------
    Kuechenhoff, H., Mwalili, S. M. & Lesaffre, E. (2006). A general method for dealing with
    misclassification in regression: the misclassification SIMEX. *Biometrics* 62, 85-96.

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> rng = np.random.default_rng(2)
    >>> x = rng.integers(0, 2, 4000)
    >>> flip = rng.random(4000) < np.where(x == 1, 0.1, 0.2)
    >>> w = np.where(flip, 1 - x, x)
    >>> y = 1 + 2 * x + rng.normal(size=4000)
    >>> pi = [[0.8, 0.1], [0.2, 0.9]]
    >>> res = dc.eiv.mcsimex(w, y, pi=pi, n_sim=50, rng=0)
    >>> bool(abs(res.params[1] - 2) < abs(res.naive_params[1] - 2))
    True
    """
    family, lam, n_sim, extrapolant, variance = _check_common(family, estimator, lambdas,
                                                              n_sim, extrapolant, variance)
    if variance == "sandwich":
        raise ValueError("mcsimex supports variance='jackknife' or None")
    wv = as_1d_float(w, "w", min_size=3)
    if not np.all((wv == 0) | (wv == 1)):
        raise ValueError("w must be a binary 0/1 covariate for mcsimex")
    y = as_1d_float(y, "y", min_size=3)
    zz = None
    if z is not None:
        from deconv._validation import as_2d_float, check_same_length
        zz = as_2d_float(z, "z")
        check_same_length(w=wv, y=y, z=zz)
    else:
        from deconv._validation import check_same_length
        check_same_length(w=wv, y=y)
    pim = np.asarray(pi, dtype=np.float64)
    if pim.shape != (2, 2) or not np.all(np.isfinite(pim)):
        raise ValueError("pi must be a finite 2 x 2 matrix")
    if np.any(pim < 0) or np.any(pim > 1) or not np.allclose(pim.sum(axis=0), 1.0):
        raise ValueError("pi must hold probabilities P(W=i | X=j) with columns summing to 1")
    if pim[0, 0] + pim[1, 1] <= 1:
        raise ValueError("pi[0,0] + pi[1,1] must exceed 1 (otherwise Pi^lambda is not a "
                         "misclassification matrix)")
    if family is not None:
        check_response(y, family)
    gen = check_rng(rng)
    n = wv.size
    # probability of switching a 0 to 1 and a 1 to 0 under Pi^lambda
    flips = {}
    for l_ in lam:
        P = _matrix_power(pim, l_)
        flips[l_] = (P[1, 0], P[0, 1])
    w_obs = wv[:, None]

    def new_state(g):
        return g.random(n)

    def make_columns(u, lam_):
        p01, p10 = flips[lam_]
        flip = np.where(wv == 1, u < p10, u < p01)
        return np.where(flip, 1.0 - wv, wv)[:, None]

    D = _design(w_obs, zz)
    refit = _Refit(family, estimator, D, y, zz, slice(1, 2))
    run = _run_simex(refit, w_obs, y, make_columns, new_state, lam, n_sim, gen, False, family,
                     progress, variance == "jackknife")
    q = 0 if zz is None else zz.shape[1]
    names = param_names(1, q) if estimator is None else [f"b{j}" for j in range(run["naive"].size)]
    info = [("Family", family if estimator is None else "user estimator"),
            ("Extrapolant", extrapolant), ("Lambdas", ", ".join(f"{v:g}" for v in lam)),
            ("Replicates per lambda", n_sim),
            ("Misclassification", f"P(W=1|X=0)={pim[1, 0]:.4g}, P(W=0|X=1)={pim[0, 1]:.4g}")]
    watch = None
    if estimator is None:
        watch = np.zeros(len(names), bool)
        watch[1] = True
    return _finish(run, lam, extrapolant, variance, y, _design(w_obs, zz), family, names,
                   "MC-SIMEX", info, [], watch=watch)
