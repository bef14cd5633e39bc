"""Benchmark of deconv.eb: NPMLE solve time and certificate vs EM (same process) and R's
mixsqp (when ``Rscript -e 'library(mixsqp)'`` works), plus posterior summaries.

Usage: python benchmarks/bench_eb.py [--big] [--no-r]
  default: n = 1e5 normal means, 200 grid points, smooth (normal) and discrete priors;
  --big adds n = 1e6 (1.6 GB likelihood matrix; R at 1e6 takes minutes).

Every solution (ours, EM's, R's) is scored with the same exact log-likelihood and the same
KKT certificate max_j (1/n) sum_i L_ij / f_i - 1 computed here in NumPy.
"""
import argparse
import os

# one BLAS/OpenMP thread unless asked otherwise: the machine is shared and oversubscribed
# multithreaded BLAS makes timings meaningless (set DECONV_BENCH_THREADS to change)
for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, os.environ.get("DECONV_BENCH_THREADS", "1"))
import shutil
import sys
import subprocess
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from deconv.eb import NPMLE
from deconv.eb.likelihood import build_likelihood, default_grid
from deconv.eb.solvers import em, kkt_vector, mixsqp


def problem(n, kind, seed=1):
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 2, n) if kind == "smooth" else rng.choice([-2.0, 0.0, 3.0], n)
    return theta + rng.normal(size=n), np.ones(n)


def score(lik, w):
    d, f = kkt_vector(lik.L, lik.counts, w)
    return float(lik.counts @ (np.log(f) + lik.logmax)), float(d.max() - 1)


def r_available():
    if shutil.which("Rscript") is None:
        return False
    r = subprocess.run(["Rscript", "-e", "library(mixsqp)"], capture_output=True)
    return r.returncode == 0


def run_r_mixsqp(z, s, grid):
    """R builds the same matrix (dnorm) and runs mixsqp with its defaults; returns (time, w)."""
    with tempfile.TemporaryDirectory() as tmp:
        np.asarray(z, "<f8").tofile(os.path.join(tmp, "z.bin"))
        np.asarray(s, "<f8").tofile(os.path.join(tmp, "s.bin"))
        np.asarray(grid, "<f8").tofile(os.path.join(tmp, "g.bin"))
        code = f"""
suppressMessages(library(mixsqp))
d <- '{tmp}'
z <- readBin(file.path(d, 'z.bin'), 'double', {len(z)})
s <- readBin(file.path(d, 's.bin'), 'double', {len(s)})
g <- readBin(file.path(d, 'g.bin'), 'double', {len(grid)})
L <- dnorm(outer(z, g, '-') / s) / s
t0 <- proc.time()[['elapsed']]
fit <- mixsqp(L, control = list(verbose = FALSE))
t1 <- proc.time()[['elapsed']]
writeBin(as.double(fit$x), file.path(d, 'w.bin'))
cat(t1 - t0, '\\n')
"""
        out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        w = np.fromfile(os.path.join(tmp, "w.bin"), "<f8")
        return float(out.stdout.strip().split()[-1]), w


def bench(n, m, kind, with_r, em_iter, repeat=1):
    z, s = problem(n, kind)
    grid = default_grid("normal", z, m)
    t0 = time.perf_counter()
    c0 = time.process_time()
    lik = build_likelihood("normal", {"z": z, "se": s}, grid)
    t_build = time.perf_counter() - t0
    cpu_build = time.process_time() - c0
    # best of `repeat` solves: the machine is shared, and the first call also pays the
    # page faults of its work arrays
    t_solve = cpu_solve = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        c0 = time.process_time()
        res = mixsqp(lik.L, lik.counts)
        t_solve = min(t_solve, time.perf_counter() - t0)
        cpu_solve = min(cpu_solve, time.process_time() - c0)
    ll, kkt = score(lik, res.weights)
    print(f"\n== n={n:.0e}, m={grid.size}, {kind} prior")
    print(f"  matrix build (Cython)        {t_build:8.3f} s (cpu {cpu_build:.3f} s)")
    print(f"  deconv mix-SQP solve (best of {repeat}) {t_solve:8.3f} s (cpu {cpu_solve:.3f} s)   loglik {ll:.6f}  KKT {kkt:.2e}  "
          f"support {np.count_nonzero(res.weights)}  iters {res.n_iter}  rounds {res.n_kkt_checks}")
    t0 = time.perf_counter()
    c0 = time.process_time()
    e = em(lik.L, lik.counts, max_iter=em_iter)
    t_em = time.perf_counter() - t0
    cpu_em = time.process_time() - c0
    lle, kkte = score(lik, e.weights)
    print(f"  EM, {em_iter} iterations        {t_em:8.3f} s (cpu {cpu_em:.3f} s)   loglik {lle:.6f}  "
          f"KKT {kkte:.2e}  short by {ll - lle:.4f}; cpu ratio EM/deconv {cpu_em / cpu_solve:.1f}")
    if with_r:
        t_r, w_r = run_r_mixsqp(z, s, grid)
        llr, kktr = score(lik, w_r)
        print(f"  R mixsqp (defaults)          {t_r:8.3f} s   loglik {llr:.6f}  KKT {kktr:.2e}  "
              f"short by {ll - llr:.4f}; time ratio R/deconv {t_r / t_solve:.2f}")
    return lik, res


def bench_posterior(n):
    z, s = problem(n, "smooth")
    eb = NPMLE(grid_size=200).fit(z, se=s)
    t0 = time.perf_counter()
    c0 = time.process_time()
    mean, sd = eb.posterior_moments()
    lf = eb.lfdr(null=0.0)
    t_fast = time.perf_counter() - t0
    cpu_fast = time.process_time() - c0
    t0 = time.perf_counter()
    lo, hi = eb.posterior_interval(0.9)
    t_int = time.perf_counter() - t0
    # naive NumPy baseline: the full posterior matrix
    t0 = time.perf_counter()
    P = eb.likelihood_.L * eb.prior_.weights
    P /= P.sum(axis=1, keepdims=True)
    g = eb.prior_.grid
    m1 = P @ g
    sd1 = np.sqrt(np.maximum(P @ g**2 - m1**2, 0))
    lf1 = P[:, np.argmin(np.abs(g))]
    t_naive = time.perf_counter() - t0
    assert np.allclose(m1, mean) and np.allclose(lf1, lf)
    print(f"\n== posterior summaries, n={n:.0e}, m={g.size}")
    print(f"  mean + sd + lfdr (kernel/BLAS)  {t_fast:8.3f} s (cpu {cpu_fast:.3f} s)   naive NumPy {t_naive:8.3f} s   "
          f"ratio {t_naive / t_fast:.1f}")
    print(f"  90% equal-tailed intervals      {t_int:8.3f} s")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--r-big", action="store_true", help="also run R mixsqp at n = 1e6 (minutes)")
    ap.add_argument("--em-iter", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3, help="solves timed at n = 1e5 (best reported)")
    args = ap.parse_args()
    with_r = not args.no_r and r_available()
    print(f"R mixsqp available: {with_r}; BLAS threads: {os.environ['OPENBLAS_NUM_THREADS']}; "
          f"load average: {os.getloadavg()[0]:.1f}")
    for kind in ("smooth", "discrete"):
        bench(100_000, 200, kind, with_r, args.em_iter, repeat=args.repeat)
    bench_posterior(100_000)
    if args.big:
        bench(1_000_000, 200, "smooth", with_r and args.r_big, min(args.em_iter, 50))
        bench_posterior(1_000_000)


if __name__ == "__main__":
    main()
