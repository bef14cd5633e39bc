"""One result type for every hierarchical-model method.

Whatever fitted the model (REML/ML, method of moments, DerSimonian-Laird, Laplace, exact
quadrature, and later the sampler), the user gets a :class:`HierarchicalResult` with three
:class:`EffectTable` members -- ``fixed_effects``, ``variance_components`` and
``group_effects`` (one table per grouping factor) -- each row an estimate with a spread and
an interval, and each table labelled with *what kind* of numbers it holds: ``"estimate"``
(a point estimate with a confidence interval) or ``"posterior"`` (a posterior mean with a
credible interval). The label matters: on the boundary of the parameter space a mode can
be degenerate (a group scale estimated as exactly 0) while the posterior expectation is
not; :attr:`HierarchicalResult.diagnostics` says so.
"""
import numpy as np

from deconv._summary import SummaryTable

__all__ = ["EffectTable", "HierarchicalResult"]

_KIND_LABEL = {"estimate": ("estimate", "CI"), "posterior": ("posterior mean", "credible interval")}


class EffectTable:
    """Named effects, each with estimate, standard error (or posterior sd) and interval.

    Attributes
    ----------
    names : list of str
    estimate, se, lower, upper : ndarray
    kind : {"estimate", "posterior"}
        Point estimate with confidence interval, or posterior mean with credible interval.
    level : float
        Interval level (0.95 by default).
    interval_method : str
        How the intervals were obtained ("Wald-t, Satterthwaite df", "profile likelihood",
        "parametric bootstrap", "conditional (BLUP) sd", ...), or "" when not computed.
    extra : dict of str -> ndarray
        Further columns (df, t, p-value, variance, raw group estimate...).
    """

    def __init__(self, names, estimate, se=None, lower=None, upper=None, *, kind="estimate",
                 level=0.95, interval_method="", extra=None):
        if kind not in _KIND_LABEL:
            raise ValueError(f"kind must be 'estimate' or 'posterior', got {kind!r}")
        m = len(names)
        nan = np.full(m, np.nan)
        self.names = [str(s) for s in names]
        self.estimate = np.asarray(estimate, dtype=float).reshape(m)
        self.se = nan.copy() if se is None else np.asarray(se, dtype=float).reshape(m)
        self.lower = nan.copy() if lower is None else np.asarray(lower, dtype=float).reshape(m)
        self.upper = nan.copy() if upper is None else np.asarray(upper, dtype=float).reshape(m)
        self.kind = kind
        self.level = float(level)
        self.interval_method = interval_method
        self.extra = {k: np.asarray(v, dtype=float).reshape(m) for k, v in (extra or {}).items()}

    @classmethod
    def from_draws(cls, names, draws, level=0.95, interval_method="equal-tailed"):
        """Posterior table from draws: mean, sd and equal-tailed interval per column.

        This is how sampler-based routes (full Bayes) fill the same result type.

        Parameters
        ----------
        names : list of str
        draws : array, shape (n_draws, len(names)) or (chains, n_draws, len(names))
        level : float
        """
        d = np.asarray(draws, dtype=float)
        if d.ndim == 3:
            d = d.reshape(-1, d.shape[-1])
        if d.ndim != 2 or d.shape[1] != len(names) or d.shape[0] < 2:
            raise ValueError(f"draws must have shape (n_draws >= 2, {len(names)}), got {np.shape(draws)}")
        if not np.all(np.isfinite(d)):
            raise ValueError("draws contain NaN or inf")
        a = (1 - level) / 2
        lo, hi = np.quantile(d, [a, 1 - a], axis=0)
        return cls(names, d.mean(axis=0), d.std(axis=0, ddof=1), lo, hi, kind="posterior",
                   level=level, interval_method=interval_method)

    @property
    def label(self):
        """What the numbers are, e.g. ``"estimate / 95% CI (profile likelihood)"``."""
        point, interval = _KIND_LABEL[self.kind]
        tail = f" ({self.interval_method})" if self.interval_method else ""
        return f"{point} / {100 * self.level:g}% {interval}{tail}"

    def __len__(self):
        return len(self.names)

    def __getitem__(self, name):
        """Row by name: a dict of the columns."""
        try:
            i = self.names.index(name)
        except ValueError:
            raise KeyError(f"{name!r} not in {self.names}") from None
        row = {"estimate": self.estimate[i], "se": self.se[i], "lower": self.lower[i],
               "upper": self.upper[i]}
        row.update({k: v[i] for k, v in self.extra.items()})
        return row

    def to_frame(self):
        """A pandas DataFrame (pandas imported lazily)."""
        import pandas as pd

        cols = {"estimate": self.estimate, "se": self.se, "lower": self.lower, "upper": self.upper}
        cols.update(self.extra)
        return pd.DataFrame(cols, index=self.names)

    def _columns(self, show_extra=True):
        cols = ["estimate", "se" if self.kind == "estimate" else "post. sd",
                f"{100 * self.level:g}% lower", f"{100 * self.level:g}% upper"]
        keys = list(self.extra) if show_extra else []
        rows = [(nm, [self.estimate[i], self.se[i], self.lower[i], self.upper[i]] +
                 [self.extra[k][i] for k in keys]) for i, nm in enumerate(self.names)]
        return cols + keys, rows

    def __repr__(self):
        cols, rows = self._columns()
        return SummaryTable(self.label, columns=cols, rows=rows).as_text()


class HierarchicalResult:
    """Result of :func:`deconv.hierarchical.fit` and of every specialised fitter.

    Attributes
    ----------
    model : str
        e.g. ``"linear mixed model"``, ``"normal means"``, ``"random-effects ANOVA"``.
    method : str
        ``"REML"``, ``"ML"``, ``"ANOVA"``, ``"DerSimonian-Laird"``, ``"Laplace"``,
        ``"exact Bayes (quadrature)"``...
    method_reason : str
        Why this method was used (``method="auto"`` states its choice here).
    fixed_effects, variance_components : EffectTable
    group_effects : dict of str -> EffectTable
        One table per grouping factor (rows "level: coefficient").
    fit_stats : dict
        ``loglik``, ``aic``, ``bic``, ``deviance`` / ``reml_criterion``, ``nobs``...
    diagnostics : list of str
        Boundary (degenerate-mode) and convergence messages.
    """

    def __init__(self, *, model, method, method_reason, fixed_effects, variance_components,
                 group_effects, fit_stats, diagnostics=(), graph=None, raw_group_estimates=None,
                 formula=None):
        self.model = model
        self.method = method
        self.method_reason = method_reason
        self.fixed_effects = fixed_effects
        self.variance_components = variance_components
        self.group_effects = dict(group_effects)
        self.fit_stats = dict(fit_stats)
        self.diagnostics = list(diagnostics)
        self._graph = graph
        # factor -> (raw per-group estimates, matching the group_effects rows), for shrinkage plots
        self.raw_group_estimates = dict(raw_group_estimates or {})
        self.formula = formula

    # ----------------------------------------------------------------------- text
    def summary(self):
        """A :class:`deconv._summary.SummaryTable` of the whole fit."""
        info = [("model", self.model), ("method", self.method)]
        if self.formula:
            info.append(("formula", self.formula))
        info += [(k, v) for k, v in self.fit_stats.items() if v is not None]
        rows = []
        cols = None
        for title, tab in (("fixed", self.fixed_effects), ("var. comp.", self.variance_components)):
            if tab is None or not len(tab):
                continue
            c, r = tab._columns(show_extra=False)
            cols = c
            rows += [(f"[{title}] {nm}", vals) for nm, vals in r]
        notes = [f"method: {self.method_reason}"]
        if self.fixed_effects is not None and len(self.fixed_effects):
            notes.append(f"fixed effects: {self.fixed_effects.label}")
            if "df" in self.fixed_effects.extra:
                notes.append("  df: " + ", ".join(
                    f"{n}={d:.4g}" for n, d in zip(self.fixed_effects.names, self.fixed_effects.extra["df"])))
        if self.variance_components is not None and len(self.variance_components):
            notes.append(f"variance components: {self.variance_components.label}")
        for f, tab in self.group_effects.items():
            notes.append(f"group effects '{f}': {len(tab)} rows, {tab.label} (see .group_effects)")
        notes += [f"NOTE: {d}" for d in self.diagnostics]
        return SummaryTable(f"Hierarchical model: {self.model}", info=info, columns=cols or [],
                            rows=rows, notes=notes)

    def __repr__(self):
        return self.summary().as_text()

    # ------------------------------------------------------------------------ graph
    def graph(self):
        """The model's directed graph (:class:`deconv.hierarchical.graph.ModelGraph`)."""
        return self._graph

    # ------------------------------------------------------------------------- plots
    def plot(self, ax=None, kind="caterpillar", factor=None, coef=None):
        """Caterpillar plot of group effects, or shrinkage plot (raw vs fitted).

        Parameters
        ----------
        ax : matplotlib Axes, optional
        kind : {"caterpillar", "shrinkage"}
        factor : str, optional
            Grouping factor (default: the first).
        coef : str, optional
            Coefficient within the factor (default: the first, usually the intercept).

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if not self.group_effects:
            raise ValueError("this result has no group effects to plot")
        factor = factor or next(iter(self.group_effects))
        if factor not in self.group_effects:
            raise ValueError(f"factor must be one of {list(self.group_effects)}, got {factor!r}")
        tab = self.group_effects[factor]
        # rows are "level: coefficient" (mixed models) or just "level" (normal means)
        coefs = [n.rsplit(": ", 1)[1] if ": " in n else "" for n in tab.names]
        coef = coef or coefs[0]
        idx = np.array([i for i, c in enumerate(coefs) if c == coef])
        if idx.size == 0 or (coef and coef not in coefs):
            raise ValueError(f"coef {coef!r} not found for factor {factor!r}")
        if ax is None:
            _, ax = plt.subplots(figsize=(6, max(3, 0.18 * idx.size + 1)))
        est, lo, hi = tab.estimate[idx], tab.lower[idx], tab.upper[idx]
        labels = [tab.names[i].rsplit(": ", 1)[0] for i in idx]
        coef_label = coef or "effect"
        if kind == "caterpillar":
            order = np.argsort(est)
            pos = np.arange(idx.size)
            ax.errorbar(est[order], pos, xerr=[est[order] - lo[order], hi[order] - est[order]],
                        fmt="o", ms=3, capsize=0, color="C0")
            ax.axvline(0, color="0.6", lw=0.8)
            ax.set_yticks(pos)
            ax.set_yticklabels([labels[i] for i in order], fontsize=7)
            ax.set_xlabel(f"{coef_label} ({tab.label})")
            ax.set_title(f"{factor}: group effects")
        elif kind == "shrinkage":
            raw = self.raw_group_estimates.get(factor)
            if raw is None:
                raise ValueError(f"no raw group estimates stored for {factor!r}")
            raw = np.asarray(raw)[idx]
            ax.scatter(raw, est, s=14, color="C0", zorder=3)
            for r, e in zip(raw, est):
                ax.plot([r, r], [r, e], color="0.7", lw=0.8)
            lim = [np.nanmin(np.r_[raw, est]), np.nanmax(np.r_[raw, est])]
            ax.plot(lim, lim, ls="--", color="0.5", lw=0.8, label="no shrinkage")
            ax.set_xlabel(f"raw per-group estimate of {coef_label}")
            ax.set_ylabel(f"fitted group effect ({tab.kind})")
            ax.set_title(f"{factor}: shrinkage")
            ax.legend(loc="best", fontsize=8)
        else:
            raise ValueError(f"kind must be 'caterpillar' or 'shrinkage', got {kind!r}")
        return ax
