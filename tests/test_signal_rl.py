"""Richardson-Lucy: boundary-correct normalisation, acceleration, TV, stopping."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv.signal as ds
from deconv.exceptions import DeconvWarning
from deconv.signal import testsignals as ts


def _matrix_rl(y, h, n_iter):
    """Obviously-correct reference: explicit H mapping an object of length n+s-1 to the frame."""
    n, s = y.size, h.size
    m = n + s - 1
    H = np.zeros((n, m))
    for i in range(n):
        H[i, i:i + s] = h[::-1]          # y[i] = sum_k h[k] x[i + c - k], object offset s-1-c
    norm = H.T @ np.ones(n)
    live = norm > 0                      # object samples that reach the frame at all
    x = np.where(live, y.mean(), 0.0)
    for _ in range(n_iter):
        x[live] = x[live] / norm[live] * (H.T @ (y / (H @ x)))[live]
    lo = s - 1 - s // 2
    return x[lo:lo + n]


@pytest.mark.parametrize("h", [ts.gaussian_kernel(2.0), ts.gamma_kernel(2.0, 2.0), np.array([0.2, 0.5, 0.3, 0.1])])
def test_masked_rl_matches_explicit_matrix(h):
    h = h / h.sum()
    rng = np.random.default_rng(0)
    x = 5 + 20 * ts.bumps(96)
    y = rng.poisson(ds.blur(x, h, boundary="reflect")).astype(float) + 1
    ours = ds.richardson_lucy(y, h, n_iter=25, stop=None, accelerate=False).x
    assert_allclose(ours, _matrix_rl(y, h, 25), rtol=1e-8)


def test_noise_free_periodic_error_decreases():
    # iterations play the role of 1/regularisation: error -> 0 as they grow
    x = 1 + ts.heavisine(256) ** 2
    h = ts.gaussian_kernel(1.0)
    y = ds.blur(x, h)
    errs = [np.max(np.abs(ds.richardson_lucy(y, h, n_iter=n, stop=None, boundary="periodic").x - x))
            for n in (5, 50, 500)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.02 * x.max()


def test_constant_object_is_a_fixed_point_at_the_border():
    # an object that continues beyond the frame: H^T 1 normalisation keeps it flat
    y = np.full((40, 40), 7.0)
    r = ds.richardson_lucy(y, ts.gaussian_kernel(2.0, 2), n_iter=20, stop=None)
    assert_allclose(r.x, 7.0, rtol=1e-6)


def test_borders_vs_skimage():
    # reflect-blurred, high-count image: ours keeps the border error near the interior one,
    # skimage's normalisation by 1 makes it collapse (scikit-image issue #3875-type artefacts)
    x = (ts.piecewise_smooth_image(128) + 0.1) * 3000
    h = ts.gaussian_kernel(2.0, 2)
    y = np.random.default_rng(1).poisson(ds.blur(x, h, boundary="reflect")).astype(float)
    b = np.zeros(x.shape, bool)
    b[:10] = b[-10:] = True
    b[:, :10] = b[:, -10:] = True

    def border_isnr(xh):
        return 10 * np.log10(np.sum((y - x)[b] ** 2) / np.sum((xh - x)[b] ** 2))

    ours = border_isnr(ds.richardson_lucy(y, h, n_iter=30, stop=None, accelerate=False).x)
    periodic = border_isnr(ds.richardson_lucy(y, h, n_iter=30, stop=None, accelerate=False,
                                              boundary="periodic").x)
    assert ours > 0 and ours > periodic + 2
    restoration = pytest.importorskip("skimage.restoration")
    sk = restoration.richardson_lucy(y / y.max(), h, num_iter=30, clip=False) * y.max()
    assert ours > border_isnr(sk) + 10


def test_acceleration_reaches_same_fit_faster():
    x = 5 + 20 * ts.bumps(512)
    h = ts.gaussian_kernel(4.0)
    y = ds.blur(x, h, boundary="reflect")
    def fit(r):
        return np.mean((ds.blur(r.x, h, boundary="reflect") - y) ** 2)
    plain = fit(ds.richardson_lucy(y, h, n_iter=60, stop=None, accelerate=False))
    fast = fit(ds.richardson_lucy(y, h, n_iter=20, stop=None, accelerate=True))
    assert fast < plain


def test_stopping_rules():
    rng = np.random.default_rng(2)
    x = 10 + 100 * ts.piecewise_smooth_image(96)
    h = ts.gaussian_kernel(2.0, 2)
    bx = ds.blur(x, h, boundary="reflect")
    counts = rng.poisson(bx).astype(float)
    r = ds.richardson_lucy(counts, h, n_iter=200)            # auto -> Pearson statistic
    assert r.rule == "stop=poisson" and r.n_iter < 200
    assert ds.metrics.isnr(x, counts, r) > 2.0
    gauss = bx + 2.0 * rng.standard_normal(x.shape)
    r2 = ds.richardson_lucy(gauss, h, n_iter=200)            # auto -> Gaussian discrepancy
    assert r2.rule == "stop=discrepancy" and r2.n_iter < 200
    resid = np.mean((ds.blur(r2.x, h, boundary="reflect") - gauss) ** 2)
    assert resid < 4.0 * 1.1          # at most one iteration past the noise level
    assert ds.metrics.isnr(x, gauss, r2) > 1.0


def test_tv_regularisation_tames_noise():
    rng = np.random.default_rng(3)
    x = 10 + 100 * ts.piecewise_smooth_image(96)
    h = ts.gaussian_kernel(2.0, 2)
    y = rng.poisson(ds.blur(x, h, boundary="reflect")).astype(float)
    plain = ds.richardson_lucy(y, h, n_iter=40, stop=None)
    reg = ds.richardson_lucy(y, h, n_iter=40, stop=None, tv=0.01)
    assert ds.metrics.isnr(x, y, reg) > ds.metrics.isnr(x, y, plain) + 1.0


def test_batch_dtype_and_errors():
    rng = np.random.default_rng(4)
    h = ts.gaussian_kernel(2.0)
    Y = rng.poisson(ds.blur(10 + 10 * rng.random((3, 64)), h)).astype(np.float32)
    res = ds.richardson_lucy(Y, h, n_iter=10, stop=None)
    assert res.x.dtype == np.float32 and res.x.shape == (3, 64)
    for i in range(3):
        assert_allclose(res.x[i], ds.richardson_lucy(Y[i], h, n_iter=10, stop=None).x, rtol=1e-5)
    with pytest.raises(ValueError, match="non-negative"):
        ds.richardson_lucy(Y[0], np.array([0.5, -0.1, 0.6]))
    with pytest.warns(DeconvWarning):
        ds.richardson_lucy(Y[0] - 12, h, n_iter=2, stop=None)
    with pytest.raises(ValueError, match="stop"):
        ds.richardson_lucy(Y[0], h, stop="never")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = ds.richardson_lucy(Y[0], h, n_iter=5, stop=None, clip=(0, 12))
    assert out.x.max() <= 12


def test_damping_limits_and_effect():
    rng = np.random.default_rng(5)
    x = 10 + 100 * ts.piecewise_smooth_image(64)
    h = ts.gaussian_kernel(2.0, 2)
    y = rng.poisson(ds.blur(x, h, boundary="reflect")).astype(float)
    kw = dict(n_iter=40, stop=None, accelerate=False)
    plain = ds.richardson_lucy(y, h, **kw)
    # U = min(1, D / T^2): T -> 0 gives U = 1 (plain RL); T -> inf gives U = 0 (no update)
    assert_allclose(ds.richardson_lucy(y, h, damping=1e-12, **kw).x, plain.x, rtol=1e-10)
    frozen = ds.richardson_lucy(y, h, damping=1e12, **kw).x
    assert_allclose(frozen, np.full_like(frozen, y.mean()), rtol=1e-10)
    # in between it curbs the noise amplification of long runs
    damped = ds.richardson_lucy(y, h, damping=3.0, n_iter=100, stop=None)
    undamped = ds.richardson_lucy(y, h, n_iter=100, stop=None)
    assert ds.metrics.isnr(x, y, damped) > ds.metrics.isnr(x, y, undamped) + 5.0
