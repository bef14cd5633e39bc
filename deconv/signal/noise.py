"""Noise-level estimation: median absolute deviation of the finest wavelet details.

For white Gaussian noise of standard deviation sigma, the finest-scale wavelet detail
coefficients of ``y = h * x + e`` are almost pure noise, because a blurred signal
carries almost no energy at the finest scale. Their median absolute value divided by
``Phi^{-1}(3/4) = 0.6745`` estimates sigma robustly (Donoho & Johnstone 1994). In d
dimensions the band that is a detail (high-pass) along every axis is used.
"""
import numpy as np
import pywt
from scipy.stats import norm

from deconv._validation import check_int
from deconv.signal._operator import validate_signal

__all__ = ["estimate_noise"]

_MAD_TO_SD = 1.0 / norm.ppf(0.75)


def estimate_noise(y, *, ndim=None, wavelet="db3"):
    r"""Estimate the standard deviation of additive white noise in a signal or image.

    .. math:: \hat\sigma = \operatorname{median}_k |d_{1,k}| \,/\, \Phi^{-1}(3/4)

    where :math:`d_{1,k}` are the finest-level detail coefficients of an orthonormal
    wavelet transform (the band that is high-pass along every signal axis).

    Parameters
    ----------
    y : array_like, shape ``(*batch, *signal_shape)``
        Observed signal(s). Needs at least 4 samples along each signal axis.
    ndim : int, optional
        Number of trailing signal axes (default: all axes, i.e. one signal).
        With ``ndim < y.ndim`` the leading axes are a batch, one estimate each.
    wavelet : str
        PyWavelets wavelet name (default ``"db3"``).

    Returns
    -------
    float or ndarray of shape ``batch``

    References
    ----------
    Donoho, D. L. & Johnstone, I. M. (1994). Ideal spatial adaptation by wavelet
    shrinkage. *Biometrika* 81, 425-455.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.signal import estimate_noise
    >>> rng = np.random.default_rng(0)
    >>> y = np.sin(np.linspace(0, 6, 4096)) + 0.1 * rng.standard_normal(4096)
    >>> round(float(estimate_noise(y)), 2)
    0.1
    """
    arr = validate_signal(y, "y")
    d = arr.ndim if ndim is None else check_int(ndim, "ndim", min_value=1, max_value=arr.ndim)
    for ax in range(arr.ndim - d, arr.ndim):
        if arr.shape[ax] < 4:
            raise ValueError(f"y needs at least 4 samples along each signal axis, "
                             f"axis {ax} has {arr.shape[ax]}")
    axes = tuple(range(arr.ndim - d, arr.ndim))
    coeffs = pywt.dwtn(arr, wavelet, mode="periodization", axes=axes)
    detail = coeffs["d" * d]
    flat = detail.reshape(detail.shape[:arr.ndim - d] + (-1,))
    sigma = np.median(np.abs(flat.astype(np.float64)), axis=-1) * _MAD_TO_SD
    return float(sigma) if sigma.ndim == 0 else sigma
