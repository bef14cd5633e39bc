"""Sampler routes of the hierarchical front door (deconv.hierarchical.bayes).

Independent checks: exact quadrature posteriors (deconv.hierarchical.means and a 2-D grid
written here), REML/Laplace fits of the exact solvers, finite-difference gradients, and a
simulation with known truth for the Student-t extension.
"""
import warnings

import matplotlib
import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv.hierarchical as hm
from deconv.datasets.hierarchical import load_cbpp, load_eight_schools, load_sleepstudy
from deconv.exceptions import SamplingWarning
from deconv.hierarchical.bayes import (HeteroscedasticLMM, NormalMeansModel, StudentTLMM,
                                       glmm_bayes, lmm_bayes, normal_means_bayes)
from deconv.hierarchical.results import HierarchicalResult
from deconv.sampling import Posterior

matplotlib.use("Agg")

ES = load_eight_schools()


def _grid_posterior(y, se, mu_sd, tau_scale):
    """Eight-schools posterior by brute-force 2-D quadrature over (mu, tau) with theta
    integrated out (y_j | mu, tau ~ N(mu, s_j^2 + tau^2)); mu ~ N(0, mu_sd^2),
    tau ~ half-Cauchy(0, tau_scale). Returns E[mu], E[tau], E[theta_j]."""
    mu = np.linspace(-60, 70, 651)[:, None]
    tau = np.linspace(0, 150, 1501)[None, :]
    v = se[:, None, None] ** 2 + tau ** 2
    ll = -0.5 * np.sum(np.log(v) + (y[:, None, None] - mu) ** 2 / v, axis=0)
    lp = ll - 0.5 * (mu / mu_sd) ** 2 - np.log1p((tau / tau_scale) ** 2)
    p = np.exp(lp - lp.max())
    p[:, 0] *= 0.5      # trapezoid rule in tau: the density is not small at the tau = 0 edge
    p /= p.sum()
    # E[theta_j | mu, tau, y]: precision-weighted average of y_j and mu
    with np.errstate(divide="ignore", invalid="ignore"):
        wt = np.where(tau > 0, 1 / tau ** 2, np.inf)
        th = np.where(tau > 0, (y[:, None, None] / se[:, None, None] ** 2 + mu * wt) /
                      (1 / se[:, None, None] ** 2 + wt), mu)
    return np.sum(p * mu), np.sum(p * tau), np.sum(p * th, axis=(1, 2))


def _fd_check(f, z, h=1e-6):
    lp, g = f(z)
    num = np.array([(f(z + h * e)[0] - f(z - h * e)[0]) / (2 * h) for e in np.eye(z.size)])
    assert np.isfinite(lp)
    assert_allclose(g, num, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("mu_sd,tau_scale", [(None, None), (None, 5.0), (5.0, 2.0)])
def test_normal_means_model_gradient_matches_finite_differences(mu_sd, tau_scale):
    rng = np.random.default_rng(1)
    m = NormalMeansModel(ES["y"], ES["se"], mu_sd, tau_scale)
    for _ in range(3):
        _fd_check(m, rng.normal(size=m.dim))


@pytest.mark.parametrize("nu", [None, 4.0])
def test_student_t_lmm_gradient_matches_finite_differences(nu):
    rng = np.random.default_rng(2)
    n, J = 40, 5
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    g = rng.integers(0, J, n)
    y = rng.standard_t(3, n)
    m = StudentTLMM(y, X, g, J, nu=nu)
    for _ in range(3):
        _fd_check(m, rng.normal(0, 0.7, size=m.dim))


def test_heteroscedastic_lmm_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    n, J = 40, 5
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    g = rng.integers(0, J, n)
    m = HeteroscedasticLMM(rng.normal(size=n), X, g, J)
    for _ in range(3):
        _fd_check(m, rng.normal(0, 0.7, size=m.dim))


# ------------------------------------------------------------------- normal means / 8 schools
def test_eight_schools_python_route_matches_exact_quadrature_of_means():
    # same priors as deconv.hierarchical.means method="bayes" with a half-Cauchy(0, 5) on tau:
    # flat on mu -> the Python density route; agreement within 4 Monte Carlo standard errors
    res = normal_means_bayes(ES["y"], ES["se"], mu_prior_sd=None, tau_prior_scale=5.0,
                             rng=3, chains=4, warmup=400, draws=1000, warn=False)
    exact = hm.normal_means(ES["y"], ES["se"], method="bayes", tau_prior=("half-cauchy", 5.0))
    for tab, ex in ((res.fixed_effects, exact.fixed_effects),
                    (res.variance_components, exact.variance_components)):
        assert abs(tab.estimate[0] - ex.estimate[0]) < 4 * tab.extra["mcse"][0]
        # posterior sds agree to Monte Carlo accuracy too (~1/sqrt(2 ESS) relative)
        assert abs(tab.se[0] / ex.se[0] - 1) < 4 / np.sqrt(2 * tab.extra["ess_bulk"][0])
    g, ge = res.group_effects["group"], exact.group_effects["group"]
    assert np.all(np.abs(g.estimate - ge.estimate) < 4 * g.extra["mcse"])
    assert "Python density" in res.method_reason


def test_eight_schools_compiled_route_matches_2d_quadrature():
    # compiled EightSchools priors: mu ~ N(0, 5^2), tau ~ half-Cauchy(0, 5)
    res = normal_means_bayes(ES["y"], ES["se"], rng=4, chains=4, warmup=500, draws=2000,
                             warn=False)
    mu, tau, theta = _grid_posterior(ES["y"], ES["se"], 5.0, 5.0)
    # the grid itself is checked against the exact 1-D quadrature of deconv.hierarchical.means
    # (flat mu: prior sd 1e6): E[tau | y] = 3.6338 there, 3.6340 by scipy.integrate.quad
    exact = hm.normal_means(ES["y"], ES["se"], method="bayes", tau_prior=("half-cauchy", 5.0))
    _, tau_flat, _ = _grid_posterior(ES["y"], ES["se"], 1e6, 5.0)
    assert_allclose(tau_flat, exact.variance_components.estimate[0], rtol=1e-3)
    assert abs(res.fixed_effects.estimate[0] - mu) < 4 * res.fixed_effects.extra["mcse"][0]
    vc = res.variance_components
    assert abs(vc.estimate[0] - tau) < 4 * vc.extra["mcse"][0]
    g = res.group_effects["group"]
    assert np.all(np.abs(g.estimate - theta) < 4 * g.extra["mcse"])
    # BDA3 / Stan eight schools: posterior mean of tau about 3.6 under these priors
    assert 3.0 < vc.estimate[0] < 4.2
    assert res.fit_stats["divergences"] == 0 and res.fit_stats["max R-hat"] < 1.01


def test_normal_means_result_surface_and_plots():
    res = normal_means_bayes(ES["y"], ES["se"], names=list("ABCDEFGH"), rng=5, chains=2,
                             warmup=200, draws=300, warn=False)
    assert isinstance(res, HierarchicalResult)
    assert isinstance(res.posterior, Posterior)
    assert res.posterior.draws.shape == (2, 300, 10)
    assert res.fixed_effects.kind == res.variance_components.kind == "posterior"
    assert "credible interval" in res.fixed_effects.label
    txt = res.summary().as_text()
    for key in ("max R-hat", "min bulk ESS", "divergences", "full Bayes (NUTS)", "half-Cauchy"):
        assert key in txt
    assert res.group_effects["group"].names[0] == "A"
    ax = res.plot()
    assert ax.get_title()
    ax = res.plot(kind="shrinkage")
    assert "shrinkage" in ax.get_title()
    # credible intervals are ordered and contain the posterior mean
    for tab in (res.fixed_effects, res.variance_components, res.group_effects["group"]):
        assert np.all(tab.lower < tab.estimate) and np.all(tab.estimate < tab.upper)


def test_doubtful_sampler_runs_warn_and_are_listed():
    with pytest.warns(SamplingWarning):
        res = normal_means_bayes(ES["y"], ES["se"], rng=0, chains=2, warmup=30, draws=40)
    assert any(d.startswith("sampler:") for d in res.diagnostics)


def test_normal_means_bayes_bad_input():
    with pytest.raises(ValueError, match="se"):
        normal_means_bayes(ES["y"], -ES["se"])
    with pytest.raises(ValueError, match="se has"):
        normal_means_bayes(ES["y"], ES["se"][:3])
    with pytest.raises(ValueError, match="tau_prior_scale"):
        normal_means_bayes(ES["y"], ES["se"], tau_prior_scale=-1.0)
    with pytest.raises(ValueError, match="names"):
        normal_means_bayes(ES["y"], ES["se"], names=["a"])


# --------------------------------------------------------------------------- mixed models
@pytest.fixture(scope="module")
def sleep():
    return load_sleepstudy()


def test_random_intercept_lmm_agrees_with_reml(sleep):
    res = lmm_bayes(sleep["Reaction"], sleep["Days"], sleep["Subject"], rng=6, chains=4,
                    warmup=400, draws=500, warn=False)
    reml = hm.lmm("Reaction ~ Days + (1 | Subject)", sleep)
    fe, fr = res.fixed_effects, reml.fixed_effects
    assert fe.names == fr.names == ["(Intercept)", "Days"]
    # weak priors: posterior means of fixed effects within 0.5 posterior sd of REML
    # (measured: 0.08 and 0.01 sd)
    assert np.all(np.abs(fe.estimate - fr.estimate) < 0.5 * fe.se)
    # and posterior sds close to REML standard errors (measured within 10%)
    assert_allclose(fe.se, fr.se, rtol=0.2)
    vc, vr = res.variance_components, reml.variance_components
    assert vc.names == vr.names
    # the posterior mean of a scale sits above the REML mode, within one posterior sd
    assert np.all(np.abs(vc.estimate - vr.estimate) < vc.se)
    ge, gr = res.group_effects["Subject"], reml.group_effects["Subject"]
    assert ge.names == gr.names
    assert np.all(np.abs(ge.estimate - gr.estimate) < 0.5 * ge.se)
    assert "Subject" in res.raw_group_estimates
    assert res.plot(kind="shrinkage") is not None


def test_random_slope_lmm_agrees_with_uncorrelated_reml(sleep):
    res = lmm_bayes(sleep["Reaction"], sleep["Days"], sleep["Subject"], random_slopes=True,
                    rng=7, chains=4, warmup=400, draws=400, warn=False)
    reml = hm.lmm("Reaction ~ Days + (Days || Subject)", sleep)
    fe, fr = res.fixed_effects, reml.fixed_effects
    assert np.all(np.abs(fe.estimate - fr.estimate) < 0.5 * fe.se)
    vc = res.variance_components
    assert vc.names == ["Subject: sd((Intercept))", "Subject: sd(Days)", "Residual: sd"]
    # REML: 25.05, 5.99, 25.57 (lme4 gives the same, see test_hierarchical_lmm)
    assert np.all(np.abs(vc.estimate - reml.variance_components.estimate) < vc.se)
    ge = res.group_effects["Subject"]
    assert len(ge) == 36 and ge.names[1] == "308: Days"
    # conditional modes of the REML fit vs posterior means, slopes: within 0.5 posterior sd
    slopes_reml = reml.group_effects["Subject.1"].estimate
    slopes = ge.estimate[1::2]
    assert np.all(np.abs(slopes - slopes_reml) < 0.5 * ge.se[1::2])


def test_student_t_lmm_recovers_truth_under_heavy_tails():
    # simulation with known truth: t_3 residuals with gross outliers; the Student-t route
    # recovers the slope, the group sd and a small nu
    rng = np.random.default_rng(8)
    J, m = 12, 15
    g = np.repeat(np.arange(J), m)
    x = rng.normal(0, 1, J * m)
    y = 2.0 + 1.5 * x + rng.normal(0, 1.0, J)[g] + 0.5 * rng.standard_t(3, J * m)
    res = lmm_bayes(y, x, g, residual="student-t", rng=9, chains=2, warmup=300, draws=300,
                    warn=False)
    fe, vc = res.fixed_effects, res.variance_components
    assert abs(fe["x"]["estimate"] - 1.5) < 3 * fe["x"]["se"]
    assert abs(fe["(Intercept)"]["estimate"] - 2.0) < 3 * fe["(Intercept)"]["se"]
    assert vc.names == ["group: sd((Intercept))", "Residual: scale", "Residual: nu"]
    assert vc["Residual: nu"]["lower"] < 3 < vc["Residual: nu"]["upper"]
    assert abs(vc["Residual: scale"]["estimate"] - 0.5) < 3 * vc["Residual: scale"]["se"]
    # fixed nu: no nu row
    res2 = lmm_bayes(y, x, g, residual="student-t", nu=3, rng=9, chains=1, warmup=150,
                     draws=150, warn=False)
    assert "Residual: nu" not in res2.variance_components.names


def test_group_specific_residual_sds_recovered():
    # simulation with known truth: residual sds spread over a factor ~8 across 10 groups
    rng = np.random.default_rng(17)
    J, m = 10, 20
    g = np.repeat(np.arange(J), m)
    x = rng.normal(size=J * m)
    sd = np.exp(rng.normal(np.log(0.5), 0.6, J))
    y = 1.0 + 2.0 * x + rng.normal(0, 1.0, J)[g] + sd[g] * rng.normal(size=J * m)
    res = lmm_bayes(y, x, g, group_variances=True, rng=18, chains=2, warmup=200, draws=200,
                    warn=False)
    tab = res.group_effects["group: residual sd"]
    assert tab.names[0] == "0: residual sd"
    inside = np.sum((tab.lower < sd) & (sd < tab.upper))
    assert inside >= 8                                  # 95% intervals: expect ~9.5 of 10
    # the posterior means follow the unpooled per-group residual sds (OLS with group dummies,
    # m - 1 df); measured correlation of the logs 0.999. (Against the truth the correlation is
    # capped by the sampling noise of 20 points per group: 0.89 at this seed.)
    D = np.column_stack([x, (g[:, None] == np.arange(J)).astype(float)])
    r = y - D @ np.linalg.lstsq(D, y, rcond=None)[0]
    raw = np.sqrt(np.bincount(g, r * r) / (m - 1))
    assert np.corrcoef(np.log(tab.estimate), np.log(raw))[0, 1] > 0.98
    fe = res.fixed_effects
    assert abs(fe["x"]["estimate"] - 2.0) < 3 * fe["x"]["se"]
    assert "Residual: sd of log sd" in res.variance_components.names


def test_lmm_bayes_bad_input(sleep):
    y, d, s = sleep["Reaction"], sleep["Days"], sleep["Subject"]
    with pytest.raises(ValueError, match="residual"):
        lmm_bayes(y, d, s, residual="cauchy")
    with pytest.raises(ValueError, match="one covariate"):
        lmm_bayes(y, np.column_stack([d, d ** 2]), s, random_slopes=True)
    with pytest.raises(ValueError, match="two levels"):
        lmm_bayes(y, d, np.zeros(len(y)))
    with pytest.raises(ValueError, match="groups"):
        lmm_bayes(y, d, s[:10])
    with pytest.raises(ValueError, match="vary"):
        lmm_bayes(y, np.ones(len(y)), s)
    with pytest.raises(ValueError, match="group_variances"):
        lmm_bayes(y, d, s, group_variances=True, residual="student-t")


# ----------------------------------------------------------------------------------- GLMM
def test_binomial_glmm_agrees_with_laplace_on_cbpp():
    c = load_cbpp(as_frame=False)
    period = c["period"].astype(str)
    X = np.column_stack([(period == k).astype(float) for k in ("2", "3", "4")])
    y = np.column_stack([c["incidence"], c["size"] - c["incidence"]])
    res = glmm_bayes(y, X, c["herd"], names=["period2", "period3", "period4"],
                     group_name="herd", rng=10, chains=4, warmup=400, draws=400, warn=False)
    lap = hm.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", load_cbpp())
    fe, fl = res.fixed_effects, lap.fixed_effects
    assert fe.names == fl.names
    # measured: |difference| <= 0.09 posterior sd
    assert np.all(np.abs(fe.estimate - fl.estimate) < 0.5 * fe.se)
    # the posterior mean of sigma_a (0.76) sits above the Laplace mode (0.642), within 1 sd
    vc = res.variance_components
    assert vc.estimate[0] > lap.variance_components.estimate[0]
    assert vc.estimate[0] - lap.variance_components.estimate[0] < vc.se[0]
    ge, gl = res.group_effects["herd"], lap.group_effects["herd"]
    assert ge.names == gl.names
    assert np.all(np.abs(ge.estimate - gl.estimate) < 0.5 * ge.se)
    assert np.corrcoef(ge.estimate, gl.estimate)[0, 1] > 0.99


def test_poisson_glmm_recovers_truth_with_offset():
    rng = np.random.default_rng(11)
    J, m = 15, 20
    g = np.repeat(np.arange(J), m)
    x = rng.normal(size=J * m)
    expo = rng.uniform(0.5, 2.0, J * m)
    a = rng.normal(0, 0.4, J)
    y = rng.poisson(expo * np.exp(0.3 + 0.6 * x + a[g]))
    res = glmm_bayes(y, x, g, family="poisson", offset=np.log(expo), rng=12, chains=2,
                     warmup=300, draws=300, warn=False)
    fe = res.fixed_effects
    assert abs(fe["x"]["estimate"] - 0.6) < 3 * fe["x"]["se"]
    assert abs(fe["(Intercept)"]["estimate"] - 0.3) < 3 * fe["(Intercept)"]["se"]
    # shrunken group effects track the true ones
    assert np.corrcoef(res.group_effects["group"].estimate, a)[0, 1] > 0.7
    assert res.model == "GLMM (poisson)"


def test_glmm_bayes_bad_input():
    y = np.array([1, 0, 1, 1, 0, 0.0])
    g = np.array([0, 0, 1, 1, 2, 2])
    with pytest.raises(ValueError, match="family"):
        glmm_bayes(y, None, g, family="gamma")
    with pytest.raises(ValueError, match="binomial only"):
        glmm_bayes(np.column_stack([y, 1 - y]), None, g, family="poisson")
    with pytest.raises(ValueError, match="y must be"):
        glmm_bayes(y + 0.5, None, g)


def test_docstring_examples():
    import doctest

    import deconv.hierarchical.bayes as mod
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0


# ------------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_eight_schools_long_run_tight_agreement():
    res = normal_means_bayes(ES["y"], ES["se"], mu_prior_sd=None, tau_prior_scale=5.0,
                             rng=13, chains=4, warmup=1000, draws=10000, warn=False)
    exact = hm.normal_means(ES["y"], ES["se"], method="bayes", tau_prior=("half-cauchy", 5.0))
    vc = res.variance_components
    assert abs(vc.estimate[0] - exact.variance_components.estimate[0]) < 3 * vc.extra["mcse"][0]
    assert vc.extra["mcse"][0] < 0.03
    with warnings.catch_warnings():
        warnings.simplefilter("error", SamplingWarning)
        normal_means_bayes(ES["y"], ES["se"], rng=14, chains=4, warmup=1000, draws=2000)


# ------------------------------------------------------------------------ front-door router
def test_fit_sampler_routes_formulas_and_arrays(sleep):
    from deconv.hierarchical.bayes import fit_sampler
    r = fit_sampler("Reaction ~ Days + (Days || Subject)", sleep, rng=15, chains=2, warmup=200,
                    draws=200, warn=False, method_reason="test")
    assert r.method_reason.startswith("test; compiled mixed model")
    assert r.formula == "Reaction ~ Days + (Days || Subject)"
    # level labels, not integer codes, in the tables and in the posterior's names; tables
    # keyed as lmm keys them (an uncorrelated slope is the term "Subject.1")
    assert r.group_effects["Subject"].names[:2] == ["308: (Intercept)", "309: (Intercept)"]
    assert r.group_effects["Subject.1"].names[0] == "308: Days"
    assert "Subject.1[308: Days]" in r.posterior.names
    X = np.column_stack([np.ones(len(sleep)), sleep["Days"].to_numpy()])
    r2 = fit_sampler(sleep["Reaction"].to_numpy(), X=X, groups=sleep["Subject"].to_numpy(),
                     rng=15, chains=2, warmup=200, draws=200, warn=False)
    assert r2.fixed_effects.names == ["(Intercept)", "x1"]
    assert abs(r2.fixed_effects.estimate[1] - 10.4673) < r2.fixed_effects.se[1]
    # Poisson with an offset through the formula: close to the Laplace fit
    c = load_cbpp()
    f = "incidence ~ period + offset(log(size)) + (1 | herd)"
    r3 = fit_sampler(f, c, family="poisson", rng=16, chains=2, warmup=300, draws=300, warn=False)
    lap = hm.glmm(f, c, family="poisson")
    assert np.all(np.abs(r3.fixed_effects.estimate - lap.fixed_effects.estimate)
                  < 0.5 * r3.fixed_effects.se)
    r4 = fit_sampler(ES["y"], se=ES["se"], rng=0, chains=2, warmup=200, draws=200, warn=False)
    assert r4.model == "normal means"


@pytest.mark.parametrize("kwargs,err,needle", [
    (dict(model="Reaction ~ Days + (1 | Subject)", residual="t", group_variances=True),
     NotImplementedError, "group-specific"),
    (dict(model="Reaction ~ Days + (Days | Subject)", error_sd=0.3), NotImplementedError,
     "random slope on the error-prone"),
    (dict(model="Reaction ~ Days + (1 | Subject)", error_sd={"Nope": 0.3}), ValueError,
     "not a covariate"),
    (dict(model="Reaction ~ Days + (1 | Subject)", error_sd=-1.0), ValueError, "error_sd"),
    (dict(model="Reaction ~ Days + (1 | Subject)", group_variances="Nope"), ValueError,
     "not a grouping factor"),
    (dict(model="Reaction ~ Days + (1 | Subject)", nu=3.0), ValueError, "nu"),
    (dict(model="Reaction ~ Days + (1 | Subject)", priors={"lkj": 2}), ValueError, "unknown key"),
    (dict(model="Reaction ~ Days + (1 | Subject)", priors={"lkj_eta": -2}), ValueError,
     "lkj_eta"),
    (dict(model="Reaction ~ Days + (1 | Subject)", residual="cauchy"), ValueError, "residual"),
    (dict(model="Reaction ~ Days + (1 | Subject)", bogus=1), TypeError, "bogus")])
def test_fit_sampler_names_what_is_missing(sleep, kwargs, err, needle):
    from deconv.hierarchical.bayes import fit_sampler
    kwargs = dict(kwargs)
    with pytest.raises(err, match=needle):
        fit_sampler(kwargs.pop("model"), sleep, **kwargs)


def test_front_door_sampler_method_when_wired(sleep):
    # runs once deconv.hierarchical.fit routes method="sampler" / non-cute models here
    try:
        r = hm.fit("Reaction ~ Days + (1 | Subject)", sleep, residual="student-t", rng=0,
                   chains=1, warmup=100, draws=100, warn=False)
    except NotImplementedError as exc:
        pytest.skip(f"fit() not wired to the sampler routes yet: {exc}")
    assert r.method == "full Bayes (NUTS)" and "auto" in r.method_reason
    r2 = hm.fit(ES["y"], se=ES["se"], method="sampler", rng=0, chains=2, warmup=200,
                draws=200, warn=False)
    assert r2.variance_components.kind == "posterior"
