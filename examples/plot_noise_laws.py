"""
Measurement-error laws with the same standard deviation
========================================================

Five error laws from :mod:`deconv.noise`, all with sd = 1: their densities and their
characteristic functions. Deconvolution divides by :math:`\\varphi_U`, so how fast it decays
(super-smooth normal vs ordinary-smooth Laplace) sets how hard the problem is; the uniform's
zeros and the gamma's complex phase are the awkward cases.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from deconv import noise

laws = [noise.Normal(sd=1), noise.Laplace(sd=1), noise.Uniform(sd=1),
        noise.StudentT(4, sd=1), noise.Gamma(2.0, sd=1)]
x = np.linspace(-4, 4, 801)
t = np.linspace(0, 6, 601)

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for law in laws:
    ax1.plot(x, law.pdf(x), label=f"{law.name}")
    ax2.plot(t, np.abs(law.cf(t)), label=f"{law.name}")
ax1.set(title="densities, all with sd = 1", xlabel="u")
ax2.set(title=r"$|\varphi_U(t)|$", xlabel="t", yscale="log", ylim=(1e-6, 1.5))
ax1.legend()
fig.tight_layout()
fig.savefig("plot_noise_laws.png", dpi=100)
print("Laplace(scale=1).sd =", noise.Laplace(scale=1).sd, "(sd = b * sqrt 2)")
