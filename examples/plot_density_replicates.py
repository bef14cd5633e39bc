"""
Deconvolution with the error law estimated from replicates
===========================================================

Each individual is measured three to five times, W_jk = X_j + U_jk, and nobody tells us how
noisy the instrument is. Worse, the noise differs between individuals (sd 0.3 for some, 1.5
for others). deconv estimates the error law from the replicates, either one law for everyone
(homoscedastic) or one variance per individual, moderated toward the common value
(Smyth 2004), and deconvolves the individual means (Delaigle, Hall & Meister 2008;
Delaigle & Meister 2008).
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy import integrate, stats

from deconv.datasets import bimodal_demo
from deconv.density import DeconvolutionKDE, Replicates

rng = np.random.default_rng(100)
n = 500
_, x, truth, _ = bimodal_demo(n, rng=rng)
sd = rng.choice([0.3, 1.5], size=n)                 # each individual's own error sd
m = rng.integers(3, 6, size=n)                      # 3 to 5 replicates each
W = np.full((n, 5), np.nan)
for j in range(n):
    W[j, :m[j]] = x[j] + sd[j] * rng.standard_normal(m[j])

het = DeconvolutionKDE(noise=Replicates(heteroscedastic=True)).fit(W)
hom = DeconvolutionKDE(noise=Replicates()).fit(W)
means = np.nanmean(W, axis=1)
naive = stats.gaussian_kde(means)

grid = np.linspace(-4, 4.5, 800)
f = truth.pdf(grid)
ise = {name: integrate.trapezoid((g - f) ** 2, grid)
       for name, g in [("heteroscedastic replicates", het.pdf(grid)),
                       ("homoscedastic replicates", hom.pdf(grid)),
                       ("naive KDE of the means", naive(grid))]}

fig, ax = plt.subplots(figsize=(7, 4.2))
ax.plot(grid, f, "k--", label="true density of X")
for (name, value), g in zip(ise.items(), [het.pdf(grid), hom.pdf(grid), naive(grid)]):
    ax.plot(grid, g, label=f"{name} (ISE {value:.4f})")
ax.set(xlabel="x", ylabel="density", title="error law from 3-5 replicates, sd 0.3 or 1.5 per individual")
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig("plot_density_replicates.png", dpi=100)
for name, value in ise.items():
    print(f"{name:28s} ISE {value:.4f}")
