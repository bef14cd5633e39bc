"""The No-U-Turn Sampler with Stan-style warm-up, several chains, and doubt raised as warnings."""
import time
import warnings

import numpy as np

from deconv._progress import progress_bar
from deconv._validation import check_choice, check_int, check_positive_scalar, check_rng
from deconv.exceptions import SamplingWarning
from deconv.sampling import diagnostics as dg
from deconv.sampling.draws import Posterior, ebfmi
from deconv.sampling.transforms import Constraints

__all__ = ["nuts", "Target", "as_target"]

_METRICS = {"fixed": 0, "diag": 1, "grad": 2, "dense": 3, "nutpie": 4}
_DEFAULT_WINDOWS = {"fixed": (75, 25, 50), "diag": (75, 25, 50), "grad": (20, 10, 50),
                    "dense": (75, 25, 50), "nutpie": (75, 25, 50)}


class Target:
    """A log density on the unconstrained scale, with names and the map back to the natural scale.

    Built-in compiled models (:mod:`deconv.sampling.models`) and wrapped Python callables share
    this interface: ``kernel.capsule()`` (the C-level model), ``dim``, ``names`` and
    ``constrain(z)`` (natural-scale values, possibly with derived quantities appended).
    """

    def __init__(self, kernel, dim, names, constrain=None, unconstrain=None):
        self.kernel = kernel
        self.dim = int(dim)
        self.names = list(names)
        self._constrain = constrain
        self._unconstrain = unconstrain

    def constrain(self, z):
        return np.asarray(z, dtype=np.float64) if self._constrain is None else self._constrain(z)

    def unconstrain(self, x, name="init"):
        x = np.asarray(x, dtype=np.float64)
        return x if self._unconstrain is None else self._unconstrain(x, name)

    def logp_grad(self, z):
        """Log density (unconstrained scale, with log-Jacobian) and its gradient at ``z``."""
        from deconv._kernels import _nuts
        z = np.array(z, dtype=np.float64, copy=True)
        if z.shape != (self.dim,):
            raise ValueError(f"z must have shape ({self.dim},), got {z.shape}")
        lp, g, status = _nuts.logp_grad(self.kernel.capsule(), z)
        err = getattr(self.kernel, "error", None)
        if status and err is not None:
            self.kernel.error = None
            raise err
        return lp, g


def as_target(model, dim=None, names=None, constraints=None):
    """Turn a built-in model or a callable ``logp_grad(x) -> (logp, grad)`` into a :class:`Target`."""
    from deconv._kernels import _nuts
    builtin = isinstance(model, Target) or (hasattr(model, "target") and callable(model.target))
    if builtin and (constraints is not None or names is not None):
        raise ValueError("constraints and names are for Python models; a built-in model "
                         "already knows its parameters")
    if isinstance(model, Target):
        return model
    if builtin:
        return model.target()
    if not callable(model):
        raise TypeError("model must be a callable logp_grad(x) -> (log_density, gradient) or a "
                        f"built-in model from deconv.sampling.models, got {type(model).__name__}")
    if dim is None:
        raise ValueError("the dimension is unknown: pass init (or dim=) with a Python model")
    dim = check_int(dim, "dim", min_value=1)
    cons = Constraints(constraints, dim)
    if names is None:
        names = [f"x[{i}]" for i in range(dim)]
    names = [str(n) for n in names]
    if len(names) != dim:
        raise ValueError(f"names must have {dim} entries, got {len(names)}")
    kernel = _nuts.PyModel(cons.wrap(model), dim)
    return Target(kernel, dim, names, constrain=None if cons.trivial else cons.forward,
                  unconstrain=None if cons.trivial else cons.inverse)


def _initial_point(target, init, chain, gen, tries):
    """Unconstrained start: the user's value, or uniform(-2, 2) with retries (Stan's rule)."""
    if init is not None:
        z = target.unconstrain(init[chain], "init")
        lp, g = target.logp_grad(z)
        if not (np.isfinite(lp) and np.all(np.isfinite(g))):
            raise ValueError(f"init: the log density or its gradient is not finite at the initial "
                             f"values of chain {chain} (log density {lp})")
        return z
    for _ in range(tries):
        z = gen.uniform(-2.0, 2.0, size=target.dim)
        lp, g = target.logp_grad(z)
        if np.isfinite(lp) and np.all(np.isfinite(g)):
            return z
    raise ValueError(f"could not find a finite log density and gradient in {tries} random "
                     "initialisations uniform(-2, 2) on the unconstrained scale; pass init=")


def _run_chain(target, z0, gen, cfg, bar=None):
    from deconv._kernels import _nuts
    d, W, N = target.dim, cfg["warmup"], cfg["draws"]
    out = {
        "draws": np.empty((N, d)), "lp": np.empty(N), "accept_stat": np.empty(N),
        "step_size": np.empty(N), "tree_depth": np.zeros(N, np.int32),
        "n_leapfrog": np.zeros(N, np.int32), "diverging": np.zeros(N, np.int32),
        "energy": np.empty(N), "div_pos": np.full((N, d), np.nan),
        "warm_accept": np.empty(max(W, 1)), "warm_step": np.empty(max(W, 1)),
        "warm_draws": np.empty((max(W, 1), d)), "warm_nleap": np.zeros(max(W, 1), np.int32),
    }
    minv = np.array(cfg["inv_metric"], dtype=np.float64, copy=True)
    rc, eps = _nuts.sample_chain(
        target.kernel.capsule(), np.ascontiguousarray(z0, dtype=np.float64), W, N, gen,
        cfg["step_size"], minv, cfg["metric"], cfg["target_accept"], cfg["max_depth"],
        cfg["max_energy_error"], *cfg["windows"], out["draws"], out["lp"], out["accept_stat"], out["step_size"],
        out["tree_depth"], out["n_leapfrog"], out["diverging"], out["energy"], out["div_pos"],
        out["warm_accept"], out["warm_step"], out["warm_draws"], out["warm_nleap"], bar)
    if rc != 0:
        err = getattr(target.kernel, "error", None)
        target.kernel.error = None
        if err is not None:
            raise err
        raise RuntimeError("the model's log density failed")
    out["inv_metric"] = minv.reshape(d, d) if minv.size == d * d and d > 1 else minv
    out["final_step"] = eps
    return out


_JOB = {}


def _pool_task(c):
    # runs in a forked child: the target (possibly a Python closure) is inherited, not pickled
    job = _JOB
    return _run_chain(job["target"], job["z0"][c], job["gens"][c], job["cfg"])


def nuts(model, init=None, *, chains=4, warmup=1000, draws=1000, rng=None, target_accept=0.8,
         max_depth=10, metric="grad", step_size=1.0, inv_metric=None, max_energy_error=1000.0,
         adapt_windows=None, names=None, constraints=None, dim=None, parallel=False,
         init_tries=100, progress=False, warn=True):
    r"""Sample a posterior with the No-U-Turn Sampler (NUTS).

    The log density :math:`\log p(\theta)` is explored with Hamiltonian dynamics on the
    unconstrained scale :math:`z`, :math:`H(z, p) = -\log p(z) + \tfrac12 p^\top M^{-1} p`,
    integrated by leapfrog steps and extended in doublings until the trajectory makes a U-turn
    (generalised criterion :math:`p^\sharp \cdot \rho > 0` at both ends); the draw is taken
    multinomially along the trajectory in proportion to :math:`e^{-H}` (Hoffman & Gelman 2014;
    Betancourt 2017).

    Parameters
    ----------
    model : callable or built-in model
        ``logp_grad(x) -> (log_density, gradient)`` on the natural scale (NumPy arrays of shape
        ``(d,)``), or a compiled model from :mod:`deconv.sampling.models` (the fast path: whole
        trajectories run in C).
    init : array_like, shape (d,) or (chains, d), optional
        Initial values on the natural scale for a Python model; for a built-in model, on its
        unconstrained scale (``model.unconstrained_names``: scales as logs). Default:
        uniform(-2, 2) on the unconstrained scale, redrawn up to ``init_tries`` times until the
        log density and gradient are finite.
    chains, warmup, draws : int
        Number of chains (independent streams spawned from ``rng``), warm-up iterations
        (adaptation; discarded) and kept draws per chain.
    rng : None, int or numpy.random.Generator
    target_accept : float
        Target mean acceptance statistic of the dual-averaging step-size adaptation.
    max_depth : int
        Maximum tree depth (at most ``2**max_depth`` leapfrog steps per draw).
    metric : {"grad", "diag", "dense", "nutpie", "fixed"}
        Metric adaptation: ``"grad"`` estimates the inverse metric as
        :math:`\sqrt{\mathrm{var}(z) / \mathrm{var}(\nabla \log p)}` (nutpie), ``"diag"`` as the
        variance of the warm-up draws (Stan), both in Stan's doubling windows with Stan's
        regularisation; ``"dense"`` estimates the full covariance of the warm-up draws (Stan's
        dense metric, O(d^2) per leapfrog step: for strongly correlated posteriors of moderate
        dimension); ``"nutpie"`` uses the gradient-based estimate with nutpie's schedule
        instead of Stan's windows (refreshed after every draw from a window that is replaced every
        10 draws early on, every 80 later; the last 15% tunes only the step size);
        ``"fixed"`` keeps ``inv_metric``. ``"grad"`` (with its shorter first
        windows) is the default: over 10 seeds of eight schools it gave a median 72.5 bulk-ESS
        per 1000 post-warm-up gradients against 60.3 for ``"diag"``, and on the radon-like model
        16% more ESS per total (warm-up included) gradient in half the CPU time
        (docs/sampling.rst).
    step_size : float
        Starting step size (refined by Stan's heuristic before adaptation).
    inv_metric : array_like, shape (d,) or (d, d), optional
        Starting (or, with ``metric="fixed"``, final) inverse metric: a diagonal, or a
        positive-definite matrix (dense). Default: identity.
    adapt_windows : (int, int, int), optional
        ``(init_buffer, base_window, term_buffer)`` of the windowed metric adaptation: fast
        step-size-only iterations first, then metric windows starting at ``base_window`` and
        doubling, then step-size-only iterations at the end. Default Stan's ``(75, 25, 50)``
        for ``metric="diag"`` and ``(20, 10, 50)`` for ``metric="grad"`` (the gradient
        estimator is accurate from few draws, so it can start earlier). Shortened
        proportionally (15% / 75% / 10%) when ``warmup`` is too short, as in Stan.
    max_energy_error : float
        A transition whose energy error exceeds this is *divergent* (also when the log density
        is NaN or -inf on the way).
    names : list of str, optional
        Parameter names for a Python model (default ``x[0]``, ...).
    constraints : sequence, optional
        Per-parameter supports for a Python model: ``None``, ``"positive"``, ``"unit"`` or
        ``(lo, hi)``. The sampler then works on the unconstrained scale with the log-Jacobian
        added; draws are reported on the natural scale.
    dim : int, optional
        Dimension of a Python model when ``init`` is not given.
    parallel : bool or int
        Run chains in separate processes (``True``: one per chain, up to the CPU count). The
        draws are identical to the sequential run with the same ``rng``.
    progress : bool
        Show a progress bar over iterations, updated every 50 (needs tqdm; not with
        ``parallel``).
    warn : bool
        Raise :class:`~deconv.exceptions.SamplingWarning` for R-hat > 1.01, bulk or tail ESS below
        100 per chain, divergences, tree-depth saturation and E-BFMI < 0.3.

    Returns
    -------
    Posterior
        Draws (chain, draw, parameter) on the natural scale with sampler statistics.

    References
    ----------
    Hoffman, M. D. and Gelman, A. (2014). The No-U-Turn Sampler. *JMLR* 15, 1593-1623.
    Betancourt, M. (2017). A conceptual introduction to Hamiltonian Monte Carlo. arXiv:1701.02434.
    Stan Development Team. Stan Reference Manual, "MCMC sampling" (adaptation windows).

    Examples
    --------
    >>> import numpy as np
    >>> import deconv as dc
    >>> def logp_grad(x):
    ...     return -0.5 * x @ x, -x
    >>> post = dc.sampling.nuts(logp_grad, np.zeros(3), chains=2, warmup=300, draws=300, rng=0)
    >>> post.draws.shape
    (2, 300, 3)
    """
    chains = check_int(chains, "chains", min_value=1)
    warmup = check_int(warmup, "warmup", min_value=0)
    draws = check_int(draws, "draws", min_value=1)
    max_depth = check_int(max_depth, "max_depth", min_value=1, max_value=30)
    init_tries = check_int(init_tries, "init_tries", min_value=1)
    target_accept = check_positive_scalar(target_accept, "target_accept")
    if not 0 < target_accept < 1:
        raise ValueError(f"target_accept must lie strictly between 0 and 1, got {target_accept}")
    step_size = check_positive_scalar(step_size, "step_size")
    max_energy_error = check_positive_scalar(max_energy_error, "max_energy_error")
    metric = check_choice(metric, "metric", tuple(_METRICS))
    gen = check_rng(rng)
    if adapt_windows is None:
        adapt_windows = _DEFAULT_WINDOWS[metric]
    try:
        adapt_windows = tuple(check_int(v, "adapt_windows", min_value=1) for v in adapt_windows)
    except TypeError:
        raise TypeError("adapt_windows must be three integers (init_buffer, base_window, "
                        "term_buffer)") from None
    if len(adapt_windows) != 3:
        raise ValueError(f"adapt_windows must have 3 entries, got {len(adapt_windows)}")

    if init is not None:
        init = np.asarray(init, dtype=np.float64)
        if init.ndim == 0:
            init = init.reshape(1)
        if init.ndim not in (1, 2) or (init.ndim == 2 and init.shape[0] != chains):
            raise ValueError(f"init must have shape (d,) or (chains={chains}, d), got {init.shape}")
        if not np.all(np.isfinite(init)):
            raise ValueError("init contains non-finite values")
        if dim is None:
            dim = init.shape[-1]
    target = as_target(model, dim=dim, names=names, constraints=constraints)
    if init is not None:
        if init.shape[-1] != target.dim:
            raise ValueError(f"init has {init.shape[-1]} values per chain but the model has "
                             f"{target.dim} parameters")
        init = np.broadcast_to(init, (chains, target.dim))
    d = target.dim
    if inv_metric is None:
        inv_metric = np.eye(d) if metric == "dense" else np.ones(d)
    else:
        inv_metric = np.array(inv_metric, dtype=np.float64)
        if inv_metric.ndim == 1 and metric == "dense":
            inv_metric = np.diag(inv_metric)
        if inv_metric.shape == (d, d) and d > 1:
            if (not np.all(np.isfinite(inv_metric)) or not np.allclose(inv_metric, inv_metric.T)
                    or np.any(np.linalg.eigvalsh(inv_metric) <= 0)):
                raise ValueError("inv_metric must be a symmetric positive-definite matrix")
            if metric in ("diag", "grad"):
                raise ValueError(f"a matrix inv_metric needs metric='dense' or 'fixed', not {metric!r}")
        elif inv_metric.reshape(-1).shape != (d,) or not np.all(np.isfinite(inv_metric)) \
                or np.any(inv_metric <= 0):
            raise ValueError(f"inv_metric must be {d} positive finite values or a ({d}, {d}) matrix")
    inv_metric = np.ascontiguousarray(inv_metric).reshape(-1)

    gens = gen.spawn(chains)
    z0 = [_initial_point(target, init, c, gens[c], init_tries) for c in range(chains)]
    cfg = dict(warmup=warmup, draws=draws, step_size=step_size, inv_metric=inv_metric,
               metric=_METRICS[metric], target_accept=target_accept, max_depth=max_depth,
               max_energy_error=max_energy_error, windows=adapt_windows)

    t0, c0 = time.perf_counter(), time.process_time()
    n_proc = _n_processes(parallel, chains)
    if n_proc > 1:
        import multiprocessing as mp
        _JOB.update(target=target, z0=z0, gens=gens, cfg=cfg)
        try:
            with mp.get_context("fork").Pool(n_proc) as pool:
                results = pool.map(_pool_task, range(chains))
        finally:
            _JOB.clear()
    else:
        results = []
        with progress_bar(chains * (warmup + draws), "NUTS iterations", progress) as bar:
            for c in range(chains):
                results.append(_run_chain(target, z0[c], gens[c], cfg, bar if progress else None))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0

    z = np.stack([r["draws"] for r in results])
    x = target.constrain(z)
    stats = {k: np.stack([r[k] for r in results])
             for k in ("lp", "accept_stat", "step_size", "tree_depth", "n_leapfrog", "diverging",
                       "energy")}
    divpos = np.stack([r["div_pos"] for r in results])
    with np.errstate(all="ignore"):   # NaN rows (no divergence) and far-out positions
        divpos = target.constrain(divpos)
    post = Posterior(
        x, target.names, stats=stats, divergence_positions=divpos,
        step_size=np.array([r["final_step"] for r in results]),
        inv_metric=np.stack([r["inv_metric"] for r in results]),
        warmup={"accept_stat": np.stack([r["warm_accept"][:warmup] for r in results]),
                "step_size": np.stack([r["warm_step"][:warmup] for r in results]),
                "n_leapfrog": np.stack([r["warm_nleap"][:warmup] for r in results])},
        info={"sampler": "NUTS", "warmup": warmup, "metric": metric, "target_accept": target_accept,
              "max_depth": max_depth, "seconds": elapsed, "processes": n_proc,
              # CPU time of this process (children of parallel=True are not counted)
              "cpu_seconds": cpu})
    post.unconstrained = z
    post.warmup["draws"] = target.constrain(np.stack([r["warm_draws"][:warmup] for r in results]))
    if warn:
        check_diagnostics(post, max_depth=max_depth, stacklevel=3)
    return post


def _n_processes(parallel, chains):
    if parallel is False or parallel is None or chains == 1:
        return 1
    import os
    ncpu = os.cpu_count() or 1
    if parallel is True:
        return max(1, min(chains, ncpu))
    return max(1, min(chains, check_int(parallel, "parallel", min_value=1)))


def check_diagnostics(post, max_depth=None, stacklevel=2):
    """Warn (SamplingWarning) about every doubtful diagnostic of a :class:`Posterior`.

    Returns the list of messages (empty when all is well).
    """
    msgs = []
    x = post.draws
    chains = x.shape[0]
    keep = np.all(np.isfinite(x), axis=(0, 1)) & (np.ptp(x.reshape(-1, x.shape[2]), axis=0) > 0)
    if np.any(keep):
        xk = x[:, :, keep]
        names = [n for n, k in zip(post.names, keep) if k]
        if chains > 1:
            r = dg.rhat(xk)
            bad = np.flatnonzero(r > 1.01)
            if bad.size:
                msgs.append(f"R-hat > 1.01 for {bad.size} parameter(s) (max {np.nanmax(r):.3f} "
                            f"for {names[int(np.nanargmax(r))]}): chains have not mixed")
        eb, et = dg.ess_bulk(xk), dg.ess_tail(xk)
        low = np.minimum(eb, et) < 100 * chains
        if np.any(low):
            msgs.append(f"bulk or tail ESS below 100 per chain for {int(low.sum())} parameter(s) "
                        f"(min {np.nanmin(np.minimum(eb, et)):.0f}): estimates are noisy; draw more")
    nd = post.n_divergent
    if nd:
        msgs.append(f"{nd} divergent transition(s) after warm-up: the posterior may be biased "
                    "(try target_accept closer to 1 or a non-centred parameterisation)")
    if max_depth is not None and "tree_depth" in post.stats:
        sat = int(np.sum(post.stats["tree_depth"] >= max_depth))
        if sat:
            msgs.append(f"{sat} transition(s) hit the maximum tree depth {max_depth}")
    if "energy" in post.stats and post.n_draws > 2:
        bf = ebfmi(post.stats["energy"])
        if np.any(bf < 0.3):
            msgs.append(f"E-BFMI below 0.3 in {int(np.sum(bf < 0.3))} chain(s) (min {bf.min():.2f})")
    for m in msgs:
        warnings.warn(m, SamplingWarning, stacklevel=stacklevel)
    return msgs
