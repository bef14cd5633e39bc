"""Kiefer--Wolfowitz nonparametric maximum likelihood estimation of the prior."""
import warnings

import numpy as np

from deconv._summary import SummaryTable
from deconv._validation import check_choice, check_int, check_positive_scalar, as_1d_float
from deconv.eb.likelihood import (FAMILIES, build_likelihood, default_grid, theta_hat,
                                  validate_data, _validate_grid)
from deconv.eb.posterior import GridPosteriorMixin
from deconv.eb.prior import Prior
from deconv.eb.solvers import em, mixsqp, resolve_low_rank
from deconv.exceptions import ConvergenceWarning

__all__ = ["NPMLE", "FixedPrior"]

# n * m from which matrix_free="auto" avoids the dense matrix (normal family): measured,
# the fused passes are faster from about n = 1e4 at m = 300, and they save n * m * 8 bytes
_MATRIX_FREE_SIZE = 1_000_000


class NPMLE(GridPosteriorMixin):
    r"""Nonparametric maximum-likelihood prior (Kiefer--Wolfowitz) on a grid.

    Model: :math:`z_i \mid \theta_i \sim p(z \mid \theta_i)` independently, with
    :math:`\theta_i \sim G` and :math:`G` unknown. On a grid :math:`g_1 < \dots < g_m`
    the NPMLE solves

    .. math:: \hat w = \arg\max_{w \in \Delta_m} \sum_i \log \sum_j p(z_i \mid g_j)\, w_j ,

    a convex problem solved by mix-SQP with an active set (Kim et al. 2020) plus column
    generation (see :mod:`deconv.eb.solvers`). Convergence is reported only with the KKT
    certificate :math:`\max_j \frac1n \sum_i L_{ij}/f_i \le 1 + \mathrm{tol}` over the
    whole grid, which bounds the optimality gap by :math:`n \log \max_j (\cdot)`.

    Families: ``"normal"`` (``fit(z, se=s)``, known per-unit standard errors),
    ``"poisson"`` (``fit(k, exposure=e)``: :math:`k_i \sim \mathrm{Poisson}(e_i\theta_i)`),
    ``"binomial"`` (``fit(k, trials=n)``: :math:`k_i \sim \mathrm{Bin}(n_i, \theta_i)`),
    ``"matrix"`` (``fit(loglik)`` with a user log-likelihood matrix ``(n, m)`` and
    ``grid=`` given).

    Parameters
    ----------
    family : {"normal", "poisson", "binomial", "matrix"}
    grid : array-like, optional
        Support grid; default: the automatic rule of :mod:`deconv.eb.likelihood`.
    grid_size : int
        Number of points of the automatic grid.
    solver : {"mixsqp", "em"}
        ``"em"`` is the slow reference method.
    tol : float
        Certificate tolerance (default 1e-8).
    max_iter : int
        Iteration cap (SQP iterations per working set, or EM iterations).
    warm_start : array-like, optional
        Initial weights on the grid (zeros allowed).
    compress : bool, optional
        Merge duplicate rows (default: on for poisson/binomial).
    refine : int
        Passes of local grid refinement (default 0): after a certified solve, the
        midpoints between every atom and its grid neighbours are added and the problem is
        re-solved from the previous weights, until a pass gains less than ``refine_tol``
        in log-likelihood. The grid only grows, so the log-likelihood never decreases;
        ``refine_history_`` records the gains. This approximates the NPMLE over the
        continuum (whose atoms the fixed grid can only round).
    refine_tol : float
        Stop refining when a pass gains less than this (default 1e-6).
    matrix_free : bool or "auto"
        Normal family only: never store the ``n x m`` likelihood matrix, and compute the
        working columns, the full-grid certificate ``L' u`` and the posterior summaries
        in fused compiled passes instead (:class:`~deconv.eb.likelihood.NormalLikelihood`;
        same solution and certificate to round-off). ``"auto"`` (default) uses it when
        ``n * m >= 1e6``. ``likelihood_.L`` still gives the dense matrix on request.
    low_rank : bool or float
        Solve first with a low-rank (interpolative) factorisation of ``L``
        (:mod:`deconv.eb.lowrank`; ``True``: relative pivot tolerance ``1e-8``, a float in
        ``(0, 1)``: that tolerance), then polish on the exact ``L``; the certificate is
        always that of the true ``L`` (``result_.low_rank`` describes the approximate
        stage). Needs the dense matrix, so ``matrix_free="auto"`` then resolves to
        False; ``solver="mixsqp"`` only. Default False. See the user guide for when it
        pays.

    Attributes
    ----------
    prior_ : Prior
    loglik_ : float
        Log-likelihood of the data under the fitted prior.
    kkt_ : float
        ``max_j d_j - 1`` (the certificate; ``<= tol`` when converged).
    gap_bound_ : float
        Upper bound on the log-likelihood any other prior on the grid can add.
    converged_ : bool
    n_iter_ : int
    result_ : NPMLEResult

    References
    ----------
    Kiefer, J. & Wolfowitz, J. (1956). Ann. Math. Statist. 27, 887--906.
    Koenker, R. & Mizera, I. (2014). Convex optimization, shape constraints, compound
    decisions, and empirical Bayes rules. JASA 109, 674--685.
    Kim, Y., Carbonetto, P., Stephens, M. & Anitescu, M. (2020). A fast algorithm for
    maximum likelihood estimation of mixture proportions using sequential quadratic
    programming. J. Comput. Graph. Statist. 29, 261--273.
    Jiang, W. & Zhang, C.-H. (2009). General maximum likelihood empirical Bayes estimation
    of normal means. Ann. Statist. 37, 1647--1684.

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.choice([-2.0, 0.0, 2.0], size=2000)
    >>> z = theta + rng.normal(size=2000)
    >>> eb = dc.eb.NPMLE().fit(z, se=1.0)
    >>> bool(eb.converged_), eb.kkt_ <= 1e-8
    (True, True)
    >>> shrunk = eb.posterior_mean(); lo, hi = eb.posterior_interval(0.9)
    """

    def __init__(self, family="normal", *, grid=None, grid_size=300, solver="mixsqp", tol=1e-8,
                 max_iter=200, warm_start=None, compress=None, refine=0, refine_tol=1e-6,
                 matrix_free="auto", low_rank=False):
        self.family = family
        self.grid = grid
        self.grid_size = grid_size
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.compress = compress
        self.refine = refine
        self.refine_tol = refine_tol
        self.matrix_free = matrix_free
        self.low_rank = low_rank

    def _setup(self, z, se, exposure, trials, low_rank=None):
        family = check_choice(self.family, "family", FAMILIES)
        data = validate_data(family, z, se=se, exposure=exposure, trials=trials)
        if self.grid is None:
            if family == "matrix":
                raise TypeError("family='matrix' needs grid= (the theta value of each column)")
            grid_size = check_int(self.grid_size, "grid_size", min_value=2)
            grid = default_grid(family, theta_hat(family, data), grid_size,
                                include=0.0 if family == "normal" else None, aligned=True)
        else:
            grid = _validate_grid(self.grid, family)
        mf = self.matrix_free
        if isinstance(mf, str):
            check_choice(mf, "matrix_free", ("auto",))
            n = data["z"].size if family == "normal" else 0
            mf = family == "normal" and n * grid.size >= _MATRIX_FREE_SIZE and low_rank is None
        elif not isinstance(mf, (bool, np.bool_)):
            raise TypeError(f"matrix_free must be True, False or 'auto', got {mf!r}")
        elif mf and low_rank is not None and family == "normal":
            raise ValueError("low_rank needs the dense likelihood matrix: use matrix_free=False "
                             "(or 'auto'), or drop low_rank (the matrix-free path already avoids L)")
        self._matrix_free = bool(mf) and family == "normal"
        lik = build_likelihood(family, data, grid, compress=self.compress, matrix_free=self._matrix_free)
        return family, data, lik

    def fit(self, z, se=None, *, exposure=None, trials=None):
        """Estimate the prior from the data.

        Parameters
        ----------
        z : array-like
            Estimates ``z_i`` (normal), counts ``k_i`` (poisson, binomial) or a
            log-likelihood matrix (matrix family).
        se : float or array-like
            Known standard errors (normal family).
        exposure : float or array-like, optional
            Poisson exposures (default 1).
        trials : int or array-like
            Binomial numbers of trials.

        Returns
        -------
        self
        """
        solver = check_choice(self.solver, "solver", ("mixsqp", "em"))
        tol = check_positive_scalar(self.tol, "tol")
        max_iter = check_int(self.max_iter, "max_iter", min_value=1)
        low_rank = resolve_low_rank(self.low_rank)
        if low_rank is not None and solver != "mixsqp":
            raise ValueError("low_rank applies to solver='mixsqp' only")
        family, data, lik = self._setup(z, se, exposure, trials, low_rank)
        x0 = None
        if self.warm_start is not None:
            x0 = as_1d_float(self.warm_start, "warm_start")
            if x0.size != lik.grid.size:
                raise ValueError(f"warm_start has {x0.size} values but the grid has {lik.grid.size} points")
            if np.any(x0 < 0) or not x0.sum() > 0:
                raise ValueError("warm_start must be non-negative with a positive sum")
        refine = check_int(self.refine, "refine", min_value=0)
        refine_tol = check_positive_scalar(self.refine_tol, "refine_tol")

        def solve(L, counts, start):
            if solver == "mixsqp":
                return mixsqp(L, counts, x0=start, tol=tol, max_iter=max_iter, low_rank=low_rank)
            return em(L, counts, x0=start, tol=tol, max_iter=max_iter)

        res = solve(lik, lik.counts, x0) if solver == "mixsqp" else solve(lik.L, lik.counts, x0)
        self.refine_history_ = []
        for _ in range(refine):
            if family == "matrix" or not res.converged:
                break
            g = lik.grid
            atoms = np.flatnonzero(res.weights > 1e-12 * res.weights.max())
            left = atoms[atoms > 0]
            right = atoms[atoms < g.size - 1]
            new = np.concatenate((0.5 * (g[left - 1] + g[left]), 0.5 * (g[right] + g[right + 1])))
            new = np.setdiff1d(new, g)
            if new.size == 0:
                break
            grid2 = np.union1d(g, new)
            lik2 = build_likelihood(family, data, grid2, compress=self.compress,
                                    matrix_free=self._matrix_free)
            start = np.zeros(grid2.size)
            start[np.searchsorted(grid2, g)] = res.weights
            res2 = solve(lik2 if solver == "mixsqp" else lik2.L, lik2.counts, start)
            gain = (res2.loglik + float(lik2.counts @ lik2.logmax)) - (res.loglik + float(lik.counts @ lik.logmax))
            self.refine_history_.append((grid2.size, gain))
            lik, res = lik2, res2
            if gain < refine_tol:
                break
        if not res.converged:
            warnings.warn(f"NPMLE ({solver}) stopped without the KKT certificate: max_j d_j - 1 = "
                          f"{res.kkt:.3g} > tol = {tol:g} (log-likelihood gap bound {res.gap_bound:.3g})",
                          ConvergenceWarning, stacklevel=2)
        self.family_ = family
        self.data_ = data
        self.likelihood_ = lik
        self.grid_ = lik.grid
        self.prior_ = Prior(lik.grid, res.weights, name="NPMLE")
        self.loglik_ = res.loglik + float(lik.counts @ lik.logmax)
        self.kkt_ = res.kkt
        self.gap_bound_ = res.gap_bound
        self.converged_ = res.converged
        self.n_iter_ = res.n_iter
        self.n_obs_ = lik.n_obs
        self.result_ = res
        return self

    def summary(self):
        """Fit summary (a :class:`~deconv._summary.SummaryTable`)."""
        self._check_fitted()
        atoms, mass = self.prior_.support()
        rows = [(f"{a:.6g}", [m]) for a, m in zip(atoms, mass)] if atoms.size <= 25 else []
        notes = [] if rows else [f"{atoms.size} atoms; see prior_.support()"]
        return SummaryTable(
            "NPMLE (Kiefer-Wolfowitz) empirical Bayes",
            info=[("family", self.family_), ("observations", self.n_obs_),
                  ("grid points", self.grid_.size), ("solver", self.result_.method),
                  ("log-likelihood", self.loglik_), ("KKT max_j d_j - 1", self.kkt_),
                  ("gap bound", self.gap_bound_), ("converged (certified)", self.converged_),
                  ("iterations", self.n_iter_), ("atoms", atoms.size),
                  *([("low-rank rank (rtol)", f"{self.result_.low_rank['rank']} ({self.result_.low_rank['rtol']:g})"),
                     ("low-rank stage KKT on true L", self.result_.low_rank["approx_kkt_exact"])]
                    if self.result_.low_rank else []),
                  ("prior mean", self.prior_.mean()), ("prior sd", self.prior_.std())],
            columns=["mass"] if rows else [], rows=rows, notes=notes)


class FixedPrior(GridPosteriorMixin):
    """Posterior summaries under a given prior (no estimation).

    Useful to evaluate a prior estimated elsewhere, or the true prior in a simulation
    (the oracle Bayes rule).

    Parameters
    ----------
    prior : Prior
    family : {"normal", "poisson", "binomial", "matrix"}

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> oracle = dc.eb.FixedPrior(dc.eb.Prior([0.0, 3.0], [0.8, 0.2])).fit([0.5, 2.9], se=1.0)
    >>> oracle.posterior_mean().round(3)
    array([0.037, 2.83 ])
    """

    def __init__(self, prior, family="normal"):
        self.prior = prior
        self.family = family

    def fit(self, z, se=None, *, exposure=None, trials=None):
        """Store the data and build its likelihood on the prior's grid. Returns self."""
        if not isinstance(self.prior, Prior):
            raise TypeError("prior must be a deconv.eb.Prior")
        family = check_choice(self.family, "family", FAMILIES)
        data = validate_data(family, z, se=se, exposure=exposure, trials=trials)
        grid = _validate_grid(self.prior.grid, family)
        self.family_ = family
        self.data_ = data
        self.likelihood_ = build_likelihood(family, data, grid)
        self.prior_ = self.prior
        return self

    def loglik(self):
        """Log-likelihood of the fitted data under the prior."""
        self._check_fitted()
        lik = self.likelihood_
        return float(lik.counts @ (np.log(lik.L @ self.prior_.weights) + lik.logmax))
