"""Conjugate parametric empirical Bayes: closed forms, marginal likelihoods, MLE checks."""
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

import deconv as dc


def _num_grad(f, x, h=1e-5):
    x = np.asarray(x, float)
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def test_normal_homoskedastic_closed_form_mle():
    # equal s: the ML estimates are mu = mean(z), tau^2 = max(0, mean((z - zbar)^2) - s^2)
    rng = np.random.default_rng(0)
    z = rng.normal(1.0, 2.0, 400) + rng.normal(size=400)
    eb = dc.eb.Conjugate().fit(z, se=1.0)
    assert_allclose(eb.params_["mu"], z.mean(), rtol=1e-10)
    assert_allclose(eb.params_["tau"] ** 2, np.mean((z - z.mean()) ** 2) - 1.0, rtol=1e-7)
    # posterior: closed form (Efron & Morris 1973), to 1e-12
    t2 = eb.params_["tau"] ** 2
    B = 1.0 / (1.0 + t2)
    assert_allclose(eb.posterior_mean(), B * eb.params_["mu"] + (1 - B) * z, rtol=1e-12, atol=1e-12)
    assert_allclose(eb.posterior_sd(), np.sqrt(t2 / (1 + t2)), rtol=1e-12)
    lo, hi = eb.posterior_interval(0.9)
    q = stats.norm.ppf(0.95)
    assert_allclose(hi - lo, 2 * q * np.sqrt(t2 / (1 + t2)), rtol=1e-12)
    # no heterogeneity: tau^2 estimate on the boundary 0, full shrinkage to the mean
    z0 = rng.normal(size=300) * 0.5
    e0 = dc.eb.Conjugate().fit(z0, se=1.0)
    assert e0.params_["tau"] == 0.0
    assert_allclose(e0.posterior_mean(), np.full(300, z0.mean()), rtol=1e-12)


def test_normal_heteroskedastic_mle_is_stationary_and_consistent():
    rng = np.random.default_rng(1)
    n = 4000
    s = rng.uniform(0.3, 2.0, n)
    z = rng.normal(0.5, 1.2, n) + s * rng.normal(size=n)
    for method in ("ml", "reml"):
        eb = dc.eb.Conjugate(method=method).fit(z, se=s)
        mu, tau = eb.params_["mu"], eb.params_["tau"]

        def ll(p, reml=method == "reml"):
            v = p[1] ** 2 + s**2
            out = stats.norm.logpdf(z, p[0], np.sqrt(v)).sum()
            return out - 0.5 * np.log(np.sum(1 / v)) if reml else out

        assert_allclose(_num_grad(ll, [mu, tau]), 0.0, atol=1e-4)
        assert abs(mu - 0.5) < 0.08 and abs(tau - 1.2) < 0.08  # ~4 standard errors
    eb = dc.eb.Conjugate().fit(z, se=s)
    # sum of 4000 terms: agreement to ~1e-11 relative is round-off
    assert_allclose(eb.loglik_, stats.norm.logpdf(z, mu, np.sqrt(eb.params_["tau"] ** 2 + s**2)).sum(),
                    rtol=1e-10)
    B = s**2 / (s**2 + eb.params_["tau"] ** 2)
    assert_allclose(eb.posterior_mean(), B * eb.params_["mu"] + (1 - B) * z, rtol=1e-12, atol=1e-13)
    assert_allclose(eb.posterior_sd() ** 2, (1 - B) * s**2, rtol=1e-12)
    assert_allclose(eb.lfsr(), np.minimum(*(lambda c: (c, 1 - c))(
        stats.norm.cdf(0, eb.posterior_mean(), eb.posterior_sd()))), rtol=1e-12)


def test_gamma_poisson():
    rng = np.random.default_rng(2)
    n = 5000
    e = rng.uniform(0.5, 3.0, n)
    theta = rng.gamma(3.0, 1 / 2.0, n)
    k = rng.poisson(e * theta)
    eb = dc.eb.Conjugate(family="poisson").fit(k, exposure=e)
    a, b = eb.params_["shape"], eb.params_["rate"]
    # marginal log-likelihood = negative binomial (scipy parameterisation n=a, p=b/(b+e))
    assert_allclose(eb.loglik_, stats.nbinom.logpmf(k, a, b / (b + e)).sum(), rtol=1e-12)
    ll = lambda p: stats.nbinom.logpmf(k, p[0], p[1] / (p[1] + e)).sum()  # noqa: E731
    assert_allclose(_num_grad(ll, [a, b], h=1e-6) * [a, b], 0.0, atol=1e-3)
    assert abs(a / b - 1.5) < 0.05 and abs(a - 3.0) < 0.6
    # closed-form posterior Gamma(a + k, b + e)
    assert_allclose(eb.posterior_mean(), (a + k) / (b + e), rtol=1e-12)
    assert_allclose(eb.posterior_sd(), np.sqrt(a + k) / (b + e), rtol=1e-12)
    lo, hi = eb.posterior_interval(0.8, kind="hpd")
    post = stats.gamma(a + k[:5], scale=1 / (b + e[:5]))
    assert_allclose(post.cdf(hi[:5]) - post.cdf(lo[:5]), 0.8, atol=1e-8)
    assert_allclose(post.pdf(hi[:5]), post.pdf(lo[:5]), rtol=1e-4)  # HPD: equal density ends


def test_beta_binomial():
    rng = np.random.default_rng(3)
    n = 4000
    trials = rng.integers(5, 50, n)
    k = rng.binomial(trials, rng.beta(2.0, 6.0, n))
    eb = dc.eb.Conjugate(family="binomial").fit(k, trials=trials)
    a, b = eb.params_["a"], eb.params_["b"]
    assert_allclose(eb.loglik_, stats.betabinom.logpmf(k, trials, a, b).sum(), rtol=1e-12)
    ll = lambda p: stats.betabinom.logpmf(k, trials, p[0], p[1]).sum()  # noqa: E731
    assert_allclose(_num_grad(ll, [a, b], h=1e-6) * [a, b], 0.0, atol=1e-3)
    assert abs(a / (a + b) - 0.25) < 0.01
    assert_allclose(eb.posterior_mean(), (a + k) / (a + b + trials), rtol=1e-12)
    v = (a + k) * (b + trials - k) / ((a + b + trials) ** 2 * (a + b + trials + 1))
    assert_allclose(eb.posterior_sd(), np.sqrt(v), rtol=1e-12)
    d = eb.posterior_draws(2000, rng=0)
    assert_allclose(d, eb.posterior_draws(2000, rng=0))
    assert_allclose(d.mean(axis=1)[:50], eb.posterior_mean()[:50], atol=5 * np.sqrt(v.max() / 2000))


def test_conjugate_matches_npmle_when_prior_is_normal():
    # with a normal G both estimate the same posterior means (NPMLE's regret is small)
    rng = np.random.default_rng(4)
    theta = rng.normal(0, 1, 3000)
    z = theta + rng.normal(size=3000)
    c = dc.eb.Conjugate().fit(z, se=1.0)
    npm = dc.eb.NPMLE(grid_size=150).fit(z, se=1.0)
    assert np.mean((c.posterior_mean() - npm.posterior_mean()) ** 2) < 0.01


def test_conjugate_errors_and_summary():
    with pytest.raises(ValueError, match="reml"):
        dc.eb.Conjugate(family="poisson", method="reml").fit([1, 2, 3])
    with pytest.raises(ValueError, match="at least 2"):
        dc.eb.Conjugate().fit([1.0], se=1.0)
    with pytest.raises(ValueError, match="se must be positive"):
        dc.eb.Conjugate().fit([1.0, 2.0], se=[1.0, 0.0])
    with pytest.raises(AttributeError, match="not fitted"):
        dc.eb.Conjugate().posterior_mean()
    eb = dc.eb.Conjugate().fit([0.1, 0.5, -0.3, 2.0], se=0.5)
    assert "tau" in str(eb.summary())
    assert eb.plot() is not None
