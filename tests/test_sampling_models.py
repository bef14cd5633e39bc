"""Built-in compiled models: NumPy twins (to 1e-10), finite differences, same posterior."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

import deconv as dc
from deconv.datasets.sampling import eight_schools, radon_like
from deconv.sampling.models import ErrorsInVariables, EightSchools, HierarchicalGLM, HierarchicalLinear


# ---- slow, obviously-correct NumPy twins of every density (written from the model formulas) ----
def _halfcauchy5(lt):
    tau = np.exp(lt)
    return -np.log1p(tau ** 2 / 25) + lt  # + log-Jacobian


def _halfnormal(ls, scale):
    s = np.exp(ls)
    return -0.5 * (s / scale) ** 2 + ls


def twin_eight_schools(q, y, sigma, centered):
    mu, lt, v = q[0], q[1], q[2:]
    tau = np.exp(lt)
    theta = v if centered else mu + tau * v
    lp = -mu ** 2 / 50 + _halfcauchy5(lt) - 0.5 * np.sum(((y - theta) / sigma) ** 2)
    if centered:
        lp += -0.5 * np.sum(((theta - mu) / tau) ** 2) - len(y) * lt
    else:
        lp += -0.5 * np.sum(v ** 2)
    return lp


def twin_hier_linear(q, y, x, g, J, slopes, centred=False):
    mu_a, mu_b, lsa, lsy = q[:4]
    o = 5 if slopes else 4
    sa, sb = np.exp(lsa), (np.exp(q[4]) if slopes else 1.0)
    if centred:
        a = q[o:o + J]
        b = q[o + J:o + 2 * J] if slopes else np.full(J, mu_b)
        za, zb = (a - mu_a) / sa, (b - mu_b) / sb
    else:
        za, zb = q[o:o + J], q[o + J:o + 2 * J]
        a = mu_a + sa * za
        b = mu_b + sb * zb if slopes else np.full(J, mu_b)
    e = y - a[g] - b[g] * x
    lp = -len(y) * lsy - 0.5 * np.sum(e ** 2) / np.exp(2 * lsy)
    lp += -(mu_a ** 2 + mu_b ** 2) / 200 + _halfnormal(lsa, 5) + _halfnormal(lsy, 5)
    lp += -0.5 * np.sum(za ** 2) - (J * lsa if centred else 0.0)
    if slopes:
        lp += _halfnormal(q[4], 5) - 0.5 * np.sum(zb ** 2) - (J * q[4] if centred else 0.0)
    return lp


def twin_glm(q, y, X, g, J, family, trials, offset):
    p = X.shape[1]
    beta, lsa, z = q[:p], q[p], q[p + 1:]
    eta = X @ beta + np.exp(lsa) * z[g] + offset
    if family == "logistic":
        ll = np.sum(y * eta - trials * np.logaddexp(0, eta))
    else:
        ll = np.sum(y * eta - np.exp(eta))
    return ll - np.sum(beta ** 2) / 50 + _halfnormal(lsa, 2.5) - 0.5 * np.sum(z ** 2)


def twin_eiv(q, w, y, var_u):
    al, be, mx, lsx, lsy = q[:5]
    X = q[5:]
    n = len(y)
    lp = -n * lsx - 0.5 * np.sum((X - mx) ** 2) / np.exp(2 * lsx)
    lp += -0.5 * np.sum((w - X) ** 2 / var_u)
    lp += -n * lsy - 0.5 * np.sum((y - al - be * X) ** 2) / np.exp(2 * lsy)
    lp += -(al ** 2 + be ** 2 + mx ** 2) / 200 + _halfnormal(lsx, 5) + _halfnormal(lsy, 5)
    return lp


def twin_eiv_marginal(q, w, y, var_u):
    # (W_i, y_i) bivariate normal with the joint covariance written out (an independent
    # formulation of the factorised density in the kernel)
    al, be, mx, lsx, lsy = q
    Sx, Sy = np.exp(2 * lsx), np.exp(2 * lsy)
    lp = 0.0
    for wi, yi, su in zip(w, y, var_u):
        S = np.array([[Sx + su, be * Sx], [be * Sx, be ** 2 * Sx + Sy]])
        d = np.array([wi - mx, yi - al - be * mx])
        lp += -0.5 * np.log(np.linalg.det(S)) - 0.5 * d @ np.linalg.solve(S, d)
    lp += -(al ** 2 + be ** 2 + mx ** 2) / 200 + _halfnormal(lsx, 5) + _halfnormal(lsy, 5)
    return lp


def _fd_grad(f, q, h=1e-6):
    g = np.empty_like(q)
    for k in range(q.size):
        e = np.zeros_like(q)
        e[k] = h
        g[k] = (f(q + e) - f(q - e)) / (2 * h)
    return g


def _cases():
    rng = np.random.default_rng(0)
    es = eight_schools()
    out = []
    for c in (False, True):
        out.append((f"eight_schools_{'c' if c else 'nc'}", EightSchools(es["y"], es["sigma"], centered=c),
                    lambda q, c=c: twin_eight_schools(q, es["y"], es["sigma"], c)))
    r = radon_like(rng=1, n_groups=12, n=80, random_slopes=True)
    for s in (False, True):
        for c in (False, True):
            out.append((f"hier_linear_{'slopes' if s else 'int'}{'_c' if c else ''}",
                        HierarchicalLinear(r["y"], r["x"], r["county"], random_slopes=s, centered=c),
                        lambda q, s=s, c=c: twin_hier_linear(q, r["y"], r["x"], r["county"], 12, s, c)))
    n, J = 60, 7
    g = rng.integers(0, J, n)
    g[:J] = np.arange(J)
    X = rng.normal(size=(n, 2))
    trials = rng.integers(1, 6, n).astype(float)
    yb = rng.binomial(trials.astype(int), 0.4).astype(float)
    m = HierarchicalGLM(yb, X, g, family="logistic", trials=trials)
    out.append(("glm_logistic", m, lambda q: twin_glm(q, yb, m.X, g, J, "logistic", trials, 0.0)))
    off = rng.normal(0, 0.3, n)
    yp = rng.poisson(2.0, n).astype(float)
    mp = HierarchicalGLM(yp, X, g, family="poisson", offset=off)
    out.append(("glm_poisson", mp, lambda q: twin_glm(q, yp, mp.X, g, J, "poisson", 1.0, off)))
    xt = rng.normal(1, 1, 30)
    w = xt + rng.normal(0, 0.5, 30)
    y = 1 + 2 * xt + rng.normal(0, 0.3, 30)
    vu = np.full(30, 0.25)
    out.append(("eiv_latent", ErrorsInVariables(w, y, error_sd=0.5, marginalize=False),
                lambda q: twin_eiv(q, w, y, vu)))
    vh = rng.uniform(0.1, 0.5, 30)   # heteroskedastic known error variances
    out.append(("eiv_marginal", ErrorsInVariables(w, y, error_sd=np.sqrt(vh)),
                lambda q: twin_eiv_marginal(q, w, y, vh)))
    return out


CASES = _cases()


@pytest.mark.parametrize("name,model,twin", CASES, ids=[c[0] for c in CASES])
def test_compiled_density_matches_numpy_twin_and_finite_differences(name, model, twin):
    rng = np.random.default_rng(1)
    for _ in range(3):
        q = rng.uniform(-1.5, 1.5, model.dim)
        lp, g = model.logp_grad(q)
        # same density as the twin (both up to the same additive constant), to 1e-10
        assert_allclose(lp, twin(q), rtol=1e-10, atol=1e-10)
        # analytic gradient against central differences of the twin (error O(h^2) ~ 1e-7)
        assert_allclose(g, _fd_grad(twin, q), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,model,twin", CASES[:1] + CASES[4:5], ids=["eight_schools", "glm"])
def test_compiled_and_python_paths_agree(name, model, twin):
    # the same model as a Python callable (gradient from the compiled kernel, so the two paths
    # see identical numbers) must give identical draws with the same seed
    def f(q):
        return model.logp_grad(q)
    a = dc.sampling.nuts(model, chains=2, warmup=200, draws=200, rng=5, warn=False)
    b = dc.sampling.nuts(f, dim=model.dim, chains=2, warmup=200, draws=200, rng=5, warn=False)
    np.testing.assert_array_equal(a.unconstrained, b.draws)


def _eight_schools_exact_moments():
    # Exact posterior moments by 1-D quadrature: mu integrates out analytically given tau
    # (normal prior N(0, 5^2), y_j ~ N(mu, sigma_j^2 + tau^2)), leaving p(tau | y) on a line.
    from scipy import integrate
    es = eight_schools()
    y, s = es["y"], es["sigma"]

    def parts(tau):
        v = s ** 2 + tau ** 2
        P = 1 / 25 + np.sum(1 / v)
        S = np.sum(y / v)
        logml = -0.5 * np.log(P) - 0.5 * np.sum(np.log(v)) + 0.5 * S ** 2 / P - 0.5 * np.sum(y ** 2 / v)
        return logml - np.log1p(tau ** 2 / 25), S / P, 1 / P   # log p(tau|y)+c, E[mu|tau], Var[mu|tau]
    c = parts(3.0)[0]
    dens = lambda t: np.exp(parts(t)[0] - c)
    Z = integrate.quad(dens, 0, np.inf, limit=500)[0]
    E = lambda f: integrate.quad(lambda t: f(t) * dens(t), 0, np.inf, limit=500)[0] / Z
    tau_m = E(lambda t: t)
    tau_sd = np.sqrt(E(lambda t: t * t) - tau_m ** 2)
    mu_m = E(lambda t: parts(t)[1])
    mu_sd = np.sqrt(E(lambda t: parts(t)[2] + parts(t)[1] ** 2) - mu_m ** 2)
    return mu_m, mu_sd, tau_m, tau_sd


def test_eight_schools_posterior_matches_quadrature():
    mu_m, mu_sd, tau_m, tau_sd = _eight_schools_exact_moments()
    # the published posterior (posteriordb eight_schools_noncentered): mu ~4.4, tau ~3.6
    assert abs(tau_m - 3.6) < 0.1 and abs(mu_m - 4.4) < 0.1
    es = eight_schools()
    post = dc.sampling.nuts(EightSchools(es["y"], es["sigma"]), rng=0)
    draws = np.stack([post["mu"], post["tau"]], axis=-1)
    m = draws.mean(axis=(0, 1))
    se = dc.sampling.mcse_mean(draws)
    assert np.all(np.abs(m - [mu_m, tau_m]) < 4 * se), (m, mu_m, tau_m, se)
    assert_allclose(draws.std(axis=(0, 1)), [mu_sd, tau_sd], rtol=0.1)
    assert post.rhat().max() < 1.01
    assert post["theta"].shape == (4, 1000, 8)


def test_centred_eight_schools_warns_divergences():
    es = eight_schools()
    with pytest.warns(dc.SamplingWarning, match="divergent"):
        post = dc.sampling.nuts(EightSchools(es["y"], es["sigma"], centered=True), chains=2,
                                warmup=300, draws=300, rng=1)
    assert post.n_divergent > 0
    pos = post.divergence_positions[post.stats["diverging"].astype(bool)]
    assert np.all(np.isfinite(pos)) and np.all(pos[:, 1] > 0)  # tau positive at divergences


def test_radon_like_recovers_truth():
    r = radon_like(rng=3)
    post = dc.sampling.nuts(HierarchicalLinear(r["y"], r["x"], r["county"]), chains=2,
                            warmup=500, draws=500, rng=0, warn=False)
    # simulated truth: sigma_y = 0.75, slope -0.7, sigma_a = 0.3 (posterior sd ~0.02, 0.06, 0.04)
    assert abs(post.mean("sigma_y") - 0.75) < 0.06
    assert abs(post.mean("mu_b") - (-0.7)) < 0.2
    assert abs(post.mean("sigma_a") - 0.3) < 0.15
    assert post.rhat().max() < 1.02


def test_eiv_corrects_attenuation():
    rng = np.random.default_rng(7)
    n = 200
    xt = rng.normal(0, 1, n)
    w = xt + rng.normal(0, 0.8, n)      # reliability 1 / 1.64 = 0.61
    y = 0.5 + 1.0 * xt + rng.normal(0, 0.3, n)
    naive = np.polyfit(w, y, 1)[0]      # attenuated towards 0.61
    post = dc.sampling.nuts(ErrorsInVariables(w, y, error_sd=0.8), chains=2, warmup=500,
                            draws=500, rng=1, warn=False)
    assert naive < 0.75
    lo, hi = post.interval("beta", 0.99)
    assert lo < 1.0 < hi


def test_eiv_latent_and_marginal_agree():
    # same posterior for (alpha, beta) whether X is sampled or integrated out (sigma_y large
    # enough that the latent form mixes); E[X_i | ...] averaged = posterior mean of the latent X_i
    rng = np.random.default_rng(8)
    n = 40
    xt = rng.normal(0, 1, n)
    w = xt + rng.normal(0, 0.5, n)
    y = 1.0 + 0.8 * xt + rng.normal(0, 1.0, n)
    mm = ErrorsInVariables(w, y, error_sd=0.5)
    a = dc.sampling.nuts(mm, chains=4, warmup=500, draws=1000, rng=0)
    b = dc.sampling.nuts(ErrorsInVariables(w, y, error_sd=0.5, marginalize=False), chains=4,
                         warmup=500, draws=1000, rng=1)
    for name in ("alpha", "beta", "sigma_y"):
        se = np.hypot(dc.sampling.mcse_mean(a[name]), dc.sampling.mcse_mean(b[name]))
        assert abs(a.mean(name) - b.mean(name)) < 4 * se, name
    se = np.hypot(dc.sampling.mcse_mean(a["x_hat"]), dc.sampling.mcse_mean(b["x"]))
    assert np.mean(np.abs(a.mean("x_hat") - b.mean("x")) < 4 * se) > 0.95
    xs = mm.conditional_x(a, rng=0)
    assert xs.shape == (4, 1000, n)
    assert_allclose(xs.mean(axis=(0, 1)), a.mean("x_hat"), atol=0.05)


def test_eiv_replicates_estimate_error_variance():
    rng = np.random.default_rng(2)
    xt = rng.normal(size=50)
    w = xt[:, None] + rng.normal(0, 0.5, (50, 2))
    m = ErrorsInVariables(w, 2 * xt, error_sd=None)
    # pooled within-row variance estimates 0.25; the row mean of 2 replicates has variance 0.125
    assert_allclose(m.var_u, 0.125, rtol=0.3)


def test_model_bad_input():
    with pytest.raises(ValueError, match="sigma"):
        EightSchools([1, 2], [1, 0])
    with pytest.raises(ValueError, match="y"):
        EightSchools([1, np.nan], [1, 1])
    with pytest.raises(ValueError, match="group"):
        HierarchicalLinear([1, 2, 3], [0, 1, 0], [0, 1])
    with pytest.raises(ValueError, match="family"):
        HierarchicalGLM([1, 0], None, [0, 1], family="probit")
    with pytest.raises(ValueError, match="trials"):
        HierarchicalGLM([2, 0], None, [0, 1], trials=[1, 1])
    with pytest.raises(ValueError, match="error_sd"):
        ErrorsInVariables([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="length"):
        EightSchools([1, 2, 3], [1, 1]).logp_grad(np.zeros(3))
    es = EightSchools([1.0, 2.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="built-in"):
        dc.sampling.nuts(es, constraints=["positive"] * 4)
    with pytest.raises(ValueError, match="parameters"):
        dc.sampling.nuts(es, init=np.zeros(3))


def test_glm_recovers_truth():
    # simulated truth: intercept -0.5, slope 1.0, group sd 0.8 (J = 20 groups, n = 1000)
    rng = np.random.default_rng(11)
    J, n = 20, 1000
    g = np.arange(n) % J
    x = rng.normal(size=n)
    a = rng.normal(0, 0.8, J)
    y = rng.binomial(1, 1 / (1 + np.exp(-(-0.5 + x + a[g])))).astype(float)
    post = dc.sampling.nuts(HierarchicalGLM(y, x, g), chains=2, warmup=400, draws=400, rng=0,
                            warn=False)
    lo, hi = post.interval("beta", 0.99)
    assert np.all(lo < [-0.5, 1.0]) and np.all(hi > [-0.5, 1.0])
    slo, shi = post.interval("sigma_a", 0.99)
    assert slo < 0.8 < shi
    # Poisson with log-exposure offsets: rate exp(0.3) per unit exposure
    e = rng.uniform(0.5, 3, n)
    yc = rng.poisson(e * np.exp(0.3 + 0.4 * a[g])).astype(float)
    pp = dc.sampling.nuts(HierarchicalGLM(yc, None, g, family="poisson", offset=np.log(e)),
                          chains=2, warmup=400, draws=400, rng=1, warn=False)
    lo, hi = pp.interval("beta", 0.99)
    assert lo[0] < 0.3 < hi[0]


def test_random_slopes_recovered():
    r = radon_like(rng=5, random_slopes=True)
    post = dc.sampling.nuts(HierarchicalLinear(r["y"], r["x"], r["county"], random_slopes=True),
                            chains=2, warmup=500, draws=500, rng=0, warn=False)
    # truth: mean slope -0.7, slope sd 0.3, sigma_y 0.75
    assert abs(post.mean("mu_b") + 0.7) < 0.2
    assert abs(post.mean("sigma_y") - 0.75) < 0.06
    assert post["b"].shape == (2, 500, 85)


def test_compiled_model_pickles_for_parallel_chains():
    import pickle
    es = eight_schools()
    m = EightSchools(es["y"], es["sigma"])
    m2 = pickle.loads(pickle.dumps(m))
    q = np.linspace(-1, 1, m.dim)
    assert m.logp_grad(q)[0] == m2.logp_grad(q)[0]
    a = dc.sampling.nuts(m, chains=2, warmup=100, draws=100, rng=3, warn=False)
    b = dc.sampling.nuts(m, chains=2, warmup=100, draws=100, rng=3, warn=False, parallel=2)
    np.testing.assert_array_equal(a.draws, b.draws)


def test_unconstrained_names_and_init():
    es = eight_schools()
    m = EightSchools(es["y"], es["sigma"])
    assert m.unconstrained_names[:3] == ["mu", "log_tau", "eta[0]"]
    r = radon_like(rng=1, n_groups=5, n=30)
    h = HierarchicalLinear(r["y"], r["x"], r["county"], random_slopes=True)
    assert h.unconstrained_names[:6] == ["mu_a", "mu_b", "log_sigma_a", "log_sigma_y", "log_sigma_b", "z_a[0]"]
    assert len(h.unconstrained_names) == h.dim
    post = dc.sampling.nuts(m, init=np.zeros(m.dim), chains=1, warmup=0, draws=1, rng=0, warn=False)
    assert post.draws.shape == (1, 1, 18)


def _numpy_eight_schools_nc(y, sigma):
    # NumPy log density and analytic gradient of the non-centred model (a Python-path twin)
    def f(q):
        mu, lt, eta = q[0], q[1], q[2:]
        tau = np.exp(lt)
        r = (y - mu - tau * eta) / sigma ** 2
        u = tau * tau / 25
        lp = -mu ** 2 / 50 - np.log1p(u) + lt - 0.5 * eta @ eta - 0.5 * np.sum(r * r * sigma ** 2)
        g = np.concatenate([[-mu / 25 + r.sum(), -2 * u / (1 + u) + 1 + tau * (r @ eta)],
                            -eta + tau * r])
        return lp, g
    return f


def test_python_twin_gives_the_same_posterior():
    es = eight_schools()
    f = _numpy_eight_schools_nc(es["y"], es["sigma"])
    m = EightSchools(es["y"], es["sigma"])
    q = np.random.default_rng(0).normal(size=10)
    assert_allclose(f(q)[0], m.logp_grad(q)[0], rtol=1e-12)
    assert_allclose(f(q)[1], m.logp_grad(q)[1], rtol=1e-10, atol=1e-12)
    a = dc.sampling.nuts(m, chains=4, warmup=300, draws=500, rng=1, warn=False)
    b = dc.sampling.nuts(f, dim=10, chains=4, warmup=300, draws=500, rng=2, warn=False)
    za, zb = a.unconstrained, b.draws
    se = np.hypot(dc.sampling.mcse_mean(za), dc.sampling.mcse_mean(zb))
    assert np.all(np.abs(za.mean(axis=(0, 1)) - zb.mean(axis=(0, 1))) < 4 * se)


def test_centred_and_noncentred_radon_agree():
    r = radon_like(rng=4, n_groups=30, n=300)
    kw = dict(chains=4, warmup=500, draws=500, warn=False)
    a = dc.sampling.nuts(HierarchicalLinear(r["y"], r["x"], r["county"]), rng=0, **kw)
    b = dc.sampling.nuts(HierarchicalLinear(r["y"], r["x"], r["county"], centered=True), rng=1, **kw)
    assert a.names == b.names
    se = np.hypot(dc.sampling.mcse_mean(a.draws), dc.sampling.mcse_mean(b.draws))
    assert np.mean(np.abs(a.mean() - b.mean()) < 4 * se) > 0.97   # 34 columns
