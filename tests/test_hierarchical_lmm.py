"""Linear mixed models vs R lme4 1.1-31 (reference numbers in tests/data/lme4_reference.json,
computed by tests/data/lme4_reference.R with tight bobyqa tolerances)."""
import json
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose

from deconv.datasets.hierarchical import load_pastes, load_penicillin, load_sleepstudy
from deconv.hierarchical import lmm, lrt

REF = json.load(open(os.path.join(os.path.dirname(__file__), "data", "lme4_reference.json")))
# plain dicts of arrays: the formula route must not need pandas
_cs = np.genfromtxt(os.path.join(os.path.dirname(__file__), "data", "lme4_crossed_slope.csv"),
                    delimiter=",", names=True, dtype=None, encoding="utf-8")
DATA = {"sleep": load_sleepstudy(as_frame=False), "pastes": load_pastes(as_frame=False),
        "penicillin": load_penicillin(as_frame=False),
        # simulated crossed design with a random slope on the secondary factor (seed 42)
        "crossed": {k: _cs[k] for k in _cs.dtype.names}}
CASES = [k for k, v in REF.items() if isinstance(v, dict) and "formula" in v]


@pytest.fixture(scope="module")
def fits():
    return {k: lmm(REF[k]["formula"], DATA[k.split("_")[0]], reml=REF[k]["reml"]) for k in CASES}


@pytest.mark.parametrize("case", CASES)
def test_against_lme4(fits, case):
    ref, res = REF[case], fits[case]
    # fixed effects and their SEs: 1e-5 relative (the requirement)
    assert_allclose(res.fixed_effects.estimate, np.atleast_1d(ref["fixef"]), rtol=1e-5)
    assert_allclose(res.fixed_effects.se, np.atleast_1d(ref["se"]), rtol=1e-5)
    # REML criterion / ML deviance, loglik, AIC, BIC
    crit = res.fit_stats["REML criterion" if ref["reml"] else "deviance"]
    assert_allclose(crit, ref["deviance_crit"], rtol=1e-8)
    assert_allclose([res.fit_stats["loglik"], res.fit_stats["AIC"], res.fit_stats["BIC"]],
                    [ref["loglik"], ref["aic"], ref["bic"]], rtol=1e-8)
    # variance components: lme4's VarCorr rows (grp, var1, var2) -> our names
    vc = res.variance_components
    for grp, v1, v2, var, sdcor in zip(*(ref["varcomp"][k] for k in ("grp", "var1", "var2", "vcov", "sdcor"))):
        if grp == "Residual":
            name = "Residual: sd"
        else:
            fac = grp.split(".")[0]
            fac = ":".join(reversed(fac.split(":"))) if ":" in fac else fac   # lme4 'cask:batch'
            tag = fac + ("." + grp.split(".")[1] if "." in grp else "")
            name = f"{tag}: sd({v1})" if v2 is None else f"{tag}: cor({v1}, {v2})"
        row = vc[name]
        assert_allclose(row["estimate"], sdcor, rtol=1e-5, err_msg=name)
        assert_allclose(row["variance"], var, rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("case", ["sleep_slope_reml", "pastes_nested_reml", "penicillin_crossed_ml",
                                  "crossed_slope_reml"])
def test_blups_and_conditional_sd_against_lme4(fits, case):
    ref, res = REF[case]["ranef"], fits[case]
    for grpvar, term, grp, val, csd in zip(ref["grpvar"], ref["term"], ref["grp"],
                                          ref["condval"], ref["condsd"]):
        fac = ":".join(reversed(grpvar.split(":"))) if ":" in grpvar else grpvar
        lev = ":".join(reversed(grp.split(":"))) if ":" in grp else grp
        row = res.group_effects[fac][f"{lev}: {term}"]
        # lme4 modes are at its optimum; 1e-4 absolute relative to the sd scale
        assert_allclose(row["estimate"], val, atol=1e-4 * max(1.0, abs(val)))
        assert_allclose(row["se"], csd, rtol=1e-4)


def test_satterthwaite_df_balanced_closed_form(fits):
    # balanced random slope model: lmerTest reports df = 17 = G - 1 for both fixed effects
    # (Kuznetsova et al. 2017 sleepstudy example); random intercept: Days df = 161 = N - p - (G - 1)
    assert_allclose(fits["sleep_slope_reml"].fixed_effects.extra["df"], [17, 17], rtol=1e-3)
    assert_allclose(fits["sleep_intercept_reml"].fixed_effects.extra["df"][1], 161, rtol=1e-3)


def test_profile_intervals_against_lme4_confint():
    res = lmm("Reaction ~ Days + (1 | Subject)", DATA["sleep"])
    # lme4's confint profiles the ML deviance around the REML fit, and interpolates its
    # profile with splines: agreement to a few 1e-3 relative
    vc = res.conf_int("profile", criterion="ml")
    ref = REF["sleep_intercept_reml_profile_ci"]
    assert_allclose([vc.lower[0], vc.upper[0]], [ref["lower"][0], ref["upper"][0]], rtol=3e-3)
    assert_allclose([vc.lower[-1], vc.upper[-1]], [ref["lower"][1], ref["upper"][1]], rtol=3e-3)
    # the REML-criterion profile (our default for REML fits) is a different, wider interval
    vr = res.conf_int("profile")
    assert vr.upper[0] > vc.upper[0] and vr.lower[0] <= vr.estimate[0] <= vr.upper[0]
    assert "profile" in vc.label


def test_profile_intervals_correlated_slope():
    res = lmm("Reaction ~ Days + (Days | Subject)", DATA["sleep"])
    ref = REF["sleep_slope_reml_profile_ci"]
    vc = res.conf_int("profile", criterion="ml")
    # lme4 order: sd(Intercept), cor, sd(Days), sigma; ours: sd(Int), sd(Days), cor, sigma
    order = [0, 2, 1, 3]
    assert_allclose(vc.lower[order], ref["lower"][:4], rtol=5e-3, atol=2e-3)
    assert_allclose(vc.upper[order], ref["upper"][:4], rtol=5e-3, atol=2e-3)


def test_lrt_against_lme4_anova():
    m0 = lmm("Reaction ~ Days + (1 | Subject)", DATA["sleep"])
    m1 = lmm("Reaction ~ Days + (Days | Subject)", DATA["sleep"])
    out = lrt(m0, m1)
    ref = REF["lrt_intercept_vs_slope"]
    assert out["df"] == ref["df"]
    assert_allclose(out["chisq"], ref["chisq"], rtol=1e-6)
    assert_allclose(out["p_value"], ref["p"], rtol=1e-4)


def test_array_input_equals_formula(fits):
    df = DATA["sleep"]
    X = np.column_stack([np.ones(len(df["Days"])), df["Days"]])
    res = lmm(y=df["Reaction"], X=X, groups=df["Subject"], Z=X)
    assert_allclose(res.fixed_effects.estimate, fits["sleep_slope_reml"].fixed_effects.estimate, rtol=1e-8)
    assert_allclose(res.theta, fits["sleep_slope_reml"].theta, rtol=1e-5, atol=1e-7)
    # uncorrelated via correlated=False equals (Days || Subject)
    res2 = lmm(y=df["Reaction"], X=X, groups=df["Subject"], Z=X, correlated=False)
    assert_allclose(res2.theta, fits["sleep_uncorrelated_reml"].theta, rtol=1e-5)


def test_bootstrap_intervals_reproducible_and_cover_estimate():
    res = lmm("strength ~ 1 + (1 | batch/cask)", DATA["pastes"])
    a = res.conf_int("bootstrap", n_boot=10, rng=1).lower.copy()
    b = res.conf_int("bootstrap", n_boot=10, rng=1)
    assert_allclose(a, b.lower)
    assert np.all(b.lower <= b.estimate + 1e-12) and np.all(b.estimate <= b.upper + 1e-12)
    assert "bootstrap" in b.label


def test_no_input_mutation():
    pd = pytest.importorskip("pandas")
    df = load_sleepstudy()
    before = df.copy()
    lmm("Reaction ~ Days + (Days | Subject)", df)
    pd.testing.assert_frame_equal(df, before)


def test_compiled_block_factor_matches_numpy_reference():
    from deconv.hierarchical._lmmcore import LMMCore
    from deconv.hierarchical.design import design_from_formula
    rng = np.random.default_rng(4)
    df = dict(DATA["sleep"])
    df["w"] = rng.normal(size=len(df["Days"]))
    core = LMMCore(design_from_formula("Reaction ~ Days + w + (Days + w | Subject)", df).check())
    theta = rng.uniform(0.1, 1.5, core.n_theta)
    d = core.decompose(theta)
    logdet, Linv, cu1, RZX1 = core.block_factor_numpy(d["Tb"])
    assert_allclose(d["logdetL2"], logdet, rtol=1e-12)
    assert_allclose(d["Linv"], Linv, rtol=1e-10, atol=1e-14)
    assert_allclose(d["cu"], cu1.ravel(), rtol=1e-10, atol=1e-10)
    assert_allclose(d["RZX"], RZX1.reshape(-1, core.p), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", ["sleep_slope_unbalanced", "sleep_uncorrelated_unbalanced",
                                  "penicillin_crossed", "sleep_intercept"])
def test_satterthwaite_df_against_lmerTest(case):
    # lmerTest 3.1-3 (numDeriv Hessians); unbalanced = sleepstudy without rows whose
    # 1-based index % 7 == 3 (see lme4_reference.R). Measured agreement: < 1e-5.
    ref = REF["satterthwaite"][case]
    df = DATA["sleep"] if case.startswith("sleep") else DATA["penicillin"]
    if "unbalanced" in case:
        keep = (np.arange(len(df["Days"])) + 1) % 7 != 3
        df = {k: v[keep] for k, v in df.items()}
    res = lmm(ref["formula"], df)
    assert_allclose(res.fixed_effects.estimate, np.atleast_1d(ref["fixef"]), rtol=1e-6)
    assert_allclose(res.fixed_effects.se, np.atleast_1d(ref["se"]), rtol=1e-5)
    assert_allclose(res.fixed_effects.extra["df"], np.atleast_1d(ref["df"]), rtol=1e-4)
