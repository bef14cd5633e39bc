"""Standard test signals and blur kernels.

Signals (sampled at ``t_i = i / n``, ``i = 1..n``, as in WaveLab's ``MakeSignal``):
Blocks, Bumps, HeaviSine and Doppler of Donoho & Johnstone (1994), Cusp, and a
LIDAR-like profile (flat returns, ramps and a spike, the kind of signal used to
illustrate WaveD). Kernels: box-car, Gaussian, gamma (one-sided, as in WaveD's
examples) and linear motion blur, each a small centred array summing to 1 whose
centre is index ``size // 2`` (the convention of :mod:`deconv.signal`).

References
----------
Donoho, D. L. & Johnstone, I. M. (1994). Ideal spatial adaptation by wavelet
shrinkage. *Biometrika* 81, 425-455.
"""
import numpy as np
from scipy import stats

from deconv._validation import check_choice, check_int, check_positive_scalar

__all__ = ["blocks", "bumps", "heavisine", "doppler", "cusp", "lidar", "make_signal",
           "boxcar_kernel", "gaussian_kernel", "gamma_kernel", "motion_kernel",
           "piecewise_smooth_image", "SIGNALS"]

_T = np.array([.1, .13, .15, .23, .25, .40, .44, .65, .76, .78, .81])


def _grid(n):
    n = check_int(n, "n", min_value=2)
    return np.arange(1, n + 1) / n


def blocks(n=2048):
    """Piecewise-constant Blocks signal (Donoho & Johnstone 1994)."""
    t = _grid(n)
    h = np.array([4, -5, 3, -4, 5, -4.2, 2.1, 4.3, -3.1, 2.1, -4.2])
    return np.sum(h[:, None] * (1 + np.sign(t[None, :] - _T[:, None])) / 2, axis=0)


def bumps(n=2048):
    """Bumps: sharp peaks of varying width (Donoho & Johnstone 1994)."""
    t = _grid(n)
    h = np.array([4, 5, 3, 4, 5, 4.2, 2.1, 4.3, 3.1, 5.1, 4.2])
    w = np.array([.005, .005, .006, .01, .01, .03, .01, .01, .005, .008, .005])
    return np.sum(h[:, None] * (1 + np.abs((t[None, :] - _T[:, None]) / w[:, None])) ** -4, axis=0)


def heavisine(n=2048):
    """HeaviSine: a sinusoid with two jumps (Donoho & Johnstone 1994)."""
    t = _grid(n)
    return 4 * np.sin(4 * np.pi * t) - np.sign(t - 0.3) - np.sign(0.72 - t)


def doppler(n=2048):
    """Doppler: a chirp whose frequency falls with t (Donoho & Johnstone 1994)."""
    t = _grid(n)
    return np.sqrt(t * (1 - t)) * np.sin(2 * np.pi * 1.05 / (t + 0.05))


def cusp(n=2048):
    """Cusp: sqrt|t - 0.37|, continuous with an infinite-slope point."""
    t = _grid(n)
    return np.sqrt(np.abs(t - 0.37))


def lidar(n=2048):
    """A LIDAR-like return profile: flat levels, linear ramps and a narrow spike.

    Shape in the spirit of the LIDAR example of WaveD (Johnstone et al. 2004); the exact
    breakpoints here are our own.
    """
    t = _grid(n)
    f = np.ones_like(t)
    f += 0.75 * ((t > 0.3) & (t <= 0.35))                       # a short block
    ramp = (t > 0.4) & (t <= 0.6)
    f += np.where(ramp, 0.5 + 0.5 * (t - 0.4) / 0.2, 0.0)     # rising ramp
    f += 1.7 * ((t > 0.6) & (t <= 0.65))                        # a hard return
    f += np.where((t > 0.7) & (t <= 0.9), 1.2 * (0.9 - t) / 0.2, 0.0)  # decay
    f += 2.0 * np.exp(-0.5 * ((t - 0.8) / 0.002) ** 2)          # a narrow spike
    return f


SIGNALS = {"blocks": blocks, "bumps": bumps, "heavisine": heavisine,
           "doppler": doppler, "cusp": cusp, "lidar": lidar}


def make_signal(name, n=2048):
    """One of ``SIGNALS`` by name (``"blocks"``, ``"bumps"``, ...)."""
    name = check_choice(name, "name", tuple(SIGNALS))
    return SIGNALS[name](n)


def _outer(k1, ndim):
    ndim = check_int(ndim, "ndim", min_value=1, max_value=8)
    k = k1
    for _ in range(ndim - 1):
        k = np.multiply.outer(k, k1)
    return k / k.sum()


def boxcar_kernel(width, ndim=1):
    """Uniform (box-car) blur of ``width`` samples along each of ``ndim`` axes."""
    width = check_int(width, "width", min_value=1)
    return _outer(np.ones(width), ndim)


def gaussian_kernel(sigma, ndim=1, truncate=4.0):
    """Sampled Gaussian of standard deviation ``sigma`` (samples), size ``2 ceil(truncate sigma) + 1``."""
    sigma = check_positive_scalar(sigma, "sigma")
    truncate = check_positive_scalar(truncate, "truncate")
    r = int(np.ceil(truncate * sigma))
    u = np.arange(-r, r + 1)
    return _outer(np.exp(-0.5 * (u / sigma) ** 2), ndim)


def gamma_kernel(shape, scale, size=None):
    """One-sided gamma blur (1-D): mass of Gamma(shape, scale) on [k, k + 1), k >= 0.

    The kernel is causal: its centre (lag 0) is index ``size // 2`` and all mass lies
    at non-negative lags. ``scale`` is in samples. ``size`` (odd) defaults to cover
    the 99.9 % quantile.
    """
    shape = check_positive_scalar(shape, "shape")
    scale = check_positive_scalar(scale, "scale")
    if size is None:
        m = int(np.ceil(stats.gamma.ppf(0.999, shape, scale=scale))) + 1
    else:
        size = check_int(size, "size", min_value=1)
        m = size // 2 + 1
    lags = np.arange(m + 1)
    mass = np.diff(stats.gamma.cdf(lags, shape, scale=scale))
    k = np.concatenate([np.zeros(m - 1), mass])
    return k / k.sum()


def motion_kernel(length, angle=0.0):
    """2-D linear motion blur of ``length`` pixels at ``angle`` degrees (anti-aliased).

    The segment is centred; its points are spread on the pixel grid with bilinear
    weights.
    """
    length = check_positive_scalar(length, "length")
    th = np.deg2rad(float(angle))
    half = int(np.ceil(length / 2)) + 1
    size = 2 * half + 1
    k = np.zeros((size, size))
    s = np.linspace(-length / 2, length / 2, max(int(20 * length), 2))
    rows = half - s * np.sin(th)
    cols = half + s * np.cos(th)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (1, 0, fr * (1 - fc)),
                      (0, 1, (1 - fr) * fc), (1, 1, fr * fc)):
        np.add.at(k, (r0 + dr, c0 + dc), w)
    return k / k.sum()


def piecewise_smooth_image(n=256, *, kind="shapes"):
    """A deterministic piecewise-smooth test image in [0, 1] (shape ``(n, n)``).

    Smooth shading plus discs, a rectangle, a triangle and oriented stripes: edges of
    every orientation and textured regions, a stand-in for a natural photograph.
    """
    n = check_int(n, "n", min_value=16)
    check_choice(kind, "kind", ("shapes",))
    u = (np.arange(n) + 0.5) / n
    X, Y = np.meshgrid(u, u)
    img = 0.35 + 0.25 * np.sin(2 * np.pi * (0.7 * X + 0.4 * Y)) * np.cos(2 * np.pi * 0.6 * Y)
    img = np.where((X - 0.3) ** 2 + (Y - 0.32) ** 2 < 0.18 ** 2, 0.85 - 0.4 * (Y - 0.32), img)
    img = np.where((X - 0.72) ** 2 + (Y - 0.7) ** 2 < 0.12 ** 2, 0.1, img)
    img = np.where((X > 0.55) & (X < 0.92) & (Y > 0.12) & (Y < 0.38), 0.6 + 0.3 * X, img)
    tri = (Y > 0.55) & (Y < 0.92) & (np.abs(X - 0.28) < (Y - 0.55) * 0.6)
    img = np.where(tri, 0.95, img)
    stripes = (X > 0.05) & (X < 0.45) & (Y > 0.05) & (Y < 0.2)
    img = np.where(stripes, 0.5 + 0.3 * np.sign(np.sin(2 * np.pi * 12 * (X + 0.5 * Y))), img)
    return np.clip(img, 0.0, 1.0)
