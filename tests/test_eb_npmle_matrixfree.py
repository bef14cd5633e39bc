"""Tests of the matrix-free normal likelihood (deconv.eb.likelihood.NormalLikelihood) and
the NPMLE / posterior paths that use it instead of the dense n x m matrix."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import deconv as dc
from deconv.eb.likelihood import NormalLikelihood, build_likelihood, default_grid
from deconv.eb.solvers import kkt_vector, mixsqp


def _exact_scaled(z, s, grid):
    """Reference row-scaled matrix from the closed form, one exp per entry (no
    recurrence): log L_ij = (t0_i^2 - t_ij^2)/2 with t = (z - g)/s and t0 at the nearest
    grid point g*, written as (g_j - g*)(2 z - g_j - g*)/(2 s^2) so that no cancellation
    spoils rows far outside the grid."""
    js = np.argmin(np.abs(z[:, None] - grid[None, :]), axis=1)
    gs = grid[js][:, None]
    return np.exp((grid[None, :] - gs) * (2 * z[:, None] - grid[None, :] - gs) / (2 * s[:, None] ** 2))


def _assert_entries_close(a, b):
    """Entries agree to (1e-12 + 1e-13 |log b|) relative: an entry exp(-x) carries
    relative error ~x eps from rounding x alone (and the dense recurrence ~k^2 eps)."""
    big = b > 1e-290
    with np.errstate(divide="ignore"):
        tol = 1e-12 + 1e-13 * np.abs(np.log(b[big]))
    assert np.all(np.abs(a[big] - b[big]) <= tol * b[big])
    assert np.all(a[~big] < 1e-280)


def _cases():
    rng = np.random.default_rng(11)
    z = np.concatenate([rng.normal(0, 2, 300), [1e4, -3e3, 5.0000001]])
    g_uni = np.linspace(-6, 6, 121)  # equal steps
    g_non = np.sort(np.concatenate([g_uni, [0.013, 0.4, 2.71]]))  # unequal steps
    return {
        # the fast path: equal steps and equal s (rows outside the grid fall back)
        "uniform-homoskedastic": (z, np.full(z.size, 0.8), g_uni),
        "uniform-heteroskedastic": (z, rng.uniform(0.2, 3.0, z.size), g_uni),
        "nonuniform-homoskedastic": (z, np.full(z.size, 0.8), g_non),
        # s tiny against the grid step: rows are nearly one-hot (slow path)
        "tiny-s": (z, np.full(z.size, 0.01), g_uni),
    }


@pytest.mark.parametrize("case", list(_cases()))
def test_entries_match_closed_form(case):
    z, s, g = _cases()[case]
    lik = NormalLikelihood(z, s, g)
    ref = _exact_scaled(lik.z, lik.s, g)  # the operator keeps its rows sorted by j*
    big = ref > 1e-250
    # An entry exp(-x) carries relative error ~x * 1e-16 from the rounding of x alone,
    # so the bounds grow with |log L|. The fast-path columns (A^k T_k by multiplication,
    # error ~k eps; or one exp) and the reference agree to 1e-13 on entries >= 1e-8;
    # the dense kernel's recurrence (re-anchored every 16 steps, error ~k^2 eps) to 1e-12.
    logr = np.abs(np.log(ref[big]))
    for M, rel in ((lik.columns(np.arange(g.size)), 1e-13), (lik.L, 1e-12)):
        err = np.abs(M[big] - ref[big]) / ref[big]
        assert np.max(err[ref[big] >= 1e-8]) < rel
        assert np.all(err < rel + 1e-13 * logr)
        assert np.all(M[ref < 1e-300] < 1e-290)  # set to 0 (or a denormal's worth)
    # the row maximum is exactly 1 and the log-maxima are the normal log-density there
    assert np.all(lik.L.max(axis=1) == 1.0)
    t0 = (lik.z - g[lik.jstar]) / lik.s
    assert_allclose(lik.logmax, -np.log(lik.s) - 0.5 * np.log(2 * np.pi) - 0.5 * t0 ** 2, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("case", list(_cases()))
def test_fused_products_equal_the_materialised_matrix(case):
    z, s, g = _cases()[case]
    lik = NormalLikelihood(z, s, g)
    L = lik.L
    rng = np.random.default_rng(2)
    u = rng.uniform(0.1, 10.0, z.size)
    # L'u without L: the full-grid KKT product
    ref = L.T @ u
    # 1e-12 relative to the largest entry (the scale of a KKT value); 1e-11 entrywise,
    # as tiny sums (1e-195) inherit the recurrence's ~1e-13 |log L| error
    assert_allclose(lik.rmatvec(u), ref, rtol=1e-11, atol=1e-12 * ref.max())
    assert np.max(np.abs(lik.rmatvec(u) - ref)) <= 1e-12 * ref.max()
    # ... and the closed form with one exp per entry (no recurrence at all)
    exact = _exact_scaled(lik.z, lik.s, g).T @ u
    assert np.max(np.abs(lik.rmatvec(u) - exact)) <= 1e-12 * exact.max()
    # each case exercises the path it is named for: 1 = equal s (shared table),
    # 2 = heteroskedastic (per-row recurrence), 0 = general recurrence
    kinds = set(np.unique(lik.fast).tolist())
    expected = {"uniform-homoskedastic": {0, 1}, "uniform-heteroskedastic": {0, 2},
                "nonuniform-homoskedastic": {0}, "tiny-s": {0, 1}}[case]
    assert kinds == expected
    # scattered working columns written into slots of a column-major buffer
    cols = np.array([117, 3, 60, 61, 90])
    slots = np.array([4, 0, 2, 1, 3])
    buf = np.full((z.size, 6), np.nan, order="F")
    lik.fill_columns(buf, slots, cols)
    for p, c in zip(slots, cols):
        _assert_entries_close(buf[:, p], L[:, c])
    assert np.all(np.isnan(buf[:, 5]))  # nothing else written
    w = np.zeros(g.size)
    w[[10, 50, 51, 100]] = [0.1, 0.2, 0.3, 0.4]
    _assert_entries_close(lik.matvec(w), L @ w)
    # the row maximum (ties -- z midway between grid points -- may go either way)
    rows = np.arange(z.size)
    assert_array_equal(L[rows, lik.row_argmax(rows)], L.max(axis=1))
    # a row subset (the solver's presolve) computes the same rows
    sub = np.arange(0, z.size, 3)
    part = lik.subset_rows(sub)
    assert_allclose(part.rmatvec(u[sub]), L[sub].T @ u[sub], rtol=1e-11, atol=1e-12 * ref.max())


def test_dense_build_uses_same_kernel_and_original_row_order():
    z, s, g = _cases()["uniform-heteroskedastic"]
    dense = build_likelihood("normal", {"z": z, "se": s}, g)
    free = build_likelihood("normal", {"z": z, "se": s}, g, matrix_free=True)
    assert isinstance(free, NormalLikelihood) and dense.inverse is None
    # the matrix-free rows are sorted; `inverse` maps each observation to its row
    assert_array_equal(free.L[free.inverse], dense.L)
    assert_array_equal(free.logmax[free.inverse], dense.logmax)


def test_aligned_default_grid_has_equal_steps_and_zero():
    rng = np.random.default_rng(3)
    z = rng.normal(0.3, 2, 1000)
    g = default_grid("normal", z, 200, include=0.0, aligned=True)
    steps = np.diff(g)
    assert np.any(g == 0.0)
    assert np.max(np.abs(steps - steps.mean())) <= 1e-12 * steps.mean()
    assert g[0] <= z.min() and g[-1] >= z.max()
    assert g[0] > z.min() - steps[0] and g[-1] < z.max() + steps[0]
    assert g.size in (200, 201)


@pytest.mark.parametrize("hetero", [False, True])
def test_fit_matrix_free_equals_dense(hetero):
    # a moderate problem: both paths certified, same log-likelihood and posteriors
    rng = np.random.default_rng(4)
    n = 4000
    theta = np.where(rng.random(n) < 0.6, 0.0, rng.normal(0, 2.5, n))
    s = rng.uniform(0.5, 2.0, n) if hetero else np.ones(n)
    z = theta + s * rng.normal(size=n)
    a = dc.eb.NPMLE(matrix_free=True).fit(z, se=s)
    b = dc.eb.NPMLE(matrix_free=False).fit(z, se=s)
    assert isinstance(a.likelihood_, NormalLikelihood)
    assert not isinstance(b.likelihood_, NormalLikelihood)
    assert a.converged_ and b.converged_ and a.kkt_ <= 1e-8 and b.kkt_ <= 1e-8
    assert_array_equal(a.grid_, b.grid_)
    # both certified: each log-likelihood is within the other's gap bound of the optimum
    assert abs(a.loglik_ - b.loglik_) <= max(a.gap_bound_, b.gap_bound_) + 1e-9 * abs(b.loglik_)
    # the matrix-free certificate recomputed from the dense matrix (exact check)
    dense = build_likelihood("normal", {"z": z, "se": s}, a.grid_)
    d, f = kkt_vector(dense.L, dense.counts, a.prior_.weights)
    assert d.max() - 1 <= 1e-8
    assert_allclose(float(np.sum(np.log(f) + dense.logmax)), a.loglik_, rtol=1e-12)
    # the NPMLE density f = L w is unique: posterior means agree closely
    assert_allclose(a.posterior_mean(), b.posterior_mean(), atol=1e-4)


def test_posteriors_matrix_free_equal_naive_numpy():
    rng = np.random.default_rng(5)
    n = 3000
    s = rng.uniform(0.5, 1.5, n)
    z = rng.choice([-2.0, 0.0, 0.0, 3.0], n) + s * rng.normal(size=n)
    eb = dc.eb.NPMLE(matrix_free=True).fit(z, se=s)
    g, w = eb.prior_.grid, eb.prior_.weights
    L = build_likelihood("normal", {"z": z, "se": s}, g).L  # dense, original order
    P = L * w
    P /= P.sum(axis=1, keepdims=True)
    mean = P @ g
    sd = np.sqrt(np.maximum(P @ g ** 2 - mean ** 2, 0.0))
    m1, sd1 = eb.posterior_moments()
    assert_allclose(m1, mean, rtol=1e-11, atol=1e-12)
    assert_allclose(sd1, sd, rtol=1e-8, atol=1e-10)  # sd from E[x^2] - m^2 loses digits
    assert_allclose(eb.lfdr(0.0), P[:, g == 0.0].ravel(), rtol=1e-11, atol=1e-14)
    cdf = np.cumsum(P, axis=1)
    med = g[np.argmax(cdf >= 0.5 * (1 - 1e-12), axis=1)]
    assert_array_equal(eb.posterior_median(), med)
    lo, hi = eb.posterior_interval(0.9, kind="hpd")
    assert np.all(lo <= med) and np.all(med <= hi)
    # new data (matrix-free build on the prior's grid) equal the fitted rows
    assert_allclose(eb.posterior_mean(z[:50], s[:50]), m1[:50], rtol=1e-13)
    # draws: reproducible and on the support
    d1 = eb.posterior_draws(3, rng=7)
    assert_array_equal(d1, eb.posterior_draws(3, rng=7))
    assert np.all(np.isin(d1, g[w > 0]))


def test_mixsqp_accepts_the_operator_directly():
    rng = np.random.default_rng(6)
    z = rng.choice([-1.5, 1.5], 2000) + rng.normal(size=2000)
    g = np.linspace(z.min(), z.max(), 80)
    lik = NormalLikelihood(z, np.ones(z.size), g)
    res = mixsqp(lik, lik.counts)
    ref = mixsqp(lik.L, lik.counts)
    assert res.converged and ref.converged
    assert_allclose(res.loglik, ref.loglik, rtol=1e-12)


def test_mixsqp_on_a_plain_array_with_presolve():
    # a bare ndarray (no likelihood object) large enough for the sub-sample presolve
    rng = np.random.default_rng(9)
    z = rng.choice([-2.0, 0.0, 2.0], 50_000) + rng.normal(size=50_000)
    g = np.linspace(z.min(), z.max(), 40)
    lik = NormalLikelihood(z, np.ones(z.size), g)
    res = mixsqp(np.array(lik.L))
    assert res.converged and res.kkt <= 1e-8
    ref = mixsqp(lik, lik.counts)
    assert_allclose(res.loglik, ref.loglik, rtol=1e-12)


def test_matrix_free_option_validated():
    z = np.zeros(10)
    with pytest.raises(ValueError, match="matrix_free"):
        dc.eb.NPMLE(matrix_free="yes").fit(z, se=1.0)
    with pytest.raises(TypeError, match="matrix_free"):
        dc.eb.NPMLE(matrix_free=3).fit(z, se=1.0)
    # other families ignore it (no matrix-free kernels): the dense matrix is used
    eb = dc.eb.NPMLE("poisson", matrix_free=True).fit(np.array([0, 1, 2, 5, 3]))
    assert not isinstance(eb.likelihood_, NormalLikelihood)


_THREAD_CODE = """
import numpy as np, deconv as dc
from deconv.eb.likelihood import NormalLikelihood
rng = np.random.default_rng(8)
n = 30000
z = rng.normal(0, 2, n) + rng.normal(size=n)
eb = dc.eb.NPMLE(matrix_free=True, grid_size=150).fit(z, se=1.0)
lik = eb.likelihood_
u = rng.uniform(0.5, 2.0, n)
s = rng.uniform(0.5, 2.0, n)
het = NormalLikelihood(z, s, eb.grid_)
cols = np.arange(0, eb.grid_.size, 7)
print(eb.prior_.weights.tobytes().hex()[:4000], repr(eb.loglik_), repr(eb.kkt_),
      lik.rmatvec(u).tobytes().hex(), het.rmatvec(u).tobytes().hex(),
      lik.columns(cols).sum(), eb.posterior_moments()[1].tobytes().hex()[:2000])
"""


def test_results_identical_for_any_thread_count(run_python):
    # fixed row blocks, per-block partial sums combined in block order: bit-identical
    one = run_python(_THREAD_CODE, OMP_NUM_THREADS=1)
    two = run_python(_THREAD_CODE, OMP_NUM_THREADS=2)
    assert one == two
