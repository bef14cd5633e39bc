"""
Eight schools: the mode says tau = 0, the posterior says otherwise
===================================================================

Eight schools ran a coaching programme; each reports an estimated effect ``y_j`` with a known
standard error ``sigma_j`` (Rubin 1981). The hierarchical model lets the schools share
strength through the between-school scale ``tau``:

    y_j ~ N(theta_j, sigma_j^2),  theta_j ~ N(mu, tau^2),  mu ~ N(0, 5^2),  tau ~ half-Cauchy(0, 5).

The type-II maximum likelihood (the mode of the marginal likelihood of ``(mu, tau)``) is
``tau = 0`` exactly: read literally, "all schools have the same effect". The posterior
*expectation* of ``tau`` is about 3.6 with a long right tail: the data cannot rule out sizeable
differences. This is why deconv's sampler reports expectations and intervals, not modes.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import deconv as dc  # noqa: E402
from deconv.datasets.sampling import eight_schools  # noqa: E402

data = eight_schools()
y, sigma = data["y"], data["sigma"]


# %%
# The mode: maximise the marginal likelihood y_j ~ N(mu, sigma_j^2 + tau^2) over tau >= 0.
def marginal_loglik(x):
    mu, tau = x
    v = sigma ** 2 + tau ** 2
    r = y - mu
    lp = -0.5 * np.sum(np.log(v)) - 0.5 * np.sum(r ** 2 / v)
    return lp, np.array([np.sum(r / v), np.sum(-tau / v + r ** 2 * tau / v ** 2)])


mode = dc.sampling.find_map(marginal_loglik, [0.0, 5.0], constraints=[None, "positive"],
                            names=["mu", "tau"])
print(mode.summary())

# %%
# The posterior: NUTS on the compiled non-centred model (4 chains x 1000 draws).
model = dc.sampling.models.EightSchools(y, sigma)
post = dc.sampling.nuts(model, chains=4, warmup=1000, draws=1000, rng=1)
print(post.summary(names=["mu", "tau", "theta"]))
tau = post["tau"]
print(f"posterior mean of tau: {tau.mean():.2f} "
      f"(MCSE {dc.sampling.mcse_mean(tau):.2f}); mode: {mode['tau']:.2f}")

# %%
# The centred parameterisation of the same model diverges in the funnel near tau = 0; the
# sampler says so (SamplingWarning) and marks where it happened.
import warnings  # noqa: E402

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    centred = dc.sampling.nuts(dc.sampling.models.EightSchools(y, sigma, centered=True), rng=1)
print(f"centred: {centred.n_divergent} divergences; warnings: "
      f"{[str(w.message)[:40] for w in caught]}")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
ax = axes[0]
ax.hist(tau.ravel(), bins=80, range=(0, 25), density=True, color="C0", alpha=0.7)
ax.axvline(tau.mean(), color="C0", lw=2, label=f"posterior mean {tau.mean():.1f}")
ax.axvline(mode["tau"], color="C3", lw=2, ls="--", label="type-II ML mode 0")
ax.set_xlabel("tau")
ax.set_title("between-school sd")
ax.legend()
ax = axes[1]
th = post["theta"]
lo, hi = np.quantile(th, [0.05, 0.95], axis=(0, 1))
ax.errorbar(np.arange(8), th.mean(axis=(0, 1)), yerr=[th.mean(axis=(0, 1)) - lo, hi - th.mean(axis=(0, 1))],
            fmt="o", label="posterior mean, 90% interval")
ax.plot(np.arange(8), y, "kx", label="raw estimate y_j")
ax.axhline(mode["mu"], color="C3", ls="--", label="complete pooling (tau = 0)")
ax.set_xticks(range(8), list(data["school"]))
ax.set_title("school effects: partial pooling")
ax.legend(fontsize=7)
centred.plot_pair("theta[0]", "tau", ax=axes[2])
axes[2].set_yscale("log")
axes[2].set_title("centred model: divergences (red) in the funnel")
fig.tight_layout()
fig.savefig("plot_sampling_eight_schools.png", dpi=90)
