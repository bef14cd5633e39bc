"""Is the reported Monte Carlo standard error honest? Over independent runs on a target with a
known mean, (mean - truth) / MCSE should be ~N(0, 1)."""
import numpy as np
import pytest

import deconv as dc


def _zscores(n_runs, draws, seed):
    sd = np.array([1.0, 0.1, 5.0])
    prec = 1 / sd ** 2

    def f(x):
        return -0.5 * np.sum(prec * x * x), -prec * x
    z = []
    for r in range(n_runs):
        post = dc.sampling.nuts(f, dim=3, chains=2, warmup=200, draws=draws, rng=seed + r,
                                warn=False)
        z.append(post.draws.mean(axis=(0, 1)) / dc.sampling.mcse_mean(post.draws))
    return np.array(z).ravel()


def test_mcse_is_calibrated_small():
    z = _zscores(15, 300, seed=100)
    # 45 z-scores: mean of z^2 is 1 +- 0.21 (sd of a chi2_45 / 45); accept 0.5..1.8
    assert 0.5 < np.mean(z ** 2) < 1.8
    assert np.mean(np.abs(z) < 3) > 0.95


@pytest.mark.slow
def test_mcse_is_calibrated_large():
    z = _zscores(200, 1000, seed=1000)
    # 600 z-scores: mean z^2 = 1 +- 0.06; allow 0.8..1.25 (ESS estimates are themselves noisy)
    assert 0.8 < np.mean(z ** 2) < 1.25
    assert abs(np.mean(np.abs(z) < 1.96) - 0.95) < 0.03
