"""Command-line front end: file reading, errors and exit codes, and the main jobs end to end."""
import subprocess
import sys

import numpy as np
import pytest

from deconv.cli import CLIError, main, read_table


def test_read_table_csv_with_and_without_header(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("w,s\n1.5,0.1\n2.5,0.2\n")
    names, data = read_table(p)
    assert names == ["w", "s"]
    np.testing.assert_array_equal(data, [[1.5, 0.1], [2.5, 0.2]])
    q = tmp_path / "b.csv"
    q.write_text("1.0\n2.0\n3.0\n")
    names, data = read_table(q)
    assert names == ["0"] and data.shape == (3, 1)


def test_read_table_missing_cells_and_npy(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("w1,w2\n1.0,\n2.0,2.5\n")
    _, data = read_table(p)
    assert np.isnan(data[0, 1]) and data[1, 1] == 2.5
    arr = np.arange(6.0).reshape(3, 2)
    np.save(tmp_path / "x.npy", arr)
    names, data = read_table(tmp_path / "x.npy")
    assert names == ["0", "1"]
    np.testing.assert_array_equal(data, arr)


@pytest.mark.parametrize("content,match", [
    ("w\n1.0\nabc\n", "row 2, column 1: not a number: 'abc'"),
    ("", "is empty"),
    ("w\n", "no data rows"),
    ("a,b\n1,2\n3\n", "expected 2 fields"),
])
def test_read_table_errors(tmp_path, content, match):
    p = tmp_path / "bad.csv"
    p.write_text(content)
    with pytest.raises(CLIError, match=match):
        read_table(p)


def test_cli_errors_exit_nonzero_with_one_line(tmp_path, capsys):
    assert main(["density", str(tmp_path / "missing.csv"), "--sd", "0.3"]) == 1
    assert "input file not found" in capsys.readouterr().err
    p = tmp_path / "w.csv"
    p.write_text("w\n1.0\n2.0\n")
    assert main(["density", str(p)]) == 1
    assert "say how noisy" in capsys.readouterr().err
    assert main(["density", str(p), "--sd", "-1"]) == 1
    assert "sd must be positive" in capsys.readouterr().err
    assert main(["density", str(p), "--sd", "0.1", "--column", "nope"]) == 1
    assert "column 'nope' not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["density", str(p), "--noise", "cauchy", "--sd", "1"])
    assert exc.value.code == 2


def test_module_entry_point_version(tmp_path):
    import os

    import deconv

    # run the deconv this test imported, from a neutral directory (a source checkout in the
    # working directory would otherwise shadow an installed package)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(deconv.__file__)))
    out = subprocess.run([sys.executable, "-m", "deconv", "--version"], capture_output=True,
                         text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0 and out.stdout.startswith("deconv ")


def _write_demo_csv(path, n=400, seed=1):
    from deconv.datasets import bimodal_demo

    w, x, _, _ = bimodal_demo(n, noise_sd=0.4, rng=seed)
    reps = x[:, None] + np.random.default_rng(seed + 1).normal(0, 0.4, (n, 2))
    table = np.column_stack([w, np.full(n, 0.4), reps])
    np.savetxt(path, table, delimiter=",", header="w,s,r1,r2", comments="")


def test_density_command_writes_density_and_cdf(tmp_path, capsys):
    data = tmp_path / "d.csv"
    _write_demo_csv(data)
    out, png = tmp_path / "f.csv", tmp_path / "f.png"
    assert main(["density", str(data), "--column", "w", "--noise", "laplace", "--sd", "0.4",
                 "--out", str(out), "--plot", str(png), "--grid-size", "300"]) == 0
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    x, f, F = table[:, 0], table[:, 1], table[:, 2]
    assert table.shape == (300, 4)
    assert np.all(f >= 0) and np.all(np.diff(F) >= -1e-12)
    # the CDF column is the integral of the density column (trapezoid on a fine grid)
    np.testing.assert_allclose(F[-1] - F[0], np.trapezoid(f, x), atol=2e-3)
    assert png.stat().st_size > 1000
    # the same estimate through the Python API (Laplace sd = 0.4, same bandwidth rule)
    from deconv.density import DeconvolutionKDE
    from deconv.noise import Laplace
    est = DeconvolutionKDE(noise=Laplace(sd=0.4)).fit(np.loadtxt(data, delimiter=",", skiprows=1)[:, 0])
    np.testing.assert_allclose(f, est.pdf(x), rtol=1e-8, atol=1e-9)  # CSV keeps 10 digits of x and f


def test_density_command_heteroscedastic_and_replicates(tmp_path):
    data = tmp_path / "d.csv"
    _write_demo_csv(data)
    assert main(["density", str(data), "--column", "w", "--sd-column", "s",
                 "--out", str(tmp_path / "h.csv")]) == 0
    assert main(["density", str(data), "--replicates", "r1,r2", "--out", str(tmp_path / "r.csv")]) == 0
    assert main(["density", str(data), "--replicates", "r1,r2", "--heteroscedastic",
                 "--out", str(tmp_path / "rh.csv")]) == 0
    for name in ("h.csv", "r.csv", "rh.csv"):
        t = np.loadtxt(tmp_path / name, delimiter=",", skiprows=1)
        assert abs(np.trapezoid(t[:, 1], t[:, 0]) - 1) < 2e-3


def test_demo_command_runs(tmp_path, capsys):
    png = tmp_path / "demo.png"
    assert main(["demo", "--n", "500", "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "integrated squared error" in out and png.exists()
