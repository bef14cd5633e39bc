"""
Errors-in-variables regression: attenuation and three ways to undo it
======================================================================

A logistic dose-response where the exposure is measured with error (``W = X + U``,
error sd 0.5, reliability 0.8). The naive fit is attenuated toward zero. We describe the
measurement error once and correct it with SIMEX (Cook & Stefanski 1994) and regression
calibration, and show SIMEX's extrapolation curve. A third panel fits a straight line
with per-point errors in both variables (York et al. 2004) to Pearson's (1901) data with
York's weights.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import deconv as dc  # noqa: E402

from deconv.datasets.eiv import make_eiv_regression, pearson_york  # noqa: E402

# true exposure x ~ N(0, 1); we only see w = x + u with sd(u) = 0.5
data = make_eiv_regression(5000, family="logistic", beta=(-0.5, 1.0), error_sd=0.5, rng=7)
w, y = data["w"], data["y"]

err = dc.eiv.MeasurementError(sd=0.5)            # one description, every method
sim = dc.eiv.simex(w, y, family="logistic", error=err, extrapolant="nonlinear",
                   variance="sandwich", rng=1)
rc = dc.eiv.regression_calibration(w, y, family="logistic", error=err, n_boot=100, rng=2)
print(sim.summary())
print(rc.summary())

fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
sim.plot(ax=axes[0], param="w")
axes[0].axhline(1.0, color="k", lw=0.8, ls=":", label="truth")
axes[0].legend(loc="best")
axes[0].set_title("SIMEX extrapolation of the logistic slope")

names = ["naive", "SIMEX", "regression calibration"]
est = [sim.naive_params[1], sim.params[1], rc.params[1]]
se = [sim.naive_bse[1], sim.bse[1], rc.bse[1]]
axes[1].errorbar(est, range(3), xerr=1.96 * np.array(se), fmt="o", capsize=4)
axes[1].axvline(1.0, color="k", ls=":", label="truth")
axes[1].set_yticks(range(3))
axes[1].set_yticklabels(names)
axes[1].set_xlabel("slope of the true exposure (95% interval)")
axes[1].legend(loc="best")
axes[1].set_title("Naive vs corrected")

# Pearson (1901) data with York's (1966) weights (York et al. 2004, Table I)
py_data = pearson_york()
yk = dc.eiv.york(py_data["x"], py_data["y"], py_data["sx"], py_data["sy"])
yk.plot(ax=axes[2])
axes[2].set_title(f"York fit, MSWD = {yk.mswd:.3f}")
fig.tight_layout()
fig.savefig("plot_eiv_simex.png", dpi=100)
