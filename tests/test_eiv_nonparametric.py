"""Tests of deconv.eiv.nonparametric (deconvolution kernel regression).

Independent references used here:
* ordinary Nadaraya-Watson / local-linear sums computed directly in NumPy in the x domain
  with the same kernel (K from numerical Fourier inversion by Gauss-Legendre quadrature);
* for Laplace errors the deconvolution operator is known in closed form,
  1/phi_U(t) = 1 + b^2 t^2, so a kernel sum g(W - x) is deconvolved by g - b^2 g''
  (Fan 1991; Stefanski & Carroll 1990): a direct x-domain computation that shares nothing
  with the Fourier-series path of the module;
* simulations with a known regression function.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from deconv.eiv.nonparametric import DeconvolutionRegressionResults, deconvolution_regression
from deconv.noise import Laplace, Normal

_T, _WT = np.polynomial.legendre.leggauss(400)
_T = 0.5 * (_T + 1.0)          # nodes on [0, 1]
_WT = 0.5 * _WT


def _kernel_derivs(u):
    """K, K', K'' of the triweight-Fourier kernel at u, by Gauss-Legendre quadrature of
    (1/pi) int_0^1 phi(t) cos(tu) dt and its u-derivatives."""
    phi = (1.0 - _T ** 2) ** 3 * _WT
    tu = np.multiply.outer(u, _T)
    K = np.cos(tu) @ phi / np.pi
    K1 = -(np.sin(tu) @ (_T * phi)) / np.pi
    K2 = -(np.cos(tu) @ (_T ** 2 * phi)) / np.pi
    return K, K1, K2


def _direct_sums(w, y, x, h, b2=0.0):
    """S_k = sum_j g_k(W_j - x), T_k = sum_j Y_j g_k(W_j - x), g_k(u) = u^k K_h(u), with the
    Laplace deconvolution operator g -> g - b2 g'' applied (b2 = 0: ordinary sums)."""
    u = np.subtract.outer(w, x)                 # (n, G)
    K, K1, K2 = _kernel_derivs((u / h).ravel())
    Kh, Kh1, Kh2 = (K / h).reshape(u.shape), (K1 / h ** 2).reshape(u.shape), \
        (K2 / h ** 3).reshape(u.shape)
    g = [Kh, u * Kh, u ** 2 * Kh]
    g2 = [Kh2, 2 * Kh1 + u * Kh2, 2 * Kh + 4 * u * Kh1 + u ** 2 * Kh2]
    L = [gk - b2 * gk2 for gk, gk2 in zip(g, g2)]
    S = [Lk.sum(axis=0) for Lk in L]
    T = [(y[:, None] * Lk).sum(axis=0) for Lk in L[:2]]
    return S, T


def _nw(S, T):
    return T[0] / S[0]


def _ll(S, T):
    return (S[2] * T[0] - S[1] * T[1]) / (S[0] * S[2] - S[1] ** 2)


def _data(n, sd_u, rng, law=Laplace, m=lambda x: np.sin(2 * x)):
    x = rng.normal(size=n)
    y = m(x) + 0.3 * rng.normal(size=n)
    noise = law(sd=sd_u)
    return x + noise.rvs(n, rng=rng), y, noise


# --- exactness against direct computations -----------------------------------------------------
@pytest.mark.parametrize("estimator,ref", [("nw", _nw), ("local-linear", _ll)])
@pytest.mark.parametrize("evaluation", ["direct", "binned"])
def test_noise_free_limit_is_ordinary_kernel_regression(estimator, ref, evaluation):
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    y = np.sin(2 * x) + 0.2 * rng.normal(size=300)
    xs = np.linspace(-2, 2, 41)
    h = 0.3
    expected = ref(*_direct_sums(x, y, xs, h))
    res = deconvolution_regression(x, y, Normal(sd=1e-7), estimator=estimator, bandwidth=h,
                                   evaluation=evaluation)
    # tolerance: the Fourier sums are the periodised kernel sums; u^2 K(u) decays like u^-2,
    # leaving ~1e-6 relative in S_2 (local-linear); binning adds ~1e-7
    assert_allclose(res.predict(xs), expected, atol=2e-5)
    # the naive estimator is the same thing without any deconvolution
    assert_allclose(res.predict_naive(xs), expected, atol=2e-5)


@pytest.mark.parametrize("estimator,ref", [("nw", _nw), ("local-linear", _ll)])
def test_laplace_deconvolution_matches_closed_form_operator(estimator, ref):
    rng = np.random.default_rng(1)
    sd_u = 0.4
    w, y, noise = _data(400, sd_u, rng)
    xs = np.linspace(-1.5, 1.5, 31)
    h = 0.35
    b2 = sd_u ** 2 / 2.0              # Laplace scale b = sd / sqrt(2)
    expected = ref(*_direct_sums(w, y, xs, h, b2))
    res = deconvolution_regression(w, y, noise, estimator=estimator, bandwidth=h,
                                   evaluation="direct")
    assert_allclose(res.predict(xs), expected, atol=5e-5)
    # and the naive estimator is the undeconvolved version
    assert_allclose(res.predict_naive(xs), ref(*_direct_sums(w, y, xs, h)), atol=5e-5)


@pytest.mark.parametrize("estimator", ["nw", "local-linear"])
def test_binned_agrees_with_direct(estimator):
    rng = np.random.default_rng(2)
    w, y, noise = _data(20000, 0.5, rng)
    xs = np.linspace(-1.5, 1.5, 25)
    fits = [deconvolution_regression(w, y, noise, estimator=estimator, bandwidth=0.2,
                                     evaluation=ev) for ev in ("direct", "binned")]
    # linear binning with the sinc^2 correction: ~1e-5 of sd(y) at 64 bins per bandwidth
    assert_allclose(fits[1].predict(xs), fits[0].predict(xs), atol=1e-4)
    assert fits[1].evaluation == "binned"


@pytest.mark.parametrize("estimator", ["nw", "local-linear"])
def test_equivariance_in_y_and_w(estimator):
    rng = np.random.default_rng(3)
    w, y, noise = _data(500, 0.4, rng)
    xs = np.linspace(-1, 1, 11)
    kw = dict(estimator=estimator, bandwidth=0.3)
    base = deconvolution_regression(w, y, noise, **kw)
    shifted_y = deconvolution_regression(w, y + 7.0, noise, **kw)
    shifted_w = deconvolution_regression(w + 3.0, y, noise, **kw)
    assert_allclose(shifted_y.predict(xs), base.predict(xs) + 7.0, atol=1e-8)
    assert_allclose(shifted_w.predict(xs + 3.0), base.predict(xs), atol=1e-8)


# --- statistical behaviour ----------------------------------------------------------------------
def _ise(res, xs, m):
    return float(np.mean((res.predict(xs) - m(xs)) ** 2) * (xs[-1] - xs[0]))


def _best_naive_ise(res, w, y, noise, xs, m, estimator):
    """The naive estimator at its ISE-optimal (oracle) bandwidth: the fairest comparison."""
    return min(_ise_naive(deconvolution_regression(w, y, noise, estimator=estimator,
                                                   bandwidth=h), xs, m)
               for h in np.geomspace(0.05, 1.0, 12))


def _ise_naive(res, xs, m):
    return float(np.mean((res.predict_naive(xs) - m(xs)) ** 2) * (xs[-1] - xs[0]))


@pytest.mark.parametrize("law,estimator,m,factor", [
    # ordinary-smooth (Laplace) errors: polynomial rates, a large gain already at n = 4000
    (Laplace, "nw", lambda x: np.sin(2 * x), 0.5),
    (Laplace, "local-linear", lambda x: np.sin(2 * x), 0.75),
    # supersmooth (normal) errors: logarithmic rates, but x^2 is strongly attenuated
    (Normal, "nw", lambda x: x ** 2, 0.5),
])
def test_simulation_beats_naive_and_improves_with_n(law, estimator, m, factor):
    # X ~ N(0, 1), error sd 0.5: noise-to-signal variance ratio 0.25
    rng = np.random.default_rng(4)
    xs = np.linspace(-1.5, 1.5, 61)
    mean_ise = {}
    for n in (500, 4000):
        ise, ise_naive = [], []
        for rep in range(2):
            w, y, noise = _data(n, 0.5, rng, law=law, m=m)
            res = deconvolution_regression(w, y, noise, estimator=estimator, n_simex=5,
                                           rng=rep)
            ise.append(_ise(res, xs, m))
            ise_naive.append(_best_naive_ise(res, w, y, noise, xs, m, estimator))
        mean_ise[n] = np.mean(ise)
        if n == 4000:
            # the naive estimator converges to E[Y | W] != m; the deconvolution one to m
            assert mean_ise[n] < factor * np.mean(ise_naive)
    assert mean_ise[4000] < mean_ise[500]


def test_simex_bandwidth_is_reproducible_and_sensible():
    rng = np.random.default_rng(5)
    w, y, noise = _data(1000, 0.5, rng)
    a = deconvolution_regression(w, y, noise, estimator="nw", n_simex=4, rng=11)
    b = deconvolution_regression(w, y, noise, estimator="nw", n_simex=4, rng=11)
    assert a.bandwidth == b.bandwidth
    d = a.bandwidth_details
    assert a.bandwidth == pytest.approx(d["h1"] ** 2 / d["h2"])
    # more error (level 2) needs more smoothing; the extrapolated h is below both
    assert d["h2"] >= d["h1"] >= a.bandwidth
    assert 0.02 < a.bandwidth < 1.0


# --- result object ----------------------------------------------------------------------------
def test_summary_plot_and_band():
    import matplotlib
    matplotlib.use("Agg")
    rng = np.random.default_rng(6)
    w, y, noise = _data(800, 0.4, rng)
    res = deconvolution_regression(w, y, noise, estimator="local-linear", bandwidth=0.3)
    assert isinstance(res, DeconvolutionRegressionResults)
    text = str(res.summary())
    assert "Bandwidth" in text and "local-linear" in text
    xs = np.linspace(-1, 1, 21)
    x, lo, hi = res.confidence_band(xs, n_boot=50, rng=0)
    m = res.predict(xs)
    assert np.all(lo <= hi)
    assert np.mean((lo <= m) & (m <= hi)) > 0.9
    ax = res.plot()
    assert len(ax.get_lines()) == 3
    assert res.predict(0.0).shape == ()


@pytest.mark.parametrize("estimator", ["nw", "local-linear"])
def test_bootstrap_band_width_matches_monte_carlo_spread(estimator):
    # the pointwise band is for E m_hat: its half-width / 1.96 should estimate the sd of
    # m_hat over independent data sets (here from 200 simulated data sets; the Monte
    # Carlo sd has ~5% relative error, the bootstrap on one data set ~10%)
    rng = np.random.default_rng(9)
    xs = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    reps = np.array([deconvolution_regression(*_data(1000, 0.4, rng), estimator=estimator,
                                              bandwidth=0.2).predict(xs) for _ in range(200)])
    sd_mc = reps.std(axis=0, ddof=1)
    res = deconvolution_regression(*_data(1000, 0.4, rng), estimator=estimator, bandwidth=0.2)
    _, lo, hi = res.confidence_band(xs, level=0.95, n_boot=400, rng=1)
    ratio = (hi - lo) / (2 * 1.959964) / sd_mc
    assert np.all((ratio > 0.7) & (ratio < 1.4))
    assert 0.85 < np.mean(ratio) < 1.2


# --- bad input --------------------------------------------------------------------------------
def test_bad_input():
    rng = np.random.default_rng(7)
    w, y, noise = _data(100, 0.3, rng)
    bad = w.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="w"):
        deconvolution_regression(bad, y, noise, bandwidth=0.3)
    bad_y = y.copy()
    bad_y[0] = np.inf
    with pytest.raises(ValueError, match="y"):
        deconvolution_regression(w, bad_y, noise, bandwidth=0.3)
    with pytest.raises(ValueError, match="mismatched"):
        deconvolution_regression(w, y[:-1], noise, bandwidth=0.3)
    with pytest.raises(ValueError, match="sd"):
        Laplace(sd=0.0)
    with pytest.raises(ValueError, match="sd"):
        Laplace(sd=-1.0)
    with pytest.raises(TypeError, match="noise"):
        deconvolution_regression(w, y, 0.3, bandwidth=0.3)
    with pytest.raises(ValueError, match="error variance"):
        deconvolution_regression(w, y, Laplace(sd=5.0), bandwidth=0.3)
    with pytest.raises(ValueError, match="bandwidth"):
        deconvolution_regression(w, y, noise, bandwidth=0.0)
    with pytest.raises(ValueError, match="bandwidth"):
        deconvolution_regression(w, y, noise, bandwidth="pi")
    with pytest.raises(ValueError, match="estimator"):
        deconvolution_regression(w, y, noise, estimator="loess", bandwidth=0.3)
    with pytest.raises(ValueError, match="kernel"):
        deconvolution_regression(w, y, noise, estimator="local-linear", kernel="sinc",
                                 bandwidth=0.3)
    # Nadaraya-Watson only needs phi_K itself: any kernel of deconv.density works
    assert np.isfinite(deconvolution_regression(w, y, noise, kernel="sinc",
                                                bandwidth=0.3).predict(0.0))
    with pytest.raises(ValueError, match="homoscedastic"):
        deconvolution_regression(w, y, Laplace(sd=np.full(100, 0.3)), bandwidth=0.3)
    res = deconvolution_regression(w, y, noise, bandwidth=0.3)
    with pytest.raises(ValueError, match="x must lie"):
        res.predict(w.max() + 10 * np.ptp(w))
    w0 = w.copy()
    deconvolution_regression(w, y, noise, estimator="nw", n_simex=1, rng=0)
    assert_allclose(w, w0)   # input not mutated


@pytest.mark.slow
@pytest.mark.parametrize("law", [Laplace, Normal])
@pytest.mark.parametrize("estimator", ["nw", "local-linear"])
def test_simulation_ise_decreases_large(law, estimator):
    rng = np.random.default_rng(8)
    m = np.sin
    xs = np.linspace(-1.5, 1.5, 61)
    means = []
    for n in (500, 2000, 8000):
        means.append(np.mean([_ise(deconvolution_regression(*_data(n, 0.5, rng, law, m),
                                                            estimator=estimator, rng=r), xs, m)
                              for r in range(10)]))
    # normal errors converge at logarithmic rates: between neighbouring n the decrease can
    # be within Monte Carlo error, so only the 16-fold increase is required to help
    assert means[2] < means[0]
    if law is Laplace:
        assert means[0] > means[1] > means[2]


def test_docstring_example():
    import doctest

    import deconv.eiv.nonparametric as mod

    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0
