"""Orthogonal distance regression: agreement with ODRPACK, covariance conventions."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv as dc


def _expo_problem():
    rng = np.random.default_rng(0)
    xt = np.linspace(0, 5, 25)
    sx = rng.uniform(0.03, 0.08, 25)                  # per-point x errors
    x = xt + rng.normal(0, sx)
    y = 2 * np.exp(0.3 * xt) + rng.normal(0, 0.1, 25)

    def f(x, b):
        return b[0] * np.exp(b[1] * x)

    def jb(x, b):
        return np.vstack([np.exp(b[1] * x), b[0] * x * np.exp(b[1] * x)])

    def jx(x, b):
        return b[0] * b[1] * np.exp(b[1] * x)
    return f, jb, jx, x, y, 1 / sx ** 2, np.full(25, 1 / 0.1 ** 2)


def test_agrees_with_odrpack_at_tight_tolerances():
    odrpack = pytest.importorskip("odrpack")
    f, jb, jx, x, y, wx, wy = _expo_problem()
    ref = odrpack.odr_fit(f, x, y, np.array([1.0, 0.2]), weight_x=wx, weight_y=wy,
                          jac_beta=jb, jac_x=jx, sstol=1e-15, partol=1e-15, maxit=1000)
    res = dc.eiv.odr(f, x, y, [1.0, 0.2], weight_x=wx, weight_y=wy, jac_beta=jb, jac_x=jx)
    assert res.converged
    assert_allclose(res.params, ref.beta, rtol=1e-8)
    assert_allclose(res.sd_beta, ref.sd_beta, rtol=1e-8)
    assert_allclose(res.cov_unscaled, ref.cov_beta, rtol=1e-8)   # ODRPACK's cov_beta
    assert_allclose(res.res_var, ref.res_var, rtol=1e-8)
    assert_allclose(res.sum_square, ref.sum_square, rtol=1e-8)
    assert_allclose(res.delta, ref.delta, rtol=1e-6, atol=1e-10)
    # numerical Jacobians (central differences) land on the same solution
    num = dc.eiv.odr(f, x, y, [1.0, 0.2], weight_x=wx, weight_y=wy)
    assert_allclose(num.params, ref.beta, rtol=1e-8)


def test_agrees_with_odrpack_several_explanatory_variables():
    odrpack = pytest.importorskip("odrpack")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2, 40))
    y = 1 + 2 * X[0] - X[1] + 0.3 * X[0] * X[1] + 0.1 * rng.normal(size=40)

    def f(x, b):
        return b[0] + b[1] * x[0] + b[2] * x[1] + b[3] * x[0] * x[1]

    def jb(x, b):
        return np.vstack([np.ones(x.shape[1]), x[0], x[1], x[0] * x[1]])

    def jx(x, b):
        return np.vstack([b[1] + b[3] * x[1], b[2] + b[3] * x[0]])
    wx = np.array([4.0, 9.0])                           # one weight per variable
    ref = odrpack.odr_fit(f, X, y, np.array([0.0, 1, 1, 0]), weight_x=wx, jac_beta=jb,
                          jac_x=jx, sstol=1e-15, partol=1e-15, maxit=1000)
    res = dc.eiv.odr(f, X, y, [0.0, 1, 1, 0], weight_x=wx, jac_beta=jb, jac_x=jx)
    assert res.plot().get_xlabel().startswith("fitted")
    assert_allclose(res.params, ref.beta, rtol=1e-8)
    assert_allclose(res.sd_beta, ref.sd_beta, rtol=1e-8)
    assert_allclose(res.cov_unscaled, ref.cov_beta, rtol=1e-8)


def test_agrees_with_scipy_odr():
    so = pytest.importorskip("scipy.odr")
    f, jb, jx, x, y, wx, wy = _expo_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # scipy.odr is deprecated in 1.17
        model = so.Model(lambda b, x: f(x, b), fjacb=lambda b, x: jb(x, b),
                         fjacd=lambda b, x: jx(x, b))
        out = so.ODR(so.Data(x, y, wd=wx, we=wy), model, beta0=[1.0, 0.2], sstol=1e-15,
                     partol=1e-15, maxit=1000).run()
    res = dc.eiv.odr(f, x, y, [1.0, 0.2], weight_x=wx, weight_y=wy, jac_beta=jb, jac_x=jx)
    # scipy.odr (ODRPACK 2.01) stops at its own parameter criterion (~1e-9 here), so the
    # covariance, evaluated at its final iterate, agrees to ~1e-7
    assert_allclose(res.params, out.beta, rtol=1e-8)
    assert_allclose(res.sd_beta, out.sd_beta, rtol=1e-6)
    assert_allclose(res.cov_unscaled, out.cov_beta, rtol=1e-6)


def test_straight_line_odr_is_deming_and_covariance_conventions():
    rng = np.random.default_rng(2)
    xt = rng.uniform(0, 10, 60)
    x = xt + rng.normal(0, 0.5, 60)
    y = 1 + 0.7 * xt + rng.normal(0, 1.0, 60)
    res = dc.eiv.odr(lambda x, b: b[0] + b[1] * x, x, y, [0.0, 1.0], sx=0.5, sy=1.0)
    dm = dc.eiv.deming(x, y, ratio=4.0)                 # closed form, delta = 1 / 0.25
    assert_allclose(res.params, dm.params, rtol=1e-9)
    # conventions: sd_beta = sqrt(diag(cov_unscaled) * res_var); scale_cov picks cov
    assert_allclose(res.sd_beta, np.sqrt(np.diag(res.cov_unscaled) * res.res_var))
    assert_allclose(res.bse, res.sd_beta)
    raw = dc.eiv.odr(lambda x, b: b[0] + b[1] * x, x, y, [0.0, 1.0], sx=0.5, sy=1.0,
                     scale_cov=False)
    assert_allclose(raw.bse, np.sqrt(np.diag(raw.cov_unscaled)))
    # York's analytic errors for the same known variances are the unscaled ones
    yk = dc.eiv.york(x, y, 0.5, 1.0)
    assert_allclose(raw.bse, yk.bse, rtol=0.05)
    assert res.plot() is not None
    assert "ODR" in res.summary().as_text()


def test_odr_bad_input():
    x = np.linspace(0, 1, 10)
    y = 2 * x
    line = lambda x, b: b[0] + b[1] * x           # noqa: E731
    with pytest.raises(ValueError, match="mismatched"):
        dc.eiv.odr(line, x, y[:-1], [0, 1])
    with pytest.raises(ValueError, match="positive"):
        dc.eiv.odr(line, x, y, [0, 1], sx=-1.0)
    with pytest.raises(ValueError, match="not both"):
        dc.eiv.odr(line, x, y, [0, 1], sx=1.0, weight_x=1.0)
    with pytest.raises(ValueError, match="non-finite"):
        dc.eiv.odr(line, np.r_[x[:-1], np.nan], y, [0, 1])
    with pytest.raises(ValueError, match="shape"):
        dc.eiv.odr(lambda x, b: b[0], x, y, [0, 1])
    with pytest.raises(TypeError):
        dc.eiv.odr("line", x, y, [0, 1])
