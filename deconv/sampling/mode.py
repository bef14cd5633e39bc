"""Posterior mode (MAP) by quasi-Newton optimisation — reported, but never instead of expectations.

In hierarchical models the mode can sit on the boundary (eight schools: the type-II maximum
likelihood of the between-group scale is exactly 0, its posterior mean about 3.6), so
:func:`find_map` is a diagnostic and a starting point, not an estimate of the posterior.
"""
import numpy as np
from scipy import optimize

from deconv._summary import SummaryTable
from deconv._validation import check_int, check_rng
from deconv.sampling.transforms import Constraints

__all__ = ["find_map", "MAPResult"]


class MAPResult:
    """Result of :func:`find_map`.

    Attributes
    ----------
    x : ndarray
        The mode on the natural scale (with derived quantities for built-in models).
    names : list of str
    logp : float
        Log density at the mode (natural scale, no Jacobian unless ``jacobian=True``).
    success : bool
    at_boundary : ndarray of bool
        Which natural-scale parameters sit on a bound of their support (or ran away towards it).
    message : str
    """

    def __init__(self, x, names, logp, success, at_boundary, message, n_evals):
        self.x, self.names, self.logp = x, names, logp
        self.success, self.at_boundary = success, at_boundary
        self.message, self.n_evals = message, n_evals

    def __getitem__(self, name):
        return self.x[self.names.index(name)]

    def summary(self):
        rows = [(n, [v, bool(b)]) for n, v, b in zip(self.names, self.x, self.at_boundary)]
        notes = ["A mode is not a posterior summary: report posterior means and intervals."]
        if np.any(self.at_boundary):
            notes.append("Some parameters are at the boundary of their support (degenerate mode).")
        return SummaryTable("Posterior mode (MAP)", info=[("log density", self.logp),
                                                         ("converged", self.success),
                                                         ("evaluations", self.n_evals)],
                            columns=["mode", "at boundary"], rows=rows, notes=notes)

    def __repr__(self):
        return f"MAPResult({dict(zip(self.names, np.round(self.x, 4)))})"


def find_map(model, init=None, *, dim=None, constraints=None, names=None, jacobian=False,
             n_starts=4, rng=None, tol=1e-10):
    r"""Maximise a log density: the posterior mode (MAP).

    Parameters
    ----------
    model : callable or built-in model
        ``logp_grad(x) -> (log_density, gradient)`` on the natural scale, or a model from
        :mod:`deconv.sampling.models`.
    init : array_like, optional
        Starting point (natural scale). Default: ``n_starts`` random points uniform(-2, 2) on the
        unconstrained scale; the best optimum is kept.
    dim, constraints, names
        As in :func:`deconv.sampling.nuts` for Python models; constraints become bounds of
        L-BFGS-B, so a mode on the boundary (a scale of 0) is found exactly.
    jacobian : bool
        ``False`` (default): mode of the density of the natural parameters. ``True``: mode on the
        unconstrained scale (includes the log-Jacobian; this is what Laplace approximations use).

    Returns
    -------
    MAPResult

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.sampling import find_map
    >>> res = find_map(lambda x: (-0.5 * np.sum((x - 1) ** 2), -(x - 1)), np.zeros(2))
    >>> np.round(res.x, 6)
    array([1., 1.])
    """
    gen = check_rng(rng)
    n_starts = check_int(n_starts, "n_starts", min_value=1)
    if hasattr(model, "target") and callable(model.target):
        return _map_builtin(model, init, jacobian, n_starts, gen, tol)
    if not callable(model):
        raise TypeError("model must be a callable logp_grad(x) or a built-in model")
    if init is not None:
        init = np.atleast_1d(np.asarray(init, dtype=np.float64))
        dim = init.size
    if dim is None:
        raise ValueError("pass init or dim for a Python model")
    cons = Constraints(constraints, dim)
    names = list(names) if names is not None else [f"x[{i}]" for i in range(dim)]
    if jacobian:
        f = cons.wrap(model)
        bounds = None
        starts = ([cons.inverse(init)] if init is not None else
                  [gen.uniform(-2, 2, dim) for _ in range(n_starts)])
    else:
        f = model
        bounds = [(None if np.isinf(lo) else lo, None if np.isinf(hi) else hi)
                  for lo, hi in zip(cons.lo, cons.hi)]
        starts = ([init] if init is not None else
                  [cons.forward(gen.uniform(-2, 2, dim)) for _ in range(n_starts)])
    best, n_ev = None, 0
    for s in starts:
        def neg(x):
            lp, g = f(np.asarray(x, dtype=np.float64))
            if not np.isfinite(lp):
                return np.inf, np.zeros(dim)
            return -float(lp), -np.asarray(g, dtype=np.float64)
        r = optimize.minimize(neg, s, jac=True, method="L-BFGS-B", bounds=bounds,
                              options={"ftol": tol, "gtol": 1e-8, "maxiter": 5000})
        n_ev += r.nfev
        if best is None or r.fun < best.fun:
            best = r
    x = cons.forward(best.x) if jacobian else best.x
    at_b = (np.isclose(x, cons.lo, atol=1e-8) | np.isclose(x, cons.hi, atol=1e-8))
    return MAPResult(x, names, -best.fun, bool(best.success), at_b, str(best.message), n_ev)


def _map_builtin(model, init, jacobian, n_starts, gen, tol):
    dim = model.dim
    jidx = np.asarray(model.log_scale_index, dtype=np.int64)
    starts = ([np.asarray(init, dtype=np.float64)] if init is not None else
              [gen.uniform(-2, 2, dim) for _ in range(n_starts)])
    best, n_ev = None, 0
    for s in starts:
        def neg(z):
            lp, g = model.logp_grad(z)
            if not jacobian:  # remove log|d sigma / d log sigma| = log sigma
                lp = lp - z[jidx].sum()
                g = g.copy()
                g[jidx] -= 1.0
            if not np.isfinite(lp):
                return np.inf, np.zeros(dim)
            return -lp, -g
        r = optimize.minimize(neg, s, jac=True, method="L-BFGS-B",
                              options={"ftol": tol, "gtol": 1e-8, "maxiter": 5000})
        n_ev += r.nfev
        if best is None or r.fun < best.fun:
            best = r
    x = model.constrain(best.x)
    names = model.names
    at_b = np.zeros(len(names), dtype=bool)
    # a scale that ran towards 0 (log scale below -8, scale < 3e-4) is a boundary mode
    scale_names = [model.names[i] for i in model.log_scale_natural_index]
    for n, zi in zip(scale_names, best.x[jidx]):
        if zi < -8:
            at_b[names.index(n)] = True
    return MAPResult(x, names, -best.fun, bool(best.success), at_b, str(best.message), n_ev)
