"""Moment (reliability-ratio) correction and the shared measurement-error description."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv as dc
from deconv.eiv import MeasurementError


def _data(rng, n, sigma_u=0.6, beta=(1.0, 2.0)):
    x = rng.normal(size=n)
    w = x + rng.normal(0, sigma_u, n)
    y = beta[0] + beta[1] * x + rng.normal(size=n)
    return w, y


def test_single_covariate_is_fuller_closed_form():
    rng = np.random.default_rng(0)
    w, y = _data(rng, 500)
    res = dc.eiv.moments(w, y, error_sd=0.6)
    n = w.size
    s_wy = np.sum((w - w.mean()) * (y - y.mean()))
    s_ww = np.sum((w - w.mean()) ** 2)
    # Fuller (1987) eq. 1.1.6: slope = m_wy / (m_ww - sigma_uu), moments with divisor n-1
    slope = s_wy / (s_ww - (n - 1) * 0.36)
    assert_allclose(res.params[1], slope, rtol=1e-12)
    assert_allclose(res.params[0], y.mean() - slope * w.mean(), rtol=1e-12)
    # the naive fit is ordinary least squares
    assert_allclose(res.naive_params[1], s_wy / s_ww, rtol=1e-12)


def test_error_descriptions_agree():
    rng = np.random.default_rng(1)
    w, y = _data(rng, 400)
    a = dc.eiv.moments(w, y, error_var=0.36)
    b = dc.eiv.moments(w, y, error=MeasurementError(sd=0.6))
    c = dc.eiv.moments(w, y, error_var=np.full(400, 0.36))
    rel = 1 - 0.36 / w.var(ddof=1)
    d = dc.eiv.moments(w, y, reliability=rel)
    for r in (b, c, d):
        assert_allclose(r.params, a.params, rtol=1e-12)


def test_multivariate_bias_shrinks_with_n_while_naive_does_not():
    rng = np.random.default_rng(2)
    S = np.array([[0.4, 0.1], [0.1, 0.3]])
    beta = np.array([1.0, 2.0, -1.0, 0.5])
    errs = {}
    for n in (500, 20000):
        est, naive = [], []
        for _ in range(20):
            x = rng.multivariate_normal([0, 0], [[1, 0.3], [0.3, 1]], n)
            z = rng.normal(size=n) + 0.4 * x[:, 0]
            w = x + rng.multivariate_normal([0, 0], S, n)
            y = beta[0] + x @ beta[1:3] + beta[3] * z + rng.normal(size=n)
            r = dc.eiv.moments(w, y, z, error_var=S)
            est.append(r.params)
            naive.append(r.naive_params)
        errs[n] = (np.abs(np.mean(est, 0) - beta).max(), np.abs(np.mean(naive, 0) - beta).max())
    assert errs[20000][0] < errs[500][0]
    assert errs[20000][0] < 0.02            # corrected: consistent
    assert errs[20000][1] > 0.2             # naive: attenuation stays


def _coverage(rng, reps, n, use_replicates):
    hits = 0
    for _ in range(reps):
        x = rng.normal(size=n)
        if use_replicates:
            wr = x[:, None] + rng.normal(0, 0.7, (n, 2))
            y = 1 + 2 * x + rng.standard_t(5, n)      # non-normal equation error
            r = dc.eiv.moments(wr, y, replicates=True)
        else:
            w = x + rng.normal(0, 0.7, n)
            y = 1 + 2 * x + rng.standard_t(5, n)
            r = dc.eiv.moments(w, y, error_sd=0.7)
        lo, hi = r.conf_int(0.05)[1]
        hits += lo <= 2 <= hi
    return hits / reps


@pytest.mark.parametrize("use_replicates", [False, True])
def test_sandwich_intervals_cover(use_replicates):
    # 300 replications: binomial sd of the coverage is 0.0126; accept 0.95 -+ 3 sd
    cov = _coverage(np.random.default_rng(3), 300, 300, use_replicates)
    assert 0.912 <= cov <= 0.988, cov


@pytest.mark.slow
@pytest.mark.parametrize("use_replicates", [False, True])
def test_sandwich_intervals_cover_large(use_replicates):
    cov = _coverage(np.random.default_rng(4), 2000, 500, use_replicates)
    assert 0.935 <= cov <= 0.965, cov


def test_error_variance_larger_than_observed_raises():
    rng = np.random.default_rng(5)
    w, y = _data(rng, 200)
    with pytest.raises(ValueError, match="not smaller than the observed variance"):
        dc.eiv.moments(w, y, error_var=5.0)
    # several covariates: positive definiteness of S_ww - Sigma is what matters
    W = np.column_stack([w, w + rng.normal(0, 0.1, 200)])
    with pytest.raises(ValueError, match="no corrected"):
        dc.eiv.moments(W, y, error_var=[0.9, 0.9])


def test_measurement_error_bad_input():
    rng = np.random.default_rng(6)
    w, y = _data(rng, 50)
    with pytest.raises(ValueError, match="positive"):
        dc.eiv.moments(w, y, error_var=-1.0)
    with pytest.raises(ValueError, match="positive"):
        dc.eiv.moments(w, y, error_sd=0.0)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        dc.eiv.moments(w, y, reliability=1.5)
    with pytest.raises(ValueError, match="positive"):
        dc.eiv.moments(w, y, reliability=0.0)
    with pytest.raises(ValueError, match="non-finite"):
        dc.eiv.moments(np.r_[w[:-1], np.nan], y, error_sd=0.5)
    with pytest.raises(ValueError, match="non-finite"):
        dc.eiv.moments(w, np.r_[y[:-1], np.inf], error_sd=0.5)
    with pytest.raises(ValueError, match="mismatched"):
        dc.eiv.moments(w, y[:-1], error_sd=0.5)
    with pytest.raises(ValueError, match="observations"):
        dc.eiv.moments(w, y, error_var=np.ones(10))
    with pytest.raises(ValueError, match="exactly one|only one"):
        dc.eiv.moments(w, y, error_sd=0.5, reliability=0.8)
    with pytest.raises(ValueError, match="describe the measurement error"):
        dc.eiv.moments(w, y)
    with pytest.raises(ValueError, match="exactly one"):
        MeasurementError()
    with pytest.raises(ValueError, match="positive definite"):
        dc.eiv.moments(np.column_stack([w, w]), y, error_var=[[1, 2], [2, 1]])
    wcopy = w.copy()
    dc.eiv.moments(w, y, error_sd=0.5)
    assert np.array_equal(w, wcopy)          # input not mutated


def test_replicates_resolve_and_missing_replicates():
    rng = np.random.default_rng(7)
    n = 3000
    x = rng.normal(size=n)
    wr = x[:, None] + rng.normal(0, 0.5, (n, 3))
    wr[::3, 2] = np.nan                       # unbalanced: some units have 2 replicates
    r = MeasurementError(replicates=True).resolve(wr)
    assert r.kind == "replicates" and r.df == np.sum(r.n_rep - 1)
    # pooled within-unit variance estimates 0.25; the mean of k_i replicates has 0.25/k_i
    assert_allclose(r.per_obs[:, 0] * r.n_rep, np.full(n, r.per_obs[0, 0] * r.n_rep[0]))
    assert abs(r.per_obs[0, 0] * r.n_rep[0] - 0.25) < 0.02
    with pytest.raises(ValueError, match="no non-missing"):
        MeasurementError(replicates=True).resolve(np.array([[1.0, 2], [np.nan, np.nan],
                                                            [1, 2], [3, 4]]))


def test_moments_result_interface():
    rng = np.random.default_rng(8)
    w, y = _data(rng, 300)
    res = dc.eiv.moments(w, y, error_sd=0.6)
    assert res.param_names == ["const", "w"]
    assert res.conf_int(0.05).shape == (2, 2)
    assert "Moment" in res.summary().as_text()
    ax = res.plot()
    assert len(ax.get_yticklabels()) == 2


@pytest.mark.parametrize("fn", [dc.eiv.moments, dc.eiv.regression_calibration, dc.eiv.simex])
def test_singular_design_is_a_clear_error(fn):
    rng = np.random.default_rng(9)
    w, y = rng.normal(size=40), rng.normal(size=40)
    with pytest.raises(ValueError, match="singular"):
        fn(w, y, np.ones(40), error_sd=0.1)
    with pytest.raises(ValueError, match="singular"):
        fn(np.column_stack([w, 2 * w]), y, error_var=[0.01, 0.04])


def test_row_error_covariances_for_unbalanced_replicates_of_several_covariates():
    rng = np.random.default_rng(10)
    n = 4000
    S = np.array([[0.5, 0.2], [0.2, 0.3]])
    x = rng.normal(size=(n, 2))
    wr = x[:, None, :] + rng.multivariate_normal([0, 0], S, (n, 3))
    wr[: n // 2, 2, :] = np.nan                        # half the units have 2 replicates
    r = MeasurementError(replicates=True).resolve(wr)
    assert_allclose(r.unit_cov, S, atol=0.03)          # pooled within-unit covariance
    assert_allclose(r.cov_of_row(0), r.unit_cov / 2)
    assert_allclose(r.cov_of_row(n - 1), r.unit_cov / 3)
    # simulated pseudo-errors have exactly those row covariances (in distribution)
    e = np.stack([r.noise_transform()(rng.standard_normal((n, 2))) for _ in range(200)])
    emp = np.einsum("bip,biq->ipq", e, e) / 200
    assert_allclose(emp[: n // 2].mean(0), r.unit_cov / 2, atol=0.01)
    assert_allclose(emp[n // 2:].mean(0), r.unit_cov / 3, atol=0.01)


def test_reliability_one_means_no_correction():
    rng = np.random.default_rng(11)
    w, y = _data(rng, 300)
    m = dc.eiv.moments(w, y, reliability=1.0)
    s = dc.eiv.simex(w, y, reliability=1.0, n_sim=5, rng=0)
    r = dc.eiv.regression_calibration(w, y, reliability=1.0, n_boot=20, rng=0)
    for res in (m, s, r):
        assert_allclose(res.params, res.naive_params, rtol=1e-10)
    assert_allclose(s.bse, np.sqrt(np.diag(s.naive_cov)), rtol=1e-8)


def test_pandas_inputs_name_the_parameters():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(12)
    n = 400
    df = pd.DataFrame({"bmi": rng.normal(size=n), "age": rng.normal(size=n)})
    df["sbp"] = 1 + df.bmi + 0.5 * df.age + rng.normal(size=n)
    w = (df.bmi + rng.normal(0, 0.4, n)).rename("bmi_measured")
    for fn in (dc.eiv.moments, dc.eiv.regression_calibration, dc.eiv.simex):
        kw = {"rng": 0} if fn is not dc.eiv.moments else {}
        if fn is dc.eiv.simex:
            kw["n_sim"] = 5
        if fn is dc.eiv.regression_calibration:
            kw = {"se": "model"}
        res = fn(w, df.sbp, df[["age"]], error_sd=0.4, **kw)
        assert res.param_names == ["const", "bmi_measured", "age"]
        assert res["bmi_measured"] == res.params[1]


def test_error_accepts_a_deconv_noise_law():
    # error=deconv.noise law and error_sd= describe the same error: identical estimates
    import deconv as dc
    from deconv.noise import Laplace, Normal

    rng = np.random.default_rng(5)
    x = rng.normal(size=400)
    w = x + Laplace(sd=0.4).rvs(size=400, rng=rng)
    y = 1.0 + 2.0 * x + rng.normal(scale=0.3, size=400)
    a = dc.eiv.moments(w, y, error=Laplace(sd=0.4))
    b = dc.eiv.moments(w, y, error_sd=0.4)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-14)
    sds = np.full(400, 0.4)
    c = dc.eiv.moments(w, y, error=Normal(sd=sds))
    np.testing.assert_allclose(c.params, b.params, rtol=1e-10)
    with pytest.raises(TypeError, match="MeasurementError or a deconv.noise law"):
        dc.eiv.moments(w, y, error=0.4)
