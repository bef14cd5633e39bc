"""The compiled mixed-model density (csrc/_mixed_models.pyx) against a NumPy twin written
from the model's definition, and its analytic gradient against finite differences.

The twin builds the Cholesky factor, its log-Jacobian and the LKJ density the way the Stan
reference manual states them (Stan's cholesky_corr_constrain and lkj_corr_cholesky_lpdf),
not through the collapsed per-CPC formula the kernel uses, so the two are independent. The
LKJ part is also checked against the known marginal of one correlation:
(r + 1) / 2 ~ Beta(eta - 1 + K/2, eta - 1 + K/2) (Lewandowski et al. 2009).
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from deconv.sampling.mixed_model import MixedModel, cpc_to_cholesky


def _half(s, A, df):
    u = (s / A) ** 2
    return -0.5 * u if df == 0 else -0.5 * (df + 1) * np.log1p(u / df)


def _stan_cholesky_lp(y, K, eta):
    """Stan: L from tanh CPCs with log-Jacobian, plus lkj_corr_cholesky_lpdf(L | eta)."""
    w = np.tanh(y)
    lp = np.sum(np.log1p(-w * w))
    L = np.zeros((K, K))
    L[0, 0] = 1
    t = 0
    for i in range(1, K):
        L[i, 0] = w[t]; t += 1
        ssq = L[i, 0] ** 2
        for j in range(1, i):
            lp += 0.5 * np.log1p(-ssq)
            L[i, j] = w[t] * np.sqrt(1 - ssq); t += 1
            ssq += L[i, j] ** 2
        L[i, i] = np.sqrt(1 - ssq)
    logd = np.log(np.diag(L)[1:])
    lp += np.sum((K - np.arange(K - 1) - 2) * logd) + (2 * eta - 2) * np.sum(logd)
    return L, lp


def twin(m, y, X, terms, z, family, trials=None, offset=None, nu=None, hg=None, W=None, su=None,
         lc=None, icpt=None, pri=None, centered=None, marg=False):
    """Log density (up to a constant) of MixedModel written out directly."""
    P = dict(beta_sd=10.0, sd_scale=5.0, sd_df=0.0, lkj_eta=2.0, sigma_scale=5.0, nu_shape=2.0,
             nu_rate=0.1, tau_s_scale=1.0, mu_x_sd=10.0, sigma_x_scale=5.0, intercept_sd=10.0)
    P.update(pri or {})
    n, p = X.shape
    off = np.zeros(n) if offset is None else offset
    beta = z[:p]
    sds = np.where(np.arange(p) == icpt, P["intercept_sd"], P["beta_sd"])
    lp = -0.5 * np.sum((beta / sds) ** 2)
    Xe = X.copy()
    k0 = p
    blocks = []
    taken = set()      # hierarchical centring: a centred coefficient with a matching X column
    for k, (codes, Z, corr) in enumerate(terms):
        q = Z.shape[1]
        J = codes.max() + 1
        ls = z[k0:k0 + q]; k0 += q
        s = np.exp(ls)
        lp += np.sum(_half(s, P["sd_scale"], P["sd_df"]) + ls)
        if corr and q > 1:
            nc = q * (q - 1) // 2
            L, lpl = _stan_cholesky_lp(z[k0:k0 + nc], q, P["lkj_eta"]); k0 += nc
            lp += lpl
        else:
            L = np.eye(q)
        zz = z[k0:k0 + J * q].reshape(J, q); k0 += J * q
        if centered is not None and centered[k]:
            b = zz.copy()          # centred: beta_f + b_j, b_j ~ N(0, D L L' D)
            for c in range(q):
                f = next((f for f in range(p) if f not in taken
                          and np.array_equal(Z[:, c], X[:, f])), None)
                if f is not None:
                    taken.add(f)
                    b[:, c] -= beta[f]
            Sig = (s[:, None] * L) @ (s[:, None] * L).T
            lp += np.sum(stats.multivariate_normal(np.zeros(q), Sig).logpdf(b))
        else:
            lp -= 0.5 * np.sum(zz ** 2)
            b = (zz @ L.T) * s
        blocks.append(np.sum(Z * b[codes], axis=1))
    k = k0
    if family in ("gaussian", "student-t"):
        sig = np.exp(z[k]); lp += _half(sig, P["sigma_scale"], 0) + z[k]; k += 1
        if family == "student-t" and nu is None:
            nu_ = np.exp(z[k]); lp += stats.gamma.logpdf(nu_, P["nu_shape"], scale=1 / P["nu_rate"]) + z[k]; k += 1
        else:
            nu_ = nu
    elif family == "group-sd":
        s0, ts = np.exp(z[k]), np.exp(z[k + 1])
        lp += _half(s0, P["sigma_scale"], 0) + z[k] + _half(ts, P["tau_s_scale"], 0) + z[k + 1]
        H = hg.max() + 1
        wv = z[k + 2:k + 2 + H]; k += 2 + H
        lp -= 0.5 * wv @ wv
        sg = s0 * np.exp(ts * wv)
    if lc is not None:
        mux, sx = z[k], np.exp(z[k + 1])
        lp += -0.5 * ((mux - W.mean()) / P["mu_x_sd"]) ** 2 + _half(sx, P["sigma_x_scale"], 0) + z[k + 1]
        if marg:
            # (W_i, y_i) bivariate normal with x_i integrated out
            Xe[:, lc] = 0.0
            eta0 = off + Xe @ beta + sum(blocks)
            g = beta[lc]
            s2 = sig ** 2 if family == "gaussian" else sg[hg] ** 2
            cov = np.empty((n, 2, 2))
            cov[:, 0, 0] = sx ** 2 + su ** 2
            cov[:, 0, 1] = cov[:, 1, 0] = g * sx ** 2
            cov[:, 1, 1] = g * g * sx ** 2 + s2
            mean = np.column_stack([np.full(n, mux), eta0 + g * mux])
            lp += sum(stats.multivariate_normal(mean[i], cov[i]).logpdf([W[i], y[i]])
                      for i in range(n))
            return lp
        u = z[k + 2:k + 2 + n]
        xi = W + su * u
        lp += np.sum(stats.norm.logpdf(xi, mux, sx)) - 0.5 * u @ u
        Xe[:, lc] = xi
    eta = off + Xe @ beta + sum(blocks)
    if family == "gaussian":
        lp += np.sum(stats.norm.logpdf(y, eta, sig))
    elif family == "student-t":
        lp += np.sum(stats.t.logpdf(y, nu_, eta, sig))
    elif family == "group-sd":
        lp += np.sum(stats.norm.logpdf(y, eta, sg[hg]))
    elif family == "binomial":
        lp += np.sum(y * eta - trials * np.logaddexp(0, eta))
    else:
        lp += np.sum(y * eta - np.exp(eta))
    return lp


def _problem(rng, family, latent=False):
    n = 60
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    X = np.column_stack([np.ones(n), x1, x2])
    a = rng.integers(0, 5, n); a[:5] = np.arange(5)
    b = rng.integers(0, 4, n); b[:4] = np.arange(4)
    terms = [(a, X, True), (b, X[:, :1], True), (a, X[:, 1:2], False)]
    kw = {}
    if family in ("gaussian", "student-t", "group-sd"):
        y = rng.standard_t(4, n)
    elif family == "binomial":
        kw["trials"] = rng.integers(1, 6, n).astype(float)
        y = rng.binomial(kw["trials"].astype(int), 0.4).astype(float)
    else:
        y = rng.poisson(2.0, n).astype(float)
        kw["offset"] = rng.normal(0, 0.2, n)
    if family == "group-sd":
        kw["sd_groups"] = b
    if latent:
        kw["latent_col"] = 2
        kw["error_sd"] = rng.uniform(0.2, 0.5, n)
    return y, X, terms, kw


CASES = [("gaussian", {}), ("gaussian", {"centered": [True, False, True]}),
         ("binomial", {"centered": [True, True, False]}), ("student-t", {}), ("student-t", {"nu": 5.0}), ("group-sd", {}),
         ("binomial", {}), ("poisson", {}), ("gaussian", {"latent": True}),
         ("gaussian", {"latent": True, "marginalize": False}), ("group-sd", {"latent": True}),
         ("poisson", {"latent": True})]


@pytest.mark.parametrize("family,opts", CASES)
def test_compiled_density_matches_twin_and_finite_differences(family, opts):
    rng = np.random.default_rng(abs(hash(family)) % 1000 + len(opts))
    opts = dict(opts)
    latent = opts.pop("latent", False)
    y, X, terms, kw = _problem(rng, family, latent)
    kw.update(opts)
    pri = {"sd_df": 3.0, "lkj_eta": 1.5} if family == "gaussian" and not latent else None
    cent = kw.get("centered")
    m = MixedModel(y, X, terms, family, intercept_col=0, priors=pri, **kw)
    tw = dict(trials=kw.get("trials"), offset=kw.get("offset"), nu=kw.get("nu"),
              hg=kw.get("sd_groups"), W=X[:, 2] if latent else None, su=kw.get("error_sd"),
              lc=2 if latent else None, icpt=0, pri=pri, centered=cent,
              marg=latent and m.marginalize)
    diffs = []
    for _ in range(3):
        z = rng.normal(0, 0.6, m.dim)
        lp, g = m.logp_grad(z)
        lp2, _ = m.logp_grad(z + 0.1)
        # densities agree up to one additive constant (normalising terms the kernel drops)
        diffs.append(lp - twin(m, y, X, terms, z, family, **tw))
        diffs.append(lp2 - twin(m, y, X, terms, z + 0.1, family, **tw))
        h = 1e-6
        num = np.array([(m.logp_grad(z + h * e)[0] - m.logp_grad(z - h * e)[0]) / (2 * h)
                        for e in np.eye(m.dim)])
        assert_allclose(g, num, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(g).max()))
    assert np.ptp(diffs) < 1e-8 * max(1.0, abs(diffs[0]))


def test_cpc_transform_gives_a_correlation_cholesky_factor():
    rng = np.random.default_rng(0)
    L = cpc_to_cholesky(rng.normal(0, 2, (50, 6)), 4)
    R = L @ np.swapaxes(L, -1, -2)
    assert_allclose(np.diagonal(R, axis1=-2, axis2=-1), 1.0, atol=1e-14)
    assert np.all(np.linalg.eigvalsh(R) > 0)


@pytest.mark.parametrize("eta", [1.0, 2.0])
def test_lkj_density_gives_beta_marginal_correlation(eta):
    # K = 3: the kernel's CPC density (prior only) sampled by NUTS; each correlation's
    # marginal is (r+1)/2 ~ Beta(eta - 1 + K/2, same) (Lewandowski et al. 2009, sec. 3.2).
    # The CPC part of the twin is sampled through a Python density; it equals the kernel's
    # term up to a constant by the twin test above.
    from deconv.sampling import nuts
    K = 3

    @np.errstate(all="ignore")   # far warm-up proposals reach |r| = 1: rejected as divergent
    def lp(yv):
        _, v = _stan_cholesky_lp(yv, K, eta)
        h = 1e-6
        g = np.array([(_stan_cholesky_lp(yv + h * e, K, eta)[1] -
                       _stan_cholesky_lp(yv - h * e, K, eta)[1]) / (2 * h) for e in np.eye(3)])
        return v, g

    post = nuts(lp, init=np.zeros(3), chains=2, warmup=300, draws=1500, rng=1, warn=False)
    Ls = cpc_to_cholesky(post.draws.reshape(-1, 3), K)
    r = (Ls @ np.swapaxes(Ls, -1, -2))[:, [1, 2, 2], [0, 0, 1]]
    a = eta - 1 + K / 2
    for j in range(3):
        # KS distance; draws are autocorrelated, so a loose bound (ESS ~ 1000 -> ~0.05)
        assert stats.kstest((r[:, j] + 1) / 2, stats.beta(a, a).cdf).statistic < 0.06


def test_bad_input_is_rejected_naming_the_argument():
    rng = np.random.default_rng(5)
    y, X, terms, _ = _problem(rng, "gaussian")
    with pytest.raises(ValueError, match="family"):
        MixedModel(y, X, terms, "gamma")
    with pytest.raises(ValueError, match="rows"):
        MixedModel(y, X[:-1], terms)
    with pytest.raises(ValueError, match="codes"):
        MixedModel(y, X, [(terms[0][0][:-1], terms[0][1], True)])
    with pytest.raises(ValueError, match="every level"):
        MixedModel(y, X, [(terms[0][0] * 2, terms[0][1], True)])
    with pytest.raises(TypeError, match="tuple"):
        MixedModel(y, X, [terms[0][0]])
    with pytest.raises(ValueError, match="sd_groups"):
        MixedModel(y, X, terms, "group-sd")
    with pytest.raises(ValueError, match="error_sd"):
        MixedModel(y, X, terms, latent_col=2)
    with pytest.raises(ValueError, match="error_sd"):
        MixedModel(y, X, terms, latent_col=2, error_sd=-1.0)
    with pytest.raises(ValueError, match="marginalize"):
        MixedModel(np.round(np.abs(y)), X, terms, "poisson", latent_col=2, error_sd=0.3,
                   marginalize=True)
    with pytest.raises(ValueError, match="counts"):
        MixedModel(y, X, terms, "poisson")
    with pytest.raises(ValueError, match="trials"):
        MixedModel(np.ones_like(y) * 3, X, terms, "binomial", trials=np.ones_like(y))
    with pytest.raises(ValueError, match="priors"):
        MixedModel(y, X, terms, priors={"beta_sd": np.nan})
    with pytest.raises(ValueError, match="nu"):
        MixedModel(y, X, terms, "student-t", nu=-1)
    with pytest.raises(ValueError, match="centered"):
        MixedModel(y, X, terms, centered=[True, False])
    Xn = X.copy()
    Xn[0, 1] = np.nan
    with pytest.raises(ValueError, match="X"):
        MixedModel(y, Xn, terms)


def test_parallel_chains_match_sequential_and_inputs_are_not_mutated():
    from deconv.sampling import nuts
    rng = np.random.default_rng(6)
    y, X, terms, kw = _problem(rng, "poisson")
    X0, y0 = X.copy(), y.copy()
    m = MixedModel(y, X, terms, "poisson", **kw)
    a = nuts(m, chains=2, warmup=100, draws=50, rng=3, warn=False)
    b = nuts(m, chains=2, warmup=100, draws=50, rng=3, warn=False, parallel=True)
    assert np.array_equal(a.draws, b.draws)
    assert np.array_equal(X, X0) and np.array_equal(y, y0)


def test_docstring_example():
    import doctest

    import deconv.sampling.mixed_model as mod
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0 and res.attempted > 0
