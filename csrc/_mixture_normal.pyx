# Normal location family on a grid, with or without the n x m likelihood matrix (deconv.eb).
#
# Row i of the row-scaled matrix is L_ij = phi((z_i - g_j)/s_i) / max_k phi((z_i - g_k)/s_i)
#                                        = exp((t0_i^2 - t_ij^2) / 2),
# t_ij = (z_i - g_j)/s_i and t0_i = t_i,j*(i) at the grid point j*(i) nearest z_i (the row
# maximum). A row is generated from j* outward in both directions by the multiplicative
# recurrence of ``_row`` (no exp per entry), so every kernel here -- the dense matrix, the
# full-grid product L'u of the NPMLE certificate -- sees the same numbers. Working columns
# L[:, A] use exp directly (they are few, and are needed column by column).
#
# Kernels only: deconv/eb/likelihood.py validates (sorted finite grid, finite z, s > 0,
# matching lengths, jstar in range) before calling. Every output entry is computed by one
# thread, and the partial sums of ``normal_rmatvec`` are per fixed-size row block (combined
# by the caller in block order), so results do not depend on the number of threads.
from cython.parallel import prange
from libc.math cimport exp, log, fabs, M_PI
from libc.stdlib cimport malloc, free

cdef double LOG_SQRT_2PI = 0.5 * log(2.0 * M_PI)
# entries below this (the row maximum is 1) are set to 0: they cannot matter in any sum
# with the maximum, and denormal arithmetic is slow
cdef double TINY = 1e-300
# steps of A^k computed by multiplication before one exp is cheaper (_cols_row)
cdef Py_ssize_t _JUMP = 12


cdef struct Span:
    Py_ssize_t lo
    Py_ssize_t hi


cdef inline Py_ssize_t _nearest(const double* g, Py_ssize_t m, double x) noexcept nogil:
    """Index of the grid point nearest x (g sorted ascending; ties go left)."""
    cdef Py_ssize_t lo = 0, hi = m - 1, mid
    if m == 1:
        return 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if g[mid] <= x:
            lo = mid
        else:
            hi = mid
    return lo if (x - g[lo]) <= (g[hi] - x) else hi


cdef inline Span _row(double t0, double inv, Py_ssize_t js, const double* g, Py_ssize_t m,
                      double* row) noexcept nogil:
    """Write row[j] = exp((t0^2 - t_j^2)/2) for lo <= j < hi (returned); outside that
    span every entry is below TINY.

    From j* outward each step multiplies by the ratio phi(t_{j+1})/phi(t_j) =
    exp(t_j d - d^2/2), which for an equal step d obeys r_{j+1} = r_j exp(-d^2): two
    multiplications per entry instead of an exp. Every 16 steps, and wherever the
    spacing changes (non-uniform grids: every step), value and ratio are recomputed
    exactly from exp((t0^2 - t_j^2)/2) = exp(a (2 t0 - a)/2), a = (g_j - g_j*)/s, a form
    without cancellation when z is far outside the grid. Relative error <= ~1e-14.
    """
    cdef Py_ssize_t j, k
    cdef double a, dt, dprev, val, r, q, tj
    cdef Span sp
    row[js] = 1.0
    sp.hi = m
    val = 1.0
    r = 0.0
    q = 1.0
    dprev = -1.0
    k = 0
    for j in range(js, m - 1):  # right: t_{j+1} = t_j - dt
        dt = (g[j + 1] - g[j]) * inv
        if k % 16 == 0 or fabs(dt - dprev) > 1e-12 * dt:
            a = (g[j] - g[js]) * inv
            tj = t0 - a
            val = exp(0.5 * a * (2.0 * t0 - a))
            r = exp(tj * dt - 0.5 * dt * dt)
            q = exp(-dt * dt)
            dprev = dt
        val = val * r
        r = r * q
        k = k + 1
        if val < TINY:
            sp.hi = j + 1
            break
        row[j + 1] = val
    sp.lo = 0
    val = 1.0
    dprev = -1.0
    k = 0
    for j in range(js, 0, -1):  # left: t_{j-1} = t_j + dt
        dt = (g[j] - g[j - 1]) * inv
        if k % 16 == 0 or fabs(dt - dprev) > 1e-12 * dt:
            a = (g[j] - g[js]) * inv
            tj = t0 - a
            val = exp(0.5 * a * (2.0 * t0 - a))
            r = exp(-tj * dt - 0.5 * dt * dt)
            q = exp(-dt * dt)
            dprev = dt
        val = val * r
        r = r * q
        k = k + 1
        if val < TINY:
            sp.lo = j
            break
        row[j - 1] = val
    return sp


def normal_setup(const double[::1] z, const double[::1] s, const double[::1] grid,
                 Py_ssize_t[::1] jstar, double[::1] t0, double[::1] inv, double[::1] logmax):
    """Per-row constants: nearest grid point ``jstar``, ``t0 = (z - g[jstar]) / s``,
    ``inv = 1 / s`` and the row log-maximum ``log phi(t0) - log s``."""
    cdef Py_ssize_t n = z.shape[0], m = grid.shape[0], i, js
    cdef const double* g = &grid[0]
    for i in prange(n, nogil=True, schedule="static"):
        inv[i] = 1.0 / s[i]
        js = _nearest(g, m, z[i])
        jstar[i] = js
        t0[i] = (z[i] - g[js]) * inv[i]
        logmax[i] = -log(s[i]) - LOG_SQRT_2PI - 0.5 * t0[i] * t0[i]


def normal_matrix(const double[::1] t0, const double[::1] inv, const Py_ssize_t[::1] jstar,
                  const double[::1] grid, double[:, ::1] out):
    """The dense row-scaled matrix: ``out[i] = L[i, :]`` (entries < 1e-300 set to 0)."""
    cdef Py_ssize_t n = t0.shape[0], m = grid.shape[0], i, j
    cdef const double* g = &grid[0]
    cdef Span sp
    for i in prange(n, nogil=True, schedule="static"):
        sp = _row(t0[i], inv[i], jstar[i], g, m, &out[i, 0])
        for j in range(0, sp.lo):
            out[i, j] = 0.0
        for j in range(sp.hi, m):
            out[i, j] = 0.0


# ---------------------------------------------------------------------------------------
# The fast paths: equal grid steps h (with equal s, one step dt = h / s for all rows).
# Then L_{i, j*+k} = exp(k dt t0 - k^2 dt^2 / 2) = A_i^k T_k  with  A_i = exp(dt t0_i)
# (A_i^-1 = exp(-dt t0_i) for k < 0) and the shared table T_k = exp(-k^2 dt^2 / 2).
# A_i^k is built by repeated multiplication (relative error <= ~k eps, no exp per entry),
# and for rows with the same j* the table factor comes out of the sum over rows:
#     sum_i u_i L_{i, j*+k} = T_k sum_i u_i A_i^k,
# a loop over rows with independent iterations (pipelined, several accumulators) instead
# of one long dependent chain per row. Rows are presorted by j*, so each fixed row block
# holds a few such segments. A row is "fast" when |k dt t0| stays < 300 over the whole
# grid (A^k cannot overflow); the others (z far outside the grid, s tiny against the grid
# step) take the general recurrence ``_row``. ``fast`` is 1 for fast rows with equal s
# (shared table T), 2 for heteroskedastic ones (``_het_segment``: T_k(r) per row) and 0
# for the general rows.


cdef inline double _seg_sum(const double* u, const double* a, double* P, Py_ssize_t r0,
                            Py_ssize_t r1) noexcept nogil:
    """P[r] *= a[r] and return sum_r u[r] P[r] over r0 <= r < r1 (four accumulators in a
    fixed order: the result does not depend on anything but the data)."""
    cdef Py_ssize_t r = r0
    cdef double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0
    while r + 4 <= r1:
        P[r] = P[r] * a[r]
        P[r + 1] = P[r + 1] * a[r + 1]
        P[r + 2] = P[r + 2] * a[r + 2]
        P[r + 3] = P[r + 3] * a[r + 3]
        s0 = s0 + u[r] * P[r]
        s1 = s1 + u[r + 1] * P[r + 1]
        s2 = s2 + u[r + 2] * P[r + 2]
        s3 = s3 + u[r + 3] * P[r + 3]
        r = r + 4
    while r < r1:
        P[r] = P[r] * a[r]
        s0 = s0 + u[r] * P[r]
        r = r + 1
    return (s0 + s1) + (s2 + s3)


cdef void _het_segment(const double* u, const double* A, const double* Ainv, const double* inv,
                       double h, Py_ssize_t js, Py_ssize_t m, Py_ssize_t r0, Py_ssize_t r1,
                       double* PR, double* PL, double* Tt, double* C, double* Q,
                       double* out) noexcept nogil:
    """out[js +- k] += sum_r u_r A_r^(+-k) T_k(r) over a segment of heteroskedastic rows
    sharing j* (equal grid steps h, dt_r = h / s_r).

    Without a shared table, T_k(r) = exp(-k^2 dt_r^2 / 2) follows its own recurrence
    (T_{k+1} = T_k C_k, C_{k+1} = C_k exp(-dt_r^2)), re-anchored by exact exps every 32
    steps (error <= ~32^2 eps / 2 ~ 1e-13); A_r^k by multiplication as on the fast path.
    The loop over rows has independent iterations.
    """
    cdef Py_ssize_t r, k, kmax
    cdef double dt, amaxR = 0.0, amaxL = 0.0, dtmin = 1e300, pmR = 1.0, pmL = 1.0, tb, sR, sL, t
    cdef bint doR, doL
    for r in range(r0, r1):
        dt = h * inv[r]
        PR[r] = 1.0
        PL[r] = 1.0
        Tt[r] = 1.0
        C[r] = exp(-0.5 * dt * dt)
        Q[r] = exp(-dt * dt)
        if A[r] > amaxR:
            amaxR = A[r]
        if Ainv[r] > amaxL:
            amaxL = Ainv[r]
        if dt < dtmin:
            dtmin = dt
    kmax = m - 1 - js if m - 1 - js > js else js
    doR = m - 1 - js >= 1
    doL = js >= 1
    for k in range(1, kmax + 1):
        # the largest entry of the segment at offset k is at most amax^k exp(-k^2 dtmin^2/2)
        tb = exp(-0.5 * <double> k * k * dtmin * dtmin)
        if doR:
            pmR = pmR * amaxR
            doR = k <= m - 1 - js and pmR * tb >= TINY
        if doL:
            pmL = pmL * amaxL
            doL = k <= js and pmL * tb >= TINY
        if not doR and not doL:
            break
        sR = 0.0
        sL = 0.0
        if k % 32 == 0:
            for r in range(r0, r1):
                dt = h * inv[r]
                Tt[r] = exp(-0.5 * <double> k * k * dt * dt)
                C[r] = exp(-0.5 * <double> (2 * k + 1) * dt * dt)
        else:
            for r in range(r0, r1):
                Tt[r] = Tt[r] * C[r]
                C[r] = C[r] * Q[r]
        if doR:
            for r in range(r0, r1):
                PR[r] = PR[r] * A[r]
                sR = sR + u[r] * PR[r] * Tt[r]
            out[js + k] += sR
        if doL:
            for r in range(r0, r1):
                PL[r] = PL[r] * Ainv[r]
                sL = sL + u[r] * PL[r] * Tt[r]
            out[js - k] += sL


def normal_rmatvec(const double[::1] t0, const double[::1] inv, const Py_ssize_t[::1] jstar,
                   const double[::1] A, const double[::1] Ainv, const unsigned char[::1] fast,
                   const double[::1] T, const double[::1] grid, const double[::1] u,
                   Py_ssize_t block, double[:, ::1] part):
    """Per-block partial sums of ``L' u`` without forming L.

    ``part[b, j] = sum_{i in block b} u_i L_ij`` for the row blocks ``[b*block,
    (b+1)*block)``; the caller sums ``part`` over ``b`` in block order. Rows must be
    sorted by ``jstar`` within fast and slow groups (see above; ``fast`` all 0 and ``T``
    unused when the grid or s is not uniform). Each block is one task with private
    buffers, so the sums are the same for any number of threads.
    """
    cdef Py_ssize_t n = t0.shape[0], m = grid.shape[0], nb = part.shape[0]
    cdef Py_ssize_t b, i, j, k, i0, i1, r0, r1, js
    cdef const double* g = &grid[0]
    cdef double* row
    cdef double* P
    cdef double* PL
    cdef double* Tt
    cdef double* C
    cdef double* Q
    cdef double amax, pm, su
    cdef Span sp
    for b in prange(nb, nogil=True, schedule="static"):
        row = <double*> malloc(m * sizeof(double))
        P = <double*> malloc(block * sizeof(double))
        PL = <double*> malloc(block * sizeof(double))
        Tt = <double*> malloc(block * sizeof(double))
        C = <double*> malloc(block * sizeof(double))
        Q = <double*> malloc(block * sizeof(double))
        for j in range(m):
            part[b, j] = 0.0
        i0 = b * block
        i1 = i0 + block
        if i1 > n:
            i1 = n
        r0 = i0
        while r0 < i1:
            js = jstar[r0]
            if not fast[r0]:
                if u[r0] != 0.0:
                    sp = _row(t0[r0], inv[r0], js, g, m, row)
                    for j in range(sp.lo, sp.hi):
                        part[b, j] += u[r0] * row[j]
                r0 = r0 + 1
                continue
            # the segment of fast rows sharing j*
            r1 = r0 + 1
            while r1 < i1 and jstar[r1] == js and fast[r1] == fast[r0]:
                r1 = r1 + 1
            su = 0.0
            for i in range(r0, r1):
                su = su + u[i]
            part[b, js] += su
            if fast[r0] == 2:
                _het_segment(&u[0], &A[0], &Ainv[0], &inv[0], g[1] - g[0], js, m, r0, r1,
                             P - i0, PL - i0, Tt - i0, C - i0, Q - i0, &part[b, 0])
                r0 = r1
                continue
            # right of j*: stop once the largest row of the segment is below TINY
            amax = 0.0
            for i in range(r0, r1):
                P[i - i0] = 1.0
                if A[i] > amax:
                    amax = A[i]
            pm = 1.0
            for k in range(1, m - js):
                pm = pm * amax
                if pm * T[k] < TINY:
                    break
                part[b, js + k] += T[k] * _seg_sum(&u[0], &A[0], P - i0, r0, r1)
            # left of j*
            amax = 0.0
            for i in range(r0, r1):
                P[i - i0] = 1.0
                if Ainv[i] > amax:
                    amax = Ainv[i]
            pm = 1.0
            for k in range(1, js + 1):
                pm = pm * amax
                if pm * T[k] < TINY:
                    break
                part[b, js - k] += T[k] * _seg_sum(&u[0], &Ainv[0], P - i0, r0, r1)
            r0 = r1
        free(row)
        free(P)
        free(PL)
        free(Tt)
        free(C)
        free(Q)


cdef inline void _cols_row(Py_ssize_t i, const double[::1] t0, const double[::1] inv,
                           const Py_ssize_t[::1] jstar, const double[::1] A,
                           const double[::1] Ainv, const unsigned char[::1] fast,
                           const double[::1] T, const double* g, const Py_ssize_t* cols,
                           Py_ssize_t nc, double* vals) noexcept nogil:
    """vals[p] = L[i, cols[p]] for ascending cols (entries < TINY set to 0)."""
    cdef Py_ssize_t js = jstar[i], p, pstart, k
    cdef double a, v, P
    if fast[i] != 1:  # general rows and heteroskedastic ones (no shared table): one exp
        for p in range(nc):
            a = (g[cols[p]] - g[js]) * inv[i]
            v = exp(0.5 * a * (2.0 * t0[i] - a))
            vals[p] = v if v >= TINY else 0.0
        return
    # A^k by multiplication from the previous column, or by one exp when that is more
    # than _JUMP steps away (a walk of ~200 dependent multiplications costs more)
    lna = (g[1] - g[0]) * inv[i] * t0[i]
    pstart = 0
    while pstart < nc and cols[pstart] < js:
        pstart = pstart + 1
    P = 1.0
    k = 0
    for p in range(pstart, nc):  # right of j*: A^k T_k
        if cols[p] - js - k > _JUMP:
            k = cols[p] - js
            P = exp(k * lna)
        while k < cols[p] - js:
            P = P * A[i]
            k = k + 1
        v = P * T[k]
        vals[p] = v if v >= TINY else 0.0
    P = 1.0
    k = 0
    for p in range(pstart - 1, -1, -1):  # left of j*: A^-k T_k
        if js - cols[p] - k > _JUMP:
            k = js - cols[p]
            P = exp(-k * lna)
        while k < js - cols[p]:
            P = P * Ainv[i]
            k = k + 1
        v = P * T[k]
        vals[p] = v if v >= TINY else 0.0


def normal_columns(const double[::1] t0, const double[::1] inv, const Py_ssize_t[::1] jstar,
                   const double[::1] A, const double[::1] Ainv, const unsigned char[::1] fast,
                   const double[::1] T, const double[::1] grid, const Py_ssize_t[::1] cols,
                   const Py_ssize_t[::1] slots, double[::1, :] out):
    """Working columns into a column-major buffer: ``out[:, slots[p]] = L[:, cols[p]]``
    (``cols`` ascending)."""
    cdef Py_ssize_t n = t0.shape[0], nc = cols.shape[0], i, p, b, nb, i1
    cdef Py_ssize_t blk = 256
    cdef double* vals
    if nc == 0:
        return
    nb = (n + blk - 1) // blk
    for b in prange(nb, nogil=True, schedule="static"):
        vals = <double*> malloc(nc * sizeof(double))
        i1 = (b + 1) * blk
        if i1 > n:
            i1 = n
        for i in range(b * blk, i1):
            _cols_row(i, t0, inv, jstar, A, Ainv, fast, T, &grid[0], &cols[0], nc, vals)
            for p in range(nc):
                out[i, slots[p]] = vals[p]
        free(vals)


def normal_submatrix(const double[::1] t0, const double[::1] inv, const Py_ssize_t[::1] jstar,
                     const double[::1] A, const double[::1] Ainv, const unsigned char[::1] fast,
                     const double[::1] T, const double[::1] grid, const Py_ssize_t[::1] cols,
                     double[:, ::1] out):
    """Selected columns, row-major: ``out[i, p] = L[i, cols[p]]`` (``cols`` ascending;
    posterior summaries need only the columns where the prior has mass)."""
    cdef Py_ssize_t n = t0.shape[0], nc = cols.shape[0], i
    if nc == 0:
        return
    for i in prange(n, nogil=True, schedule="static"):
        _cols_row(i, t0, inv, jstar, A, Ainv, fast, T, &grid[0], &cols[0], nc, &out[i, 0])
