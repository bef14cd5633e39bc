"""Hierarchical models front door: mixed-effects, nested, random-coefficient, normal means.

State the model once -- as an lme4-style formula on a data frame, or as arrays -- and
:func:`fit` solves it. Cute cases (linear, Gaussian, homoskedastic or known variances) are
solved exactly: REML/ML through the profiled deviance for linear mixed models
(:func:`lmm`), closed-form likelihoods and exact quadrature for normal means
(:func:`normal_means`), moment estimators beside REML for random-effects ANOVA
(:func:`random_effects_anova`), Laplace approximation for GLMMs (:func:`glmm`).
Every route returns the same :class:`HierarchicalResult`.

Models that are not cute (Student-t residuals, group-specific residual variances,
error-prone covariates) and ``method="sampler"`` go to the NUTS sampler
(:mod:`deconv.hierarchical.bayes`): one compiled mixed-model density covers correlated random
effects, several grouping factors and GLMMs, and returns the same result type labelled as
posterior means and credible intervals.

Example
-------
>>> from deconv.datasets.hierarchical import load_sleepstudy
>>> import deconv.hierarchical as hm
>>> res = hm.fit("Reaction ~ Days + (Days | Subject)", data=load_sleepstudy())
>>> res.method
'REML'
"""
from deconv.hierarchical.anova import random_effects_anova
from deconv.hierarchical.formula import FormulaError, parse_formula
from deconv.hierarchical.generalized import GeneralizedMixedResult, glmm
from deconv.hierarchical.graph import ModelGraph, Node
from deconv.hierarchical.mixed import LinearMixedResult, lmm, lrt
from deconv.hierarchical.means import normal_means
from deconv.hierarchical.results import EffectTable, HierarchicalResult
from deconv.hierarchical.bayes import glmm_bayes, lmm_bayes, mixed_bayes, normal_means_bayes

__all__ = ["fit", "lmm", "glmm", "lrt", "normal_means", "random_effects_anova",
           "normal_means_bayes", "lmm_bayes", "glmm_bayes", "mixed_bayes",
           "HierarchicalResult", "LinearMixedResult", "GeneralizedMixedResult", "EffectTable",
           "ModelGraph", "Node",
           "parse_formula", "FormulaError"]


def fit(model, data=None, *, se=None, X=None, groups=None, Z=None, family="gaussian",
        method="auto", reml=True, residual="normal", group_variances=False, error_sd=None,
        level=0.95, **kwargs):
    """Fit a hierarchical model, choosing the exact solver for the cute cases.

    Parameters
    ----------
    model : str or array-like
        An lme4-style formula (``"Reaction ~ Days + (Days | Subject)"``, with ``data``), or
        the response array ``y`` (with ``se=`` for normal means, or ``groups=`` / ``X=`` /
        ``Z=`` for a mixed model).
    data : pandas.DataFrame or mapping, optional
    se : array-like, optional
        Known standard errors: the normal-means / meta-analysis model
        ``y_j ~ N(theta_j, se_j^2), theta_j ~ N(mu, tau^2)``.
    X, groups, Z :
        Array form of a mixed model (see :func:`lmm`).
    family : {"gaussian", "binomial", "poisson"}
    method : str
        ``"auto"`` (exact where the model is a cute case; the choice and the reason are in
        ``result.method`` / ``result.method_reason``), ``"reml"``, ``"ml"``, ``"laplace"``
        (GLMM), ``"dl"``, ``"bayes"`` (normal means: exact posterior by quadrature),
        ``"npmle"``/``"gmodel"`` (normal means: G estimated nonparametrically by deconv.eb),
        ``"sampler"`` (full Bayes by NUTS, :func:`deconv.hierarchical.bayes.fit_sampler`:
        normal means, or any mixed model on the compiled mixed-model density; ``chains``,
        ``warmup``, ``draws``, ``rng``, ``warn``, ``priors`` go in ``kwargs``).
    reml : bool
        For ``method="auto"`` on linear mixed models: REML (default) or ML.
    residual : {"normal", "student-t"}
        Student-t residuals are not a cute case: sampler route.
    group_variances : bool or str
        Group-specific residual variances (non-cute: sampler route): ``True`` for the only
        grouping factor, or the name of the factor whose levels get their own residual sd.
    error_sd : optional
        Known measurement-error sd of one covariate, ``{name: sd}`` (scalar or per
        observation; a bare value when there is one covariate). Non-cute: sampler route, the
        covariate becomes a latent true value (:func:`deconv.hierarchical.bayes.mixed_bayes`);
        ``replicates={name: (n, k) array}`` in ``kwargs`` estimates the error variance instead.
    level : float
    **kwargs :
        Passed to the chosen fitter (e.g. ``ci_method="profile"`` for :func:`lmm`).

    Returns
    -------
    HierarchicalResult
    """
    family = str(family).lower()
    if family not in ("gaussian", "binomial", "poisson"):
        raise ValueError(f"family must be 'gaussian', 'binomial' or 'poisson', got {family!r}")
    method = str(method).lower()
    valid = ("auto", "reml", "ml", "laplace", "dl", "bayes", "npmle", "gmodel", "sampler", "exact")
    if method not in valid:
        raise ValueError(f"method must be one of {valid}, got {method!r}")
    non_cute = []
    if residual != "normal":
        if residual not in ("student-t", "t"):
            raise ValueError(f"residual must be 'normal' or 'student-t', got {residual!r}")
        non_cute.append("Student-t residuals")
    if group_variances:
        non_cute.append("group-specific residual variances")
    if error_sd is not None or kwargs.get("replicates") is not None:
        non_cute.append("error-prone covariates (latent true values)")
    if non_cute or method == "sampler":
        if method not in ("auto", "sampler"):
            raise ValueError(f"method {method!r} cannot fit {', '.join(non_cute)}; use "
                             "method='sampler' (or 'auto')")
        from deconv.hierarchical.bayes import fit_sampler

        if method == "auto":
            reason = ("auto: " + ", ".join(non_cute) + " is not a cute case -> full Bayes by "
                      "NUTS (deconv.sampling)")
        else:
            reason = "method='sampler': full Bayes by NUTS (deconv.sampling), as requested"
        return fit_sampler(model, data, se=se, X=X, groups=groups, Z=Z, family=family,
                           residual=residual, group_variances=group_variances,
                           error_sd=error_sd, level=level, method_reason=reason, **kwargs)

    if se is not None:  # normal means
        if isinstance(model, str):
            raise TypeError("with se= give the group estimates y as an array, not a formula")
        m = {"auto": "reml", "exact": "reml"}.get(method, method)
        if m not in ("reml", "ml", "dl", "bayes", "npmle", "gmodel"):
            raise ValueError(f"method {method!r} does not apply to the normal-means model")
        reason = None
        if method == "auto":
            reason = ("auto: normal means with known se is a cute case -> REML for tau "
                      "(profile likelihood, exact); method='bayes' gives the exact posterior")
        return normal_means(model, se, method=m, level=level, method_reason=reason, **kwargs)

    if family == "gaussian":
        if method in ("laplace", "dl", "bayes"):
            raise ValueError(f"method {method!r} does not apply to a Gaussian mixed model")
        use_reml = reml if method in ("auto", "exact") else method == "reml"
        reason = None
        if method in ("auto", "exact"):
            reason = (f"auto: linear Gaussian mixed model is a cute case -> "
                      f"{'REML' if use_reml else 'ML'} via the profiled deviance (exact likelihood, "
                      "lme4 algorithm); the sampler is not needed")
        if isinstance(model, str):
            return lmm(model, data, reml=use_reml, level=level, method_reason=reason, **kwargs)
        return lmm(y=model, X=X, groups=groups, Z=Z, reml=use_reml, level=level,
                   method_reason=reason, **kwargs)

    if method not in ("auto", "laplace", "exact"):
        raise ValueError(f"method {method!r} does not apply to a {family} GLMM (use 'laplace')")
    reason = None
    if method == "auto":
        reason = (f"auto: {family} GLMM -> Laplace approximation (like lme4::glmer, nAGQ=1); "
                  "full Bayes: method='sampler'")
    if isinstance(model, str):
        return glmm(model, data, family=family, level=level, method_reason=reason, **kwargs)
    return glmm(y=model, X=X, groups=groups, Z=Z, family=family, level=level,
                method_reason=reason, **kwargs)
