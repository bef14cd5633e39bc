"""
Errors-in-variables regression with a latent true covariate
===========================================================

We want the slope of ``y`` on a covariate ``X`` that we only see through a noisy measurement
``W = X + U`` (known error sd 0.8, reliability about 0.6). Least squares on ``W`` is attenuated
towards zero. The structural model treats each true ``X_i`` as a parameter,

    X_i ~ N(mu_x, sigma_x^2),  W_i ~ N(X_i, 0.8^2),  y_i ~ N(alpha + beta X_i, sigma_y^2),

The compiled model integrates every ``X_i`` out analytically (``(W_i, y_i)`` is bivariate
normal given the parameters), so NUTS moves in 5 dimensions without the funnel between
``sigma_y`` and the latent ``X_i``; the ``X_i`` come back from their exact conditional. The
posterior of ``beta`` covers the true slope; the naive fit does not.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import deconv as dc  # noqa: E402

rng = np.random.default_rng(3)
n, beta_true = 150, 1.0
x_true = rng.normal(0.0, 1.0, n)
w = x_true + rng.normal(0.0, 0.8, n)
y = 0.5 + beta_true * x_true + rng.normal(0.0, 0.3, n)

naive = np.polyfit(w, y, 1)
model = dc.sampling.models.ErrorsInVariables(w, y, error_sd=0.8)
post = dc.sampling.nuts(model, chains=4, warmup=1000, draws=1000, rng=0)
print(post.summary(names=["alpha", "beta", "mu_x", "sigma_x", "sigma_y"]))
lo, hi = post.interval("beta", 0.9)
print(f"naive slope {naive[0]:.3f}; posterior mean {post.mean('beta'):.3f} "
      f"(90% interval {lo:.3f} to {hi:.3f}); truth {beta_true}")

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
ax = axes[0]
ax.plot(w, y, ".", color="0.6", label="observed (W, y)")
xs = post.mean("x_hat")   # E[X_i | data], Rao-Blackwellised over the draws
ax.plot(xs, y, ".", color="C0", ms=4, label="posterior mean of X_i")
grid = np.linspace(-3, 3, 2)
ax.plot(grid, np.polyval(naive, grid), "C3--", label=f"least squares on W: {naive[0]:.2f}")
ax.plot(grid, post.mean("alpha") + post.mean("beta") * grid, "C0",
        label=f"EIV posterior mean: {post.mean('beta'):.2f}")
ax.set_xlabel("covariate")
ax.set_ylabel("y")
ax.legend(fontsize=8)
ax = axes[1]
ax.hist(post["beta"].ravel(), bins=60, density=True, color="C0", alpha=0.7)
ax.axvline(beta_true, color="k", label="true slope")
ax.axvline(naive[0], color="C3", ls="--", label="naive slope")
ax.set_xlabel("beta")
ax.set_title("posterior of the slope")
ax.legend()
fig.tight_layout()
fig.savefig("plot_sampling_errors_in_variables.png", dpi=90)
