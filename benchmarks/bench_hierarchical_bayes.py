"""Speed of the hierarchical sampler routes: the compiled mixed model against the old Python
densities (same model, same priors, same sampler) and, when installed, NumPyro.

For each case: CPU seconds of 4 chains x (1000 warm-up + 1000 draws), seconds per 1000 kept
draws (all chains), minimum bulk ESS per CPU second and max R-hat. Run:

    python benchmarks/bench_hierarchical_bayes.py
"""
import time
import warnings

import numpy as np

from deconv.datasets.hierarchical import load_sleepstudy
from deconv.hierarchical.bayes import HeteroscedasticLMM, StudentTLMM, fit_sampler
from deconv.sampling import diagnostics as dg
from deconv.sampling import nuts

RUN = dict(chains=4, warmup=1000, draws=1000)


def _report(label, secs, draws, base=None):
    x = draws.reshape(draws.shape[0], draws.shape[1], -1)
    keep = np.ptp(x.reshape(-1, x.shape[2]), axis=0) > 0
    ess = np.nanmin(dg.ess_bulk(x[:, :, keep]))
    rh = np.nanmax(dg.rhat(x[:, :, keep]))
    per1000 = secs / (x.shape[0] * x.shape[1] / 1000)
    ratio = f"  ({base / secs:5.1f}x faster)" if base else ""
    print(f"  {label:<34s} {secs:7.2f} s  {per1000:6.3f} s/1000 draws  min ESS/s "
          f"{ess / secs:8.1f}  max R-hat {rh:.4f}{ratio}")
    return secs


def _cpu(f):
    t = time.process_time()
    out = f()
    return time.process_time() - t, out


def student_t_case():
    rng = np.random.default_rng(8)
    J, m = 12, 15
    g = np.repeat(np.arange(J), m)
    x = rng.normal(size=J * m)
    y = 1 + 2 * x + rng.normal(0, 1, J)[g] + rng.standard_t(3, J * m)
    ys, xs = (y - y.mean()) / y.std(ddof=1), x / x.std(ddof=1)
    print(f"Student-t residuals, random intercepts (n = {y.size}, {J} groups, nu sampled)")
    model = StudentTLMM(ys, np.column_stack([np.ones(y.size), xs]), g, J)
    t_py, post = _cpu(lambda: nuts(model, dim=model.dim, rng=1, warn=False, target_accept=0.9,
                                   **RUN))
    base = _report("old Python density (NUTS)", t_py, post.draws)
    t_c, res = _cpu(lambda: fit_sampler(y, X=np.column_stack([np.ones(y.size), x]), groups=g,
                                        residual="student-t", rng=1, warn=False, **RUN))
    _report("compiled mixed model", t_c, res.posterior.unconstrained, base)


def group_sd_case():
    rng = np.random.default_rng(9)
    J, m = 15, 20
    g = np.repeat(np.arange(J), m)
    x = rng.normal(size=J * m)
    sg = np.exp(np.log(0.7) + 0.5 * rng.normal(size=J))
    y = 1 + 2 * x + rng.normal(0, 1, J)[g] + rng.normal(0, sg[g])
    ys, xs = (y - y.mean()) / y.std(ddof=1), x / x.std(ddof=1)
    print(f"group-specific residual sds (n = {y.size}, {J} groups)")
    model = HeteroscedasticLMM(ys, np.column_stack([np.ones(y.size), xs]), g, J)
    t_py, post = _cpu(lambda: nuts(model, dim=model.dim, rng=1, warn=False, target_accept=0.9,
                                   **RUN))
    base = _report("old Python density (NUTS)", t_py, post.draws)
    t_c, res = _cpu(lambda: fit_sampler(y, X=np.column_stack([np.ones(y.size), x]), groups=g,
                                        group_variances=True, rng=1, warn=False, **RUN))
    _report("compiled mixed model", t_c, res.posterior.unconstrained, base)


def sleepstudy_case():
    d = load_sleepstudy()
    print("sleepstudy, Reaction ~ Days + (Days | Subject) (correlated, LKJ(2))")
    t_c, res = _cpu(lambda: fit_sampler("Reaction ~ Days + (Days | Subject)", d, rng=1,
                                        warn=False, **RUN))
    base = _report("compiled mixed model", t_c, res.posterior.unconstrained)
    try:
        import jax
        import numpyro
        import numpyro.distributions as dist
        from numpyro.infer import MCMC, NUTS
    except ImportError:
        print("  numpyro not installed: no peer timing")
        return
    jax.config.update("jax_platform_name", "cpu")
    y = d["Reaction"].to_numpy()
    x = d["Days"].to_numpy().astype(float)
    g = d["Subject"].astype("category").cat.codes.to_numpy()
    ys, xs = (y - y.mean()) / y.std(ddof=1), x / x.std(ddof=1)

    def model():
        beta = numpyro.sample("beta", dist.Normal(0, 10).expand([2]))
        tau = numpyro.sample("tau", dist.HalfNormal(5).expand([2]))
        L = numpyro.sample("L", dist.LKJCholesky(2, 2.0))
        z = numpyro.sample("z", dist.Normal(0, 1).expand([18, 2]))
        b = (tau[:, None] * (L @ z.T)).T
        sigma = numpyro.sample("sigma", dist.HalfNormal(5))
        mu = beta[0] + b[g, 0] + (beta[1] + b[g, 1]) * xs
        numpyro.sample("y", dist.Normal(mu, sigma), obs=ys)

    def run():
        mc = MCMC(NUTS(model, target_accept_prob=0.9), num_warmup=1000, num_samples=1000,
                  num_chains=4, chain_method="sequential", progress_bar=False)
        mc.run(jax.random.PRNGKey(1))
        return mc.get_samples(group_by_chain=True)

    t_n, smp = _cpu(run)
    flat = np.concatenate([np.asarray(smp["beta"]), np.asarray(smp["tau"]),
                           np.asarray(smp["sigma"])[..., None]], axis=-1)
    _report("numpyro (incl. JIT compile)", t_n, flat)
    print(f"  compiled mixed model is {t_n / base:.1f}x faster than numpyro")


if __name__ == "__main__":
    warnings.simplefilter("ignore")
    student_t_case()
    group_sd_case()
    sleepstudy_case()
