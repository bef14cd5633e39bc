"""Errors-in-variables regression: one description of the measurement error, one result family.

Straight lines with errors in both variables
    :func:`deming`, :func:`orthogonal`, :func:`york`, :func:`passing_bablok`, :func:`theil_sen`
Linear models with error-prone covariates
    :func:`moments` (reliability-ratio / method-of-moments correction, Fuller 1987)
Any model
    :func:`simex` (Cook & Stefanski 1994), :func:`mcsimex` (misclassified binary covariate),
    :func:`regression_calibration`
Nonlinear curves
    :func:`odr` (orthogonal distance regression, Boggs et al. 1987)
Nonparametric regression on an error-prone covariate
    :func:`deconvolution_regression` (Fan & Truong 1993; Delaigle, Fan & Carroll 2009)
Full Bayes
    :func:`bayes` (structural model with a latent true covariate, sampled by NUTS)

The measurement error is described once, by :class:`MeasurementError` or the keyword
shortcuts ``error_sd=``, ``error_var=``, ``reliability=``, ``replicates=True``.
"""

from deconv.eiv._errors import MeasurementError
from deconv.eiv.bayesian import BayesRegressionResults, bayes
from deconv.eiv.nonparametric import DeconvolutionRegressionResults, deconvolution_regression
from deconv.eiv.calibration import regression_calibration
from deconv.eiv._moments import moments
from deconv.eiv._odr import odr
from deconv.eiv._simex import extrapolate as simex_extrapolate
from deconv.eiv._simex import mcsimex, simex
from deconv.eiv.lines import deming, orthogonal, passing_bablok, theil_sen, york
from deconv.eiv.results import (EIVResults, LineFitResults, ODRResults, RegressionResults,
                                SimexResults)

__all__ = ["MeasurementError", "deming", "orthogonal", "york", "passing_bablok", "theil_sen",
           "moments", "simex", "mcsimex", "regression_calibration", "odr",
           "simex_extrapolate", "bayes", "deconvolution_regression",
           "DeconvolutionRegressionResults",
           "EIVResults", "BayesRegressionResults", "LineFitResults", "RegressionResults", "SimexResults", "ODRResults"]
