"""Small bundled and generated data sets used in examples, docs and tests.

Each part adds its loaders in a module of its own (``deconv.datasets.<part>``) and its
files under ``deconv/datasets/data/``; the loaders are re-exported here.

=====================  ======================================================================
loader                 what
=====================  ======================================================================
bimodal_demo           simulated W = X + Laplace noise, X a two-component normal mixture
load_sleepstudy        lme4's sleepstudy (Belenky et al. 2003): reaction time by days, subject
load_pastes            lme4's Pastes: paste strength, cask nested in batch
load_penicillin        lme4's Penicillin: crossed plate and sample factors
load_cbpp              lme4's cbpp: contagious bovine pleuropneumonia incidence by herd
load_eight_schools     Rubin (1981): coaching effects and standard errors in eight schools
radon_like             simulated radon-shaped data (919 houses, 85 counties)
pearson_york           Pearson (1901) points with York (1966) weights (York et al. 2004)
make_eiv_regression    simulated errors-in-variables regression data
=====================  ======================================================================
"""
from deconv.datasets import eiv, hierarchical, sampling
from deconv.datasets.demo import bimodal_demo
from deconv.datasets.eiv import make_eiv_regression, pearson_york
from deconv.datasets.hierarchical import (load_cbpp, load_eight_schools, load_pastes,
                                          load_penicillin, load_sleepstudy)
from deconv.datasets.sampling import eight_schools, radon_like

__all__ = ["bimodal_demo", "load_sleepstudy", "load_pastes", "load_penicillin", "load_cbpp",
           "load_eight_schools", "eight_schools", "radon_like", "pearson_york", "make_eiv_regression",
           "eiv", "hierarchical", "sampling"]
