r"""Bandwidth selection for the deconvolution kernel density estimator, in Fourier form.

All criteria are integrals over frequency of the deconvolved empirical characteristic
function :math:`\hat z(t) \approx \varphi_X(t)` and its diagonal term
:math:`d(t) = 1/(n|\varphi_U(t)|^2)` (heteroscedastic: :math:`1/\sum_j|\varphi_{U_j}(t)|^2`),
computed once on the frequency grid of :mod:`deconv.density._spectrum`. Every internal grid
is anchored to the data's location and scale, so each selector is location- and
scale-equivariant: scaling data and noise by c scales the bandwidth by c.

Selectors
---------
``"nr"`` normal reference
    Minimises the *exact* MISE (below) with :math:`\varphi_X` the normal characteristic
    function of variance :math:`\max(\widehat{\mathrm{var}}\,W - \mathrm{var}\,U,\ 0.05\,
    \widehat{\mathrm{var}}\,W)`. We use the exact MISE rather than its asymptotic
    expansion because the expansion is poor for supersmooth (normal) errors at practical
    n, and it works for kernels of any order (e.g. sinc).
``"pi"`` two-stage plug-in (Delaigle & Gijbels 2002, 2004), default
    :math:`h` minimises :math:`\mathrm{AMISE}(h) = \pi^{-1}\int_0^\infty \varphi_K(th)^2 d(t)\,dt
    + h^4\mu_2^2\hat\theta_2/4` with
    :math:`\hat\theta_r(g) = \pi^{-1}\int_0^\infty t^{2r}\varphi_K(tg)^2|\hat z(t)|^2 dt`
    estimating :math:`\theta_r = \int (f^{(r)})^2`. The pilot :math:`g_r` balances the
    smoothing bias :math:`-\mu_2 g^2\theta_{r+1}` of :math:`\hat\theta_r` against its
    diagonal term :math:`\pi^{-1}\int t^{2r}\varphi_K(tg)^2 d(t)\,dt`; :math:`\theta_4` comes
    from the normal reference, :math:`\hat\theta_3(g_3)` then gives :math:`g_2`. Kernels of
    higher order (:math:`\mu_2 = 0`: sinc, flattop, tricube) have no AMISE of this form; for
    them ``"pi"`` uses the bootstrap criterion below.
``"cv"`` cross-validation (Stefanski & Carroll 1990)
    Minimises an unbiased estimate of ISE(h) minus a constant,
    :math:`\pi^{-1}\int[\varphi_K(th)^2|\hat z|^2 - 2\varphi_K(th)\tfrac{n}{n-1}(|\hat z|^2 - d)]dt`.
``"boot"`` bootstrap MISE (Delaigle & Gijbels 2004)
    Minimises the exact MISE with :math:`\varphi_X` replaced by the characteristic function
    of a pilot estimate: :math:`\varphi_{K_3}(tg_2)\hat z(t)` (triweight kernel, the plug-in's
    second-stage pilot bandwidth :math:`g_2`). The bootstrap expectation has this closed
    form, so no resampling is needed.

The exact MISE of the estimator for a known :math:`\varphi_X` is

.. math:: \mathrm{MISE}(h) = \frac1{2\pi}\int \frac{|\varphi_K(th)|^2
          (1 - |\varphi_X\varphi_U|^2)}{n|\varphi_U|^2} + |\varphi_X|^2|1-\varphi_K(th)|^2\,dt,

:func:`exact_mise`, the tool the selectors are tested against.

References
----------
Stefanski, L. A. and Carroll, R. J. (1990). Deconvoluting kernel density estimators.
*Statistics* 21, 169-184.
Delaigle, A. and Gijbels, I. (2002). Estimation of integrated squared density derivatives
from a contaminated sample. *JRSS B* 64, 869-886.
Delaigle, A. and Gijbels, I. (2004). Practical bandwidth selection in deconvolution kernel
density estimation. *Computational Statistics & Data Analysis* 45, 249-267.
Delaigle, A. and Meister, A. (2008). Density estimation with heteroscedastic error.
*Bernoulli* 14, 562-579.
"""
import math

import numpy as np
from scipy import integrate, optimize

from deconv._validation import check_int, check_positive_scalar
from deconv.density.kernels import KERNELS, get_kernel

__all__ = ["exact_mise", "SELECTORS"]

SELECTORS = ("pi", "nr", "cv", "boot")
_N_SEARCH = 48


class SelectionContext:
    """What a selector needs besides the spectrum: scales, search range, kernel."""

    def __init__(self, spec, kernel, n, var_w, var_u, scale, h_lo, h_hi):
        self.spec = spec
        self.kernel = kernel
        self.n = n
        self.var_w = var_w
        self.var_u = var_u
        self.scale = scale
        self.h_lo = h_lo
        self.h_hi = h_hi
        self.t = spec.t
        # trapezoid weights of (1/pi) int_0^inf on the grid
        self.w = np.full(spec.K, spec.dt / np.pi)
        self.w[0] *= 0.5
        self.d = spec.d
        self.details = {}

    def z2(self, k):
        """|z|^2 on the first k frequencies."""
        return np.abs(self.spec.z_upto(k)) ** 2

    def kmax(self, h):
        return min(self.spec.K, int(math.floor(1.0 / (h * self.spec.dt))) + 1)

    def phik(self, h, kernel=None):
        kernel = self.kernel if kernel is None else kernel
        k = self.kmax(h)
        return kernel.phi(self.t[:k] * h), k

    def sigma_x2(self):
        return max(self.var_w - self.var_u, 0.05 * self.var_w)


# --- the criteria -----------------------------------------------------------------------
def _variance_term(ctx, h, kernel=None):
    p, k = ctx.phik(h, kernel)
    return float(np.sum(ctx.w[:k] * p * p * ctx.d[:k]))


def _mise_given_phix2(ctx, h, phix2):
    """Exact MISE (minus an h-free constant) for |phi_X|^2 given on the grid."""
    p, k = ctx.phik(h)
    w = ctx.w
    var = np.sum(w[:k] * p * p * (ctx.d[:k] - phix2[:k] / ctx.n))
    bias = np.sum(w[:k] * phix2[:k] * (1.0 - p) ** 2) + np.sum(w[k:] * phix2[k:])
    return float(var + bias)


def _cv(ctx, h):
    p, k = ctx.phik(h)
    n = ctx.n
    z2 = ctx.z2(k)
    unb = (z2 - ctx.d[:k]) * (n / (n - 1.0))
    return float(np.sum(ctx.w[:k] * (p * p * z2 - 2.0 * p * unb)))


def _theta_hat(ctx, r, g, kernel):
    p, k = ctx.phik(g, kernel)
    t = ctx.t[:k]
    return float(np.sum(ctx.w[:k] * t ** (2 * r) * p * p * ctx.z2(k)))


def _theta_normal(r, sigma):
    # int (f^(r))^2 for N(0, sigma^2): (2r)! / ((2 sigma)^(2r+1) r! sqrt(pi))
    return math.factorial(2 * r) / ((2.0 * sigma) ** (2 * r + 1) * math.factorial(r) * math.sqrt(math.pi))


def _pilot(ctx, r, theta_next, kernel):
    """Pilot g for theta_r: root of diagonal(g) - mu2 g^2 theta_{r+1} (the bias balance)."""
    mu2 = kernel.mu2

    def balance(lg):
        g = math.exp(lg)
        p, k = ctx.phik(g, kernel)
        t = ctx.t[:k]
        diag = np.sum(ctx.w[:k] * t ** (2 * r) * p * p * ctx.d[:k])
        return diag - mu2 * g * g * theta_next

    lo, hi = math.log(ctx.h_lo), math.log(ctx.h_hi * 3.0)
    grid = np.linspace(lo, hi, _N_SEARCH)
    vals = np.array([balance(v) for v in grid])
    sign = np.flatnonzero((vals[:-1] > 0) & (vals[1:] <= 0))
    if sign.size:
        i = sign[0]
        return math.exp(optimize.brentq(balance, grid[i], grid[i + 1], xtol=1e-10))
    return math.exp(grid[int(np.argmin(np.abs(vals)))])


def _minimise(ctx, crit):
    """Global search on a log grid over [h_lo, h_hi], then a bounded refinement."""
    lo, hi = math.log(ctx.h_lo), math.log(ctx.h_hi)
    grid = np.linspace(lo, hi, _N_SEARCH)
    vals = np.array([crit(math.exp(v)) for v in grid])
    vals = np.where(np.isfinite(vals), vals, np.inf)
    i = int(np.argmin(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = optimize.minimize_scalar(lambda v: crit(math.exp(v)), bounds=(a, b), method="bounded",
                                   options={"xatol": 1e-7})
    best = res.x if res.fun <= vals[i] else grid[i]
    ctx.details["at_boundary"] = i in (0, grid.size - 1)
    return math.exp(best)


def _select_nr(ctx):
    s2 = ctx.sigma_x2()
    phix2 = np.exp(-s2 * ctx.t ** 2)
    return _minimise(ctx, lambda h: _mise_given_phix2(ctx, h, phix2))


def _plugin_pilots(ctx, kernel):
    sigma = math.sqrt(ctx.sigma_x2())
    theta4 = _theta_normal(4, sigma)
    g3 = _pilot(ctx, 3, theta4, kernel)
    theta3 = _theta_hat(ctx, 3, g3, kernel)
    g2 = _pilot(ctx, 2, theta3, kernel)
    theta2 = _theta_hat(ctx, 2, g2, kernel)
    ctx.details.update(g3=g3, g2=g2, theta2=theta2, theta3=theta3)
    return g2, theta2


def _select_pi(ctx):
    if ctx.kernel.mu2 <= 0:
        ctx.details["note"] = "higher-order kernel: plug-in uses the bootstrap MISE criterion"
        return _select_boot(ctx)
    _, theta2 = _plugin_pilots(ctx, ctx.kernel)
    mu2 = ctx.kernel.mu2
    return _minimise(ctx, lambda h: _variance_term(ctx, h) + 0.25 * h ** 4 * mu2 ** 2 * theta2)


def _select_cv(ctx):
    return _minimise(ctx, lambda h: _cv(ctx, h))


def _select_boot(ctx):
    pilot_kernel = ctx.kernel if ctx.kernel.mu2 > 0 else KERNELS["triweight"]
    g2, _ = _plugin_pilots(ctx, pilot_kernel)
    p, k = ctx.phik(g2, pilot_kernel)
    phix2 = np.zeros(ctx.spec.K)
    phix2[:k] = p * p * ctx.z2(k)
    return _minimise(ctx, lambda h: _mise_given_phix2(ctx, h, phix2))


_DISPATCH = {"nr": _select_nr, "pi": _select_pi, "cv": _select_cv, "boot": _select_boot}


def select(name, ctx):
    """Run selector ``name`` on a :class:`SelectionContext`; returns the bandwidth."""
    return _DISPATCH[name](ctx)


# --- exact MISE for a known truth -------------------------------------------------------
def exact_mise(h, cf_x, noise, n=None, kernel="triweight", n_t=4001):
    r"""Exact mean integrated squared error of the deconvolution kernel estimator.

    .. math:: \mathrm{MISE}(h) = \frac1\pi\int_0^\infty \varphi_K(th)^2
              \Big(D(t) - \frac{|\varphi_X(t)|^2 \sum_j|\varphi_{U_j}|^4}{S(t)^2}\Big)
              + |\varphi_X(t)|^2\{1-\varphi_K(th)\}^2\,dt,

    with :math:`S(t) = \sum_j|\varphi_{U_j}(t)|^2` and :math:`D = 1/S` (homoscedastic:
    :math:`S = n|\varphi_U|^2`, giving the classical formula of Stefanski & Carroll 1990).

    Parameters
    ----------
    h : float or array_like
        Bandwidth(s).
    cf_x : callable
        Characteristic function of the true density of X, ``cf_x(t) -> complex array``.
    noise : deconv.noise law
        The error law (heteroscedastic laws give the Delaigle & Meister 2008 estimator's MISE).
    n : int, optional
        Sample size (required for a homoscedastic law; must match a heteroscedastic one).
    kernel : str or FourierKernel
    n_t : int
        Points of the Simpson rule on :math:`t \in [0, 1/h]`.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.noise import Laplace
    >>> from deconv.density import exact_mise
    >>> cf = lambda t: np.exp(-t**2 / 2)          # X ~ N(0, 1)
    >>> [round(float(exact_mise(h, cf, Laplace(sd=0.5), n=500)), 4) for h in (0.1, 0.2, 0.3)]
    [0.0094, 0.0037, 0.0105]
    """
    kernel = get_kernel(kernel)
    if not callable(cf_x):
        raise TypeError("cf_x must be a callable returning the characteristic function of X")
    if noise.heteroscedastic:
        if n is not None and check_int(n, "n", min_value=2) != noise.n_obs:
            raise ValueError(f"n={n} does not match the {noise.n_obs} error sds of the noise law")
        n = noise.n_obs
    else:
        if n is None:
            raise ValueError("n (sample size) is required for a homoscedastic noise law")
        n = check_int(n, "n", min_value=1)
    hs = np.atleast_1d(np.asarray(h, dtype=np.float64))
    for hv in hs:
        check_positive_scalar(float(hv), "h")
    n_t = check_int(n_t, "n_t", min_value=11) | 1
    out = np.empty(hs.size)
    for i, hv in enumerate(hs):
        t = np.linspace(0.0, 1.0 / hv, n_t)
        phix2 = np.abs(np.asarray(cf_x(t))) ** 2
        if noise.heteroscedastic:
            # S = sum_j |phi_j|^2 and sum_j |phi_j|^4, in chunks of observations (memory)
            s = np.zeros(n_t)
            s4 = np.zeros(n_t)
            sds = noise.sd
            step = max(1, 2_000_000 // n_t)
            for j0 in range(0, sds.size, step):
                u = np.multiply.outer(sds[j0:j0 + step], t)
                a2 = np.abs(noise.std_cf(u.reshape(-1)).reshape(u.shape)) ** 2
                s += a2.sum(axis=0)
                s4 += (a2 ** 2).sum(axis=0)
            var = (1.0 / s) - phix2 * s4 / s ** 2
        else:
            a2 = np.abs(noise.cf(t)) ** 2
            var = (1.0 - phix2 * a2) / (n * a2)
        p = kernel.phi(t * hv)
        inner = integrate.simpson(p * p * var + phix2 * (1.0 - p) ** 2, x=t)
        tail, _ = integrate.quad(lambda u: float(np.abs(cf_x(np.array([u])))[0] ** 2),
                                 1.0 / hv, np.inf, limit=200)
        out[i] = (inner + tail) / np.pi
    return out[0] if np.ndim(h) == 0 else out
