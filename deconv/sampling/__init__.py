"""General sampler fallback: NUTS with Stan-style warm-up, compiled model densities, diagnostics."""
from deconv.sampling.diagnostics import (autocovariance, ess_bulk, ess_mean, ess_quantile, ess_sd,
                                         ess_tail, mcse_mean, mcse_quantile, mcse_sd,
                                         rank_normalize, rhat, rhat_basic)

__all__ = ["rhat", "rhat_basic", "ess_bulk", "ess_tail", "ess_mean", "ess_sd", "ess_quantile",
           "mcse_mean", "mcse_sd", "mcse_quantile", "autocovariance", "rank_normalize"]
