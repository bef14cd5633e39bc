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
handled by a dense Schur complement ``S = A22 - A21 A11^{-1} A12`` (q2 x q2). For one
grouping factor (the common case) the cost per evaluation is O(G K^3); for nested and
crossed designs it is O(G K q2 + q2^3), which is small unless two crossed factors both have
thousands of levels.
"""
import numpy as np
from scipy import linalg, sparse

from deconv._kernels._lmm import block_factor

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

    def __init__(self, design):
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
        if self.q2:
            self.Z2 = self._build_Z2()
            self.Z2tZ2 = (self.Z2.T @ self.Z2).toarray()
            self.Z2tX = np.asarray(self.Z2.T @ X)
            self.Z1tZ2 = (self.Z1.T @ self.Z2).toarray().reshape(G, K, self.q2)
        self.set_response(design.y - design.offset)

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
        out = {"Ts": Ts, "Tb": Tb, "Linv": Linv, "L22": None, "M": None}
        if self.q2:
            B = self._rmul_lam2(self.Z1tZ2.reshape(self.q1, self.q2), Ts).reshape(G, K, self.q2)
            M = (Linv @ (Tb.T @ B)).reshape(self.q1, self.q2)
            A22 = self._rmul_lam2(self._rmul_lam2(self.Z2tZ2, Ts).T, Ts).T
            S = A22 - M.T @ M
            S[np.diag_indices_from(S)] += 1.0
            L22 = np.linalg.cholesky(S)
            w2 = self._rmul_lam2(self.Z2ty[None, :], Ts)[0] - M.T @ cu
            cu2 = linalg.solve_triangular(L22, w2, lower=True)
            W2 = self._rmul_lam2(self.Z2tX.T, Ts).T - M.T @ RZX
            RZX2 = linalg.solve_triangular(L22, W2, lower=True)
            logdetL2 += 2.0 * np.sum(np.log(np.diag(L22)))
            cu = np.concatenate([cu, cu2])
            RZX = np.vstack([RZX, RZX2])
            out["L22"], out["M"] = L22, M
        if self.q2:   # the kernel summed the primary block only
            RtR = RZX.T @ RZX
            Rtc = RZX.T @ cu
            cucu = cu @ cu
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
        v = d["cu"] - d["RZX"] @ d["beta"] if self.p else d["cu"].copy()
        v1 = v[: self.q1].reshape(self.G, self.K)
        if self.q2:
            u2 = linalg.solve_triangular(d["L22"], v[self.q1:], lower=True, trans="T")
            v1 = v1 - (d["M"] @ u2).reshape(self.G, self.K)
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
        """Var(b_g | y) blocks per term: list of (n_levels, k, k) arrays (lme4's condVar)."""
        Linv, Tb = d["Linv"], d["Tb"]
        inner = np.broadcast_to(np.eye(self.K), (self.G, self.K, self.K)).copy()
        out = [None] * len(self.terms)
        if self.q2:
            N = linalg.solve_triangular(d["L22"], d["M"].T, lower=True)   # (q2, q1)
            Ng = N.reshape(self.q2, self.G, self.K).transpose(1, 0, 2)    # (G, q2, K)
            inner += np.einsum("gqa,gqb->gab", Ng, Ng)
            L22inv = linalg.solve_triangular(d["L22"], np.eye(self.q2), lower=True)
            Sinv = L22inv.T @ L22inv
            for i, o in zip(self.rest, self.rest_offsets):
                t = self.terms[i]
                T = d["Ts"][i]
                blocks = np.empty((t.n_levels, t.k, t.k))
                for g in range(t.n_levels):
                    sl = slice(o + g * t.k, o + (g + 1) * t.k)
                    blocks[g] = T @ Sinv[sl, sl] @ T.T
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
