"""
Empirical-Bayes shrinkage of many noisy estimates
=================================================

Ten thousand units, each measured with its own standard error; 80% of the true effects
are exactly zero, the rest spread out. We estimate the prior three ways -- the
nonparametric MLE (certified solver), Efron's g-modeling and the normal-normal conjugate
model -- and compare the shrinkage and the compound error with the oracle Bayes rule.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import deconv as dc  # noqa: E402

rng = np.random.default_rng(2026)
n = 10_000
theta = np.where(rng.random(n) < 0.8, 0.0, rng.normal(2.0, 1.5, n))
se = rng.uniform(0.5, 1.5, n)
z = theta + se * rng.normal(size=n)

npmle = dc.eb.NPMLE().fit(z, se=se)
gmod = dc.eb.GModel(df=6, penalty=1.0).fit(z, se=se)
conj = dc.eb.Conjugate().fit(z, se=se)
print(npmle.summary())

for name, est in [("raw z", z), ("conjugate (James-Stein/Morris)", conj.posterior_mean()),
                  ("g-modeling", gmod.posterior_mean()), ("NPMLE", npmle.posterior_mean())]:
    print(f"{name:32s} compound MSE {np.mean((est - theta) ** 2):.4f}")

lfdr = npmle.lfdr(null=0.0)
print(f"units with lfdr < 0.05: {np.sum(lfdr < 0.05)}, of which truly null: "
      f"{np.sum((lfdr < 0.05) & (theta == 0))}")

fig, axes = plt.subplots(1, 3, figsize=(14, 4))
npmle.plot(ax=axes[0])
gmod.prior_.plot(ax=axes[1], kind="density")
axes[1].set_title("g-modeling prior (+/- 2 delta-method SE)")
order = np.argsort(z)
axes[2].plot(z, npmle.posterior_mean(), ".", ms=1, alpha=0.4, label="NPMLE")
axes[2].plot(z[order], conj.posterior_mean()[order], ".", ms=1, alpha=0.4, label="conjugate")
axes[2].plot([z.min(), z.max()], [z.min(), z.max()], "k--", lw=0.8)
axes[2].set_xlabel("z")
axes[2].set_ylabel("posterior mean")
axes[2].legend(markerscale=8)
axes[2].set_title("shrinkage")
fig.tight_layout()
fig.savefig("plot_eb_shrinkage.png", dpi=100)
