"""Straight-line errors-in-variables fits: York, Deming, orthogonal, Passing-Bablok, Theil-Sen."""
import json
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

import deconv as dc

DATA = Path(__file__).parent / "data"

# Pearson (1901) data with York's (1966) weights, as tabulated in York et al. (2004),
# Am. J. Phys. 72, 367, Table I.
PEARSON_X = np.array([0.0, 0.9, 1.8, 2.6, 3.3, 4.4, 5.2, 6.1, 6.5, 7.4])
PEARSON_Y = np.array([5.9, 5.4, 4.4, 4.6, 3.5, 3.7, 2.8, 2.8, 2.4, 1.5])
YORK_WX = np.array([1000, 1000, 500, 800, 200, 80, 60, 20, 1.8, 1.0])
YORK_WY = np.array([1, 1.8, 4, 8, 20, 20, 70, 70, 100, 500.0])


def test_york_reproduces_pearson_york_published_values():
    res = dc.eiv.york(PEARSON_X, PEARSON_Y, 1 / np.sqrt(YORK_WX), 1 / np.sqrt(YORK_WY))
    # York et al. (2004), Am. J. Phys. 72, 367-375: a = 5.479910224, b = -0.480533407,
    # sigma_a = 0.294970735, sigma_b = 0.057985009 (the digits published there; the same
    # values are the expectations of the R package bfsl, tests/testthat/test-bfsl.R, which
    # also gives chi^2/(n-2) = 1.483294149).
    assert_allclose(res.params, [5.479910224, -0.480533407], rtol=0, atol=5e-10)
    assert_allclose(res.bse, [0.294970735, 0.057985009], rtol=0, atol=5e-10)
    assert_allclose(res.mswd, 1.483294149, rtol=0, atol=5e-10)
    assert res.summary().as_text().count("York") >= 1


def test_york_with_equal_weights_is_deming_and_correlated_errors_change_fit():
    rng = np.random.default_rng(3)
    xi = rng.uniform(0, 10, 60)
    x = xi + rng.normal(0, 0.5, 60)
    y = 2 + 0.7 * xi + rng.normal(0, 1.0, 60)
    # constant weights: York's line is Deming's line with delta = sy^2 / sx^2 (closed form)
    yk = dc.eiv.york(x, y, 0.5, 1.0)
    dm = dc.eiv.deming(x, y, ratio=4.0)
    assert_allclose(yk.params, dm.params, rtol=1e-12)
    # with error correlation r the effective ratio changes; check against brute-force
    # minimisation of York's objective sum W_i (y - a - b x)^2 over b
    r = 0.6
    yk_r = dc.eiv.york(x, y, 0.5, 1.0, r=r)

    def objective(b):
        wx, wy = 1 / 0.25, 1.0
        W = np.full(x.size, wx * wy / (wx + b * b * wy - 2 * b * r * np.sqrt(wx * wy)))
        a = (W @ y - b * (W @ x)) / W.sum()
        return W @ (y - a - b * x) ** 2
    from scipy.optimize import minimize_scalar
    bmin = minimize_scalar(objective, bracket=(0.5, 0.9), tol=1e-12).x
    assert_allclose(yk_r.slope, bmin, rtol=1e-7)
    assert not np.isclose(yk_r.slope, yk.slope, rtol=1e-3)


def test_orthogonal_is_total_least_squares():
    rng = np.random.default_rng(0)
    x = rng.normal(size=50)
    y = 1.5 * x + rng.normal(size=50)
    res = dc.eiv.orthogonal(x, y)
    # TLS: direction of the smallest singular vector of the centred data
    A = np.column_stack([x - x.mean(), y - y.mean()])
    v = np.linalg.svd(A)[2][-1]
    assert_allclose(res.slope, -v[0] / v[1], rtol=1e-12)
    assert_allclose(res.intercept, y.mean() - res.slope * x.mean(), rtol=1e-12)


def _mcr_td9():
    return json.loads((DATA / "eiv_mcr_td9.json").read_text())


@pytest.mark.parametrize("key, error_ratio", [("Deming_errorratio_1", 1.0),
                                              ("Deming_errorratio_1.21", 1.21)])
def test_deming_reproduces_published_method_comparison(key, error_ratio):
    # Reference: Analyse-it results stored in R package mcr's test collection (test case
    # AnaIT.TD9); mcr's "error ratio" is var(err x)/var(err y) = 1/delta. Jackknife SE,
    # t(n-2) intervals. mcr's tolerance for this case is 1e-6.
    d = _mcr_td9()
    ref = d[key]
    res = dc.eiv.deming(d["x"], d["y"], ratio=1.0 / error_ratio, se="jackknife")
    assert_allclose(res.params, [ref["intercept"], ref["slope"]], rtol=1e-10)
    ci = res.conf_int(0.05)
    assert_allclose(ci[1], ref["slope_ci"], rtol=1e-6)
    assert_allclose(ci[0], ref["intercept_ci"], rtol=1e-6)


@pytest.mark.parametrize("key, error_ratio", [("WDeming_errorratio_1", 1.0),
                                              ("WDeming_errorratio_1.21", 1.21)])
def test_weighted_deming_reproduces_published_method_comparison(key, error_ratio):
    # Linnet's weighted Deming (proportional errors), Analyse-it references from mcr's
    # AnaIT.TD9; mcr iterates to a 1e-6 threshold, hence the 1e-6 tolerance
    d = _mcr_td9()
    ref = d[key]
    res = dc.eiv.deming(d["x"], d["y"], ratio=1.0 / error_ratio, weighted=True)
    assert_allclose(res.params, [ref["intercept"], ref["slope"]], rtol=1e-6)
    ci = res.conf_int(0.05)
    assert_allclose(ci[1], ref["slope_ci"], rtol=1e-6)
    assert_allclose(ci[0], ref["intercept_ci"], rtol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        dc.eiv.deming(-np.array(d["x"]), d["y"], weighted=True)


def test_passing_bablok_and_theil_sen_reproduce_references():
    d = _mcr_td9()
    x, y = np.array(d["x"]), np.array(d["y"])
    pb = dc.eiv.passing_bablok(x, y)
    ref = d["PaBa"]
    assert_allclose(pb.params, [ref["intercept"], ref["slope"]], rtol=1e-10)
    assert_allclose(pb.conf_int(0.05)[1], ref["slope_ci"], rtol=1e-10)
    assert_allclose(pb.conf_int(0.05)[0], ref["intercept_ci"], rtol=1e-10)
    ts = dc.eiv.theil_sen(x, y)
    ref = d["TheilSen"]
    assert_allclose(ts.params, [ref["intercept"], ref["slope"]], rtol=1e-10)
    # interval: Sen (1968) as implemented by scipy (independent code)
    sp = stats.theilslopes(y, x, 0.95, method="joint")
    assert_allclose(ts.ci[1], [sp.low_slope, sp.high_slope], rtol=1e-12)
    with pytest.raises(ValueError, match="refit"):
        pb.conf_int(0.1)


def test_passing_bablok_is_symmetric_in_x_and_y():
    rng = np.random.default_rng(5)
    xi = rng.uniform(1, 10, 41)
    x, y = xi + rng.normal(0, 0.3, 41), 0.5 + 1.2 * xi + rng.normal(0, 0.3, 41)
    b_xy = dc.eiv.passing_bablok(x, y).slope
    b_yx = dc.eiv.passing_bablok(y, x).slope
    # exact when the shifted median is one slope; with an even count it is the mean of two
    # neighbouring slopes and the reciprocal property holds to their (tiny) spread
    assert_allclose(b_xy * b_yx, 1.0, rtol=1e-6)


def test_deming_jackknife_matches_brute_force_and_analytic_se_is_calibrated():
    rng = np.random.default_rng(11)
    n = 40
    xi = rng.uniform(0, 10, n)
    x, y = xi + rng.normal(0, 1, n), 1 + 0.8 * xi + rng.normal(0, 1.5, n)
    res = dc.eiv.deming(x, y, ratio=2.25, se="jackknife")
    loo = np.array([dc.eiv.deming(np.delete(x, i), np.delete(y, i), ratio=2.25,
                                  se="analytic").params for i in range(n)])
    assert_allclose(res.replicates, loo, rtol=1e-10)
    d = loo - loo.mean(0)
    assert_allclose(res.cov, (n - 1) / n * d.T @ d, rtol=1e-10)
    # bootstrap is reproducible with a seed
    b1 = dc.eiv.deming(x, y, ratio=2.25, se="bootstrap", n_boot=50, rng=1)
    b2 = dc.eiv.deming(x, y, ratio=2.25, se="bootstrap", n_boot=50, rng=1)
    assert_allclose(b1.bse, b2.bse)
    # analytic SE (Fuller 1987 Thm 1.3.1) vs Monte-Carlo spread of the slope
    slopes, ses = [], []
    for _ in range(300):
        x = xi + rng.normal(0, 1, n)
        y = 1 + 0.8 * xi + rng.normal(0, 1.5, n)
        r = dc.eiv.deming(x, y, ratio=2.25, se="analytic")
        slopes.append(r.slope)
        ses.append(r.bse[1])
    # the mean analytic SE matches the MC sd within ~15% (MC sd has ~4% error at 300 reps)
    assert_allclose(np.mean(ses), np.std(slopes), rtol=0.15)
    assert abs(np.mean(slopes) - 0.8) < 3 * np.std(slopes) / np.sqrt(300) + 0.01


def test_deming_from_replicates_uses_the_variance_ratio():
    rng = np.random.default_rng(2)
    n, k = 300, 3
    xi = rng.uniform(0, 10, n)
    xr = xi[:, None] + rng.normal(0, 0.5, (n, k))
    yr = 2 * xi[:, None] + rng.normal(0, 1.0, (n, k))
    res = dc.eiv.deming(xr, yr, x_error=dc.eiv.MeasurementError(replicates=True),
                        y_error=dc.eiv.MeasurementError(replicates=True))
    assert 2.5 < res.info[0][1] < 6.0          # true delta = 4
    assert abs(res.slope - 2) < 0.05


def test_line_bad_input():
    with pytest.raises(ValueError, match="mismatched"):
        dc.eiv.deming([1, 2, 3, 4], [1, 2, 3])
    with pytest.raises(ValueError, match="non-finite"):
        dc.eiv.deming([1, 2, np.nan], [1, 2, 3])
    with pytest.raises(ValueError, match="positive"):
        dc.eiv.deming([1, 2, 3], [1, 2, 3.5], ratio=0)
    with pytest.raises(ValueError, match="positive"):
        dc.eiv.york([1, 2, 3], [1, 2, 3.5], [0.1, 0, 0.1], 0.1)
    with pytest.raises(ValueError, match="between -1 and 1"):
        dc.eiv.york([1, 2, 3], [1, 2, 3.5], 0.1, 0.1, r=1.0)
    with pytest.raises(ValueError, match="constant"):
        dc.eiv.theil_sen([1, 1, 1], [1, 2, 3])


def test_line_results_plot_and_summary():
    res = dc.eiv.york(PEARSON_X, PEARSON_Y, 1 / np.sqrt(YORK_WX), 1 / np.sqrt(YORK_WY))
    ax = res.plot()
    assert ax.get_xlabel() == "x"
    ci = res.conf_int(0.05)
    assert np.all(ci[:, 0] < res.params) and np.all(res.params < ci[:, 1])
    assert "slope" in str(res.summary())
    assert res["slope"] == res.slope


def test_york_resampling_standard_errors_agree_with_analytic():
    # data generated exactly under York's model: the analytic (York 2004) errors, the
    # jackknife and the bootstrap all estimate the same sampling spread
    rng = np.random.default_rng(21)
    n = 150
    xi = rng.uniform(0, 10, n)
    sx, sy = rng.uniform(0.2, 0.6, n), rng.uniform(0.3, 1.0, n)
    x, y = xi + rng.normal(0, sx), 1 + 0.5 * xi + rng.normal(0, sy)
    an = dc.eiv.york(x, y, sx, sy)
    jk = dc.eiv.york(x, y, sx, sy, se="jackknife")
    bs = dc.eiv.york(x, y, sx, sy, se="bootstrap", n_boot=200, rng=3)
    assert_allclose(jk.params, an.params)
    assert_allclose(jk.bse, an.bse, rtol=0.3)
    assert_allclose(bs.bse, an.bse, rtol=0.3)
    assert 0.5 < an.mswd < 1.5
    # reproducible bootstrap
    bs2 = dc.eiv.york(x, y, sx, sy, se="bootstrap", n_boot=200, rng=3)
    assert_allclose(bs.bse, bs2.bse, rtol=0, atol=0)


def test_york_and_odr_accept_measurement_error_descriptions():
    rng = np.random.default_rng(23)
    n, k = 80, 3
    xi = rng.uniform(0, 10, n)
    kx = rng.integers(2, k + 1, n)                     # unequal replicate counts
    xr = xi[:, None] + rng.normal(0, 0.4, (n, k))
    xr[np.arange(k)[None, :] >= kx[:, None]] = np.nan
    y = 1 + 0.5 * xi + rng.normal(0, 0.3, n)
    err = dc.eiv.MeasurementError(replicates=True)
    res = dc.eiv.york(xr, y, err, 0.3)
    r = err.resolve(xr)
    direct = dc.eiv.york(r.w[:, 0], y, np.sqrt(r.variances()[:, 0]), 0.3)
    assert_allclose(res.params, direct.params, rtol=1e-12)
    # standard error of each unit mean is sigma / sqrt(k_i)
    assert_allclose(res.sx * np.sqrt(kx), np.full(n, res.sx[0] * np.sqrt(kx[0])), rtol=1e-12)
    od = dc.eiv.odr(lambda x, b: b[0] + b[1] * x, xr, y, [0.0, 1.0], sx=err, sy=0.3,
                    scale_cov=False)
    assert_allclose(od.params, res.params, rtol=1e-8)     # straight-line ODR = York
