r"""Low-rank approximation of the likelihood matrix for the NPMLE solver.

For very large ``n`` with many grid points, the columns of a smooth likelihood matrix are
nearly linearly dependent (neighbouring grid points give almost the same column), so
``L`` (n x m) is close to a matrix of small rank ``r``. We use an *interpolative
decomposition*

.. math:: L \approx U V^\top, \qquad U = L_{:, J} \ (n \times r), \quad V^\top = T \ (r \times m),
   \quad T_{:, J} = I,

where ``J`` are ``r`` columns of ``L`` chosen by column-pivoted QR. ``U`` is a set of true
columns (non-negative, nothing new to store but ``r`` columns), and every product the
solver needs costs ``O(n r)`` instead of ``O(n m)``: ``f = U (T x)``, the KKT vector
``T' (U' u)``, and a working column ``U T_{:, j}``.

Rank rule (documented): the columns are chosen on a randomized sketch ``Y = G S L``
(``S`` a CountSketch to ``k = min(n, max(2000, 16 p))`` rows, one pass over ``L``; ``G``
a Gaussian ``p x k`` matrix, ``p`` = sketch rank); the pivoted QR ``Y P = Q R`` gives

.. math:: r = \#\{k : |R_{kk}| > \mathrm{rtol}\, |R_{11}|\},

i.e. the columns are kept until the next one adds less than ``rtol`` (relative to the
largest column) to the span of those already chosen. When ``r`` reaches the sketch rank
``p`` (which starts at 128), ``p`` is doubled and the sketch is redone. As in Halko,
Martinsson & Tropp (2011, Sec. 5.2), the relative error ``||L - U V'||`` is then of order
``rtol`` (measured in the tests: ``rtol = 1e-6`` gives a relative Frobenius error
``~1e-6`` -- ``1e-5``).

The approximation only steers the solver: :func:`deconv.eb.solvers.mixsqp` with
``low_rank=`` solves the approximate problem, then *polishes on the exact L* from that
solution, so the reported certificate is always computed on the true matrix.

References
----------
Kim, Y., Carbonetto, P., Stephens, M. & Anitescu, M. (2020). A fast algorithm for maximum
likelihood estimation of mixture proportions using sequential quadratic programming.
J. Comput. Graph. Statist. 29, 261--273 (Sec. 3.3: low-rank approximation of L).
Halko, N., Martinsson, P.-G. & Tropp, J. A. (2011). Finding structure with randomness.
SIAM Review 53, 217--288.
Clarkson, K. L. & Woodruff, D. P. (2013). Low rank approximation and regression in input
sparsity time. STOC 2013 (CountSketch).
"""
import numpy as np
from scipy import linalg as sla
from scipy import sparse

from deconv._validation import check_rng

__all__ = ["LowRankLikelihood", "low_rank_factor", "DEFAULT_RTOL"]

# default relative tolerance of low_rank=True (on the pivots of R; see the module docstring)
DEFAULT_RTOL = 1e-8
# first sketch rank; doubled while the chosen rank saturates it
_P0 = 128
# rows of the working-column products formed at once (bounds the temporary n x |cols|)
_ROW_BLOCK = 65536


class LowRankLikelihood:
    """``L ~ U V'`` with ``U = L[:, cols]`` and ``V' = T`` (the solver's operator interface).

    Provides what :func:`~deconv.eb.solvers.mixsqp` needs (``shape``, ``matvec``,
    ``rmatvec``, ``fill_columns``, ``row_argmax``, ``subset_rows``) at ``O(n r)`` per
    product. Working columns are clipped at 0 (an approximation of a likelihood must not
    be negative; entries of ``U T`` can be by ~``rtol``).

    Attributes
    ----------
    U : ndarray (n, r)
        The chosen columns of ``L`` (Fortran order).
    Vt : ndarray (r, m)
        Interpolation coefficients (``Vt[:, cols]`` is the identity).
    cols : ndarray (r,)
        Grid columns of ``L`` kept in ``U``.
    rank : int
    rtol : float
        Relative pivot tolerance that chose ``rank``.
    """

    def __init__(self, U, Vt, cols, rtol):
        self.U = np.asfortranarray(U, dtype=np.float64)
        self.Vt = np.ascontiguousarray(Vt, dtype=np.float64)
        self.cols = np.asarray(cols, dtype=np.intp)
        self.rtol = float(rtol)

    @property
    def rank(self):
        return self.cols.size

    @property
    def shape(self):
        return (self.U.shape[0], self.Vt.shape[1])

    def matvec(self, w):
        return self.U @ (self.Vt @ np.asarray(w, dtype=np.float64))

    def rmatvec(self, u):
        return self.Vt.T @ (self.U.T @ np.asarray(u, dtype=np.float64))

    def fill_columns(self, out, slots, cols):
        """``out[:, slots[p]] = max(U T[:, cols[p]], 0)``."""
        slots = np.asarray(slots, dtype=np.intp)
        cols = np.asarray(cols, dtype=np.intp)
        if cols.size == 0:
            return
        T = self.Vt[:, cols]
        n = self.U.shape[0]
        for a in range(0, n, _ROW_BLOCK):
            b = min(n, a + _ROW_BLOCK)
            block = self.U[a:b] @ T
            np.maximum(block, 0.0, out=block)
            for p, s in enumerate(slots):
                out[a:b, s] = block[:, p]

    def row_argmax(self, rows):
        rows = np.asarray(rows, dtype=np.intp)
        out = np.empty(rows.size, dtype=np.intp)
        for a in range(0, rows.size, 4096):  # bounded temporaries for many rows
            out[a:a + 4096] = np.argmax(self.U[rows[a:a + 4096]] @ self.Vt, axis=1)
        return out

    def subset_rows(self, rows):
        return LowRankLikelihood(self.U[rows], self.Vt, self.cols, self.rtol)

    def dense(self):
        """The approximation ``U V'`` as a dense array (for checks)."""
        return self.U @ self.Vt


def _countsketch(L, k, rng):
    """``S L`` with ``S`` a ``k x n`` CountSketch (one random +-1 per row into a random
    bucket): one pass over ``L`` through a sparse product."""
    n = L.shape[0]
    S = sparse.csr_matrix((rng.choice([-1.0, 1.0], n), (rng.integers(0, k, n), np.arange(n))), shape=(k, n))
    return np.asarray(S @ L)


def low_rank_factor(L, rtol=DEFAULT_RTOL, *, max_rank=None, rng=0):
    """Interpolative low-rank factorisation ``L ~ L[:, J] T`` (see the module docstring).

    Parameters
    ----------
    L : ndarray (n, m)
        Dense non-negative likelihood matrix (or an object with a dense ``L`` attribute).
    rtol : float
        Relative pivot tolerance in ``(0, 1)``: the rank is the number of pivots of the
        sketch's pivoted QR with ``|R_kk| > rtol |R_11|``.
    max_rank : int, optional
        Cap on the rank (default ``m``).
    rng : int or Generator
        Seed of the random sketch (the default 0 makes the factor reproducible).

    Returns
    -------
    LowRankLikelihood

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.eb.lowrank import low_rank_factor
    >>> z = np.linspace(-3, 3, 500); g = np.linspace(-4, 4, 300)
    >>> L = np.exp(-0.5 * (z[:, None] - g[None, :]) ** 2)
    >>> lr = low_rank_factor(L, 1e-10)
    >>> lr.rank < 60, bool(np.abs(lr.dense() - L).max() < 1e-6)
    (True, True)
    """
    L = getattr(L, "L", L)
    L = np.asarray(L, dtype=np.float64)
    if L.ndim != 2 or L.shape[0] < 1 or L.shape[1] < 1:
        raise ValueError("L must be a non-empty 2-d matrix")
    if not np.isfinite(rtol) or not 0.0 < rtol < 1.0:
        raise ValueError(f"rtol (the low-rank tolerance) must be in (0, 1), got {rtol!r}")
    n, m = L.shape
    max_rank = m if max_rank is None else int(max_rank)
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank!r}")
    max_rank = min(max_rank, m, n)
    rng = check_rng(rng)
    p = min(_P0, m, n)
    while True:
        k = min(n, max(2000, 16 * p))
        S = L if k >= n else _countsketch(L, k, rng)
        Y = rng.standard_normal((p, S.shape[0])) @ S if p < S.shape[0] else S
        R, piv = sla.qr(Y, mode="r", pivoting=True, check_finite=False)
        diag = np.abs(np.diag(R))
        r = int(np.count_nonzero(diag > rtol * diag[0])) if diag[0] > 0 else 1
        r = max(1, min(r, max_rank))
        if r < p or p >= min(m, n) or r >= max_rank:
            break
        p = min(2 * p, m, n)
    J = piv[:r]
    Vt = np.zeros((r, m))
    Vt[:, J] = np.eye(r)
    if r < m:
        # T = R11^{-1} R12 interpolates the other columns from the chosen ones
        Vt[:, piv[r:]] = sla.solve_triangular(R[:r, :r], R[:r, r:m], check_finite=False)
    return LowRankLikelihood(np.asfortranarray(L[:, J]), Vt, J, rtol)
