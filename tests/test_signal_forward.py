"""ForWaRD (Neelamani, Choi & Baraniuk 2004): Fourier then wavelet shrinkage."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv.signal as ds
from deconv.signal import testsignals as ts

from _signal_helpers import classic_problem, oracle_linear_wiener, skimage_wiener_isnr


@pytest.fixture(scope="module")
def synthetic_classic():
    x = 255 * ts.piecewise_smooth_image(256)
    h, y, s = classic_problem(x)
    return x, h, y, s, oracle_linear_wiener(x, y, h, s, step=0.25)


def test_classic_synthetic_forward_beats_oracle_wiener(synthetic_classic):
    x, h, y, s, oracle = synthetic_classic
    res = ds.forward(y, h, boundary="periodic")
    got = ds.metrics.isnr(x, y, res)
    # the issue asks for "within 0.5 dB of the oracle-tuned linear Wiener"; ForWaRD
    # is in fact better (the paper's Table I shows the same ordering)
    assert got > oracle - 0.5
    assert got > oracle
    assert abs(res.noise_std / s - 1) < 0.05


def test_classic_camera():
    skd = pytest.importorskip("skimage.data")
    from skimage.transform import resize
    x = resize(skd.camera().astype(float), (256, 256), anti_aliasing=True)
    h, y, s = classic_problem(x)
    oracle = oracle_linear_wiener(x, y, h, s, step=0.25)
    assert ds.metrics.isnr(x, y, ds.forward(y, h, boundary="periodic")) > oracle - 0.5


def test_approximate_mse_rule_picks_a_near_best_tau(synthetic_classic):
    x, h, y, s, _ = synthetic_classic
    grid = 10.0 ** np.arange(-2.5, 1.01, 0.5)
    best = max(ds.metrics.isnr(x, y, ds.forward(y, h, tau=t, boundary="periodic")) for t in grid)
    auto = ds.metrics.isnr(x, y, ds.forward(y, h, boundary="periodic"))
    assert auto > best - 0.3


def test_translation_invariant_helps(synthetic_classic):
    x, h, y, s, _ = synthetic_classic
    a = ds.metrics.isnr(x, y, ds.forward(y, h, boundary="periodic"))
    b = ds.metrics.isnr(x, y, ds.forward(y, h, boundary="periodic", translation_invariant=True))
    assert b > a + 0.1


def test_noise_free_bias_vanishes():
    # tau -> 0 with a negligible noise level: ForWaRD -> the exact inverse filter
    x = ts.heavisine(512)
    h = ts.gaussian_kernel(1.0)
    y = ds.blur(x, h)
    errs = [np.max(np.abs(ds.forward(y, h, tau=t, noise_std=1e-9, boundary="periodic").x - x))
            for t in (1e-1, 1e-3, 1e-5)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-3


def test_one_dimensional_beats_wiener():
    rng = np.random.default_rng(3)
    h = ts.gaussian_kernel(3.0)
    wins = 0
    for name in ("blocks", "bumps", "doppler"):
        x = ts.make_signal(name, 2048)
        bx = ds.blur(x, h)
        y = bx + ds.metrics.sigma_for_bsnr(bx, 30) * rng.standard_normal(2048)
        f = ds.metrics.isnr(x, y, ds.forward(y, h, boundary="periodic"))
        w = ds.metrics.isnr(x, y, ds.wiener(y, h, boundary="periodic"))
        assert f > 0
        wins += f > w
    assert wins >= 2


def test_reflect_blurred_default_beats_skimage():
    x = 255 * ts.piecewise_smooth_image(256)
    h, y, s = classic_problem(x, seed=4, boundary="reflect")
    res = ds.forward(y, h)
    assert res.boundary == "model"
    ours = ds.metrics.isnr(x, y, res)
    periodic = ds.metrics.isnr(x, y, ds.forward(y, h, boundary="periodic"))
    assert ours > 4.0 and ours > periodic + 1.0
    assert ours > skimage_wiener_isnr(x, y, h) + 3.0


def test_batch_dtype_and_errors():
    rng = np.random.default_rng(5)
    h = ts.gaussian_kernel(2.0)
    Y = ds.blur(np.stack([ts.blocks(256), ts.bumps(256)]), h) + 0.05 * rng.standard_normal((2, 256))
    res = ds.forward(Y, h)
    assert res.x.shape == (2, 256) and np.shape(res.regularization) == (2,)
    for i in range(2):
        assert_allclose(res.x[i], ds.forward(Y[i], h).x, atol=1e-10)
    r32 = ds.forward(Y.astype(np.float32), h, tau=0.3, noise_std=0.05, boundary="pad")
    r64 = ds.forward(Y, h, tau=0.3, noise_std=0.05, boundary="pad")
    assert r32.x.dtype == np.float32
    assert_allclose(r32.x, r64.x, atol=2e-3)     # single-precision FFT round-off
    with pytest.raises(ValueError, match="wavelet"):
        ds.forward(Y, h, wavelet="bior2.2")
    with pytest.raises(ValueError, match="tau"):
        ds.forward(Y, h, tau=-1.0)
    # 3-D works (wavedecn)
    rng3 = np.random.default_rng(6)
    vol = ds.blur(rng3.random((16, 16, 16)), ts.gaussian_kernel(1.0, 3))
    vol += 0.01 * rng3.standard_normal(vol.shape)      # the noise that noise_std states
    assert ds.forward(vol, ts.gaussian_kernel(1.0, 3), noise_std=0.01).x.shape == (16, 16, 16)


def test_kernels_match_numpy():
    # compiled single-pass sums vs. the obvious NumPy expressions
    from deconv._kernels._signal import filter_criterion, wiener_gain
    rng = np.random.default_rng(7)
    A, D, P, w, PX = (rng.random(1000) for _ in range(5))
    A[0] = D[0] = 0.0
    rss, tr = filter_criterion(A, D, P, w, 0.3)
    den = A + 0.3 * D
    ok = den > 0
    assert_allclose(rss, np.sum(P[ok] * (0.3 * D[ok] / den[ok]) ** 2), rtol=1e-12)
    assert_allclose(tr, np.sum(w[ok] * A[ok] / den[ok]), rtol=1e-12)
    q = np.empty(1000)
    dist = wiener_gain(A, PX, w, 0.2, q)
    assert_allclose(q, PX / (A * PX + 0.2), rtol=1e-12)
    assert_allclose(dist, np.sum(w * (1 - A * q) ** 2 * PX), rtol=1e-12)


def test_gaussian_crop_pilot_not_fooled_by_pad_extension():
    # issue 6: ForWaRD's pilot lambda chosen by GCV on the "pad" grid under a 17x17
    # Gaussian blur (sd 2) on a crop gave -10.8 dB at 256 px; with the interior
    # safeguard the pilot is re-selected. Expected: within 1 dB of the best linear
    # boundary-model Wiener-Hunt on a lambda grid (measured: 3.05 vs 3.03 dB at 96 px).
    from _signal_helpers import scene_crop
    h = ts.gaussian_kernel(2.0, 2)
    x, y, _ = scene_crop(96, h, seed=0)
    got = ds.metrics.isnr(x, y, ds.forward(y, h))
    best = max(ds.metrics.isnr(x, y, ds.wiener(y, h, balance=lam))
               for lam in 10.0 ** np.arange(-6.0, -0.9, 0.5))
    assert got > best - 1.0
