"""Command-line front end: ``python -m deconv`` (or the ``deconv`` console script).

Subcommands
-----------
``demo``
    Simulate a bimodal truth seen through Laplace noise, deconvolve it, print a summary
    (with the integrated squared error against the known truth) and write a plot.
``density``
    Read observations from a CSV or NPY file, deconvolve with a stated error law (or one
    estimated from replicate columns) and write the density and CDF on a grid to CSV,
    optionally with a PNG plot.

Errors in files or arguments print one clear line to stderr and exit with status 2
(usage) or 1 (data); nothing is written on failure.
"""
import argparse
import csv
import sys
from pathlib import Path

import numpy as np

__all__ = ["main", "read_table"]


class CLIError(Exception):
    """A user error (bad file, bad argument): reported in one line, exit status 1."""


# --- reading data ---------------------------------------------------------------------
def _is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


def read_table(path):
    """Read a CSV (optional header row) or NPY file into ``(column_names, 2-D float array)``.

    Empty CSV cells become NaN (for missing replicates); anything else non-numeric is an error.
    """
    path = Path(path)
    if not path.exists():
        raise CLIError(f"input file not found: {path}")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise CLIError(f"could not read {path} as a NumPy .npy file: {exc}") from None
        if arr.dtype.kind not in "biuf":
            raise CLIError(f"{path}: expected a numeric array, got dtype {arr.dtype}")
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise CLIError(f"{path}: expected a 1-D or 2-D array, got shape {arr.shape}")
        return [str(i) for i in range(arr.shape[1])], arr.astype(float)
    try:
        with open(path, newline="") as fh:
            sample = fh.read(4096)
            fh.seek(0)
            try:
                dialect = csv.Sniffer().sniff(sample, delimiters=",;\t ")
            except csv.Error:
                dialect = csv.excel
            rows = [r for r in csv.reader(fh, dialect) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"could not read {path}: {exc}") from None
    if not rows:
        raise CLIError(f"{path} is empty")
    header = None
    if not all(_is_number(c) or not c.strip() for c in rows[0]):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    if not rows:
        raise CLIError(f"{path} has a header but no data rows")
    width = len(header) if header else len(rows[0])
    data = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        if len(row) != width:
            raise CLIError(f"{path}, data row {i + 1}: expected {width} fields, found {len(row)}")
        for j, cell in enumerate(row):
            cell = cell.strip()
            if cell:
                try:
                    data[i, j] = float(cell)
                except ValueError:
                    raise CLIError(f"{path}, data row {i + 1}, column {j + 1}: "
                                   f"not a number: {cell!r}") from None
    names = header if header else [str(j) for j in range(width)]
    return names, data


def _column(names, data, spec, path, what="column"):
    """Select one column by header name or 0-based index."""
    if spec is None:
        if data.shape[1] != 1:
            raise CLIError(f"{path} has {data.shape[1]} columns: say which with --column")
        return data[:, 0]
    if spec in names:
        return data[:, names.index(spec)]
    if spec.lstrip("-").isdigit():
        k = int(spec)
        if 0 <= k < data.shape[1]:
            return data[:, k]
    raise CLIError(f"{what} {spec!r} not found in {path} (columns: {', '.join(names)})")


# --- building the error law -------------------------------------------------------------
def _noise_from_args(args, names, data, n_rows):
    from deconv import noise as nz

    if args.replicates:
        cols = [c.strip() for c in args.replicates.split(",") if c.strip()]
        if len(cols) < 2:
            raise CLIError("--replicates needs at least two comma-separated columns")
        reps = np.column_stack([_column(names, data, c, args.input, "replicate column") for c in cols])
        return None, reps
    if args.sd_column is not None:
        sd = _column(names, data, args.sd_column, args.input, "sd column")
    elif args.sd is not None:
        sd = args.sd
    elif args.scale is not None:
        sd = None
    else:
        raise CLIError("say how noisy the data are: --sd, --scale, --sd-column or --replicates")
    kind = args.noise
    try:
        if kind == "normal":
            if args.scale is not None and sd is None:
                sd = args.scale
            return nz.Normal(sd=sd), None
        if kind == "laplace":
            return nz.Laplace(sd=sd, scale=args.scale), None
        if kind == "uniform":
            return nz.Uniform(sd=sd, half_width=args.scale), None
        if kind == "student-t":
            if args.df is None:
                raise CLIError("--noise student-t needs --df")
            return nz.StudentT(args.df, sd=sd, scale=args.scale), None
        if kind == "gamma":
            if args.shape is None:
                raise CLIError("--noise gamma needs --shape")
            if sd is None:
                raise CLIError("--noise gamma needs --sd")
            return nz.Gamma(args.shape, sd=sd), None
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    raise CLIError(f"unknown --noise {kind!r}")  # pragma: no cover - argparse restricts choices


def _bandwidth(value):
    try:
        return float(value)
    except ValueError:
        return value


# --- subcommands ----------------------------------------------------------------------
def _plot_density(est, out_png, truth=None, naive=None, title=None, band=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    if band is not None:
        band.plot(ax=ax, label=f"{band.level:.0%} simultaneous bootstrap band")
    est.plot(ax=ax)
    if truth is not None:
        grid = np.linspace(*ax.get_xlim(), 400)
        ax.plot(grid, truth.pdf(grid), "k--", lw=1.2, label="true density of X")
    if naive is not None:
        ax.plot(naive[0], naive[1], color="0.6", lw=1, label="naive KDE of W (ignores noise)")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def _cmd_demo(args):
    from scipy import integrate, stats

    from deconv.datasets import bimodal_demo
    from deconv.density import DeconvolutionKDE

    w, _, truth, law = bimodal_demo(n=args.n, noise_sd=args.noise_sd, rng=args.seed)
    est = DeconvolutionKDE(noise=law, bandwidth="pi").fit(w)
    print(f"deconv demo: n = {w.size} observations W = X + U, U ~ {law!r}")
    print(f"true X: {truth!r}\n")
    print(est.summary())
    grid = np.linspace(w.min() - 1, w.max() + 1, 2001)
    f_true = truth.pdf(grid)
    ise = integrate.trapezoid((est.pdf(grid) - f_true) ** 2, grid)
    kde = stats.gaussian_kde(w)
    ise_naive = integrate.trapezoid((kde(grid) - f_true) ** 2, grid)
    print(f"\nintegrated squared error vs the true density: deconvolution {ise:.5f}, "
          f"naive KDE of W {ise_naive:.5f} ({ise_naive / ise:.1f}x worse)")
    band = est.confidence_band(level=0.95, kind="simultaneous", n_boot=200, rng=args.seed)
    f_true_band = truth.pdf(band.x)
    inside = np.mean((f_true_band >= band.lower) & (f_true_band <= band.upper))
    print(f"95% simultaneous bootstrap band (for E f_hat; smoothing bias not covered): "
          f"covers the true density at {inside:.0%} of {band.x.size} points")
    _plot_density(est, args.out, truth=truth, naive=(grid, kde(grid)), band=band,
                  title="deconv demo: density of X from W = X + Laplace noise")
    print(f"plot written to {args.out}")
    return 0


def _cmd_density(args):
    names, data = read_table(args.input)
    law, reps = _noise_from_args(args, names, data, data.shape[0])
    w = None if reps is not None else _column(names, data, args.column, args.input)
    from deconv.density import DeconvolutionKDE

    try:
        if reps is not None:
            from deconv.density import Replicates

            est = DeconvolutionKDE(noise=Replicates(heteroscedastic=args.heteroscedastic),
                                   bandwidth=_bandwidth(args.bandwidth)).fit(reps)
        else:
            if np.isnan(w).any():
                bad = int(np.flatnonzero(np.isnan(w))[0]) + 1
                raise CLIError(f"{args.input}: missing or empty value in data row {bad} of the observations")
            est = DeconvolutionKDE(noise=law, bandwidth=_bandwidth(args.bandwidth)).fit(w)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    lo, hi = est.support if (args.grid_min is None or args.grid_max is None) else (None, None)
    lo = args.grid_min if args.grid_min is not None else lo
    hi = args.grid_max if args.grid_max is not None else hi
    if not hi > lo:
        raise CLIError(f"--grid-max ({hi}) must be larger than --grid-min ({lo})")
    grid = np.linspace(lo, hi, args.grid_size)
    table = np.column_stack([grid, est.pdf(grid), est.cdf(grid), est.pdf_raw(grid)])
    out = Path(args.out)
    np.savetxt(out, table, delimiter=",", header="x,density,cdf,density_raw", comments="",
               fmt="%.10g")
    print(est.summary())
    print(f"density and CDF on {grid.size} points written to {out}")
    if args.plot:
        _plot_density(est, args.plot)
        print(f"plot written to {args.plot}")
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="deconv", description=__doc__.split("\n\n")[0])
    from deconv import __version__

    p.add_argument("--version", action="version", version=f"deconv {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    d = sub.add_parser("demo", help="deconvolve built-in demo data, print a summary, write a plot")
    d.add_argument("--n", type=int, default=2000, help="number of observations (default 2000)")
    d.add_argument("--noise-sd", type=float, default=0.4, help="Laplace noise sd (default 0.4)")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.add_argument("--out", default="deconv_demo.png", help="plot file (default deconv_demo.png)")
    d.set_defaults(func=_cmd_demo)

    s = sub.add_parser("density", help="density deconvolution of a column of observations W = X + U")
    s.add_argument("input", help="CSV (optional header) or .npy file")
    s.add_argument("--column", help="observation column: header name or 0-based index")
    s.add_argument("--noise", default="normal",
                   choices=["normal", "laplace", "uniform", "student-t", "gamma"],
                   help="error law (default normal)")
    s.add_argument("--sd", type=float, help="error standard deviation")
    s.add_argument("--scale", type=float,
                   help="family scale instead of sd: Laplace b (sd = b*sqrt 2), uniform half-width, t scale")
    s.add_argument("--sd-column", help="column of per-observation error sds (heteroscedastic)")
    s.add_argument("--df", type=float, help="degrees of freedom for --noise student-t")
    s.add_argument("--shape", type=float, help="shape for --noise gamma")
    s.add_argument("--replicates",
                   help="comma-separated replicate columns: estimate the error law from them")
    s.add_argument("--heteroscedastic", action="store_true",
                   help="with --replicates: each individual has its own error variance, estimated "
                        "from its replicates (normal errors; moderated variances)")
    s.add_argument("--bandwidth", default="pi",
                   help="pi (plug-in, default), nr (normal reference), cv, boot, or a number")
    s.add_argument("--grid-size", type=int, default=512, help="grid points (default 512)")
    s.add_argument("--grid-min", type=float, help="grid start (default: data range plus margin)")
    s.add_argument("--grid-max", type=float, help="grid end")
    s.add_argument("--out", default="density.csv", help="output CSV (default density.csv)")
    s.add_argument("--plot", help="also write a PNG plot to this file")
    s.set_defaults(func=_cmd_density)
    return p


def main(argv=None):
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"deconv: error: {exc}", file=sys.stderr)
        return 1
