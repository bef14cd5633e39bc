"""Quality metrics for deconvolution: ISNR, PSNR, SNR and blurred-SNR (BSNR).

All are in decibels. The reference (true) signal comes first, as in
``skimage.metrics``. With a batch, pass ``axis`` to get one value per signal.
"""
import numpy as np

from deconv._validation import check_positive_scalar
from deconv.signal._operator import validate_signal

__all__ = ["isnr", "psnr", "snr", "bsnr", "sigma_for_bsnr", "mse"]


def _pair(a, b, na, nb):
    a = validate_signal(a, na).astype(np.float64)
    b = validate_signal(b, nb).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{na} and {nb} have different shapes: {a.shape} vs {b.shape}")
    return a, b


def _sumsq(a, axis):
    return np.sum(a * a, axis=axis)


def mse(x, xhat, *, axis=None):
    """Mean squared error between the truth ``x`` and an estimate ``xhat``."""
    x, xhat = _pair(x, np.asarray(xhat), "x", "xhat")
    return np.mean((x - xhat) ** 2, axis=axis)


def isnr(x, y, xhat, *, axis=None):
    r"""Improvement in SNR: :math:`10\log_{10}(\|x - y\|^2 / \|x - \hat x\|^2)`.

    Positive when the estimate ``xhat`` is closer to the truth ``x`` than the
    observation ``y`` was.
    """
    x, y = _pair(x, y, "x", "y")
    _, xhat = _pair(x, np.asarray(xhat), "x", "xhat")
    return 10 * np.log10(_sumsq(x - y, axis) / _sumsq(x - xhat, axis))


def psnr(x, xhat, *, data_range=None, axis=None):
    r"""Peak SNR: :math:`10\log_{10}(R^2 / \mathrm{MSE})`, ``R`` = ``max(x) - min(x)`` by default."""
    x, xhat = _pair(x, np.asarray(xhat), "x", "xhat")
    if data_range is None:
        data_range = np.max(x, axis=axis) - np.min(x, axis=axis)
    else:
        data_range = check_positive_scalar(data_range, "data_range")
    return 10 * np.log10(np.asarray(data_range) ** 2 / np.mean((x - xhat) ** 2, axis=axis))


def snr(x, xhat, *, axis=None):
    r"""SNR of an estimate: :math:`10\log_{10}(\|x\|^2 / \|x - \hat x\|^2)`."""
    x, xhat = _pair(x, np.asarray(xhat), "x", "xhat")
    return 10 * np.log10(_sumsq(x, axis) / _sumsq(x - xhat, axis))


def bsnr(blurred, sigma):
    r"""Blurred-signal SNR: :math:`10\log_{10}(\operatorname{var}(h * x) / \sigma^2)`.

    The convention of the image-restoration literature (e.g. Neelamani et al. 2004),
    where "BSNR 40 dB" fixes ``sigma = sqrt(var(h * x) / 10**4)``.
    """
    b = validate_signal(blurred, "blurred").astype(np.float64)
    sigma = check_positive_scalar(sigma, "sigma")
    return 10 * np.log10(np.var(b) / sigma ** 2)


def sigma_for_bsnr(blurred, db):
    """Noise standard deviation that gives ``blurred`` a BSNR of ``db`` decibels."""
    b = validate_signal(blurred, "blurred").astype(np.float64)
    return float(np.sqrt(np.var(b) / 10 ** (db / 10)))
