"""Formula parser, bad input, and simulation with known truth (coverage)."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv.hierarchical as hm
from deconv.hierarchical.formula import FormulaError, parse_formula


# ---------------------------------------------------------------------------- parser
def test_parse_random_terms():
    pf = parse_formula("y ~ x + (x | g) + (1 | a/b) + (z || h) + offset(log(n))")
    assert pf.response == "y" and pf.fixed_terms == ["x"] and pf.intercept
    got = [repr(t) for t in pf.random]
    assert got == ["(1 + x | g)", "(1 | a)", "(1 | a:b)", "(1 | h)", "(0 + z | h)"]
    assert pf.offsets == ["log(n)"]


def test_parse_intercept_removal_and_star():
    pf = parse_formula("y ~ 0 + a*b + (0 + x | g)")
    assert not pf.intercept
    assert pf.fixed_terms == ["a", "b", "a:b"]
    assert not pf.random[0].intercept and pf.random[0].terms == ["x"]
    assert not parse_formula("y ~ x - 1 + (1|g)").intercept


@pytest.mark.parametrize("bad,msg", [
    ("y ~ x + (x | g", "unbalanced"),
    ("y x + (1|g)", "'~'"),
    ("~ x + (1|g)", "no response"),
    ("y ~ x + 1 | g", "parentheses"),
    ("y ~ x + (x | )", "grouping factor"),
    ("y ~ x + (x | g | h)", "exactly one"),
    ("y ~ x + __import__('os')", "unknown function|unsupported"),
    ("y ~ x + (1 | g-h)", "grouping factor"),
])
def test_unparseable_formula(bad, msg):
    with pytest.raises(FormulaError, match=msg):
        parse_formula(bad)


def test_categorical_fixed_effects_treatment_coding():
    rng = np.random.default_rng(0)
    df = {"y": rng.normal(size=40), "f": np.repeat(list("abcd"), 10),
          "g": np.tile(np.arange(5).astype(str), 8)}
    res = hm.lmm("y ~ f + (1 | g)", df)
    assert res.fixed_effects.names == ["(Intercept)", "fb", "fc", "fd"]


# ------------------------------------------------------------------------- bad input
def _toy(n=60, g=6, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(g), n // g)
    x = rng.normal(size=n)
    y = 1 + 2 * x + rng.normal(size=g)[groups] + rng.normal(size=n)
    return y, x, groups


def test_singular_fixed_design():
    y, x, groups = _toy()
    X = np.column_stack([np.ones_like(x), x, 2 * x])
    with pytest.raises(ValueError, match="rank deficient"):
        hm.lmm(y=y, X=X, groups=groups)


def test_one_level_grouping_factor():
    y, x, _ = _toy()
    with pytest.raises(ValueError, match="1 level"):
        hm.lmm(y=y, groups=np.zeros(y.size))
    with pytest.raises(ValueError, match="1 level"):
        hm.random_effects_anova(y, np.zeros(y.size))


def test_nan_inputs():
    y, x, groups = _toy()
    y2 = y.copy()
    y2[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        hm.lmm(y=y2, groups=groups)
    with pytest.raises(ValueError, match="NaN"):
        hm.lmm(y=y, X=np.column_stack([np.ones_like(x), np.where(x > 1, np.nan, x)]), groups=groups)
    with pytest.raises(ValueError, match="non-finite|NaN"):
        hm.normal_means([1.0, np.nan, 2.0], [1.0, 1.0, 1.0])
    assert np.isnan(y2[3])  # input not mutated


def test_unknown_column_and_bad_args():
    y, x, groups = _toy()
    df = {"y": y, "x": x, "g": groups}
    with pytest.raises(FormulaError, match="not found"):
        hm.lmm("y ~ z + (1 | g)", df)
    with pytest.raises(FormulaError, match="not found"):
        hm.lmm("y ~ x + (1 | gg)", df)
    with pytest.raises(ValueError, match="method"):
        hm.fit("y ~ x + (1 | g)", data=df, method="magic")
    with pytest.raises(ValueError, match="se"):
        hm.normal_means([1.0, 2.0], [1.0, -1.0])
    with pytest.raises(TypeError, match="formula"):
        hm.lmm()


# ---------------------------------------------------------- simulation with known truth
def _coverage(n_rep, seed, n_profile):
    """Random intercept + slope design, 30 groups x 8 obs, REML fits: coverage of the 95%
    Satterthwaite-t interval for the slope and the fraction of profile intervals covering
    the true between-group sd."""
    rng = np.random.default_rng(seed)
    G, m = 30, 8
    groups = np.repeat(np.arange(G), m)
    x = np.tile(np.linspace(0, 1, m), G)
    X = np.column_stack([np.ones_like(x), x])
    beta, sd0, sd1, rho, sigma = np.array([1.0, 0.5]), 0.8, 0.5, 0.3, 0.6
    S = np.array([[sd0 ** 2, rho * sd0 * sd1], [rho * sd0 * sd1, sd1 ** 2]])
    C = np.linalg.cholesky(S)
    cover_beta, cover_sd, est, se1 = [], [], [], []
    for _ in range(n_rep):
        b = rng.standard_normal((G, 2)) @ C.T
        y = X @ beta + np.sum(X * b[groups], axis=1) + sigma * rng.standard_normal(x.size)
        r = hm.lmm(y=y, X=X, groups=groups, Z=X)
        fe = r.fixed_effects
        cover_beta.append(fe.lower[1] <= beta[1] <= fe.upper[1])
        se1.append(fe.se[1])
        est.append(np.r_[fe.estimate, r.variance_components.estimate])
        if len(cover_sd) < n_profile:  # profile intervals are slower: a subset
            vc = r.conf_int("profile", which=["group: sd(z0)"])
            cover_sd.append(vc.lower[0] <= sd0 <= vc.upper[0])
    # closed form for this balanced design: Var(beta1_hat) = (sd1^2 + sigma^2 / Sxx) / G
    sxx = np.sum((x[:m] - x[:m].mean()) ** 2)
    exact_sd = np.sqrt((sd1 ** 2 + sigma ** 2 / sxx) / G)
    return np.mean(cover_beta), np.mean(cover_sd), np.mean(est, axis=0), np.mean(se1) / exact_sd


def test_simulation_recovers_truth_small():
    cov_b, cov_sd, mean_est, se_ratio = _coverage(30, seed=11, n_profile=8)
    assert abs(se_ratio - 1) < 0.1      # model-based SE vs the exact sampling sd
    # truth: beta = (1, .5), sd0 .8, sd1 .5, cor .3, sigma .6; 30 replications -> loose bounds
    assert_allclose(mean_est[[0, 1, 2, 5]], [1.0, 0.5, 0.8, 0.6], atol=0.06)
    assert 0.85 <= cov_b <= 1.0
    assert 0.7 <= cov_sd <= 1.0


@pytest.mark.slow
def test_simulation_coverage_200_replications():
    cov_b, cov_sd, mean_est, se_ratio = _coverage(200, seed=2024, n_profile=100)
    assert abs(se_ratio - 1) < 0.03
    # binomial sd of a coverage estimate from 200 reps ~ 0.015 -> 3 sd band around 0.95
    assert 0.905 <= cov_b <= 0.99
    assert 0.87 <= cov_sd <= 1.0          # 100 profile intervals (sd of coverage ~0.022)
    assert_allclose(mean_est[[0, 1, 2, 5]], [1.0, 0.5, 0.8, 0.6], atol=0.03)


def test_singular_fit_flagged_and_profile_from_boundary():
    rng = np.random.default_rng(1)
    g = np.repeat(np.arange(8), 6)
    y = rng.normal(size=48)
    y = y - np.repeat(np.bincount(g, y) / 6, 6)      # no between-group spread at all
    r = hm.lmm(y=y, groups=g)
    assert r.variance_components.estimate[0] == 0.0 and r.converged
    assert any("boundary" in d for d in r.diagnostics)
    vc = r.conf_int("profile")
    assert vc.lower[0] == 0.0 and 0 < vc.upper[0] < 1.0
    # closed form: with sd = 0, sigma_REML^2 = sum (y - ybar)^2 / (n - 1)
    assert_allclose(r.variance_components.estimate[1], np.sqrt(np.sum((y - y.mean()) ** 2) / 47), rtol=1e-8)


def test_uncorrelated_two_spellings_agree():
    from deconv.datasets.hierarchical import load_sleepstudy
    d = load_sleepstudy(as_frame=False)
    a = hm.lmm("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", d)
    b = hm.lmm("Reaction ~ Days + (Days || Subject)", d)
    assert_allclose(a.fit_stats["REML criterion"], b.fit_stats["REML criterion"], rtol=1e-12)
    assert_allclose(a.variance_components.estimate, b.variance_components.estimate, rtol=1e-8)


def test_no_fixed_effects_and_formula_edge_cases():
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(10), 5)
    y = rng.normal(size=10)[g] + rng.normal(size=50)
    d = {"y": y, "g": g.astype(str), "x": rng.normal(size=50)}
    r = hm.lmm("y ~ 0 + (1 | g)", d)
    # lme4 1.1-31 on the same numbers (written to CSV, lmer(y ~ 0 + (1|g))):
    # REMLcrit 146.202977837, sdcor 1.1040689216, 0.8307106201
    assert_allclose(r.fit_stats["REML criterion"], 146.202977837, rtol=1e-10)
    assert_allclose(r.variance_components.estimate, [1.1040689216, 0.8307106201], rtol=1e-6)
    assert hm.lmm("y ~ x*x + (1 | g)", d).fixed_effects.names == ["(Intercept)", "x"]  # x:x = x
    with pytest.raises(ValueError, match="not identifiable"):
        hm.lmm("y ~ x + (1 | g:x)", d)


def test_pandas_categorical_grouping_keeps_level_order_and_rejects_missing():
    pd = pytest.importorskip("pandas")
    from deconv.datasets.hierarchical import load_sleepstudy
    d = load_sleepstudy()
    ref = hm.lmm("Reaction ~ Days + (1 | Subject)", d)
    levels = sorted(d["Subject"].unique())[::-1] + ["unused"]
    d["Subject"] = pd.Categorical(d["Subject"], categories=levels)
    r = hm.lmm("Reaction ~ Days + (1 | Subject)", d)
    assert r.group_effects["Subject"].names[0].startswith(levels[0])     # category order kept
    assert_allclose(r.fit_stats["REML criterion"], ref.fit_stats["REML criterion"], rtol=1e-12)
    d.loc[3, "Subject"] = np.nan
    with pytest.raises(ValueError, match="missing"):
        hm.lmm("Reaction ~ Days + (1 | Subject)", d)


def test_numeric_string_levels_sort_by_value():
    from deconv.hierarchical.formula import factor_codes, sorted_levels
    # plain string sorting would give "1" < "10" < "2"; R's factor() on integers gives 1, 2, 10
    codes, levels = factor_codes(np.array(["10", "2", "1", "2", "10"]), "g")
    assert levels == ["1", "2", "10"]
    assert codes.tolist() == [2, 1, 0, 1, 2]
    assert sorted_levels(["-1", "0.5", "10", "2e1", "3"]) == ["-1", "0.5", "3", "10", "2e1"]
    assert sorted_levels(["1", "01"]) == ["01", "1"]              # equal values: string order
    # not all numeric: ordinary sorted labels
    assert factor_codes(np.array(["s10", "s2", "s1"], dtype=object), "g")[1] == ["s1", "s10", "s2"]
    assert factor_codes(np.array(["10", "2", "b"]), "g")[1] == ["10", "2", "b"]
    # numbers proper are sorted numerically already
    assert factor_codes(np.array([10, 2, 1]), "g")[1] == ["1", "2", "10"]


def test_numeric_string_groups_in_models_follow_value_order():
    # cbpp's herd column is read as strings "1".."15"; lme4's herd levels are 1..15 in that
    # order, so the conditional modes line up with glmer's ranef() without reordering
    import json
    import os
    from deconv.datasets.hierarchical import load_cbpp
    ref = json.load(open(os.path.join(os.path.dirname(__file__), "data",
                                      "lme4_reference.json")))["cbpp_binomial"]
    cb = load_cbpp(as_frame=False)
    assert np.asarray(cb["herd"]).dtype.kind in "OU"
    res = hm.glmm("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb)
    assert [n.split(":")[0] for n in res.group_effects["herd"].names] == [str(i) for i in range(1, 16)]
    assert_allclose(res.random_effects["herd"][:, 0], ref["ranef"], atol=1e-5)
    # the array route orders numeric strings the same way
    g = np.array(["10", "2", "1"] * 10)
    r = hm.lmm(y=np.arange(30.0) % 7 + (g == "2"), groups=g, ddf="none")
    assert r.group_effects["group"].names == ["1: (Intercept)", "2: (Intercept)", "10: (Intercept)"]


def test_categorical_levels_keep_category_order_even_if_numeric():
    pd = pytest.importorskip("pandas")
    g = pd.Categorical(["10", "2", "1"] * 10, categories=["10", "1", "2"])
    r = hm.lmm(y=np.arange(30.0) % 7, groups=g, ddf="none")
    assert [n.split(":")[0] for n in r.group_effects["group"].names] == ["10", "1", "2"]
