"""Normal means, random-effects ANOVA, GLMM Laplace, the fit() front door, graph and plots."""
import json
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv.hierarchical as hm
from deconv.datasets.hierarchical import load_eight_schools

REF = json.load(open(os.path.join(os.path.dirname(__file__), "data", "lme4_reference.json")))
SCHOOLS = load_eight_schools()


# ------------------------------------------------------------------------ normal means
@pytest.mark.parametrize("method", ["reml", "ml", "dl"])
def test_eight_schools_tau_is_zero_and_flagged(method):
    res = hm.normal_means(SCHOOLS["y"], SCHOOLS["se"], method=method)
    assert res.variance_components.estimate[0] == 0.0
    # with tau = 0, mu-hat is the precision-weighted mean (closed form)
    w = 1 / SCHOOLS["se"] ** 2
    assert_allclose(res.fixed_effects.estimate[0], np.sum(w * SCHOOLS["y"]) / np.sum(w), rtol=1e-12)
    assert any("boundary" in d and "posterior expectation" in d for d in res.diagnostics)
    assert "NOTE" in res.summary().as_text()
    assert res.group_effects["group"].kind == "estimate"


def test_eight_schools_dl_Q_closed_form():
    # Q = sum w (y - mu_FE)^2 with w = 1/s^2 (DerSimonian & Laird 1986)
    y, s = SCHOOLS["y"], SCHOOLS["se"]
    w = 1 / s ** 2
    Q = np.sum(w * (y - np.sum(w * y) / np.sum(w)) ** 2)
    res = hm.normal_means(y, s, method="dl")
    assert_allclose(res.fit_stats["Q"], Q, rtol=1e-12)
    assert Q < len(y) - 1  # hence tau_DL = 0


@pytest.mark.parametrize("reml", [True, False])
def test_equal_se_closed_form(reml):
    # equal s: ML tau^2 = max(0, mean((y - ybar)^2) - s^2); REML divides by J - 1
    rng = np.random.default_rng(3)
    J, s = 30, 0.7
    y = rng.normal(1.0, 1.5, J) + rng.normal(0, s, J)
    res = hm.normal_means(y, s, method="reml" if reml else "ml")
    tau2 = np.sum((y - y.mean()) ** 2) / (J - 1 if reml else J) - s ** 2
    assert tau2 > 0
    assert_allclose(res.variance_components.estimate[0], np.sqrt(tau2), rtol=1e-7)
    assert_allclose(res.fixed_effects.estimate[0], y.mean(), rtol=1e-10)


def test_eight_schools_bayes_half_cauchy_matches_known_posterior_mean():
    # Stan's eight-schools model (half-Cauchy(0, 5) on tau): posterior mean tau ~= 3.6
    res = hm.normal_means(SCHOOLS["y"], SCHOOLS["se"], method="bayes", tau_prior=("half-cauchy", 5))
    assert res.variance_components.kind == "posterior"
    assert abs(res.variance_components.estimate[0] - 3.6) < 0.1


def test_eight_schools_bayes_flat_prior_vs_bda3_table_and_2d_quadrature():
    y, s = SCHOOLS["y"], SCHOOLS["se"]
    res = hm.normal_means(y, s, method="bayes")
    ge = res.group_effects["group"]
    # BDA3 Table 5.3 (from 200 draws, rounded): school A 2.5% -2, 97.5% 31; school C -11, 21
    assert abs(ge.lower[0] - (-2)) < 1.5 and abs(ge.upper[0] - 31) < 2.0
    assert abs(ge.lower[2] - (-11)) < 1.5 and abs(ge.upper[2] - 21) < 2.0
    # independent check: brute-force 2-D quadrature of p(mu, tau | y) (flat priors): for
    # each tau, integrate the likelihood over a numeric mu grid (no conditional formulas)
    tau = np.linspace(0, 290, 2901)  # step 0.1
    mass, m_mu, m_tau = 0.0, 0.0, 0.0
    for t in tau:
        h = 0.05 if t in (tau[0], tau[-1]) else 0.1      # trapezoid rule in tau
        v = s ** 2 + t ** 2
        mu = np.linspace(-40 - 2 * t, 55 + 2 * t, 1201)
        lik = np.exp(-0.5 * np.sum(np.log(v) + (y[None, :] - mu[:, None]) ** 2 / v, axis=1) + 30)
        w = h * lik.sum() * (mu[1] - mu[0])
        mass += w
        m_tau += t * w
        m_mu += h * np.sum(mu * lik) * (mu[1] - mu[0])
    assert_allclose(res.variance_components.estimate[0], m_tau / mass, rtol=2e-3)
    assert_allclose(res.fixed_effects.estimate[0], m_mu / mass, rtol=2e-3)


# --------------------------------------------------------------------- random-effects ANOVA
def test_balanced_one_way_reml_equals_anova():
    # closed form: balanced data, ANOVA estimate positive -> REML = (MSB - MSW)/n, MSW
    rng = np.random.default_rng(0)
    a, n = 12, 6
    g = np.repeat(np.arange(a), n)
    y = 3 + rng.normal(0, 1.0, a)[g] + rng.normal(0, 0.8, a * n)
    means = y.reshape(a, n).mean(axis=1)
    msb = n * np.sum((means - y.mean()) ** 2) / (a - 1)
    msw = np.sum((y.reshape(a, n) - means[:, None]) ** 2) / (a * (n - 1))
    res = hm.random_effects_anova(y, g)
    vc = res.variance_components
    assert_allclose(vc.extra["anova"][:2], [(msb - msw) / n, msw], rtol=1e-12)
    assert_allclose(vc.estimate[:2], [(msb - msw) / n, msw], rtol=1e-6)
    assert_allclose(vc.estimate[2], vc.estimate[0] / (vc.estimate[0] + vc.estimate[1]), rtol=1e-12)


def test_unbalanced_one_way_anova_n0_and_reml_differs():
    rng = np.random.default_rng(1)
    sizes = rng.integers(2, 12, 15)
    g = np.repeat(np.arange(15), sizes)
    y = rng.normal(0, 1, 15)[g] + rng.normal(0, 1, g.size)
    res = hm.random_effects_anova(y, g)
    N = g.size
    assert_allclose(res.ems_coefficients["n0"], (N - np.sum(sizes ** 2) / N) / 14, rtol=1e-12)
    # unbalanced: REML and ANOVA estimates are close but not equal
    assert not np.allclose(res.variance_components.estimate[0], res.variance_components.extra["anova"][0], rtol=1e-6)


def test_balanced_nested_anova_equals_lme4_reml_on_pastes():
    from deconv.datasets.hierarchical import load_pastes
    p = load_pastes(as_frame=False)
    res = hm.random_effects_anova(p["strength"], p["batch"], p["cask"])
    ref = dict(zip(REF["pastes_nested_reml"]["varcomp"]["grp"], REF["pastes_nested_reml"]["varcomp"]["vcov"]))
    expect = [ref["batch"], ref["cask:batch"], ref["Residual"]]
    assert_allclose(res.variance_components.extra["anova"][:3], expect, rtol=1e-6)   # moments
    assert_allclose(res.variance_components.estimate[:3], expect, rtol=1e-5)        # REML


def test_negative_anova_estimate_flagged():
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(6), 4)
    y = rng.normal(0, 1, 24)
    y = y - np.repeat(np.bincount(g, y) / 4, 4) + rng.normal(0, 1e-3, 24)  # no between-group spread
    res = hm.random_effects_anova(y, g)
    assert res.variance_components.extra["anova"][0] < 0
    assert res.variance_components.estimate[0] < 1e-6
    assert any("negative" in d for d in res.diagnostics)


# ------------------------------------------------------------------------------- GLMM
@pytest.mark.parametrize("case,formula,family", [
    ("cbpp_binomial", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial"),
    ("cbpp_poisson_offset", "incidence ~ period + offset(log(size)) + (1 | herd)", "poisson")])
def test_glmm_laplace_against_glmer(case, formula, family):
    from deconv.datasets.hierarchical import load_cbpp
    res = hm.glmm(formula, load_cbpp(as_frame=False), family=family)
    ref = REF[case]
    # lme4 glmer (Laplace, nAGQ = 1) with a tight PIRLS tolerance (tolPwrss = 1e-12; with
    # lme4's default 1e-7 its own deviance is off by ~5e-4, see lme4_reference.R):
    # the 1e-4 on estimates; SEs come from finite-difference Hessians in both codes
    # (measured: < 1e-7 on estimates, 2e-6 on SEs)
    assert_allclose(res.beta, ref["fixef"], rtol=1e-5)
    assert_allclose(res.theta, np.atleast_1d(ref["theta"]), rtol=1e-5)
    assert_allclose(res.fit_stats["loglik (Laplace)"], ref["loglik"], rtol=1e-8)
    assert_allclose(res.fixed_effects.se, ref["se"], rtol=1e-4)
    # lme4's herd levels are 1..15 in numeric order; so are ours (numeric strings sort by
    # value, see test_hierarchical_inputs); the argsort keeps this test about the fit only
    labels = [int(n.split(":")[0]) for n in res.group_effects["herd"].names]
    order = np.argsort(labels)
    assert_allclose(res.random_effects["herd"][order, 0], ref["ranef"], atol=1e-5)


# ------------------------------------------------------------------------ front door
def test_fit_auto_routes_and_says_why():
    from deconv.datasets.hierarchical import load_sleepstudy
    r = hm.fit("Reaction ~ Days + (Days | Subject)", data=load_sleepstudy(as_frame=False))
    assert r.method == "REML" and "auto" in r.method_reason and "cute" in r.method_reason
    r2 = hm.fit(SCHOOLS["y"], se=SCHOOLS["se"])
    assert r2.model == "normal means" and "auto" in r2.method_reason
    r3 = hm.fit("Reaction ~ Days + (Days | Subject)", data=load_sleepstudy(as_frame=False), method="ml")
    assert r3.method == "ML"


@pytest.mark.parametrize("kwargs,err,needle", [
    (dict(residual="student-t"), NotImplementedError, "Student-t"),
    (dict(group_variances=True), ValueError, "group_variances"),
    (dict(error_sd=0.3), NotImplementedError, "error-prone"),
    (dict(method="reml", residual="student-t"), ValueError, "method='sampler'")])
def test_non_cute_routes_name_what_is_missing(kwargs, err, needle):
    with pytest.raises(err, match=needle):
        hm.fit(SCHOOLS["y"], se=SCHOOLS["se"], **kwargs)


def test_fit_sampler_method_returns_posterior_result():
    r = hm.fit(SCHOOLS["y"], se=SCHOOLS["se"], method="sampler", rng=0, chains=2, warmup=300,
               draws=300, warn=False)
    assert r.method == "full Bayes (NUTS)" and r.variance_components.kind == "posterior"
    assert "method='sampler'" in r.method_reason


def test_graph_structure_and_draw():
    import matplotlib
    matplotlib.use("Agg")
    r = hm.normal_means(SCHOOLS["y"], SCHOOLS["se"])
    g = r.graph()
    assert set(g.nodes) == {"mu", "tau", "theta", "s", "y"}
    assert ("tau", "theta") in g.edges and ("theta", "y") in g.edges
    assert g.nodes["y"].role == "observed" and g.nodes["theta"].role == "latent"
    assert g.depth()["y"] == 2
    ax = g.draw()
    assert len(ax.texts) >= 2 * len(g.nodes)


def test_plots_return_axes():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    r = hm.normal_means(SCHOOLS["y"], SCHOOLS["se"], method="bayes")
    ax = r.plot(kind="caterpillar")
    assert ax.get_title()
    ax2 = r.plot(kind="shrinkage")
    assert ax2.get_xlabel().startswith("raw")
    with pytest.raises(ValueError, match="kind"):
        r.plot(kind="nope")
    plt.close("all")


def test_fit_glmm_route_and_array_input_agree():
    from deconv.datasets.hierarchical import load_cbpp, load_sleepstudy
    cb = load_cbpp(as_frame=False)
    r = hm.fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", data=cb, family="binomial")
    assert r.method == "Laplace" and "auto" in r.method_reason
    period = cb["period"].astype(str)
    X = np.column_stack([np.ones(period.size)] + [(period == lv).astype(float) for lv in "234"])
    y = np.column_stack([cb["incidence"], cb["size"] - cb["incidence"]])
    r2 = hm.glmm(y=y, X=X, groups=cb["herd"], family="binomial")
    assert_allclose(r2.beta, r.beta, rtol=1e-6)
    with pytest.raises(ValueError, match="binomial"):
        hm.glmm(y=cb["incidence"], X=X, groups=cb["herd"], family="binomial")
    # GLMMs with random slopes go to the compiled mixed model under method="sampler"
    # (tests/test_hierarchical_bayes*.py); a combination it lacks must say so rather than
    # fit something else
    with pytest.raises(NotImplementedError, match="Student-t"):
        hm.fit("Reaction ~ Days + (1 | Subject)", data=load_sleepstudy(as_frame=False),
               method="sampler", residual="student-t", group_variances=True)


def test_crossed_array_input_matches_formula():
    from deconv.datasets.hierarchical import load_penicillin
    pen = load_penicillin(as_frame=False)
    a = hm.lmm("diameter ~ 1 + (1 | plate) + (1 | sample)", pen)
    b = hm.lmm(y=pen["diameter"], groups={"plate": pen["plate"], "sample": pen["sample"]})
    assert_allclose(b.fit_stats["REML criterion"], a.fit_stats["REML criterion"], rtol=1e-10)
    assert_allclose(b.variance_components.estimate, a.variance_components.estimate, rtol=1e-5)
    pytest.importorskip("pandas")
    frame = b.fixed_effects.to_frame()
    assert list(frame.columns[:4]) == ["estimate", "se", "lower", "upper"]


def test_nested_anova_coefficients_balanced_and_unbiased_unbalanced():
    from deconv.datasets.hierarchical import load_pastes
    p = load_pastes(as_frame=False)
    res = hm.random_effects_anova(p["strength"], p["batch"], p["cask"], method="anova")
    # balanced 10 batches x 3 casks x 2: k1 = k2 = n = 2, k3 = b n = 6 (Searle et al. 1992)
    assert_allclose([res.ems_coefficients[k] for k in ("k1", "k2", "k3")], [2, 2, 6], rtol=1e-12)
    # unbalanced nested design: the moment estimators are unbiased (simulation, known truth)
    rng = np.random.default_rng(8)
    a = 12
    n_sub = rng.integers(2, 5, a)                       # subgroups per group
    sizes = [rng.integers(1, 6, k) for k in n_sub]      # observations per subgroup
    ga = np.concatenate([np.full(s.sum(), i) for i, s in enumerate(sizes)])
    gb = np.concatenate([np.repeat(np.arange(len(s)), s) for s in sizes])
    sub_id = np.concatenate([[0], np.cumsum(n_sub)])[ga] + gb
    est = []
    for _ in range(300):
        y = (rng.normal(0, 1.0, a)[ga] + rng.normal(0, 0.7, n_sub.sum())[sub_id]
             + rng.normal(0, 0.5, ga.size))
        est.append(hm.random_effects_anova(y, ga, gb, method="anova").variance_components.estimate[:3])
    est = np.array(est)
    se = est.std(axis=0) / np.sqrt(len(est))
    assert np.all(np.abs(est.mean(axis=0) - [1.0, 0.49, 0.25]) < 4 * se)


def test_effect_table_from_draws_for_sampler_routes():
    rng = np.random.default_rng(9)
    draws = rng.normal([1.0, -2.0], [0.5, 2.0], size=(4, 500, 2))    # (chains, draws, params)
    tab = hm.EffectTable.from_draws(["a", "b"], draws, level=0.9)
    flat = draws.reshape(-1, 2)
    assert tab.kind == "posterior" and "credible" in tab.label
    assert_allclose(tab.estimate, flat.mean(axis=0), rtol=1e-12)
    assert_allclose(tab.se, flat.std(axis=0, ddof=1), rtol=1e-12)
    assert_allclose([tab.lower, tab.upper], np.quantile(flat, [0.05, 0.95], axis=0), rtol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        hm.EffectTable.from_draws(["a"], draws)


def test_summaries_render_for_every_model():
    from deconv.datasets.hierarchical import load_cbpp, load_pastes
    p = load_pastes(as_frame=False)
    texts = [hm.random_effects_anova(p["strength"], p["batch"], p["cask"]).summary().as_text(),
             hm.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                     load_cbpp(as_frame=False)).summary().as_text(),
             hm.normal_means(SCHOOLS["y"], SCHOOLS["se"], method="bayes").summary()._repr_html_()]
    assert "ICC" in texts[0] and "Laplace" in texts[1] and "posterior mean" in texts[2]


def test_glmm_two_grouping_factors_against_glmer():
    # lme4's ?cbpp overdispersion model: herd + observation-level random intercepts
    # (Schur-complement path); glmer with tolPwrss = 1e-12 (measured agreement ~2e-7)
    from deconv.datasets.hierarchical import load_cbpp
    cb = load_cbpp(as_frame=False)
    cb["obs"] = np.arange(cb["herd"].size).astype(str)
    res = hm.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs)", cb)
    ref = REF["cbpp_binomial_obs"]
    assert_allclose(res.beta, ref["fixef"], rtol=1e-5)
    assert_allclose(res.theta, ref["theta"], rtol=1e-5)          # lme4 order: obs, herd
    assert_allclose(res.fixed_effects.se, ref["se"], rtol=1e-4)
    assert_allclose(res.fit_stats["loglik (Laplace)"], ref["loglik"], rtol=1e-8)
    assert set(res.group_effects) == {"obs", "herd"}


def test_normal_means_nonparametric_eb_route():
    # theta_j from a two-point G (-2, +2): the NPMLE route must give exactly deconv.eb's
    # posterior means (same estimator, same result type as REML), recover mean 0 and sd 2 of G,
    # and beat the normal-G (REML) shrinkage in compound squared error when G is not normal
    # (the pattern shown by Jiang & Zhang 2009).
    from deconv.eb import NPMLE

    rng = np.random.default_rng(1)
    theta = rng.choice([-2.0, 2.0], 1000)
    s = rng.uniform(0.5, 1.0, 1000)
    y = theta + s * rng.standard_normal(1000)
    r = hm.fit(y, se=s, method="npmle")
    direct = NPMLE().fit(y, se=s)
    assert_allclose(r.group_effects["group"].estimate, direct.posterior_mean(), rtol=1e-12)
    assert abs(r.fixed_effects.estimate[0]) < 0.15 and abs(r.variance_components.estimate[0] - 2) < 0.15
    assert r.fit_stats["KKT max_j d_j - 1"] <= 1e-8
    reml = hm.fit(y, se=s, method="reml")
    mse_np = np.mean((r.group_effects["group"].estimate - theta) ** 2)
    mse_reml = np.mean((reml.group_effects["group"].estimate - theta) ** 2)
    assert mse_np < 0.8 * mse_reml
    g = hm.fit(y, se=s, method="gmodel")
    assert g.method.startswith("g-modeling") and np.all(np.isfinite(g.group_effects["group"].estimate))
