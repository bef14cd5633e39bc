import numpy as np

from deconv._kernels._binning import linear_bin


def naive_linear_bin(x, lo, delta, m):
    """Obviously-correct reference: loop in Python."""
    out = np.zeros(m)
    for xi in x:
        p = (xi - lo) / delta
        p = min(max(p, 0.0), m - 1)
        k = int(np.floor(p))
        if k == m - 1:
            out[k] += 1
            continue
        out[k] += 1 - (p - k)
        out[k + 1] += p - k
    return out


def test_linear_bin_matches_reference_and_keeps_mass():
    rng = np.random.default_rng(0)
    x = rng.normal(size=1000)
    lo, hi, m = x.min(), x.max(), 37
    delta = (hi - lo) / (m - 1)
    out = np.zeros(m)
    linear_bin(x, np.empty(0), lo, delta, out)
    np.testing.assert_allclose(out, naive_linear_bin(x, lo, delta, m), rtol=0, atol=1e-12)
    assert abs(out.sum() - x.size) < 1e-9
    # first moment preserved exactly by linear binning
    grid = lo + delta * np.arange(m)
    np.testing.assert_allclose(out @ grid, x.sum(), rtol=1e-12)


def test_linear_bin_weights_and_readonly_input():
    x = np.array([0.25, 0.5])
    x.setflags(write=False)
    w = np.array([2.0, 4.0])
    out = np.zeros(3)
    linear_bin(x, w, 0.0, 0.5, out)
    np.testing.assert_allclose(out, [1.0, 1.0 + 4.0, 0.0])
