"""SIMEX and MC-SIMEX: closed forms, known-truth simulations, interval coverage."""
import importlib
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv as dc

simex_mod = importlib.import_module("deconv.eiv._simex")


def test_nonlinear_extrapolant_recovers_moment_slope_from_exact_attenuation_curve():
    rng = np.random.default_rng(0)
    n, sigma2 = 400, 0.3
    x = rng.normal(size=n)
    w = x + rng.normal(0, np.sqrt(sigma2), n)
    y = 0.5 + 1.5 * x + rng.normal(size=n)
    s_wy = np.sum((w - w.mean()) * (y - y.mean()))
    s_ww = np.sum((w - w.mean()) ** 2)
    lam = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    # exact attenuation curve of the least-squares slope (issue 5 closed-form check)
    theta = s_wy / (s_ww + lam * (n - 1) * sigma2)
    value, curve, ok = simex_mod.extrapolate(lam, theta, "nonlinear")
    moment = dc.eiv.moments(w, y, error_var=sigma2).params[1]
    assert ok.all()
    assert_allclose(value[0], s_wy / (s_ww - (n - 1) * sigma2), rtol=1e-10)
    assert_allclose(value[0], moment, rtol=1e-10)
    assert_allclose(curve(lam)[:, 0], theta, rtol=1e-12)


@pytest.mark.parametrize("extrapolant, degree", [("linear", 1), ("quadratic", 2)])
def test_large_sample_limit_of_polynomial_extrapolants(extrapolant, degree):
    # theta(lambda) -> beta * R / (R + (1 + lambda)(1 - R)) as n -> inf (reliability R);
    # the extrapolant's limit is the least-squares polynomial through that curve at -1.
    beta, sx2, su2 = 2.0, 1.0, 0.5
    R = sx2 / (sx2 + su2)
    lam = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    g = beta * sx2 / (sx2 + (1 + lam) * su2)
    limit = np.polyval(np.polyfit(lam, g, degree), -1.0)
    rng = np.random.default_rng(1)
    n = 100_000
    x = rng.normal(0, np.sqrt(sx2), n)
    w = x + rng.normal(0, np.sqrt(su2), n)
    y = 1 + beta * x + rng.normal(size=n)
    res = dc.eiv.simex(w, y, error_var=su2, lambdas=lam[1:], n_sim=10,
                       extrapolant=extrapolant, variance=None, rng=7)
    # sampling sd of the SIMEX slope at this n is about 0.009
    assert abs(res.params[1] - limit) < 0.03
    assert abs(limit - beta) > 0.1 if degree == 1 else True      # known residual bias
    assert R < 1


def test_simex_linear_nonlinear_matches_moments_and_naive_is_theta0():
    rng = np.random.default_rng(2)
    n = 5000
    x = rng.normal(size=n)
    w = x + rng.normal(0, 0.6, n)
    y = 1 + 2 * x + rng.normal(size=n)
    res = dc.eiv.simex(w, y, error_sd=0.6, extrapolant="nonlinear", n_sim=200, rng=3)
    mom = dc.eiv.moments(w, y, error_sd=0.6)
    assert_allclose(res.naive_params, mom.naive_params, rtol=1e-12)
    assert_allclose(res.theta[0], mom.naive_params, rtol=1e-12)
    # SIMEX differs from the moment estimate only by Monte-Carlo error (B = 200)
    assert abs(res.params[1] - mom.params[1]) < 3 * mom.bse[1] / np.sqrt(200) + 0.01
    # jackknife and sandwich variances estimate the same thing
    sw = dc.eiv.simex(w, y, error_sd=0.6, extrapolant="nonlinear", n_sim=200, rng=3,
                      variance="sandwich")
    assert_allclose(sw.params, res.params, rtol=1e-12)
    assert_allclose(sw.bse[1], mom.bse[1], rtol=0.2)
    assert_allclose(res.bse[1], mom.bse[1], rtol=0.3)


def test_user_estimator_equals_builtin_with_same_seed():
    rng = np.random.default_rng(4)
    n = 300
    x = rng.normal(size=n)
    w = x + rng.normal(0, 0.5, n)
    y = 1 + x + rng.normal(size=n)

    def ols(wv, yv, z):
        X = np.column_stack([np.ones(yv.size), wv])
        b = np.linalg.lstsq(X, yv, rcond=None)[0]
        r = yv - X @ b
        return b, r @ r / (yv.size - 2) * np.linalg.inv(X.T @ X)
    a = dc.eiv.simex(w, y, error_sd=0.5, estimator=ols, n_sim=30, rng=5)
    b = dc.eiv.simex(w, y, error_sd=0.5, family="linear", n_sim=30, rng=5)
    assert_allclose(a.params, b.params, rtol=1e-10)
    assert_allclose(a.bse, b.bse, rtol=1e-8)


def test_heteroscedastic_error_variances():
    rng = np.random.default_rng(6)
    n = 10000
    x = rng.normal(size=n)
    s2 = rng.uniform(0.05, 0.8, n)                    # known per-observation variances
    w = x + rng.normal(size=n) * np.sqrt(s2)
    y = 1 + 2 * x + rng.normal(size=n)
    res = dc.eiv.simex(w, y, error_var=s2, extrapolant="nonlinear", n_sim=20, rng=8)
    assert abs(res.params[1] - 2) < 0.08
    # pretending the errors are homoscedastic with the same mean variance gives (almost)
    # the same linear-model answer: only sum(sigma_i^2) enters the attenuation
    hom = dc.eiv.simex(w, y, error_var=s2.mean(), extrapolant="nonlinear", n_sim=20, rng=8)
    assert abs(hom.params[1] - res.params[1]) < 0.03


@pytest.mark.parametrize("kind", ["laplace", "uniform", "rademacher",
                                  lambda g, shape: g.standard_t(6, shape) / np.sqrt(1.5)])
def test_non_normal_pseudo_errors(kind):
    rng = np.random.default_rng(9)
    n = 10000
    x = rng.normal(size=n)
    w = x + rng.laplace(0, 0.4, n)                     # Laplace measurement error, var 0.32
    y = 1 + 2 * x + rng.normal(size=n)
    res = dc.eiv.simex(w, y, error_var=0.32, pseudo_errors=kind, extrapolant="nonlinear",
                       n_sim=12, rng=10)
    assert abs(res.params[1] - 2) < 0.09


def test_bias_shrinks_with_n_logistic():
    # logistic: quadratic SIMEX is approximately unbiased; the naive estimate is attenuated
    rng = np.random.default_rng(11)
    out = {}
    for n in (1000, 30000):
        est, naive = [], []
        for _ in range(6):
            x = rng.normal(size=n)
            w = x + rng.normal(0, 0.5, n)
            y = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + x)))).astype(float)
            r = dc.eiv.simex(w, y, error_sd=0.5, family="logistic", n_sim=20,
                             extrapolant="nonlinear", variance=None, rng=int(rng.integers(1 << 30)))
            est.append(r.params[1])
            naive.append(r.naive_params[1])
        out[n] = (abs(np.mean(est) - 1), abs(np.mean(naive) - 1))
    assert out[30000][0] < 0.05
    assert out[30000][1] > 0.15                      # attenuation ~ 0.8 does not go away
    assert out[30000][0] < out[30000][1]


def _coverage(family, reps, n, seed, variance="jackknife", n_sim=25):
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(reps):
        x = rng.normal(size=n)
        w = x + rng.normal(0, 0.4, n)
        if family == "linear":
            y = 1 + x + rng.normal(size=n)
            ext = "nonlinear"
        else:
            y = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + x)))).astype(float)
            ext = "quadratic"
        r = dc.eiv.simex(w, y, error_sd=0.4, family=family, extrapolant=ext, n_sim=n_sim,
                         variance=variance, rng=int(rng.integers(1 << 30)))
        lo, hi = r.conf_int(0.05)[1]
        hits += lo <= 1.0 <= hi
    return hits / reps


@pytest.mark.parametrize("family, variance", [("linear", "jackknife"), ("logistic", "sandwich")])
def test_simex_interval_coverage(family, variance):
    # 200 replications: binomial sd 0.0154; accept 0.95 -+ 3 sd (jackknife with B = 25
    # is itself noisy, which the interval width absorbs)
    cov = _coverage(family, 200, 300, 12, variance, n_sim=20 if variance == "jackknife" else 8)
    assert 0.903 <= cov <= 0.997, cov


@pytest.mark.slow
@pytest.mark.parametrize("family", ["linear", "logistic"])
@pytest.mark.parametrize("variance", ["jackknife", "sandwich"])
def test_simex_interval_coverage_large(family, variance):
    cov = _coverage(family, 500, 600, 13, variance)
    assert 0.92 <= cov <= 0.98, cov      # 500 reps: binomial sd 0.0097


def test_poisson_simex_reduces_attenuation():
    rng = np.random.default_rng(14)
    n = 20000
    x = rng.normal(size=n)
    w = x + rng.normal(0, 0.5, n)
    y = rng.poisson(np.exp(0.2 + 0.5 * x)).astype(float)
    r = dc.eiv.simex(w, y, error_sd=0.5, family="poisson", extrapolant="nonlinear",
                     n_sim=30, rng=15)
    assert abs(r.params[1] - 0.5) < abs(r.naive_params[1] - 0.5)
    assert abs(r.params[1] - 0.5) < 0.04


def test_mcsimex_corrects_misclassification():
    rng = np.random.default_rng(16)
    n = 20000
    x = rng.integers(0, 2, n)
    pi = np.array([[0.85, 0.1], [0.15, 0.9]])             # P(W=i | X=j)
    flip = rng.random(n) < np.where(x == 1, pi[0, 1], pi[1, 0])
    w = np.where(flip, 1 - x, x)
    y = 1 + 2 * x + rng.normal(size=n)
    r = dc.eiv.mcsimex(w, y, pi=pi, n_sim=20, extrapolant="quadratic", rng=17)
    assert abs(r.naive_params[1] - 2) > 0.4
    assert abs(r.params[1] - 2) < 0.25
    # matrix power: Pi^1 reproduces Pi, Pi^0.5 squared is Pi
    P = simex_mod._matrix_power(pi, 0.5)
    assert_allclose(P @ P, pi, atol=1e-12)
    yl = (rng.random(n) < 1 / (1 + np.exp(-(-1 + x)))).astype(float)
    rl = dc.eiv.mcsimex(w, yl, pi=pi, family="logistic", n_sim=10, rng=18)
    assert abs(rl.params[1] - 1) < abs(rl.naive_params[1] - 1)


def test_simex_bad_input():
    rng = np.random.default_rng(19)
    w, y = rng.normal(size=50), rng.normal(size=50)
    with pytest.raises(ValueError, match="positive"):
        dc.eiv.simex(w, y, error_sd=0.5, lambdas=[0, 1])
    with pytest.raises(ValueError, match="family"):
        dc.eiv.simex(w, y, error_sd=0.5, family="probit")
    with pytest.raises(ValueError, match="0 and 1"):
        dc.eiv.simex(w, y, error_sd=0.5, family="logistic")
    with pytest.raises(ValueError, match="pseudo_errors"):
        dc.eiv.simex(w, y, error_sd=0.5, pseudo_errors="cauchy")
    with pytest.raises(ValueError, match="positive"):
        dc.eiv.simex(w, y, error_sd=-0.5)
    with pytest.raises(ValueError, match="no corrected estimate"):
        dc.eiv.simex(w, y, error_sd=2.0)
    with pytest.raises(ValueError, match="mismatched"):
        dc.eiv.simex(w, y[:-1], error_sd=0.5)
    with pytest.raises(ValueError, match="not both"):
        dc.eiv.simex(w, y, error_sd=0.5, family="linear", estimator=lambda a, b, c: [0, 0])
    with pytest.raises(ValueError, match="jackknife"):
        dc.eiv.simex(w, y, error_sd=0.5, estimator=lambda a, b, c: np.zeros(2), n_sim=3)
    with pytest.raises(ValueError, match="exceed 1"):
        dc.eiv.mcsimex((w > 0).astype(float), y, pi=[[0.4, 0.6], [0.6, 0.4]])
    with pytest.raises(ValueError, match="binary"):
        dc.eiv.mcsimex(w, y, pi=[[0.9, 0.1], [0.1, 0.9]])
    with pytest.raises(ValueError, match="columns summing"):
        dc.eiv.mcsimex((w > 0).astype(float), y, pi=[[0.9, 0.2], [0.2, 0.9]])


def test_simex_reproducible_and_plots():
    rng = np.random.default_rng(20)
    x = rng.normal(size=300)
    w = x + rng.normal(0, 0.5, 300)
    y = 1 + x + rng.normal(size=300)
    a = dc.eiv.simex(w, y, error_sd=0.5, n_sim=20, rng=21)
    b = dc.eiv.simex(w, y, error_sd=0.5, n_sim=20, rng=np.random.default_rng(21))
    assert_allclose(a.params, b.params, rtol=0, atol=0)
    assert a.theta.shape == (5, 2) and a.estimates.shape == (4, 20, 2)
    ax = a.plot()
    assert ax.get_ylabel() == "w"
    assert "SIMEX" in a.summary().as_text()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dc.eiv.simex(w, y, error_sd=0.5, n_sim=20, rng=21, progress=False)


def test_error_descriptions_give_identical_simex():
    rng = np.random.default_rng(22)
    n = 500
    x = rng.normal(size=n)
    wr = x[:, None] + rng.normal(0, 0.6, (n, 2))
    y = 1 + x + rng.normal(size=n)
    a = dc.eiv.simex(wr, y, replicates=True, n_sim=10, rng=1)
    res = dc.eiv.MeasurementError(replicates=True).resolve(wr)
    b = dc.eiv.simex(res.w, y, error_var=res.cov[0, 0], n_sim=10, rng=1)
    assert_allclose(a.params, b.params, rtol=1e-12)
    w = res.w[:, 0]
    rel = 1 - res.cov[0, 0] / w.var(ddof=1)
    c = dc.eiv.simex(w, y, reliability=rel, n_sim=10, rng=1)
    assert_allclose(c.params, b.params, rtol=1e-10)
    assert any("replicates" in note for note in a.notes)


def test_several_error_prone_covariates_with_correlated_errors():
    # p = 2 with a full error covariance and an error-free z: in the linear model the
    # nonlinear-extrapolant SIMEX approaches the moment estimate (up to MC error)
    rng = np.random.default_rng(24)
    n = 20000
    S = np.array([[0.3, 0.12], [0.12, 0.4]])
    x = rng.multivariate_normal([0, 0], [[1, 0.3], [0.3, 1]], n)
    z = rng.normal(size=n) + 0.3 * x[:, 1]
    w = x + rng.multivariate_normal([0, 0], S, n)
    y = 1 + x @ [1.0, -1.0] + 0.5 * z + rng.normal(size=n)
    res = dc.eiv.simex(w, y, z, error_var=S, extrapolant="nonlinear", n_sim=20,
                       variance="sandwich", rng=25)
    mom = dc.eiv.moments(w, y, z, error_var=S)
    assert res.param_names == ["const", "w0", "w1", "z0"]
    assert_allclose(res.params, mom.params, atol=0.04)
    assert_allclose(res.bse[1:3], mom.bse[1:3], rtol=0.35)


def _replicate_data(rng, n=150, sd_u=1.2, k=2):
    x = rng.normal(size=n)
    w = x[:, None] + rng.normal(0, sd_u, (n, k))
    y = 1 + x + rng.normal(0, 0.5, n)
    return w, y


@pytest.mark.parametrize("extrapolant", ["linear", "quadratic", "nonlinear"])
def test_replicate_error_variance_term_matches_finite_difference(extrapolant):
    # Independent check of the delta-method derivative: rerun SIMEX on the unit means with
    # the error variance treated as known and perturbed by (1 -+ eps), same pseudo-errors
    # (same rng), and difference the estimates. The analytic term uses only the slope of the
    # fitted extrapolant at lambda = -1; they agree to first order (rel. 2%).
    w, y = _replicate_data(np.random.default_rng(3))
    sig2 = np.sum((w - w.mean(axis=1, keepdims=True)) ** 2) / w.shape[0]   # df = n(k - 1)
    kw = dict(n_sim=40, rng=7, extrapolant=extrapolant, variance="jackknife")
    rep = dc.eiv.simex(w, y, replicates=True, **kw)
    known = dc.eiv.simex(w.mean(axis=1), y, error_var=sig2 / 2, **kw)
    # same pseudo-errors (the rational extrapolant is an iterative fit: 1e-8)
    assert_allclose(rep.params, known.params, rtol=1e-8)
    eps = 1e-3
    up = dc.eiv.simex(w.mean(axis=1), y, error_var=sig2 * (1 + eps) / 2, **kw).params
    dn = dc.eiv.simex(w.mean(axis=1), y, error_var=sig2 * (1 - eps) / 2, **kw).params
    d_fd = (up - dn) / (2 * eps)
    # the added variance is d d' Var(sigma_hat^2 / sigma^2), with the per-unit influence
    # (k = 2: SS_i - sigma^2 per unit)
    ss = np.sum((w - w.mean(axis=1, keepdims=True)) ** 2, axis=1)
    var_rel = np.sum(((ss - sig2) / (w.shape[0] * sig2)) ** 2)
    added = np.diag(rep.cov) - np.diag(known.cov)
    assert_allclose(added, d_fd ** 2 * var_rel, rtol=0.04)
    assert np.all(added > 0)
    assert any("propagated" in s for s in rep.notes)


@pytest.mark.slow
@pytest.mark.parametrize("variance, lo, hi", [("jackknife", 0.80, 1.08),
                                              ("sandwich", 0.92, 1.08)])
def test_replicate_error_variance_standard_errors_match_monte_carlo(variance, lo, hi):
    # 800 simulated data sets, 2 replicates per unit (df = 150 for the error variance):
    # the RMS of the reported SE against the Monte Carlo sd of the estimate (relative MC
    # error of that sd 2.5%). Measured (seed 5): sandwich 0.989 (0.95 without the
    # error-variance term); jackknife 0.862 (0.81 without) -- the Stefanski-Cook jackknife
    # itself runs low at n = 150.
    rng = np.random.default_rng(5)
    est, se = [], []
    for b in range(800):
        w, y = _replicate_data(rng)
        r = dc.eiv.simex(w, y, replicates=True, n_sim=50, rng=b, variance=variance)
        est.append(r.params[1])
        se.append(r.bse[1])
    ratio = np.sqrt(np.mean(np.square(se))) / np.std(est, ddof=1)
    assert lo <= ratio <= hi, ratio
