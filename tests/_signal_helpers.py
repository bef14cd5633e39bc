"""Shared set-ups of the deconv.signal tests (imported by tests/test_signal_*.py)."""
import warnings

import numpy as np
import pytest

import deconv.signal as ds
from deconv.signal import testsignals as ts


def classic_problem(img, seed=1, boundary="periodic"):
    """The classic experiment: 9x9 box blur, BSNR 40 dB (Neelamani et al. 2004, Sec. V).

    Returns ``(psf, y, sigma)``.
    """
    h = ts.boxcar_kernel(9, 2)
    bx = ds.blur(img, h, boundary=boundary)
    s = ds.metrics.sigma_for_bsnr(bx, 40)
    y = bx + s * np.random.default_rng(seed).standard_normal(img.shape)
    return h, y, s


def oracle_linear_wiener(x, y, h, s, step=0.125):
    """Best ISNR of any linear Wiener-Hunt/Tikhonov filter, lambda tuned on the truth.

    Identity, gradient and Laplacian regularisers, lambda on a log grid 1e-6..10 with
    ``step`` decades, periodic boundary (the classic experiment is periodic).
    """
    best = -np.inf
    for reg in ("identity", "gradient", "laplacian"):
        for lam in 10.0 ** np.arange(-6, 1, step):
            r = ds.wiener(y, h, balance=lam, regularizer=reg, boundary="periodic", noise_std=s)
            best = max(best, ds.metrics.isnr(x, y, r))
    return best


def scene_crop(n, psf, margin=24, db=40, seed=0):
    """A crop of a larger blurred scene: real, non-periodic edges.

    The scene (a piecewise-smooth image of side ``n + 2 margin``, values 0..255) is
    blurred with ``psf`` (reflect boundary), then the central ``n x n`` window is cut
    out and noise at ``db`` dB BSNR added. Returns ``(x, y, sigma)``.
    """
    scene = 255 * ts.piecewise_smooth_image(n + 2 * margin)
    window = (slice(margin, margin + n),) * 2
    x = scene[window]
    b = ds.blur(scene, psf, boundary="reflect")[window]
    s = ds.metrics.sigma_for_bsnr(b, db)
    y = b + s * np.random.default_rng(seed).standard_normal(x.shape)
    return x, y, s


def skimage_wiener_isnr(x, y, h, balance=0.1):
    """ISNR of scikit-image's ``restoration.wiener`` at its documented ``balance``.

    Images in 0..255 are scaled to 0..1 for scikit-image and back; the test is skipped
    when scikit-image is not installed.
    """
    restoration = pytest.importorskip("skimage.restoration")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = 255 * restoration.wiener(y / 255, h, balance=balance, clip=False)
    return ds.metrics.isnr(x, y, sk)
