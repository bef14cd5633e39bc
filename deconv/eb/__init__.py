"""Empirical-Bayes deconvolution: estimate the prior G of z_i ~ p(z | theta_i),
theta_i ~ G, then report per-unit posteriors.

Estimators (scikit-learn shaped: ``fit`` returns self, ``transform`` gives posterior means):

``NPMLE``      Kiefer--Wolfowitz nonparametric MLE on a grid (certified mix-SQP solver)
``Prior``      the estimated prior (grid, weights, pdf, cdf, ppf, mean, var, plot)

Families: normal with known per-unit standard errors, Poisson with exposures, binomial
with trials, or a user-supplied log-likelihood matrix.
"""
from deconv.eb.ash import Ash, ScaleMixturePrior
from deconv.eb.conjugate import Conjugate, ParametricPrior
from deconv.eb.gmodel import GModel, natural_spline_basis, ns_basis
from deconv.eb.npmle import NPMLE, FixedPrior
from deconv.eb.prior import Prior
from deconv.eb.lowrank import LowRankLikelihood, low_rank_factor
from deconv.eb.solvers import NPMLEResult, em, kkt_vector, mixsqp
from deconv.eb.tweedie import Tweedie

__all__ = ["NPMLE", "GModel", "Ash", "Tweedie", "ScaleMixturePrior", "natural_spline_basis", "ns_basis", "FixedPrior", "Conjugate", "ParametricPrior", "Prior", "NPMLEResult", "mixsqp", "em", "kkt_vector", "low_rank_factor", "LowRankLikelihood"]
