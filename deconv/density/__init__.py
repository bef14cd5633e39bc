"""Fourier density deconvolution: estimate the density of X from W = X + U.

:class:`DeconvolutionKDE` (deconvolution kernel estimator; homoscedastic, heteroscedastic
and replicate-based errors) returns a :class:`DeconvolvedDensity` that behaves like a frozen
``scipy.stats`` distribution. Bandwidth selectors and :func:`exact_mise` live in
:mod:`deconv.density.bandwidth`; kernels in :mod:`deconv.density.kernels`; bootstrap bands
in :mod:`deconv.density.bands`.
"""
from deconv.density.bandwidth import exact_mise
from deconv.density.bands import ConfidenceBand, bootstrap_band
from deconv.density.estimator import DeconvolutionKDE
from deconv.density.kernels import KERNELS, FourierKernel, get_kernel
from deconv.density.replicates import Replicates, moderated_variances
from deconv.density.result import DeconvolvedDensity

__all__ = ["DeconvolutionKDE", "DeconvolvedDensity", "exact_mise", "ConfidenceBand",
           "bootstrap_band", "FourierKernel", "KERNELS", "get_kernel", "Replicates",
           "moderated_variances"]
