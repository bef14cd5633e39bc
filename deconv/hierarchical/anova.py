"""Random-effects ANOVA: one-way and two-way nested, balanced or not.

Method-of-moments (ANOVA) estimators equate observed mean squares to their expectations:

One-way, ``y_ij = mu + a_i + e_ij`` (a groups, n_i observations, N total)::

    E[MSW] = s2_e,   E[MSB] = s2_e + n0 s2_a,   n0 = (N - sum n_i^2 / N) / (a - 1)

Two-way nested, ``y_ijk = mu + a_i + b_ij + e_ijk`` (B_tot subgroups in all)::

    E[MSE]    = s2_e
    E[MSB(A)] = s2_e + k1 s2_b
    E[MSA]    = s2_e + k2 s2_b + k3 s2_a
    k1 = (N - sum_ij n_ij^2 / n_i) / (B_tot - a)
    k2 = (sum_ij n_ij^2 / n_i - sum_ij n_ij^2 / N) / (a - 1)
    k3 = (N - sum_i n_i^2 / N) / (a - 1)

(Searle, Casella & McCulloch 1992, ch. 3 and 4; Sokal & Rohlf, Biometry, ch. 10). They are
unbiased but can be negative; this module reports them as they are (negative estimates
flagged) next to the REML fit of the same model, whose estimates are truncated at 0. For
balanced data REML equals the ANOVA estimator whenever the latter is positive.
The intraclass correlation is ``s2_a / (s2_a + s2_e)`` (one-way).

References
----------
Searle, S. R., Casella, G. and McCulloch, C. E. (1992). Variance Components. Wiley.
"""
import numpy as np

from deconv._validation import as_1d_float, check_choice
from deconv.hierarchical.design import _codes, design_from_arrays
from deconv.hierarchical.graph import lmm_graph
from deconv.hierarchical.results import EffectTable, HierarchicalResult

__all__ = ["random_effects_anova"]


def _one_way(y, g, a):
    N = y.size
    n = np.bincount(g, minlength=a).astype(float)
    means = np.bincount(g, y, minlength=a) / n
    grand = y.mean()
    ssb = np.sum(n * (means - grand) ** 2)
    ssw = np.sum((y - means[g]) ** 2)
    msb, msw = ssb / (a - 1), ssw / (N - a)
    n0 = (N - np.sum(n ** 2) / N) / (a - 1)
    s2a = (msb - msw) / n0
    table = {"ss": [ssb, ssw], "df": [a - 1, N - a], "ms": [msb, msw]}
    return {"group": s2a, "Residual": msw}, table, {"n0": n0}


def _nested(y, ga, gb, a, b):
    N = y.size
    n_i = np.bincount(ga, minlength=a).astype(float)
    n_ij = np.bincount(gb, minlength=b).astype(float)
    parent = np.zeros(b, dtype=np.int64)
    parent[gb] = ga
    mean_i = np.bincount(ga, y, minlength=a) / n_i
    mean_ij = np.bincount(gb, y, minlength=b) / n_ij
    grand = y.mean()
    ssa = np.sum(n_i * (mean_i - grand) ** 2)
    ssb = np.sum(n_ij * (mean_ij - mean_i[parent]) ** 2)
    sse = np.sum((y - mean_ij[gb]) ** 2)
    dfa, dfb, dfe = a - 1, b - a, N - b
    msa, msb, mse = ssa / dfa, ssb / dfb, sse / dfe
    s_nij2_ni = np.sum(n_ij ** 2 / n_i[parent])
    k1 = (N - s_nij2_ni) / dfb
    k2 = (s_nij2_ni - np.sum(n_ij ** 2) / N) / dfa
    k3 = (N - np.sum(n_i ** 2) / N) / dfa
    s2b = (msb - mse) / k1
    s2a = (msa - mse - k2 * s2b) / k3
    table = {"ss": [ssa, ssb, sse], "df": [dfa, dfb, dfe], "ms": [msa, msb, mse]}
    return {"outer": s2a, "inner": s2b, "Residual": mse}, table, {"k1": k1, "k2": k2, "k3": k3}


def random_effects_anova(y, groups, subgroups=None, *, method="both"):
    """Variance components of a one-way or two-way nested random-effects model.

    Parameters
    ----------
    y : (N,) array
    groups : (N,) labels
        The (outer) grouping factor.
    subgroups : (N,) labels, optional
        A factor nested within ``groups`` (labels may repeat across groups: ``cask`` "a"
        in batch "A" and in batch "B" are different subgroups).
    method : {"both", "anova", "reml"}
        ``"anova"``: method-of-moments only; ``"reml"``: REML only; ``"both"`` (default):
        REML estimates in the table with the ANOVA estimates in the extra column
        ``"anova"``.

    Returns
    -------
    HierarchicalResult
        ``variance_components`` rows: ``"<groups>: var"``, (``"<subgroups>: var"``),
        ``"Residual: var"``, ``"ICC"``; ``anova_table`` attribute with SS, df, MS.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.hierarchical import random_effects_anova
    >>> rng = np.random.default_rng(0); g = np.repeat(np.arange(10), 5)
    >>> y = rng.normal(size=10)[g] + rng.normal(size=50)
    >>> res = random_effects_anova(y, g)
    >>> res.variance_components.names
    ['groups: var', 'Residual: var', 'ICC']
    """
    y = as_1d_float(y, "y", min_size=3)
    method = check_choice(method, "method", ("both", "anova", "reml"))
    ga, la = _codes(np.asarray(groups), "groups")
    if ga.size != y.size:
        raise ValueError(f"groups has {ga.size} labels but y has {y.size} values")
    if len(la) < 2:
        raise ValueError("groups has 1 level; a random effect needs at least 2 levels")
    if subgroups is None:
        mom, table, coef = _one_way(y, ga, len(la))
        names = ["groups: var", "Residual: var"]
        mom_vals = [mom["group"], mom["Residual"]]
        sources = ["groups", "Residual"]
    else:
        sub = np.asarray(subgroups)
        if sub.shape[0] != y.size:
            raise ValueError(f"subgroups has {sub.shape[0]} labels but y has {y.size} values")
        gs, ls = _codes(sub, "subgroups")
        # subgroup identity is (group, subgroup label): "a" in batch A differs from "a" in B
        lb, gb = np.unique(ga * len(ls) + gs, return_inverse=True)
        gb = gb.astype(np.int64)
        if len(lb) <= len(la):
            raise ValueError("subgroups must split at least one group into several subgroups")
        if np.any(np.bincount(gb) < 1) or len(lb) >= y.size:
            raise ValueError("every subgroup needs observations and some replication")
        mom, table, coef = _nested(y, ga, gb, len(la), len(lb))
        names = ["groups: var", "subgroups: var", "Residual: var"]
        mom_vals = [mom["outer"], mom["inner"], mom["Residual"]]
        sources = ["groups", "subgroups(groups)", "Residual"]
    mom_vals = np.array(mom_vals)
    mom_icc = mom_vals[0] / np.sum(np.maximum(mom_vals, 0))
    diagnostics = [f"ANOVA estimate of {nm} is negative ({v:.4g}); REML truncates it at 0"
                   for nm, v in zip(names, mom_vals) if v < 0]
    reml_vals, reml_res = None, None
    if method in ("both", "reml"):
        from deconv.hierarchical.mixed import lmm

        grp = {"groups": ga}
        if subgroups is not None:
            grp["subgroups"] = gb
        reml_res = lmm(y=y, groups=grp, ddf="residual")
        vc = reml_res.variance_components
        reml_vals = np.array([vc[f"{nm.split(':')[0]}: sd((Intercept))" if nm != "Residual: var"
                                 else "Residual: sd"]["estimate"] ** 2 for nm in names])
    if method == "anova":
        est, icc = mom_vals, mom_icc
        extra = None
        label = "ANOVA (method of moments)"
    else:
        est = reml_vals
        icc = est[0] / np.sum(est)
        extra = {"anova": np.r_[mom_vals, mom_icc]} if method == "both" else None
        label = "REML" + (" (ANOVA estimates beside)" if method == "both" else "")
    vc_tab = EffectTable(names + ["ICC"], np.r_[est, icc], extra=extra,
                         interval_method="")
    if reml_res is not None:
        fixed = reml_res.fixed_effects
        groups_eff = reml_res.group_effects
        raw = reml_res.raw_group_estimates
        graph = reml_res.graph()
        fit_stats = {k: v for k, v in reml_res.fit_stats.items()}
    else:
        mu = y.mean()
        fixed = EffectTable(["(Intercept)"], [mu])
        groups_eff, raw = {}, {}
        grp = {"groups": ga} if subgroups is None else {"groups": ga, "subgroups": gb}
        graph = lmm_graph(design_from_arrays(y, None, grp))
        fit_stats = {"nobs": y.size}
    fit_stats.update({f"df {s}": d for s, d in zip(sources, table["df"])})
    if method == "both":
        fit_stats.update({f"ANOVA estimate {nm}": v for nm, v in zip(names, mom_vals)})
    res = HierarchicalResult(
        model="random-effects ANOVA (" + ("one-way" if subgroups is None else "two-way nested") + ")",
        method=label, method_reason="variance components of a balanced or unbalanced random-effects "
        "ANOVA: mean squares equated to their expectations, and REML", fixed_effects=fixed,
        variance_components=vc_tab, group_effects=groups_eff, fit_stats=fit_stats,
        diagnostics=diagnostics, graph=graph, raw_group_estimates=raw)
    res.anova_table = {"source": sources, **table}
    res.anova_estimates = dict(zip(names, mom_vals))
    res.ems_coefficients = coef
    res.reml_fit = reml_res
    return res
