"""
Hierarchical models, full Bayes: eight schools and sleepstudy through the sampler
=================================================================================

The REML estimate of the between-school sd of the eight-schools data is exactly 0 -- a
degenerate mode that shrinks every school fully to the common mean. The posterior
expectation is not 0. :func:`deconv.hierarchical.bayes.normal_means_bayes` samples the
non-centred model with NUTS and returns the same :class:`HierarchicalResult` as the exact
solvers, labelled as posterior means and credible intervals; with a flat prior on mu its
answer is checked against the exact one-dimensional quadrature of
:func:`deconv.hierarchical.normal_means` (``method="bayes"``).

Right panel: a random intercept and slope model for sleepstudy, sampler vs REML.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import deconv.hierarchical as hm
from deconv.datasets.hierarchical import load_eight_schools, load_sleepstudy
from deconv.hierarchical.bayes import lmm_bayes, normal_means_bayes

es = load_eight_schools()
reml = hm.normal_means(es["y"], es["se"], method="reml")
exact = hm.normal_means(es["y"], es["se"], method="bayes", tau_prior=("half-cauchy", 5.0))
bayes = normal_means_bayes(es["y"], es["se"], mu_prior_sd=None, tau_prior_scale=5.0,
                           names=list(es["school"]), rng=1, warn=False)
print(bayes.summary())
vc = bayes.variance_components
print(f"tau: REML {reml.variance_components.estimate[0]:.3f}, exact posterior mean "
      f"{exact.variance_components.estimate[0]:.3f}, sampler {vc.estimate[0]:.3f} "
      f"(MCSE {vc.extra['mcse'][0]:.3f})")

sleep = load_sleepstudy()
post_lmm = lmm_bayes(sleep["Reaction"], sleep["Days"], sleep["Subject"], random_slopes=True,
                     rng=2, warn=False)
reml_lmm = hm.lmm("Reaction ~ Days + (Days || Subject)", sleep)

fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
ax = axes[0]
tau_draws = bayes.posterior["tau"].ravel()
ax.hist(tau_draws, bins=80, range=(0, 25), density=True, color="C0", alpha=0.5,
        label="NUTS draws")
grid, wts = exact.posterior["tau_grid"], exact.posterior["tau_weights"]
dens = wts / np.gradient(grid)
ax.plot(grid, dens, color="k", lw=1.2, label="exact (quadrature)")
ax.axvline(0, color="C3", lw=2, label="REML mode (0)")
ax.axvline(vc.estimate[0], color="C0", ls="--", label=f"posterior mean {vc.estimate[0]:.2f}")
ax.set_xlim(0, 25)
ax.set_xlabel("tau (between-school sd)")
ax.set_title("eight schools: p(tau | y)")
ax.legend(fontsize=8)
bayes.plot(ax=axes[1])
ax = axes[2]
ge = post_lmm.group_effects["Subject"]
slopes_b = ge.estimate[1::2]
slopes_r = reml_lmm.group_effects["Subject.1"].estimate
ax.errorbar(slopes_r, slopes_b, yerr=[slopes_b - ge.lower[1::2], ge.upper[1::2] - slopes_b],
            fmt="o", ms=3, color="C0", label="subject slope deviations (95% CrI)")
lim = [slopes_r.min() - 2, slopes_r.max() + 2]
ax.plot(lim, lim, color="0.5", ls="--", lw=0.8)
ax.set_xlabel("REML conditional mode")
ax.set_ylabel("posterior mean (NUTS)")
ax.set_title("sleepstudy: (Days || Subject)")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("plot_hierarchical_bayes_eight_schools.png", dpi=100)
