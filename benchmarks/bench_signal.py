"""Speed and accuracy of deconv.signal against scikit-image (when installed).

Run from the repository root:  python benchmarks/bench_signal.py
Prints wall time (median of repeats, one process) and ISNR side by side.
"""
import time
import warnings

import numpy as np

import deconv.signal as ds
from deconv.signal import testsignals as ts

try:
    from skimage import restoration
except ImportError:  # pragma: no cover - optional peer
    restoration = None


def timeit(fn, repeat=5):
    fn()                                       # warm caches (FFT plans, wavelet tables)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def row(name, seconds, isnr=None, ref=None):
    ratio = f"  x{ref / seconds:5.2f} vs baseline" if ref else ""
    q = f"  ISNR {isnr:6.2f} dB" if isnr is not None else ""
    print(f"  {name:<44s} {seconds * 1e3:8.1f} ms{q}{ratio}")


def image_problem(n, boundary, db=40, psf=None, seed=0):
    x = 255 * ts.piecewise_smooth_image(n)
    h = ts.boxcar_kernel(9, 2) if psf is None else psf
    bx = ds.blur(x, h, boundary=boundary)
    y = bx + ds.metrics.sigma_for_bsnr(bx, db) * np.random.default_rng(seed).standard_normal(x.shape)
    return x, h, y


def scene_crop(n, psf, seed, margin=32, db=40):
    """The central n x n of a larger blurred scene (real, non-periodic edges) + noise."""
    scene = 255 * ts.piecewise_smooth_image(n + 2 * margin)
    window = (slice(margin, margin + n),) * 2
    b = ds.blur(scene, psf, boundary="reflect")[window]
    y = b + ds.metrics.sigma_for_bsnr(b, db) * np.random.default_rng(seed).standard_normal(b.shape)
    return scene[window], y


PSFS = (("9x9 box", ts.boxcar_kernel(9, 2)), ("motion 9 px at 30 deg", ts.motion_kernel(9, 30)))


def crop_section(n, seed, baseline, jobs):
    """Time ``jobs`` [(name, fn(y, psf))] on scene crops for each PSF, against a baseline."""
    for psf_name, h in PSFS:
        print(f"   -- {psf_name}")
        x, y = scene_crop(n, h, seed=seed)
        base = None
        if restoration is not None:
            name, repeat, fn = baseline
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                base, sk = timeit(lambda: fn(y, h), repeat=repeat)
            row(name, base, ds.metrics.isnr(x, y, sk))
        for name, fn in jobs:
            t, r = timeit(lambda: fn(y, h), repeat=1)
            row(name, t, ds.metrics.isnr(x, y, r), base)


def main():
    print("== 512x512, 9x9 box blur, BSNR 40 dB, periodic (the classic experiment)")
    x, h, y = image_problem(512, "periodic")
    base = None
    if restoration is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            base, sk = timeit(lambda: 255 * restoration.wiener(y / 255, h, 0.1, clip=False))
            row("skimage.restoration.wiener(balance=0.1)", base, ds.metrics.isnr(x, y, sk))
            t, sk = timeit(lambda: 255 * restoration.unsupervised_wiener(
                y / 255, h, clip=False, rng=0)[0], repeat=1)
            row("skimage.restoration.unsupervised_wiener", t, ds.metrics.isnr(x, y, sk), base)
    for name, fn in [
        ("deconv wiener (GCV)", lambda: ds.wiener(y, h, boundary="periodic")),
        ("deconv unsupervised_wiener (Gibbs)", lambda: ds.unsupervised_wiener(y, h, boundary="periodic", rng=0)),
        ("deconv forward (auto tau)", lambda: ds.forward(y, h, boundary="periodic")),
        ("deconv forward float32", lambda: ds.forward(y.astype(np.float32), h, boundary="periodic")),
        ("deconv forward translation-invariant", lambda: ds.forward(y, h, boundary="periodic", translation_invariant=True)),
    ]:
        t, r = timeit(fn, repeat=1 if "unsup" in name or "invariant" in name else 5)
        row(name, t, ds.metrics.isnr(x, y, r), base)

    print("== 512x512 crop of a larger blurred scene (real, non-periodic edges), BSNR 40 dB")
    crop_section(512, 3, ("skimage.restoration.wiener(balance=0.1)", 5,
                          lambda y, h: 255 * restoration.wiener(y / 255, h, 0.1, clip=False)), [
        ("deconv wiener (default: boundary model)", lambda y, h: ds.wiener(y, h)),
        ("deconv wiener boundary='pad'", lambda y, h: ds.wiener(y, h, boundary="pad")),
        ("deconv forward (default: boundary model)", lambda y, h: ds.forward(y, h)),
        ("deconv forward boundary='pad'", lambda y, h: ds.forward(y, h, boundary="pad")),
    ])

    print("== 256x256 crop of a larger blurred scene, 9x9 box / motion 9 px, BSNR 40 dB")
    crop_section(256, 4, ("skimage.restoration.unsupervised_wiener", 1,
                          lambda y, h: 255 * restoration.unsupervised_wiener(
                              y / 255, h, clip=False, rng=0)[0]), [
        ("deconv wiener (default)", lambda y, h: ds.wiener(y, h)),
        ("deconv unsupervised_wiener (default: model)",
         lambda y, h: ds.unsupervised_wiener(y, h, rng=0)),
        ("deconv unsupervised_wiener boundary='pad'",
         lambda y, h: ds.unsupervised_wiener(y, h, rng=0, boundary="pad")),
        ("deconv tv (default)", lambda y, h: ds.tv(y, h)),
        ("deconv tv boundary='pad'", lambda y, h: ds.tv(y, h, boundary="pad")),
    ])

    print("== Richardson-Lucy, 512x512 Poisson image, Gaussian PSF sd 2, 30 iterations")
    xi = 10 + 3000 * ts.piecewise_smooth_image(512)
    hg = ts.gaussian_kernel(2.0, 2)
    yi = np.random.default_rng(1).poisson(ds.blur(xi, hg, boundary="reflect")).astype(float)
    base = None
    if restoration is not None:
        base, sk = timeit(lambda: restoration.richardson_lucy(yi / yi.max(), hg, num_iter=30,
                                                              clip=False) * yi.max(), repeat=3)
        row("skimage.restoration.richardson_lucy", base, ds.metrics.isnr(xi, yi, sk))
    t, r = timeit(lambda: ds.richardson_lucy(yi, hg, n_iter=30, stop=None, accelerate=False), repeat=3)
    row("deconv richardson_lucy (H^T1 boundary)", t, ds.metrics.isnr(xi, yi, r), base)
    t, r = timeit(lambda: ds.richardson_lucy(yi.astype(np.float32), hg, n_iter=30, stop=None,
                                             accelerate=False), repeat=3)
    row("deconv richardson_lucy float32", t, ds.metrics.isnr(xi, yi, r), base)
    t, r = timeit(lambda: ds.richardson_lucy(yi, hg), repeat=3)
    row(f"deconv richardson_lucy auto stop ({r.n_iter} it, accel.)", t, ds.metrics.isnr(xi, yi, r), base)

    print("== 1-D, n = 2048, LIDAR-like signal, gamma blur, BSNR 25 dB")
    x1 = ts.lidar(2048)
    g = ts.gamma_kernel(1.0, 8.0)
    b1 = ds.blur(x1, g)
    y1 = b1 + ds.metrics.sigma_for_bsnr(b1, 25) * np.random.default_rng(2).standard_normal(2048)
    print("  (R waved on this machine: 14-35 ms per call, figure quoted in the issue)")
    for name, fn in [("deconv waved", lambda: ds.waved(y1, g)),
                     ("deconv wiener (GCV)", lambda: ds.wiener(y1, g, boundary="periodic")),
                     ("deconv forward", lambda: ds.forward(y1, g, boundary="periodic")),
                     ("deconv tv (discrepancy)", lambda: ds.tv(y1, g, boundary="periodic"))]:
        t, r = timeit(fn, repeat=5 if "tv" not in name else 1)
        row(name, t, ds.metrics.isnr(x1, y1, r))


if __name__ == "__main__":
    main()
