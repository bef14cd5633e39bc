"""Convex solvers for the Kiefer--Wolfowitz NPMLE of a mixing distribution on a grid.

Problem: with a row-scaled likelihood matrix ``L`` (n x m) and row multiplicities ``c``,

    maximise  l(w) = sum_i c_i log (L w)_i   over the simplex  w >= 0, sum w = 1.

Following Kim, Carbonetto, Wang & Stephens (2020, "mixsqp") we solve the equivalent
problem ``min_x phi(x) = -(1/N) sum_i c_i log (L x)_i + sum_j x_j`` over ``x >= 0``
(N = sum c); its solution has ``sum x = 1``. Each SQP step minimises the quadratic model
``g'p + p'Hp/2`` (``g`` the gradient, ``H = L' diag(c/(N f^2)) L`` the exact Hessian) over
``x + p >= 0`` with a primal active-set method, then backtracks (Armijo).

Two things make it fast and certified:

* *Column generation.* The NPMLE is discrete with few atoms, so the SQP runs on a small
  working set ``A`` of grid columns (the Hessian costs ``O(n |A|^2)`` instead of
  ``O(n m^2)``). After the restricted problem is solved, the *full-grid* KKT vector
  ``d_j = (1/N) sum_i c_i L_ij / f_i`` is computed exactly (one ``L' v`` product); columns
  with ``d_j > 1 + tol`` enter ``A`` and the SQP resumes (warm start), columns at zero
  with ``d_j < 1`` leave it.
* *The certificate.* Convergence is reported only when ``max_j d_j <= 1 + tol`` over the
  whole grid for the normalised ``w``. By concavity and Jensen's inequality, for every
  ``v`` in the simplex ``l(v) - l(w) <= N log(sum_j v_j d_j) <= N log max_j d_j``, so the
  certificate also bounds the optimality gap (reported as ``gap_bound``).

EM (``w <- w * d(w)``) is the reference method; it is monotone but slow (sublinear).
"""
import numpy as np
from scipy import linalg as sla

from deconv.eb.likelihood import LikelihoodMatrix
from deconv.eb.lowrank import DEFAULT_RTOL, low_rank_factor

__all__ = ["NPMLEResult", "mixsqp", "em", "kkt_vector"]

# Working-set heuristics (tuned by CPU time on normal-means problems with smooth, discrete
# and uniform priors, n = 1e5, m = 200): grid neighbours of a warm start's atoms that join
# the working set, neighbours of each added violator, how many of the largest violators
# join besides the local maxima of d, and how far above 1 - _KEEP the KKT value of a
# zero-weight column must be for it to stay (negative: only the support stays). Small
# working sets win: the Hessian costs O(n |A|^2) per iteration, a round only O(n m).
_NB_START, _NB_ADD, _TOP, _KEEP = 0, 0, 5, -1.0
# from this many rows, add the full-grid violators of a warm start before the first SQP
# step (see mixsqp; on small problems the extra columns cost more than the rounds they save)
_PRECHECK_ROWS = 50_000


class _WorkingColumns:
    """The working columns ``L[:, A]`` in one reused column-major buffer, updated in place.

    Each column-generation round drops some columns and adds a few. Rebuilding an
    ``n x |A|`` array per round costs more in page faults and copies than the rest of the
    round (n = 1e6: ~270 ms); here only the new columns are written (into the slots of
    dropped ones, or appended), and the kept columns that would fall outside the first
    ``k`` slots are moved down, so ``buf[:, :k]`` -- itself a contiguous F-ordered array --
    always holds the working set. The slot order is not the grid order (nothing in the
    solver needs it sorted); ``A[p]`` is the grid column held in slot ``p``.
    """

    def __init__(self, op, A):
        self.op = op
        # slack for later rounds: column-major, so the unused columns are never touched
        # (no page faults) and the buffer rarely has to grow (a new n x k buffer costs
        # ~0.3 s of first-touch page faults per 100 MB on a virtual machine)
        self.buf = np.empty((op.shape[0], min(op.shape[1], A.size + 64)), order="F")
        self.A = np.array(A, dtype=np.intp)
        op.fill_columns(self.buf, np.arange(A.size), self.A)

    @property
    def LA(self):
        return self.buf[:, :self.A.size]

    def update(self, keep_mask, add):
        """Keep the slots where ``keep_mask`` holds and add grid columns ``add``."""
        keep = np.flatnonzero(keep_mask)
        k_new = keep.size + add.size
        if k_new > self.buf.shape[1]:  # grow: copy the kept columns into a larger buffer
            buf = np.empty((self.buf.shape[0], k_new + 64), order="F")
            _fill_columns(buf, range(keep.size), self.buf, keep)
            self.buf = buf
            self.A = self.A[keep]
            keep = np.arange(keep.size)
        A_new = np.empty(k_new, dtype=np.intp)
        stay = keep[keep < k_new]
        A_new[stay] = self.A[stay]
        free = np.setdiff1d(np.arange(k_new), stay)  # slots < k_new to fill, ascending
        movers = keep[keep >= k_new]  # kept columns beyond the new size move down
        _fill_columns(self.buf, free[:movers.size], self.buf, movers)
        A_new[free[:movers.size]] = self.A[movers]
        self.op.fill_columns(self.buf, free[movers.size:], add)
        A_new[free[movers.size:]] = add
        self.A = A_new
        return self.LA, self.A


# rows per block of the Hessian product: a block of the scaled working columns
# (8192 x |A| doubles, ~2 MB) stays in cache between its scaling and its BLAS update
_GRAM_BLOCK = 8192


def _weighted_gram(A, r, work):
    """``sum_i r_i^2 a_i a_i'`` (the mix-SQP Hessian) over row blocks of ``A``.

    The scaled rows ``r_i a_i`` are formed one cache-sized block at a time in ``work``, so
    the scaled ``n x |A|`` matrix is never written out and read back (n = 1e6, |A| = 30:
    ~90 ms against ~120 ms for scaling the whole matrix, then ``B'B``). Blocks are summed
    in a fixed order, so the result is reproducible.
    """
    n, k = A.shape
    H = np.zeros((k, k))
    for s0 in range(0, n, work.shape[0]):
        e = min(n, s0 + work.shape[0])
        b = work[:e - s0]
        np.multiply(A[s0:e], r[s0:e, None], out=b)
        H += b.T @ b
    return H


def _pick_violators(d, viol, max_add):
    """Columns to add from the violators ``viol`` of the KKT vector ``d``: the local
    maxima of ``d`` along the grid (largest first, at most ``max_add``) and the ``_TOP``
    largest values."""
    m = d.size
    dpad = np.concatenate(([-np.inf], d, [-np.inf]))
    locmax = viol[(d[viol] >= dpad[viol]) & (d[viol] >= dpad[viol + 2])]
    order = viol[np.argsort(-d[viol])]
    add = np.unique(np.concatenate((locmax[np.argsort(-d[locmax])][:max_add], order[:_TOP])))
    return np.unique(np.clip((add[:, None] + np.arange(-_NB_ADD, _NB_ADD + 1)[None, :]).ravel(), 0, m - 1))


def _restricted_violation(d, x):
    """KKT violation of the restricted problem at ``x`` (scale-free: ``d * sum x`` is the
    KKT vector of the normalised point): above 1 anywhere, or below 1 on the support."""
    ds = d * x.sum()
    pos = x > 0
    return max(float(np.max(ds)) - 1.0, float(np.max(1.0 - ds[pos])) if pos.any() else 0.0)


def _eval(LA, x, counts, N):
    """``(f, d, loglik)`` at ``x``: ``f = LA x``, ``d = LA' (c / f) / N``, ``sum c log f``.

    (A fused compiled pass reading ``LA`` once was measured slower than these two BLAS
    products, which run at memory bandwidth: 30 ms against 70 ms at n = 1e6, |A| = 30.)
    """
    f = LA @ x
    with np.errstate(divide="ignore", invalid="ignore"):
        return f, LA.T @ (counts / f) / N, float(counts @ np.log(f))


def _fill_columns(out, positions, src, cols):
    """``out[:, p] = src[:, c]`` for each pair: one contiguous write per column (a fancy
    ``out[:, positions] = src[:, cols]`` goes through a temporary and strided scatters)."""
    for p, c in zip(positions, cols):
        out[:, p] = src[:, c]


class NPMLEResult:
    """Outcome of a mixture-weight solve.

    Attributes
    ----------
    weights : ndarray (m,)
        Mixing weights on the grid (normalised to sum to 1).
    loglik : float
        ``sum_i c_i log (L w)_i`` of the *scaled* matrix (add ``sum c_i logmax_i`` for the
        data log-likelihood).
    kkt : float
        ``max_j d_j - 1`` over the whole grid (the certificate; <= tol when converged).
    gap_bound : float
        ``N log(max_j d_j)``: no weight vector has a log-likelihood larger by more.
    converged : bool
        True only when ``kkt <= tol``.
    n_iter : int
        SQP (or EM) iterations.
    n_kkt_checks : int
        Full-grid certificate evaluations.
    method : str
    low_rank : dict or None
        With ``mixsqp(..., low_rank=...)``: ``rank`` and ``rtol`` of the factor,
        ``approx_kkt`` (certificate of the low-rank solve on the *approximation*, for
        information only), ``approx_kkt_exact`` (that solution's certificate on the true
        ``L``; inf when it gives some row zero likelihood), ``polished`` (whether the exact polish ran) and ``approx_iter`` /
        ``polish_iter``. ``kkt``, ``gap_bound`` and ``converged`` are always on the true
        ``L``.
    """

    def __init__(self, weights, loglik, kkt, gap_bound, converged, n_iter, n_kkt_checks, method,
                 history=None, low_rank=None):
        self.weights = weights
        self.loglik = loglik
        self.kkt = kkt
        self.gap_bound = gap_bound
        self.converged = converged
        self.n_iter = n_iter
        self.n_kkt_checks = n_kkt_checks
        self.method = method
        self.history = history or []
        self.low_rank = low_rank

    def __repr__(self):
        return (f"NPMLEResult(method={self.method!r}, loglik={self.loglik:.10g}, kkt={self.kkt:.3g}, "
                f"converged={self.converged}, n_iter={self.n_iter}, support={np.count_nonzero(self.weights)})")


def kkt_vector(L, counts, w):
    """``d_j = (1/N) sum_i c_i L_ij / (L w)_i`` for weights ``w`` (normalised inside)."""
    w = np.asarray(w, dtype=np.float64)
    w = w / w.sum()
    f = L @ w
    N = counts.sum()
    return L.T @ (counts / f) / N, f


def _loglik(counts, f):
    return float(counts @ np.log(f))


def _qp_active_set(H, b, y, max_iter, tol):
    """Minimise ``y'Hy/2 + b'y`` over ``y >= 0`` from the feasible start ``y``.

    Primal active set (Nocedal & Wright 2006, Alg. 16.3 specialised to bounds): free
    variables are those > 0; a Newton step on them, cut back at the first bound hit;
    when the step is ~0 the most negative gradient among the bound variables is freed.
    A tiny ridge keeps nearly collinear grid columns solvable.
    """
    m = y.size
    free = y > 0
    if not free.any():
        free[np.argmin(b)] = True
    ridge = 1e-12 * max(1.0, float(np.max(np.diag(H))))
    for _ in range(max_iter):
        F = np.flatnonzero(free)
        r = H @ y + b
        HF = H[np.ix_(F, F)] + ridge * np.eye(F.size)
        try:
            pF = -sla.solve(HF, r[F], assume_a="pos", check_finite=False)
        except (sla.LinAlgError, ValueError):
            pF = -np.linalg.lstsq(HF, r[F], rcond=None)[0]
        if np.max(np.abs(pF)) <= 1e-14 * max(1.0, np.max(np.abs(y))):
            bound = ~free
            if not bound.any():
                return y
            rb = np.where(bound, r, np.inf)
            j = int(np.argmin(rb))
            if rb[j] >= -tol:
                return y
            free[j] = True
            continue
        yF = y[F]
        neg = pF < 0
        alpha = 1.0
        block = -1
        if neg.any():
            ratios = -yF[neg] / pF[neg]
            k = int(np.argmin(ratios))
            if ratios[k] < 1.0:
                alpha = max(ratios[k], 0.0)
                block = F[np.flatnonzero(neg)[k]]
        y = y.copy()
        y[F] = yF + alpha * pF
        if block >= 0:
            y[block] = 0.0
            free[block] = False
        y[F] = np.maximum(y[F], 0.0)
        if alpha == 1.0:
            # Newton step completed on the current free set: check the bound variables
            r = H @ y + b
            rb = np.where(~free, r, np.inf)
            j = int(np.argmin(rb))
            if rb[j] >= -tol:
                return y
            free[j] = True
    return y


def _sqp_restricted(LA, counts, N, x, tol, max_iter, qp_iter, hrows, start=None):
    """mix-SQP on the columns ``LA``; returns (x, f, iterations).

    ``start = (f, d, loglik)`` at ``x``, when the caller has them (from the full-grid
    certificate pass of the previous round), saves the first evaluation.

    ``hrows`` (an index array or None) selects the rows used for the Hessian; gradients,
    objective and stopping rule always use every row (see ``mixsqp``).
    """
    if hrows is not None:
        LH = LA[hrows]
        cH = counts[hrows] * (N / counts[hrows].sum())
    else:
        LH, cH = LA, counts
    work = np.empty((min(_GRAM_BLOCK, LH.shape[0]), LH.shape[1]), order="F")
    sqc = np.sqrt(cH / N)
    f, d, ll = _eval(LA, x, counts, N) if start is None else start
    phi = -ll / N + x.sum()
    it = 0
    stall = 0
    viol = _restricted_violation(d, x)
    for it in range(1, max_iter + 1):
        g = 1.0 - d
        # KKT of the restricted problem (scale-free: d for the normalised x is d * sum x)
        if np.max(d) * x.sum() <= 1.0 + 0.5 * tol and np.all(d[x > 0] * x.sum() >= 1.0 - tol):
            return x, f, it - 1
        fH = f if hrows is None else f[hrows]
        H = _weighted_gram(LH, sqc / fH, work)
        y = _qp_active_set(H, g - H @ x, x.copy(), qp_iter, 1e-14)
        p = y - x
        slope = float(g @ p)
        if slope >= 0:  # no descent left at working precision
            return x, f, it
        # Near the optimum the predicted decrease can fall below the rounding error of
        # phi (tiny atoms whose KKT values are still off by ~1e-8): the objective can no
        # longer rank the points, so the full step (exact gradient and Hessian) is taken
        # when the safeguard allows, and progress is judged by the KKT violation instead.
        flat = -slope <= 1e-13 * max(1.0, abs(phi))
        alpha = 1.0
        while True:
            xn = x + alpha * p
            fn, dn, lln = _eval(LA, xn, counts, N)
            # Safeguard: no row's density may fall by more than 100x in one step. The
            # quadratic model of -log f is poor near f = 0, and a step that drives a row
            # to ~0 (accepted by Armijo because the other rows gain) leaves a point from
            # which the SQP can hardly recover (huge, badly scaled Hessian).
            if np.all(fn >= 0.01 * f):
                phin = -lln / N + xn.sum()
                if phin <= phi + 0.01 * alpha * slope or alpha < 1e-10 or (flat and alpha == 1.0):
                    break
            alpha *= 0.5
            if alpha < 1e-10:
                xn, fn, dn, phin = x, f, d, phi
                break
        if xn is x:
            return x, f, it
        # stalled at working precision (nearly collinear columns): let the caller decide
        viol_n = _restricted_violation(dn, xn)
        stalled = phi - phin <= 1e-15 * max(1.0, abs(phi)) and viol_n > 0.5 * viol
        stall = stall + 1 if stalled else 0
        x, f, d, phi, viol = xn, fn, dn, phin, viol_n
        if stall >= 3:
            return x, f, it
    return x, f, it


def mixsqp(L, counts=None, *, x0=None, tol=1e-8, max_iter=200, max_rounds=50, qp_iter=500,
           max_add=20, hessian_rows=None, presolve_rows=10000, low_rank=None, _warm_kkt=None):
    """Maximise ``sum_i c_i log (L w)_i`` over the simplex: mix-SQP + column generation.

    Parameters
    ----------
    L : ndarray (n, m) or likelihood object
        Non-negative (row-scaled) likelihood matrix, or an object that computes the
        products the solver needs without storing it
        (:class:`~deconv.eb.likelihood.NormalLikelihood`; its ``counts`` are not used:
        pass them as ``counts``).
    counts : ndarray (n,), optional
        Row multiplicities (default ones).
    x0 : ndarray (m,), optional
        Warm start (may contain zeros; all zeros or negative entries are rejected).
    tol : float
        Certificate tolerance: converged when ``max_j d_j <= 1 + tol``.
    max_iter : int
        SQP iterations per working set.
    max_rounds : int
        Column-generation rounds (full-grid certificate evaluations).
    qp_iter, max_add : int
        Active-set iterations per QP; columns added per round.
    hessian_rows : int or None
        When ``n`` exceeds this, the Hessian (the ``O(n |A|^2)`` part) is formed from an
        evenly strided subset of this many rows, re-weighted to the full total. The step
        is then a quasi-Newton step: the gradient, the line search and the certificate
        still use every row, so the solution and its certificate are exact; only the
        local convergence rate changes (linear with a small factor instead of quadratic).
        None always uses every row.
    presolve_rows : int or None
        When ``n`` exceeds four times this (and no ``x0`` is given), the problem is first
        solved on an evenly strided subset of ``max(presolve_rows, n // 10)`` rows (itself
        presolved the same way, so sizes step down by about 10x); its solution is the warm
        start, which removes most SQP iterations on the full data. The final solution and
        certificate are those of the full problem.
    low_rank : None, False, True or float
        Solve first with the interpolative factorisation ``L ~ L[:, J] T`` of
        :mod:`deconv.eb.lowrank` (``True``: relative pivot tolerance
        ``1e-8``; a float in ``(0, 1)`` is that tolerance), so each product costs
        ``O(n r)`` instead of ``O(n m)``; then *polish on the exact L* from that solution
        (the ordinary certified path, warm-started). The reported ``kkt``, ``gap_bound``
        and ``converged`` are on the true ``L``; ``result.low_rank`` describes the
        approximate stage. Default ``None`` (off).

    Returns
    -------
    NPMLEResult
    """
    rtol = resolve_low_rank(low_rank)
    if rtol is not None:
        return _mixsqp_low_rank(L, counts, rtol, x0=x0, tol=tol, max_iter=max_iter, max_rounds=max_rounds,
                                qp_iter=qp_iter, max_add=max_add, hessian_rows=hessian_rows,
                                presolve_rows=presolve_rows)
    op = _as_operator(L)
    n, m = op.shape
    counts = np.ones(n) if counts is None else np.ascontiguousarray(counts, dtype=np.float64)
    N = counts.sum()
    if x0 is None and presolve_rows is not None and n > 4 * presolve_rows:
        n_sub = max(int(presolve_rows), n // 10)
        sub = np.unique(np.linspace(0, n - 1, n_sub).astype(np.intp))
        pre = mixsqp(op.subset_rows(sub), counts[sub], tol=1e-6, max_iter=max_iter, max_rounds=max_rounds,
                     qp_iter=qp_iter, max_add=max_add, presolve_rows=presolve_rows)
        x0 = pre.weights
    if x0 is None:
        # a coarse, evenly spread start (about 25 columns) ...
        A = np.unique(np.linspace(0, m - 1, min(m, 25)).round().astype(np.intp))
        x = np.zeros(m)
        x[A] = 1.0 / A.size
    else:
        x = np.asarray(x0, dtype=np.float64).copy()
        x /= x.sum()
        A = np.flatnonzero(x > 0)
        # the grid neighbours of the support join the working set (at zero weight): atoms
        # of the optimum usually sit next to those of a nearby solution
        A = np.unique(np.clip((A[:, None] + np.arange(-_NB_START, _NB_START + 1)[None, :]).ravel(), 0, m - 1))
    # ... plus the row-maximising column of any row the start cannot explain. From a warm
    # start (typically a sub-sample solution, which misses the extreme tails of the full
    # data) "unexplained" means f_i < 10/N: such a row alone adds ~1/(N f_i) > 0.1 to the
    # KKT value of its columns. Each such column gets the mass of its rows (1/N each),
    # the NPMLE's answer for an isolated observation.
    # x vanishes off A, so f = L x needs only the working columns (no pass over L)
    work = _WorkingColumns(op, A)
    LA = work.LA  # working columns: LA[:, p] = L[:, A[p]]
    f = LA @ x[A]
    bad = np.flatnonzero(f < (1e-6 if x0 is None else 10.0 / N))
    if bad.size:
        cols = op.row_argmax(bad)
        newcols, inv = np.unique(cols, return_inverse=True)
        mass_new = np.bincount(inv, weights=counts[bad]) / N
        fresh = ~np.isin(newcols, A)
        if fresh.any():
            newcols, mass_new = newcols[fresh], mass_new[fresh]
            if x0 is None:  # cold start: 10% of the mass, spread evenly
                mass_new = np.full(newcols.size, 0.1 / (A.size + newcols.size))
            total = min(float(mass_new.sum()), 0.5)
            mass_new *= total / mass_new.sum()
            x *= (1 - total)
            x[newcols] += mass_new
            LA, A = work.update(np.ones(A.size, dtype=bool), newcols)
    hrows = None
    if hessian_rows is not None and n > hessian_rows:
        hrows = np.unique(np.linspace(0, n - 1, int(hessian_rows)).astype(np.intp))
    if x0 is not None and (n >= _PRECHECK_ROWS or _warm_kkt is not None):
        # From a warm start (a sub-sample solution) the full-grid violators are known
        # before any SQP step: adding them now saves rounds at large n for one L'u pass
        # more (smooth prior, n = 1e6, three data sets, applied at the 1e5-row presolve
        # level and at the full data: 6/9/6 -> 6/5/5 rounds, CPU -12..-30%; n = 3e5:
        # -10..-17%). At n = 1e5 (12 problems) it cost ~10% in total.
        if _warm_kkt is None:
            f0 = LA @ x[A]
            d0 = op.rmatvec(counts / f0) / N
        else:  # the caller already has the KKT vector of x0 (internal: the low-rank polish)
            d0 = _warm_kkt
        viol = np.setdiff1d(np.flatnonzero(d0 > 1.0 + tol), A)
        if viol.size:
            LA, A = work.update(np.ones(A.size, dtype=bool), _pick_violators(d0, viol, max_add))
    total_iter = 0
    history = []
    d = None
    # Early working sets are provisional: solve them only as accurately as the current
    # full-grid violation warrants (tightening to ``tol`` as the violation shrinks).
    inner_tol = 1e-4
    start = None
    for rnd in range(1, max_rounds + 1):
        solve_tol = max(tol, inner_tol)
        xA, f, it = _sqp_restricted(LA, counts, N, x[A], solve_tol, max_iter, qp_iter,
                                     hrows, None if start is None else (start[0], start[1][A], start[2]))
        total_iter += it
        x = np.zeros(m)
        x[A] = xA
        s = x.sum()
        w = x / s
        f = f / s
        d = op.rmatvec(counts / f) / N
        dmax = float(np.max(d))
        ll = _loglik(counts, f)
        history.append((rnd, A.size, it, dmax - 1.0, ll))
        if dmax <= 1.0 + tol:
            break
        # the next restricted solve starts at w, where f, d (all columns) and the
        # log-likelihood are known
        start = (f, d, ll)
        inner_tol = min(inner_tol, 0.01 * (dmax - 1.0))
        # add the worst violators: local maxima of d along the grid, then the largest
        viol = np.flatnonzero(d > 1.0 + tol)
        viol = np.setdiff1d(viol, A[xA > 0])
        if viol.size == 0:
            # violations only on the working set: the restricted solve stopped short. Give
            # up only if a solve at the final tolerance made no step (a solve at a looser
            # one may stop at once from a good warm start)
            if it == 0 and solve_tol <= tol:
                break
            inner_tol = tol
            x = w
            continue
        add = _pick_violators(d, viol, max_add)
        keep_mask = (xA > 0) | (d[A] >= 1.0 - _KEEP)
        add = np.setdiff1d(add, A[keep_mask])
        # update the working columns in place: only the new columns are read from L
        # (no pass over the whole n x m matrix) and kept columns are not copied
        LA, A = work.update(keep_mask, add)
        x = w
    w = x / x.sum()
    # every exit of the loop leaves f = L w and d = KKT vector of w (one full pass saved)
    if d is None:  # pragma: no cover - max_rounds = 0
        f = op.matvec(w)
        d = op.rmatvec(counts / f) / N
    dmax = float(np.max(d))
    return NPMLEResult(w, _loglik(counts, f), dmax - 1.0, N * np.log(max(dmax, 1.0)),
                       dmax - 1.0 <= tol, total_iter, len(history), "mixsqp", history)


def resolve_low_rank(low_rank):
    """The relative tolerance of a ``low_rank`` option, or None when it is off."""
    if low_rank is None or low_rank is False:
        return None
    if low_rank is True:
        return DEFAULT_RTOL
    if isinstance(low_rank, (bool, np.bool_)):
        return DEFAULT_RTOL if low_rank else None
    if not isinstance(low_rank, (int, float, np.integer, np.floating)):
        raise TypeError(f"low_rank must be None, True, False or a tolerance in (0, 1), got {low_rank!r}")
    rtol = float(low_rank)
    if not np.isfinite(rtol) or not 0.0 < rtol < 1.0:
        raise ValueError(f"low_rank (the relative tolerance of the factorisation) must be in (0, 1), got {low_rank!r}")
    return rtol


def _mixsqp_low_rank(L, counts, rtol, *, x0, tol, **kw):
    """mix-SQP on the low-rank factor, then the exact certified path from its solution."""
    op = _as_operator(L)
    dense = getattr(op, "L", None)
    if dense is None:
        raise TypeError("low_rank needs a dense likelihood matrix (an ndarray or an object with .L)")
    n = op.shape[0]
    counts = np.ones(n) if counts is None else np.ascontiguousarray(counts, dtype=np.float64)
    N = counts.sum()
    lr = low_rank_factor(dense, rtol)
    approx = mixsqp(lr, counts, x0=x0, tol=tol, **kw)
    # the approximate solution's certificate on the TRUE L (one exact pass): only this,
    # never approx.kkt, may declare convergence
    w = approx.weights
    S = np.flatnonzero(w)
    f = _support_columns(op, S) @ w[S]
    if np.all(f > 0):
        d = op.rmatvec(counts / f) / N
        dmax = float(np.max(d))
    else:  # the approximate solution gives some row zero likelihood on the true L
        d, dmax = None, np.inf
    info = {"rank": lr.rank, "rtol": rtol, "approx_kkt": approx.kkt, "approx_kkt_exact": dmax - 1.0,
            "approx_iter": approx.n_iter, "polish_iter": 0, "polished": False}
    if dmax - 1.0 <= tol:
        return NPMLEResult(w, _loglik(counts, f), dmax - 1.0, N * np.log(max(dmax, 1.0)), True,
                           approx.n_iter, approx.n_kkt_checks + 1, "mixsqp(low-rank)", approx.history, info)
    kw.pop("presolve_rows", None)
    # the exact KKT vector just computed seeds the polish's working set (no second pass)
    res = mixsqp(op, counts, x0=w, tol=tol, presolve_rows=None, _warm_kkt=d, **kw)
    info["polish_iter"], info["polished"] = res.n_iter, True
    return NPMLEResult(res.weights, res.loglik, res.kkt, res.gap_bound, res.converged,
                       approx.n_iter + res.n_iter, approx.n_kkt_checks + 1 + res.n_kkt_checks,
                       "mixsqp(low-rank)", res.history, info)


def _support_columns(op, S):
    """``L[:, S]`` (few columns) without a pass over the whole matrix."""
    out = np.empty((op.shape[0], S.size), order="F")
    op.fill_columns(out, np.arange(S.size), S)
    return out


def _as_operator(L):
    """A dense array, or a likelihood object that computes what the solver needs
    (``shape``, ``rmatvec``, ``matvec``, ``fill_columns``, ``row_argmax``,
    ``subset_rows``; e.g. the matrix-free :class:`~deconv.eb.likelihood.NormalLikelihood`)."""
    if hasattr(L, "rmatvec") and hasattr(L, "fill_columns"):
        return L
    L = np.asarray(L, dtype=np.float64)
    if L.ndim != 2:
        raise ValueError("L must be a 2-d likelihood matrix")
    return LikelihoodMatrix(L, None, None, None, None)


def em(L, counts=None, *, x0=None, tol=1e-8, max_iter=10000):
    """Fixed-point EM for the mixture weights (Dempster, Laird & Rubin 1977): ``w <- w * d``.

    Monotone in the log-likelihood; the same certificate is checked every iteration.
    """
    n, m = L.shape
    counts = np.ones(n) if counts is None else np.asarray(counts, dtype=np.float64)
    N = counts.sum()
    w = np.full(m, 1.0 / m) if x0 is None else np.asarray(x0, dtype=np.float64) / np.sum(x0)
    dmax = np.inf
    it = 0
    for it in range(1, max_iter + 1):
        f = L @ w
        d = L.T @ (counts / f) / N
        dmax = float(np.max(d))
        if dmax <= 1.0 + tol:
            break
        w = w * d
        w /= w.sum()
    f = L @ w
    return NPMLEResult(w, _loglik(counts, f), dmax - 1.0, N * np.log(max(dmax, 1.0)),
                       dmax - 1.0 <= tol, it, it, "em")
