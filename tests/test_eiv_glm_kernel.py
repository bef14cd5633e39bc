"""The compiled score/information kernel and the GLM refits built on it."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from deconv._kernels._eiv_glm import glm_accumulate
from deconv.eiv._glm import fit_glm


def _reference_accumulate(X, y, mu, w, family):
    """Obviously-correct NumPy version of the kernel."""
    v = mu * (1 - mu) if family == 1 else mu
    if w.size:
        v, r = v * w, (y - mu) * w
    else:
        r = y - mu
    return (X * v[:, None]).T @ X, X.T @ r


@pytest.mark.parametrize("family", [1, 2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("k", [2, 3, 5])                # k = 2, 3 have specialised loops
def test_kernel_matches_numpy_reference(family, weighted, k):
    rng = np.random.default_rng(0)
    n = 1000
    X = np.ascontiguousarray(np.column_stack([np.ones(n), rng.normal(size=(n, k - 1))]))
    eta = X @ rng.normal(0, 0.5, k)
    mu = 1 / (1 + np.exp(-eta)) if family == 1 else np.exp(eta)
    y = (rng.random(n) < mu).astype(float) if family == 1 else rng.poisson(mu).astype(float)
    w = rng.uniform(0.5, 2, n) if weighted else np.empty(0)
    info, score = np.empty((k, k)), np.empty(k)
    ex = np.exp(-eta) if family == 1 else mu
    glm_accumulate(X, y, ex, w, family, info, score)
    ref_info, ref_score = _reference_accumulate(X, y, mu, w, family)
    assert_allclose(info, ref_info, rtol=1e-12)
    assert_allclose(score, ref_score, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("family", ["logistic", "poisson", "linear"])
def test_fit_glm_matches_statsmodels(family):
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(1)
    n = 3000
    X = np.column_stack([np.ones(n), rng.normal(size=(n, 2))])
    eta = X @ [0.2, 0.7, -0.4]
    if family == "logistic":
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
        fam = sm.families.Binomial()
    elif family == "poisson":
        y = rng.poisson(np.exp(eta)).astype(float)
        fam = sm.families.Poisson()
    else:
        y = eta + rng.normal(size=n)
        fam = sm.families.Gaussian()
    ours = fit_glm(X, y, family)
    ref = sm.GLM(y, X, family=fam).fit(tol=1e-13)
    assert ours.converged
    assert_allclose(ours.beta, ref.params, rtol=1e-9, atol=1e-12)
    assert_allclose(np.sqrt(np.diag(ours.cov)), ref.bse, rtol=1e-7)
    # weights as frequency counts equal duplicated rows
    cnt = rng.integers(1, 3, n).astype(float)
    rep = np.repeat(np.arange(n), cnt.astype(int))
    a = fit_glm(X, y, family, weights=cnt)
    b = fit_glm(X[rep], y[rep], family)
    assert_allclose(a.beta, b.beta, rtol=1e-9)


def test_fit_glm_reports_separation_instead_of_garbage():
    X = np.column_stack([np.ones(20), np.arange(20.0)])
    y = (np.arange(20) >= 10).astype(float)            # perfectly separated
    f = fit_glm(X, y, "logistic", maxiter=30)
    assert not f.converged
