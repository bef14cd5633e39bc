"""General sampler fallback: NUTS with Stan-style warm-up, compiled model densities, diagnostics.

``nuts(model, init, chains=4, warmup=1000, draws=1000, rng=0)`` samples a posterior given by a
built-in compiled model (:mod:`deconv.sampling.models`) or any Python callable
``logp_grad(x) -> (log_density, gradient)``; it returns a :class:`Posterior` with draws shaped
(chain, draw, parameter), ``summary()``, sampler statistics, plots and ``to_arviz()``.
Diagnostics (rank-normalised R-hat, bulk/tail ESS, MCSE) follow Vehtari et al. (2021).
"""
from deconv.sampling.diagnostics import (autocovariance, ess_bulk, ess_mean, ess_quantile, ess_sd,
                                         ess_tail, mcse_mean, mcse_quantile, mcse_sd,
                                         rank_normalize, rhat, rhat_basic)
from deconv.sampling.draws import Posterior, ebfmi, load
from deconv.sampling.nuts import Target, check_diagnostics, nuts

__all__ = ["nuts", "Posterior", "Target", "load", "ebfmi", "check_diagnostics",
           "rhat", "rhat_basic", "ess_bulk", "ess_tail", "ess_mean", "ess_sd", "ess_quantile",
           "mcse_mean", "mcse_sd", "mcse_quantile", "autocovariance", "rank_normalize"]
from deconv.sampling.mode import MAPResult, find_map  # noqa: E402
from deconv.sampling.slice import slice_sample  # noqa: E402
from deconv.sampling import models  # noqa: E402

__all__ += ["find_map", "MAPResult", "slice_sample", "models"]
