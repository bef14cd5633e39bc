"""Diagnostics: checked against ArviZ on the same draws and against closed forms."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

from deconv.sampling import (autocovariance, ess_bulk, ess_mean, ess_quantile, ess_sd, ess_tail,
                             mcse_mean, mcse_quantile, mcse_sd, rhat)


def _ar1(rng, chains, n, phi, shift=None):
    x = np.empty((chains, n))
    x[:, 0] = rng.normal(size=chains) / np.sqrt(1 - phi ** 2)
    e = rng.normal(size=(chains, n))
    for t in range(1, n):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    if shift is not None:
        x += np.asarray(shift)[:, None]
    return x


@pytest.fixture(scope="module")
def az():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip("arviz")


CASES = [
    ("iid", lambda r: r.normal(size=(4, 1000))),
    ("ar1-0.9", lambda r: _ar1(r, 4, 1000, 0.9)),
    ("antithetic", lambda r: _ar1(r, 4, 1000, -0.6)),
    ("odd-draws-heavy-tail", lambda r: r.standard_t(3, size=(3, 501))),
    ("unconverged", lambda r: _ar1(r, 4, 400, 0.95, shift=[0, 0, 0, 3])),
    ("two-chains-skewed", lambda r: np.exp(r.normal(size=(2, 300)))),
]


@pytest.mark.parametrize("name,make", CASES, ids=[c[0] for c in CASES])
def test_agrees_with_arviz(az, name, make):
    # Reference: ArviZ's implementation of Vehtari et al. (2021) on the same draws.
    x = make(np.random.default_rng(42))
    assert_allclose(rhat(x), az.rhat(x, method="rank"), rtol=1e-6)
    assert_allclose(ess_bulk(x), az.ess(x, method="bulk"), rtol=1e-6)
    assert_allclose(ess_tail(x), az.ess(x, method="tail"), rtol=1e-6)
    assert_allclose(ess_mean(x), az.ess(x, method="mean"), rtol=1e-6)
    assert_allclose(ess_sd(x), az.ess(x, method="sd"), rtol=1e-6)
    assert_allclose(ess_quantile(x, 0.3), az.ess(x, method="quantile", prob=0.3), rtol=1e-6)
    assert_allclose(mcse_mean(x), az.mcse(x, method="mean"), rtol=1e-6)
    assert_allclose(mcse_sd(x), az.mcse(x, method="sd"), rtol=1e-6)
    assert_allclose(mcse_quantile(x, 0.1), az.mcse(x, method="quantile", prob=0.1), rtol=1e-6)


def test_vectorised_over_parameters(az):
    rng = np.random.default_rng(1)
    x = np.stack([_ar1(rng, 4, 500, 0.5), rng.normal(size=(4, 500)), _ar1(rng, 4, 500, 0.8)], -1)
    x = x.reshape(4, 500, 3, 1)
    r = rhat(x)
    assert r.shape == (3, 1)
    for k in range(3):
        assert_allclose(r[k, 0], az.rhat(x[:, :, k, 0]), rtol=1e-6)
        assert_allclose(ess_bulk(x)[k, 0], az.ess(x[:, :, k, 0]), rtol=1e-6)


def test_ar1_ess_matches_closed_form():
    # For AR(1) with coefficient phi the integrated autocorrelation time is (1+phi)/(1-phi),
    # so ESS_mean = S (1-phi)/(1+phi): 40000 * 0.1/1.9 = 2105. Estimator error of a few % at S=40000.
    x = _ar1(np.random.default_rng(3), 4, 10000, 0.9)
    assert_allclose(ess_mean(x), 4 * 10000 * 0.1 / 1.9, rtol=0.15)


def test_iid_diagnostics():
    x = np.random.default_rng(5).normal(size=(4, 2000))
    assert rhat(x) < 1.005
    assert_allclose(ess_bulk(x), 8000, rtol=0.1)
    # mcse of the mean of iid N(0,1) draws is 1/sqrt(8000)
    assert_allclose(mcse_mean(x), 1 / np.sqrt(8000), rtol=0.1)
    # mcse of the sd of iid N(0,1): sqrt(1/(2S))
    assert_allclose(mcse_sd(x), np.sqrt(1 / (2 * 8000)), rtol=0.15)


def test_detects_unmixed_chains():
    x = np.random.default_rng(0).normal(size=(4, 500))
    x[0] += 1.0
    assert rhat(x) > 1.05


def test_autocovariance_matches_direct_sum():
    a = np.random.default_rng(0).normal(size=(2, 50))
    c = a - a.mean(axis=1, keepdims=True)
    direct = np.array([[np.sum(c[i, :50 - k] * c[i, k:]) / 50 for k in range(50)] for i in range(2)])
    assert_allclose(autocovariance(a), direct, atol=1e-12)


def test_degenerate_inputs():
    assert np.isnan(rhat(np.zeros((1, 100)) + np.arange(100)))  # one chain: no R-hat
    assert np.isnan(ess_bulk(np.ones((4, 3))))                   # too few draws
    x = np.random.default_rng(0).normal(size=(4, 100))
    x[0, 0] = np.nan
    assert np.isnan(rhat(x)) and np.isnan(ess_bulk(x))
    with pytest.raises(ValueError, match="prob"):
        ess_quantile(np.zeros((4, 100)), 1.5)
    with pytest.raises(TypeError, match="x"):
        rhat(np.array(["a", "b"]))
    with pytest.raises(ValueError, match="x"):
        rhat(3.0)
