"""
Correlated random slopes by full Bayes: sleepstudy
===================================================

``Reaction ~ Days + (Days | Subject)`` sampled by NUTS on the compiled mixed-model density
(non-centred or centred per term, LKJ(2) prior on the intercept-slope correlation), next to
the REML fit of the same formula. The posterior of the correlation is wide: 18 subjects say
little about it, which the REML point estimate (0.07) hides.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import deconv.hierarchical as hm
from deconv.datasets.hierarchical import load_sleepstudy

data = load_sleepstudy()
formula = "Reaction ~ Days + (Days | Subject)"
bayes = hm.fit(formula, data, method="sampler", rng=1, chains=4, warmup=1000, draws=1000)
reml = hm.fit(formula, data)
print(bayes.summary())
print(reml.variance_components.names, np.round(reml.variance_components.estimate, 3))

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
# posterior of the correlation, with the REML estimate
r = bayes.posterior["Subject: cor((Intercept), Days)"].ravel()
axes[0].hist(r, bins=50, density=True, color="0.7")
axes[0].axvline(reml.variance_components["Subject: cor((Intercept), Days)"]["estimate"],
                color="C3", label="REML")
axes[0].axvline(r.mean(), color="C0", label="posterior mean")
axes[0].set_xlabel("correlation of subject intercepts and slopes")
axes[0].legend()
# subject slopes: posterior means and 95% intervals against the REML conditional modes
ge, gr = bayes.group_effects["Subject"], reml.group_effects["Subject"]
k = np.arange(1, len(ge), 2)                     # rows "<subject>: Days"
order = np.argsort(ge.estimate[k])
y = np.arange(k.size)
axes[1].errorbar(ge.estimate[k][order], y, xerr=[ge.estimate[k][order] - ge.lower[k][order],
                                                 ge.upper[k][order] - ge.estimate[k][order]],
                 fmt="o", ms=3, label="posterior mean, 95% CrI")
axes[1].plot(gr.estimate[k][order], y, "x", color="C3", label="REML conditional mode")
axes[1].set_yticks(y, [ge.names[i].split(":")[0] for i in k[order]])
axes[1].set_xlabel("subject deviation of the Days slope (ms/day)")
axes[1].legend(loc="lower right")
fig.tight_layout()
fig.savefig("plot_hierarchical_bayes_mixed.png", dpi=100)
