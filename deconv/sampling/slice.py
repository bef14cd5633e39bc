"""Gradient-free fallback: coordinate-wise slice sampling with stepping out and shrinkage.

For small models whose gradient is unavailable. Each sweep updates every coordinate in turn by
Neal's (2003) univariate slice sampler: draw a level under the density, step an interval of
width ``w`` out until both ends are below the level, then shrink it towards the current point
until a draw inside the slice is found. The method is exact for any ``w``; ``w`` only changes
the cost. During warm-up ``w`` is set to twice the running posterior sd of each coordinate.
"""
import time

import numpy as np

from deconv._validation import check_int, check_positive_scalar, check_rng
from deconv.sampling.draws import Posterior
from deconv.sampling.transforms import Constraints

__all__ = ["slice_sample"]


def _logp_only(f):
    def g(x):
        r = f(x)
        v = float(r[0]) if isinstance(r, tuple) else float(r)
        return v if np.isfinite(v) else -np.inf  # NaN treated as outside the support
    return g


def _chain(logp, x, n_warm, n_draw, w, gen, max_steps):
    d = x.size
    lp = logp(x)
    out = np.empty((n_draw, d))
    lps = np.empty(n_draw)
    n_eval = 0
    hist = []
    xw = x.copy()  # work point: x with one coordinate changed
    for t in range(n_warm + n_draw):
        for i in range(d):
            xi = x[i]
            level = lp + np.log(gen.uniform())   # log of u * p(x), u ~ U(0, 1)
            lo = xi - w[i] * gen.uniform()
            hi = lo + w[i]
            j = int(gen.integers(max_steps))
            k = max_steps - 1 - j
            xw[i] = lo
            while j > 0 and logp(xw) > level:
                lo -= w[i]
                xw[i] = lo
                j -= 1
                n_eval += 1
            xw[i] = hi
            while k > 0 and logp(xw) > level:
                hi += w[i]
                xw[i] = hi
                k -= 1
                n_eval += 1
            while True:
                xw[i] = gen.uniform(lo, hi)
                lc = logp(xw)
                n_eval += 1
                if lc > level:
                    x[i] = xw[i]
                    lp = lc
                    break
                if xw[i] < xi:
                    lo = xw[i]
                else:
                    hi = xw[i]
                if hi - lo < 1e-300:  # cannot happen for a density positive at x; guard anyway
                    xw[i] = xi
                    break
        if t < n_warm:
            hist.append(x.copy())
            if len(hist) >= 20 and len(hist) % 20 == 0:
                w = np.maximum(2.0 * np.std(hist[len(hist) // 2:], axis=0), 1e-8)
        else:
            out[t - n_warm] = x
            lps[t - n_warm] = lp
    return out, lps, n_eval, w


def slice_sample(logp, init=None, *, chains=4, warmup=500, draws=1000, rng=None, width=1.0,
                 max_steps_out=50, dim=None, constraints=None, names=None):
    r"""Sample a small posterior without gradients (coordinate-wise slice sampling).

    Parameters
    ----------
    logp : callable
        ``logp(x)`` (or ``logp(x) -> (log_density, gradient)``; the gradient is ignored) on the
        natural scale. NaN counts as outside the support.
    init : array_like, optional
        Natural-scale start; default uniform(-2, 2) on the unconstrained scale.
    chains, warmup, draws, rng, constraints, names, dim
        As in :func:`deconv.sampling.nuts`.
    width : float
        Initial interval width on the unconstrained scale (adapted during warm-up).
    max_steps_out : int
        Maximum number of width-steps when stepping out.

    Returns
    -------
    Posterior
        With ``stats["lp"]`` (log density on the unconstrained scale) and ``info["n_evals"]``.

    References
    ----------
    Neal, R. M. (2003). Slice sampling. *Annals of Statistics* 31(3), 705-767.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.sampling import slice_sample
    >>> post = slice_sample(lambda x: -0.5 * x @ x, np.zeros(2), chains=2, draws=500, rng=0)
    >>> post.draws.shape
    (2, 500, 2)
    """
    if not callable(logp):
        raise TypeError(f"logp must be callable, got {type(logp).__name__}")
    chains = check_int(chains, "chains", min_value=1)
    warmup = check_int(warmup, "warmup", min_value=0)
    draws = check_int(draws, "draws", min_value=1)
    max_steps_out = check_int(max_steps_out, "max_steps_out", min_value=1)
    width = check_positive_scalar(width, "width")
    gen = check_rng(rng)
    if init is not None:
        init = np.atleast_1d(np.asarray(init, dtype=np.float64))
        if not np.all(np.isfinite(init)):
            raise ValueError("init contains non-finite values")
        dim = init.shape[-1]
        init = np.broadcast_to(init, (chains, dim))
    if dim is None:
        raise ValueError("pass init or dim")
    dim = check_int(dim, "dim", min_value=1)
    cons = Constraints(constraints, dim)
    names = list(names) if names is not None else [f"x[{i}]" for i in range(dim)]
    if len(names) != dim:
        raise ValueError(f"names must have {dim} entries")
    base = _logp_only(logp)

    def lp_z(z):  # unconstrained scale with log-Jacobian (no gradient needed: numerical Jacobian-free)
        x = cons.forward(z)
        v = base(x)
        if cons.trivial or not np.isfinite(v):
            return v
        return v + _log_jac(cons, z)

    gens = gen.spawn(chains)
    res = []
    t0 = time.perf_counter()
    for c in range(chains):
        if init is not None:
            z0 = cons.inverse(init[c])
            if not np.isfinite(lp_z(z0)):
                raise ValueError(f"init: the log density is not finite for chain {c}")
        else:
            for _ in range(100):
                z0 = gens[c].uniform(-2, 2, dim)
                if np.isfinite(lp_z(z0)):
                    break
            else:
                raise ValueError("could not find a finite log density in 100 random starts; pass init")
        res.append(_chain(lp_z, z0.copy(), warmup, draws, np.full(dim, width), gens[c], max_steps_out))
    z = np.stack([r[0] for r in res])
    return Posterior(cons.forward(z), names, stats={"lp": np.stack([r[1] for r in res])},
                     info={"sampler": "slice", "warmup": warmup, "n_evals": sum(r[2] for r in res),
                           "seconds": time.perf_counter() - t0})


def _log_jac(cons, z):
    k, lo, hi = cons.kind, cons.lo, cons.hi
    v = np.sum(z[(k == 1) | (k == 2)])
    m = k == 3
    if np.any(m):
        v += np.sum(np.log(hi[m] - lo[m]) - np.logaddexp(0.0, -z[m]) - np.logaddexp(0.0, z[m]))
    return v
