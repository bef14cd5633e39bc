"""
Bayesian errors-in-variables regression: the latent-X structural model by NUTS
==============================================================================

A covariate :math:`X` is measured with error, :math:`W = X + U` with known error sd 1.5
(reliability 0.64). Ordinary least squares of :math:`y` on :math:`W` is attenuated toward 0;
:func:`deconv.eiv.bayesian.bayes` samples the structural model (latent :math:`X_i` integrated
out analytically) and returns an errors-in-variables result -- posterior means, posterior sds,
credible intervals -- whose slope agrees with the method-of-moments correction
:func:`deconv.eiv.moments`, plus :math:`E[X_i \\mid \\text{data}]` for every unit.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import deconv.eiv as eiv
from deconv.eiv.bayesian import bayes

rng = np.random.default_rng(3)
n = 300
x = rng.normal(10.0, 2.0, n)
w = x + rng.normal(0.0, 1.5, n)
y = 3.0 + 0.5 * x + rng.normal(0.0, 0.5, n)

res = bayes(w, y, error_sd=1.5, rng=4, warn=False)
mom = eiv.moments(w, y, error_sd=1.5)
print(res.summary())
print(f"slope: truth 0.5, naive OLS {res.naive_params[1]:.4f}, moments {mom.params[1]:.4f} "
      f"(se {mom.bse[1]:.4f}), Bayes {res.params[1]:.4f} (post. sd {res.bse[1]:.4f})")

fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
res.plot(ax=axes[0])
axes[0].set_title("data, naive and posterior-mean lines")
ax = axes[1]
ax.hist(res.posterior["w"].ravel(), bins=60, density=True, color="C0", alpha=0.5,
        label="posterior of the slope")
ax.axvline(0.5, color="k", lw=1.5, label="truth")
ax.axvline(res.naive_params[1], color="0.4", ls="--", label="naive OLS")
ax.axvline(mom.params[1], color="C3", ls=":", lw=2, label="method of moments")
ax.set_xlabel("slope")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("plot_hierarchical_bayes_eiv.png", dpi=100)
