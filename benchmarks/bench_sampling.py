"""Benchmark of deconv.sampling: ESS per gradient and ESS per second on one core.

Models (4 chains x (1000 warm-up + 1000 draws), several seeds):
  * eight schools, non-centred (compiled path, both metric adaptations; Python path)
  * radon-like random-intercept regression, 919 observations in 85 groups (compiled path)
Baseline in the same process: NumPyro's NUTS (JAX, CPU, sequential chains) when installed.

Anchors from the issue (same kind of machine): Stan 60-72 bulk-ESS per 1000 post-warm-up
gradients on eight schools non-centred in ~0.13 s; nutpie 84-100; NumPyro 6-20 s wall.

Run:  python benchmarks/bench_sampling.py [--quick]
"""
import argparse
import time
import warnings

import numpy as np

import deconv as dc
from deconv.datasets.sampling import eight_schools, radon_like
from deconv.sampling.models import EightSchools, HierarchicalLinear


def _measure(run, seeds):
    rows = []
    for s in seeds:
        t = time.perf_counter()
        post = run(s)
        wall = time.perf_counter() - t
        eb = post.ess_bulk()
        # only sampled parameters (derived theta are functions of them) enter the minimum
        rows.append(dict(wall=wall, cpu=post.info.get("cpu_seconds", wall), ess=np.nanmin(eb),
                         grads=post.n_gradients(), warm=post.warmup["n_leapfrog"].sum(),
                         div=post.n_divergent))
    a = {k: np.array([r[k] for r in rows], dtype=float) for k in rows[0]}
    return a


def _report(name, a):
    per_grad = 1000 * a["ess"] / a["grads"]
    per_total = 1000 * a["ess"] / (a["grads"] + a["warm"])
    per_sec = a["ess"] / a["cpu"]
    print(f"{name:<40s} CPU {np.median(a['cpu']):6.3f} s (wall {np.median(a['wall']):6.3f})"
          f" | min bulk-ESS {np.median(a['ess']):5.0f}"
          f" | ESS/1000 grads {np.median(per_grad):5.1f} [{per_grad.min():.0f}-{per_grad.max():.0f}]"
          f" (incl. warm-up {np.median(per_total):4.1f})"
          f" | min-ESS/CPU-s {np.median(per_sec):7.0f} | div {int(a['div'].sum())}")
    return np.median(per_grad), np.median(per_sec), np.median(a["cpu"])


def _twin_eight_schools(y, sigma):
    # NumPy log density of the non-centred eight schools (same as the compiled model)
    def f(q):
        mu, lt, eta = q[0], q[1], q[2:]
        tau = np.exp(lt)
        r = (y - mu - tau * eta) / sigma ** 2
        u = tau * tau / 25
        lp = -mu ** 2 / 50 - np.log1p(u) + lt - 0.5 * eta @ eta - 0.5 * np.sum(r * r * sigma ** 2)
        g = np.empty_like(q)
        g[0] = -mu / 25 + r.sum()
        g[1] = -2 * u / (1 + u) + 1 + tau * (r @ eta)
        g[2:] = -eta + tau * r
        return lp, g
    return f


def numpyro_eight_schools(y, sigma, seed):
    import jax
    import numpyro
    numpyro.set_host_device_count(1)
    import numpyro.distributions as dist
    from numpyro.infer import MCMC, NUTS
    from numpyro.infer.reparam import TransformReparam
    jax.config.update("jax_platform_name", "cpu")

    def model(sigma, y=None):
        mu = numpyro.sample("mu", dist.Normal(0, 5))
        tau = numpyro.sample("tau", dist.HalfCauchy(5))
        with numpyro.plate("J", len(sigma)):
            with numpyro.handlers.reparam(config={"theta": TransformReparam()}):
                theta = numpyro.sample("theta", dist.TransformedDistribution(
                    dist.Normal(0.0, 1.0), dist.transforms.AffineTransform(mu, tau)))
            numpyro.sample("obs", dist.Normal(theta, sigma), obs=y)
    t, c = time.perf_counter(), time.process_time()
    mcmc = MCMC(NUTS(model), num_warmup=1000, num_samples=1000, num_chains=4,
                chain_method="sequential", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(seed), sigma, y=y, extra_fields=("num_steps",))
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    s = mcmc.get_samples(group_by_chain=True)
    x = np.concatenate([np.asarray(s["mu"])[..., None], np.log(np.asarray(s["tau"]))[..., None],
                        np.asarray(s["theta_base"])], axis=-1)
    ess = np.nanmin(dc.sampling.ess_bulk(x))
    grads = int(np.sum(mcmc.get_extra_fields()["num_steps"]))
    return wall, cpu, ess, grads


def main(quick=False):
    seeds = range(3) if quick else range(10)
    es = eight_schools()
    nc = EightSchools(es["y"], es["sigma"])
    results = {}
    print("== eight schools, non-centred, 4 x (1000 + 1000) ==")
    for metric in ("grad", "nutpie", "diag", "dense"):
        a = _measure(lambda s: dc.sampling.nuts(nc, rng=s, metric=metric, warn=False), seeds)
        results[("es", metric)] = _report(f"deconv compiled, metric={metric}", a)
    f = _twin_eight_schools(es["y"], es["sigma"])
    a = _measure(lambda s: dc.sampling.nuts(f, dim=10, rng=s, warn=False), list(seeds)[:2])
    results[("es", "python")] = _report("deconv Python path (NumPy callable)", a)

    print("== radon-like random intercepts (919 obs, 85 groups), 4 x (1000 + 1000) ==")
    r = radon_like(rng=0)
    rm = HierarchicalLinear(r["y"], r["x"], r["county"])
    for metric in ("grad", "nutpie", "diag"):
        a = _measure(lambda s: dc.sampling.nuts(rm, rng=s, metric=metric, warn=False),
                     list(seeds)[:5])
        results[("radon", metric)] = _report(f"deconv compiled, metric={metric}", a)

    try:
        import numpyro  # noqa: F401
    except ImportError:
        print("numpyro not installed: no peer baseline")
        return results
    print("== NumPyro NUTS (CPU, sequential chains, includes JIT compilation) ==")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = [numpyro_eight_schools(es["y"], es["sigma"], s) for s in list(seeds)[:2]]
    wall = np.median([r[0] for r in rows])
    cpu = np.median([r[1] for r in rows])
    ess = np.median([r[2] for r in rows])
    pg = np.median([1000 * r[2] / r[3] for r in rows])
    print(f"{'numpyro eight schools non-centred':<40s} CPU {cpu:6.3f} s (wall {wall:6.3f})"
          f" | min bulk-ESS {ess:5.0f} | ESS/1000 grads {pg:5.1f} | min-ESS/CPU-s {ess / cpu:7.0f}")
    ours = results[("es", "grad")]
    print(f"CPU-time speed-up of deconv over NumPyro: compiled {cpu / ours[2]:.0f}x, "
          f"Python path {cpu / results[('es', 'python')][2]:.1f}x")
    return results


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    main(p.parse_args().quick)
