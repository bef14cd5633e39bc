"""
Method comparison and a nonlinear calibration curve with errors in both variables
==================================================================================

Left: two laboratory methods measure the same 60 samples in duplicate. Ordinary least
squares of the test method on the reference method is biased (the reference is noisy
too); Deming regression takes the error-variance ratio from the duplicates, and
Passing-Bablok gives a robust, distribution-free line. A slope of 1 and intercept of 0 mean
the methods agree.

Right: an exponential calibration curve ``y = b0 exp(b1 x)`` where ``x`` carries a
per-point uncertainty, fitted by orthogonal distance regression.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import deconv as dc  # noqa: E402

rng = np.random.default_rng(11)
n = 60
conc = rng.uniform(2, 20, n)                                   # true concentrations
ref = conc[:, None] + rng.normal(0, 0.8, (n, 2))               # reference, duplicates
test = 0.3 + 1.05 * conc[:, None] + rng.normal(0, 0.5, (n, 2))  # test method, duplicates

dup = dc.eiv.MeasurementError(replicates=True)
dem = dc.eiv.deming(ref, test, x_error=dup, y_error=dup)       # delta from the duplicates
pb = dc.eiv.passing_bablok(ref.mean(1), test.mean(1))
ols = np.polyfit(ref.mean(1), test.mean(1), 1)
print(dem.summary())
print(pb.summary())

fig, axes = plt.subplots(1, 2, figsize=(12, 5))
ax = axes[0]
dem.plot(ax=ax)
xs = np.linspace(ref.mean(1).min(), ref.mean(1).max(), 50)
ax.plot(xs, pb.predict(xs), "--", color="C2", label=f"Passing-Bablok: slope {pb.slope:.3f}")
ax.plot(xs, np.polyval(ols, xs), ":", color="0.3", label=f"OLS: slope {ols[0]:.3f}")
ax.plot(xs, 0.3 + 1.05 * xs, color="k", lw=0.8, label="truth: 0.3 + 1.05 x")
ax.set_xlabel("reference method (mean of duplicates)")
ax.set_ylabel("test method (mean of duplicates)")
ax.legend(loc="upper left", fontsize=8)
ax.set_title("Method comparison")

xt = np.linspace(0, 4, 30)
sx = rng.uniform(0.02, 0.15, 30)                               # per-point x uncertainty
x = xt + rng.normal(0, sx)
y = 1.5 * np.exp(0.45 * xt) + rng.normal(0, 0.1, 30)
fit = dc.eiv.odr(lambda x, b: b[0] * np.exp(b[1] * x), x, y, [1.0, 0.3], sx=sx, sy=0.1,
                 scale_cov=False, param_names=["b0", "b1"])
print(fit.summary())
fit.plot(ax=axes[1])
axes[1].errorbar(x, y, xerr=sx, fmt="none", ecolor="C0", alpha=0.5)
axes[1].set_title(f"ODR: b0 = {fit.params[0]:.3f}, b1 = {fit.params[1]:.3f}")
fig.tight_layout()
fig.savefig("plot_eiv_method_comparison.png", dpi=100)
