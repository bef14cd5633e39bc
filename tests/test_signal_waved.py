"""WaveD (Johnstone, Kerkyacharian, Picard & Raimondo 2004): periodic Meyer WVD."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv.signal as ds
from deconv.signal import testsignals as ts
from deconv.signal.waved import _freqs, meyer_coefficients, meyer_reconstruct


def test_meyer_transform_is_a_tight_frame():
    # |phi_hat|^2 + sum_j |psi_hat|^2 = 1 on the band: perfect reconstruction and Parseval
    n = 512
    rng = np.random.default_rng(0)
    F = np.fft.fft(rng.standard_normal(n)) / n
    F[np.abs(_freqs(n)) > n / 6] = 0                 # the band levels 3..7 cover exactly
    c = meyer_coefficients(F, 3, 7)
    assert [len(a) for a in c] == [8, 8, 16, 32, 64, 128]
    assert_allclose(meyer_reconstruct(c, n, 3), F, atol=1e-15)
    energy = sum(float(np.sum(a ** 2)) for a in c)
    assert_allclose(energy, np.sum(np.abs(F) ** 2), rtol=1e-12)   # ||f||^2 on [0, 1]


def test_meyer_wavelets_are_orthonormal():
    # inner products of single-coefficient functions, computed via Parseval
    n = 256
    funcs = []
    for lev, k in ((1, 3), (1, 4), (2, 5), (3, 0)):
        c = [np.zeros(8), np.zeros(8), np.zeros(16), np.zeros(32)]
        c[lev][k] = 1.0
        funcs.append(meyer_reconstruct(c, n, 3))
    G = np.array([[np.real(np.sum(a * np.conj(b))) for b in funcs] for a in funcs])
    assert_allclose(G, np.eye(4), atol=1e-12)


def test_noise_free_band_limited_recovery():
    n = 1024
    l = _freqs(n)
    rng = np.random.default_rng(1)
    X = np.fft.fft(rng.standard_normal(n))
    X[np.abs(l) > 60] = 0
    x = np.fft.ifft(X).real
    h = ts.gamma_kernel(1.0, 4.0)
    y = ds.blur(x, h)
    res = ds.waved(y, h, noise_std=1e-12, j1=7)
    assert_allclose(res.x, x, atol=1e-8)


def test_error_shrinks_with_n():
    # consistency: the mean ISE of WaveD on LIDAR decreases as n grows (fixed sigma)
    h_scale = 0.004                                   # gamma blur, scale in units of t
    rng = np.random.default_rng(2)
    ise = []
    for n in (256, 1024, 4096):
        x = ts.lidar(n)
        h = ts.gamma_kernel(1.0, h_scale * n)
        errs = []
        for _ in range(6):
            y = ds.blur(x, h) + 0.1 * rng.standard_normal(n)
            errs.append(np.mean((ds.waved(y, h).x - x) ** 2))
        ise.append(np.mean(errs))
    assert ise[0] > ise[1] > ise[2]
    assert ise[2] < 0.5 * ise[0]


def test_gamma_blur_quality_and_fine_level():
    rng = np.random.default_rng(3)
    n = 2048
    h = ts.gamma_kernel(1.0, 8.0)
    for name, expect in (("lidar", 6.0), ("doppler", 9.0), ("bumps", 9.0)):
        x = ts.make_signal(name, n)
        bx = ds.blur(x, h)
        y = bx + ds.metrics.sigma_for_bsnr(bx, 25) * rng.standard_normal(n)
        res = ds.waved(y, h)
        assert ds.metrics.isnr(x, y, res) > expect
        assert 5 <= res.regularization <= 9
        assert abs(res.noise_std / ds.metrics.sigma_for_bsnr(bx, 25) - 1) < 0.08


def test_batch_and_errors():
    rng = np.random.default_rng(4)
    h = ts.gamma_kernel(1.0, 4.0)
    Y = ds.blur(np.stack([ts.lidar(512), ts.blocks(512)]), h) + 0.05 * rng.standard_normal((2, 512))
    res = ds.waved(Y, h)
    for i in range(2):
        assert_allclose(res.x[i], ds.waved(Y[i], h).x)
    with pytest.raises(ValueError, match="1-D"):
        ds.waved(np.zeros((64, 64)) + 1, ts.gaussian_kernel(1.0, 2))
    with pytest.raises(ValueError, match="even"):
        ds.waved(np.ones(63), h)
    with pytest.raises(ValueError, match="j1"):
        ds.waved(Y[0], h, j1=20)
    with pytest.raises(ValueError, match="vanishes"):
        ds.waved(Y[0], ts.boxcar_kernel(8), j1=7, noise_std=0.05)
