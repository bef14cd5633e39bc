"""MAP finder (degenerate mode of eight schools) and the gradient-free slice sampler."""
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

import deconv as dc
from deconv.datasets.sampling import eight_schools
from deconv.sampling import find_map, slice_sample


def _eight_schools_marginal(x):
    # theta integrated out: y_j ~ N(mu, sigma_j^2 + tau^2); flat prior on (mu, tau)
    d = eight_schools()
    y, s = d["y"], d["sigma"]
    mu, tau = x
    v = s ** 2 + tau ** 2
    r = y - mu
    lp = -0.5 * np.sum(np.log(v)) - 0.5 * np.sum(r ** 2 / v)
    return lp, np.array([np.sum(r / v), np.sum(-tau / v + r ** 2 * tau / v ** 2)])


def test_eight_schools_type2_ml_is_zero():
    # Gelman et al. BDA3 sec. 5.5: the marginal likelihood of tau is maximised at tau = 0;
    # mu is then the precision-weighted mean of y: sum(y/s^2)/sum(1/s^2) = 7.6856
    res = find_map(_eight_schools_marginal, [0.0, 5.0], constraints=[None, "positive"],
                   names=["mu", "tau"])
    d = eight_schools()
    w = 1 / d["sigma"] ** 2
    assert res["tau"] == 0.0 and res.at_boundary[1]
    assert_allclose(res["mu"], np.sum(w * d["y"]) / np.sum(w), rtol=1e-6)
    assert "boundary" in str(res.summary())


def test_builtin_map_collapses_tau_while_posterior_mean_does_not():
    d = eight_schools()
    m = dc.sampling.models.EightSchools(d["y"], d["sigma"])
    res = find_map(m, rng=0)
    assert res["tau"] < 1e-2 and res.at_boundary[1]
    post = dc.sampling.nuts(m, chains=2, warmup=500, draws=500, rng=0, warn=False)
    assert post.mean("tau") > 2.5


def test_map_gaussian_and_jacobian():
    res = find_map(lambda x: (-0.5 * np.sum((x - 1) ** 2), -(x - 1)), dim=3, rng=0)
    assert_allclose(res.x, 1.0, atol=1e-6)
    # Gamma(3, 1): natural-scale mode 2; on the log scale (with Jacobian) mode at x = 3
    f = lambda x: (2 * np.log(x[0]) - x[0], np.array([2 / x[0] - 1]))
    assert_allclose(find_map(f, [1.0], constraints=["positive"]).x, 2.0, rtol=1e-5)
    assert_allclose(find_map(f, [1.0], constraints=["positive"], jacobian=True).x, 3.0, rtol=1e-5)


def test_slice_sampler_exact_targets():
    # Gamma(3, 2) on (0, inf) and N(1, 0.5) -- exact means/sds from scipy
    g = stats.gamma(3, scale=0.5)

    def logp(x):
        # Gamma(shape 3, rate 2) and N(1, 0.5^2), up to constants
        return 2 * np.log(x[0]) - 2 * x[0] - 2 * (x[1] - 1) ** 2
    post = slice_sample(logp, dim=2, constraints=["positive", None], chains=2, warmup=150,
                        draws=400, rng=1)
    m = post.draws.mean(axis=(0, 1))
    se = dc.sampling.mcse_mean(post.draws)
    assert np.all(np.abs(m - [g.mean(), 1.0]) < 4 * se)
    assert_allclose(post.draws.std(axis=(0, 1)), [g.std(), 0.5], rtol=0.1)
    assert np.all(post.rhat() < 1.01)
    # reproducible
    again = slice_sample(logp, dim=2, constraints=["positive", None], chains=2, warmup=150,
                         draws=400, rng=1)
    np.testing.assert_array_equal(post.draws, again.draws)


def test_slice_bad_input():
    with pytest.raises(TypeError, match="logp"):
        slice_sample(3.0, [0.0])
    with pytest.raises(ValueError, match="dim"):
        slice_sample(lambda x: 0.0)
    with pytest.raises(ValueError, match="init"):
        slice_sample(lambda x: -np.inf, [0.0])
    with pytest.raises(ValueError, match="draws"):
        slice_sample(lambda x: 0.0, [0.0], draws=0)
