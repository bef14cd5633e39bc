"""Total-variation deconvolution (Chambolle-Pock) with the discrepancy principle."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import minimize

import deconv.signal as ds
from deconv.exceptions import ConvergenceWarning
from deconv.signal import testsignals as ts

from _signal_helpers import skimage_wiener_isnr


def _objective(x, y, h, lam):
    r = ds.blur(x, h) - y
    return 0.5 * np.sum(r ** 2) + lam * np.sum(np.abs(np.roll(x, -1) - x))


def test_matches_independent_qp_solution():
    # reference: the same convex problem as a smooth QP, solved by SLSQP
    # min 1/2 ||Hx - y||^2 + lam sum u  s.t.  -u <= Dx <= u  (periodic differences)
    rng = np.random.default_rng(0)
    n, lam = 24, 0.2
    h = ts.gaussian_kernel(1.0)
    x0 = np.repeat([0.0, 1.0, -0.5, 0.5], 6)
    y = ds.blur(x0, h) + 0.05 * rng.standard_normal(n)
    D = np.roll(np.eye(n), -1, axis=1) - np.eye(n)
    fun = lambda z: 0.5 * np.sum((ds.blur(z[:n], h) - y) ** 2) + lam * np.sum(z[n:])  # noqa: E731
    cons = [{"type": "ineq", "fun": lambda z: z[n:] - D @ z[:n]},
            {"type": "ineq", "fun": lambda z: z[n:] + D @ z[:n]}]
    z0 = np.concatenate([y, np.abs(D @ y) + 0.1])
    ref = minimize(fun, z0, constraints=cons, method="SLSQP",
                   options={"maxiter": 500, "ftol": 1e-12}).x[:n]
    ours = ds.tv(y, h, lam=lam, boundary="periodic", n_iter=5000, tol=1e-10).x
    assert _objective(ours, y, h, lam) <= _objective(ref, y, h, lam) + 1e-6
    assert_allclose(ours, ref, atol=5e-3)


def test_noise_free_bias_vanishes():
    x = ts.blocks(256)
    h = ts.gaussian_kernel(1.0)
    y = ds.blur(x, h)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        errs = [np.sqrt(np.mean((ds.tv(y, h, lam=lam, boundary="periodic", n_iter=2000,
                                       tol=1e-9).x - x) ** 2))
                for lam in (1e-1, 1e-2, 1e-3)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.02


def test_discrepancy_rule_and_quality_1d():
    rng = np.random.default_rng(1)
    x = ts.blocks(1024)
    h = ts.gaussian_kernel(3.0)
    y = ds.blur(x, h, boundary="reflect") + 0.1 * rng.standard_normal(1024)
    res = ds.tv(y, h, noise_std=0.1)
    resid = np.mean((ds.blur(res.x, h, boundary="reflect") - y) ** 2)
    assert_allclose(resid, 0.01, rtol=0.1)             # residual at the noise level
    # piecewise-constant truth: TV beats the linear Wiener filter by a wide margin
    assert ds.metrics.isnr(x, y, res) > ds.metrics.isnr(x, y, ds.wiener(y, h)) + 5


def test_2d_reflect_blurred_beats_skimage():
    rng = np.random.default_rng(2)
    x = 255 * ts.piecewise_smooth_image(96)
    h = ts.boxcar_kernel(5, 2)
    bx = ds.blur(x, h, boundary="reflect")
    y = bx + ds.metrics.sigma_for_bsnr(bx, 40) * rng.standard_normal(x.shape)
    ours = ds.metrics.isnr(x, y, ds.tv(y, h))
    assert ours > 5.0
    assert ours > skimage_wiener_isnr(x, y, h) + 3


def test_boundary_model_on_a_real_crop():
    # a larger scene blurred then cropped: the explicit boundary model (default) beats the
    # apodised extension by a wide margin
    rng = np.random.default_rng(4)
    scene = 255 * ts.piecewise_smooth_image(160)
    h = ts.boxcar_kernel(7, 2)
    x = scene[16:144, 16:144]
    b = ds.blur(scene, h, boundary="reflect")[16:144, 16:144]
    y = b + ds.metrics.sigma_for_bsnr(b, 40) * rng.standard_normal(x.shape)
    model = ds.tv(y, h)
    pad = ds.tv(y, h, boundary="pad")
    assert model.boundary == "model"
    assert ds.metrics.isnr(x, y, model) > ds.metrics.isnr(x, y, pad) + 2.0


def test_batch_dtype_errors():
    rng = np.random.default_rng(3)
    h = ts.gaussian_kernel(2.0)
    Y = ds.blur(np.stack([ts.blocks(128), ts.heavisine(128)]), h) + 0.05 * rng.standard_normal((2, 128))
    res = ds.tv(Y.astype(np.float32), h, lam=0.1, boundary="pad")
    assert res.x.dtype == np.float32 and res.x.shape == (2, 128)
    for i in range(2):
        assert_allclose(res.x[i], ds.tv(Y[i], h, lam=0.1, boundary="pad").x, atol=1e-4)
    with pytest.raises(ValueError, match="lam"):
        ds.tv(Y, h, lam="gcv")
    with pytest.raises(ValueError, match="lam"):
        ds.tv(Y, h, lam=0.0)


def test_tv_kernels_match_numpy():
    # compiled dual step / divergence / relaxation vs the obvious NumPy expressions
    # (periodic forward differences), in 1-D, 2-D (own fast path) and 3-D
    from deconv._kernels._signal import tv_divergence, tv_dual_step, tv_relax
    from deconv.signal.tv import _div, _grad
    rng = np.random.default_rng(8)
    for shape in [(9,), (5, 6), (1, 7), (6, 1), (3, 4, 5)]:
        d = len(shape)
        axes = tuple(range(d))
        x = rng.standard_normal(shape)
        p0 = rng.standard_normal((d,) + shape)
        q = [pi + 0.3 * gi for pi, gi in zip(p0, _grad(x, axes))]
        scale = np.maximum(1.0, np.sqrt(sum(qi * qi for qi in q)) / 0.5)
        ref = np.stack([qi / scale for qi in q])
        p = p0.copy()
        sh = np.array(shape, dtype=np.intp)
        tv_dual_step(x.ravel(), p.reshape(d, -1), sh, 0.3, 0.5)
        assert_allclose(p, ref, atol=1e-14)
        out = np.empty(shape)
        tv_divergence(ref.reshape(d, -1), sh, out.ravel())
        assert_allclose(out, _div(ref, axes), atol=1e-14)
    x, xn, xb = rng.standard_normal((3, 50))
    x0 = x.copy()
    dd, nn = tv_relax(x, xn, xb)
    assert_allclose(xb, 2 * xn - x0)
    assert_allclose(x, xn)
    assert_allclose([dd, nn], [np.sum((xn - x0) ** 2), np.sum(xn ** 2)])
