"""
Mixed models and the eight schools: exact fits, shrinkage, and a degenerate mode
===============================================================================

Two classic hierarchical data sets through one front door, ``deconv.hierarchical.fit``:

* ``sleepstudy`` (lme4): reaction time over 10 days of sleep deprivation for 18 subjects,
  with a correlated random intercept and slope per subject, fitted by REML exactly as
  lme4 does (profiled deviance). The caterpillar plot shows each subject's slope deviation
  with its conditional interval; the shrinkage plot shows how far each subject's own
  least-squares slope is pulled toward the population slope.
* Eight schools (Rubin 1981): REML puts the between-school sd at exactly 0 -- a degenerate
  mode that the summary flags -- while the exact posterior expectation of tau is clearly
  positive.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import deconv.hierarchical as hm  # noqa: E402
from deconv.datasets.hierarchical import load_eight_schools, load_sleepstudy  # noqa: E402

sleep = load_sleepstudy()
res = hm.fit("Reaction ~ Days + (Days | Subject)", data=sleep)
res.conf_int("profile")
print(res.summary())

schools = load_eight_schools()
names = list(schools["school"])
mode = hm.fit(schools["y"], se=schools["se"], names=names)          # REML: tau = 0, flagged
post = hm.fit(schools["y"], se=schools["se"], method="bayes", names=names,
              tau_prior=("half-cauchy", 5))                         # exact posterior
print(mode.summary())
print(post.summary())

fig, axes = plt.subplots(2, 2, figsize=(11, 9))
res.plot(ax=axes[0, 0], kind="caterpillar", coef="Days")
res.plot(ax=axes[0, 1], kind="shrinkage", coef="Days")
post.plot(ax=axes[1, 0], kind="shrinkage")
for nm, raw, est in zip(names, schools["y"], post.group_effects["group"].estimate):
    axes[1, 0].annotate(nm, (raw, est), textcoords="offset points", xytext=(4, 4), fontsize=8)
axes[1, 0].set_title("eight schools: posterior means vs raw estimates")
res.graph().draw(ax=axes[1, 1])
axes[1, 1].set_title("model graph: Reaction ~ Days + (Days | Subject)")
fig.tight_layout()
fig.savefig("plot_hierarchical_sleepstudy.png", dpi=90)
