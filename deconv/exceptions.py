"""Warning categories of deconv.

Results that exist but are doubtful warn with one of these, so users can filter them
(``warnings.simplefilter("error", deconv.ConvergenceWarning)`` in a pipeline).
"""

__all__ = ["DeconvWarning", "ConvergenceWarning", "SamplingWarning", "NegativeDensityWarning"]


class DeconvWarning(UserWarning):
    """Base class of every warning deconv issues."""


class ConvergenceWarning(DeconvWarning):
    """An iterative solver stopped before its convergence criterion was certified."""


class SamplingWarning(DeconvWarning):
    """MCMC diagnostics are doubtful: R-hat > 1.01, low ESS, divergences, tree-depth saturation."""


class NegativeDensityWarning(DeconvWarning):
    """A raw deconvolution estimate carries substantial negative mass (it was clipped)."""
