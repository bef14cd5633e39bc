"""Data sets for errors-in-variables regression (``deconv.eiv``).

* :func:`pearson_york` -- Pearson's (1901) ten points with York's (1966) weights, the
  classic test of straight-line fits with errors in both variables.
* :func:`make_eiv_regression` -- simulated linear / logistic / Poisson data with a
  covariate measured with additive normal error (known truth for examples and tests).
"""
import numpy as np

from deconv._validation import check_choice, check_int, check_positive_scalar, check_rng

__all__ = ["pearson_york", "make_eiv_regression"]


def pearson_york():
    """Pearson's (1901) data with York's (1966) weights.

    Returns
    -------
    dict
        ``x``, ``y`` (10 points), ``wx``, ``wy`` (weights = inverse variances), ``sx``,
        ``sy`` (standard errors), and ``reference``: York et al.'s (2004) solution
        ``intercept = 5.479910224``, ``slope = -0.480533407``, ``se_intercept =
        0.294970735``, ``se_slope = 0.057985009``.

    References
    ----------
    Pearson, K. (1901). On lines and planes of closest fit to systems of points in space.
    *Phil. Mag.* 2, 559-572. York, D. (1966). *Can. J. Phys.* 44, 1079-1086. York, D. et al.
    (2004). *Am. J. Phys.* 72, 367-375 (Table I and the published solution).

    Examples
    --------
    >>> import deconv as dc
    >>> from deconv.datasets.eiv import pearson_york
    >>> d = pearson_york()
    >>> res = dc.eiv.york(d["x"], d["y"], d["sx"], d["sy"])
    >>> round(res.slope, 6) == round(d["reference"]["slope"], 6)
    True
    """
    x = np.array([0.0, 0.9, 1.8, 2.6, 3.3, 4.4, 5.2, 6.1, 6.5, 7.4])
    y = np.array([5.9, 5.4, 4.4, 4.6, 3.5, 3.7, 2.8, 2.8, 2.4, 1.5])
    wx = np.array([1000, 1000, 500, 800, 200, 80, 60, 20, 1.8, 1.0])
    wy = np.array([1, 1.8, 4, 8, 20, 20, 70, 70, 100, 500.0])
    return {"x": x, "y": y, "wx": wx, "wy": wy, "sx": 1 / np.sqrt(wx), "sy": 1 / np.sqrt(wy),
            "reference": {"intercept": 5.479910224, "slope": -0.480533407,
                          "se_intercept": 0.294970735, "se_slope": 0.057985009}}


def make_eiv_regression(n=1000, *, family="linear", beta=(0.0, 1.0), error_sd=0.5,
                        x_sd=1.0, rng=None):
    """Simulate ``y`` from a GLM in a true covariate ``x`` observed as ``w = x + u``.

    Parameters
    ----------
    n : int
    family : {"linear", "logistic", "poisson"}
    beta : (intercept, slope)
    error_sd : float
        Standard deviation of the measurement error ``u`` (reliability
        ``x_sd^2 / (x_sd^2 + error_sd^2)``).
    x_sd : float
    rng : None, int or numpy.random.Generator

    Returns
    -------
    dict with ``w``, ``y``, ``x`` (the true covariate), ``reliability``.

    Examples
    --------
    >>> from deconv.datasets.eiv import make_eiv_regression
    >>> d = make_eiv_regression(100, family="logistic", rng=0)
    >>> sorted(d)
    ['reliability', 'w', 'x', 'y']
    """
    n = check_int(n, "n", min_value=3)
    family = check_choice(family, "family", ("linear", "logistic", "poisson"))
    error_sd = check_positive_scalar(error_sd, "error_sd")
    x_sd = check_positive_scalar(x_sd, "x_sd")
    if len(beta) != 2:
        raise ValueError("beta must be (intercept, slope)")
    g = check_rng(rng)
    x = g.normal(0.0, x_sd, n)
    w = x + g.normal(0.0, error_sd, n)
    eta = beta[0] + beta[1] * x
    if family == "linear":
        y = eta + g.normal(size=n)
    elif family == "logistic":
        y = (g.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    else:
        y = g.poisson(np.exp(eta)).astype(float)
    return {"w": w, "y": y, "x": x, "reliability": x_sd ** 2 / (x_sd ** 2 + error_sd ** 2)}
