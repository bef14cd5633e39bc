"""Signal and image deconvolution with a known blur: ``y = h * x + e``.

Methods (all FFT-based, n-D, batched along leading axes, float32 or float64):

- :func:`wiener`, :func:`tikhonov`, :func:`unsupervised_wiener` -- linear filters with the
  regularisation chosen by GCV, SURE, the discrepancy principle or Gibbs sampling;
- :func:`richardson_lucy` -- Poisson maximum likelihood with boundary-correct
  normalisation, TV damping and Biggs-Andrews acceleration;
- :func:`forward` -- Fourier-wavelet regularised deconvolution (ForWaRD), 1-D and 2-D;
- :func:`waved` -- wavelet-vaguelette deconvolution (WaveD) of periodic 1-D signals;
- :func:`tv` -- total-variation deconvolution (primal-dual) with automatic lambda;
- :func:`estimate_noise`, :func:`blur`, :mod:`~deconv.signal.metrics`,
  :mod:`~deconv.signal.testsignals`.

Every method returns a :class:`DeconvolutionResult`: the estimate (``.x``; the result
also works as an array) with the chosen regularisation, the noise level, the boundary
rule, ``summary()`` and ``plot()``. The PSF is a small centred kernel (centre at index
``size // 2``, as in :func:`scipy.ndimage.convolve`) whose ``ndim`` is the signal
dimension, or an OTF (``otf=True``). Output is never clipped unless ``clip=`` is given.
"""
import scipy.ndimage as ndi

from deconv._validation import check_choice
from deconv.signal import metrics, testsignals
from deconv.signal._operator import make_problem, validate_psf, validate_signal
from deconv.signal._result import DeconvolutionResult
from deconv.signal.noise import estimate_noise
# each function has the name of its module; importing it here rebinds the package
# attribute to the function (as scipy does), so ``ds.forward(...)`` is the function
from deconv.signal.wiener import tikhonov, unsupervised_wiener, wiener
from deconv.signal.richardson_lucy import richardson_lucy
from deconv.signal.forward import forward
from deconv.signal.waved import meyer_noise_std, waved
from deconv.signal.tv import tv

__all__ = ["wiener", "tikhonov", "unsupervised_wiener", "richardson_lucy", "forward",
           "waved", "tv", "estimate_noise", "blur", "DeconvolutionResult", "metrics",
           "testsignals", "meyer_noise_std"]


def blur(x, psf, *, boundary="periodic"):
    """Apply the blur ``h * x`` along the trailing ``psf.ndim`` axes (the forward model).

    Parameters
    ----------
    x : array_like, shape ``(*batch, *signal_shape)``
    psf : array_like
        Small centred kernel (centre at index ``size // 2``).
    boundary : {"periodic", "reflect", "nearest", "constant"}
        ``"periodic"`` is circular convolution (the model of the FFT methods);
        ``"reflect"`` mirrors the edges (``scipy.ndimage`` mode ``"reflect"``), the
        way a real camera sees a scene that continues beyond the frame is better
        approximated by this than by wrapping.

    Returns
    -------
    ndarray, same shape as ``x``

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.signal import blur
    >>> blur([0.0, 0.0, 3.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], boundary="reflect")
    array([0., 1., 1., 1., 0.])
    """
    boundary = check_choice(boundary, "boundary", ("periodic", "reflect", "nearest", "constant"))
    arr = validate_signal(x, "x")
    k, d = validate_psf(psf, arr.ndim, lambda d: arr.shape[arr.ndim - d:], arr.dtype)
    if boundary == "periodic":
        prob = make_problem(arr, k, boundary="periodic")
        return prob.blur(arr)
    kk = k.reshape((1,) * (arr.ndim - d) + k.shape).astype(arr.dtype)
    return ndi.convolve(arr, kk, mode=boundary)
