"""Heteroscedastic replicate data: DeconvolutionKDE(noise=Replicates(heteroscedastic=True))."""
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, special

from deconv.density import DeconvolutionKDE, Replicates, moderated_variances
from deconv.noise import Normal

GRID = np.linspace(-5, 5, 1001)


def _truth(g):
    # equal mixture of N(-1, 0.4^2) and N(1.2, 0.5^2)
    return 0.5 * (np.exp(-(g + 1) ** 2 / 0.32) / (0.4 * np.sqrt(2 * np.pi))
                  + np.exp(-(g - 1.2) ** 2 / 0.5) / (0.5 * np.sqrt(2 * np.pi)))


def _bimodal(n, rng):
    z = rng.random(n) < 0.5
    return np.where(z, rng.normal(-1, 0.4, n), rng.normal(1.2, 0.5, n))


def _ise(f):
    return integrate.trapezoid((f - _truth(GRID)) ** 2, GRID)


def _hetero_sample(n, seed, sigmas=(0.2, 1.0), m_range=(3, 5)):
    """Replicates W_jk = X_j + sigma_j Z_jk, sigma_j two-point, m_j uniform on m_range."""
    rng = np.random.default_rng(seed)
    x = _bimodal(n, rng)
    sig = rng.choice(sigmas, size=n)
    m = rng.integers(m_range[0], m_range[1] + 1, size=n)
    reps = x[:, None] + sig[:, None] * rng.normal(size=(n, m_range[1]))
    reps[np.arange(m_range[1])[None, :] >= m[:, None]] = np.nan
    return reps, sig, m


# --- moderated variances ---------------------------------------------------------------------
def test_moderated_variances_recover_prior():
    """Smyth (2004) moment estimates: with sigma_j^2 ~ s0^2 d0 / chi2_d0 (scaled inverse
    chi-square prior, d0 = 8, s0^2 = 2) and s_j^2 ~ sigma_j^2 chi2_d / d, the estimates
    recover d0 and s0^2 (to sampling error at k = 20000)."""
    rng = np.random.default_rng(1)
    k, d0, s0_2 = 20000, 8.0, 2.0
    sigma2 = s0_2 * d0 / rng.chisquare(d0, k)
    df = rng.integers(2, 5, k)
    s2 = sigma2 * rng.chisquare(df) / df
    v, d0_hat, s0_hat = moderated_variances(s2, df, "auto")
    assert_allclose(d0_hat, d0, rtol=0.15)
    assert_allclose(s0_hat, s0_2, rtol=0.03)
    # posterior mean formula, and shrinking lowers the error of the variance estimates
    assert_allclose(v, (d0_hat * s0_hat + df * s2) / (d0_hat + df), rtol=1e-12)
    assert np.mean((v - sigma2) ** 2) < 0.6 * np.mean((s2 - sigma2) ** 2)


def test_moderated_variances_equal_sigma_gives_infinite_prior_df():
    """No spread beyond chi-square sampling -> d0 = inf (or very large) -> common variance."""
    rng = np.random.default_rng(2)
    df = np.full(5000, 3)
    s2 = 0.7 * rng.chisquare(df) / df
    v, d0, s0_2 = moderated_variances(s2, df, "auto")
    assert d0 > 200
    # nearly complete pooling: the moderated variances vary 50x less than the raw ones
    assert np.std(v) < 0.02 * np.std(s2)
    assert_allclose(s0_2, 0.7, rtol=0.03)
    # fixed prior df: pooled variance as the prior location; d0 = 0 is the raw variance
    v0, _, pooled = moderated_variances(s2, df, 0.0)
    assert_allclose(v0, s2)
    assert_allclose(pooled, np.mean(s2))
    vinf, _, _ = moderated_variances(s2, df, np.inf)
    assert_allclose(vinf, np.mean(s2))


def test_inverse_trigamma():
    from deconv.density.replicates import _inverse_trigamma

    for x in (0.01, 0.7, 3.0, 250.0):
        assert_allclose(_inverse_trigamma(special.polygamma(1, x)), x, rtol=1e-9)


# --- the estimator ---------------------------------------------------------------------------
def test_equal_sigmas_many_replicates_approach_homoscedastic():
    """All sigma_j equal: as m grows, the heteroscedastic-replicate estimate (raw s_j^2,
    prior_df=0, so no pooling helps it) approaches the homoscedastic-replicate estimate at
    the same bandwidth; the gap shrinks with m and is small at m = 40."""
    gaps = []
    for m in (4, 40):
        rng = np.random.default_rng(3)
        n = 1000
        x = _bimodal(n, rng)
        reps = x[:, None] + 0.5 * rng.normal(size=(n, m))
        hom = DeconvolutionKDE(noise="replicates", bandwidth=0.25).fit(reps)
        het = DeconvolutionKDE(noise=Replicates(heteroscedastic=True, prior_df=0),
                               bandwidth=0.25).fit(reps)
        assert het.noise_.heteroscedastic and het.noise_.n_obs == n
        gaps.append(np.max(np.abs(het.pdf_raw(GRID) - hom.pdf_raw(GRID)))
                    / np.max(hom.pdf_raw(GRID)))
    assert gaps[1] < 0.5 * gaps[0]
    assert gaps[1] < 0.01
    # automatic moderation with equal sigmas: (nearly) complete pooling of the variances
    auto = DeconvolutionKDE(noise=Replicates(heteroscedastic=True), bandwidth=0.25).fit(reps)
    assert auto.replicate_info_["prior_df"] > 50


def _reference_spectrum(reps, t, prior_df="auto"):
    """Independent NumPy version of the leave-one-contrast-out weighted ratio (row by row
    Helmert contrasts, explicit sums over frequencies)."""
    n, ncol = reps.shape
    means = np.nanmean(reps, axis=1)
    contrasts, m = [], []
    for row in reps:
        x = row[~np.isnan(row)]
        contrasts.append(np.array([(x[:k].sum() - k * x[k]) / np.sqrt(k * (k + 1))
                                   for k in range(1, x.size)]))
        m.append(x.size)
    m = np.array(m)
    df = m - 1
    s2 = np.array([np.sum(c ** 2) / max(c.size, 1) for c in contrasts])
    _, d0, s0 = moderated_variances(s2, df, prior_df)
    num = np.zeros(t.size, complex)
    den = np.zeros(t.size)
    plug = np.zeros(t.size)
    for j in range(n):
        c = contrasts[j]
        if c.size == 0:
            om = np.exp(-0.5 * s0 / m[j] * t ** 2)
            num += om * np.exp(1j * t * means[j])
            den += om * om
            plug += om * om
            continue
        for k in range(c.size):
            rest = np.delete(c, k)
            if rest.size == 0:
                v = s0
            elif np.isinf(d0):
                v = s0
            else:
                v = (d0 * s0 + np.sum(rest ** 2)) / (d0 + rest.size)
            om = np.exp(-0.5 * v / m[j] * t ** 2) / c.size
            num += om * np.exp(1j * t * means[j])
            den += om * np.cos(t * c[k] / np.sqrt(m[j]))
            plug += om * np.exp(-0.5 * v / m[j] * t ** 2)
    den = np.maximum(den, n ** -0.25 * plug)
    return num / den


def test_spectrum_matches_numpy_reference():
    """The compiled estimate of phi_X equals a direct NumPy evaluation of the defining
    formula (deconv.density.replicates.ReplicateNormalNoise), including missing values and
    individuals with one measurement, to rounding (1e-10 of phi_X(0) = 1)."""
    reps, _, _ = _hetero_sample(120, 21, m_range=(2, 5))
    reps[:6, 1:] = np.nan                       # singletons
    spec = Replicates(heteroscedastic=True, prior_df=3.0)
    means, law, _ = spec.estimate(reps)
    dt, K = 0.05, 120
    z, d = law.spectrum(means, dt, K)
    ref = _reference_spectrum(reps, np.arange(K) * dt, prior_df=3.0)
    assert_allclose(z, ref, rtol=0, atol=1e-10)
    assert_allclose(z[0], 1.0, rtol=1e-12)
    # automatic prior df as well
    means, law, _ = Replicates(heteroscedastic=True).estimate(reps)
    z, _ = law.spectrum(means, dt, K)
    assert_allclose(z, _reference_spectrum(reps, np.arange(K) * dt), rtol=0, atol=1e-10)


def test_heteroscedastic_replicates_beat_homoscedastic_and_naive():
    """Known truth (bimodal), sigma_j in {0.3, 1.5} (equally likely), m_j = 3..5, n = 500,
    3 seeds: mean ISE of the heteroscedastic-replicate estimate (plug-in bandwidth, automatic
    moderation) is below that of the homoscedastic-replicate estimate and of the naive KDE
    of the row means. (Measured: 0.0108 vs 0.0139 and 0.049; with the true sigma_j 0.0092;
    see docs/density.rst for the table.)"""
    from scipy.stats import gaussian_kde

    res = {"het": [], "hom": [], "naive": []}
    for seed in range(3):
        reps, _, _ = _hetero_sample(500, 100 + seed, sigmas=(0.3, 1.5))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hom = DeconvolutionKDE(noise="replicates").fit(reps)
        het = DeconvolutionKDE(noise=Replicates(heteroscedastic=True)).fit(reps)
        res["het"].append(_ise(het.pdf(GRID)))
        res["hom"].append(_ise(hom.pdf(GRID)))
        res["naive"].append(_ise(gaussian_kde(np.nanmean(reps, axis=1))(GRID)))
    mean = {k: np.mean(v) for k, v in res.items()}
    assert mean["het"] < 0.9 * mean["hom"], mean
    assert mean["het"] < 0.5 * mean["naive"], mean


def test_variance_estimates_and_singletons():
    reps, sig, m = _hetero_sample(400, 7)
    reps[:40, 1:] = np.nan                       # 40 individuals with one measurement
    est = DeconvolutionKDE(noise=Replicates(heteroscedastic=True, prior_df=0),
                           bandwidth=0.3).fit(reps)
    info = est.replicate_info_
    assert est.n_ == 400 and info["m"][:40].tolist() == [1] * 40
    # singletons get the pooled within-individual variance (prior_df = 0)
    obs = ~np.isnan(reps)
    mu = np.nanmean(reps, axis=1)
    dev = np.nansum((reps - mu[:, None]) ** 2, axis=1)
    pooled = dev[40:].sum() / (obs[40:].sum(axis=1) - 1).sum()
    assert_allclose(info["variances"][:40], pooled, rtol=1e-12)
    assert_allclose(info["variances"][40:], dev[40:] / (obs[40:].sum(axis=1) - 1), rtol=1e-12)
    assert_allclose(est.noise_.sd, np.sqrt(info["variances"] / info["m"]), rtol=1e-12)
    # dropping singletons
    drop = DeconvolutionKDE(noise=Replicates(heteroscedastic=True, singletons="drop"),
                            bandwidth=0.3).fit(reps)
    assert drop.n_ == 360 and drop.replicate_info_["kept"][0] == 40
    # moderated variances are closer to the truth than the raw ones (m_j = 3..5)
    auto = DeconvolutionKDE(noise=Replicates(heteroscedastic=True), bandwidth=0.3).fit(reps)
    v_auto = auto.replicate_info_["variances"][40:]
    v_raw = info["variances"][40:]
    assert np.mean((v_auto - sig[40:] ** 2) ** 2) < np.mean((v_raw - sig[40:] ** 2) ** 2)


def test_heteroscedastic_replicate_band_reproducible():
    reps, _, _ = _hetero_sample(200, 9)
    est = DeconvolutionKDE(noise=Replicates(heteroscedastic=True), bandwidth=0.35).fit(reps)
    grid = np.linspace(-2.5, 2.5, 21)
    a = est.confidence_band(n_boot=20, rng=4, x=grid)
    b = est.confidence_band(n_boot=20, rng=4, x=grid)
    assert_allclose(a.upper, b.upper)
    assert np.all(a.lower <= a.estimate + 1e-12) and np.all(a.upper >= a.estimate - 1e-12)
    assert np.mean(a.upper - a.lower) > 0


def test_repr_and_params():
    spec = Replicates(heteroscedastic=True, prior_df=4)
    est = DeconvolutionKDE(noise=spec)
    assert "Replicates(heteroscedastic=True, prior_df=4" in repr(est)
    assert DeconvolutionKDE(**est.get_params()).noise == spec
    assert repr(Replicates()) == "Replicates()"


def test_bad_input():
    spec = Replicates(heteroscedastic=True)
    good = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match="row 1 has no measured replicate"):
        bad = good.copy()
        bad[1] = np.nan
        DeconvolutionKDE(noise=spec).fit(bad)
    with pytest.raises(ValueError, match="at least 2 replicate columns"):
        DeconvolutionKDE(noise=spec).fit(good[:, :1])
    with pytest.raises(ValueError, match="2-D"):
        DeconvolutionKDE(noise=spec).fit(good[:, 0])
    with pytest.raises(ValueError, match="infinite"):
        bad = good.copy()
        bad[3, 2] = np.inf
        DeconvolutionKDE(noise=spec).fit(bad)
    with pytest.raises(ValueError, match="two or more measured replicates"):
        bad = good.copy()
        bad[:, 1:] = np.nan
        DeconvolutionKDE(noise=spec).fit(bad)
    with pytest.raises(ValueError, match="identical replicates"):
        bad = good.copy()
        bad[5] = 1.0
        DeconvolutionKDE(noise=Replicates(heteroscedastic=True, prior_df=0)).fit(bad)
    with pytest.raises(ValueError, match="prior_df"):
        DeconvolutionKDE(noise=Replicates(heteroscedastic=True, prior_df=-1)).fit(good)
    with pytest.raises(ValueError, match="singletons"):
        DeconvolutionKDE(noise=Replicates(heteroscedastic=True, singletons="x")).fit(good)
    with pytest.raises(TypeError, match="heteroscedastic"):
        DeconvolutionKDE(noise=Replicates(heteroscedastic="yes")).fit(good)
    # the input is not modified
    copy = good.copy()
    DeconvolutionKDE(noise=spec, bandwidth=0.5).fit(good)
    assert_allclose(good, copy, rtol=0, atol=0)


# --- tabulated Student-t characteristic function (compiled heteroscedastic path) -------------
@pytest.mark.parametrize("df", [2.3, 3.0, 7.5, 60.0])
def test_student_t_cf_table_matches_exact_bessel(df):
    """hetero_den with one unit sd gives |phi(k dt)|^2: the table path (cubic Hermite of
    log phi, step 1e-3) matches the exact Bessel evaluation to 1e-9 relative for u up to 80,
    where phi is as small as ~e^-70 (relative, not absolute, accuracy)."""
    from deconv._kernels._fourier import hetero_den
    from deconv.density._spectrum import student_t_log_cf_table

    # dt is not a multiple of the table step, so almost every u falls between nodes
    # (measured error ~3e-13; a step of 0.02 would give 3e-8 and fail)
    dt, K = 0.0100731, 8001
    table, step = student_t_log_cf_table(df, K * dt)
    sd, w = np.ones(1), np.empty(0)
    exact, tab = np.empty(K), np.empty(K)
    hetero_den(sd, w, 3, df, dt, exact)
    hetero_den(sd, w, 3, df, dt, tab, table, step)
    ok = exact > 1e-250            # df = 60 is nearly normal: phi^2 underflows near u = 27
    assert ok.sum() > 2500
    assert_allclose(tab[ok], exact[ok], rtol=1e-9, atol=0)
    assert np.all(tab[~ok] < 1e-240)
    # and the exact path agrees with scipy (independent: the t density's Fourier transform
    # by quadrature at a few points)
    from scipy import integrate, stats

    scale = np.sqrt((df - 2) / df)
    for k in (30, 100, 250):
        val = 2 * integrate.quad(lambda x: stats.t.pdf(x, df, scale=scale), 0, np.inf,
                                 weight="cos", wvar=k * dt)[0]
        assert_allclose(np.sqrt(exact[k]), val, rtol=1e-7)


def test_student_t_table_estimate_equals_exact():
    """The heteroscedastic Student-t estimate (many distinct sds) with the tabulated cf
    equals the one with exact Bessel evaluations to 1e-10 of max f."""
    from deconv.density import _spectrum as sp
    from deconv.noise import StudentT

    rng = np.random.default_rng(31)
    n = 3000
    sd = rng.uniform(0.2, 0.7, n)
    law = StudentT(4.0, sd=sd)
    w = _bimodal(n, rng) + law.rvs(rng=rng)
    fast = DeconvolutionKDE(noise=law, bandwidth=0.25).fit(w)
    old = sp.TABLE_MIN_WORK
    try:
        sp.TABLE_MIN_WORK = np.inf
        exact = DeconvolutionKDE(noise=law, bandwidth=0.25).fit(w)
    finally:
        sp.TABLE_MIN_WORK = old
    f0 = exact.pdf_raw(GRID)
    assert_allclose(fast.pdf_raw(GRID), f0, rtol=0, atol=1e-10 * f0.max())


@pytest.mark.parametrize("scale", [0.01, 100.0])
def test_heteroscedastic_replicates_equivariant(scale):
    """Rescaling and shifting the replicates rescales and shifts the estimate and the
    plug-in bandwidth (variances scale by scale^2, the prior df is unchanged); also for
    m_j = 2 (one contrast per row: weights from the prior variance only)."""
    rng = np.random.default_rng(41)
    n = 300
    x = _bimodal(n, rng)
    sig = rng.choice([0.2, 0.8], n)
    for m in (2, 4):
        reps = x[:, None] + sig[:, None] * rng.normal(size=(n, m))
        a = DeconvolutionKDE(noise=Replicates(heteroscedastic=True)).fit(reps)
        b = DeconvolutionKDE(noise=Replicates(heteroscedastic=True)).fit(scale * reps + 3.0)
        assert_allclose(b.bandwidth_, scale * a.bandwidth_, rtol=1e-6)
        assert_allclose(b.replicate_info_["prior_df"], a.replicate_info_["prior_df"], rtol=1e-8)
        g = np.linspace(-2.5, 2.5, 11)
        fa = a.pdf_raw(g)
        assert_allclose(scale * b.pdf_raw(scale * g + 3.0), fa, rtol=0, atol=1e-7 * fa.max())


@pytest.mark.slow
def test_heteroscedastic_replicates_simulation_table():
    """The docs table (docs/density.rst, "Heteroscedastic replicates"): 10 samples, n = 500,
    sigma_j in {0.3, 1.5}: mean ISE heteroscedastic 0.0112, homoscedastic 0.0139, naive
    0.0485, Delaigle-Meister with the true sigma_j 0.0096."""
    from scipy.stats import gaussian_kde

    res = {"het": [], "hom": [], "naive": [], "oracle": []}
    for seed in range(10):
        reps, sig, m = _hetero_sample(500, 100 + seed, sigmas=(0.3, 1.5))
        means = np.nanmean(reps, axis=1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hom = DeconvolutionKDE(noise="replicates").fit(reps)
            het = DeconvolutionKDE(noise=Replicates(heteroscedastic=True)).fit(reps)
            orc = DeconvolutionKDE(noise=Normal(sd=sig / np.sqrt(m))).fit(means)
        res["het"].append(_ise(het.pdf(GRID)))
        res["hom"].append(_ise(hom.pdf(GRID)))
        res["naive"].append(_ise(gaussian_kde(means)(GRID)))
        res["oracle"].append(_ise(orc.pdf(GRID)))
    mean = {k: np.mean(v) for k, v in res.items()}
    assert_allclose(mean["het"], 0.0112, rtol=0.05)
    assert mean["het"] < 0.85 * mean["hom"], mean
    assert mean["het"] < 1.25 * mean["oracle"], mean
    assert np.sum(np.array(res["het"]) < np.array(res["hom"])) >= 8


def test_compiled_empirical_cf_equals_numpy():
    """The compiled evaluation of an estimated (Empirical) error cf on a uniform grid, used by
    replicate fits, equals deconv.noise.Empirical.cf (NumPy) to rounding."""
    from deconv.density._spectrum import _empirical_cf_uniform, noise_cf_grid
    from deconv.noise import Empirical

    reps, _, _ = _hetero_sample(300, 51)
    for m in (1, 3):
        law = Empirical.from_replicates(reps).mean_of_replicates(m)
        t = np.arange(2000) * 0.0137
        assert_allclose(_empirical_cf_uniform(law, t), law.cf(t), rtol=0, atol=1e-13)
        # the grid helper takes the compiled path and still floors at n^(-1/4)
        assert_allclose(noise_cf_grid(law, t, 300),
                        np.maximum(law.cf(t).real, 300 ** -0.25), rtol=0, atol=1e-13)


def test_thread_count_invariance_replicates_and_student_t(run_python):
    """Heteroscedastic replicates and the tabulated Student-t path give bit-identical
    results with 1 and 2 threads (large enough for the parallel branch: n * K > 2e6)."""
    code = ("import numpy as np; from deconv.noise import StudentT; "
            "from deconv.density import DeconvolutionKDE, Replicates; "
            "r=np.random.default_rng(0); n=60000; x=r.normal(size=n); "
            "s=r.choice([.3,1.],n); W=x[:,None]+s[:,None]*r.normal(size=(n,3)); "
            "a=DeconvolutionKDE(noise=Replicates(heteroscedastic=True),bandwidth=.1).fit(W); "
            "sd=r.uniform(.2,.5,n); law=StudentT(5.,sd=sd); "
            "b=DeconvolutionKDE(noise=law,bandwidth=.1).fit(x+law.rvs(rng=r)); "
            "print(repr(float(a.pdf_raw(0.1))), repr(float(b.pdf_raw(0.1))))")
    outs = [run_python(code, OMP_NUM_THREADS=threads) for threads in (1, 2)]
    assert outs[0] == outs[1]
