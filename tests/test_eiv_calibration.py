"""Regression calibration: algebraic identities, known-truth simulations, coverage."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv as dc


def test_linear_rc_equals_moment_correction():
    # For the linear model regression calibration with the best linear predictor is the
    # moment estimator (Carroll et al. 2006, sec. 4.4), here with several covariates.
    rng = np.random.default_rng(0)
    n = 800
    x = rng.multivariate_normal([0, 1], [[1, 0.4], [0.4, 2]], n)
    z = rng.normal(size=n) + 0.3 * x[:, 0]
    S = np.array([[0.3, 0.05], [0.05, 0.4]])
    w = x + rng.multivariate_normal([0, 0], S, n)
    y = 1 + x @ [1.0, -0.5] + 0.7 * z + rng.normal(size=n)
    rc = dc.eiv.regression_calibration(w, y, z, error_var=S, se="model")
    mm = dc.eiv.moments(w, y, z, error_var=S)
    assert_allclose(rc.params, mm.params, rtol=1e-10)
    assert_allclose(rc.naive_params, mm.naive_params, rtol=1e-10)


def test_heteroscedastic_calibration_from_unequal_replicates():
    rng = np.random.default_rng(1)
    n = 20000
    x = rng.normal(1, 1, n)
    wr = x[:, None] + rng.normal(0, 0.8, (n, 3))
    wr[n // 2:, 1:] = np.nan                          # half the units measured once
    y = 2 + 1.5 * x + rng.normal(size=n)
    rc = dc.eiv.regression_calibration(wr, y, replicates=True, se="model")
    assert abs(rc.params[1] - 1.5) < 0.05
    # per-unit shrinkage differs: units with 3 replicates are shrunk less
    res = dc.eiv.MeasurementError(replicates=True).resolve(wr)
    assert res.per_obs[0, 0] < res.per_obs[-1, 0]
    naive = dc.eiv.regression_calibration(wr, y, replicates=True, se="model").naive_params[1]
    assert naive < 1.4


def test_validation_subsample():
    rng = np.random.default_rng(2)
    n = 20000
    x = rng.normal(size=n)
    w = 0.8 * x + 0.3 + rng.normal(0, 0.6, n)          # biased, noisy surrogate
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1 + 0.7 * x)))).astype(float)
    xv = np.where(rng.random(n) < 0.15, x, np.nan)
    rc = dc.eiv.regression_calibration(w, y, family="logistic", x_validation=xv, n_boot=40,
                                       rng=3)
    assert abs(rc.params[1] - 0.7) < 0.08
    assert abs(rc.naive_params[1] - 0.7) > 0.1      # naive: 0.7 * 0.8 / (0.64 + 0.36) = 0.56
    with pytest.raises(ValueError, match="not both"):
        dc.eiv.regression_calibration(w, y, x_validation=xv, error_sd=0.5)


@pytest.mark.parametrize("family", ["logistic", "poisson"])
def test_glm_bias_shrinks_with_n(family):
    rng = np.random.default_rng(4)
    beta = 0.6
    out, naive = {}, {}
    for n in (500, 50000):
        est, nv = [], []
        for _ in range(8):
            x = rng.normal(size=n)
            w = x + rng.normal(0, 0.4, n)
            if family == "logistic":
                y = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + beta * x)))).astype(float)
            else:
                y = rng.poisson(np.exp(0.3 + beta * x)).astype(float)
            r = dc.eiv.regression_calibration(w, y, family=family, error_sd=0.4, se="model")
            est.append(r.params[1])
            nv.append(r.naive_params[1])
        out[n] = abs(np.mean(est) - beta)
        naive[n] = abs(np.mean(nv) - beta)
    assert out[50000] < 0.03          # RC's small residual (approximation) bias
    assert naive[50000] > 0.06        # attenuation by ~1/(1 + 0.16) does not go away
    assert out[50000] < naive[50000] / 3


def _coverage(family, reps, n, seed, n_boot):
    rng = np.random.default_rng(seed)
    beta = 0.8 if family == "logistic" else 1.0
    hits = 0
    for _ in range(reps):
        x = rng.normal(size=n)
        w = x + rng.normal(0, 0.4, n)
        if family == "linear":
            y = 1 + beta * x + rng.normal(size=n)
        else:
            y = (rng.random(n) < 1 / (1 + np.exp(-(-0.3 + beta * x)))).astype(float)
        r = dc.eiv.regression_calibration(w, y, family=family, error_sd=0.4, n_boot=n_boot,
                                          rng=int(rng.integers(1 << 30)))
        lo, hi = r.conf_int(0.05)[1]
        hits += lo <= beta <= hi
    return hits / reps


@pytest.mark.parametrize("family", ["linear", "logistic"])
def test_rc_bootstrap_interval_coverage(family):
    # 200 replications: binomial sd 0.0154, accept 0.95 -+ 3 sd (a small B adds a little
    # undercoverage from the noisy bootstrap SE)
    cov = _coverage(family, 200, 300 if family == "linear" else 200, 5,
                    50 if family == "linear" else 25)
    assert 0.903 <= cov <= 0.997, cov


@pytest.mark.slow
@pytest.mark.parametrize("family", ["linear", "logistic"])
def test_rc_bootstrap_interval_coverage_large(family):
    cov = _coverage(family, 1000, 600, 6, 200)
    assert 0.93 <= cov <= 0.97, cov


def test_rc_bad_input_and_interface():
    rng = np.random.default_rng(7)
    w, y = rng.normal(size=100), rng.normal(size=100)
    with pytest.raises(ValueError, match="not smaller"):
        dc.eiv.regression_calibration(w, y, error_var=3.0)
    with pytest.raises(ValueError, match="0 and 1"):
        dc.eiv.regression_calibration(w, y, family="logistic", error_sd=0.3)
    with pytest.raises(ValueError, match="non-negative integer"):
        dc.eiv.regression_calibration(w, y, family="poisson", error_sd=0.3)
    with pytest.raises(ValueError, match="mismatched"):
        dc.eiv.regression_calibration(w, y[:-1], error_sd=0.3)
    with pytest.raises(ValueError, match="fully observed"):
        dc.eiv.regression_calibration(np.column_stack([w, w]), y,
                                      x_validation=np.column_stack([w, np.r_[np.nan, w[1:]]]))
    r = dc.eiv.regression_calibration(w + rng.normal(size=100), y, error_sd=0.3, n_boot=20,
                                      rng=1)
    assert r.replicates.shape == (20, 2)
    assert "calibration" in r.summary().as_text()
    r.plot()


def test_heteroscedastic_several_covariates_with_z():
    rng = np.random.default_rng(8)
    n = 30000
    x = rng.multivariate_normal([0, 0], [[1, 0.4], [0.4, 1]], n)
    z = rng.normal(size=n) + 0.5 * x[:, 0]
    v = np.column_stack([rng.uniform(0.1, 0.6, n), rng.uniform(0.1, 0.4, n)])  # (n, p)
    w = x + rng.normal(size=(n, 2)) * np.sqrt(v)
    y = 1 + x @ [1.0, 0.5] - 0.5 * z + rng.normal(size=n)
    rc = dc.eiv.regression_calibration(w, y, z, error_var=v, se="model")
    assert_allclose(rc.params, [1.0, 1.0, 0.5, -0.5], atol=0.05)
    assert np.abs(rc.naive_params[1:3] - [1.0, 0.5]).max() > 0.1     # naive is biased


def test_predict_and_summary_show_naive_column():
    rng = np.random.default_rng(9)
    n = 2000
    x = rng.normal(size=n)
    w = x + rng.normal(0, 0.4, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.2 + 0.8 * x)))).astype(float)
    r = dc.eiv.regression_calibration(w, y, family="logistic", error_sd=0.4, se="model")
    eta = r.params[0] + r.params[1] * np.array([-1.0, 0.0, 2.0])
    assert_allclose(r.predict([-1.0, 0.0, 2.0], kind="linear"), eta)
    assert_allclose(r.predict([-1.0, 0.0, 2.0]), 1 / (1 + np.exp(-eta)), rtol=1e-12)
    assert "naive" in r.summary().columns
    with pytest.raises(ValueError, match="covariate columns"):
        r.predict(np.ones((3, 2)))
