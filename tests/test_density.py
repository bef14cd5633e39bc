"""Tests of deconv.density: the deconvolution kernel density estimator.

Independent references used here:
* a straightforward NumPy implementation of the estimator by quadrature in t (no
  periodisation, no binning, no Cython), written below;
* the ordinary kernel density estimate with the kernel's x-domain form obtained by numerical
  Fourier inversion (noise -> 0 limit);
* closed-form properties (scale/location equivariance, integrals, moments).
"""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate
from scipy.interpolate import CubicSpline

from deconv.density import DeconvolutionKDE, exact_mise
from deconv.density.kernels import KERNELS
from deconv.exceptions import NegativeDensityWarning
from deconv.noise import Empirical, Gamma, Laplace, Normal, StudentT, Uniform


def _bimodal(n, rng):
    return np.where(rng.random(n) < 0.5, rng.normal(-1.0, 0.4, n), rng.normal(1.2, 0.5, n))


def numpy_dkde(x, w, h, noise, kernel="triweight", n_t=4001):
    """Reference: f(x) = (1/pi) int_0^{1/h} Re[exp(-itx) phi_K(th) psi(t)/phi_U(t)] dt (Simpson).

    Heteroscedastic laws use the Delaigle-Meister ratio sum_j e^{itW_j} conj(phi_j) / sum |phi_j|^2.
    """
    t = np.linspace(0.0, 1.0 / h, n_t)
    e = np.exp(1j * np.outer(t, w))                       # (n_t, n)
    if noise.heteroscedastic:
        phi = noise.cf(t).T                               # (n_t, n)
        ratio = (e * np.conj(phi)).sum(1) / (np.abs(phi) ** 2).sum(1)
    else:
        ratio = e.mean(1) / noise.cf(t)
    g = KERNELS[kernel].phi(t * h) * ratio
    integrand = (np.exp(-1j * np.outer(x, t)) * g).real
    return integrate.simpson(integrand, x=t, axis=1) / np.pi


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(20261123)
    x = _bimodal(3000, rng)
    return x


# --- accuracy of the fast paths ------------------------------------------------------------
@pytest.mark.parametrize("law", [Normal(sd=0.3), Laplace(sd=0.3)])
@pytest.mark.parametrize("bw", [0.15, "pi"])
def test_binned_matches_direct(data, law, bw):
    rng = np.random.default_rng(1)
    w = data + law.rvs(data.size, rng=rng)
    a = DeconvolutionKDE(noise=law, bandwidth=bw, method="binned").fit(w)
    b = DeconvolutionKDE(noise=law, bandwidth=bw, method="direct").fit(w)
    x = np.linspace(-4, 4, 801)
    fb = b.pdf_raw(x)
    # issue 2: fast (binned FFT) and direct evaluation agree to 1e-6 of max f
    assert np.max(np.abs(a.pdf_raw(x) - fb)) <= 1e-6 * fb.max()
    assert_allclose(a.bandwidth_, b.bandwidth_, rtol=1e-4)


@pytest.mark.parametrize("law", [Normal(sd=0.3), Laplace(sd=0.3), Uniform(sd=0.3),
                                 StudentT(5, sd=0.3), Gamma(4.0, sd=0.3)])
def test_direct_matches_numpy_quadrature(law):
    rng = np.random.default_rng(2)
    x = _bimodal(300, rng)
    w = x + law.rvs(300, rng=rng)
    h = 0.25
    est = DeconvolutionKDE(noise=law, bandwidth=h, method="direct").fit(w)
    grid = np.linspace(-3, 3, 61)
    ref = numpy_dkde(grid, w, h, law)
    # periodisation (aliasing of the kernel tails) and quadrature error: << 1e-6 of max f
    assert_allclose(est.pdf_raw(grid), ref, atol=1e-6 * ref.max())


@pytest.mark.parametrize("kernel", ["biweight", "tricube", "sinc", "flattop"])
def test_other_kernels_match_reference_and_select(kernel):
    rng = np.random.default_rng(18)
    law = Laplace(sd=0.3)
    w = _bimodal(400, rng) + law.rvs(400, rng=rng)
    est = DeconvolutionKDE(noise=law, bandwidth=0.25, kernel=kernel, method="direct").fit(w)
    grid = np.linspace(-3, 3, 41)
    ref = numpy_dkde(grid, w, 0.25, law, kernel=kernel)
    # sinc: K(x) ~ sin(x)/x has 1/x tails, so the periodised estimate aliases ~1e-4 of max f
    # (and the Simpson reference of a cf with a jump is itself only ~1e-5 accurate)
    tol = 2e-4 if kernel == "sinc" else 1e-6
    assert_allclose(est.pdf_raw(grid), ref, atol=tol * ref.max())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = DeconvolutionKDE(noise=law, kernel=kernel).fit(w)
    if KERNELS[kernel].mu2 == 0:
        assert "bootstrap" in sel.selector_details_["note"]
    assert 0.05 < sel.bandwidth_ < 1.0


def test_integrates_to_one_before_clipping(data):
    rng = np.random.default_rng(3)
    for law in (Normal(sd=0.3), Laplace(sd=0.3)):
        w = data + law.rvs(data.size, rng=rng)
        est = DeconvolutionKDE(noise=law).fit(w)
        lo, hi = est.support
        mass = est.cdf_raw(hi) - est.cdf_raw(lo)
        assert abs(mass - 1.0) < 1e-3
        # the raw CDF is the exact integral of the raw pdf
        xs = np.linspace(lo, hi, 20001)
        assert_allclose(integrate.simpson(est.pdf_raw(xs), x=xs), mass, atol=1e-8)


def test_heteroscedastic_equal_sds_reproduces_homoscedastic(data):
    rng = np.random.default_rng(4)
    for law in (Normal(sd=0.3), Laplace(sd=0.3), StudentT(6, sd=0.3)):
        w = data[:600] + law.rvs(600, rng=rng)
        homo = DeconvolutionKDE(noise=law, method="direct").fit(w)
        equal = law.with_sd(np.full(w.size, law.sd))
        x = np.linspace(-4, 4, 301)
        # per-observation compiled Delaigle-Meister sums, and the grouped path ("auto")
        for method in ("direct", "auto"):
            het = DeconvolutionKDE(noise=equal, method=method).fit(w)
            assert_allclose(het.bandwidth_, homo.bandwidth_, rtol=1e-10)
            assert_allclose(het.pdf_raw(x), homo.pdf_raw(x), rtol=0, atol=1e-10)


def test_few_distinct_sds_grouped_path_matches_per_observation():
    rng = np.random.default_rng(20)
    n = 6000
    sd = rng.choice([0.2, 0.35, 0.5], size=n)
    for fam in (Normal, Laplace):
        law = fam(sd=sd)
        w = _bimodal(n, rng) + law.rvs(rng=rng)
        ref = DeconvolutionKDE(noise=law, bandwidth=0.2, method="direct").fit(w)
        grouped = DeconvolutionKDE(noise=law, bandwidth=0.2).fit(w)   # auto: grouped + binned
        assert grouped.method_ == "binned"
        x = np.linspace(-3, 3, 121)
        fr = ref.pdf_raw(x)
        assert np.max(np.abs(grouped.pdf_raw(x) - fr)) <= 1e-6 * fr.max()
        sel_ref = DeconvolutionKDE(noise=fam(sd=sd[:1500]), method="direct").fit(w[:1500])
        sel_grp = DeconvolutionKDE(noise=fam(sd=sd[:1500])).fit(w[:1500])
        assert_allclose(sel_grp.bandwidth_, sel_ref.bandwidth_, rtol=1e-6)


def test_heteroscedastic_matches_numpy_reference():
    rng = np.random.default_rng(5)
    x = rng.normal(size=400)
    sd = rng.uniform(0.2, 0.6, 400)
    for fam in (Normal, Laplace):
        law = fam(sd=sd)
        w = x + law.rvs(rng=rng)
        est = DeconvolutionKDE(noise=law, bandwidth=0.3).fit(w)
        grid = np.linspace(-3, 3, 41)
        ref = numpy_dkde(grid, w, 0.3, law)
        assert_allclose(est.pdf_raw(grid), ref, atol=1e-6 * ref.max())


# --- equivariance ----------------------------------------------------------------------------
@pytest.mark.parametrize("bw", ["pi", "nr", "cv", "boot"])
@pytest.mark.parametrize("scale, shift", [(0.01, 3.0), (100.0, -50.0)])
def test_scale_location_equivariance(data, bw, scale, shift):
    rng = np.random.default_rng(6)
    law = Laplace(sd=0.3)
    w = data[:800] + law.rvs(800, rng=rng)
    a = DeconvolutionKDE(noise=law, bandwidth=bw, method="direct").fit(w)
    b = DeconvolutionKDE(noise=Laplace(sd=0.3 * scale), bandwidth=bw,
                         method="direct").fit(w * scale + shift)
    # a selected bandwidth minimises a criterion that is flat at its minimum, so rounding
    # of order 1e-16 in the criterion moves it by ~sqrt(1e-16) relative: allow 1e-6
    assert_allclose(b.bandwidth_, scale * a.bandwidth_, rtol=1e-6)
    x = np.linspace(-3, 3, 121)
    fa = a.pdf_raw(x)
    assert_allclose(b.pdf_raw(x * scale + shift) * scale, fa, atol=1e-6 * fa.max())
    assert_allclose(b.ppf([0.1, 0.5, 0.9]), a.ppf([0.1, 0.5, 0.9]) * scale + shift,
                    rtol=1e-6, atol=1e-6 * scale)
    # with the bandwidth fixed, the estimate itself is equivariant to rounding level
    c = DeconvolutionKDE(noise=law, bandwidth=0.2, method="direct").fit(w)
    d = DeconvolutionKDE(noise=Laplace(sd=0.3 * scale), bandwidth=0.2 * scale,
                         method="direct").fit(w * scale + shift)
    fc = c.pdf_raw(x)
    assert_allclose(d.pdf_raw(x * scale + shift) * scale, fc, atol=1e-9 * fc.max())


def test_binned_path_equivariant(data):
    rng = np.random.default_rng(7)
    law = Normal(sd=0.3)
    w = data + law.rvs(data.size, rng=rng)
    a = DeconvolutionKDE(noise=law, method="binned").fit(w)
    b = DeconvolutionKDE(noise=Normal(sd=30.0), method="binned").fit(w * 100 - 7)
    assert_allclose(b.bandwidth_, 100 * a.bandwidth_, rtol=1e-6)


# --- limit of no noise: the ordinary KDE -----------------------------------------------------
@pytest.mark.parametrize("kernel", ["triweight", "sinc"])
def test_noise_to_zero_gives_ordinary_kde(kernel):
    rng = np.random.default_rng(8)
    w = rng.normal(size=300)
    h = 0.3
    est = DeconvolutionKDE(noise=Normal(sd=1e-7), bandwidth=h, kernel=kernel,
                           method="direct").fit(w)
    x = np.linspace(-2.5, 2.5, 51)
    # x-domain kernel K(u) = (1/pi) int_0^1 phi_K(t) cos(tu) dt, by adaptive quadrature
    phik = KERNELS[kernel]._phi

    def K(u):
        return integrate.quad(lambda t: phik(np.array([t]))[0] / np.pi, 0, 1,
                              weight="cos", wvar=u)[0]

    u = (x[:, None] - w[None, :]) / h
    # tabulate K on a grid and interpolate with a cubic spline (K is smooth)
    ug = np.linspace(u.min() - 1, u.max() + 1, 4001)
    spline = CubicSpline(ug, [K(v) for v in ug])
    kde = spline(u).mean(axis=1) / h
    spot = np.array([K(v) for v in u[25, :20]])
    assert_allclose(spline(u[25, :20]), spot, atol=1e-8)
    tol = 1e-4 if kernel == "triweight" else 2e-3   # sinc: slow 1/x tails alias more
    assert_allclose(est.pdf_raw(x), kde, atol=tol * kde.max())


# --- the distribution object -----------------------------------------------------------------
def test_distribution_is_consistent(data):
    rng = np.random.default_rng(9)
    law = Laplace(sd=0.3)
    w = data + law.rvs(data.size, rng=rng)
    est = DeconvolutionKDE(noise=law).fit(w)
    q = np.linspace(0.001, 0.999, 99)
    assert_allclose(est.cdf(est.ppf(q)), q, atol=1e-10)
    lo, hi = est.support
    xs = np.linspace(lo, hi, 200001)
    f = est.pdf(xs)
    assert np.all(f >= 0)
    assert_allclose(integrate.trapezoid(f, xs), 1.0, atol=1e-6)
    assert_allclose(est.mean(), integrate.trapezoid(xs * f, xs), atol=1e-6)
    m2 = integrate.trapezoid(xs ** 2 * f, xs)
    assert_allclose(est.var(), m2 - est.mean() ** 2, rtol=1e-5)
    assert_allclose(est.cdf(xs[::5000]), integrate.cumulative_trapezoid(f, xs, initial=0)[::5000],
                    atol=1e-6)
    draws = est.rvs(20000, rng=0)
    assert abs(draws.mean() - est.mean()) < 4 * est.std() / np.sqrt(20000)
    lo90, hi90 = est.interval(0.9)
    assert_allclose(est.cdf([lo90, hi90]), [0.05, 0.95], atol=1e-10)
    assert_allclose(est.rvs(5, rng=1), est.rvs(5, rng=1))
    # the mean of X equals the mean of W (E U = 0): estimate close to the sample mean
    assert abs(est.mean() - w.mean()) < 0.02
    # the variance: var W - var U + h^2 mu2 (kernel inflation), up to clipping
    assert abs(est.var() - (w.var() - 0.09 + est.bandwidth_ ** 2 * 6.0)) < 0.05


def test_summary_plot_and_repr(data):
    law = Normal(sd=0.3)
    est = DeconvolutionKDE(noise=law).fit(data + law.rvs(data.size, rng=0))
    text = str(est.summary())
    assert "bandwidth" in text and "quantile 0.5" in text
    import matplotlib.pyplot as plt

    ax = est.plot(raw=True)
    assert ax.get_lines()
    plt.close("all")
    assert "DeconvolvedDensity" in repr(est.density_)
    assert repr(est).startswith("DeconvolutionKDE(noise=Normal(sd=0.3)")
    est2 = DeconvolutionKDE(**est.get_params()).set_params(bandwidth=0.2)
    assert est2.bandwidth == 0.2 and est2.noise is est.noise
    with pytest.raises(ValueError, match="unknown parameter"):
        est2.set_params(h=1.0)


def test_negative_mass_warns():
    rng = np.random.default_rng(10)
    w = rng.normal(size=100) + Laplace(sd=0.5).rvs(100, rng=rng)
    with pytest.warns(NegativeDensityWarning):
        est = DeconvolutionKDE(noise=Laplace(sd=0.5), bandwidth=0.05).fit(w)
    assert est.negative_mass > 0.05
    assert est.pdf_raw(0.0) != est.pdf(0.0)


def test_noise_larger_than_data_warns():
    from deconv.exceptions import DeconvWarning

    w = np.random.default_rng(17).normal(size=200)
    with pytest.warns(DeconvWarning, match="error variance"):
        DeconvolutionKDE(noise=Normal(sd=1.5), bandwidth=1.0).fit(w)


def test_user_grid_and_grid_size(data):
    law = Normal(sd=0.3)
    w = data + law.rvs(data.size, rng=1)
    g = np.linspace(w.min() - 1, w.max() + 1, 300)
    est = DeconvolutionKDE(noise=law, grid=g).fit(w)
    assert_allclose(est.density_.grid, g)
    est2 = DeconvolutionKDE(noise=law, grid=200).fit(w)
    assert est2.density_.grid.size == 200
    assert_allclose(est.bandwidth_, est2.bandwidth_, rtol=1e-6)


# --- exact MISE ------------------------------------------------------------------------------
def test_exact_mise_matches_monte_carlo():
    """Mean ISE over simulated samples at fixed h equals exact_mise (within 3 MC s.e.)."""
    rng = np.random.default_rng(11)
    law, n, h = Laplace(sd=0.5), 200, 0.35
    x = np.linspace(-6, 6, 1201)
    truth = np.exp(-x ** 2 / 2) / np.sqrt(2 * np.pi)
    ises = []
    for _ in range(60):
        w = rng.normal(size=n) + law.rvs(n, rng=rng)
        est = DeconvolutionKDE(noise=law, bandwidth=h, method="direct").fit(w)
        ises.append(integrate.trapezoid((est.pdf_raw(x) - truth) ** 2, x))
    ises = np.array(ises)
    m = exact_mise(h, lambda t: np.exp(-t ** 2 / 2), law, n=n)
    assert abs(ises.mean() - m) < 3 * ises.std(ddof=1) / np.sqrt(ises.size)


def test_exact_mise_heteroscedastic_equal_sds():
    cf = lambda t: np.exp(-t ** 2 / 2)  # noqa: E731
    a = exact_mise([0.2, 0.4], cf, Laplace(sd=0.4), n=50)
    b = exact_mise([0.2, 0.4], cf, Laplace(sd=np.full(50, 0.4)))
    assert_allclose(a, b, rtol=1e-10)


# --- replicates ------------------------------------------------------------------------------
def test_replicates_close_to_known_noise():
    rng = np.random.default_rng(12)
    n = 1500
    x = _bimodal(n, rng)
    law = Laplace(sd=0.5)
    reps = x[:, None] + law.rvs((n, 2), rng=rng)
    est = DeconvolutionKDE(noise="replicates").fit(reps)
    assert est.noise_.mean_of == 2
    assert_allclose(est.noise_.sd, 0.5 / np.sqrt(2), rtol=0.1)
    # same with the law passed explicitly
    emp = Empirical.from_replicates(reps)
    est2 = DeconvolutionKDE(noise=emp).fit(reps)
    assert_allclose(est2.bandwidth_, est.bandwidth_)
    g = np.linspace(-4, 4, 801)
    truth = 0.5 * (np.exp(-(g + 1) ** 2 / 0.32) / (0.4 * np.sqrt(2 * np.pi))
                   + np.exp(-(g - 1.2) ** 2 / 0.5) / (0.5 * np.sqrt(2 * np.pi)))
    ise = integrate.trapezoid((est.pdf(g) - truth) ** 2, g)
    from scipy.stats import gaussian_kde

    naive = integrate.trapezoid((gaussian_kde(reps.mean(1))(g) - truth) ** 2, g)
    assert ise < naive


def test_replicates_with_missing_values():
    rng = np.random.default_rng(15)
    n = 1500
    x = _bimodal(n, rng)
    reps = x[:, None] + Laplace(sd=0.5).rvs((n, 3), rng=rng)
    reps[rng.random((n, 3)) < 0.3] = np.nan
    reps[np.all(np.isnan(reps), axis=1), 0] = 0.0 + x[np.all(np.isnan(reps), axis=1)]
    est = DeconvolutionKDE(noise="replicates").fit(reps)
    assert est.noise_.heteroscedastic
    g = np.linspace(-4, 4, 801)
    truth = 0.5 * (np.exp(-(g + 1) ** 2 / 0.32) / (0.4 * np.sqrt(2 * np.pi))
                   + np.exp(-(g - 1.2) ** 2 / 0.5) / (0.5 * np.sqrt(2 * np.pi)))
    from scipy.stats import gaussian_kde

    means = np.nanmean(reps, axis=1)
    ise = integrate.trapezoid((est.pdf(g) - truth) ** 2, g)
    naive = integrate.trapezoid((gaussian_kde(means)(g) - truth) ** 2, g)
    assert ise < naive
    with pytest.raises(ValueError, match="row"):
        DeconvolutionKDE(noise="replicates").fit(np.array([[1.0, 2.0], [np.nan, np.nan], [0.5, 0.7]]))


def test_replicate_band_includes_error_law_uncertainty():
    """Resampling individuals and re-estimating the error law gives a reproducible band at
    least as wide (on average) as holding the estimated law fixed."""
    rng = np.random.default_rng(19)
    n = 400
    x = _bimodal(n, rng)
    reps = x[:, None] + Laplace(sd=0.5).rvs((n, 2), rng=rng)
    est = DeconvolutionKDE(noise="replicates", bandwidth=0.3).fit(reps)
    grid = np.linspace(-2.5, 2.5, 41)
    a = est.confidence_band(n_boot=60, rng=3, x=grid)
    b = est.confidence_band(n_boot=60, rng=3, x=grid)
    assert_allclose(a.upper, b.upper)
    fixed = DeconvolutionKDE(noise=est.noise_, bandwidth=0.3).fit(reps.mean(axis=1))
    assert_allclose(fixed.pdf_raw(grid), est.pdf_raw(grid), rtol=1e-12, atol=1e-15)
    c = fixed.confidence_band(n_boot=60, rng=3, x=grid)
    assert np.mean(a.upper - a.lower) > 0.9 * np.mean(c.upper - c.lower)


def test_grouped_noise_with_one_law_equals_homoscedastic():
    from deconv.density import _spectrum as sp

    rng = np.random.default_rng(16)
    y = rng.uniform(3, 7, 700)
    law = Laplace(sd=0.4)
    idx = np.arange(700)
    grouped = sp.GroupedNoise([(idx[:300], law), (idx[300:], law)], 700)
    a = sp.spectrum(y, grouped, 0.05, 60, method="direct")
    b = sp.spectrum(y, law, 0.05, 60, method="direct")
    assert_allclose(a.z, b.z, rtol=1e-12, atol=1e-14)
    assert_allclose(a.d, b.d, rtol=1e-12)


# --- bootstrap bands -------------------------------------------------------------------------
def test_bands_cover_expected_estimate():
    """Pointwise 90% bands at x = 0 cover E f_hat(0) in about 90% of samples.

    E f_hat = K_h * f_X, computed here from its Fourier form for X ~ N(0, 1)."""
    rng = np.random.default_rng(13)
    law, n, h = Laplace(sd=0.4), 300, 0.4
    t = np.linspace(0, 1 / h, 4001)
    ef0 = integrate.simpson(KERNELS["triweight"].phi(t * h) * np.exp(-t ** 2 / 2), x=t) / np.pi
    hits = []
    widths = []
    for i in range(30):
        w = rng.normal(size=n) + law.rvs(n, rng=rng)
        est = DeconvolutionKDE(noise=law, bandwidth=h).fit(w)
        band = est.confidence_band(level=0.9, n_boot=100, rng=i, x=np.array([-0.5, 0.0, 0.5]))
        hits.append(band.lower[1] <= ef0 <= band.upper[1])
        sim = est.confidence_band(level=0.9, kind="simultaneous", n_boot=100, rng=i,
                                  x=np.array([-0.5, 0.0, 0.5]))
        widths.append((sim.upper - sim.lower)[1] >= 0.99 * (band.upper - band.lower)[1])
    # binomial(30, 0.9): P(hits < 22) ~ 0.5%
    assert np.mean(hits) >= 22 / 30
    assert np.mean(widths) > 0.8


def test_band_reproducible_and_plots(data):
    law = Normal(sd=0.3)
    w = data[:500] + law.rvs(500, rng=2)
    est = DeconvolutionKDE(noise=law).fit(w)
    a = est.confidence_band(n_boot=30, rng=5)
    b = est.confidence_band(n_boot=30, rng=5)
    assert_allclose(a.lower, b.lower)
    assert np.all(a.lower <= a.upper) and np.all(a.lower >= 0)
    import matplotlib.pyplot as plt

    a.plot()
    plt.close("all")


def test_binned_band_and_heteroscedastic_band():
    rng = np.random.default_rng(14)
    x = rng.normal(size=6000)
    law = Laplace(sd=0.4)
    est = DeconvolutionKDE(noise=law, method="binned").fit(x + law.rvs(6000, rng=rng))
    band = est.confidence_band(n_boot=20, rng=0)
    assert np.all(band.upper >= band.lower) and np.any(band.upper > band.lower)
    het = Normal(sd=rng.uniform(0.2, 0.5, 500))
    est = DeconvolutionKDE(noise=het).fit(x[:500] + het.rvs(rng=rng))
    band = est.confidence_band(n_boot=20, rng=0, kind="simultaneous")
    assert band.critical_value > 1.0


# --- determinism -----------------------------------------------------------------------------
def test_thread_count_invariance(run_python):
    code = ("import numpy as np; from deconv.noise import Normal; "
            "from deconv.density import DeconvolutionKDE; r=np.random.default_rng(0); "
            "w=r.normal(size=200000); s=r.uniform(.2,.5,w.size); "
            "e=DeconvolutionKDE(noise=Normal(sd=s),bandwidth=.3).fit(w+r.normal(size=w.size)*s); "
            "print(repr(float(e.pdf_raw(0.1))))")
    outs = [run_python(code, OMP_NUM_THREADS=threads) for threads in (1, 2)]
    assert outs[0] == outs[1]


# --- bad input -------------------------------------------------------------------------------
def test_bad_input_errors():
    w = np.random.default_rng(0).normal(size=50)
    law = Normal(sd=0.2)
    with pytest.raises(ValueError, match="w"):
        DeconvolutionKDE(noise=law).fit(np.r_[w, np.nan])
    with pytest.raises(ValueError, match="w"):
        DeconvolutionKDE(noise=law).fit(np.r_[w, np.inf])
    with pytest.raises(ValueError, match="w"):
        DeconvolutionKDE(noise=law).fit([])
    with pytest.raises(ValueError, match="w must be 1-D"):
        DeconvolutionKDE(noise=law).fit(np.ones((10, 3)))
    with pytest.raises(ValueError, match="sd"):
        Normal(sd=-1.0)
    with pytest.raises(ValueError, match="mismatched"):
        DeconvolutionKDE(noise=Normal(sd=np.full(10, 0.2))).fit(w)
    with pytest.raises(ValueError, match="grid"):
        DeconvolutionKDE(noise=law, grid=np.linspace(-1, 1, 100)).fit(w)
    with pytest.raises(ValueError, match="bandwidth"):
        DeconvolutionKDE(noise=law, bandwidth=-0.1).fit(w)
    with pytest.raises(ValueError, match="bandwidth"):
        DeconvolutionKDE(noise=law, bandwidth="silverman").fit(w)
    with pytest.raises(ValueError, match="kernel"):
        DeconvolutionKDE(noise=law, kernel="gauss").fit(w)
    with pytest.raises(ValueError, match="method"):
        DeconvolutionKDE(noise=law, method="fast").fit(w)
    with pytest.raises(TypeError, match="noise"):
        DeconvolutionKDE(noise=0.3).fit(w)
    with pytest.raises(ValueError, match="noise"):
        DeconvolutionKDE(noise="normal").fit(w)
    with pytest.raises(ValueError, match="spread"):
        DeconvolutionKDE(noise=law).fit(np.ones(10))
    with pytest.raises(ValueError, match="grid"):
        DeconvolutionKDE(noise=law, grid=3).fit(w)
    with pytest.raises(ValueError, match="binned"):
        DeconvolutionKDE(noise=Normal(sd=np.linspace(0.1, 0.3, 50)), method="binned").fit(w)
    with pytest.raises(AttributeError, match="not fitted"):
        DeconvolutionKDE(noise=law).pdf(0.0)
    est = DeconvolutionKDE(noise=law, bandwidth=0.3).fit(w)
    with pytest.raises(ValueError, match="q"):
        est.ppf(1.5)
    with pytest.raises(ValueError, match="kind"):
        est.confidence_band(kind="both")
    with pytest.raises(ValueError, match="level"):
        est.confidence_band(level=1.2)
    with pytest.raises(ValueError, match="n"):
        exact_mise(0.3, lambda t: np.exp(-t ** 2 / 2), law)
    with pytest.raises(ValueError, match="h"):
        exact_mise(-0.3, lambda t: np.exp(-t ** 2 / 2), law, n=10)
    # inputs are not mutated
    w0 = w.copy()
    DeconvolutionKDE(noise=law).fit(w)
    assert_allclose(w, w0)
