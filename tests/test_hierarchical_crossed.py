"""Several grouping factors: the three Schur-complement routes of the linear mixed model
(dense reference, sparse assembly + dense Cholesky, SuperLU) agree with each other and
with lme4."""
import json
import os

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import sparse

from deconv._kernels._lmm import sub_gram_csr_lower
from deconv.datasets.hierarchical import load_pastes, load_penicillin
from deconv.hierarchical import lmm
from deconv.hierarchical._lmmcore import LMMCore
from deconv.hierarchical.design import design_from_arrays, design_from_formula

HERE = os.path.dirname(__file__)
REF = json.load(open(os.path.join(HERE, "data", "lme4_reference.json")))
_cs = np.genfromtxt(os.path.join(HERE, "data", "lme4_crossed_slope.csv"), delimiter=",",
                    names=True, dtype=None, encoding="utf-8")
CROSSED = {k: _cs[k] for k in _cs.dtype.names}
DESIGNS = {
    "penicillin": ("diameter ~ 1 + (1 | plate) + (1 | sample)", load_penicillin(as_frame=False)),
    "pastes": ("strength ~ 1 + (1 | batch/cask)", load_pastes(as_frame=False)),
    "crossed_slope": ("y ~ x + (1 | subject) + (x | item)", CROSSED),
    "crossed_two_slopes": ("y ~ x + (x | subject) + (x | item)", CROSSED),
}
ROUTES = ("cholesky", "splu")


@pytest.mark.parametrize("name", sorted(DESIGNS))
@pytest.mark.parametrize("route", ROUTES)
def test_routes_equal_dense_path(name, route):
    # same deviance (1e-10 relative), fixed effects, conditional modes and variances as the
    # dense reference path at random theta (interior and with a zero diagonal entry)
    f, data = DESIGNS[name]
    des = design_from_formula(f, data)
    ref, alt = LMMCore(des, schur="dense"), LMMCore(des, schur=route)
    assert (ref.schur, alt.schur) == ("dense", route)
    rng = np.random.default_rng(0)
    thetas = [ref.theta0 * rng.uniform(0.3, 2.0, ref.n_theta)
              + (ref.lower != 0) * rng.normal(0, 0.3, ref.n_theta) for _ in range(3)]
    thetas.append(np.where(np.arange(ref.n_theta) == 0, 0.0, thetas[0]))
    for th in thetas:
        for reml in (True, False):
            assert_allclose(alt.deviance(th, reml), ref.deviance(th, reml), rtol=1e-10, atol=0)
        d0, d1 = ref.decompose(th), alt.decompose(th)
        assert_allclose(d1["beta"], d0["beta"], rtol=1e-10, atol=1e-12)
        for a, b in zip(alt.conditional_modes(d1), ref.conditional_modes(d0)):
            assert_allclose(a, b, rtol=1e-8, atol=1e-11)
        for a, b in zip(alt.conditional_variances(d1, 1.7), ref.conditional_variances(d0, 1.7)):
            assert_allclose(a, b, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("case", ["penicillin_crossed_reml", "penicillin_crossed_ml",
                                  "crossed_slope_reml"])
def test_routes_against_lme4(route, case):
    ref = REF[case]
    data = load_penicillin(as_frame=False) if case.startswith("pen") else CROSSED
    res = lmm(ref["formula"], data, reml=ref["reml"], schur=route, ddf="none")
    # lme4 1.1-31 (tests/data/lme4_reference.R): same tolerances as test_hierarchical_lmm
    assert_allclose(res.fixed_effects.estimate, np.atleast_1d(ref["fixef"]), rtol=1e-5)
    assert_allclose(res.fixed_effects.se, np.atleast_1d(ref["se"]), rtol=1e-5)
    assert_allclose(res.theta, ref["theta"], rtol=1e-5, atol=1e-7)
    crit = res.fit_stats["REML criterion" if ref["reml"] else "deviance"]
    assert_allclose(crit, ref["deviance_crit"], rtol=1e-8)


def test_compiled_gram_update_matches_dense_product():
    rng = np.random.default_rng(1)
    M = sparse.random(40, 25, density=0.15, random_state=2, format="csr")
    M.sort_indices()
    S = rng.standard_normal((25, 25))
    S0 = S.copy()
    sub_gram_csr_lower(M.indptr.astype(np.int64), M.indices.astype(np.int64), M.data.copy(), S)
    expect = S0 - (M.T @ M).toarray()
    low = np.tril_indices(25)
    assert_allclose(S[low], expect[low], rtol=1e-13, atol=1e-13)
    up = np.triu_indices(25, 1)
    assert_allclose(S[up], S0[up], rtol=0, atol=0)          # upper triangle untouched


def _crossed_design(n, L1, L2, seed, sd=(0.8, 0.5)):
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, L1, n), rng.integers(0, L2, n)
    x = rng.standard_normal(n)
    y = (1 + 0.5 * x + sd[0] * rng.standard_normal(L1)[a] + sd[1] * rng.standard_normal(L2)[b]
         + rng.standard_normal(n))
    return y, np.column_stack([np.ones(n), x]), {"a": a, "b": b}


def test_auto_route_choice():
    # small -> dense arrays; crossed with hundreds of levels -> sparse assembly + Cholesky;
    # a large, sparse Schur complement (second factor with 4000 levels, each level
    # meeting few levels of the first) -> SuperLU
    y, X, g = _crossed_design(300, 20, 10, 0)
    assert LMMCore(design_from_arrays(y, X, g)).schur == "dense"
    y, X, g = _crossed_design(20000, 600, 500, 0)
    assert LMMCore(design_from_arrays(y, X, g)).schur == "cholesky"
    rng = np.random.default_rng(0)
    n = 24000
    b = rng.integers(0, 4000, n)
    a = (b // 4 + rng.integers(0, 3, n)) % 1000 * 6 + rng.integers(0, 6, n)   # 6000 levels
    y = rng.standard_normal(n)
    core = LMMCore(design_from_arrays(y, None, {"a": a, "b": b}))
    assert core.G > core.q2 > 3900 and core.schur == "splu"
    with pytest.raises(ValueError, match="schur"):
        lmm(y=y, groups={"a": a, "b": b}, schur="qr")


def test_medium_crossed_fit_same_through_every_route():
    # 8,000 rows, 300 x 250 crossed levels: the whole fit (theta, beta, SEs, BLUPs) is the
    # same whichever route; and the estimates recover the simulation's truth
    y, X, g = _crossed_design(8000, 300, 250, 3)
    fits = {r: lmm(y=y, X=X, groups=g, schur=r, ddf="none") for r in ("dense", "cholesky", "splu")}
    ref = fits["dense"]
    for r in ("cholesky", "splu"):
        assert_allclose(fits[r].theta, ref.theta, rtol=1e-6)
        assert_allclose(fits[r].beta, ref.beta, rtol=1e-8)
        assert_allclose(fits[r].fixed_effects.se, ref.fixed_effects.se, rtol=1e-6)
        assert_allclose(fits[r].random_effects["b"], ref.random_effects["b"], rtol=1e-5,
                        atol=1e-7)
    # truth: sd 0.8 (a) and 0.5 (b), residual 1; SE of a level-sd estimate ~ sd/sqrt(2 L)
    # = 0.033 (a) and 0.022 (b), of the residual sd 1/sqrt(2 n) = 0.008: 4 SE tolerance
    vc = ref.variance_components
    assert abs(vc["a: sd((Intercept))"]["estimate"] - 0.8) < 0.13
    assert abs(vc["b: sd((Intercept))"]["estimate"] - 0.5) < 0.09
    assert abs(vc["Residual: sd"]["estimate"] - 1.0) < 0.03
