"""Speed of deconv.eiv against baselines run in the same process.

    python benchmarks/bench_eiv.py [--quick]

1. SIMEX, logistic regression, n = 1e5, 4 lambdas x 100 replicates + jackknife variance
   (issue 5 goal: < 2 s on one core; R's simex needs ~94 s at n = 1e4). Baselines: the
   same SIMEX loop with statsmodels GLM refits, and with a plain-NumPy IRLS refit.
2. York / Deming / moment correction at n = 1e6 (O(n)).
3. ODR (exponential curve, n = 2000) against odrpack and scipy.odr.
Peers are skipped when not installed. Times are best of ``repeat`` runs (wall clock).
"""
import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import deconv as dc  # noqa: E402


CPU = {"on": False}


def best(fn, repeat=3):
    """Best of ``repeat`` runs: wall-clock seconds, or CPU seconds of this process with
    --cpu (robust on a shared, overloaded machine; the code is single-threaded)."""
    clock = time.process_time if CPU["on"] else time.perf_counter
    times = []
    out = None
    for _ in range(repeat):
        t = clock()
        out = fn()
        times.append(clock() - t)
    return min(times), out


def numpy_irls(X, y, beta, tol=1e-10, maxiter=50):
    """Plain NumPy Newton/IRLS for logistic regression (the naive baseline)."""
    for _ in range(maxiter):
        mu = 1 / (1 + np.exp(-(X @ beta)))
        W = mu * (1 - mu)
        H = (X * W[:, None]).T @ X
        step = np.linalg.solve(H, X.T @ (y - mu))
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta, np.linalg.inv(H)


def simex_loop(w, y, sd, lambdas, B, refit, rng):
    """Textbook SIMEX loop (independent draws per lambda) with jackknife variance."""
    n = w.size
    X = np.column_stack([np.ones(n), w])
    b0, c0 = refit(X, y, None)
    thetas, vars_ = [b0], [c0]
    for lam in lambdas:
        est, covs = [], []
        for _ in range(B):
            X[:, 1] = w + np.sqrt(lam) * sd * rng.standard_normal(n)
            b, c = refit(X, y, b0)
            est.append(b)
            covs.append(c)
        est = np.array(est)
        thetas.append(est.mean(0))
        vars_.append(np.mean(covs, 0) - np.cov(est, rowvar=False))
    lam_all = np.r_[0.0, lambdas]
    coef = np.polyfit(lam_all, np.array(thetas), 2)
    vcoef = np.polyfit(lam_all, np.array(vars_).reshape(len(lam_all), -1), 2)
    return np.polyval(coef, -1.0), np.polyval(vcoef, -1.0)


def bench_simex(n, B, repeat):
    rng = np.random.default_rng(2024)
    x = rng.normal(size=n)
    w = x + rng.normal(0, 0.5, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-0.5 + x)))).astype(float)
    lambdas = (0.5, 1.0, 1.5, 2.0)
    dc.eiv.simex(w[:500], y[:500], error_sd=0.5, family="logistic", n_sim=2, rng=0)  # warm up
    t_dc, res = best(lambda: dc.eiv.simex(w, y, error_sd=0.5, family="logistic",
                                          lambdas=lambdas, n_sim=B, rng=1), repeat)
    print(f"SIMEX logistic n={n:.0e}, 4 lambdas x {B} + jackknife variance")
    print(f"  deconv.eiv.simex        {t_dc:8.3f} s   slope {res.params[1]:.4f} "
          f"(se {res.bse[1]:.4f}; naive {res.naive_params[1]:.4f}, truth 1)")
    # baselines: fewer replicates, scaled up linearly to the same work
    Bb = max(2, B // 10)
    t_np, _ = best(lambda: simex_loop(w, y, 0.5, lambdas, Bb,
                                      lambda X, y, b: numpy_irls(X, y, np.zeros(2)),
                                      np.random.default_rng(3)), 1)
    t_np *= B / Bb
    print(f"  plain NumPy IRLS loop   {t_np:8.3f} s   (measured at B={Bb}, scaled)   "
          f"ratio {t_np / t_dc:6.1f}x")
    try:
        import statsmodels.api as sm

        def sm_refit(X, y, b):
            r = sm.GLM(y, X, family=sm.families.Binomial()).fit()
            return r.params, r.cov_params()
        t_sm, _ = best(lambda: simex_loop(w, y, 0.5, lambdas, Bb, sm_refit,
                                          np.random.default_rng(3)), 1)
        t_sm *= B / Bb
        print(f"  statsmodels GLM loop    {t_sm:8.3f} s   (measured at B={Bb}, scaled)   "
              f"ratio {t_sm / t_dc:6.1f}x")
    except ImportError:
        print("  statsmodels not installed: skipped")
    return t_dc


def bench_lines(n, repeat):
    rng = np.random.default_rng(5)
    xi = rng.uniform(0, 10, n)
    x = xi + rng.normal(0, 0.5, n)
    y = 1 + 2 * xi + rng.normal(0, 1, n)
    sx = np.full(n, 0.5)
    sy = np.full(n, 1.0)
    print(f"Straight lines and moments, n={n:.0e}")
    for name, fn in [("deming (jackknife SE)", lambda: dc.eiv.deming(x, y, ratio=4.0)),
                     ("deming (analytic SE)", lambda: dc.eiv.deming(x, y, ratio=4.0,
                                                                   se="analytic")),
                     ("york", lambda: dc.eiv.york(x, y, sx, sy)),
                     ("moments", lambda: dc.eiv.moments(x, y, error_sd=0.5)),
                     ("ordinary least squares (np.polyfit)", lambda: np.polyfit(x, y, 1))]:
        t, _ = best(fn, repeat)
        print(f"  {name:38s}{t * 1e3:9.1f} ms")
    try:
        import bces.bces as bces_mod
        t, _ = best(lambda: bces_mod.bces(x, sx, y, sy, np.zeros(n)), 1)
        print(f"  {'bces (peer, BCES estimator)':38s}{t * 1e3:9.1f} ms")
    except Exception as exc:  # pragma: no cover - optional peer
        print(f"  bces unavailable ({type(exc).__name__})")


def bench_odr(n, repeat):
    rng = np.random.default_rng(6)
    xt = np.linspace(0, 5, n)
    x = xt + rng.normal(0, 0.05, n)
    y = 2 * np.exp(0.3 * xt) + rng.normal(0, 0.1, n)

    def f(x, b):
        return b[0] * np.exp(b[1] * x)

    def jb(x, b):
        return np.vstack([np.exp(b[1] * x), b[0] * x * np.exp(b[1] * x)])

    def jx(x, b):
        return b[0] * b[1] * np.exp(b[1] * x)
    print(f"ODR exponential curve, n={n}")
    t_dc, res = best(lambda: dc.eiv.odr(f, x, y, [1.0, 0.2], sx=0.05, sy=0.1, jac_beta=jb,
                                        jac_x=jx), repeat)
    print(f"  deconv.eiv.odr          {t_dc * 1e3:8.1f} ms")
    try:
        import odrpack
        t, ref = best(lambda: odrpack.odr_fit(f, x, y, np.array([1.0, 0.2]),
                                              weight_x=1 / 0.05 ** 2, weight_y=1 / 0.1 ** 2,
                                              jac_beta=jb, jac_x=jx), repeat)
        print(f"  odrpack                 {t * 1e3:8.1f} ms   ratio {t / t_dc:5.2f}x   "
              f"max rel. diff of beta {np.max(np.abs(res.params / ref.beta - 1)):.1e}")
    except ImportError:
        print("  odrpack not installed: skipped")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import scipy.odr as so
            model = so.Model(lambda b, x: f(x, b), fjacb=lambda b, x: jb(x, b),
                             fjacd=lambda b, x: jx(x, b))
            t, _ = best(lambda: so.ODR(so.RealData(x, y, sx=0.05, sy=0.1), model,
                                       beta0=[1.0, 0.2]).run(), repeat)
        print(f"  scipy.odr               {t * 1e3:8.1f} ms   ratio {t / t_dc:5.2f}x")
    except ImportError:
        print("  scipy.odr not available: skipped")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller problems")
    ap.add_argument("--cpu", action="store_true", help="report process CPU time, not wall")
    a = ap.parse_args()
    CPU["on"] = a.cpu
    print(f"timing: {'process CPU time' if a.cpu else 'wall clock'}, best of repeats")
    if a.quick:
        bench_simex(10_000, 20, 1)
        bench_lines(100_000, 1)
        bench_odr(500, 1)
    else:
        bench_simex(100_000, 100, 3)
        bench_lines(1_000_000, 3)
        bench_odr(2000, 3)
