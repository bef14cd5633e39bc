"""NUTS on targets with known answers, warm-up behaviour, errors and the Posterior container.

Acceptance rule used throughout (issue 4): posterior means within 4 Monte Carlo standard
errors of the exact value, sds within 10%, R-hat < 1.01.
"""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, stats

import deconv as dc
from deconv.sampling import mcse_mean, nuts


def _check_moments(draws, mean, sd, rel_sd=0.10):
    draws = np.asarray(draws)
    m = draws.mean(axis=(0, 1))
    se = mcse_mean(draws)
    assert np.all(np.abs(m - mean) < 4 * se), (m, mean, se)
    assert_allclose(draws.std(axis=(0, 1), ddof=1), sd, rtol=rel_sd)
    assert np.all(dc.sampling.rhat(draws) < 1.01)


def gaussian(mean, cov):
    prec = np.linalg.inv(cov)

    def f(x):
        r = x - mean
        return -0.5 * r @ prec @ r, -prec @ r
    return f


def test_mvn_diagonal_scales():
    sd = np.array([0.01, 0.3, 1.0, 5.0, 100.0])   # 4 orders of magnitude: the metric must adapt
    mean = np.array([1.0, -2.0, 0.0, 3.0, 50.0])
    # random start: the first gradient seeds the metric ("grad" adaptation)
    post = nuts(gaussian(mean, np.diag(sd ** 2)), dim=5, chains=4, warmup=500, draws=500, rng=0)
    _check_moments(post.draws, mean, sd)
    # adapted inverse metric close to the variances (within 50%: a short window estimate)
    assert_allclose(post.inv_metric.mean(0), sd ** 2, rtol=0.5)


def test_nutpie_schedule_exact_gaussian():
    sd = np.array([0.1, 1.0, 10.0])
    post = nuts(gaussian(np.zeros(3), np.diag(sd ** 2)), dim=3, chains=4, warmup=400, draws=500,
                rng=4, metric="nutpie")
    _check_moments(post.draws, np.zeros(3), sd)
    # for independent Gaussians sqrt(var(q)/var(grad)) = sd^2 exactly in expectation
    assert_allclose(post.inv_metric.mean(0), sd ** 2, rtol=0.3)


def test_mvn_strongly_correlated():
    rho = 0.95
    cov = np.array([[1.0, rho, 0.0], [rho, 1.0, 0.0], [0.0, 0.0, 4.0]])
    post = nuts(gaussian(np.zeros(3), cov), dim=3, chains=4, warmup=500, draws=500, rng=1)
    _check_moments(post.draws, np.zeros(3), np.sqrt(np.diag(cov)))
    c = np.corrcoef(post.draws.reshape(-1, 3).T)[0, 1]
    assert abs(c - rho) < 0.02


def _funnel_nc(q):
    # Neal's funnel, non-centred: y ~ N(0, 3), z ~ N(0, 1), x = exp(y/2) z
    return -q[0] ** 2 / 18 - 0.5 * q[1] ** 2, np.array([-q[0] / 9, -q[1]])


def test_neals_funnel_marginals():
    post = nuts(_funnel_nc, dim=2, chains=4, warmup=500, draws=1000, rng=2)
    y = post.draws[..., 0]
    x = np.exp(y / 2) * post.draws[..., 1]
    _check_moments(y, 0.0, 3.0)
    # quartile of |x| under the funnel: P(|x| <= c) = E_y[2 Phi(c e^{-y/2}) - 1] = 0.5,
    # computed by quadrature over y ~ N(0, 3)
    def p_abs(c):
        f = lambda y: (2 * stats.norm.cdf(c * np.exp(-y / 2)) - 1) * stats.norm.pdf(y, 0, 3)
        return integrate.quad(f, -40, 40, limit=200)[0]
    from scipy.optimize import brentq
    med = brentq(lambda c: p_abs(c) - 0.5, 1e-3, 100)
    frac = np.mean(np.abs(x) <= med)
    se = 4 * np.sqrt(0.25 / dc.sampling.ess_bulk(x))
    assert abs(frac - 0.5) < se + 0.01


def test_centred_funnel_is_flagged():
    # The centred funnel defeats any fixed step size: we must say so (divergences), not hide it.
    def funnel(q):
        y, x = q[0], q[1:]
        s2 = np.exp(y)
        lp = -y ** 2 / 18 - 0.5 * len(x) * y - 0.5 * np.sum(x ** 2) / s2
        gy = -y / 9 - 0.5 * len(x) + 0.5 * np.sum(x ** 2) / s2
        return lp, np.concatenate([[gy], -x / s2])
    with pytest.warns(dc.SamplingWarning, match="divergent"):
        nuts(funnel, dim=4, chains=2, warmup=200, draws=300, rng=0)


def test_conjugate_normal_inverse_gamma_with_positive_constraint():
    # y_i ~ N(mu, s2); mu | s2 ~ N(m0, s2 / k0); s2 ~ Inv-Gamma(a0, b0). Closed-form posterior
    # (Gelman et al. BDA3 sec. 3.3): s2 ~ Inv-Gamma(an, bn), mu ~ t_{2an}(mn, bn / (an kn)).
    rng = np.random.default_rng(3)
    y = rng.normal(2.0, 1.5, 25)
    m0, k0, a0, b0 = 0.0, 0.5, 3.0, 2.0
    n, ybar = y.size, y.mean()
    kn, an = k0 + n, a0 + n / 2
    mn = (k0 * m0 + n * ybar) / kn
    bn = b0 + 0.5 * np.sum((y - ybar) ** 2) + k0 * n * (ybar - m0) ** 2 / (2 * kn)

    def logp(x):
        mu, s2 = x
        r = y - mu
        lp = (-0.5 * n * np.log(s2) - 0.5 * r @ r / s2 - 0.5 * np.log(s2) - k0 * (mu - m0) ** 2 / (2 * s2)
              - (a0 + 1) * np.log(s2) - b0 / s2)
        gmu = r.sum() / s2 - k0 * (mu - m0) / s2
        gs2 = (-(n + 1) / 2 - (a0 + 1)) / s2 + (0.5 * r @ r + k0 * (mu - m0) ** 2 / 2 + b0) / s2 ** 2
        return lp, np.array([gmu, gs2])
    post = nuts(logp, [0.0, 1.0], constraints=[None, "positive"], names=["mu", "s2"],
                chains=4, warmup=500, draws=1000, rng=4)
    t = stats.t(2 * an, mn, np.sqrt(bn / (an * kn)))
    ig = stats.invgamma(an, scale=bn)
    _check_moments(post.draws, [t.mean(), ig.mean()], [t.std(), ig.std()])
    assert np.all(post["s2"] > 0)


def test_linear_regression_flat_prior_multivariate_t():
    # p(beta, log sigma) flat: beta | y ~ t_{n-p}(bhat, s^2 (X'X)^-1), sigma^2 ~ scaled-Inv-chi2(n-p, s^2)
    rng = np.random.default_rng(5)
    n, p = 30, 3
    X = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    y = X @ np.array([1.0, -0.5, 2.0]) + rng.normal(0, 0.7, n)
    bhat, rss = np.linalg.lstsq(X, y, rcond=None)[:2]
    nu = n - p
    s2 = rss[0] / nu
    cov_b = s2 * np.linalg.inv(X.T @ X) * nu / (nu - 2)

    def logp(q):
        b, ls = q[:p], q[p]
        r = y - X @ b
        e = np.exp(-2 * ls)
        return -n * ls - 0.5 * (r @ r) * e, np.concatenate([X.T @ r * e, [-n + (r @ r) * e]])
    post = nuts(logp, dim=p + 1, chains=4, warmup=500, draws=1000, rng=6)
    sig2 = np.exp(2 * post.draws[..., p])
    ig = stats.invgamma(nu / 2, scale=nu * s2 / 2)
    _check_moments(post.draws[..., :p], bhat, np.sqrt(np.diag(cov_b)))
    _check_moments(sig2, ig.mean(), ig.std(), rel_sd=0.15)  # heavier tail: sd of sd is larger


def test_reproducible_and_parallel_identical():
    f = gaussian(np.zeros(2), np.eye(2))
    a = nuts(f, np.zeros(2), chains=2, warmup=100, draws=100, rng=11, warn=False)
    b = nuts(f, np.zeros(2), chains=2, warmup=100, draws=100, rng=np.random.default_rng(11), warn=False)
    c = nuts(f, np.zeros(2), chains=2, warmup=100, draws=100, rng=11, parallel=2, warn=False)
    np.testing.assert_array_equal(a.draws, b.draws)
    np.testing.assert_array_equal(a.draws, c.draws)
    np.testing.assert_array_equal(a.stats["tree_depth"], c.stats["tree_depth"])
    d = nuts(f, np.zeros(2), chains=2, warmup=100, draws=100, rng=12, warn=False)
    assert not np.array_equal(a.draws, d.draws)


def test_default_init_and_retries():
    # support x > 1 only (log density -inf elsewhere): random inits are retried until finite
    def f(x):
        if x[0] <= 1:
            return -np.inf, np.zeros(1)
        return -(x[0] - 1.5) ** 2, np.array([-2 * (x[0] - 1.5)])
    post = nuts(f, dim=1, chains=2, warmup=200, draws=200, rng=0, warn=False)
    assert np.all(post.draws > 1)


def test_nan_log_density_midrun_is_a_divergence():
    def f(x):
        if x[0] > 1.0:
            return np.nan, np.full(1, np.nan)
        return -0.5 * x[0] ** 2, -x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dc.SamplingWarning)
        post = nuts(f, [0.0], chains=2, warmup=200, draws=300, rng=0)
    assert post.n_divergent > 0
    assert np.all(post.draws <= 1.0)


def test_bad_input():
    f = gaussian(np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="chains"):
        nuts(f, np.zeros(2), chains=0)
    with pytest.raises(ValueError, match="draws"):
        nuts(f, np.zeros(2), draws=0)
    with pytest.raises(ValueError, match="init"):
        nuts(lambda x: (np.nan, np.zeros(2)), np.zeros(2))
    with pytest.raises(ValueError, match="gradient of shape"):
        nuts(lambda x: (0.0, np.zeros(3)), np.zeros(2))
    with pytest.raises(TypeError, match="tuple"):
        nuts(lambda x: 0.0, np.zeros(2))
    with pytest.raises(ValueError, match="init"):
        nuts(f, [np.nan, 0.0])
    with pytest.raises(ValueError, match="init"):
        nuts(f, np.zeros((3, 2)), chains=2)
    with pytest.raises(ValueError, match="dim"):
        nuts(f)
    with pytest.raises(TypeError, match="model"):
        nuts("not a model", np.zeros(2))
    with pytest.raises(ValueError, match="target_accept"):
        nuts(f, np.zeros(2), target_accept=1.5)
    with pytest.raises(ValueError, match="metric"):
        nuts(f, np.zeros(2), metric="dense-ish")
    with pytest.raises(ValueError, match="support"):
        nuts(f, [-1.0, 0.0], constraints=["positive", None])
    with pytest.raises(ValueError, match="finite"):
        nuts(lambda x: (-np.inf, np.zeros(1)), dim=1, init_tries=5)

    def boom(x):
        raise RuntimeError("model exploded")
    with pytest.raises(RuntimeError, match="exploded"):
        nuts(lambda x: (-0.5 * x @ x, -x) if abs(x[0]) < 0.5 else boom(x), [0.0], chains=1,
             warmup=50, draws=50)


def test_depth_saturation_warns():
    f = gaussian(np.zeros(2), np.diag([1.0, 1e4]))
    with pytest.warns(dc.SamplingWarning, match="maximum tree depth"):
        nuts(f, np.zeros(2), chains=1, warmup=0, draws=50, max_depth=2, metric="fixed",
             step_size=0.01, rng=0)


def test_step_size_adapts_to_target_accept():
    f = gaussian(np.zeros(10), np.eye(10))
    lo = nuts(f, np.zeros(10), chains=2, warmup=400, draws=300, rng=0, target_accept=0.6, warn=False)
    hi = nuts(f, np.zeros(10), chains=2, warmup=400, draws=300, rng=0, target_accept=0.95, warn=False)
    assert hi.step_size.mean() < lo.step_size.mean()
    assert hi.stats["accept_stat"].mean() > 0.9
    assert lo.stats["accept_stat"].mean() < hi.stats["accept_stat"].mean()


def test_posterior_container(tmp_path):
    f = gaussian(np.array([1.0, 2.0]), np.eye(2))
    post = nuts(f, np.zeros(2), names=["a", "b"], chains=2, warmup=200, draws=200, rng=0)
    s = post.summary()
    text = str(s)
    assert "ess_bulk" in text and "r_hat" in text and "a" in text
    only_b = str(post.summary(names="b", level=0.8))
    assert "10%" in only_b and "\na " not in only_b and "\nb " in only_b
    assert post["a"].shape == (2, 200)
    assert post.ebfmi().shape == (2,)
    path = tmp_path / "post.npz"
    post.save(path)
    back = dc.sampling.load(path)
    np.testing.assert_array_equal(back.draws, post.draws)
    assert back.names == post.names
    np.testing.assert_array_equal(back.stats["tree_depth"], post.stats["tree_depth"])
    with pytest.raises(KeyError, match="no parameter"):
        post["c"]
    import matplotlib
    matplotlib.use("Agg")
    assert len(post.plot_trace()) == 2
    assert len(post.plot_rank()) == 2
    post.plot_pair("a", "b")


def test_to_arviz_roundtrip():
    az = pytest.importorskip("arviz")
    f = gaussian(np.zeros(2), np.eye(2))
    post = nuts(f, np.zeros(2), names=["a", "b"], chains=2, warmup=100, draws=100, rng=0, warn=False)
    idata = post.to_arviz()
    np.testing.assert_array_equal(idata.posterior["a"].values, post["a"])
    assert_allclose(float(az.rhat(idata)["a"]), dc.sampling.rhat(post["a"]), rtol=1e-6)


def test_check_diagnostics_messages():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 300, 1))
    x[0] += 2.0                                     # one chain elsewhere: R-hat
    energy = np.cumsum(rng.normal(size=(4, 300)), axis=1)   # random-walk energy: tiny E-BFMI
    post = dc.sampling.Posterior(x, ["a"], stats={"diverging": np.zeros((4, 300), int),
                                                  "energy": energy,
                                                  "tree_depth": np.full((4, 300), 3)})
    with pytest.warns(dc.SamplingWarning):
        msgs = dc.sampling.check_diagnostics(post, max_depth=3)
    text = " ".join(msgs)
    assert "R-hat" in text and "E-BFMI" in text and "maximum tree depth" in text
    good = dc.sampling.Posterior(rng.normal(size=(4, 500, 1)), ["a"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert dc.sampling.check_diagnostics(good) == []


def test_dense_metric_learns_correlation():
    rho = 0.99
    cov = np.array([[1.0, rho, 0.0], [rho, 1.0, 0.0], [0.0, 0.0, 100.0]])
    f = gaussian(np.zeros(3), cov)
    post = nuts(f, dim=3, chains=4, warmup=500, draws=500, rng=3, metric="dense")
    _check_moments(post.draws, np.zeros(3), np.sqrt(np.diag(cov)))
    # the adapted dense inverse metric estimates the covariance: variances within 30% (a
    # window of ~150-250 warm-up draws has sd(var_hat)/var ~ 0.1), the 0.99 correlation within 0.01
    m = post.inv_metric
    assert m.shape == (4, 3, 3)
    assert_allclose(np.diagonal(m, axis1=1, axis2=2), np.tile(np.diag(cov), (4, 1)), rtol=0.3)
    assert_allclose(m[:, 0, 1] / np.sqrt(m[:, 0, 0] * m[:, 1, 1]), rho, atol=0.01)
    # and is far cheaper per effective draw than a diagonal metric on this target
    diag = nuts(f, dim=3, chains=4, warmup=500, draws=500, rng=3, metric="diag", warn=False)
    assert (post.ess_bulk().min() / post.n_gradients()
            > 3 * diag.ess_bulk().min() / diag.n_gradients())


def test_fixed_dense_metric_and_validation():
    cov = np.array([[1.0, 0.8], [0.8, 1.0]])
    f = gaussian(np.zeros(2), cov)
    post = nuts(f, np.zeros(2), metric="fixed", inv_metric=cov, chains=2, warmup=200, draws=500,
                rng=0, warn=False)
    assert_allclose(post.inv_metric[0], cov)
    assert_allclose(post.draws.std(axis=(0, 1)), 1.0, rtol=0.1)
    with pytest.raises(ValueError, match="positive-definite"):
        nuts(f, np.zeros(2), metric="dense", inv_metric=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="dense"):
        nuts(f, np.zeros(2), metric="diag", inv_metric=cov)
    with pytest.raises(ValueError, match="inv_metric"):
        nuts(f, np.zeros(2), inv_metric=[1.0, -1.0])


def test_plus_infinite_log_density_is_a_divergence_not_a_nan():
    def f(x):
        if x[0] > 1.5:
            return np.inf, np.zeros(1)
        return -0.5 * x[0] ** 2, -x
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dc.SamplingWarning)
        post = nuts(f, [0.0], chains=2, warmup=200, draws=300, rng=0)
    assert np.all(np.isfinite(post.draws)) and np.all(post.draws <= 1.5)
    assert post.n_divergent > 0


def test_progress_bar_counts_iterations(monkeypatch):
    import sys
    nuts_mod = sys.modules["deconv.sampling.nuts"]  # the module (the package exports the function)

    class Bar:
        def __init__(self, total, desc, enabled):
            self.total, self.n = total, 0
        def update(self, k):
            self.n += k
        def __enter__(self):
            return self
        def __exit__(self, *a):
            return False
    bars = []
    monkeypatch.setattr(nuts_mod, "progress_bar", lambda *a: bars.append(Bar(*a)) or bars[-1])
    f = gaussian(np.zeros(2), np.eye(2))
    post = nuts(f, np.zeros(2), chains=2, warmup=100, draws=150, rng=0, progress=True, warn=False)
    assert bars[0].total == 500 and bars[0].n == 500   # updated every 50 iterations
    quiet = nuts(f, np.zeros(2), chains=2, warmup=100, draws=150, rng=0, warn=False)
    np.testing.assert_array_equal(post.draws, quiet.draws)   # the bar does not touch the rng


def test_bounded_and_upper_constraints():
    # Beta(2, 5) on (0, 1) via a (lo, hi) bound, and -Exponential(1) on (-inf, 0)
    def logp(x):
        a, b = x
        return (np.log(a) + 4 * np.log1p(-a) + b,
                np.array([1 / a - 4 / (1 - a), 1.0]))
    post = nuts(logp, dim=2, constraints=[(0, 1), (None, 0.0)], chains=4, warmup=300,
                draws=600, rng=8)
    be = stats.beta(2, 5)
    _check_moments(post.draws, [be.mean(), -1.0], [be.std(), 1.0])
    assert np.all((post.draws[..., 0] > 0) & (post.draws[..., 0] < 1) & (post.draws[..., 1] < 0))


def test_inputs_not_mutated():
    f = gaussian(np.zeros(2), np.diag([1.0, 4.0]))
    init = np.array([[0.5, -0.5], [0.1, 0.2]])
    minv = np.array([1.0, 2.0])
    init0, minv0 = init.copy(), minv.copy()
    nuts(f, init, chains=2, warmup=100, draws=100, inv_metric=minv, rng=0, warn=False)
    np.testing.assert_array_equal(init, init0)
    np.testing.assert_array_equal(minv, minv0)
