"""Profiled deviance of a linear mixed model (Bates, Maechler, Bolker & Walker 2015).

Model: ``y = X beta + Z b + e``, ``b = Lambda_theta u``, ``u ~ N(0, sigma^2 I)``,
``e ~ N(0, sigma^2 I)``. For a given relative covariance factor ``Lambda_theta`` (lower
triangular blocks ``T_r``, one per random-effect term, repeated over the term's levels) the
sparse Cholesky factor

    L L' = Lambda' Z'Z Lambda + I

gives everything else in closed form (lme4 paper, section 3): the conditional modes, the
fixed effects, the penalised residual sum of squares ``r^2`` and the profiled deviance

    ML:   d(theta)  = log|L|^2 + n (1 + log(2 pi r^2 / n))
    REML: dR(theta) = log|L|^2 + log|R_X|^2 + (n - p)(1 + log(2 pi r^2 / (n - p)))

Everything is computed from the cross-products Z'Z, Z'X, Z'y, X'X, X'y, y'y, formed once,
so one deviance evaluation costs nothing in n.

Structure used instead of a general sparse Cholesky (SciPy has none): the grouping factor
contributing most random effects is the *primary* factor; its columns are ordered
level-major so its block of ``Lambda'Z'Z Lambda + I`` is block diagonal with one K x K block
per level (K = number of coefficients of that factor) and is factored by batched dense
Cholesky. The remaining q2 columns (other factors: nested parents, crossed factors) are
handled by the Schur complement ``S = A22 - A21 A11^{-1} A12`` (q2 x q2). For one
grouping factor (the common case) the cost per evaluation is O(G K^3).

Schur complement, three ways (``schur=``):

* ``"dense"``: ``M = L11^{-1} A12`` as a dense q1 x q2 array, ``S = A22 + I - M'M`` by a
  dense product (O(q1 q2^2)) and a dense Cholesky factor. Simple; the reference path.
* ``"cholesky"``: ``M`` kept sparse (its pattern is that of ``Z1'Z2``: one block per
  observed pair of levels), ``M'M`` accumulated row by row in a compiled kernel at cost
  sum_r nnz(m_r)^2 (instead of q1 q2^2), then a dense Cholesky factor of ``S``. For two
  crossed factors with thousands of levels and many observations per level, ``S`` is
  dense anyway and this is what pays.
* ``"splu"``: everything sparse and ``S`` factored by SuperLU (``scipy.sparse.linalg.splu``,
  symmetric minimum-degree ordering, no pivoting: ``S`` is symmetric positive definite, so
  ``S = L U`` with ``U = D L'`` and ``log|S| = sum log U_ii``). For large, sparse crossed
  designs (few observations per level) where a dense q2 x q2 array would not fit.

``"auto"`` picks ``"dense"`` for small problems, ``"splu"`` when ``S`` is large and sparse,
and ``"cholesky"`` otherwise. All three give the same deviance to rounding (tested to 1e-10).
"""
import numpy as np
from scipy import linalg, sparse
from scipy.sparse import linalg as splinalg

from deconv._kernels._lmm import block_factor, sub_gram_csr_lower

__all__ = ["LMMCore"]

_LOG2PI = np.log(2.0 * np.pi)


def _tril_colmajor(k):
    """Row/col indices of a k x k lower triangle in column-major order (lme4's theta order)."""
    rows, cols = [], []
    for j in range(k):
        for i in range(j, k):
            rows.append(i)
            cols.append(j)
    return np.array(rows), np.array(cols)


class LMMCore:
    """Cross-products and the theta -> deviance map of one linear mixed model design.

    Parameters
    ----------
    design : Design (1-D response)
    """

    def __init__(self, design, schur="auto"):
        if schur not in ("auto", "dense", "cholesky", "splu"):
            raise ValueError(f"schur must be 'auto', 'dense', 'cholesky' or 'splu', got {schur!r}")
        self.design = design
        terms = design.terms
        self.terms = terms
        X = design.X
        self.n, self.p = X.shape
        # theta layout: one lower triangle per term, column-major, terms in design order
        self.tri = [_tril_colmajor(t.k) for t in terms]
        sizes = [t.n_theta for t in terms]
        self.theta_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.n_theta = int(self.theta_offsets[-1])
        lower = []
        for t, (r, c) in zip(terms, self.tri):
            lower.extend(np.where(r == c, 0.0, -np.inf))
        self.lower = np.array(lower)
        self.theta0 = np.where(self.lower == 0.0, 1.0, 0.0)

        # primary factor: the one with most random effects
        qf = {}
        for t in terms:
            qf[t.factor] = qf.get(t.factor, 0) + t.n_levels * t.k
        primary = max(qf, key=qf.get)
        self.blk = [i for i, t in enumerate(terms) if t.factor == primary]
        self.rest = [i for i, t in enumerate(terms) if t.factor != primary]
        t0 = terms[self.blk[0]]
        self.G = t0.n_levels
        self.codes1 = t0.codes
        self.W = np.hstack([terms[i].Xr for i in self.blk])          # (n, K)
        self.K = self.W.shape[1]
        self.blk_offsets = np.concatenate([[0], np.cumsum([terms[i].k for i in self.blk])]).astype(int)
        # rest: column layout term by term, level-major within a term
        offs, o = [], 0
        for i in self.rest:
            offs.append(o)
            o += terms[i].n_levels * terms[i].k
        self.rest_offsets = offs
        self.q1 = self.G * self.K
        self.q2 = o
        self.q = self.q1 + self.q2

        G, K, n = self.G, self.K, self.n
        # Z1 (n, q1) as sparse, level-major: column g*K + a
        rows = np.repeat(np.arange(n), K)
        cols = (self.codes1[:, None] * K + np.arange(K)[None, :]).ravel()
        self.Z1 = sparse.csr_matrix((self.W.ravel(), (rows, cols)), shape=(n, self.q1))
        ZtZ = np.empty((G, K, K))
        for a in range(K):
            for b in range(a, K):
                v = np.bincount(self.codes1, self.W[:, a] * self.W[:, b], minlength=G)
                ZtZ[:, a, b] = v
                ZtZ[:, b, a] = v
        self.ZtZ1 = ZtZ
        self.ZtX1 = np.ascontiguousarray((self.Z1.T @ X).reshape(G, K, self.p))
        self.XtX = X.T @ X
        self.schur = None
        if self.q2:
            self.Z2 = self._build_Z2()
            self.Z2tX = np.asarray(self.Z2.T @ X)
            Z2tZ2 = (self.Z2.T @ self.Z2).tocsr()
            Z1tZ2 = (self.Z1.T @ self.Z2).tocsr()
            self.schur = self._choose_schur(schur, Z1tZ2, Z2tZ2)
            if self.schur == "dense":
                self.Z2tZ2 = Z2tZ2.toarray()
                self.Z1tZ2 = Z1tZ2.toarray().reshape(G, K, self.q2)
            else:
                self.Z2tZ2_sp = Z2tZ2
                self.Z1tZ2_sp = Z1tZ2
                self._lam2_pattern()
        self.set_response(design.y - design.offset)

    # "auto": below this many secondary random effects a dense S (<= 72 MB) is always fine;
    # above it SuperLU is used when the pattern of S is sparse enough
    _SPLU_MIN_Q2 = 3000
    _SPLU_MAX_DENSITY = 0.05

    def _choose_schur(self, schur, Z1tZ2, Z2tZ2):
        if schur != "auto":
            return schur
        if self.q1 * self.q2 <= 250_000:        # small: dense arrays are cheapest
            return "dense"
        if self.q2 < self._SPLU_MIN_Q2:
            return "cholesky"
        # symbolic pattern of S = A22 - A21 A11^{-1} A12: level blocks of Z1 expand to K x K
        pat = Z1tZ2.copy()
        pat.data[:] = 1.0
        if self.K > 1:                          # rows of one primary level couple fully
            lev = sparse.csr_matrix((np.ones(self.q1), (np.arange(self.q1) // self.K,
                                                         np.arange(self.q1))),
                                    shape=(self.G, self.q1))
            pat = (lev @ pat).tocsr()
        pat2 = Z2tZ2.copy()
        pat2.data[:] = 1.0
        nnz = ((pat.T @ pat) + pat2).nnz
        density = nnz / float(self.q2) ** 2
        return "splu" if density < self._SPLU_MAX_DENSITY else "cholesky"

    def _lam2_pattern(self):
        """Scatter indices building the block-diagonal Lambda2 (q2 x q2) straight from theta."""
        rows, cols, src = [], [], []
        for i, o in zip(self.rest, self.rest_offsets):
            t = self.terms[i]
            r, c = self.tri[i]
            base = o + np.arange(t.n_levels)[:, None] * t.k
            rows.append((base + r[None, :]).ravel())
            cols.append((base + c[None, :]).ravel())
            src.append(np.tile(self.theta_offsets[i] + np.arange(len(r)), t.n_levels))
        self._lam2_idx = (np.concatenate(rows), np.concatenate(cols), np.concatenate(src))

    def _lam2_sparse(self, theta):
        rows, cols, src = self._lam2_idx
        return sparse.csr_matrix((theta[src], (rows, cols)), shape=(self.q2, self.q2))

    def _build_Z2(self):
        rows, cols, vals = [], [], []
        for i, o in zip(self.rest, self.rest_offsets):
            t = self.terms[i]
            for j in range(t.k):
                rows.append(np.arange(self.n))
                cols.append(o + t.codes * t.k + j)
                vals.append(t.Xr[:, j])
        return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                 shape=(self.n, self.q2))

    def set_response(self, y):
        """(Re)compute the response cross-products (used by the parametric bootstrap)."""
        self.y = y
        self.Zty1 = np.ascontiguousarray((self.Z1.T @ y).reshape(self.G, self.K))
        self.Xty = self.design.X.T @ y
        self.yty = float(y @ y)
        if self.q2:
            self.Z2ty = self.Z2.T @ y

    # ------------------------------------------------------------------ theta -> factors
    def T_list(self, theta):
        """Per-term relative covariance factors T_r (lower triangular k x k)."""
        out = []
        for t, (r, c), o in zip(self.terms, self.tri, self.theta_offsets):
            T = np.zeros((t.k, t.k))
            T[r, c] = theta[o:o + t.n_theta]
            out.append(T)
        return out

    def _Tb(self, Ts):
        Tb = np.zeros((self.K, self.K))
        for i, a, b in zip(self.blk, self.blk_offsets[:-1], self.blk_offsets[1:]):
            Tb[a:b, a:b] = Ts[i]
        return Tb

    def _Tb_fast(self, theta):
        """Primary-block factor straight from theta (precomputed scatter indices)."""
        if not hasattr(self, "_tb_idx"):
            rows, cols, src = [], [], []
            for i, a in zip(self.blk, self.blk_offsets[:-1]):
                r, c = self.tri[i]
                rows.extend(a + r)
                cols.extend(a + c)
                src.extend(self.theta_offsets[i] + np.arange(len(r)))
            self._tb_idx = (np.array(rows), np.array(cols), np.array(src))
        rows, cols, src = self._tb_idx
        Tb = np.zeros((self.K, self.K))
        Tb[rows, cols] = theta[src]
        return Tb

    def _rmul_lam2(self, M, Ts):
        """M @ Lambda2 for M of shape (m, q2)."""
        out = np.empty_like(M)
        m = M.shape[0]
        for i, o in zip(self.rest, self.rest_offsets):
            t = self.terms[i]
            sl = slice(o, o + t.n_levels * t.k)
            out[:, sl] = (M[:, sl].reshape(m, t.n_levels, t.k) @ Ts[i]).reshape(m, -1)
        return out

    def decompose(self, theta):
        """All pieces of the penalised least-squares solution at ``theta`` (a dict)."""
        theta = np.asarray(theta, dtype=np.float64)
        Ts = self.T_list(theta) if self.q2 else None
        Tb = self._Tb_fast(theta)
        G, K, p = self.G, self.K, self.p
        Linv = np.empty((G, K, K))
        cu1 = np.empty((G, K))
        RZX1 = np.empty((G, K, p))
        RtR = np.zeros((p, p))
        Rtc = np.zeros(p)
        logdetL2, cucu = block_factor(self.ZtZ1, self.ZtX1, self.Zty1, Tb, Linv, cu1, RZX1,
                                      np.empty((K, K)), np.empty((K, K)), RtR, Rtc)
        if not np.isfinite(logdetL2):
            raise np.linalg.LinAlgError("block factor not positive definite")
        cu = cu1.reshape(-1)
        RZX = RZX1.reshape(self.q1, p)
        out = {"Ts": Ts, "Tb": Tb, "Linv": Linv, "S": None, "M": None}
        if self.q2:
            if self.schur == "dense":
                M, S, w2, W2 = self._schur_dense(Ts, Tb, Linv, cu, RZX)
            else:
                M, S, w2, W2 = self._schur_sparse(theta, Ts, Tb, Linv, cu, RZX)
            # S^{-1} [w2, W2]: the secondary block's share of c'c, R_ZX'c and R_ZX'R_ZX
            sol = S.solve(np.column_stack([w2, W2]))
            logdetL2 += S.logdet
            cucu = cucu + w2 @ sol[:, 0]
            Rtc = Rtc + W2.T @ sol[:, 0]
            RtR = RtR + W2.T @ sol[:, 1:]
            out.update(S=S, M=M, w2=w2, W2=W2)
        XtXc = self.XtX - RtR
        rhs = self.Xty - Rtc
        if p:
            RX = np.linalg.cholesky(XtXc)
            beta = np.linalg.solve(XtXc, rhs)
            logdetRX2 = 2.0 * np.sum(np.log(np.diag(RX)))
        else:
            RX, beta, logdetRX2 = np.zeros((0, 0)), np.zeros(0), 0.0
        r2 = self.yty - cucu - rhs @ beta      # c_beta' c_beta = rhs' (R_X'R_X)^{-1} rhs
        out.update(cu=cu, RZX=RZX, RX=RX, beta=beta, r2=max(r2, 1e-300), logdetL2=logdetL2,
                   logdetRX2=logdetRX2)
        return out

    def _schur_dense(self, Ts, Tb, Linv, cu1, RZX1):
        """Reference path: dense M = L11^{-1} Tb' Z1'Z2 Lambda2 and S = A22 + I - M'M."""
        G, K = self.G, self.K
        B = self._rmul_lam2(self.Z1tZ2.reshape(self.q1, self.q2), Ts).reshape(G, K, self.q2)
        M = (Linv @ (Tb.T @ B)).reshape(self.q1, self.q2)
        A22 = self._rmul_lam2(self._rmul_lam2(self.Z2tZ2, Ts).T, Ts).T
        S = A22 - M.T @ M
        S[np.diag_indices_from(S)] += 1.0
        w2 = self._rmul_lam2(self.Z2ty[None, :], Ts)[0] - M.T @ cu1
        W2 = self._rmul_lam2(self.Z2tX.T, Ts).T - M.T @ RZX1
        return M, _DenseSchur(S), w2, W2

    def _schur_sparse(self, theta, Ts, Tb, Linv, cu1, RZX1):
        """M sparse (pattern of Z1'Z2); S assembled from sparse products, factored densely
        (``schur="cholesky"``) or by sparse LU (``schur="splu"``)."""
        G, K = self.G, self.K
        lam2 = self._lam2_sparse(theta)
        # block-diagonal L11^{-1} Tb' (one K x K block per primary level)
        LT = sparse.bsr_matrix((Linv @ Tb.T, np.arange(G), np.arange(G + 1)),
                               shape=(self.q1, self.q1)).tocsr()
        M = (LT @ self.Z1tZ2_sp @ lam2).tocsr()
        A22 = (lam2.T @ self.Z2tZ2_sp @ lam2).tocsr()
        w2 = lam2.T @ self.Z2ty - M.T @ cu1
        W2 = lam2.T @ self.Z2tX - M.T @ RZX1
        if self.schur == "cholesky":
            S = A22.toarray()
            S[np.diag_indices_from(S)] += 1.0
            M.sort_indices()
            sub_gram_csr_lower(M.indptr.astype(np.int64), M.indices.astype(np.int64),
                               np.ascontiguousarray(M.data, dtype=np.float64), S)
            return M, _DenseSchur(S, lower_only=True), w2, W2
        S = (A22 + sparse.identity(self.q2, format="csr") - M.T @ M).tocsc()
        return M, _SparseSchur(S), w2, W2

    def block_factor_numpy(self, Tb):
        """Slow NumPy reference of the compiled per-level factorisation (used in tests)."""
        K = self.K
        A11 = Tb.T @ self.ZtZ1 @ Tb
        A11[:, np.arange(K), np.arange(K)] += 1.0
        L11 = np.linalg.cholesky(A11)
        Linv = np.linalg.inv(L11)
        cu1 = np.einsum("gab,gb->ga", Linv, self.Zty1 @ Tb)
        RZX1 = Linv @ (Tb.T @ self.ZtX1)
        logdet = 2.0 * np.sum(np.log(np.diagonal(L11, axis1=1, axis2=2)))
        return logdet, Linv, cu1, RZX1

    # ------------------------------------------------------------------------ deviances
    def deviance(self, theta, reml):
        """Profiled deviance (sigma and beta profiled out); REML criterion if ``reml``."""
        try:
            d = self.decompose(theta)
        except np.linalg.LinAlgError:
            return np.inf
        return self._profiled(d, reml)

    def _profiled(self, d, reml):
        n, p = self.n, self.p
        if reml:
            nu = n - p
            return d["logdetL2"] + d["logdetRX2"] + nu * (1.0 + _LOG2PI + np.log(d["r2"] / nu))
        return d["logdetL2"] + n * (1.0 + _LOG2PI + np.log(d["r2"] / n))

    def deviance_sigma(self, theta, sigma, reml):
        """Deviance with sigma explicit (not profiled); beta still profiled (ML) / integrated (REML)."""
        try:
            d = self.decompose(theta)
        except np.linalg.LinAlgError:
            return np.inf
        nu = self.n - self.p if reml else self.n
        s2 = sigma * sigma
        dev = d["logdetL2"] + nu * (_LOG2PI + np.log(s2)) + d["r2"] / s2
        return dev + (d["logdetRX2"] if reml else 0.0)

    def sigma_hat(self, d, reml):
        return float(np.sqrt(d["r2"] / (self.n - self.p if reml else self.n)))

    # ---------------------------------------------------------------- conditional modes
    def conditional_modes(self, d):
        """Spherical modes u and b = Lambda u, split by term: list of (n_levels, k) arrays."""
        v1 = d["cu"] - d["RZX"] @ d["beta"] if self.p else d["cu"].copy()
        v1 = v1.reshape(self.G, self.K)
        if self.q2:
            w = d["w2"] - d["W2"] @ d["beta"] if self.p else d["w2"]
            u2 = d["S"].solve(w[:, None])[:, 0]                 # S^{-1}(w2 - W2 beta)
            v1 = v1 - np.asarray(d["M"] @ u2).reshape(self.G, self.K)
        u1 = np.einsum("gba,gb->ga", d["Linv"], v1)     # L11^{-T} v1
        b1 = u1 @ d["Tb"].T
        out = [None] * len(self.terms)
        for i, a, c in zip(self.blk, self.blk_offsets[:-1], self.blk_offsets[1:]):
            out[i] = b1[:, a:c]
        for i, o in zip(self.rest, self.rest_offsets):
            t = self.terms[i]
            out[i] = u2[o:o + t.n_levels * t.k].reshape(t.n_levels, t.k) @ d["Ts"][i].T
        return out

    def conditional_variances(self, d, sigma):
        """Var(b_g | y) blocks per term: list of (n_levels, k, k) arrays (lme4's condVar).

        With a secondary block, A^{-1} restricted to the primary block is
        L11^{-T} (I + M S^{-1} M') L11^{-1} and to the secondary block S^{-1}; only the
        K x K (resp. k x k) diagonal blocks are formed, by solves in column chunks."""
        Linv, Tb = d["Linv"], d["Tb"]
        G, K = self.G, self.K
        inner = np.broadcast_to(np.eye(K), (G, K, K)).copy()
        out = [None] * len(self.terms)
        if self.q2:
            S, M = d["S"], d["M"]
            MT = M.T.tocsc() if sparse.issparse(M) else M.T
            step = max(1, 4096 // K)                 # levels per chunk (memory ~ q2 x 4096)
            for g0 in range(0, G, step):
                g1 = min(G, g0 + step)
                cols = MT[:, g0 * K:g1 * K]
                Y = S.solve(cols.toarray() if sparse.issparse(cols) else cols)   # S^{-1} M_c'
                Mc = M[g0 * K:g1 * K]
                P = np.asarray(Mc @ Y).reshape(g1 - g0, K, g1 - g0, K)
                idx = np.arange(g1 - g0)
                inner[g0:g1] += P[idx, :, idx, :]
            for i, o in zip(self.rest, self.rest_offsets):
                t = self.terms[i]
                T = d["Ts"][i]
                blocks = np.empty((t.n_levels, t.k, t.k))
                step = max(1, 4096 // t.k)
                for g0 in range(0, t.n_levels, step):
                    g1 = min(t.n_levels, g0 + step)
                    a, b = o + g0 * t.k, o + g1 * t.k
                    E = np.zeros((self.q2, b - a))
                    E[np.arange(a, b), np.arange(b - a)] = 1.0
                    Y = S.solve(E)[a:b].reshape(g1 - g0, t.k, g1 - g0, t.k)
                    idx = np.arange(g1 - g0)
                    blocks[g0:g1] = T @ Y[idx, :, idx, :] @ T.T
                out[i] = sigma ** 2 * blocks
        Ainv11 = np.transpose(Linv, (0, 2, 1)) @ inner @ Linv
        V = sigma ** 2 * (Tb @ Ainv11 @ Tb.T)
        for i, a, c in zip(self.blk, self.blk_offsets[:-1], self.blk_offsets[1:]):
            out[i] = V[:, a:c, a:c]
        return out

    def simulate(self, beta, Ts, sigma, rng):
        """One response vector from the fitted model (parametric bootstrap)."""
        y = self.design.X @ beta + self.design.offset
        for t, T in zip(self.terms, Ts):
            b = sigma * rng.standard_normal((t.n_levels, t.k)) @ T.T
            y = y + np.einsum("nk,nk->n", t.Xr, b[t.codes])
        return y + sigma * rng.standard_normal(self.n)


class _DenseSchur:
    """Dense Cholesky factor of the Schur complement S (symmetric positive definite)."""

    def __init__(self, S, lower_only=False):
        # lower_only: only the lower triangle of S was filled (LAPACK reads no more)
        self.L = linalg.cholesky(S, lower=True, check_finite=False)
        d = np.diag(self.L)
        if not np.all(np.isfinite(d)):
            raise np.linalg.LinAlgError("Schur complement not positive definite")
        self.logdet = 2.0 * float(np.sum(np.log(d)))

    def solve(self, B):
        return linalg.cho_solve((self.L, True), B, check_finite=False)


class _SparseSchur:
    """SuperLU factor of a sparse symmetric positive definite S.

    Symmetric fill-reducing ordering (minimum degree on S) and no pivoting
    (``diag_pivot_thresh=0``): for SPD S, ``P S P' = L U`` with ``U = D L'`` and D > 0, so the
    log-determinant is ``sum log U_ii``. A non-positive pivot means S is not positive
    definite (a failed evaluation, as in the dense path)."""

    def __init__(self, S):
        try:
            self.lu = splinalg.splu(S, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                                    options=dict(SymmetricMode=True))
        except RuntimeError as exc:            # exactly singular
            raise np.linalg.LinAlgError(str(exc)) from None
        d = self.lu.U.diagonal()
        if not np.all(d > 0):
            raise np.linalg.LinAlgError("Schur complement not positive definite")
        self.logdet = float(np.sum(np.log(d)))

    def solve(self, B):
        return self.lu.solve(np.asarray(B, dtype=np.float64))
