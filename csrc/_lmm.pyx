# Per-level blocks of the penalised least-squares system of a linear mixed model
# (Bates, Maechler, Bolker & Walker 2015, section 3), for the primary grouping factor whose
# block of  Lambda' Z'Z Lambda + I  is block diagonal (one K x K block per level).
# Kernel only: the caller (deconv/hierarchical/_lmmcore.py) guarantees C-contiguous
# float64 arrays with consistent shapes: ZtZ (G,K,K), ZtX (G,K,p), Zty (G,K), Tb (K,K)
# lower triangular; outputs Linv (G,K,K), cu (G,K), RZX (G,K,p); work arrays A (K,K) and
# tmp (K,K). It never raises: a non-positive pivot (impossible for A = T'MT + I
# with M positive semi-definite) returns -inf so the caller reports a failed evaluation.
from libc.math cimport INFINITY, log, sqrt


def block_factor(const double[:, :, ::1] ZtZ, const double[:, :, ::1] ZtX,
                 const double[:, ::1] Zty, const double[:, ::1] Tb,
                 double[:, :, ::1] Linv, double[:, ::1] cu, double[:, :, ::1] RZX,
                 double[:, ::1] A, double[:, ::1] tmp, double[:, ::1] RtR, double[::1] Rtc):
    """For each level g: L_g L_g' = Tb' ZtZ_g Tb + I; Linv_g = L_g^{-1};
    cu_g = L_g^{-1} Tb' Zty_g; RZX_g = L_g^{-1} Tb' ZtX_g. Accumulates
    RtR += sum_g RZX_g' RZX_g (p x p) and Rtc += sum_g RZX_g' cu_g (p) into the (zeroed)
    outputs. Returns (sum_g log|L_g|^2, sum_g |cu_g|^2); -inf if a pivot was not positive."""
    cdef Py_ssize_t G = ZtZ.shape[0], K = ZtZ.shape[1], p = ZtX.shape[2]
    cdef Py_ssize_t g, i, j, l, m
    cdef double s, logdet = 0.0, cucu = 0.0
    cdef int failed = 0
    with nogil:
        for g in range(G):
            if failed:
                break
            # A = Tb' ZtZ_g Tb + I  (lower triangle is enough); tmp(K,K) holds ZtZ_g Tb
            for i in range(K):
                for j in range(K):
                    s = 0.0
                    for l in range(j, K):          # Tb lower triangular: Tb[l, j] = 0 for l < j
                        s = s + ZtZ[g, i, l] * Tb[l, j]
                    A[i, j] = s
            for i in range(K):
                for j in range(i + 1):
                    s = 0.0
                    for l in range(i, K):
                        s = s + Tb[l, i] * A[l, j]
                    tmp[i, j] = s
            for i in range(K):
                for j in range(i + 1):
                    A[i, j] = tmp[i, j] + (1.0 if i == j else 0.0)
            # Cholesky in place (lower)
            for j in range(K):
                s = A[j, j]
                for l in range(j):
                    s = s - A[j, l] * A[j, l]
                if s <= 0.0:
                    failed = 1
                    break
                A[j, j] = sqrt(s)
                logdet = logdet + 2.0 * log(A[j, j])
                for i in range(j + 1, K):
                    s = A[i, j]
                    for l in range(j):
                        s = s - A[i, l] * A[j, l]
                    A[i, j] = s / A[j, j]
            if failed:
                break
            # Linv = L^{-1} (lower triangular) by forward substitution on the identity
            for m in range(K):
                for i in range(K):
                    if i < m:
                        Linv[g, i, m] = 0.0
                        continue
                    s = 1.0 if i == m else 0.0
                    for l in range(m, i):
                        s = s - A[i, l] * Linv[g, l, m]
                    Linv[g, i, m] = s / A[i, i]
            # cu = Linv Tb' Zty ; RZX = Linv Tb' ZtX
            for i in range(K):
                s = 0.0
                for l in range(i, K):
                    s = s + Tb[l, i] * Zty[g, l]
                tmp[i, 0] = s
            for i in range(K):
                s = 0.0
                for l in range(i + 1):
                    s = s + Linv[g, i, l] * tmp[l, 0]
                cu[g, i] = s
                cucu = cucu + s * s
            for m in range(p):
                for i in range(K):
                    s = 0.0
                    for l in range(i, K):
                        s = s + Tb[l, i] * ZtX[g, l, m]
                    tmp[i, 0] = s
                for i in range(K):
                    s = 0.0
                    for l in range(i + 1):
                        s = s + Linv[g, i, l] * tmp[l, 0]
                    RZX[g, i, m] = s
            for m in range(p):
                s = 0.0
                for i in range(K):
                    s = s + RZX[g, i, m] * cu[g, i]
                Rtc[m] = Rtc[m] + s
                for l in range(m + 1):
                    s = 0.0
                    for i in range(K):
                        s = s + RZX[g, i, m] * RZX[g, i, l]
                    RtR[m, l] = RtR[m, l] + s
                    if l != m:
                        RtR[l, m] = RtR[l, m] + s
    return (-INFINITY if failed else logdet), cucu


def sub_gram_csr_lower(const long long[::1] indptr, const long long[::1] indices,
                       const double[::1] data, double[:, ::1] S):
    """S -= M'M on the lower triangle, for M in CSR form (indices sorted within rows).

    M'M = sum over rows r of m_r m_r', so each row contributes the outer product of its
    non-zeros only: the cost is sum_r nnz_r^2, not q1 q2^2 as for a dense product. Used for
    the Schur complement of a crossed design (M = L11^{-1} Lambda1' Z1'Z2 Lambda2). The caller
    guarantees indices < S.shape[0] and indptr consistent with indices/data.
    """
    cdef Py_ssize_t n_rows = indptr.shape[0] - 1, r, a, b, ia
    cdef double va
    with nogil:
        for r in range(n_rows):
            for a in range(indptr[r], indptr[r + 1]):
                ia = indices[a]
                va = data[a]
                for b in range(indptr[r], a + 1):
                    S[ia, indices[b]] -= va * data[b]
