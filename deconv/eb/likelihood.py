"""Likelihood families and grids for empirical Bayes on a grid.

A family turns the data of one fit into the row-scaled likelihood matrix
``L[i, j] = p(z_i | theta_j) / max_k p(z_i | theta_k)`` and the row log-maxima, built in
log space by the compiled kernels in ``deconv._kernels._mixture`` (so an extreme ``z_i``
never produces an all-zero row). The log-likelihood of a prior ``w`` on the grid is then
``sum_i c_i (log (L w)_i + logmax_i)`` with ``c_i`` the multiplicity of row ``i``.

Discrete data (Poisson, binomial) are compressed to their distinct rows first: the
likelihood depends on ``(k_i, e_i)`` or ``(k_i, n_i)`` only, so duplicates are merged
exactly with integer multiplicities, which is often a large saving (counts repeat).

Automatic grids (the documented rule; every grid can also be given by the user):

* normal: ``grid_size`` (default 300) equally spaced points on ``[min z, max z]`` --
  the NPMLE of a normal location mixture puts all its mass in that interval (moving an
  atom towards the data raises every likelihood), so nothing is lost outside it; the
  null value 0 is added when it lies inside (so ``lfdr(null=0)`` has a grid point);
* poisson: equally spaced on the square-root scale (variance stabilising) between
  ``min k/e`` and ``max k/e``;
* binomial: equally spaced on the arcsine-square-root scale between ``min k/n`` and
  ``max k/n``.
"""
import numpy as np

from deconv._kernels import _mixture
from deconv._validation import as_1d_float, as_2d_float, as_nonneg_int_array, as_scale

__all__ = ["LikelihoodMatrix", "FAMILIES", "build_likelihood", "default_grid"]

FAMILIES = ("normal", "poisson", "binomial", "matrix")


class LikelihoodMatrix:
    """Row-scaled likelihood matrix with row multiplicities.

    Attributes
    ----------
    L : ndarray (n_rows, m)
        ``p(z_i | theta_j)`` divided by its row maximum (every row has a 1).
    logmax : ndarray (n_rows,)
        Log of the row maxima (so ``log p = log L + logmax``).
    counts : ndarray (n_rows,)
        Multiplicity of each row (1 unless duplicates were merged).
    inverse : ndarray (n_obs,) or None
        Index of the row of each original observation (None when rows = observations).
    grid : ndarray (m,)
    """

    def __init__(self, L, logmax, counts, inverse, grid):
        self.L = L
        self.logmax = logmax
        self.counts = counts
        self.inverse = inverse
        self.grid = grid

    @property
    def n_obs(self):
        return int(round(self.counts.sum()))

    def expand(self, per_row):
        """Map a per-row array back to one value per original observation."""
        per_row = np.asarray(per_row)
        return per_row if self.inverse is None else per_row[self.inverse]


def _validate_grid(grid, family):
    grid = as_1d_float(grid, "grid", min_size=2)
    if np.any(np.diff(grid) <= 0):
        raise ValueError("grid must be strictly increasing")
    if family == "poisson" and grid[0] < 0:
        raise ValueError("grid for the poisson family holds rates and must be >= 0")
    if family == "binomial" and (grid[0] < 0 or grid[-1] > 1):
        raise ValueError("grid for the binomial family holds probabilities in [0, 1]")
    return grid


def default_grid(family, theta_hat, grid_size=300, include=None):
    """Automatic grid (see the module docstring for the rule).

    Parameters
    ----------
    family : {"normal", "poisson", "binomial"}
    theta_hat : ndarray
        Unit-level estimates: ``z``, ``k / e`` or ``k / n``.
    grid_size : int
    include : float, optional
        A value to add to the grid when inside its range (the null for lfdr).
    """
    lo, hi = float(np.min(theta_hat)), float(np.max(theta_hat))
    if hi <= lo:  # all estimates equal: a small symmetric interval around them
        pad = 1e-3 * max(1.0, abs(lo))
        lo, hi = lo - pad, hi + pad
        if family == "poisson":
            lo = max(lo, 0.0)
        elif family == "binomial":
            lo, hi = max(lo, 0.0), min(hi, 1.0)
    if family == "normal":
        grid = np.linspace(lo, hi, grid_size)
    elif family == "poisson":
        grid = np.linspace(np.sqrt(lo), np.sqrt(hi), grid_size) ** 2
    elif family == "binomial":
        grid = np.sin(np.linspace(np.arcsin(np.sqrt(lo)), np.arcsin(np.sqrt(hi)), grid_size)) ** 2
        grid = np.clip(grid, 0.0, 1.0)
    else:  # pragma: no cover - guarded by callers
        raise ValueError(family)
    if include is not None and lo < include < hi and not np.any(grid == include):
        grid = np.sort(np.append(grid, include))
    return np.unique(grid)


def _compress(*cols):
    """Distinct rows of the stacked columns: (unique columns, counts, inverse)."""
    stacked = np.column_stack(cols)
    uniq, inverse, counts = np.unique(stacked, axis=0, return_inverse=True, return_counts=True)
    return [uniq[:, k].copy() for k in range(len(cols))], counts.astype(np.float64), inverse.reshape(-1)


def validate_data(family, z, se=None, exposure=None, trials=None):
    """Validate the data of one family; returns a dict of float arrays."""
    if family == "normal":
        z = as_1d_float(z, "z")
        if se is None:
            raise TypeError("se (the known standard error of each z) is required for family='normal'")
        s, _ = as_scale(se, z.size, "se")
        return {"z": z, "se": s}
    if family == "poisson":
        k = as_nonneg_int_array(z, "k").astype(np.float64)
        e, _ = as_scale(1.0 if exposure is None else exposure, k.size, "exposure")
        return {"k": k, "exposure": e}
    if family == "binomial":
        k = as_nonneg_int_array(z, "k").astype(np.float64)
        if trials is None:
            raise TypeError("trials (the number of trials of each unit) is required for family='binomial'")
        ntr = as_1d_float(np.broadcast_to(np.asarray(trials), k.shape) if np.ndim(trials) == 0 else trials,
                          "trials")
        if ntr.size != k.size:
            raise ValueError(f"trials has {ntr.size} values but there are {k.size} observations")
        if np.any(ntr <= 0) or np.any(ntr != np.round(ntr)):
            raise ValueError("trials must be positive integers")
        if np.any(k > ntr):
            raise ValueError("k must not exceed trials (found k_i > n_i)")
        return {"k": k, "trials": ntr}
    if family == "matrix":
        logL = as_2d_float(z, "loglik", finite=False)
        if np.any(np.isnan(logL)) or np.any(logL == np.inf):
            raise ValueError("loglik must not contain NaN or +inf (use -inf for impossible values)")
        if np.any(np.max(logL, axis=1) == -np.inf):
            raise ValueError("every row of loglik needs at least one finite entry")
        return {"loglik": logL}
    raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")


def theta_hat(family, data):
    """Unit-level raw estimates (for grids and plots)."""
    if family == "normal":
        return data["z"]
    if family == "poisson":
        return data["k"] / data["exposure"]
    if family == "binomial":
        return data["k"] / data["trials"]
    return None


def build_likelihood(family, data, grid, compress=None):
    """Row-scaled likelihood matrix of validated ``data`` on ``grid``.

    ``compress`` merges duplicate rows (default: on for the discrete families).
    """
    grid = np.ascontiguousarray(grid, dtype=np.float64)
    if compress is None:
        compress = family in ("poisson", "binomial")
    inverse = None
    if family == "matrix":
        logL = data["loglik"]
        if logL.shape[1] != grid.size:
            raise ValueError(f"loglik has {logL.shape[1]} columns but the grid has {grid.size} points")
        n = logL.shape[0]
        L = np.empty_like(logL)
        logmax = np.empty(n)
        _mixture.scale_log_matrix(np.ascontiguousarray(logL), L, logmax)
        return LikelihoodMatrix(L, logmax, np.ones(n), None, grid)
    names = {"normal": ("z", "se"), "poisson": ("k", "exposure"), "binomial": ("k", "trials")}[family]
    a, b = data[names[0]], data[names[1]]
    counts = np.ones(a.size)
    if compress:
        (a, b), counts, inverse = _compress(a, b)
        if a.size == inverse.size:  # nothing merged
            inverse = None
    n = a.size
    L = np.empty((n, grid.size))
    logmax = np.empty(n)
    kernel = {"normal": _mixture.normal_matrix, "poisson": _mixture.poisson_matrix,
              "binomial": _mixture.binomial_matrix}[family]
    kernel(np.ascontiguousarray(a), np.ascontiguousarray(b), grid, L, logmax)
    return LikelihoodMatrix(L, logmax, counts, inverse, grid)
