"""Command-line front end: file reading, errors and exit codes, and the main jobs end to end."""

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


def test_module_entry_point_version(run_python):
    out = run_python("import runpy, sys; sys.argv = ['deconv', '--version']; "
                     "runpy.run_module('deconv', run_name='__main__')")
    assert out.startswith("deconv ")
