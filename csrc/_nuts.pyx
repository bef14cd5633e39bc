# The No-U-Turn Sampler, whole chains in C.
#
# One chain (warm-up with adaptation, then sampling) runs in ``run_chain`` without touching
# Python when the model is compiled. The model is a C function pointer (``_sampling_model.pxd``);
# a Python callable is wrapped by ``PyModel`` whose C callback re-acquires the GIL, so both
# paths share every line of the sampler.
#
# Algorithm (Hoffman & Gelman 2014; Betancourt 2017; the Stan reference implementation):
# multinomial sampling of the trajectory (biased progressive sampling between subtrees at the
# top level, uniform-in-weight inside subtrees), the generalised U-turn criterion checked on
# the merged tree and across the two halves of every subtree, divergence when the energy error
# exceeds ``max_energy_error``; a non-finite log density counts as a divergence.
#
# Warm-up (Stan): step size by Nesterov dual averaging (Hoffman & Gelman 2014, sec. 3.2) with
# the step-size heuristic restarting every metric window; diagonal metric estimated in doubling
# windows (75 / 25... / 50 buffers) and regularised towards 1e-3 as Stan does. Alternatively the
# metric estimate sqrt(var(q) / var(grad log p)) of nutpie (Seyboldt et al.), which is exact for
# independent Gaussians, with the initial metric 1/|grad| at the starting point.
#
# Randomness comes from the numpy BitGenerator handed in (its ``next_double``), so a chain is a
# deterministic function of its Generator's state.

from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid, PyCapsule_New
from libc.math cimport INFINITY, exp, fabs, isnan, log, log1p, sqrt
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset
from numpy.random cimport bitgen_t

from _sampling_model cimport ModelHandle

import numpy as np

cdef const char* MODEL_CAPSULE = b"deconv.sampling.ModelHandle"


# --------------------------------------------------------------------------------------------
# random numbers from a numpy BitGenerator
cdef struct Rng:
    bitgen_t* bg
    bint has_spare
    double spare


cdef inline double uniform(Rng* r) noexcept nogil:
    return r.bg.next_double(r.bg.state)


cdef inline double std_normal(Rng* r) noexcept nogil:
    # Marsaglia's polar method (exact, two normals per accepted pair)
    cdef double u, v, s, f
    if r.has_spare:
        r.has_spare = False
        return r.spare
    while True:
        u = 2.0 * uniform(r) - 1.0
        v = 2.0 * uniform(r) - 1.0
        s = u * u + v * v
        if s > 0.0 and s < 1.0:
            break
    f = sqrt(-2.0 * log(s) / s)
    r.spare = v * f
    r.has_spare = True
    return u * f


# --------------------------------------------------------------------------------------------
# phase-space points and the sampler state
cdef struct Point:
    double* q
    double* p
    double* g
    double lp


cdef struct Sampler:
    ModelHandle* m
    Py_ssize_t d
    int max_depth
    double max_dH
    double eps
    double* minv          # diagonal inverse metric (posterior variance estimate)
    bint dense            # dense metric: minv is the d x d covariance, chol its Cholesky factor
    double* chol          # lower-triangular L with minv = L L' (dense only)
    double* tmp           # scratch vector (dense only)
    Point z               # the integrator's current point
    double H0
    int divergent
    int n_leapfrog
    double sum_metro
    Rng rng
    double* div_q         # position of the divergence in the current transition
    double* ws            # per-depth workspace for build_tree: 9 vectors per level


cdef inline void copy_point(Point* dst, const Point* src, Py_ssize_t d) noexcept nogil:
    memcpy(dst.q, src.q, d * sizeof(double))
    memcpy(dst.p, src.p, d * sizeof(double))
    memcpy(dst.g, src.g, d * sizeof(double))
    dst.lp = src.lp


cdef inline double log_sum_exp(double a, double b) noexcept nogil:
    if a == -INFINITY:
        return b
    if b == -INFINITY:
        return a
    if a > b:
        return a + log1p(exp(b - a))
    return b + log1p(exp(a - b))


cdef inline void velocity(Sampler* s, const double* p, double* v) noexcept nogil:
    # v = M^{-1} p  (the "sharp" momentum, dq/dt)
    cdef Py_ssize_t i, j, d = s.d
    cdef double t
    if not s.dense:
        for i in range(d):
            v[i] = s.minv[i] * p[i]
        return
    for i in range(d):
        t = 0.0
        for j in range(d):
            t += s.minv[i * d + j] * p[j]
        v[i] = t


cdef inline void sample_momentum(Sampler* s, double* p) noexcept nogil:
    # p ~ N(0, M): diagonal p_i = z_i / sqrt(minv_i); dense p = L^{-T} z (minv = L L')
    cdef Py_ssize_t i, j, d = s.d
    cdef double t
    if not s.dense:
        for i in range(d):
            p[i] = std_normal(&s.rng) / sqrt(s.minv[i])
        return
    for i in range(d):
        s.tmp[i] = std_normal(&s.rng)
    for i in range(d - 1, -1, -1):
        t = s.tmp[i]
        for j in range(i + 1, d):
            t -= s.chol[j * d + i] * p[j]
        p[i] = t / s.chol[i * d + i]


cdef inline double hamiltonian(Sampler* s, Point* z) noexcept nogil:
    cdef double k = 0.0
    cdef Py_ssize_t i
    if not s.dense:
        for i in range(s.d):
            k += s.minv[i] * z.p[i] * z.p[i]
        return -z.lp + 0.5 * k
    velocity(s, z.p, s.tmp)
    for i in range(s.d):
        k += s.tmp[i] * z.p[i]
    return -z.lp + 0.5 * k


cdef bint cholesky(const double* a, double* L, Py_ssize_t d) noexcept nogil:
    # lower-triangular L with a = L L'; False when a is not positive definite
    cdef Py_ssize_t i, j, k
    cdef double t
    for i in range(d):
        for j in range(d):
            L[i * d + j] = 0.0
    for j in range(d):
        t = a[j * d + j]
        for k in range(j):
            t -= L[j * d + k] * L[j * d + k]
        if not t > 0.0:
            return False
        L[j * d + j] = sqrt(t)
        for i in range(j + 1, d):
            t = a[i * d + j]
            for k in range(j):
                t -= L[i * d + k] * L[j * d + k]
            L[i * d + j] = t / L[j * d + j]
    return True


cdef inline void leapfrog(Sampler* s, Point* z, double eps) noexcept nogil:
    cdef Py_ssize_t i
    cdef double h = 0.5 * eps
    for i in range(s.d):
        z.p[i] += h * z.g[i]
    if s.dense:
        velocity(s, z.p, s.tmp)
        for i in range(s.d):
            z.q[i] += eps * s.tmp[i]
    else:
        for i in range(s.d):
            z.q[i] += eps * s.minv[i] * z.p[i]
    z.lp = s.m.fn(s.m.ctx, z.q, z.g)
    for i in range(s.d):
        z.p[i] += h * z.g[i]


cdef inline double dot(const double* a, const double* b, Py_ssize_t d) noexcept nogil:
    cdef double t = 0.0
    cdef Py_ssize_t i
    for i in range(d):
        t += a[i] * b[i]
    return t


cdef inline bint criterion(const double* ps_minus, const double* ps_plus, const double* rho,
                           Py_ssize_t d) noexcept nogil:
    return dot(ps_plus, rho, d) > 0.0 and dot(ps_minus, rho, d) > 0.0


cdef inline bint criterion2(const double* ps_minus, const double* ps_plus, const double* r1,
                            const double* r2, Py_ssize_t d) noexcept nogil:
    # the criterion with rho = r1 + r2, without a temporary
    return (dot(ps_plus, r1, d) + dot(ps_plus, r2, d) > 0.0
            and dot(ps_minus, r1, d) + dot(ps_minus, r2, d) > 0.0)


cdef bint build_tree(Sampler* s, int depth, Point* z_propose, double* ps_beg, double* ps_end,
                     double* rho, double* p_beg, double* p_end, double sign,
                     double* log_sum_weight) noexcept nogil:
    cdef Py_ssize_t i, d = s.d
    cdef double h, lsw_init, lsw_final, lsw_sub
    cdef bint persist
    if depth == 0:
        leapfrog(s, &s.z, sign * s.eps)
        s.n_leapfrog += 1
        velocity(s, s.z.p, ps_beg)
        h = -s.z.lp + 0.5 * dot(s.z.p, ps_beg, d)
        if isnan(h) or h == -INFINITY:   # NaN or +inf log density: not a valid state
            h = INFINITY
        if h - s.H0 > s.max_dH:
            if not s.divergent:
                memcpy(s.div_q, s.z.q, d * sizeof(double))
            s.divergent = 1
        log_sum_weight[0] = log_sum_exp(log_sum_weight[0], s.H0 - h)
        if s.H0 - h > 0.0:
            s.sum_metro += 1.0
        else:
            s.sum_metro += exp(s.H0 - h)
        copy_point(z_propose, &s.z, d)
        for i in range(d):
            ps_end[i] = ps_beg[i]
            rho[i] += s.z.p[i]
            p_beg[i] = s.z.p[i]
            p_end[i] = s.z.p[i]
        return not s.divergent

    # this level's workspace; deeper levels use lower slots, so nothing aliases
    cdef double* w = s.ws + (<Py_ssize_t> depth) * 9 * d
    cdef double* ps_init_end = w
    cdef double* p_init_end = w + d
    cdef double* rho_init = w + 2 * d
    cdef double* p_final_beg = w + 3 * d
    cdef double* ps_final_beg = w + 4 * d
    cdef double* rho_final = w + 5 * d
    cdef Point zf
    zf.q = w + 6 * d
    zf.p = w + 7 * d
    zf.g = w + 8 * d
    memset(rho_init, 0, d * sizeof(double))
    memset(rho_final, 0, d * sizeof(double))

    lsw_init = -INFINITY
    if not build_tree(s, depth - 1, z_propose, ps_beg, ps_init_end, rho_init, p_beg, p_init_end,
                      sign, &lsw_init):
        return False
    lsw_final = -INFINITY
    if not build_tree(s, depth - 1, &zf, ps_final_beg, ps_end, rho_final, p_final_beg, p_end,
                      sign, &lsw_final):
        return False

    # multinomial choice between the two halves, in proportion to their weights
    lsw_sub = log_sum_exp(lsw_init, lsw_final)
    log_sum_weight[0] = log_sum_exp(log_sum_weight[0], lsw_sub)
    if lsw_final > lsw_sub:
        copy_point(z_propose, &zf, d)
    elif uniform(&s.rng) < exp(lsw_final - lsw_sub):
        copy_point(z_propose, &zf, d)

    # U-turn over the merged subtree, then across its two halves (extra checks of Stan >= 2.26)
    persist = criterion2(ps_beg, ps_end, rho_init, rho_final, d)
    persist = persist and criterion2(ps_beg, ps_final_beg, rho_init, p_final_beg, d)
    persist = persist and criterion2(ps_init_end, ps_end, rho_final, p_init_end, d)
    for i in range(d):
        rho[i] += rho_init[i] + rho_final[i]
    return persist


cdef struct Transition:
    double accept
    int depth
    int n_leapfrog
    int divergent
    double energy


cdef void transition(Sampler* s, Point* cur, double* tw, Transition* out) noexcept nogil:
    """One NUTS transition from ``cur`` (q, g, lp set); ``cur`` is replaced by the draw."""
    cdef Py_ssize_t i, d = s.d
    cdef Point z_fwd, z_bck, z_sample, z_propose
    z_fwd.q = tw; z_fwd.p = tw + d; z_fwd.g = tw + 2 * d
    z_bck.q = tw + 3 * d; z_bck.p = tw + 4 * d; z_bck.g = tw + 5 * d
    z_sample.q = tw + 6 * d; z_sample.p = tw + 7 * d; z_sample.g = tw + 8 * d
    z_propose.q = tw + 9 * d; z_propose.p = tw + 10 * d; z_propose.g = tw + 11 * d
    cdef double* p_fwd_fwd = tw + 12 * d
    cdef double* ps_fwd_fwd = tw + 13 * d
    cdef double* p_fwd_bck = tw + 14 * d
    cdef double* ps_fwd_bck = tw + 15 * d
    cdef double* p_bck_fwd = tw + 16 * d
    cdef double* ps_bck_fwd = tw + 17 * d
    cdef double* p_bck_bck = tw + 18 * d
    cdef double* ps_bck_bck = tw + 19 * d
    cdef double* rho = tw + 20 * d
    cdef double* rho_fwd = tw + 21 * d
    cdef double* rho_bck = tw + 22 * d
    cdef double lsw, lsw_sub
    cdef bint valid, persist
    cdef int depth = 0

    sample_momentum(s, cur.p)
    copy_point(&z_fwd, cur, d)
    copy_point(&z_bck, cur, d)
    copy_point(&z_sample, cur, d)
    copy_point(&z_propose, cur, d)
    for i in range(d):
        p_fwd_fwd[i] = cur.p[i]
        p_fwd_bck[i] = cur.p[i]
        p_bck_fwd[i] = cur.p[i]
        p_bck_bck[i] = cur.p[i]
    velocity(s, cur.p, ps_fwd_fwd)
    for i in range(d):
        ps_fwd_bck[i] = ps_fwd_fwd[i]
        ps_bck_fwd[i] = ps_fwd_fwd[i]
        ps_bck_bck[i] = ps_fwd_fwd[i]
        rho[i] = cur.p[i]
    lsw = 0.0
    s.H0 = hamiltonian(s, cur)
    s.n_leapfrog = 0
    s.sum_metro = 0.0
    s.divergent = 0

    while depth < s.max_depth:
        memset(rho_fwd, 0, d * sizeof(double))
        memset(rho_bck, 0, d * sizeof(double))
        lsw_sub = -INFINITY
        if uniform(&s.rng) > 0.5:
            copy_point(&s.z, &z_fwd, d)
            memcpy(rho_bck, rho, d * sizeof(double))
            memcpy(p_bck_fwd, p_fwd_bck, d * sizeof(double))
            memcpy(ps_bck_fwd, ps_fwd_bck, d * sizeof(double))
            valid = build_tree(s, depth, &z_propose, ps_fwd_bck, ps_fwd_fwd, rho_fwd, p_fwd_bck,
                               p_fwd_fwd, 1.0, &lsw_sub)
            copy_point(&z_fwd, &s.z, d)
        else:
            copy_point(&s.z, &z_bck, d)
            memcpy(rho_fwd, rho, d * sizeof(double))
            memcpy(p_fwd_bck, p_bck_fwd, d * sizeof(double))
            memcpy(ps_fwd_bck, ps_bck_fwd, d * sizeof(double))
            valid = build_tree(s, depth, &z_propose, ps_bck_fwd, ps_bck_bck, rho_bck, p_bck_fwd,
                               p_bck_bck, -1.0, &lsw_sub)
            copy_point(&z_bck, &s.z, d)
        if not valid:
            break
        depth += 1
        # biased progressive sampling: favour the new subtree (Betancourt 2017, appendix A)
        if lsw_sub > lsw:
            copy_point(&z_sample, &z_propose, d)
        elif uniform(&s.rng) < exp(lsw_sub - lsw):
            copy_point(&z_sample, &z_propose, d)
        lsw = log_sum_exp(lsw, lsw_sub)
        for i in range(d):
            rho[i] = rho_bck[i] + rho_fwd[i]
        persist = criterion(ps_bck_bck, ps_fwd_fwd, rho, d)
        persist = persist and criterion2(ps_bck_bck, ps_fwd_bck, rho_bck, p_fwd_bck, d)
        persist = persist and criterion2(ps_bck_fwd, ps_fwd_fwd, rho_fwd, p_bck_fwd, d)
        if not persist:
            break

    out.accept = s.sum_metro / s.n_leapfrog if s.n_leapfrog > 0 else 0.0
    out.depth = depth
    out.n_leapfrog = s.n_leapfrog
    out.divergent = s.divergent
    copy_point(cur, &z_sample, d)
    out.energy = hamiltonian(s, cur)


# --------------------------------------------------------------------------------------------
# warm-up
cdef void init_stepsize(Sampler* s, Point* cur) noexcept nogil:
    """Stan's heuristic: double or halve eps until one leapfrog's acceptance crosses 0.8."""
    cdef Py_ssize_t i, d = s.d
    cdef double H0, h, delta_H
    cdef int direction = 0
    cdef double log08 = log(0.8)
    cdef int it
    for it in range(100):
        copy_point(&s.z, cur, d)
        sample_momentum(s, s.z.p)
        H0 = hamiltonian(s, &s.z)
        leapfrog(s, &s.z, s.eps)
        if s.m.status:
            return
        h = hamiltonian(s, &s.z)
        if isnan(h) or h == -INFINITY:
            h = INFINITY
        delta_H = H0 - h
        if direction == 0:
            direction = 1 if delta_H > log08 else -1
            continue
        if direction == 1 and not (delta_H > log08):
            break
        if direction == -1 and not (delta_H < log08):
            break
        s.eps = 2.0 * s.eps if direction == 1 else 0.5 * s.eps
        if s.eps > 1e7 or s.eps < 1e-12:
            break
    if s.eps > 1e7:
        s.eps = 1e7
    if s.eps < 1e-12:
        s.eps = 1e-12


cdef struct DualAveraging:
    double mu, s_bar, x_bar, delta, gamma, t0, kappa
    double counter


cdef inline void da_restart(DualAveraging* a, double eps) noexcept nogil:
    a.mu = log(10.0 * eps)
    a.counter = 0.0
    a.s_bar = 0.0
    a.x_bar = 0.0


cdef inline double da_learn(DualAveraging* a, double accept) noexcept nogil:
    cdef double eta, x, x_eta
    a.counter += 1.0
    if accept > 1.0:
        accept = 1.0
    eta = 1.0 / (a.counter + a.t0)
    a.s_bar = (1.0 - eta) * a.s_bar + eta * (a.delta - accept)
    x = a.mu - a.s_bar * sqrt(a.counter) / a.gamma
    x_eta = a.counter ** (-a.kappa)
    a.x_bar = (1.0 - x_eta) * a.x_bar + x_eta * x
    return exp(x)


cdef struct Windows:
    int n_warmup, init_buffer, term_buffer, window_size, next_window, counter
    bint active


cdef void windows_init(Windows* w, int n_warmup, int init_buffer, int term_buffer,
                       int base_window) noexcept nogil:
    w.n_warmup = n_warmup
    w.counter = 0
    w.active = n_warmup >= 20
    if init_buffer + base_window + term_buffer > n_warmup:
        # Stan's fallback for short warm-ups: 15% / 75% / 10%
        init_buffer = <int> (0.15 * n_warmup)
        term_buffer = <int> (0.1 * n_warmup)
        base_window = n_warmup - (init_buffer + term_buffer)
    w.init_buffer = init_buffer
    w.term_buffer = term_buffer
    w.window_size = base_window
    w.next_window = init_buffer + base_window - 1


cdef inline bint windows_in(Windows* w) noexcept nogil:
    return (w.active and w.counter >= w.init_buffer and w.counter < w.n_warmup - w.term_buffer
            and w.counter != w.n_warmup)


cdef inline bint windows_end(Windows* w) noexcept nogil:
    return w.active and w.counter == w.next_window and w.counter != w.n_warmup


cdef void windows_next(Windows* w) noexcept nogil:
    cdef int last = w.n_warmup - w.term_buffer - 1
    if w.next_window == last:
        return
    w.window_size *= 2
    w.next_window = w.counter + w.window_size
    if w.next_window != last:
        if w.next_window + 2 * w.window_size >= w.n_warmup - w.term_buffer:
            w.next_window = last


cdef void tick(void* bar, int n) noexcept nogil:
    # progress bar update (Python object), every 50 iterations: the GIL is taken only then
    if bar != NULL:
        with gil:
            try:
                (<object> bar).update(n)
            except Exception:
                pass


# --------------------------------------------------------------------------------------------
# nutpie-style warm-up (metric_mode 4): the gradient-based diagonal estimate is refreshed after
# every draw from a "foreground" window while a "background" window fills up and replaces it
# every `switch` draws (10 in the first 30% of warm-up, 80 later); the last 15% only tunes the
# step size. Dual averaging runs throughout and restarts for the final phase.
cdef int warmup_nutpie(Sampler* s, Point* cur, int n_warmup, double* tw, DualAveraging* da,
                       double* warm_accept, double* warm_step, double* warm_draws,
                       int* warm_nleap, void* bar) noexcept nogil:
    cdef Py_ssize_t i, d = s.d
    cdef int t, nf = 0, nb = 0, switch
    cdef int final_start = n_warmup - <int> (0.15 * n_warmup)
    cdef int early_end = <int> (0.3 * n_warmup)
    cdef double dn, delta, vq, vg, est
    cdef Transition tr
    cdef double* w = <double*> malloc(8 * d * sizeof(double))
    if w == NULL:
        return -2
    cdef double* fq = w           # foreground mean / M2 of q and of grad
    cdef double* fq2 = w + d
    cdef double* fg = w + 2 * d
    cdef double* fg2 = w + 3 * d
    cdef double* bq = w + 4 * d   # background
    cdef double* bq2 = w + 5 * d
    cdef double* bg = w + 6 * d
    cdef double* bg2 = w + 7 * d
    memset(w, 0, 8 * d * sizeof(double))
    for t in range(n_warmup):
        transition(s, cur, tw, &tr)
        if s.m.status:
            free(w)
            return -1
        warm_accept[t] = tr.accept
        warm_step[t] = s.eps
        warm_nleap[t] = tr.n_leapfrog
        memcpy(warm_draws + t * d, cur.q, d * sizeof(double))
        s.eps = da_learn(da, tr.accept)
        if (t + 1) % 50 == 0:
            tick(bar, 50)
        if t < final_start:
            nf += 1
            nb += 1
            for i in range(d):
                dn = <double> nf
                delta = cur.q[i] - fq[i]
                fq[i] += delta / dn
                fq2[i] += delta * (cur.q[i] - fq[i])
                delta = cur.g[i] - fg[i]
                fg[i] += delta / dn
                fg2[i] += delta * (cur.g[i] - fg[i])
                dn = <double> nb
                delta = cur.q[i] - bq[i]
                bq[i] += delta / dn
                bq2[i] += delta * (cur.q[i] - bq[i])
                delta = cur.g[i] - bg[i]
                bg[i] += delta / dn
                bg2[i] += delta * (cur.g[i] - bg[i])
            switch = 10 if t < early_end else 80
            if nb >= switch:
                memcpy(fq, bq, 4 * d * sizeof(double))
                nf = nb
                nb = 0
                memset(bq, 0, 4 * d * sizeof(double))
            if nf >= 4:
                for i in range(d):
                    vq = fq2[i]
                    vg = fg2[i]
                    if vq > 0.0 and vg > 0.0:
                        est = sqrt(vq / vg)
                        if est < 1e-10:
                            est = 1e-10
                        elif est > 1e10:
                            est = 1e10
                        s.minv[i] = est
        if t + 1 == final_start:
            init_stepsize(s, cur)
            da_restart(da, s.eps)
    free(w)
    return 0


# --------------------------------------------------------------------------------------------
# one chain
cdef int run_chain(Sampler* s, Point* cur, int n_warmup, int n_draws, int metric_mode,
                   double target_accept, int init_buffer, int base_window, int term_buffer, double* draws, double* lp_out, double* accept_out,
                   double* step_out, int* depth_out, int* nleap_out, int* div_out,
                   double* energy_out, double* divpos_out, double* warm_accept,
                   double* warm_step, double* warm_draws, int* warm_nleap,
                   void* bar) noexcept nogil:
    cdef Py_ssize_t i, j, d = s.d
    cdef int t, rc, n_win = 0
    cdef Transition tr
    cdef DualAveraging da
    cdef Windows win
    cdef double dn, delta, var_q, var_g, est
    cdef double* tw = <double*> malloc(23 * d * sizeof(double))
    cdef double* mq = <double*> malloc(4 * d * sizeof(double))   # Welford: mean/m2 of q, g
    cdef double* m2q = mq + d
    cdef double* mg = mq + 2 * d
    cdef double* m2g = mq + 3 * d
    # dense: Welford co-moment matrix, and the candidate covariance / Cholesky factor
    cdef double* cm = <double*> malloc(3 * d * d * sizeof(double)) if s.dense else NULL
    if tw == NULL or mq == NULL or (s.dense and cm == NULL):
        free(tw); free(mq); free(cm)
        return -2
    if s.dense:
        memset(cm, 0, d * d * sizeof(double))

    da.delta = target_accept
    da.gamma = 0.05
    da.t0 = 10.0
    da.kappa = 0.75
    windows_init(&win, n_warmup, init_buffer, term_buffer, base_window)
    memset(mq, 0, 4 * d * sizeof(double))

    if n_warmup > 0:
        if metric_mode == 2 or metric_mode == 4:
            # nutpie's start: inverse metric 1/|grad| (clipped), a scale guess from one gradient
            # (a zero gradient, e.g. a start at the mode, says nothing: keep the given metric)
            for i in range(d):
                est = fabs(cur.g[i])
                if est > 0.0:
                    s.minv[i] = 1.0 / est
                    if s.minv[i] < 1e-4:
                        s.minv[i] = 1e-4
                    elif s.minv[i] > 1e4:
                        s.minv[i] = 1e4
        init_stepsize(s, cur)
    da_restart(&da, s.eps)

    if metric_mode == 4:
        rc = warmup_nutpie(s, cur, n_warmup, tw, &da, warm_accept, warm_step, warm_draws,
                           warm_nleap, bar)
        if rc != 0:
            free(tw); free(mq); free(cm)
            return rc
    for t in range(n_warmup if metric_mode != 4 else 0):
        transition(s, cur, tw, &tr)
        if s.m.status:
            free(tw); free(mq); free(cm)
            return -1
        warm_accept[t] = tr.accept
        warm_step[t] = s.eps
        warm_nleap[t] = tr.n_leapfrog
        memcpy(warm_draws + t * d, cur.q, d * sizeof(double))
        s.eps = da_learn(&da, tr.accept)
        if (t + 1) % 50 == 0:
            tick(bar, 50)
        if metric_mode > 0 and windows_in(&win):
            n_win += 1
            dn = <double> n_win
            if s.dense:
                # co-moments: C += (q - mean_old) (q - mean_new)'
                for i in range(d):
                    s.tmp[i] = cur.q[i] - mq[i]
            for i in range(d):
                delta = cur.q[i] - mq[i]
                mq[i] += delta / dn
                m2q[i] += delta * (cur.q[i] - mq[i])
            if s.dense:
                for i in range(d):
                    for j in range(d):
                        cm[i * d + j] += s.tmp[i] * (cur.q[j] - mq[j])
            for i in range(d):
                delta = cur.g[i] - mg[i]
                mg[i] += delta / dn
                m2g[i] += delta * (cur.g[i] - mg[i])
        if metric_mode > 0 and windows_end(&win):
            windows_next(&win)
            if s.dense and n_win >= 3:
                # Stan's dense regularisation: (n/(n+5)) S + 1e-3 (5/(n+5)) I
                dn = <double> n_win
                for i in range(d * d):
                    cm[d * d + i] = (dn / (dn + 5.0)) * cm[i] / (dn - 1.0)
                for i in range(d):
                    cm[d * d + i * d + i] += 1e-3 * (5.0 / (dn + 5.0))
                if cholesky(cm + d * d, cm + 2 * d * d, d):   # keep the old metric otherwise
                    memcpy(s.minv, cm + d * d, d * d * sizeof(double))
                    memcpy(s.chol, cm + 2 * d * d, d * d * sizeof(double))
                memset(cm, 0, d * d * sizeof(double))
            elif n_win >= 3:
                dn = <double> n_win
                for i in range(d):
                    var_q = m2q[i] / (dn - 1.0)
                    if metric_mode == 2:
                        var_g = m2g[i] / (dn - 1.0)
                        est = sqrt(var_q / var_g) if var_g > 0.0 else var_q
                    else:
                        est = var_q
                    # Stan's regularisation: shrink towards 1e-3 with weight 5 / (n + 5)
                    s.minv[i] = (dn / (dn + 5.0)) * est + 1e-3 * (5.0 / (dn + 5.0))
            n_win = 0
            memset(mq, 0, 4 * d * sizeof(double))
            init_stepsize(s, cur)
            da_restart(&da, s.eps)
        win.counter += 1
    if n_warmup > 0:
        s.eps = exp(da.x_bar)

    for t in range(n_draws):
        for i in range(d):
            s.div_q[i] = 0.0
        transition(s, cur, tw, &tr)
        if s.m.status:
            free(tw); free(mq); free(cm)
            return -1
        memcpy(draws + t * d, cur.q, d * sizeof(double))
        if (t + 1) % 50 == 0:
            tick(bar, 50)
        lp_out[t] = cur.lp
        accept_out[t] = tr.accept
        step_out[t] = s.eps
        depth_out[t] = tr.depth
        nleap_out[t] = tr.n_leapfrog
        div_out[t] = tr.divergent
        energy_out[t] = tr.energy
        if tr.divergent:
            memcpy(divpos_out + t * d, s.div_q, d * sizeof(double))
    free(tw)
    free(mq)
    free(cm)
    return 0


cdef ModelHandle* _handle(object capsule) except NULL:
    if not PyCapsule_IsValid(capsule, MODEL_CAPSULE):
        raise TypeError("model capsule is not a deconv.sampling.ModelHandle")
    return <ModelHandle*> PyCapsule_GetPointer(capsule, MODEL_CAPSULE)


def sample_chain(object capsule, const double[::1] q0, int n_warmup, int n_draws, object generator,
                 double step_size, double[::1] inv_metric, int metric_mode, double target_accept,
                 int max_depth, double max_energy_error, int init_buffer, int base_window,
                 int term_buffer, double[:, ::1] draws, double[::1] lp,
                 double[::1] accept, double[::1] step, int[::1] depth, int[::1] n_leapfrog,
                 int[::1] divergent, double[::1] energy, double[:, ::1] div_pos,
                 double[::1] warm_accept, double[::1] warm_step, double[:, ::1] warm_draws,
                 int[::1] warm_nleap, object progress=None):
    """Run one chain; outputs are filled in place. Returns the final step size.

    The caller validates every shape (this kernel does not). ``metric_mode``: 0 fixed metric,
    1 Stan's windowed variance, 2 nutpie's sqrt(var(q) / var(grad)). ``inv_metric`` is read as the
    starting metric and overwritten with the adapted one.
    """
    cdef ModelHandle* m = _handle(capsule)
    cdef Py_ssize_t d = q0.shape[0]
    cdef Sampler s
    cdef Point cur
    cdef int rc
    cdef object bgcap = generator.bit_generator.capsule
    s.rng.bg = <bitgen_t*> PyCapsule_GetPointer(bgcap, "BitGenerator")
    s.rng.has_spare = False
    s.m = m
    s.d = d
    s.max_depth = max_depth
    s.max_dH = max_energy_error
    s.eps = step_size
    s.minv = &inv_metric[0]
    s.dense = metric_mode == 3 or inv_metric.shape[0] == d * d and d > 1
    chol = np.zeros(d * d if s.dense else 1)
    cdef double[::1] cv = chol
    tmp = np.zeros(d)
    cdef double[::1] tv = tmp
    s.chol = &cv[0]
    s.tmp = &tv[0]
    if s.dense and not cholesky(s.minv, s.chol, d):
        raise ValueError("inv_metric is not positive definite")
    buf = np.empty(3 * d + 3 * d + d + 9 * d * (max_depth + 1), dtype=np.float64)
    cdef double[::1] b = buf
    cur.q = &b[0]; cur.p = &b[d]; cur.g = &b[2 * d]
    s.z.q = &b[3 * d]; s.z.p = &b[4 * d]; s.z.g = &b[5 * d]
    s.div_q = &b[6 * d]
    s.ws = &b[7 * d]
    memcpy(cur.q, &q0[0], d * sizeof(double))
    memset(cur.p, 0, d * sizeof(double))
    m.status = 0
    with generator.bit_generator.lock:
        with nogil:
            cur.lp = m.fn(m.ctx, cur.q, cur.g)
            rc = run_chain(&s, &cur, n_warmup, n_draws, metric_mode, target_accept,
                           init_buffer, base_window, term_buffer,
                           &draws[0, 0], &lp[0], &accept[0], &step[0], &depth[0],
                           &n_leapfrog[0], &divergent[0], &energy[0], &div_pos[0, 0],
                           &warm_accept[0], &warm_step[0], &warm_draws[0, 0], &warm_nleap[0],
                           NULL if progress is None else <void*> progress)
    if rc == -2:
        raise MemoryError("could not allocate the sampler workspace")
    return rc, s.eps


# --------------------------------------------------------------------------------------------
# models
cdef class PyModel:
    """A Python callable ``f(q) -> (log_density, gradient)`` behind the C model interface.

    The C callback re-acquires the GIL, copies ``q`` into a NumPy array, calls ``f`` and
    validates the answer. An exception (or a gradient of the wrong shape) is kept in ``error``
    and stops the chain; a NaN log density is returned as is (the sampler calls it a divergence).
    """
    cdef ModelHandle handle
    cdef object fn
    cdef public object error
    cdef public Py_ssize_t n_calls

    def __init__(self, fn, Py_ssize_t dim):
        self.fn = fn
        self.error = None
        self.n_calls = 0
        self.handle.fn = _py_logp_grad
        self.handle.ctx = <void*> self
        self.handle.dim = dim
        self.handle.status = 0

    @property
    def dim(self):
        return self.handle.dim

    def capsule(self):
        return PyCapsule_New(&self.handle, MODEL_CAPSULE, NULL)

    cdef double call(self, const double* q, double* grad):
        cdef Py_ssize_t i, d = self.handle.dim
        cdef double lp
        cdef double[::1] gv
        x = np.empty(d)
        cdef double[::1] xv = x
        for i in range(d):
            xv[i] = q[i]
        self.n_calls += 1
        try:
            res = self.fn(x)
            if not isinstance(res, tuple) or len(res) != 2:
                raise TypeError("logp_grad must return a tuple (log_density, gradient), got "
                                f"{type(res).__name__}")
            lp = float(res[0])
            g = np.asarray(res[1], dtype=np.float64)
            if g.shape != (d,):
                raise ValueError(f"logp_grad returned a gradient of shape {g.shape}; "
                                 f"expected ({d},)")
            gv = np.ascontiguousarray(g)
            for i in range(d):
                grad[i] = gv[i]
            return lp
        except BaseException as exc:
            self.error = exc
            self.handle.status = 1
            return float("nan")


cdef double _py_logp_grad(void* ctx, const double* q, double* grad) noexcept nogil:
    with gil:
        return (<PyModel> ctx).call(q, grad)


def logp_grad(object capsule, const double[::1] q):
    """Evaluate a model capsule at ``q``: returns (log density, gradient) — for tests and MAP."""
    cdef ModelHandle* m = _handle(capsule)
    g = np.zeros(q.shape[0])
    cdef double[::1] gv = g
    cdef double lp
    m.status = 0
    lp = m.fn(m.ctx, &q[0], &gv[0])
    return lp, g, m.status
