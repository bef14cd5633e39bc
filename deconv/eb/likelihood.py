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
  null value 0 is added when it lies inside (so ``lfdr(null=0)`` has a grid point). The
  NPMLE instead shifts the equally spaced grid (step ``(max z - min z)/(grid_size - 1)``)
  so that 0 is one of its points: the steps stay equal, which the matrix-free kernels
  need for their fast path;
* poisson: equally spaced on the square-root scale (variance stabilising) between
  ``min k/e`` and ``max k/e``;
* binomial: equally spaced on the arcsine-square-root scale between ``min k/n`` and
  ``max k/n``.
"""
import numpy as np

from deconv._kernels import _mixture, _mixture_normal
from deconv._validation import as_1d_float, as_2d_float, as_nonneg_int_array, as_scale

__all__ = ["LikelihoodMatrix", "NormalLikelihood", "FAMILIES", "build_likelihood", "default_grid"]

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
        self._L = L
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

    @property
    def L(self):
        return self._L

    # -- the operations the solver and the posterior summaries need (the matrix-free
    #    NormalLikelihood provides the same ones without storing L)
    @property
    def shape(self):
        return self.L.shape

    def rmatvec(self, u):
        """``L' u``."""
        return self.L.T @ u

    def matvec(self, w):
        """``L w``."""
        return self.L @ w

    def fill_columns(self, out, slots, cols):
        """``out[:, slots[p]] = L[:, cols[p]]`` (``out`` column-major)."""
        for p, c in zip(slots, cols):
            out[:, p] = self.L[:, c]

    def columns(self, cols):
        """``L[:, cols]`` as a row-major array (the whole ``L`` when ``cols`` is every column)."""
        cols = np.asarray(cols, dtype=np.intp)
        if cols.size == self.L.shape[1]:
            return self.L
        return np.ascontiguousarray(self.L[:, cols])

    def row_argmax(self, rows):
        """Column of the maximum of each of ``rows``."""
        return np.argmax(self.L[rows], axis=1)

    def subset_rows(self, rows):
        """The likelihood of the rows ``rows`` only (counts kept, no ``inverse``)."""
        pick = (lambda a: None if a is None else a[rows])
        return LikelihoodMatrix(self.L[rows], pick(self.logmax), pick(self.counts), None, self.grid)


# rows per task of the matrix-free L'u (fixed, so the partial sums -- and the result --
# do not depend on the number of threads)
_RMATVEC_BLOCK = 2048


class NormalLikelihood(LikelihoodMatrix):
    r"""The normal-family likelihood on a grid *without* the ``n x m`` matrix.

    ``L_ij = phi((z_i - g_j)/s_i) / max_k phi((z_i - g_k)/s_i)`` is recomputed in
    compiled passes (:mod:`deconv._kernels._mixture_normal`) whenever the solver needs
    it: the working columns ``L[:, A]``, the full-grid product ``L' u`` of the KKT
    certificate, and the columns where a prior has mass for posterior summaries. Memory
    is ``O(n)`` instead of ``O(n m)`` (1.6 GB at n = 1e6, m = 200).

    On an equally spaced grid the entries to the right of the row maximum ``j*`` are
    ``A_i^k T_k(i)`` (``A_i = exp(dt_i t0_i)``, ``T_k(i) = exp(-k^2 dt_i^2/2)``,
    ``dt_i = h/s_i``), built by multiplication; rows are kept sorted by ``j*`` so that the
    sum over rows runs over independent rows (and with equal ``s`` the shared ``T_k``
    factors out of it). Unequal grid steps and rows far outside the grid use the general
    recurrence of the dense kernel. ``L`` itself (the dense matrix) is built on first
    access, for code that needs it; ``inverse`` maps each observation to its (sorted) row.

    Parameters
    ----------
    z, s : ndarray (n,)
        Validated estimates and standard errors (finite, ``s > 0``).
    grid : ndarray (m,)
        Strictly increasing grid.
    counts, inverse : ndarray, optional
        Row multiplicities and observation-to-row map of already merged rows.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.eb.likelihood import NormalLikelihood
    >>> z = np.array([-1.0, 0.2, 2.5]); g = np.linspace(-3, 3, 13)
    >>> lik = NormalLikelihood(z, np.ones(3), g)
    >>> bool(np.allclose(lik.rmatvec(np.ones(3)), lik.L.T @ np.ones(3), rtol=1e-12))
    True
    """

    def __init__(self, z, s, grid, counts=None, inverse=None):
        z = np.ascontiguousarray(z, dtype=np.float64)
        s = np.ascontiguousarray(s, dtype=np.float64)
        grid = np.ascontiguousarray(grid, dtype=np.float64)
        n, m = z.size, grid.size
        jstar = np.empty(n, dtype=np.intp)
        t0, inv, logmax = np.empty(n), np.empty(n), np.empty(n)
        _mixture_normal.normal_setup(z, s, grid, jstar, t0, inv, logmax)
        steps = np.diff(grid)
        uniform = m > 1 and bool(np.all(np.abs(steps - steps.mean()) <= 1e-12 * steps.mean()))
        homo = bool(np.all(s == s[0]))
        if uniform:
            # rows of kind 1 (equal s: a shared table T_k) or 2 (heteroskedastic: T_k by a
            # per-row recurrence); A^k stays finite for every k < m on either
            dt = steps.mean() * inv
            ok = np.abs(t0) * dt * (m - 1) < 300.0
            fast = np.where(ok, 1 if homo else 2, 0).astype(np.uint8)
            lna = np.where(ok, dt * t0, 0.0)  # slow rows never read A
            A, Ainv = np.exp(lna), np.exp(-lna)
            T = np.exp(-0.5 * (np.arange(m) * dt[0]) ** 2) if homo else np.zeros(m)
        else:
            fast = np.zeros(n, dtype=np.uint8)
            A = Ainv = t0  # unused by the kernels when no row is fast
            T = np.zeros(m)
        # sort the rows by (slow, j*): segments sharing j* make the fast L'u a loop over
        # independent rows; `inverse` maps each observation to its row
        key = jstar + m * (fast == 0)
        if 2 * m <= np.iinfo(np.uint16).max:  # NumPy sorts 16-bit keys by radix: O(n)
            key = key.astype(np.uint16)
        order = np.argsort(key, kind="stable")
        rows = np.empty(n, dtype=np.intp)
        rows[order] = np.arange(n)
        counts = np.ones(n) if counts is None else np.asarray(counts, dtype=np.float64)
        self._init_rows(z[order], s[order], grid, jstar[order], t0[order], inv[order],
                        logmax[order], A[order] if fast.any() else A, Ainv[order] if fast.any() else Ainv,
                        fast[order], T, counts[order], rows if inverse is None else rows[inverse])
        self.inverse_rows = rows  # row of each input (z_i, s_i)

    def _init_rows(self, z, s, grid, jstar, t0, inv, logmax, A, Ainv, fast, T, counts, inverse):
        self.z, self.s, self.grid = z, s, grid
        self.jstar, self.t0, self.inv, self.logmax = jstar, t0, inv, logmax
        self.A, self.Ainv, self.fast, self.T = A, Ainv, fast, T
        self.counts, self.inverse = counts, inverse
        self._L = None

    def _k(self):
        return (self.t0, self.inv, self.jstar, self.A, self.Ainv, self.fast, self.T, self.grid)

    @property
    def L(self):
        """The dense ``n x m`` matrix (built on first access, then kept)."""
        if self._L is None:
            L = np.empty(self.shape)
            _mixture_normal.normal_matrix(self.t0, self.inv, self.jstar, self.grid, L)
            self._L = L
        return self._L

    @property
    def shape(self):
        return (self.t0.size, self.grid.size)

    def rmatvec(self, u):
        u = np.ascontiguousarray(u, dtype=np.float64)
        n, m = self.shape
        part = np.empty((-(-n // _RMATVEC_BLOCK), m))
        _mixture_normal.normal_rmatvec(*self._k()[:7], self.grid, u, _RMATVEC_BLOCK, part)
        return part.sum(axis=0)

    def matvec(self, w):
        w = np.asarray(w, dtype=np.float64)
        S = np.flatnonzero(w)
        return self.columns(S) @ w[S]

    def fill_columns(self, out, slots, cols):
        cols = np.asarray(cols, dtype=np.intp)
        slots = np.asarray(slots, dtype=np.intp)
        o = np.argsort(cols)
        _mixture_normal.normal_columns(*self._k(), np.ascontiguousarray(cols[o]),
                                       np.ascontiguousarray(slots[o]), out)

    def columns(self, cols):
        cols = np.ascontiguousarray(cols, dtype=np.intp)
        if np.any(np.diff(cols) <= 0):
            raise ValueError("cols must be strictly increasing")
        out = np.empty((self.shape[0], cols.size))
        _mixture_normal.normal_submatrix(*self._k(), cols, out)
        return out

    def row_argmax(self, rows):
        return self.jstar[rows]

    def subset_rows(self, rows):
        sub = NormalLikelihood.__new__(NormalLikelihood)
        fast = self.fast[rows]
        pick = (lambda a: a[rows]) if fast.any() else (lambda a: a)
        sub._init_rows(self.z[rows], self.s[rows], self.grid, self.jstar[rows], self.t0[rows],
                       self.inv[rows], self.logmax[rows], pick(self.A), pick(self.Ainv), fast, self.T,
                       self.counts[rows], None)
        sub.inverse_rows = None
        return sub


def _validate_grid(grid, family):
    grid = as_1d_float(grid, "grid", min_size=2)
    if np.any(np.diff(grid) <= 0):
        raise ValueError("grid must be strictly increasing")
    if family == "poisson" and grid[0] < 0:
        raise ValueError("grid for the poisson family holds rates and must be >= 0")
    if family == "binomial" and (grid[0] < 0 or grid[-1] > 1):
        raise ValueError("grid for the binomial family holds probabilities in [0, 1]")
    return grid


def default_grid(family, theta_hat, grid_size=300, include=None, aligned=False):
    """Automatic grid (see the module docstring for the rule).

    Parameters
    ----------
    family : {"normal", "poisson", "binomial"}
    theta_hat : ndarray
        Unit-level estimates: ``z``, ``k / e`` or ``k / n``.
    grid_size : int
    include : float, optional
        A value to add to the grid when inside its range (the null for lfdr).
    aligned : bool
        Normal family: instead of inserting ``include`` (which makes the steps unequal),
        shift the equally spaced grid so that ``include`` is one of its points (the
        grid then spans ``[min z, max z]`` plus less than one step; ``grid_size`` or
        ``grid_size + 1`` points). Equal steps keep the matrix-free kernels on their
        fast path.
    """
    lo, hi = float(np.min(theta_hat)), float(np.max(theta_hat))
    if hi <= lo:  # all estimates equal: a small symmetric interval around them
        pad = 1e-3 * max(1.0, abs(lo))
        lo, hi = lo - pad, hi + pad
        if family == "poisson":
            lo = max(lo, 0.0)
        elif family == "binomial":
            lo, hi = max(lo, 0.0), min(hi, 1.0)
    if family == "normal" and aligned and include is not None and lo < include < hi:
        h = (hi - lo) / (grid_size - 1)
        k = np.arange(np.floor((lo - include) / h), np.ceil((hi - include) / h) + 1)
        return include + k * h
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


def _dense_normal(z, s, grid):
    """Dense row-scaled normal matrix and row log-maxima (same kernels as NormalLikelihood)."""
    z = np.ascontiguousarray(z, dtype=np.float64)
    n = z.size
    jstar = np.empty(n, dtype=np.intp)
    t0, inv, logmax = np.empty(n), np.empty(n), np.empty(n)
    _mixture_normal.normal_setup(z, np.ascontiguousarray(s, dtype=np.float64), grid, jstar, t0, inv, logmax)
    L = np.empty((n, grid.size))
    _mixture_normal.normal_matrix(t0, inv, jstar, grid, L)
    return L, logmax


def build_likelihood(family, data, grid, compress=None, matrix_free=False):
    """Row-scaled likelihood matrix of validated ``data`` on ``grid``.

    ``compress`` merges duplicate rows (default: on for the discrete families).
    ``matrix_free`` (normal family only) returns a :class:`NormalLikelihood`, which
    never stores the ``n x m`` matrix.
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
        (ua, ub), ucounts, uinverse = _compress(a, b)
        if ua.size < a.size:  # duplicates merged: rows are the sorted distinct pairs
            (a, b), counts, inverse = (ua, ub), ucounts, uinverse
        # else keep the input order (the distinct rows come back sorted, and without an
        # `inverse` per-unit results would be reported in that sorted order)
    n = a.size
    if family == "normal":
        if matrix_free:
            return NormalLikelihood(a, b, grid, counts=counts, inverse=inverse)
        return LikelihoodMatrix(*_dense_normal(a, b, grid), counts, inverse, grid)
    L = np.empty((n, grid.size))
    logmax = np.empty(n)
    kernel = {"poisson": _mixture.poisson_matrix, "binomial": _mixture.binomial_matrix}[family]
    kernel(np.ascontiguousarray(a), np.ascontiguousarray(b), grid, L, logmax)
    return LikelihoodMatrix(L, logmax, counts, inverse, grid)
