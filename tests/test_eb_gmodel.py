"""Efron's g-modeling: derivatives, spline basis, delta-method SEs vs parametric bootstrap."""
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.interpolate import CubicSpline

import deconv as dc
from deconv.eb.gmodel import natural_spline_basis


def test_natural_spline_basis_spans_natural_cubic_splines():
    x = np.linspace(-4, 3, 91)
    Q = natural_spline_basis(x, 6)
    assert Q.shape == (91, 6)
    assert_allclose(Q.T @ Q, np.eye(6), atol=1e-12)  # orthonormal
    assert_allclose(Q.sum(axis=0), 0, atol=1e-12)  # centred
    # any natural cubic interpolant on the same knots lies in span{1, Q} (scipy reference)
    knots = np.quantile(x, np.linspace(0, 1, 7))
    y = np.random.default_rng(0).normal(size=7)
    target = CubicSpline(knots, y, bc_type="natural")(x)
    X = np.column_stack([np.ones(x.size), Q])
    coef = np.linalg.lstsq(X, target, rcond=None)[0]
    assert_allclose(X @ coef, target, atol=1e-9)


def _data(n, seed):
    rng = np.random.default_rng(seed)
    theta = np.where(rng.random(n) < 0.8, 0.0, rng.normal(-2.5, 1.0, n))
    s = rng.uniform(0.7, 1.3, n)
    return theta, theta + s * rng.normal(size=n), s


def test_gradient_and_information_match_finite_differences():
    theta, z, s = _data(400, 1)
    eb = dc.eb.GModel(df=4, penalty=1.0, grid=np.linspace(-6, 3, 40)).fit(z, se=s)
    Q, lik = eb.Q_, eb.likelihood_
    a = eb.alpha_ + 0.1
    ll, grad, g, f = eb._loglik_grad(a, Q, lik)
    h = 1e-6
    num = np.array([(eb._loglik_grad(a + h * e, Q, lik)[0] - eb._loglik_grad(a - h * e, Q, lik)[0]) / (2 * h)
                    for e in np.eye(a.size)])
    assert_allclose(grad, num, rtol=1e-6, atol=1e-6)
    info = eb._info(Q, lik, g, f)
    num_h = -np.array([(eb._loglik_grad(a + h * e, Q, lik)[1] - eb._loglik_grad(a - h * e, Q, lik)[1]) / (2 * h)
                       for e in np.eye(a.size)])
    assert_allclose(info, num_h, rtol=1e-5, atol=1e-5)
    # at the optimum the penalised score vanishes
    _, gr, _, _ = eb._loglik_grad(eb.alpha_, Q, lik)
    pg = eb._penalty(eb.alpha_, 1.0)[1]
    assert np.max(np.abs(gr - pg)) < 1e-6


def test_zero_penalty_gmodel_fits_at_least_as_well_as_penalised_and_below_npmle():
    theta, z, s = _data(1500, 2)
    grid = np.linspace(z.min(), z.max(), 60)
    g0 = dc.eb.GModel(df=8, penalty=0.0, grid=grid).fit(z, se=s)
    g1 = dc.eb.GModel(df=8, penalty=5.0, grid=grid).fit(z, se=s)
    npm = dc.eb.NPMLE(grid=grid).fit(z, se=s)
    assert g0.loglik_ >= g1.loglik_ - 1e-8
    assert npm.loglik_ >= g0.loglik_ - 1e-8  # the NPMLE maximises over all priors on the grid


GRID = np.arange(-6, 3.01, 0.25)


def _fits_and_bootstrap(n_boot, seed):
    """Delta and recentred fits of one data set and a parametric bootstrap of it."""
    theta, z, s = _data(1000, seed)
    delta = dc.eb.GModel(df=5, penalty=1.0, grid=GRID).fit(z, se=s)
    rec = dc.eb.GModel(df=5, penalty=1.0, grid=GRID, se_method="recentred").fit(z, se=s)
    assert_allclose(rec.prior_.weights, delta.prior_.weights, rtol=0, atol=0)  # same estimate
    return delta, rec, delta.parametric_bootstrap(n_boot, rng=seed)


@pytest.fixture(scope="module")
def boot80():
    return _fits_and_bootstrap(80, 3)


def _cdf_mean_ratios(eb, boot):
    """SE / bootstrap sd for the prior CDF at four points and the prior mean."""
    funcs = [(GRID <= c).astype(float) for c in (-3.0, -2.0, -1.0, 0.5)] + [GRID]
    return np.array([eb.prior_expectation(a)[1] / (boot @ a).std(ddof=1) for a in funcs])


def test_delta_method_se_agrees_with_parametric_bootstrap_small(boot80):
    # 80 bootstrap replicates: the bootstrap sd itself has ~8% relative error, so 25% here
    delta, rec, boot = boot80
    for eb in (delta, rec):
        r = _cdf_mean_ratios(eb, boot)
        assert np.all(np.abs(r - 1) < 0.25), r


def test_recentred_pointwise_se_and_bias_agree_with_bootstrap_small(boot80):
    delta, rec, boot = boot80
    g = rec.prior_.weights
    sd = boot.std(axis=0, ddof=1)
    keep = g > 1e-3  # see the slow test for the far tails
    r = rec.prior_.weights_se[keep] / sd[keep]
    assert np.all(np.abs(r - 1) < 0.25), r  # 80 replicates: ~8% noise
    # the bootstrap centres where the recentred method says: its mean shift is g* - g_hat up
    # to the curvature term and the Monte Carlo error of an 80-replicate mean (0.11 sd):
    # within 0.4 sd (measured <= 0.32 sd; the delta method's first-order bias: up to 0.67 sd)
    shift = boot.mean(axis=0) - g
    assert np.all(np.abs(shift[keep] - rec.bias_g_[keep]) < 0.4 * sd[keep])


@pytest.mark.slow
def test_se_agree_with_parametric_bootstrap_within_10pct():
    # 400 replicates -> bootstrap sd relative error ~3.5%.
    delta, rec, boot = _fits_and_bootstrap(400, 4)
    # delta method (Efron 2016, deconvolveR): smooth functionals (measured 0.93--1.08)
    assert np.all(np.abs(_cdf_mean_ratios(delta, boot) - 1) < 0.10)
    # recentred: smooth functionals (measured 0.94--1.00) and every grid point where
    # g > 5e-4, 32 of 37 (measured 0.96--1.07; the delta method is off by up to 1.6x there).
    # The 5 outermost points (g = 6e-6 .. 1.3e-4) measure 0.73--0.90: there the bootstrap
    # distribution of g_j is strongly skewed and no linearisation holds.
    assert np.all(np.abs(_cdf_mean_ratios(rec, boot) - 1) < 0.10)
    g = rec.prior_.weights
    keep = g > 5e-4
    r = rec.prior_.weights_se[keep] / boot.std(axis=0, ddof=1)[keep]
    assert np.all(np.abs(r - 1) < 0.10), r
    # posterior means E[theta | z] of units with s = 1: recentred measured 0.99--1.03
    # (the delta method 1.01--1.29)
    zt = np.array([-5.0, -4.0, -3.0, -2.0, -1.0, 0.0, 1.0])
    Lt = np.exp(-0.5 * (zt[:, None] - GRID[None, :]) ** 2)
    pm = (boot * GRID) @ Lt.T / (boot @ Lt.T)
    m, se, bias = rec.posterior_expectation(GRID, zt, np.ones(zt.size))
    assert np.all(np.abs(se / pm.std(axis=0, ddof=1) - 1) < 0.10)
    # the bias (shift of the centre) leaves out the curvature term 1/2 tr(h'' cov) of the
    # bootstrap mean: agreement within a quarter of the sd (measured <= 0.16 sd)
    assert np.all(np.abs(pm.mean(axis=0) - m - bias) < 0.25 * pm.std(axis=0, ddof=1))


@pytest.mark.parametrize("family", ["normal", "poisson", "binomial", "matrix"])
def test_expected_data_has_zero_mean_score_at_the_estimate(family):
    # Data drawn from g(alpha_hat) have E[score(alpha_hat)] = 0 exactly: a check that the
    # outcome enumeration / quadrature of the recentred method covers the sample space.
    rng = np.random.default_rng(5)
    if family == "normal":
        n = 300
        eb = dc.eb.GModel(df=4).fit(rng.normal(0, 1.5, n) + rng.normal(size=n),
                                    se=rng.uniform(0.5, 1.5, n))
    elif family == "poisson":
        n = 300
        eb = dc.eb.GModel("poisson", df=4).fit(rng.poisson(rng.gamma(3, 1, n)),
                                               exposure=rng.choice([0.5, 1.0, 2.0], n))
    elif family == "binomial":
        n = 300
        tr = rng.integers(5, 20, n)
        eb = dc.eb.GModel("binomial", df=4).fit(rng.binomial(tr, rng.beta(2, 5, n)), trials=tr)
    else:
        tau = np.linspace(0.5, 12, 30)
        k = np.arange(60)
        from scipy import stats
        logL = stats.poisson.logpmf(k[:, None], tau)
        y = np.bincount(rng.poisson(rng.gamma(4, 1.2, 2000)), minlength=60)[:60]
        eb = dc.eb.GModel("matrix", df=4, grid=tau).fit(logL, weights=y)
        n = y.sum()
    g = eb.prior_.weights
    elik, w, gid, n_group = eb._expected_data(eb.likelihood_, eb.grid_, g)
    assert_allclose(np.bincount(gid, weights=w), n_group, rtol=1e-12)
    assert_allclose(n_group.sum(), n, rtol=1e-12)
    f = elik.L @ g
    mean_score = ((elik.L * (g / f[:, None]) - g) @ eb.Q_).T @ w
    assert np.max(np.abs(mean_score)) < 1e-8 * n  # quadrature / truncation error only


def test_gmodel_intervals_cover_for_smooth_prior_and_families():
    rng = np.random.default_rng(12)
    n = 5000
    theta = rng.uniform(-3, 3, n)
    s = rng.uniform(0.5, 1.5, n)
    z = theta + s * rng.normal(size=n)
    eb = dc.eb.GModel(df=6).fit(z, se=s)
    assert eb.converged_
    lo, hi = eb.posterior_interval(0.9)
    assert abs(np.mean((lo <= theta) & (theta <= hi)) - 0.9) < 0.02  # 0.897 observed
    # poisson and binomial families run and give sensible prior means
    lam = rng.gamma(4.0, 0.5, 3000)
    gp = dc.eb.GModel(family="poisson", df=5).fit(rng.poisson(lam))
    assert abs(gp.prior_.mean() - 2.0) < 0.1
    tr = rng.integers(10, 40, 3000)
    gb = dc.eb.GModel(family="binomial", df=5).fit(rng.binomial(tr, rng.beta(3, 7, 3000)), trials=tr)
    assert abs(gb.prior_.mean() - 0.3) < 0.02
    assert "g-modeling" in str(gb.summary())


def test_gmodel_bad_input():
    with pytest.raises(ValueError, match="df must be smaller"):
        dc.eb.GModel(df=10, grid=np.linspace(0, 1, 8)).fit([0.1, 0.5], se=1.0)
    with pytest.raises(ValueError, match="penalty"):
        dc.eb.GModel(penalty=-1.0).fit([0.1, 0.5], se=1.0)
    with pytest.raises(TypeError, match="df must be an integer"):
        dc.eb.GModel(df=2.5).fit([0.1, 0.5], se=1.0)


def test_posterior_expectations_se_agree_with_bootstrap(boot80):
    delta, rec, boot = boot80
    zt, st = np.array([-4.0, -2.0, 0.0]), np.ones(3)
    # the same quantities under each bootstrap prior (normal likelihood by hand)
    Lt = np.exp(-0.5 * (zt[:, None] - GRID[None, :]) ** 2)
    pm = (boot * GRID) @ Lt.T / (boot @ Lt.T)          # posterior means
    p0 = (boot * (GRID == 0)) @ Lt.T / (boot @ Lt.T)    # lfdr of the null 0
    for eb in (delta, rec):
        m, se, bias = eb.posterior_expectation(GRID, zt, st)
        assert_allclose(m, (eb.prior_.weights * GRID) @ Lt.T / (eb.prior_.weights @ Lt.T),
                        rtol=1e-12)
        assert np.all(np.abs(se / pm.std(axis=0, ddof=1) - 1) < 0.25)  # 80 replicates: ~8% noise
        assert np.all(np.isfinite(bias))
        assert_allclose(eb.posterior_mean_se(zt, st)[0], se, rtol=1e-12)
    _, se0, _ = rec.posterior_expectation((GRID == 0).astype(float), zt, st)
    assert np.all(np.abs(se0 / p0.std(axis=0, ddof=1) - 1) < 0.3), se0 / p0.std(axis=0, ddof=1)
    se_all, _ = delta.posterior_mean_se()
    assert se_all.shape == (1000,) and np.all(se_all > 0)


def test_gmodel_new_options_bad_input():
    z, s = [0.1, 0.5, -1.0], 1.0
    grid = np.linspace(-2, 2, 9)
    with pytest.raises(ValueError, match="se_method"):
        dc.eb.GModel(se_method="jackknife", grid=grid, df=3).fit(z, se=s)
    with pytest.raises(ValueError, match="information"):
        dc.eb.GModel(information="fisher", grid=grid, df=3).fit(z, se=s)
    with pytest.raises(ValueError, match="basis"):
        dc.eb.GModel(basis="bspline", grid=grid, df=3).fit(z, se=s)
    with pytest.raises(ValueError, match="atom"):
        dc.eb.GModel(atom=0.1, grid=grid, df=3).fit(z, se=s)
    with pytest.raises(ValueError, match="basis has 3 rows"):
        dc.eb.GModel(basis=np.ones((3, 2)), grid=grid).fit(z, se=s)
    with pytest.raises(ValueError, match="full column rank"):
        dc.eb.GModel(basis=np.ones((9, 2)), grid=grid).fit(z, se=s)  # constant columns
    with pytest.raises(ValueError, match="weights has 2 values"):
        dc.eb.GModel(grid=grid, df=3).fit(z, se=s, weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="non-negative"):
        dc.eb.GModel(grid=grid, df=3).fit(z, se=s, weights=[1.0, -2.0, 1.0])
    with pytest.raises(ValueError, match="weights="):
        dc.eb.GModel("matrix", grid=grid, df=3, se_method="recentred").fit(np.zeros((4, 9)))
    with pytest.raises(ValueError, match="does not support weights"):
        dc.eb.GModel(grid=grid, df=3, information="expected").fit(z, se=s, weights=[1, 1, 1])
    with pytest.warns(dc.exceptions.DeconvWarning, match="flat prior"):  # 3 points: too few
        eb = dc.eb.GModel(grid=grid, df=3).fit(z, se=s, weights=[1.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="weights"):
        eb.parametric_bootstrap(5, rng=0)
    with pytest.raises(ValueError, match="one value per grid point"):
        eb.posterior_expectation(np.ones(3))


def test_weights_equal_repeated_rows_and_atom_adds_a_spike():
    rng = np.random.default_rng(8)
    z = np.round(rng.normal(0, 2, 200), 1)
    grid = np.linspace(-6, 6, 25)
    uz, cnt = np.unique(z, return_counts=True)
    a = dc.eb.GModel(grid=grid, df=4).fit(z, se=1.0)
    b = dc.eb.GModel(grid=grid, df=4).fit(uz, se=1.0, weights=cnt)
    # frequency weights = repeated rows, up to the optimiser's stopping point (measured 2e-10)
    assert_allclose(b.prior_.weights, a.prior_.weights, rtol=0, atol=1e-8)
    assert_allclose(b.penalized_loglik_, a.penalized_loglik_, rtol=1e-12)
    theta = np.where(rng.random(3000) < 0.7, 0.0, rng.normal(-3, 1, 3000))
    zz = theta + rng.normal(size=3000)
    spike = dc.eb.GModel(df=5, atom=0.0, grid=np.arange(-7, 3.01, 0.25)).fit(zz, se=1.0)
    assert abs(spike.prior_.weights[spike.grid_ == 0][0] - 0.7) < 0.05  # the null mass
    assert "atom" in str(spike.summary())


def test_flat_likelihood_gives_the_flat_prior_exactly():
    # no information: the penalty's subgradient condition holds at alpha = 0 (uniform g)
    with pytest.warns(dc.exceptions.DeconvWarning, match="flat prior"):
        eb = dc.eb.GModel("matrix", grid=np.linspace(0, 1, 9), df=3).fit(np.zeros((4, 9)))
    assert eb.converged_ and np.all(eb.alpha_ == 0)
    assert_allclose(eb.prior_.weights, np.full(9, 1 / 9), rtol=1e-15)
    assert eb.penalty_ratio_ == np.inf


@pytest.mark.slow
def test_recentred_se_binomial_agree_with_bootstrap():
    # surgery-like binomial data (844 units, 1..39 trials; the published surg data are not
    # available). 400 bootstrap replicates: sd error ~3.5%. Measured: recentred 0.98--1.08 at
    # every grid point with g > 5e-4; delta with deconvolveR's outer-product information
    # up to 1.43 (observed information 0.98--1.17).
    rng = np.random.default_rng(11)
    n = 844
    tr = rng.integers(1, 40, n)
    k = rng.binomial(tr, np.where(rng.random(n) < 0.6, rng.beta(1, 15, n), rng.beta(6, 6, n)))
    grid = np.arange(1, 100) / 100
    eb = dc.eb.GModel("binomial", df=5, basis="ns", grid=grid, se_method="recentred").fit(k, trials=tr)
    boot = eb.parametric_bootstrap(400, rng=1)
    g, sd = eb.prior_.weights, boot.std(axis=0, ddof=1)
    keep = g > 5e-4
    assert np.all(np.abs(eb.prior_.weights_se[keep] / sd[keep] - 1) < 0.10)
    for a in [(grid <= c).astype(float) for c in (0.1, 0.3, 0.5, 0.8)] + [grid]:
        assert abs(eb.prior_expectation(a)[1] / (boot @ a).std(ddof=1) - 1) < 0.10


@pytest.mark.slow
def test_recentred_se_poisson_with_exposures_agree_with_bootstrap():
    # 1500 units, exposures 0.5--4, a bimodal gamma mixture; 400 replicates (sd error ~3.5%).
    # Measured: recentred 0.96--1.05 at the 55 grid points with g > 5e-4 (delta up to 1.46).
    rng = np.random.default_rng(21)
    n = 1500
    e = rng.choice([0.5, 1.0, 2.0, 4.0], n)
    k = rng.poisson(np.where(rng.random(n) < 0.7, rng.gamma(2, 1, n), rng.gamma(30, 0.4, n)) * e)
    grid = np.linspace(0.05, 25, 60)
    eb = dc.eb.GModel("poisson", df=6, grid=grid, se_method="recentred").fit(k, exposure=e)
    boot = eb.parametric_bootstrap(400, rng=2)
    g, sd = eb.prior_.weights, boot.std(axis=0, ddof=1)
    keep = g > 5e-4
    assert np.all(np.abs(eb.prior_.weights_se[keep] / sd[keep] - 1) < 0.10)
    for a in [(grid <= c).astype(float) for c in (1, 3, 8, 15)] + [grid]:
        assert abs(eb.prior_expectation(a)[1] / (boot @ a).std(ddof=1) - 1) < 0.10


def test_expected_information_is_the_fisher_information():
    # binomial: sum over units and every outcome k = 0..n_i of P(k) s(k) s(k)', by brute force
    from scipy import stats
    rng = np.random.default_rng(3)
    tr = rng.integers(2, 12, 60)
    k = rng.binomial(tr, rng.beta(2, 3, 60))
    grid = np.linspace(0.02, 0.98, 25)
    eb = dc.eb.GModel("binomial", df=4, grid=grid, information="expected").fit(k, trials=tr)
    g, Q = eb.prior_.weights, eb.Q_
    ref = np.zeros((4, 4))
    for n in tr:
        P = stats.binom.pmf(np.arange(n + 1)[:, None], n, grid[None, :])
        f = P @ g
        S = (P * g / f[:, None] - g) @ Q
        ref += (S * f[:, None]).T @ S
    assert_allclose(eb.info_, ref, rtol=1e-10)
    # normal: our quadrature against scipy.integrate.quad (5 units with the same s)
    from scipy import integrate
    e1 = dc.eb.GModel(df=3, penalty=0.01, grid=np.linspace(-3, 3, 13),
                      information="expected").fit([-1.5, 0.4, 2.0, 0.3, -0.2], se=0.8)
    g, Q, th = e1.prior_.weights, e1.Q_, e1.grid_

    def integrand(zz, a, b):
        L = stats.norm.pdf(zz, th, 0.8)
        f = L @ g
        s = Q.T @ (L * g / f - g)
        return s[a] * s[b] * f

    ref = 5 * np.array([[integrate.quad(integrand, -12, 12, args=(a, b), epsabs=1e-12,
                                        limit=200)[0] for b in range(3)] for a in range(3)])
    assert_allclose(e1.info_, ref, rtol=1e-7, atol=1e-10)
