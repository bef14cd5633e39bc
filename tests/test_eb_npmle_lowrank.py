"""Low-rank approximation of L in the NPMLE solver (deconv.eb.lowrank, mixsqp(low_rank=)).

Independent references: the exact certified solver on the same L (same problem, no
approximation), the KKT vector recomputed here from the dense L with plain NumPy, the
SVD of L (numerical rank) and matrices of known exact rank.
"""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import deconv as dc
from deconv.eb.likelihood import NormalLikelihood, build_likelihood
from deconv.eb.lowrank import LowRankLikelihood, low_rank_factor
from deconv.eb.solvers import mixsqp, resolve_low_rank
from deconv.exceptions import ConvergenceWarning


def exact_kkt(L, w, counts=None):
    """max_j (1/N) sum_i c_i L_ij / (L w)_i - 1, straight from the definition."""
    counts = np.ones(L.shape[0]) if counts is None else counts
    w = w / w.sum()
    f = L @ w
    return float(np.max(L.T @ (counts / f)) / counts.sum() - 1.0), float(counts @ np.log(f))


def smooth_matrix(n=4000, m=400, seed=0):
    """Row-scaled normal likelihood of z = theta + e, theta ~ N(0, 4), on a dense grid
    (smooth columns: numerically low rank)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, n) + rng.normal(size=n)
    g = np.linspace(z.min(), z.max(), m)
    return build_likelihood("normal", {"z": z, "se": np.ones(n)}, g).L, z, g


# ---------------------------------------------------------------- the factorisation

def test_factor_is_interpolative_and_reproducible():
    L, _, _ = smooth_matrix(1500, 200)
    L0 = L.copy()
    lr = low_rank_factor(L, 1e-8)
    assert_array_equal(L, L0)  # input not mutated
    # U holds true columns of L; T is the identity on them (an interpolative decomposition)
    assert_array_equal(lr.U, L[:, lr.cols])
    assert_allclose(lr.Vt[:, lr.cols], np.eye(lr.rank), atol=0)
    lr2 = low_rank_factor(L, 1e-8)  # default rng=0: the same factor every time
    assert_array_equal(lr2.cols, lr.cols)
    assert_array_equal(lr2.Vt, lr.Vt)


@pytest.mark.parametrize("rtol", [1e-4, 1e-6, 1e-8, 1e-10])
def test_rank_rule_error_follows_rtol(rtol):
    # the documented rule keeps pivots |R_kk| > rtol |R_11|; the resulting relative
    # Frobenius error is of order rtol (measured 0.04-0.4 x rtol on this family; the bound
    # asserted, 10 x rtol, leaves room for the randomness of the sketch)
    L, _, _ = smooth_matrix(3000, 300)
    lr = low_rank_factor(L, rtol)
    err = np.linalg.norm(lr.dense() - L) / np.linalg.norm(L)
    assert err <= 10 * rtol
    # and the rank is close to the numerical rank of the SVD at that level: at least the
    # number of singular values above 10 rtol s_1, at most those above rtol s_1 / 1e3
    s = np.linalg.svd(L, compute_uv=False)
    assert np.count_nonzero(s > 10 * rtol * s[0]) <= lr.rank <= np.count_nonzero(s > 1e-3 * rtol * s[0])
    assert lr.rank < 300 // 3  # smooth columns: far below m


def test_rank_monotone_in_rtol_and_capped():
    L, _, _ = smooth_matrix(2000, 250)
    ranks = [low_rank_factor(L, t).rank for t in (1e-2, 1e-5, 1e-8, 1e-11)]
    assert ranks == sorted(ranks) and ranks[0] < ranks[-1]
    assert low_rank_factor(L, 1e-11, max_rank=7).rank == 7


def test_exact_rank_recovered():
    # a non-negative matrix of exact rank 5: rank 5 at any tolerance well above round-off,
    # reproduced to round-off
    rng = np.random.default_rng(3)
    L = rng.uniform(size=(5000, 5)) @ rng.uniform(size=(5, 300))
    lr = low_rank_factor(L, 1e-9)
    assert lr.rank == 5
    assert_allclose(lr.dense(), L, rtol=0, atol=1e-11 * L.max())


def test_rank_saturating_the_first_sketch_grows_it():
    # generic random columns have full rank 160 > the first sketch rank (128): the sketch
    # must grow and the factor be exact
    rng = np.random.default_rng(4)
    L = rng.uniform(size=(3000, 160))
    lr = low_rank_factor(L, 1e-10)
    assert lr.rank == 160
    assert_allclose(lr.dense(), L, atol=1e-9)


def test_operator_products_match_the_dense_approximation():
    L, _, _ = smooth_matrix(1000, 150)
    lr = low_rank_factor(L, 1e-6)
    A = lr.dense()
    rng = np.random.default_rng(5)
    w, u = rng.uniform(size=150), rng.uniform(size=1000)
    assert_allclose(lr.matvec(w), A @ w, rtol=1e-12)
    assert_allclose(lr.rmatvec(u), A.T @ u, rtol=1e-12)
    out = np.full((1000, 4), np.nan, order="F")
    lr.fill_columns(out, [2, 0], [17, 90])
    assert_allclose(out[:, [2, 0]], np.maximum(A[:, [17, 90]], 0), rtol=1e-12)
    assert np.all(np.isnan(out[:, [1, 3]]))  # other slots untouched
    rows = np.array([3, 500, 999])
    assert_array_equal(lr.row_argmax(rows), np.argmax(A[rows], axis=1))
    sub = lr.subset_rows(rows)
    assert isinstance(sub, LowRankLikelihood) and sub.shape == (3, 150)
    assert_allclose(sub.dense(), A[rows], rtol=1e-12)


# ---------------------------------------------------------------- same optimum, exact certificate

def _compare(L, counts=None, low_rank=True):
    ex = mixsqp(L, counts)
    lr = mixsqp(L, counts, low_rank=low_rank)
    assert ex.converged and lr.converged
    k_lr, ll_lr = exact_kkt(L, lr.weights, counts)
    k_ex, ll_ex = exact_kkt(L, ex.weights, counts)
    # the certificate reported is the one of the TRUE L, recomputed here from scratch
    assert k_lr <= 1e-8 and abs(k_lr - lr.kkt) <= 1e-12 and k_ex <= 1e-8
    # same optimum: each log-likelihood within the other's certified gap bound
    # (N log max_j d_j: no weight vector can do better by more)
    N = L.shape[0] if counts is None else counts.sum()
    assert ll_ex - ll_lr <= N * np.log1p(max(k_lr, 0)) + 1e-9 * abs(ll_ex)
    assert ll_lr - ll_ex <= N * np.log1p(max(k_ex, 0)) + 1e-9 * abs(ll_ex)
    assert lr.method == "mixsqp(low-rank)" and lr.low_rank["rank"] < L.shape[1]
    return ex, lr


def test_same_optimum_smooth_prior():
    L, _, _ = smooth_matrix(20000, 400, seed=1)
    _compare(L)


def test_same_optimum_discrete_prior():
    rng = np.random.default_rng(2)
    z = rng.choice([-2.0, 0.0, 3.0], 20000) + rng.normal(size=20000)
    g = np.linspace(z.min(), z.max(), 400)
    L = build_likelihood("normal", {"z": z, "se": np.ones(z.size)}, g).L
    ex, lr = _compare(L, low_rank=1e-6)
    # the two fits are the same prior: equal CDFs between the true atoms (to 1e-3 of mass)
    for t in (-1.0, 1.5):
        assert abs(ex.weights[g <= t].sum() - lr.weights[g <= t].sum()) < 1e-3
    # and near the discrete truth (1/3 below -1, 2/3 below 1.5; sampling sd ~0.004)
    assert abs(lr.weights[g <= -1.0].sum() - 1 / 3) < 0.03
    assert abs(lr.weights[g <= 1.5].sum() - 2 / 3) < 0.03


def test_same_optimum_user_matrix_and_poisson():
    # user matrix: a Laplace (double-exponential) noise log-likelihood, heteroskedastic
    rng = np.random.default_rng(6)
    n, m = 8000, 300
    theta = rng.gamma(3.0, 1.0, n)
    b = rng.uniform(0.5, 1.5, n)
    z = theta + rng.laplace(0, b)
    g = np.linspace(z.min(), z.max(), m)
    logL = -np.abs(z[:, None] - g[None, :]) / b[:, None] - np.log(2 * b[:, None])
    lik = build_likelihood("matrix", {"loglik": logL}, g)
    _compare(lik.L)
    # Poisson with continuous exposures (rows do not compress), counts kept as multiplicities
    k = rng.poisson(rng.gamma(2.0, 3.0, n) * (e := rng.uniform(0.5, 2.0, n)))
    gp = np.linspace(0, np.sqrt((k / e).max()), 300) ** 2
    likp = build_likelihood("poisson", {"k": k.astype(float), "exposure": e}, gp)
    _compare(likp.L, likp.counts)


def test_npmle_estimator_low_rank_matches_exact():
    rng = np.random.default_rng(7)
    n = 5000
    z = rng.normal(0, 1.5, n) + rng.normal(size=n) * (s := rng.uniform(0.5, 1.5, n))
    ex = dc.eb.NPMLE(grid_size=300).fit(z, se=s)
    lr = dc.eb.NPMLE(grid_size=300, low_rank=True).fit(z, se=s)
    # n * m >= 1e6: the default would be matrix-free; low_rank resolves "auto" to dense
    assert isinstance(ex.likelihood_, NormalLikelihood)
    assert not isinstance(lr.likelihood_, NormalLikelihood)
    assert lr.converged_ and lr.kkt_ <= 1e-8
    assert abs(lr.loglik_ - ex.loglik_) <= ex.gap_bound_ + lr.gap_bound_ + 1e-9 * abs(ex.loglik_)
    assert_allclose(lr.posterior_mean(), ex.posterior_mean(), atol=2e-3)
    text = str(lr.summary())
    assert "low-rank rank" in text and "mixsqp(low-rank)" in text
    # the matrix family and grid refinement go through the same path
    mat = dc.eb.NPMLE("matrix", grid=lr.grid_, low_rank=1e-6).fit(
        np.log(lr.likelihood_.L) + lr.likelihood_.logmax[:, None])
    assert mat.converged_ and abs(mat.loglik_ - lr.loglik_) <= lr.gap_bound_ + mat.gap_bound_ + 1e-6
    ref = dc.eb.NPMLE(grid_size=100, low_rank=True, refine=1).fit(z[:2000], se=s[:2000])
    assert ref.converged_ and ref.result_.low_rank is not None


# ---------------------------------------------------------------- the certificate is on the true L

def test_coarse_approximation_is_not_certified_on_L_and_the_polish_fixes_it():
    L, _, _ = smooth_matrix(20000, 400, seed=8)
    res = mixsqp(L, low_rank=1e-2)  # a deliberately poor factor (rank ~10)
    info = res.low_rank
    # the low-rank solve is optimal for the APPROXIMATION (its own certificate holds) ...
    assert info["approx_kkt"] <= 1e-8
    # ... but not for L: its certificate on the true matrix fails by far
    assert info["approx_kkt_exact"] > 1e-3
    assert info["polished"] and info["polish_iter"] > 0
    k, _ = exact_kkt(L, res.weights)
    assert res.converged and k <= 1e-8 and abs(k - res.kkt) <= 1e-12


def test_unfinished_polish_reports_the_true_certificate_and_warns(monkeypatch):
    L, z, g = smooth_matrix(6000, 300, seed=9)
    res = mixsqp(L, low_rank=1e-2, max_iter=1, max_rounds=1)
    k, _ = exact_kkt(L, res.weights)
    assert res.low_rank["approx_kkt_exact"] > 1e-8
    assert not res.converged and abs(res.kkt - k) <= 1e-9 * max(1.0, abs(k))
    logL = np.log(L)
    # NPMLE does not expose max_rounds: cap it in the solver it calls
    import functools
    import deconv.eb.npmle as npmle_mod
    monkeypatch.setattr(npmle_mod, "mixsqp", functools.partial(mixsqp, max_rounds=1))
    with pytest.warns(ConvergenceWarning, match="without the KKT certificate"):
        eb = dc.eb.NPMLE("matrix", grid=g, low_rank=1e-2, max_iter=1).fit(logL)
    k2, _ = exact_kkt(L, eb.prior_.weights)
    assert abs(eb.kkt_ - k2) <= 1e-9 * max(1.0, abs(k2))


def test_good_approximation_can_skip_the_polish():
    # exact rank 3 data: the low-rank solution is certified on L as it stands
    rng = np.random.default_rng(10)
    L = rng.uniform(0.1, 1.0, (3000, 3)) @ rng.uniform(0.1, 1.0, (3, 60))
    L /= L.max(axis=1, keepdims=True)
    res = mixsqp(L, low_rank=1e-9)
    k, _ = exact_kkt(L, res.weights)
    assert res.converged and k <= 1e-8 and abs(k - res.kkt) <= 1e-12
    if not res.low_rank["polished"]:
        assert abs(res.low_rank["approx_kkt_exact"] - k) <= 1e-12


def test_indicator_likelihood_with_impossible_cells():
    # uniform measurement error: L_ij in {0, 1} (log-likelihood -inf outside the window).
    # A coarse factor's solution gives some rows zero likelihood on the true L: reported as
    # an infinite certificate, then polished -- no NaN, no floating-point warnings.
    rng = np.random.default_rng(12)
    z = rng.normal(0, 2, 3000) + rng.uniform(-1, 1, 3000)
    g = np.linspace(z.min() - 1, z.max() + 1, 300)
    logL = np.where(np.abs(z[:, None] - g[None, :]) < 1, 0.0, -np.inf)
    ex = dc.eb.NPMLE("matrix", grid=g).fit(logL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for rtol in (1e-2, 1e-8):
            lr = dc.eb.NPMLE("matrix", grid=g, low_rank=rtol).fit(logL)
            k, _ = exact_kkt(np.exp(logL), lr.prior_.weights)
            assert lr.converged_ and k <= 1e-8
            if rtol == 1e-2:  # the case the comment describes (rank ~210 of 300)
                assert lr.result_.low_rank["approx_kkt_exact"] == np.inf and lr.result_.low_rank["polished"]
            assert abs(lr.loglik_ - ex.loglik_) <= ex.gap_bound_ + lr.gap_bound_ + 1e-9 * abs(ex.loglik_)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("bad", [-1e-6, 0.0, 1.0, 2.0, float("nan"), float("inf")])
def test_bad_tolerance_rejected(bad):
    L, _, _ = smooth_matrix(200, 30)
    with pytest.raises(ValueError, match="low_rank"):
        mixsqp(L, low_rank=bad)
    with pytest.raises(ValueError, match="rtol"):
        low_rank_factor(L, bad)
    with pytest.raises(ValueError, match="low_rank"):
        dc.eb.NPMLE(low_rank=bad).fit(np.arange(20.0), se=1.0)


def test_bad_options_rejected():
    with pytest.raises(TypeError, match="low_rank"):
        resolve_low_rank("qr")
    assert resolve_low_rank(False) is None and resolve_low_rank(None) is None
    assert resolve_low_rank(True) == 1e-8 and resolve_low_rank(1e-5) == 1e-5
    z = np.random.default_rng(0).normal(size=50)
    with pytest.raises(ValueError, match="solver='mixsqp'"):
        dc.eb.NPMLE(solver="em", low_rank=True).fit(z, se=1.0)
    with pytest.raises(ValueError, match="matrix_free"):
        dc.eb.NPMLE(matrix_free=True, low_rank=True).fit(z, se=1.0)
    with pytest.raises(ValueError, match="max_rank"):
        low_rank_factor(np.ones((10, 5)), 1e-6, max_rank=0)
    with pytest.raises(ValueError, match="2-d"):
        low_rank_factor(np.ones(10), 1e-6)
    with pytest.raises(TypeError, match="rng"):
        low_rank_factor(np.ones((10, 5)), 1e-6, rng="seed")


def test_warm_start_close_to_the_optimum_is_finished_not_abandoned():
    # Regression (found by the low-rank polish): from a warm start whose only KKT
    # violations (~3e-7) sit on its own support, the first restricted solve runs at the
    # loose early tolerance (1e-4) and stops at once; the solver used to take that as
    # "no progress possible" and return uncertified. It must tighten and finish.
    rng = np.random.default_rng(0)
    z = rng.choice([-4.0, 0.0, 4.0], 3000) + rng.normal(size=3000)
    g = np.array([-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, 6.0])
    L = build_likelihood("normal", {"z": z, "se": np.ones(z.size)}, g).L
    ex = mixsqp(L)
    w = ex.weights.copy()
    w[1] *= 1 + 1e-6
    k0, _ = exact_kkt(L, w)
    assert 1e-8 < k0 < 1e-5  # not certified, but violated only on the support
    res = mixsqp(L, x0=w)
    k, _ = exact_kkt(L, res.weights)
    assert res.converged and k <= 1e-8
