"""
Deblurring an image with real edges, and a 1-D LIDAR-like signal
================================================================

A 9x9 box blur and noise at a blurred-SNR of 40 dB: the classic image-restoration test
(Neelamani et al. 2004), on a crop of a larger scene so that the borders are *not*
periodic -- the case where FFT deconvolution usually rings. Every method picks its own
regularisation from the data; the noise level is estimated from the image. Below it,
WaveD and ForWaRD on a 1-D LIDAR-like signal with a one-sided gamma blur.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import deconv.signal as ds  # noqa: E402
from deconv.signal import testsignals as ts  # noqa: E402

rng = np.random.default_rng(0)

# %%
# A scene larger than the frame, blurred, then cropped: the frame's edges are real edges.
scene = 255 * ts.piecewise_smooth_image(256)
h = ts.boxcar_kernel(9, ndim=2)
x = scene[32:224, 32:224]
blurred = ds.blur(scene, h, boundary="reflect")[32:224, 32:224]
sigma = ds.metrics.sigma_for_bsnr(blurred, 40)
y = blurred + sigma * rng.standard_normal(x.shape)
print(f"true noise sd {sigma:.3f}, estimated {ds.estimate_noise(y):.3f}")

results = {
    "Wiener-Hunt (GCV)": ds.wiener(y, h),
    "ForWaRD": ds.forward(y, h),
    "TV (discrepancy)": ds.tv(y, h),
    "Wiener, periodic edges": ds.wiener(y, h, boundary="periodic"),
}
for name, res in results.items():
    print(f"{name:<24s} ISNR {ds.metrics.isnr(x, y, res):6.2f} dB  "
          f"regularisation {res.regularization:.3g}")
print(results["ForWaRD"].summary())

# %%
# 1-D: WaveD and ForWaRD on a LIDAR-like profile with a gamma blur.
n = 2048
s1 = ts.lidar(n)
g = ts.gamma_kernel(1.0, 8.0)
b1 = ds.blur(s1, g)
y1 = b1 + ds.metrics.sigma_for_bsnr(b1, 25) * rng.standard_normal(n)
w1 = ds.waved(y1, g)
f1 = ds.forward(y1, g, boundary="periodic")

fig = plt.figure(figsize=(12, 7.5))
axes = [fig.add_subplot(2, 4, i + 1) for i in range(4)]
axes[0].imshow(y, cmap="gray")
axes[0].set_title("observed")
for ax, (name, res) in zip(axes[1:], list(results.items())[:3]):
    res.plot(ax=ax)
    ax.set_title(f"{name}\nISNR {ds.metrics.isnr(x, y, res):.1f} dB")
for ax in axes:
    ax.set_axis_off()
ax1 = fig.add_subplot(2, 1, 2)
t = np.arange(1, n + 1) / n
ax1.plot(t, y1, color="0.75", lw=0.5, label="observed")
ax1.plot(t, s1, color="k", lw=1, label="truth")
ax1.plot(t, w1.x, lw=1, label=f"WaveD ({ds.metrics.isnr(s1, y1, w1):.1f} dB)")
ax1.plot(t, f1.x, lw=1, label=f"ForWaRD ({ds.metrics.isnr(s1, y1, f1):.1f} dB)")
ax1.legend(loc="upper left", fontsize="small")
ax1.set_xlabel("t")
fig.tight_layout()
fig.savefig("plot_signal_deconvolution.png", dpi=80)
