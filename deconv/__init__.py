"""deconv: noisy, indirect observations of the thing we care about.

Parts (imported on first use, so ``import deconv`` stays fast):

``deconv.noise``         measurement-error laws (normal, Laplace, uniform, Student-t, gamma, empirical)
``deconv.density``       Fourier density deconvolution (W = X + U)
``deconv.eb``            empirical-Bayes deconvolution (NPMLE, g-modeling, conjugate)
``deconv.eiv``           errors-in-variables regression (Deming, York, ODR, SIMEX, calibration)
``deconv.signal``        signal and image deconvolution with a known blur
``deconv.sampling``      NUTS sampler and convergence diagnostics
``deconv.hierarchical``  mixed-effects / hierarchical models front door
``deconv.plotting``      matplotlib helpers
``deconv.datasets``      bundled and generated data sets
"""
import importlib

from deconv.exceptions import ConvergenceWarning, DeconvWarning, SamplingWarning

__version__ = "0.1.0.dev0"

_SUBMODULES = (
    "noise", "density", "eb", "eiv", "signal", "sampling", "hierarchical",
    "plotting", "datasets", "cli",
)
# Names re-exported at top level, resolved lazily: name -> (module, attribute)
_LAZY_ATTRS = {
    "DeconvolutionKDE": ("density", "DeconvolutionKDE"),
    "DeconvolvedDensity": ("density", "DeconvolvedDensity"),
    "exact_mise": ("density", "exact_mise"),
    "NPMLE": ("eb", "NPMLE"),
    "GModel": ("eb", "GModel"),
    "MeasurementError": ("eiv", "MeasurementError"),
    "simex": ("eiv", "simex"),
    "nuts": ("sampling", "nuts"),
}

__all__ = ["__version__", "DeconvWarning", "ConvergenceWarning", "SamplingWarning",
           *_SUBMODULES, *_LAZY_ATTRS]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"deconv.{name}")
    if name in _LAZY_ATTRS:
        mod, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(f"deconv.{mod}"), attr)
    raise AttributeError(f"module 'deconv' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
