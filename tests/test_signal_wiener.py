"""Linear deconvolution: Wiener-Hunt, Tikhonov, GCV / SURE / discrepancy, Gibbs."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv.signal as ds
from deconv.signal import testsignals as ts


def _classic(img, seed=1):
    """9x9 box blur, BSNR 40 dB, periodic (Neelamani et al. 2004, Sec. V)."""
    h = ts.boxcar_kernel(9, 2)
    bx = ds.blur(img, h)
    s = ds.metrics.sigma_for_bsnr(bx, 40)
    y = bx + s * np.random.default_rng(seed).standard_normal(img.shape)
    return h, y, s


def oracle_linear_wiener(x, y, h, s):
    """Best ISNR of any linear Wiener-Hunt/Tikhonov filter, lambda tuned on the truth."""
    best = -np.inf
    for reg in ("identity", "gradient", "laplacian"):
        for lam in 10.0 ** np.arange(-6, 1, 0.125):
            r = ds.wiener(y, h, balance=lam, regularizer=reg, boundary="periodic", noise_std=s)
            best = max(best, ds.metrics.isnr(x, y, r))
    return best


@pytest.mark.parametrize("psf", [ts.gaussian_kernel(1.0), ts.boxcar_kernel(3)])
def test_noise_free_bias_vanishes(psf):
    # invertible blur (OTF bounded away from 0): error -> 0 as lambda -> 0
    x = ts.heavisine(512)
    y = ds.blur(x, psf)
    errs = [np.max(np.abs(ds.tikhonov(y, psf, lam=lam, boundary="periodic").x - x))
            for lam in (1e-2, 1e-4, 1e-6, 1e-8, 1e-10)]
    assert np.all(np.diff(errs) < 0)
    assert errs[-1] < 1e-5


def test_noise_free_2d_and_3d():
    rng = np.random.default_rng(0)
    for shape, psf in (((32, 24), ts.gaussian_kernel(0.8, 2)), ((12, 10, 8), ts.gaussian_kernel(0.7, 3))):
        x = rng.standard_normal(shape)
        y = ds.blur(x, psf)
        r = ds.wiener(y, psf, balance=1e-10, regularizer="identity", boundary="periodic")
        assert_allclose(r.x, x, atol=1e-6)


def test_classic_experiment_synthetic():
    # automatic Wiener (Laplacian, GCV) within 0.5 dB of the oracle-tuned linear Wiener
    x = 255 * ts.piecewise_smooth_image(256)
    h, y, s = _classic(x)
    oracle = oracle_linear_wiener(x, y, h, s)
    auto = ds.metrics.isnr(x, y, ds.wiener(y, h, boundary="periodic"))
    assert oracle > 4.0                    # the blur is strong: real gain available
    assert auto > oracle - 0.5
    sure = ds.metrics.isnr(x, y, ds.wiener(y, h, balance="sure", boundary="periodic"))
    assert sure > oracle - 0.5


def test_classic_experiment_camera():
    skd = pytest.importorskip("skimage.data")
    from skimage.transform import resize
    x = resize(skd.camera().astype(float), (256, 256), anti_aliasing=True)
    h, y, s = _classic(x)
    oracle = oracle_linear_wiener(x, y, h, s)
    auto = ds.metrics.isnr(x, y, ds.wiener(y, h, boundary="periodic"))
    assert auto > oracle - 0.5


def test_gcv_matches_brute_force_criterion():
    # GCV computed from the spectrum equals the textbook formula with explicit matrices
    rng = np.random.default_rng(3)
    n = 64
    h = ts.gaussian_kernel(1.5)
    y = ds.blur(rng.standard_normal(n), h) + 0.1 * rng.standard_normal(n)
    Hm = np.stack([ds.blur(np.eye(n)[i], h) for i in range(n)], axis=1)
    lam = 0.03
    Amat = Hm @ np.linalg.solve(Hm.T @ Hm + lam * np.eye(n), Hm.T)
    r = y - Amat @ y
    gcv_ref = (r @ r / n) / (1 - np.trace(Amat) / n) ** 2
    from deconv.signal._operator import make_problem, regularizer_symbol
    from deconv.signal.wiener import _Spectral
    prob = make_problem(y, h, boundary="periodic")
    Y = np.fft.rfft(y)
    w = np.broadcast_to(prob.weights(), Y.shape).ravel()
    A = np.abs(prob.otf) ** 2
    spec = _Spectral(A, regularizer_symbol((n,), "identity"), w * np.abs(Y) ** 2, w, n)
    assert_allclose(spec.gcv(lam), gcv_ref, rtol=1e-10)
    xhat = ds.tikhonov(y, h, lam=lam, boundary="periodic").x
    assert_allclose(Hm @ xhat, Amat @ y, atol=1e-10)


def test_discrepancy_rule_hits_noise_level():
    rng = np.random.default_rng(4)
    x = ts.doppler(1024)
    h = ts.gaussian_kernel(2.0)
    y = ds.blur(x, h) + 0.05 * rng.standard_normal(1024)
    r = ds.wiener(y, h, balance="discrepancy", noise_std=0.05, boundary="periodic")
    resid = y - ds.blur(r.x, h)
    assert_allclose(np.mean(resid ** 2), 0.05 ** 2, rtol=1e-3)


def test_unsupervised_gibbs_recovers_noise_and_is_reproducible():
    rng = np.random.default_rng(5)
    x = ts.heavisine(1024)
    h = ts.gaussian_kernel(3.0)
    y = ds.blur(x, h) + 0.1 * rng.standard_normal(1024)
    a = ds.unsupervised_wiener(y, h, boundary="periodic", rng=1)
    b = ds.unsupervised_wiener(y, h, boundary="periodic", rng=1)
    assert_allclose(a.x, b.x)
    assert abs(a.noise_std / 0.1 - 1) < 0.1
    assert ds.metrics.isnr(x, y, a) > 0.5
    assert len(a.info["gamma_noise"]) == a.n_iter


def test_unsupervised_gibbs_2d_nonperiodic():
    # skimage's unsupervised_wiener is 2-D and periodic only; ours runs on a reflect-blurred
    # image (non-periodic) and still improves it.
    x = ts.piecewise_smooth_image(96)
    h = ts.gaussian_kernel(1.5, 2)
    y = ds.blur(x, h, boundary="reflect") + 0.01 * np.random.default_rng(6).standard_normal(x.shape)
    r = ds.unsupervised_wiener(y, h, rng=0)
    assert r.boundary == "pad"
    assert ds.metrics.isnr(x, y, r) > 1.0


def test_reflect_blurred_edges_default_beats_skimage():
    # default pipeline (boundary="auto" -> mirrored grid) on a reflect-blurred image
    x = 255 * ts.piecewise_smooth_image(256)
    h = ts.boxcar_kernel(9, 2)
    bx = ds.blur(x, h, boundary="reflect")
    s = ds.metrics.sigma_for_bsnr(bx, 40)
    y = bx + s * np.random.default_rng(8).standard_normal(x.shape)
    ours = ds.metrics.isnr(x, y, ds.wiener(y, h))
    periodic = ds.metrics.isnr(x, y, ds.wiener(y, h, boundary="periodic"))
    assert ours > 4.0 and ours > periodic + 1.0
    restoration = pytest.importorskip("skimage.restoration")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = ds.metrics.isnr(x, y, 255 * restoration.wiener(y / 255, h, balance=0.1, clip=False))
    assert ours > sk + 3.0


def test_boundary_model_matches_dense_solution():
    # independent reference: the masked Tikhonov normal equations built as dense matrices
    # (object on the grid, data only on the frame) and solved by numpy.linalg.solve
    from deconv.signal._operator import make_problem
    rng = np.random.default_rng(9)
    n = 40
    h = np.array([0.1, 0.5, 0.3, 0.1])                 # asymmetric, even size
    y = ds.blur(rng.standard_normal(n), h) + 0.01 * rng.standard_normal(n)
    prob = make_problem(y, h, boundary="model")
    m = prob.ext_shape[0]
    C = np.stack([ds.blur(np.eye(m)[i], h) for i in range(m)], axis=1)   # circular blur
    lo = prob.offset[0]
    Hm = C[lo:lo + n]                                   # observed rows only
    d = np.zeros(m)
    d[[0, 1, -1]] = [2.0, -1.0, -1.0]                   # periodic second difference
    L = np.stack([np.roll(d, i) for i in range(m)])
    lam = 1e-2
    ref = np.linalg.solve(Hm.T @ Hm + lam * L.T @ L, Hm.T @ y)[lo:lo + n]
    got = ds.wiener(y, h, balance=lam, regularizer="laplacian", boundary="model")
    # CG stops at a relative residual of 1e-6 (or 30 iterations): a 1e-4 agreement
    assert_allclose(got.x, ref, atol=1e-4 * np.abs(ref).max())


def test_boundary_model_on_real_crops():
    # the realistic case: a larger scene blurred, then cropped; the frame's borders are not
    # periodic and the PSF may be asymmetric (motion). Default ("model") vs the pad extension.
    scene = 255 * ts.piecewise_smooth_image(224)
    rng = np.random.default_rng(10)
    for h in (ts.boxcar_kernel(7, 2), ts.motion_kernel(9, 30)):
        x = scene[24:200, 24:200]
        b = ds.blur(scene, h, boundary="reflect")[24:200, 24:200]
        y = b + ds.metrics.sigma_for_bsnr(b, 40) * rng.standard_normal(x.shape)
        auto = ds.wiener(y, h)
        assert auto.boundary == "model"
        gain = ds.metrics.isnr(x, y, auto)
        assert gain > 3.0
        assert gain > ds.metrics.isnr(x, y, ds.wiener(y, h, boundary="pad")) + 1.0
        assert ds.metrics.isnr(x, y, ds.forward(y, h)) > 2.5


def test_gibbs_rejects_explicit_model_boundary():
    with pytest.raises(ValueError, match="diagonal"):
        ds.unsupervised_wiener(np.arange(64.0), ts.gaussian_kernel(1.0), boundary="model")
