"""Adaptive shrinkage (unimodal scale mixtures, lfsr) and Tweedie f-modeling."""
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

import deconv as dc


def _sparse(n, seed, pi0=0.8):
    rng = np.random.default_rng(seed)
    theta = np.where(rng.random(n) < pi0, 0.0, rng.normal(0, 3, n))
    s = rng.uniform(0.5, 1.5, n)
    return theta, theta + s * rng.normal(size=n), s


@pytest.mark.parametrize("kind", ["normal", "uniform"])
def test_ash_recovers_null_mass_and_controls_false_signs(kind):
    theta, z, s = _sparse(5000, 0)
    a = dc.eb.Ash(kind).fit(z, s)
    assert a.converged_ and a.kkt_ <= 1e-8
    assert abs(a.prior_.null_mass() - 0.8) < 0.04  # nullweight=10 makes it slightly conservative
    # the lfsr is calibrated: among units with lfsr < 0.05 the sign error rate is < 0.05
    sig = a.lfsr() < 0.05
    wrong = np.sign(a.posterior_mean()[sig]) != np.sign(theta[sig])
    assert sig.sum() > 200 and wrong.mean() < 0.05
    # shrinkage beats the raw estimates by far for sparse signals
    assert np.mean((a.posterior_mean() - theta) ** 2) < 0.5 * np.mean((z - theta) ** 2)


def test_ash_posterior_closed_form_single_normal_component():
    # with a single N(0, sigma^2) component (and pi_0 -> 0 at nullweight=1), the
    # posterior of each unit is N(sigma^2 z/(sigma^2+s^2), sigma^2 s^2/(sigma^2+s^2))
    theta, z, s = _sparse(200, 1, pi0=0.0)
    a = dc.eb.Ash(nullweight=1.0).fit(z, s)
    k = 3
    v = a.scales_[k] ** 2
    assert_allclose(a._cm[:, k], v / (v + s**2) * z, rtol=1e-12)
    assert_allclose(a._cm2[:, k] - a._cm[:, k] ** 2, v * s**2 / (v + s**2), rtol=1e-12)
    # truncated-normal moments of the uniform components match scipy.stats.truncnorm
    u = dc.eb.Ash("uniform", nullweight=1.0).fit(z[:20], s[:20])
    sc = u.scales_[None, 1:]
    zz, ss = u.z_[:, None], u.se_[:, None]
    tn = stats.truncnorm((-sc - zz) / ss, (sc - zz) / ss, loc=zz, scale=ss)
    assert_allclose(u._cm[:, 1:], tn.mean(), rtol=1e-9, atol=1e-12)
    assert_allclose(u._cm2[:, 1:] - u._cm[:, 1:] ** 2, tn.var(), rtol=1e-7, atol=1e-12)
    assert_allclose(u._cpneg[:, 1:], tn.cdf(0.0), rtol=1e-9, atol=1e-12)


def test_ash_draws_and_errors():
    theta, z, s = _sparse(400, 2)
    a = dc.eb.Ash().fit(z, s)
    d = a.posterior_draws(3000, rng=0)
    assert_allclose(d, a.posterior_draws(3000, rng=0))
    assert np.max(np.abs(d.mean(1) - a.posterior_mean()) / (a.posterior_sd() + 1e-9)) < 0.15
    assert_allclose(a.lfdr(), a._resp[:, 0])
    lo, hi = a.posterior_interval(0.9)  # the point mass at 0 makes them conservative
    assert np.mean((lo <= theta) & (theta <= hi)) >= 0.88
    with pytest.raises(TypeError, match="fitted units"):
        a.transform(z)
    assert "null mass" in str(a.summary())
    with pytest.raises(ValueError, match="nullweight"):
        dc.eb.Ash(nullweight=0.5).fit(z, s)
    with pytest.raises(ValueError, match="se must be positive"):
        dc.eb.Ash().fit(z, np.zeros_like(s))


def test_tweedie_matches_bayes_rule_for_known_two_point_prior():
    # Efron (2011): Tweedie's estimate approaches the Bayes rule E[theta|z] as n grows
    rng = np.random.default_rng(3)
    n = 40000
    theta = rng.choice([0.0, 3.0], n, p=[0.8, 0.2])
    z = theta + rng.normal(size=n)
    t = dc.eb.Tweedie(df=7).fit(z, se=1.0)
    like = stats.norm.pdf(z[:, None], [0.0, 3.0], 1.0) * [0.8, 0.2]
    bayes = like @ np.array([0.0, 3.0]) / like.sum(1)
    mid = (z > -1.5) & (z < 4.5)  # away from the thin tails where f is poorly estimated
    assert np.sqrt(np.mean((t.posterior_mean()[mid] - bayes[mid]) ** 2)) < 0.1
    assert np.mean((t.posterior_mean() - theta) ** 2) < 1.1 * np.mean((bayes - theta) ** 2)
    assert np.all(t.posterior_sd() >= 0)
    with pytest.raises(ValueError, match="se must be positive"):
        dc.eb.Tweedie().fit(z, se=0.0)
