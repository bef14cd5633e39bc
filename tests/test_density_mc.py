"""Monte Carlo studies of deconv.density with known truth (issue 2, "What must hold").

Truths: standard normal, a bimodal normal mixture, a skewed law (chi-square with 4 degrees
of freedom, standardised). Errors: normal and Laplace with noise-to-signal variance ratio
var(U)/var(X) = 0.25. For each configuration we check, over replications, that
* the ISE of the plug-in estimate falls as n grows (n = 200 -> 2000),
* it beats the naive KDE that ignores the noise (scipy.stats.gaussian_kde of W),
* it is within a small factor of the ISE at the ISE-optimal bandwidth (found by search),
* the plug-in and bootstrap bandwidths are close to the exact-MISE-optimal bandwidth
  (from exact_mise with the true characteristic function).

The default run uses few replications; the ``slow`` versions use more.
"""
import warnings

import numpy as np
import pytest
from scipy import integrate, optimize, stats

from deconv.density import DeconvolutionKDE, exact_mise
from deconv.exceptions import DeconvWarning
from deconv.noise import Laplace, Normal


class Truth:
    def __init__(self, name):
        self.name = name
        if name == "normal":
            self.pdf = stats.norm.pdf
            self.cf = lambda t: np.exp(-np.asarray(t) ** 2 / 2)
            self.rvs = lambda n, rng: rng.normal(size=n)
        elif name == "bimodal":
            # 0.5 N(-1, 0.4^2) + 0.5 N(1, 0.4^2), variance 1.16: standardised
            s = np.sqrt(1.16)
            m, sd = 1.0 / s, 0.4 / s
            self.pdf = lambda x: 0.5 * (stats.norm.pdf(x, -m, sd) + stats.norm.pdf(x, m, sd))
            self.cf = lambda t: np.cos(m * np.asarray(t)) * np.exp(-(sd * np.asarray(t)) ** 2 / 2)
            self.rvs = lambda n, rng: np.where(rng.random(n) < 0.5, -m, m) + sd * rng.normal(size=n)
        else:
            # chi-square(4) standardised: (Y - 4) / sqrt(8)
            k, c = 4.0, np.sqrt(8.0)
            self.pdf = lambda x: c * stats.chi2.pdf(c * np.asarray(x) + k, k)
            self.cf = lambda t: (np.exp(-1j * np.asarray(t) * k / c)
                                 * (1 - 2j * np.asarray(t) / c) ** (-k / 2))
            self.rvs = lambda n, rng: (rng.chisquare(k, size=n) - k) / c


X_GRID = np.linspace(-6, 8, 2801)


def ise(fvals, truth):
    return integrate.trapezoid((fvals - truth.pdf(X_GRID)) ** 2, X_GRID)


def one_dataset(truth, law, n, rng, oracle=True):
    w = truth.rvs(n, rng) + law.rvs(n, rng=rng)
    est = DeconvolutionKDE(noise=law, bandwidth="pi").fit(w)
    out = {"pi": ise(est.pdf(X_GRID), truth), "h_pi": est.bandwidth_,
           "naive": ise(stats.gaussian_kde(w)(X_GRID), truth)}
    if oracle:
        def ise_h(lh):
            e = DeconvolutionKDE(noise=law, bandwidth=float(np.exp(lh)), grid=400).fit(w)
            return ise(e.pdf(X_GRID), truth)
        lhs = np.log(est.bandwidth_) + np.linspace(-1.2, 1.2, 13)
        vals = [ise_h(v) for v in lhs]
        i = int(np.argmin(vals))
        res = optimize.minimize_scalar(ise_h, bounds=(lhs[max(i - 1, 0)], lhs[min(i + 1, 12)]),
                                       method="bounded", options={"xatol": 1e-3})
        out["oracle"] = min(res.fun, vals[i])
    return out


def study(truth_name, law_name, reps, ns=(200, 2000), seed=0):
    truth = Truth(truth_name)
    sd_u = 0.5  # var(X) = 1, var(U)/var(X) = 0.25
    law = Normal(sd=sd_u) if law_name == "normal" else Laplace(sd=sd_u)
    rng = np.random.default_rng(seed)
    res = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n in ns:
            res[n] = [one_dataset(truth, law, n, rng) for _ in range(reps)]
    return truth, law, res


def check(truth_name, law_name, reps, factor):
    truth, law, res = study(truth_name, law_name, reps)
    small = np.mean([r["pi"] for r in res[200]])
    big = np.mean([r["pi"] for r in res[2000]])
    assert big < small, (truth_name, law_name, small, big)
    for n in res:
        pi = np.mean([r["pi"] for r in res[n]])
        naive = np.mean([r["naive"] for r in res[n]])
        oracle = np.mean([r["oracle"] for r in res[n]])
        if n == 2000:
            # with enough data deconvolution must beat ignoring the noise
            assert pi < naive, (truth_name, law_name, n, pi, naive)
        assert pi < factor * oracle, (truth_name, law_name, n, pi, oracle)
    return res


CONFIGS = [(t, e) for t in ("normal", "bimodal", "skewed") for e in ("normal", "laplace")]


@pytest.mark.parametrize("truth_name, law_name", CONFIGS)
def test_plugin_ise_monte_carlo_small(truth_name, law_name):
    check(truth_name, law_name, reps=3, factor=3.0)


@pytest.mark.slow
@pytest.mark.parametrize("truth_name, law_name", CONFIGS)
def test_plugin_ise_monte_carlo_large(truth_name, law_name):
    check(truth_name, law_name, reps=30, factor=2.0)


@pytest.mark.parametrize("law", [Normal(sd=0.5), Laplace(sd=0.5)])
def test_selectors_near_exact_mise_optimum(law):
    """Median plug-in / bootstrap / normal-reference bandwidths within a factor 1.6 of the
    exact-MISE-optimal bandwidth (normal truth, n = 1000; exact_mise gives the optimum)."""
    truth = Truth("normal")
    n = 1000
    res = optimize.minimize_scalar(lambda lh: exact_mise(np.exp(lh), truth.cf, law, n=n),
                                   bounds=(np.log(0.05), np.log(2.0)), method="bounded")
    h_opt = float(np.exp(res.x))
    rng = np.random.default_rng(3)
    hs = {k: [] for k in ("pi", "boot", "nr", "cv")}
    for _ in range(8):
        w = truth.rvs(n, rng) + law.rvs(n, rng=rng)
        for k in hs:
            with warnings.catch_warnings():
                # cross-validation's criterion often keeps falling to the end of the search
                # range (it then warns); the other selectors must not warn here
                if k == "cv":
                    warnings.simplefilter("ignore", DeconvWarning)
                else:
                    warnings.simplefilter("error")
                hs[k].append(DeconvolutionKDE(noise=law, bandwidth=k).fit(w).bandwidth_)
    for k in ("pi", "boot", "nr"):
        ratio = np.median(hs[k]) / h_opt
        assert 1 / 1.6 < ratio < 1.6, (k, ratio)
    # cross-validation is known to be highly variable (Delaigle & Gijbels 2004): factor 3
    assert 1 / 3 < np.median(hs["cv"]) / h_opt < 3
