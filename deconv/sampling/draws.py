"""The draws container returned by every sampler: draws shaped (chain, draw, parameter)."""
import re

import numpy as np

from deconv._summary import SummaryTable
from deconv.sampling import diagnostics as dg

__all__ = ["Posterior", "load", "ebfmi"]

_STAT_NAMES = ("lp", "accept_stat", "step_size", "tree_depth", "n_leapfrog", "diverging", "energy")


def ebfmi(energy):
    """Energy Bayesian fraction of missing information per chain (Betancourt 2016).

    ``E-BFMI = mean(diff(E)^2) / var(E)`` for the Hamiltonian ``E`` of each draw; values below
    0.3 say the momentum resampling explores the energy distribution poorly (heavy tails,
    funnels).
    """
    e = np.atleast_2d(np.asarray(energy, dtype=np.float64))
    return np.mean(np.diff(e, axis=1) ** 2, axis=1) / np.var(e, axis=1)


class Posterior:
    """Posterior draws with named parameters, sampler statistics and diagnostics.

    Attributes
    ----------
    draws : ndarray, shape (chain, draw, n_params)
        Draws on the natural (constrained) scale, including derived quantities.
    names : list of str
        One name per column of ``draws``; vector parameters are named ``"eta[0]"``, ...
    stats : dict of ndarray (chain, draw)
        ``lp`` (log density on the sampler's scale), ``accept_stat``, ``step_size``,
        ``tree_depth``, ``n_leapfrog``, ``diverging``, ``energy`` (empty for samplers without them).
    divergence_positions : ndarray (chain, draw, n_params) or None
        Natural-scale point where the energy error first exceeded the threshold in each
        divergent transition (NaN rows for the others).
    step_size, inv_metric : ndarray
        The adapted step size (chain,) and diagonal inverse metric (chain, dim) per chain.
    warmup : dict
        ``accept_stat``, ``step_size``, ``n_leapfrog`` (chain, warmup) and ``draws``
        (chain, warmup, n_params) during warm-up.
    unconstrained : ndarray or None
        Draws on the sampler's unconstrained scale (chain, draw, dim).
    info : dict
        Sampler settings, number of gradient evaluations, timings.
    """

    def __init__(self, draws, names, stats=None, divergence_positions=None, step_size=None,
                 inv_metric=None, warmup=None, info=None):
        self.draws = np.asarray(draws, dtype=np.float64)
        if self.draws.ndim != 3:
            raise ValueError(f"draws must be (chain, draw, n_params), got {self.draws.shape}")
        self.names = list(names)
        if len(self.names) != self.draws.shape[2]:
            raise ValueError("names must have one entry per parameter column")
        self.stats = {k: np.asarray(v) for k, v in (stats or {}).items()}
        self.divergence_positions = divergence_positions
        self.step_size = None if step_size is None else np.asarray(step_size)
        self.inv_metric = None if inv_metric is None else np.asarray(inv_metric)
        self.warmup = {k: np.asarray(v) for k, v in (warmup or {}).items()}
        self.info = dict(info or {})
        self.unconstrained = None  # (chain, draw, dim) on the sampler's scale, when known

    # -- access -------------------------------------------------------------------------------
    @property
    def n_chains(self):
        return self.draws.shape[0]

    @property
    def n_draws(self):
        return self.draws.shape[1]

    def _columns(self, name):
        if name in self.names:
            return [self.names.index(name)], True
        cols = [i for i, n in enumerate(self.names) if re.fullmatch(re.escape(name) + r"\[\d+\]", n)]
        if not cols:
            raise KeyError(f"no parameter named {name!r}; parameters: {self._base_names()}")
        return cols, False

    def _base_names(self):
        out = []
        for n in self.names:
            b = n.split("[")[0]
            if b not in out:
                out.append(b)
        return out

    def __getitem__(self, name):
        """Draws of one parameter: (chain, draw) for a scalar, (chain, draw, k) for a vector."""
        cols, scalar = self._columns(name)
        return self.draws[:, :, cols[0]] if scalar else self.draws[:, :, cols]

    def __contains__(self, name):
        try:
            self._columns(name)
            return True
        except KeyError:
            return False

    def mean(self, name=None):
        """Posterior mean of one parameter, or of every column."""
        x = self.draws if name is None else self[name]
        return x.mean(axis=(0, 1))

    def sd(self, name=None):
        x = self.draws if name is None else self[name]
        return x.std(axis=(0, 1), ddof=1)

    def interval(self, name, level=0.9):
        """Central posterior interval ``(lower, upper)`` at ``level``."""
        x = self[name]
        a = (1 - level) / 2
        return np.quantile(x, a, axis=(0, 1)), np.quantile(x, 1 - a, axis=(0, 1))

    # -- diagnostics --------------------------------------------------------------------------
    def rhat(self):
        return dg.rhat(self.draws)

    def ess_bulk(self):
        return dg.ess_bulk(self.draws)

    def ess_tail(self):
        return dg.ess_tail(self.draws)

    @property
    def n_divergent(self):
        d = self.stats.get("diverging")
        return 0 if d is None else int(np.sum(d))

    def ebfmi(self):
        e = self.stats.get("energy")
        return None if e is None else ebfmi(e)

    def n_gradients(self):
        """Gradient evaluations after warm-up (leapfrog steps)."""
        n = self.stats.get("n_leapfrog")
        return None if n is None else int(np.sum(n))

    def summary(self, level=0.9, names=None):
        """Mean, sd, MCSE, central interval, median, bulk/tail ESS and R-hat per parameter.

        ``names``: parameters to show (vector names such as ``"theta"`` expand); default all.
        """
        if names is None:
            cols_idx = list(range(len(self.names)))
        else:
            cols_idx = []
            for n in ([names] if isinstance(names, str) else names):
                cols_idx.extend(self._columns(n)[0])
        x = self.draws[:, :, cols_idx]
        shown = [self.names[i] for i in cols_idx]
        a = (1 - level) / 2
        lo, med, hi = np.quantile(x, [a, 0.5, 1 - a], axis=(0, 1))
        cols = ["mean", "sd", "mcse_mean", "mcse_sd", f"{100 * a:g}%", "50%", f"{100 * (1 - a):g}%",
                "ess_bulk", "ess_tail", "r_hat"]
        mean, sd = x.mean(axis=(0, 1)), x.std(axis=(0, 1), ddof=1)
        mm, ms = dg.mcse_mean(x), dg.mcse_sd(x)
        eb, et, rh = dg.ess_bulk(x), dg.ess_tail(x), dg.rhat(x)
        rows = [(n, [mean[k], sd[k], mm[k], ms[k], lo[k], med[k], hi[k], eb[k], et[k], rh[k]])
                for k, n in enumerate(shown)]
        info = [("sampler", self.info.get("sampler", "")), ("chains x draws",
                                                              f"{self.n_chains} x {self.n_draws}")]
        if "warmup" in self.info:
            info.append(("warm-up", self.info["warmup"]))
        notes = []
        if "diverging" in self.stats:
            info.append(("divergences", self.n_divergent))
            bf = self.ebfmi()
            info.append(("E-BFMI (min over chains)", float(np.min(bf))))
            if self.step_size is not None:
                info.append(("step size (mean)", float(np.mean(self.step_size))))
            info.append(("gradients after warm-up", self.n_gradients()))
        notes.append("MCSE: Monte Carlo standard errors; ESS and R-hat as in Vehtari et al. (2021).")
        return SummaryTable("Posterior summary", info=info, columns=cols, rows=rows, notes=notes)

    def __repr__(self):
        return (f"Posterior({self.n_chains} chains x {self.n_draws} draws, "
                f"{len(self.names)} parameters: {', '.join(self._base_names()[:8])})")

    # -- interop ------------------------------------------------------------------------------
    def to_arviz(self):
        """An ``arviz.InferenceData`` with the posterior and the sampler statistics (needs arviz)."""
        try:
            import arviz as az
        except ImportError:
            raise ImportError("to_arviz() needs the optional 'arviz' package") from None
        post = {}
        for b in self._base_names():
            post[b] = self[b]
        rename = {"accept_stat": "acceptance_rate", "tree_depth": "tree_depth", "lp": "lp",
                  "diverging": "diverging", "energy": "energy", "n_leapfrog": "n_steps",
                  "step_size": "step_size"}
        stats = {rename[k]: (v.astype(bool) if k == "diverging" else v) for k, v in self.stats.items()}
        return az.from_dict(posterior=post, sample_stats=stats or None)

    def save(self, path):
        """Write everything to a compressed ``.npz`` file (read back with :func:`load`)."""
        arrays = {"draws": self.draws, "names": np.array(self.names)}
        for k, v in self.stats.items():
            arrays["stat_" + k] = v
        for k, v in self.warmup.items():
            arrays["warmup_" + k] = v
        if self.divergence_positions is not None:
            arrays["divergence_positions"] = self.divergence_positions
        if self.step_size is not None:
            arrays["step_size"] = self.step_size
        if self.inv_metric is not None:
            arrays["inv_metric"] = self.inv_metric
        arrays["info_keys"] = np.array([str(k) for k in self.info])
        arrays["info_values"] = np.array([str(v) for v in self.info.values()])
        np.savez_compressed(path, **arrays)

    # -- plots --------------------------------------------------------------------------------
    def plot(self, names=None, axes=None):
        """Trace plot (alias of :meth:`plot_trace`)."""
        return self.plot_trace(names, axes=axes)

    def _pick(self, names):
        if names is None:
            return self.names[: min(len(self.names), 6)]
        if isinstance(names, str):
            names = [names]
        out = []
        for n in names:
            cols, scalar = self._columns(n)
            out.extend([self.names[c] for c in cols])
        return out

    def plot_trace(self, names=None, axes=None):
        """Draws against iteration, one line per chain, one panel per parameter."""
        import matplotlib.pyplot as plt
        names = self._pick(names)
        if axes is None:
            _, axes = plt.subplots(len(names), 1, figsize=(7, 1.6 * len(names)), squeeze=False,
                                   sharex=True)
            axes = axes[:, 0]
        axes = np.atleast_1d(axes)
        for ax, n in zip(axes, names):
            x = self[n]
            for c in range(self.n_chains):
                ax.plot(x[c], lw=0.5, alpha=0.8)
            ax.set_ylabel(n)
            div = self.stats.get("diverging")
            if div is not None and div.any():
                cc, tt = np.nonzero(div)
                ax.plot(tt, x[cc, tt], "|", color="red", ms=8, label="divergent")
        axes[-1].set_xlabel("draw")
        return axes

    def plot_rank(self, names=None, axes=None, bins=20):
        """Rank histograms per chain (Vehtari et al. 2021): flat when chains mix."""
        import matplotlib.pyplot as plt
        from scipy import stats as st
        names = self._pick(names)
        if axes is None:
            _, axes = plt.subplots(1, len(names), figsize=(3 * len(names), 2.6), squeeze=False)
            axes = axes[0]
        axes = np.atleast_1d(axes)
        for ax, n in zip(axes, names):
            x = self[n]
            r = st.rankdata(x, method="average").reshape(x.shape)
            edges = np.linspace(0, x.size, bins + 1)
            for c in range(self.n_chains):
                h, _ = np.histogram(r[c], edges)
                ax.step(np.arange(bins), h + 0 * c, where="mid", lw=1)
            ax.axhline(x.shape[1] / bins, color="k", ls="--", lw=0.8)
            ax.set_title(n)
            ax.set_xlabel("rank bin")
        return axes

    def plot_pair(self, x, y, ax=None):
        """Scatter of two parameters with divergent transitions marked in red."""
        import matplotlib.pyplot as plt
        if ax is None:
            _, ax = plt.subplots(figsize=(4, 4))
        a, b = self[x], self[y]
        ax.plot(a.ravel(), b.ravel(), ".", ms=2, alpha=0.3, color="C0")
        div = self.stats.get("diverging")
        if div is not None and div.any():
            m = div.astype(bool)
            ax.plot(a[m], b[m], ".", ms=5, color="red", label=f"divergent ({int(m.sum())})")
            ax.legend(loc="best")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        return ax


def load(path):
    """Read a :class:`Posterior` written by :meth:`Posterior.save`."""
    with np.load(path, allow_pickle=False) as f:
        stats = {k[5:]: f[k] for k in f.files if k.startswith("stat_")}
        warm = {k[7:]: f[k] for k in f.files if k.startswith("warmup_")}
        info = dict(zip(f["info_keys"].tolist(), f["info_values"].tolist()))
        return Posterior(f["draws"], f["names"].tolist(), stats=stats,
                         divergence_positions=f["divergence_positions"] if "divergence_positions" in f.files else None,
                         step_size=f["step_size"] if "step_size" in f.files else None,
                         inv_metric=f["inv_metric"] if "inv_metric" in f.files else None,
                         warmup=warm, info=info)
