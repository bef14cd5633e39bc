"""Foundations of deconv.signal: operator, boundaries, validation, noise, metrics, signals."""
import numpy as np
import pytest
import scipy.ndimage as ndi
from numpy.testing import assert_allclose

import deconv.signal as ds
from deconv.signal import testsignals as ts
from deconv.signal._operator import make_problem


def test_blur_periodic_matches_scipy_wrap():
    # independent reference: scipy.ndimage.convolve with mode="wrap" (odd and even kernels)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 20, 17))
    for k in (rng.random((5, 3)), rng.random((4, 6))):
        ref = np.stack([ndi.convolve(xi, k, mode="wrap") for xi in x])
        assert_allclose(ds.blur(x, k, boundary="periodic"), ref, rtol=1e-10, atol=1e-12)


def test_blur_reflect_matches_scipy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 16))
    k = ts.gaussian_kernel(1.5, ndim=2)
    assert_allclose(ds.blur(x, k, boundary="reflect"), ndi.convolve(x, k, mode="reflect"))


def test_reflect_extension_is_exact_for_symmetric_psf():
    # mirrored grid + symmetric PSF: periodic blur of the extension == reflect blur (Ng et al. 1999)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 10))
    k = ts.boxcar_kernel(3, 2)
    prob = make_problem(x, k, boundary="reflect")
    assert prob.ext_shape == (24, 20)
    got = prob.crop(prob.blur(prob.extend(x)))
    assert_allclose(got, ndi.convolve(x, k, mode="reflect"), atol=1e-12)


def test_boundary_auto_choice_and_pad_continuity():
    x = np.linspace(0, 1, 50)[None, :] * np.ones((40, 1))
    assert make_problem(x, ts.boxcar_kernel(3, 2)).boundary == "pad"
    prob = make_problem(x, ts.motion_kernel(5, 30))
    assert prob.boundary == "pad"
    e = prob.extend(x)
    # the apodised band connects the right edge to the left edge: small jumps everywhere,
    # including across the wrap (the data's own step is 1/49)
    jumps = np.abs(np.diff(np.concatenate([e, e[:, :1]], axis=1), axis=1))
    assert jumps.max() < 0.1


def test_psf_as_otf_equals_kernel():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(64)
    k = ts.gaussian_kernel(2.0)
    y = ds.blur(x, k) + 0.01 * rng.standard_normal(64)
    big = np.zeros(64)
    big[:k.size] = k
    otf = np.fft.fftn(np.roll(big, -(k.size // 2)))
    a = ds.wiener(y, k, balance=1e-3, boundary="periodic")
    b = ds.wiener(y, otf, balance=1e-3, otf=True)
    assert_allclose(a.x, b.x, atol=1e-10)


def test_batch_equals_loop_and_dtypes():
    rng = np.random.default_rng(4)
    k = ts.gaussian_kernel(2.0)
    Y = ds.blur(rng.standard_normal((3, 128)), k) + 0.05 * rng.standard_normal((3, 128))
    res = ds.wiener(Y, k)
    assert res.x.shape == (3, 128) and np.shape(res.regularization) == (3,)
    for i in range(3):
        one = ds.wiener(Y[i], k)
        assert_allclose(res.x[i], one.x, rtol=1e-10, atol=1e-12)
        assert_allclose(res.regularization[i], one.regularization, rtol=1e-10)
    r32 = ds.wiener(Y.astype(np.float32), k, balance=1e-2, boundary="pad")
    r64 = ds.wiener(Y, k, balance=1e-2, boundary="pad")
    assert r32.x.dtype == np.float32 and r64.x.dtype == np.float64
    assert_allclose(r32.x, r64.x, atol=1e-4)   # single-precision round-off only
    # explicit boundary model: CG stops at a relative residual of 2e-5 either way
    m32 = ds.wiener(Y.astype(np.float32), k, balance=1e-2)
    assert m32.x.dtype == np.float32
    assert_allclose(m32.x, ds.wiener(Y, k, balance=1e-2).x, atol=2e-3)
    assert ds.wiener(Y.astype(int), k, balance=1e-2).x.dtype == np.float64


def test_input_not_mutated_and_not_clipped():
    x = 3.0 * ts.blocks(256)       # values well outside [-1, 1]
    y = ds.blur(x, ts.boxcar_kernel(5))
    y0 = y.copy()
    res = ds.wiener(y, ts.boxcar_kernel(5), balance=1e-8, boundary="periodic")
    assert_allclose(y, y0)
    assert res.x.max() > 10     # no silent clipping


@pytest.mark.parametrize("bad, match", [
    (dict(y=np.array([1.0, np.nan, 2, 3, 4])), "non-finite"),
    (dict(y=np.array([1.0, np.inf, 2, 3, 4])), "non-finite"),
    (dict(psf=np.ones(9)), "larger than the signal"),
    (dict(psf=np.array([1.0, -1.0])), "sums to 0"),
    (dict(psf=np.ones((3, 3))), "mismatched dimensions"),
    (dict(psf=np.array([1.0, np.nan, 1.0])), "non-finite"),
    (dict(boundary="wrap"), "boundary"),
])
def test_bad_input(bad, match):
    kw = dict(y=np.arange(5.0), psf=np.ones(3) / 3)
    kw.update(bad)
    y = kw.pop("y")
    psf = kw.pop("psf")
    with pytest.raises(ValueError, match=match):
        ds.wiener(y, psf, **kw)


def test_bad_types():
    with pytest.raises(TypeError):
        ds.wiener("abc", np.ones(3))
    with pytest.raises(TypeError):
        ds.wiener(np.arange(8.0), np.ones(3), otf="yes")
    with pytest.raises(ValueError, match="OTF"):
        ds.wiener(np.arange(8.0), np.ones(8), otf=True, boundary="reflect")


@pytest.mark.parametrize("sigma", [0.05, 0.5])
def test_noise_estimate_on_blurred_signals(sigma):
    # truth is sigma; a blurred signal leaves the finest wavelet band ~ pure noise.
    rng = np.random.default_rng(5)
    errs = []
    for name in ("blocks", "bumps", "heavisine", "doppler"):
        x = ts.make_signal(name, 4096)
        y = ds.blur(x, ts.gaussian_kernel(2.0)) + sigma * rng.standard_normal(4096)
        errs.append(ds.estimate_noise(y) / sigma - 1)
    # MAD sd error for 2048 coefficients is ~ 1.67/sqrt(2048) = 3.7 %; allow ~2 sd
    assert np.max(np.abs(errs)) < 0.08
    img = ts.piecewise_smooth_image(256)
    y2 = ds.blur(img, ts.boxcar_kernel(9, 2)) + 0.01 * rng.standard_normal((256, 256))
    assert abs(ds.estimate_noise(y2) / 0.01 - 1) < 0.06   # 16384 coefficients: ~1.3 % sd


def test_noise_estimate_batch():
    rng = np.random.default_rng(6)
    y = rng.standard_normal((4, 2048)) * np.array([[1.0], [2.0], [3.0], [4.0]])
    s = ds.estimate_noise(y, ndim=1)
    assert s.shape == (4,)
    assert_allclose(s, [1, 2, 3, 4], rtol=0.1)


def test_metrics_closed_forms():
    x = np.zeros(100)
    x[50] = 1.0
    y = x + 0.1
    xhat = x + 0.01
    assert_allclose(ds.metrics.isnr(x, y, xhat), 20.0)            # (0.1/0.01)^2 -> 20 dB
    assert_allclose(ds.metrics.psnr(x, xhat), 40.0)               # range 1, mse 1e-4
    assert_allclose(ds.metrics.bsnr(np.array([1.0, -1.0] * 50), 0.1), 20.0)
    s = ds.metrics.sigma_for_bsnr(np.array([1.0, -1.0] * 50), 40)
    assert_allclose(s, 0.01)


def test_test_signals_and_kernels():
    # known values (Donoho & Johnstone 1994 definitions)
    assert_allclose(ts.blocks(1000)[[98, 99, 100]], [0.0, 2.0, 4.0])  # jump of 4 at t = 0.1 (sgn(0) = 0)
    assert_allclose(ts.heavisine(1000)[-1], 4 * np.sin(4 * np.pi) - 1 + 1, atol=1e-12)
    assert np.argmax(ts.cusp(1000)) in (0, 999) and np.argmin(ts.cusp(1000)) == 369
    for k in (ts.boxcar_kernel(9, 2), ts.gaussian_kernel(1.3, 3), ts.gamma_kernel(2, 3),
              ts.motion_kernel(7, 45)):
        assert_allclose(k.sum(), 1.0)
        assert all(s % 2 == 1 for s in k.shape)
    g = ts.gamma_kernel(2.0, 3.0)
    c = g.size // 2
    assert np.all(g[:c] == 0) and np.all(g[c:] >= 0)   # causal
    m = ts.motion_kernel(9, 0)
    assert np.count_nonzero(m.sum(axis=1) > 1e-6) <= 2  # a horizontal line
    assert ts.lidar(512).shape == (512,)
    with pytest.raises(ValueError):
        ts.make_signal("nope")


def test_result_object():
    rng = np.random.default_rng(7)
    k = ts.gaussian_kernel(2.0)
    y = ds.blur(ts.bumps(256), k) + 0.1 * rng.standard_normal(256)
    res = ds.wiener(y, k)
    assert res.shape == (256,) and np.asarray(res).shape == (256,)
    assert_allclose(np.asarray(res - y), res.x - y)
    text = str(res.summary())
    assert "wiener" in text and "gcv" in text
    ax = res.plot(y=y)
    assert ax is not None
    res2 = ds.wiener(np.stack([y, y]), k)
    assert res2.plot() is not None


def test_docstring_examples():
    # every public docstring example runs and gives what it says
    import doctest
    import sys
    for name in ("deconv.signal", "deconv.signal.noise", "deconv.signal.wiener",
                 "deconv.signal.forward", "deconv.signal.waved", "deconv.signal.tv",
                 "deconv.signal.richardson_lucy"):
        res = doctest.testmod(sys.modules[name])
        assert res.failed == 0, name


def test_cg_kernels_and_single_precision_operator():
    # the fused CG kernels vs NumPy, and the boundary-model solve with float32 FFTs
    # inside the operator vs float64 (same iterations, agreement to float32 round-off)
    from deconv._kernels._signal import cg_apply, cg_direction, cg_step
    from deconv.signal._operator import MaskedSystem, regularizer_symbol, rfft_weights
    rng = np.random.default_rng(11)
    shape = (6, 10)
    m = shape[-1] // 2 + 1
    w = np.broadcast_to(rfft_weights(shape), (6, m)).ravel()
    c = lambda: (rng.standard_normal(6 * m) + 1j * rng.standard_normal(6 * m))  # noqa: E731
    Hc, F, V, P, AP, X, R = (c() for _ in range(7))
    reg, pinv = rng.random(6 * m), rng.random(6 * m)
    out = np.empty_like(V)
    got = cg_apply(Hc, F, reg, V, out, m, True)
    assert_allclose(out, Hc * F + reg * V)
    assert_allclose(got, np.sum(w * (V.conj() * out).real))
    got32 = cg_apply(Hc, F.astype(np.complex64), reg, V, out, m, True)
    assert_allclose(got32, got, rtol=1e-5)
    X0, R0, Z = X.copy(), R.copy(), np.empty_like(R)
    rr, rz = cg_step(0.7, P, AP, X, R, pinv, Z, m, True)
    assert_allclose(X, X0 + 0.7 * P)
    assert_allclose(R, R0 - 0.7 * AP)
    assert_allclose(Z, pinv * R)
    assert_allclose([rr, rz], [np.sum(w * np.abs(R) ** 2), np.sum(w * (R.conj() * Z).real)])
    P0 = P.copy()
    cg_direction(0.3, Z, P)
    assert_allclose(P, Z + 0.3 * P0)
    # the single-precision loop's kernels: the step without storing Z, and the next
    # direction fused with its blur (rounded to complex64 before the product)
    from deconv._kernels._signal import cg_direction_blur, cg_step_nz
    X0, R0 = X.copy(), R.copy()
    rz = cg_step_nz(0.7, P, AP, X, R, pinv, m, True)
    assert_allclose(X, X0 + 0.7 * P)
    assert_allclose(R, R0 - 0.7 * AP)
    assert_allclose(rz, np.sum(w * pinv * np.abs(R) ** 2))
    H32 = c().astype(np.complex64)
    VH = np.empty(6 * m, dtype=np.complex64)
    P0 = P.copy()
    cg_direction_blur(0.3, R, pinv, P, H32, VH)
    assert_allclose(P, pinv * R + 0.3 * P0)
    assert_allclose(VH, P.astype(np.complex64) * H32, rtol=1e-6)

    y = ds.blur(ts.piecewise_smooth_image(48), ts.motion_kernel(7, 30), boundary="reflect")
    prob = make_problem(y, ts.motion_kernel(7, 30), boundary="model")
    reg = 1e-3 * regularizer_symbol(prob.ext_shape, "laplacian")
    sols = []
    for single in (False, True):
        system = MaskedSystem(prob, single=single)
        X, it, red = system.solve(system.rhs(prob.extend(y)), reg, tol=1e-3, maxiter=500)
        assert red < 1e-3
        sols.append(prob.crop(np.fft.irfftn(X, s=prob.ext_shape, axes=(0, 1))))
    # on the frame (what is reported; the exterior is weakly determined by design)
    assert_allclose(sols[1], sols[0], atol=1e-3 * np.abs(sols[0]).max())


def test_shift_spectrum_and_pad_twin():
    # a cyclic shift is a phase ramp: shift_spectrum(rfftn(x)) == rfftn(roll(x)) up to
    # round-off, for both signs and odd/even grid lengths
    from deconv.signal._operator import make_problem
    rng = np.random.default_rng(5)
    y = rng.standard_normal((37, 50))
    h = ts.motion_kernel(7, 30)
    prob = make_problem(y, h, boundary="model")
    x = rng.standard_normal(prob.ext_shape)
    X = np.fft.rfftn(x)
    for shift in (prob.offset, tuple(-o for o in prob.offset), (3, 0)):
        got = prob.shift_spectrum(X, shift)
        assert_allclose(got, np.fft.rfftn(np.roll(x, shift, axis=(0, 1))), atol=1e-10)
    # the pad twin is make_problem(..., boundary="pad") without the re-validation
    twin, ref = prob.pad_twin(), make_problem(y, h, boundary="pad")
    assert twin.boundary == "pad" and twin.ext_shape == ref.ext_shape
    assert twin.offset == ref.offset == (0, 0)
    assert_allclose(twin.otf, ref.otf)
    assert_allclose(twin.extend(twin.y), ref.extend(ref.y))
    with pytest.raises(ValueError, match="model"):
        ref.pad_twin()
