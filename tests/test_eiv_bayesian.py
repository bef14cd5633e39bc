"""Structural Bayesian errors-in-variables regression (deconv.eiv.bayesian.bayes).

Independent checks: simulation with known truth (slope recovered, naive OLS attenuated by the
reliability ratio), agreement with the method-of-moments correction deconv.eiv.moments on the
same data, and a closed form for the posterior mean of the latent covariate.
"""
import matplotlib
import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv.eiv as eiv
from deconv.eiv.bayesian import BayesRegressionResults, bayes
from deconv.eiv.results import RegressionResults
from deconv.exceptions import SamplingWarning
from deconv.sampling import Posterior

matplotlib.use("Agg")


def _simulate(n, rng, beta=0.5, sd_u=1.5, sd_x=2.0):
    x = rng.normal(10.0, sd_x, n)
    w = x + rng.normal(0, sd_u, n)
    y = 3.0 + beta * x + rng.normal(0, 0.5, n)
    return x, w, y


@pytest.fixture(scope="module")
def fit():
    rng = np.random.default_rng(0)
    x, w, y = _simulate(400, rng)
    res = bayes(w, y, error_sd=1.5, rng=1, chains=4, warmup=300, draws=400, warn=False)
    return x, w, y, res


def test_slope_recovered_naive_attenuated_and_close_to_moments(fit):
    x, w, y, res = fit
    assert isinstance(res, BayesRegressionResults) and isinstance(res, RegressionResults)
    # truth: slope 0.5; reliability var(x)/var(w) = 4 / (4 + 2.25) = 0.64
    assert abs(res.params[1] - 0.5) < 3 * res.bse[1]
    lo, hi = res.conf_int()[1]
    assert lo < 0.5 < hi
    # naive OLS is attenuated towards 0.64 * 0.5 = 0.32, far outside the credible interval
    assert abs(res.naive_params[1] - 0.32) < 0.05
    assert res.naive_params[1] < lo
    # the moment-corrected slope on the same data: within 0.5 posterior sd
    # (measured difference 0.1 sd; both estimate s_wy / (s_ww - sigma_u^2))
    mom = eiv.moments(w, y, error_sd=1.5)
    assert abs(res.params[1] - mom.params[1]) < 0.5 * res.bse[1]
    assert abs(res.params[0] - mom.params[0]) < 0.5 * res.bse[0]
    # posterior sd close to the sandwich standard error (large n: Bernstein-von Mises)
    assert_allclose(res.bse, mom.bse, rtol=0.25)


def test_nuisance_parameters_and_latent_x(fit):
    x, w, y, res = fit
    p = res.posterior
    assert isinstance(p, Posterior)
    # mu_x = 10, sigma_x = 2, sigma_y = 0.5 (truth), within 3 posterior sds
    for name, truth in (("mu_x", 10.0), ("sigma_x", 2.0), ("sigma_y", 0.5)):
        assert abs(p.mean(name) - truth) < 3 * p.sd(name), name
        assert res.nuisance[name] == pytest.approx(p.mean(name))
    # E[x_i | data] beats w_i as an estimate of the true x_i
    assert np.mean((res.x_hat - x) ** 2) < 0.5 * np.mean((w - x) ** 2)
    # closed form at the posterior means: the normal-normal update of x_i given (w_i, y_i)
    a, b = res.params
    mx, sx, sy = res.nuisance["mu_x"], res.nuisance["sigma_x"], res.nuisance["sigma_y"]
    prec = 1 / sx ** 2 + 1 / 1.5 ** 2 + b ** 2 / sy ** 2
    xh = (mx / sx ** 2 + w / 1.5 ** 2 + b * (y - a) / sy ** 2) / prec
    # posterior mean of the conditional mean vs the plug-in: agree to parameter uncertainty
    assert np.max(np.abs(res.x_hat - xh)) < 0.1


def test_result_surface(fit):
    *_, res = fit
    ci = res.conf_int(0.1)
    assert ci.shape == (2, 2) and np.all(ci[:, 0] < res.params) and np.all(res.params < ci[:, 1])
    assert np.all(np.isnan(res.pvalues)) and np.all(np.isnan(res.tvalues))
    assert res["w"] == res.params[1]
    txt = res.summary().as_text()
    for key in ("post. mean", "r_hat", "sigma_y", "naive", "divergences"):
        assert key in txt
    assert res.cov.shape == (2, 2)
    assert_allclose(res.bse, [res.posterior.sd("const"), res.posterior.sd("w")], rtol=1e-10)
    ax = res.plot()
    assert len(ax.get_lines()) >= 3
    assert res.predict([0.0, 1.0]).shape == (2,)


def test_replicates_and_per_observation_error():
    rng = np.random.default_rng(2)
    n = 300
    x = rng.normal(0, 1, n)
    wr = x[:, None] + rng.normal(0, 0.7, (n, 2))
    y = 1.0 - 2.0 * x + rng.normal(0, 0.3, n)
    res = bayes(wr, y, replicates=True, rng=3, chains=2, warmup=250, draws=300, warn=False)
    mom = eiv.moments(wr, y, replicates=True)
    assert abs(res.params[1] + 2.0) < 3 * res.bse[1]
    assert abs(res.params[1] - mom.params[1]) < 0.5 * res.bse[1]
    # heteroscedastic known error sds, one per observation
    sd = rng.uniform(0.3, 1.2, n)
    w = x + sd * rng.normal(size=n)
    res2 = bayes(w, y, error=eiv.MeasurementError(sd=sd), rng=4, chains=2, warmup=250,
                 draws=300, warn=False)
    assert abs(res2.params[1] + 2.0) < 3 * res2.bse[1]


def test_slope_error_shrinks_with_n():
    # simulation with known truth: the posterior sd shrinks like 1/sqrt(n)
    rng = np.random.default_rng(5)
    sds = []
    for n in (100, 900):
        _, w, y = _simulate(n, rng)
        r = bayes(w, y, error_sd=1.5, rng=6, chains=2, warmup=200, draws=250, warn=False)
        assert abs(r.params[1] - 0.5) < 3.5 * r.bse[1]
        sds.append(r.bse[1])
    assert 2.0 < sds[0] / sds[1] < 4.5       # sqrt(9) = 3


def test_bad_input_and_warnings():
    rng = np.random.default_rng(7)
    _, w, y = _simulate(50, rng)
    with pytest.raises(ValueError, match="describe the measurement error"):
        bayes(w, y)
    with pytest.raises(ValueError, match="not smaller"):
        bayes(w, y, error_sd=10.0)
    with pytest.raises(ValueError, match="one error-prone covariate"):
        bayes(np.column_stack([w, w]), y, error_sd=1.0)
    with pytest.raises(ValueError, match="observations"):
        bayes(w, y[:-1], error_sd=1.0)
    with pytest.raises(ValueError, match="error_sd"):
        bayes(w, y, error_sd=-1.0)
    with pytest.warns(SamplingWarning):
        r = bayes(w, y, error_sd=1.5, rng=0, chains=2, warmup=20, draws=30)
    assert r.diagnostics


def test_docstring_examples():
    import doctest

    import deconv.eiv.bayesian as mod
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0
