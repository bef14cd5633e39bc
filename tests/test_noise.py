"""Tests of deconv.noise: every closed form is checked against something independent
(numerical integration of the density, scipy.stats' own implementations, simulation)."""
import numpy as np
import pytest
from scipy import integrate, stats

from deconv import noise
from deconv._kernels._noise import std_cf_array

LAWS = [
    noise.Normal(sd=0.7),
    noise.Laplace(sd=0.7),
    noise.Uniform(sd=0.7),
    noise.StudentT(5, sd=0.7),
    noise.StudentT(30, sd=0.7),
    noise.Gamma(2.0, sd=0.7),
]
# independent reference implementations of the same laws (scipy.stats parameterisations)
SCIPY = [
    stats.norm(scale=0.7),
    stats.laplace(scale=0.7 / np.sqrt(2)),
    stats.uniform(loc=-0.7 * np.sqrt(3), scale=2 * 0.7 * np.sqrt(3)),
    stats.t(5, scale=0.7 * np.sqrt(3 / 5)),
    stats.t(30, scale=0.7 * np.sqrt(28 / 30)),
    stats.gamma(2.0, loc=-2.0 * 0.7 / np.sqrt(2), scale=0.7 / np.sqrt(2)),
]


def numeric_cf(dist, t):
    """phi(t) = int e^{itx} f(x) dx by adaptive quadrature of the scipy density."""
    lo, hi = dist.ppf(1e-13), dist.ppf(1 - 1e-13)
    re = integrate.quad(lambda x: np.cos(t * x) * dist.pdf(x), lo, hi, limit=400, points=[0.0])[0]
    im = integrate.quad(lambda x: np.sin(t * x) * dist.pdf(x), lo, hi, limit=400, points=[0.0])[0]
    return re + 1j * im


@pytest.mark.parametrize("law,ref", list(zip(LAWS, SCIPY)), ids=lambda v: getattr(v, "name", ""))
def test_cf_matches_numerical_fourier_transform_of_density(law, ref):
    for t in [0.0, 0.3, 1.0, 2.5, 6.0]:
        np.testing.assert_allclose(law.cf(t), numeric_cf(ref, t), atol=2e-7)


@pytest.mark.parametrize("law,ref", list(zip(LAWS, SCIPY)), ids=lambda v: getattr(v, "name", ""))
def test_pdf_sd_and_moments_match_scipy(law, ref):
    x = np.linspace(-3, 3, 13) + 0.01
    np.testing.assert_allclose(law.pdf(x), ref.pdf(x), rtol=1e-12, atol=1e-300)
    assert law.sd == pytest.approx(ref.std(), rel=1e-12)
    assert ref.mean() == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("law,ref", list(zip(LAWS, SCIPY)), ids=lambda v: getattr(v, "name", ""))
def test_rvs_follow_the_law(law, ref):
    draws = law.rvs(size=4000, rng=1)
    assert stats.kstest(draws, ref.cdf).pvalue > 1e-3
    np.testing.assert_array_equal(draws, law.rvs(size=4000, rng=1))  # reproducible


@pytest.mark.parametrize("law", LAWS, ids=lambda v: v.name)
def test_compiled_cf_matches_python(law):
    u = np.linspace(-12, 12, 241)
    out = np.empty(u.size, dtype=np.complex128)
    std_cf_array(law.kernel_code, law.kernel_param, u, out)
    np.testing.assert_allclose(out, law.std_cf(u), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(law.cf(u), law.std_cf(law.sd * u), rtol=1e-14)


def test_laplace_sd_and_scale_agree():
    # sd = b * sqrt(2): the confusion that costs R decon users sqrt(2) of the noise
    assert noise.Laplace(scale=0.5).sd == pytest.approx(0.5 * np.sqrt(2), rel=1e-15)
    assert noise.Laplace(sd=0.5).scale == pytest.approx(0.5 / np.sqrt(2), rel=1e-15)
    assert noise.Laplace(sd=np.sqrt(2), scale=1.0).sd == pytest.approx(np.sqrt(2))
    with pytest.raises(ValueError, match="sd and scale disagree"):
        noise.Laplace(sd=1.0, scale=1.0)
    # same law either way
    np.testing.assert_allclose(noise.Laplace(scale=0.3).cf([1.0, 2.0]),
                               1 / (1 + 0.09 * np.array([1.0, 4.0])))
    assert noise.Uniform(half_width=np.sqrt(3)).sd == pytest.approx(1.0)
    assert noise.StudentT(4, scale=1.0).sd == pytest.approx(np.sqrt(2.0))


def test_heteroscedastic_shapes_and_values():
    sds = np.array([0.1, 0.5, 2.0])
    law = noise.Laplace(sd=sds)
    assert law.heteroscedastic and law.n_obs == 3
    t = np.array([0.0, 1.0])
    cf = law.cf(t)
    assert cf.shape == (3, 2)
    for j, s in enumerate(sds):
        np.testing.assert_allclose(cf[j], noise.Laplace(sd=s).cf(t))
    x = np.array([0.2, -0.1, 1.0])
    np.testing.assert_allclose(law.logpdf(x), [noise.Laplace(sd=s).logpdf(xi) for s, xi in zip(sds, x)])
    draws = law.rvs(size=(20000, 3), rng=0)
    np.testing.assert_allclose(draws.std(axis=0), sds, rtol=0.05)
    assert law.rvs(rng=0).shape == (3,)
    with pytest.raises(ValueError, match="x must have last dimension 3"):
        law.pdf(np.zeros(4))
    assert law.with_sd(1.0) == noise.Laplace(sd=1.0)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="sd must be positive"):
        noise.Normal(sd=0.0)
    with pytest.raises(ValueError, match="sd must be positive"):
        noise.Normal(sd=[1.0, -1.0])
    with pytest.raises(ValueError, match="sd contains non-finite"):
        noise.Normal(sd=np.nan)
    with pytest.raises(ValueError, match="df must be > 2"):
        noise.StudentT(2, sd=1.0)
    with pytest.raises(TypeError, match="needs sd"):
        noise.Normal()
    with pytest.raises(ValueError, match="shape must be positive"):
        noise.Gamma(0.0, sd=1.0)
    with pytest.raises(ValueError, match="t contains"):
        noise.Normal(sd=1).cf([np.inf])
    with pytest.raises(ValueError, match="noise must be"):
        noise.as_noise("cauchy", 1.0)
    assert noise.as_noise("laplace", 0.5) == noise.Laplace(sd=0.5)


def test_empirical_from_replicates_recovers_error_law():
    # W_jk = X_j + U_jk with Laplace errors of sd 0.5: the difference-based estimate of
    # |phi_U| (Delaigle, Hall & Meister 2008) must approach the true cf as n grows.
    rng = np.random.default_rng(0)
    truth = noise.Laplace(sd=0.5)
    t = np.linspace(0, 4, 9)
    errs = []
    for n in (500, 20000):
        x = rng.normal(size=n)
        w = x[:, None] + truth.rvs(size=(n, 2), rng=rng)
        emp = noise.Empirical.from_replicates(w)
        errs.append(np.max(np.abs(emp.cf(t).real - truth.cf(t).real)))
        # pooled within-individual variance: unbiased for var(U) = 0.25
        assert abs(emp.var - 0.25) < 4 * emp.var_se
    assert errs[1] < errs[0] / 2
    assert errs[1] < 0.02
    # mean of 2 replicates: cf phi(t/2)^2 and sd / sqrt(2)
    m2 = emp.mean_of_replicates(2)
    np.testing.assert_allclose(m2.cf(t).real, emp.cf(t / 2).real ** 2)
    assert m2.sd == pytest.approx(emp.sd / np.sqrt(2))
    assert np.all(emp.cf_sd(t[1:]) > 0)


def test_empirical_missing_replicates_and_errors():
    w = np.array([[1.0, 1.5, np.nan], [2.0, np.nan, np.nan], [0.0, 0.4, 0.2]])
    emp = noise.Empirical.from_replicates(w)
    # pooled variance by hand: row0 ss = 0.125 (1 df), row2 ss = 0.08 (2 df)
    assert emp.var == pytest.approx((0.125 + 0.08) / 3)
    assert emp.n_individuals == 2 and emp.n_differences == 1 + 3
    with pytest.raises(ValueError, match="at least 2 columns"):
        noise.Empirical.from_replicates(np.ones((3, 1)))
    with pytest.raises(ValueError, match="no individual with two"):
        noise.Empirical.from_replicates([[1.0, np.nan], [2.0, np.nan]])
    with pytest.raises(NotImplementedError, match="characteristic function"):
        emp.pdf(0.0)
