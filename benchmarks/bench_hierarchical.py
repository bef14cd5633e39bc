"""Speed of deconv.hierarchical.lmm against lme4 (R) and statsmodels MixedLM.

1. sleepstudy, ``Reaction ~ Days + (Days | Subject)`` by REML (180 rows, 18 groups):
   deconv vs lme4's ``lmer`` (timed in R through Rscript when installed; otherwise the
   stored timing from tests/data/lme4_reference.json) and statsmodels MixedLM.
2. Simulated 1e5 rows, 1,000 groups, correlated random intercept and slope, REML:
   deconv vs statsmodels MixedLM (and lme4 when Rscript is available).
3. Crossed design, 2e5 rows, 2,000 x 2,000 levels (and 20,000 x 2,000 with
   ``--crossed-wide``), ``y ~ x + (1 | a) + (1 | b)``, REML:
   one profiled-deviance evaluation through each Schur-complement route (dense reference,
   sparse assembly + dense Cholesky, SuperLU), the whole fit (``schur="auto"``), and lme4
   (``--crossed-lme4``: slow, run in R through Rscript).
4. GLMM profile intervals on cbpp, ``cbind(incidence, size - incidence) ~ period + (1 | herd)``:
   deconv ``conf_int("profile")`` vs lme4 ``confint(method = "profile")`` (Rscript).

Usage: python benchmarks/bench_hierarchical.py [--rows 100000] [--groups 1000] [--repeat 5]
       [--crossed-rows 200000] [--crossed-levels 2000] [--crossed-lme4] [--crossed-wide]
       [--skip 1,2]
Times are wall-clock medians in this process on this machine; ratios are peer / deconv.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from deconv.datasets.hierarchical import load_sleepstudy  # noqa: E402
from deconv.hierarchical import lmm  # noqa: E402


def timeit(fn, repeat):
    ts = []
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), out


def r_time(csv_path, formula, repeat):
    if shutil.which("Rscript") is None:
        return None
    code = (f"suppressMessages(library(lme4)); d <- read.csv('{csv_path}'); "
            f"d$g <- factor(d$g); f <- {formula}; m <- lmer(f, data = d); "
            f"t <- system.time(for (i in 1:{repeat}) m <- lmer(f, data = d))[['elapsed']] / {repeat}; "
            "cat(t, fixef(m), '\\n')")
    try:
        out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=3600)
        vals = out.stdout.split()
        return float(vals[0]), np.array(vals[1:], dtype=float)
    except Exception:  # pragma: no cover - R missing pieces
        return None


def statsmodels_fit(y, X, groups, Z):
    try:
        import statsmodels.api as sm
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sm.MixedLM(y, X, groups=groups, exog_re=Z).fit(reml=True)


def row(name, t, ref=None):
    ratio = f"{t / ref:8.2f}x" if ref else ""
    return f"  {name:<34s}{t * 1e3:12.1f} ms  {ratio}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--crossed-rows", type=int, default=200_000)
    ap.add_argument("--crossed-levels", type=int, default=2000)
    ap.add_argument("--crossed-lme4", action="store_true")
    ap.add_argument("--crossed-wide", action="store_true",
                    help="also 10x more levels on the primary factor (20,000 x 2,000)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip, e.g. 1,2")
    args = ap.parse_args()
    skip = {int(v) for v in args.skip.split(",") if v}
    if 1 not in skip:
        bench_sleepstudy(args)
    if 2 not in skip:
        bench_big(args)
    if 3 not in skip:
        bench_crossed(args)
    if 4 not in skip:
        bench_glmm_profile(args)


def bench_glmm_profile(args):
    from deconv.datasets.hierarchical import load_cbpp
    from deconv.hierarchical import glmm

    print("\n== 4. GLMM profile interval for sd(herd), cbpp binomial (Laplace)")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    res = glmm(f, load_cbpp())
    t_ci, vc = timeit(lambda: res.conf_int("profile", which=["herd: sd((Intercept))"]),
                      args.repeat)
    print(row("deconv conf_int('profile'), sd only", t_ci)
          + f"   ({vc.lower[0]:.5f}, {vc.upper[0]:.5f})")
    if shutil.which("Rscript"):
        code = ("suppressMessages(library(lme4)); "
                "m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), "
                "data = cbpp, family = binomial); "
                "t <- system.time(ci <- confint(m, parm = 'theta_', method = 'profile', "
                "quiet = TRUE))[['elapsed']]; cat(t, ci[1, ], '\\n')")
        out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True,
                             timeout=3600).stdout.split()
        if out:
            vals = np.array(out, dtype=float)
            print(row("lme4 confint(method='profile'), sd only", vals[0], t_ci)
                  + f"   ({vals[1]:.5f}, {vals[2]:.5f})   (lme4 / deconv)")


def bench_sleepstudy(args):

    print("== 1. sleepstudy: Reaction ~ Days + (Days | Subject), REML (180 rows, 18 groups)")
    df = load_sleepstudy()
    t_fast, res = timeit(lambda: lmm("Reaction ~ Days + (Days | Subject)", df, ddf="none"), args.repeat)
    t_full, _ = timeit(lambda: lmm("Reaction ~ Days + (Days | Subject)", df), args.repeat)
    lme4 = None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sleep.csv")
        df.rename(columns={"Subject": "g"}).to_csv(path, index=False)
        r = r_time(path, "Reaction ~ Days + (Days | g)", 20)
        if r is not None:
            lme4 = r[0]
    if lme4 is None:
        ref = json.load(open(os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                          "lme4_reference.json")))
        lme4 = ref["timing_sleep_slope_reml_seconds"]
        src = "(stored timing)"
    else:
        src = "(Rscript, this machine)"
    X = np.column_stack([np.ones(len(df)), df["Days"].to_numpy(float)])
    t_sm, sm_res = timeit(lambda: statsmodels_fit(df["Reaction"].to_numpy(float), X,
                                                  df["Subject"].to_numpy(), X), args.repeat)
    print(row("deconv lmm (no df)", t_fast))
    print(row("deconv lmm (+ Satterthwaite df)", t_full))
    print(row(f"lme4 lmer {src}", lme4, t_fast) + "   (lme4 / deconv)")
    if sm_res is not None:
        print(row("statsmodels MixedLM", t_sm, t_fast) + "   (statsmodels / deconv)")
    else:
        print("  statsmodels not installed: skipped")
    print(f"  fixed effects deconv: {res.beta}")


def bench_big(args):
    print(f"\n== 2. simulated: {args.rows} rows, {args.groups} groups, y ~ x + (x | g), REML")
    rng = np.random.default_rng(0)
    g = rng.integers(0, args.groups, args.rows)
    x = rng.normal(size=args.rows)
    C = np.linalg.cholesky(np.array([[1.0, 0.3], [0.3, 0.5]]))
    b = rng.standard_normal((args.groups, 2)) @ C.T
    y = 1.0 + 0.5 * x + b[g, 0] + b[g, 1] * x + rng.normal(size=args.rows)
    X = np.column_stack([np.ones(args.rows), x])
    t_big, rb = timeit(lambda: lmm(y=y, X=X, groups=g, Z=X, ddf="none"), max(1, args.repeat // 2))
    t_big_full, _ = timeit(lambda: lmm(y=y, X=X, groups=g, Z=X), 1)
    print(row("deconv lmm (no df)", t_big))
    print(row("deconv lmm (+ Satterthwaite df)", t_big_full))
    t = time.perf_counter()
    sm_res = statsmodels_fit(y, X, g, X)
    t_sm = time.perf_counter() - t
    if sm_res is not None:
        print(row("statsmodels MixedLM", t_sm, t_big) + "   (statsmodels / deconv)")
        print(f"  fixed effects deconv {rb.beta}, statsmodels {np.asarray(sm_res.fe_params)}")
        print(f"  REML loglik deconv {rb.fit_stats['loglik']:.4f}, statsmodels {sm_res.llf:.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.csv")
        np.savetxt(path, np.column_stack([y, x, g]), delimiter=",", header="y,x,g", comments="")
        r = r_time(path, "y ~ x + (x | g)", 1)
        if r is not None:
            print(row("lme4 lmer (Rscript)", r[0], t_big) + "   (lme4 / deconv)")


def bench_crossed(args):
    L = args.crossed_levels
    for la, lb in ((L, L), (10 * L, L)):
        if la == lb or args.crossed_wide:
            bench_crossed_one(args, la, lb, args.crossed_lme4 and la == lb)


def bench_crossed_one(args, La, Lb, with_lme4):
    from deconv.hierarchical._lmmcore import LMMCore
    from deconv.hierarchical.design import design_from_arrays

    n = args.crossed_rows
    print(f"\n== 3. crossed: {n} rows, {La} x {Lb} levels, y ~ x + (1 | a) + (1 | b), REML")
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, La, n), rng.integers(0, Lb, n)
    x = rng.normal(size=n)
    y = 1 + 0.5 * x + 0.8 * rng.normal(size=La)[a] + 0.5 * rng.normal(size=Lb)[b] + rng.normal(size=n)
    X = np.column_stack([np.ones(n), x])
    design = design_from_arrays(y, X, {"a": a, "b": b})
    theta = np.array([0.8, 0.5])
    per_eval = {}
    for route in ("dense", "cholesky", "splu"):
        core = LMMCore(design, schur=route)
        reps = 1 if route == "dense" and La > Lb else 3   # the dense path is slow there
        core.deviance(theta, True)                       # warm-up
        cpu = time.process_time()
        per_eval[route], dev = timeit(lambda: core.deviance(theta, True), reps)
        cpu = (time.process_time() - cpu) / reps
        print(row(f"one deviance evaluation, {route}", per_eval[route], per_eval["dense"])
              + f"   (vs dense)   CPU {cpu * 1e3:.0f} ms   deviance {dev:.10f}")
    auto = LMMCore(design).schur
    cpu = time.process_time()
    t_fit, res = timeit(lambda: lmm(y=y, X=X, groups={"a": a, "b": b}, ddf="none"), 1)
    cpu = time.process_time() - cpu
    # on a shared machine wall time depends on the load; CPU time (all threads) does less
    print(row(f"deconv lmm, whole fit (auto -> {auto})", t_fit) + f"   CPU {cpu:.1f} s")
    print(f"  theta {res.theta}, beta {res.beta}, REML criterion "
          f"{res.fit_stats['REML criterion']:.6f}")
    if with_lme4 and shutil.which("Rscript"):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "crossed.csv")
            np.savetxt(path, np.column_stack([y, x, a, b]), delimiter=",", header="y,x,a,b",
                       comments="", fmt="%.17g")
            code = (f"suppressMessages(library(lme4)); d <- read.csv('{path}'); "
                    "d$a <- factor(d$a); d$b <- factor(d$b); "
                    "st <- system.time(m <- lmer(y ~ x + (1 | a) + (1 | b), data = d)); "
                    "cat(st[['elapsed']], getME(m, 'theta'), fixef(m), "
                    "unname(getME(m, 'devcomp')$cmp['REML']), "
                    "st[['user.self']] + st[['sys.self']], '\\n')")
            out = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True,
                                 timeout=7200).stdout.split()
        if out:
            vals = np.array(out, dtype=float)
            print(row("lme4 lmer (Rscript), whole fit", vals[0], t_fit)
                  + f"   (lme4 / deconv)   CPU {vals[6]:.1f} s ({vals[6] / cpu:.2f}x)")
            print(f"  lme4 theta {vals[1:3]}, beta {vals[3:5]}, REML criterion {vals[5]:.6f}")


if __name__ == "__main__":
    main()
