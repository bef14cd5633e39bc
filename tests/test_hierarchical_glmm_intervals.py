"""Intervals for GLMM variance components: profile likelihood on the Laplace deviance and
parametric bootstrap (deconv.hierarchical.glmm(...).conf_int)."""
import json
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import optimize, special, stats

import deconv.hierarchical as hm
from deconv.datasets.hierarchical import load_cbpp

REF = json.load(open(os.path.join(os.path.dirname(__file__), "data", "lme4_glmm_profile.json")))
FORMULAS = {"cbpp_binomial": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
            "cbpp_poisson_offset": ("incidence ~ period + offset(log(size)) + (1 | herd)", "poisson")}


@pytest.fixture(scope="module")
def cbpp_fits():
    cb = load_cbpp(as_frame=False)
    return {k: hm.glmm(f, cb, family=fam) for k, (f, fam) in FORMULAS.items()}


@pytest.mark.parametrize("case", sorted(FORMULAS))
@pytest.mark.parametrize("level", [0.95, 0.80])
def test_profile_interval_against_lme4_confint(cbpp_fits, case, level):
    # reference: lme4 1.1-31 confint(glmer(...), method = "profile") on cbpp, row .sig01
    # (tests/data/lme4_glmm_profile.R). lme4 interpolates its profile with splines through
    # a grid of points; we root-find the profile itself. Measured gap <= 3e-4 relative.
    res = cbpp_fits[case]
    vc = res.conf_int("profile", level=level)
    ref = REF[f"{case}_{int(round(100 * level))}"]
    assert ref["names"][0] == ".sig01"
    assert_allclose(res.theta, ref["theta"], rtol=1e-5)      # same fit as the reference
    assert_allclose([vc.lower[0], vc.upper[0]], [ref["lower"][0], ref["upper"][0]], rtol=1e-3)
    assert vc.lower[0] < vc.estimate[0] < vc.upper[0]
    assert "profile" in vc.label and "Laplace" in vc.label


def test_profile_limits_solve_the_profile_equation(cbpp_fits):
    # Independent check of the limits: at sd = limit, minimise the Laplace deviance over the
    # fixed effects with a different optimiser (Nelder-Mead) from a different start; the
    # rise above the minimum must equal the chi-square(1) 95% quantile (3.8415).
    res = cbpp_fits["cbpp_binomial"]
    vc = res.conf_int("profile")
    m, x = res._model, res._x
    dmin = res.deviance
    crit = stats.chi2.ppf(0.95, 1)
    for limit in (vc.lower[0], vc.upper[0]):
        best = optimize.minimize(lambda b: m.laplace(np.array([limit]), b), x[1:] + 0.05,
                                 method="Nelder-Mead",
                                 options=dict(xatol=1e-9, fatol=1e-11, maxiter=20000))
        assert_allclose(best.fun - dmin, crit, atol=2e-4)


@pytest.fixture(scope="module")
def cbpp_obs_fit():
    cb = load_cbpp(as_frame=False)
    cb["obs"] = np.arange(len(cb["herd"]))
    return hm.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)", cb)


def test_profile_two_factors_boundary_against_lme4(cbpp_obs_fit):
    # lme4's ?cbpp overdispersion model (herd + observation-level effect); its confint
    # (tests/data/lme4_glmm_profile.R) gives 0 as the lower limit of sd(herd): the profile
    # does not rise by chi2_1(0.95) when sd(herd) -> 0. Ours must say the same.
    ref = REF["cbpp_binomial_obs_95"]
    assert ref["theta_names"] == ["obs.(Intercept)", "herd.(Intercept)"]
    vc = cbpp_obs_fit.conf_int("profile", which=["herd: sd((Intercept))"])
    assert vc.names == ["obs: sd((Intercept))", "herd: sd((Intercept))"]
    assert ref["lower"][1] == 0.0 and vc.lower[1] == 0.0
    assert_allclose(vc.upper[1], ref["upper"][1], rtol=1e-3)
    assert np.isnan(vc.lower[0])                      # not requested


@pytest.mark.slow
def test_profile_two_factors_all_components_against_lme4(cbpp_obs_fit):
    ref = REF["cbpp_binomial_obs_95"]
    vc = cbpp_obs_fit.conf_int("profile")
    assert_allclose(vc.lower, ref["lower"][:2], rtol=1e-3)
    assert_allclose(vc.upper, ref["upper"][:2], rtol=1e-3)


def _logistic_deviance(X, succ, ntr):
    """-2 x binomial log-likelihood of a plain logistic regression (IRLS), with constants."""
    beta = np.zeros(X.shape[1])
    for _ in range(100):
        mu = special.expit(X @ beta)
        w = ntr * mu * (1 - mu)
        step = np.linalg.solve(X.T @ (X * w[:, None]), X.T @ (succ - ntr * mu))
        beta += step
        if np.max(np.abs(step)) < 1e-12:
            break
    eta = X @ beta
    return -2 * np.sum(stats.binom.logpmf(succ, ntr, special.expit(eta)))


def test_boundary_lower_limit_is_zero_when_profile_does_not_cross():
    # Two boundary situations. (a) sd estimated at 0 (no between-group variation in the
    # simulation): lower limit 0, finite upper limit. (b) small positive estimate whose
    # profile at sd = 0 (= the plain logistic-regression deviance, computed here by our own
    # IRLS) stays below the chi-square cut-off: lower limit 0 as well.
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(20), 4)
    ntr = np.full(80, 10.0)
    succ = rng.binomial(10, 0.3, size=80).astype(float)
    r = hm.glmm(y=np.column_stack([succ, ntr - succ]), groups=g)
    vc = r.conf_int("profile")
    assert r.theta[0] == 0.0 and vc.lower[0] == 0.0
    assert 0.05 < vc.upper[0] < 1.0
    found = False
    for seed in range(1, 30):
        rng = np.random.default_rng(seed)
        succ = rng.binomial(10, special.expit(-0.8 + 0.15 * rng.standard_normal(20)[g])).astype(float)
        r = hm.glmm(y=np.column_stack([succ, ntr - succ]), groups=g)
        if r.theta[0] < 1e-3:
            continue
        d0 = _logistic_deviance(np.ones((80, 1)), succ, ntr)
        rise = d0 - r.deviance
        if rise < stats.chi2.ppf(0.95, 1) - 0.1:
            vc = r.conf_int("profile")
            assert vc.lower[0] == 0.0 < vc.estimate[0] < vc.upper[0]
            found = True
            break
    assert found


def test_bootstrap_intervals_reproducible_and_sensible(cbpp_fits):
    res = hm.glmm(*FORMULAS["cbpp_binomial"][:1], load_cbpp(as_frame=False))
    a = res.conf_int("bootstrap", n_boot=12, rng=3)
    draws = res.bootstrap_draws["variance_components"].copy()
    b = res.conf_int("bootstrap", n_boot=12, rng=np.random.default_rng(3))
    assert_allclose(res.bootstrap_draws["variance_components"], draws, rtol=0, atol=0)
    assert_allclose(a.lower, b.lower, rtol=0)
    assert a.lower[0] < a.estimate[0] < a.upper[0]
    assert "bootstrap" in a.label
    # the bootstrap distribution of the fixed effects is centred near the estimates
    # (Monte Carlo: 12 draws, sd of the mean ~ SE / 3.5)
    fe = res.bootstrap_draws["fixed_effects"]
    assert np.all(np.abs(fe.mean(axis=0) - res.beta) < 1.5 * res.fixed_effects.se)


def test_bootstrap_simulation_matches_model_moments(cbpp_fits):
    # the simulator behind the bootstrap: Poisson counts with log link and a normal random
    # intercept have marginal mean exp(eta + sd^2 / 2) (lognormal mean); binomial counts
    # never exceed the trials
    from deconv.hierarchical.generalized import _glmm_simulate
    res = cbpp_fits["cbpp_poisson_offset"]
    m, x = res._model, res._x
    rng = np.random.default_rng(5)
    sims = np.array([_glmm_simulate(m, x[:1], x[1:], rng) for _ in range(4000)])
    eta = m.d.offset + m.d.X @ x[1:]
    expect = np.exp(eta + x[0] ** 2 / 2)
    # Poisson-lognormal variance: mean + mean^2 (exp(sd^2) - 1); z-scores of the 56 means
    # over 4000 draws are N(0, 1): all within 4.5
    var = expect + expect ** 2 * np.expm1(x[0] ** 2)
    z = (sims.mean(axis=0) - expect) / np.sqrt(var / len(sims))
    assert np.max(np.abs(z)) < 4.5
    rb = cbpp_fits["cbpp_binomial"]
    yb = _glmm_simulate(rb._model, rb._x[:1], rb._x[1:], rng)
    assert_allclose(yb.sum(axis=1), rb._model.ntr)
    assert np.all(yb >= 0)


def test_ci_method_at_fit_time_and_bad_arguments(cbpp_fits):
    f, fam = FORMULAS["cbpp_poisson_offset"]
    r = hm.glmm(f, load_cbpp(as_frame=False), family=fam, ci_method="profile", level=0.8)
    ref = REF["cbpp_poisson_offset_80"]
    assert_allclose([r.variance_components.lower[0], r.variance_components.upper[0]],
                    [ref["lower"][0], ref["upper"][0]], rtol=1e-3)
    res = cbpp_fits["cbpp_binomial"]
    with pytest.raises(ValueError, match="method"):
        res.conf_int("wald")
    with pytest.raises(ValueError, match="which"):
        res.conf_int("profile", which=["nope"])
    with pytest.raises(ValueError, match="n_boot"):
        res.conf_int("bootstrap", n_boot=2)


def _coverage(n_rep, seed):
    """Share of profile intervals (95%) covering the true sd in a simulated logistic GLMM."""
    sd_true = 0.8
    rng = np.random.default_rng(seed)
    G, m = 30, 6
    g = np.repeat(np.arange(G), m)
    x = rng.standard_normal(G * m)
    X = np.column_stack([np.ones(G * m), x])
    ntr = np.full(G * m, 8.0)
    hits = 0
    for _ in range(n_rep):
        eta = -0.5 + 0.7 * x + sd_true * rng.standard_normal(G)[g]
        succ = rng.binomial(8, special.expit(eta)).astype(float)
        r = hm.glmm(y=np.column_stack([succ, ntr - succ]), X=X, groups=g)
        vc = r.conf_int("profile")
        hits += vc.lower[0] <= sd_true <= vc.upper[0]
    return hits / n_rep


def test_profile_coverage_small():
    # 25 replications: binomial sd of the coverage at 0.95 is 0.044; 0.8 is > 3 sd below
    assert _coverage(25, 11) >= 0.8


@pytest.mark.slow
def test_profile_coverage_200_replications():
    # 200 replications: 0.95 +- 3 x 0.0154
    cov = _coverage(200, 12)
    assert 0.95 - 0.047 <= cov <= 0.95 + 0.047
