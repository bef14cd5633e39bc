r"""Nonparametric regression of Y on an error-prone covariate (deconvolution kernel regression).

Model: :math:`Y_j = m(X_j) + \varepsilon_j`, observed :math:`(W_j, Y_j)` with
:math:`W_j = X_j + U_j` and :math:`U_j` of known law (a :mod:`deconv.noise` law,
homoscedastic). The local-polynomial sums of the error-free problem,

.. math:: S_k(x) = \sum_j (X_j - x)^k K_h(X_j - x),\qquad
          T_k(x) = \sum_j Y_j (X_j - x)^k K_h(X_j - x),

are unbiasedly estimated in the Fourier domain. With :math:`\varphi_K` supported on
:math:`[-1, 1]` and :math:`F_k(t) = (-i)^k h^k \varphi_K^{(k)}(th)` the Fourier transform of
:math:`u^k K_h(u)`,

.. math:: \hat S_k(x) = \frac1{2\pi}\int e^{-itx}\,\overline{F_k(t)}\,
          \frac{\sum_j e^{itW_j}}{\varphi_U(t)}\,dt, \qquad
          \hat T_k(x) = \text{the same with } \sum_j Y_j e^{itW_j},

since :math:`E[e^{itW}\mid X] = e^{itX}\varphi_U(t)`. Deconvolution Nadaraya-Watson
(Fan & Truong 1993) is :math:`\hat T_0/\hat S_0`; the deconvolution local-linear estimator
(Delaigle, Fan & Carroll 2009) is
:math:`(\hat S_2\hat T_0 - \hat S_1\hat T_1)/(\hat S_0\hat S_2 - \hat S_1^2)`.
Both numerator and denominator are deconvolution "densities" (one weighted by :math:`Y_j`),
so they are computed by the machinery of :mod:`deconv.density`: empirical characteristic
functions by linear binning + one FFT (O(n + N log N)) or exact compiled sums, then the
compiled Fourier-series evaluation at any :math:`x`.

The bandwidth is fixed or chosen by the SIMEX method of Delaigle & Hall (2008): add
further errors of the law of :math:`U`, :math:`W^* = W + U^*` and
:math:`W^{**} = W^* + U^{**}`; in the simulated problems the "true" covariate is known
(:math:`W`, resp. :math:`W^*`), so cross-validation chooses bandwidths :math:`h_1`
(for :math:`(W^*, Y)` against :math:`W`) and :math:`h_2` (for :math:`(W^{**}, Y)`
against :math:`W^*`), averaged over ``n_simex`` simulated data sets; the bandwidth of the
real problem is extrapolated linearly in :math:`\log h`: :math:`\hat h = h_1^2/h_2`.
"""
import math
import warnings

import numpy as np

from deconv._kernels._fourier import fourier_eval
from deconv._summary import SummaryTable
from deconv._validation import (as_1d_float, as_float_array, check_choice, check_int,
                                check_level, check_positive_scalar, check_rng,
                                check_same_length)
from deconv.density import _spectrum as sp
from deconv.density.estimator import _search_range
from deconv.density.kernels import get_kernel
from deconv.exceptions import DeconvWarning
from deconv.noise import NoiseLaw

__all__ = ["deconvolution_regression", "DeconvolutionRegressionResults"]

# periodic images of the data at least this many bandwidths away: u^k K(u) decays like
# |u|^(k-4) for the triweight-Fourier kernel, so the local-linear sums need far more room
# (2000 bandwidths keep the local-linear periodisation error near 1e-6 of S_2). Bandwidth
# selection tolerates the 1e-4 of 120 bandwidths, and needs the shorter frequency grid.
_ALIAS_BANDWIDTHS = {0: 120.0, 1: 2000.0, "cv": 120.0}
_DIRECT_MAX_N = 5000        # evaluation="auto": exact ecf sums up to this n
_N_H = 25                   # bandwidth candidates of the SIMEX cross-validation
_N_REFINE = 9               # then this many between the neighbours of the coarse minimum
_RIDGE = 0.25              # local-linear: determinant floor, relative to its interior size
_CV_TRIM = 0.05             # CV weight: only points between these quantiles of the "X"

# derivatives of phi_K on [0, 1] (the local-linear estimator needs phi', phi'')
_DERIVATIVES = {
    "triweight": (lambda t: -6.0 * t * (1.0 - t * t) ** 2,
                  lambda t: -6.0 * (1.0 - t * t) ** 2 + 24.0 * t * t * (1.0 - t * t)),
    "biweight": (lambda t: -4.0 * t * (1.0 - t * t),
                 lambda t: -4.0 + 12.0 * t * t),
    "tricube": (lambda t: -9.0 * t * t * (1.0 - t ** 3) ** 2,
                lambda t: -18.0 * t * (1.0 - t ** 3) ** 2 + 54.0 * t ** 4 * (1.0 - t ** 3)),
}


def _kernel_transforms(kernel, order, h, t):
    """conj(F_k(t)) = i^k h^k phi_K^(k)(t h), k = 0..order, on t >= 0."""
    s = t * h
    out = [kernel.phi(s).astype(np.complex128)]
    if order == 1:
        d1, d2 = _DERIVATIVES[kernel.name]
        inside = s < 1.0
        for k, d in ((1, d1), (2, d2)):
            vals = np.zeros_like(s)
            vals[inside] = d(s[inside])
            out.append((1j ** k) * h ** k * vals)
    return out


class _Frame:
    """Frequency grid t_k = k dt (period P) centred on the data: y = w - origin in [0, P)."""

    def __init__(self, w, h_max, h_min, order):
        lo, hi = float(w.min()), float(w.max())
        span = hi - lo
        # images of the data at least 2 spans + A bandwidths from the data, so the
        # estimate is alias-free on [min w - span, max w + span]
        self.P = 4.0 * span + _ALIAS_BANDWIDTHS[order] * h_max
        self.dt = 2.0 * np.pi / self.P
        self.origin = 0.5 * (lo + hi) - 0.5 * self.P
        self.domain = (lo - span, hi + span)
        self.K = int(math.floor(1.0 / (h_min * self.dt))) + 1
        self.n_bins = sp.binned_n(self.P, h_min)

    def n_freq(self, h):
        return min(self.K, int(math.floor(1.0 / (h * self.dt))) + 1)


def _weights_for(y):
    """Positive-sum weights v = Y - mean + s (s = sd of Y, or 1) and the shift to undo.

    Both estimators are equivariant under Y -> Y + c, and the ecf routines normalise by
    the sum of the weights, which must not vanish."""
    s = float(np.std(y))
    s = s if s > 0 else 1.0
    shift = s - float(np.mean(y))
    return y + shift, shift


def _raw_sums(rel, v, frame, method):
    """Unnormalised sums_j e^{i t_k W_j} and sum_j v_j e^{i t_k W_j}, k < frame.K."""
    n = rel.size
    if method == "binned":
        a = sp.ecf_binned(rel, frame.dt, frame.K, frame.n_bins) * n
        b = sp.ecf_binned(rel, frame.dt, frame.K, frame.n_bins, v) * float(v.sum())
    else:
        a = sp.ecf_direct(rel, frame.dt, frame.K) * n
        b = sp.ecf_direct(rel, frame.dt, frame.K, v) * float(v.sum())
    return a, b


def _evaluate(coef, dt, rel_x):
    """(dt/pi) [g_0/2 + sum_k Re(g_k e^{-i t_k x})] at relative points (compiled)."""
    out = np.empty(rel_x.size)
    fourier_eval(np.ascontiguousarray(coef.real), np.ascontiguousarray(coef.imag), float(dt),
                 rel_x, out, np.empty(0))
    return out


class _Sums:
    """Spectra of one data set; evaluates S_k and T_k (k <= 2 order) at any point."""

    def __init__(self, w, y, noise, frame, method):
        v, self.shift = _weights_for(y)
        rel = np.ascontiguousarray(w - frame.origin)
        self.frame = frame
        a, b = _raw_sums(rel, v, frame, method)
        t = np.arange(frame.K) * frame.dt
        if noise is None:
            phi = np.ones(frame.K, dtype=np.complex128)
        else:
            phi = sp.noise_cf_grid(noise, t, w.size)
            phi = np.where(np.abs(phi) < sp._TINY, sp._TINY, phi)
        self.inv_phi = 1.0 / phi
        self.z0 = a * self.inv_phi
        self.zy = b * self.inv_phi
        self.t = t

    def at(self, x_rel, h, kernel, order):
        """S_0..S_{2 order}, T_0..T_order at relative points (T with the shifted Y)."""
        M = self.frame.n_freq(h)
        fk = _kernel_transforms(kernel, order, h, self.t[:M])
        S = [_evaluate(f * self.z0[:M], self.frame.dt, x_rel) for f in fk]
        T = [_evaluate(f * self.zy[:M], self.frame.dt, x_rel) for f in fk[:order + 1]]
        return S, T

    def self_terms(self, diff, h, kernel, order):
        """l_k(diff): one observation's contribution to S_k at distance diff = x - W_j."""
        M = self.frame.n_freq(h)
        fk = _kernel_transforms(kernel, order, h, self.t[:M])
        return [_evaluate(f * self.inv_phi[:M], self.frame.dt, diff) for f in fk]


def _combine(S, T, order, h, kernel):
    """Nadaraya-Watson (order 0) or ridged local-linear (order 1) ratio.

    The deconvolved sums do not satisfy Cauchy-Schwarz, so S0 S2 - S1^2 can approach zero
    or turn negative where data are sparse, and the plain local-linear ratio explodes.
    A ridge lambda added to S2 (Seifert & Gasser 1996) keeps the determinant above
    RIDGE * S0^2 h^2 mu2 (its typical interior size is S0^2 h^2 mu2); it is zero wherever
    the problem is well conditioned and moves the estimate towards Nadaraya-Watson elsewhere.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        if order == 0:
            return T[0] / S[0]
        S0, S1, S2 = S
        det = S0 * S2 - S1 ** 2
        mu2 = kernel.mu2 if kernel.mu2 > 0 else 1.0
        floor = _RIDGE * S0 * S0 * h * h * mu2
        lam = np.where((S0 > 0) & (det < floor), (floor - det) / S0, 0.0)
        return ((S2 + lam) * T[0] - S1 * T[1]) / (det + lam * S0)


# --- SIMEX bandwidth (Delaigle & Hall 2008) ----------------------------------------------------
def _cv_curve(w_true, w_obs, y, noise, kernel, order, hs, method, eval_idx):
    """Leave-one-out CV of the estimate from (w_obs, y) at the known covariates w_true,
    over bandwidths hs (sum over eval_idx of squared prediction errors)."""
    frame = _Frame(w_obs, hs[-1], hs[0], "cv")
    sums = _Sums(w_obs, y, noise, frame, method)
    x_rel = np.ascontiguousarray(w_true[eval_idx] - frame.origin)
    diff = np.ascontiguousarray(w_true[eval_idx] - w_obs[eval_idx])
    v = y[eval_idx] + sums.shift
    out = np.empty(hs.size)
    for i, h in enumerate(hs):
        S, T = sums.at(x_rel, h, kernel, order)
        own = sums.self_terms(diff, h, kernel, order)
        S = [s - o for s, o in zip(S, own)]
        T = [t - v * o for t, o in zip(T, own)]
        pred = _combine(S, T, order, h, kernel) - sums.shift
        err = (y[eval_idx] - pred) ** 2
        # a vanishing denominator is a failure of this bandwidth, not a missing value
        out[i] = np.mean(np.where(np.isfinite(err), err, np.inf))
    return out


def _simex_bandwidth(w, y, noise, *, order=0, kernel="triweight", n_simex=10, cv_points=500,
                    evaluation="auto", rng=None):
    r"""SIMEX bandwidth of Delaigle & Hall (2008) for deconvolution kernel regression.

    Returns ``(h, details)`` with ``details`` holding the candidate bandwidths, the
    averaged CV curves of the two simulated levels and their minimisers ``h1``, ``h2``;
    :math:`h = h_1^2/h_2`. See :func:`deconvolution_regression` for the parameters.
    """
    kernel = get_kernel(kernel)
    rng = check_rng(rng)
    n = w.size
    method = _method(evaluation, n)
    scale = float(np.std(w, ddof=1))
    span = float(w.max() - w.min())
    h_lo, _ = _search_range(noise, kernel, n, scale, span, 1.0)
    hs = np.geomspace(max(0.5 * h_lo, 0.02 * scale), scale, _N_H)
    # the simulated problems: (true covariate, observed covariate, CV points) per level
    problems = ([], [])
    for _ in range(n_simex):
        w1 = w + noise.rvs(n, rng=rng)
        w2 = w1 + noise.rvs(n, rng=rng)
        for level, (truth, obs) in enumerate(((w, w1), (w1, w2))):
            lo, hi = np.quantile(truth, [_CV_TRIM, 1.0 - _CV_TRIM])
            inner = np.flatnonzero((truth >= lo) & (truth <= hi))
            idx = inner if inner.size <= cv_points else rng.choice(inner, cv_points, replace=False)
            problems[level].append((truth, obs, idx))

    def average_cv(level, grid):
        return np.mean([_cv_curve(truth, obs, y, noise, kernel, order, grid, method, idx)
                        for truth, obs, idx in problems[level]], axis=0)

    curves = np.array([average_cv(level, hs) for level in range(2)])
    h12 = []
    for level in range(2):
        i = int(np.argmin(curves[level]))
        if i in (0, hs.size - 1):
            warnings.warn(f"SIMEX cross-validation (level {level + 1}) is minimised at the end "
                          f"of the bandwidth range [{hs[0]:.4g}, {hs[-1]:.4g}]", DeconvWarning,
                          stacklevel=3)
            h12.append(float(hs[i]))
            continue
        # refine between the neighbours of the coarse minimum: the CV curve often rises
        # steeply just below its minimum (noise amplification), so resolution matters
        fine = np.geomspace(hs[i - 1], hs[i + 1], _N_REFINE)
        h12.append(float(fine[np.argmin(average_cv(level, fine))]))
    h1, h2 = h12
    h = h1 * h1 / h2
    return h, dict(bandwidths=hs, cv=curves, h1=h1, h2=h2, n_simex=n_simex)


def _method(evaluation, n):
    evaluation = check_choice(evaluation, "evaluation", ("auto", "binned", "direct"))
    if evaluation == "auto":
        return "binned" if n > _DIRECT_MAX_N else "direct"
    return evaluation


# --- public API ---------------------------------------------------------------------------------
def deconvolution_regression(w, y, noise, *, estimator="nw", bandwidth="simex",
                             kernel="triweight", evaluation="auto", n_simex=10, cv_points=500,
                             rng=None):
    r"""Nonparametric regression of ``y`` on a covariate measured with error.

    Model: :math:`Y = m(X) + \varepsilon`, observed :math:`W = X + U`, :math:`U` of known
    law. Estimates :math:`m` by deconvolution Nadaraya-Watson (Fan & Truong 1993) or
    deconvolution local-linear regression (Delaigle, Fan & Carroll 2009); see
    :mod:`deconv.eiv.nonparametric` for the formulas.

    Parameters
    ----------
    w : array_like (n,)
        Error-prone covariate :math:`W = X + U`.
    y : array_like (n,)
        Responses.
    noise : deconv.noise law
        Homoscedastic law of :math:`U` (e.g. ``deconv.noise.Laplace(sd=0.3)``).
    estimator : {"nw", "local-linear"}
        Deconvolution Nadaraya-Watson (default: the more stable in our simulations, see
        the user guide) or ridged deconvolution local-linear (smaller bias, notably near
        the ends of the design; more variable at small n).
    bandwidth : "simex" or float
        SIMEX cross-validation choice (Delaigle & Hall 2008) or a fixed positive bandwidth.
    kernel : str or FourierKernel
        Kernel by its Fourier transform on [-1, 1] (:mod:`deconv.density.kernels`);
        local-linear needs "triweight" (default), "biweight" or "tricube".
    evaluation : {"auto", "binned", "direct"}
        Empirical characteristic functions by linear binning + FFT (O(n + N log N)) or by
        exact compiled sums (O(nK)); "auto" bins when n > 5000.
    n_simex : int
        Simulated data sets per SIMEX level.
    cv_points : int
        At most this many points (drawn at random among the central 90% of the simulated
        "true" covariates) enter each cross-validation sum; the estimates use all data.
    rng : None, int or numpy.random.Generator
        Randomness of the SIMEX pseudo-errors.

    Returns
    -------
    DeconvolutionRegressionResults

    References
    ----------
    Fan, J. and Truong, Y. K. (1993). Nonparametric regression with errors in variables.
    *Annals of Statistics* 21, 1900-1925.
    Delaigle, A., Fan, J. and Carroll, R. J. (2009). A design-adaptive local polynomial
    estimator for the errors-in-variables problem. *JASA* 104, 348-359.
    Delaigle, A. and Hall, P. (2008). Using SIMEX for smoothing-parameter choice in
    errors-in-variables problems. *JASA* 103, 280-287.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.noise import Laplace
    >>> from deconv.eiv.nonparametric import deconvolution_regression
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=2000)
    >>> y = np.sin(2 * x) + 0.2 * rng.normal(size=2000)
    >>> w = x + Laplace(sd=0.25).rvs(2000, rng=rng)
    >>> res = deconvolution_regression(w, y, Laplace(sd=0.25), rng=0)  # SIMEX bandwidth
    >>> bool(abs(res.predict(0.5) - np.sin(1.0)) < 0.1)
    True
    """
    w = as_1d_float(w, "w", min_size=3)
    y = as_1d_float(y, "y", min_size=3)
    check_same_length(w=w, y=y)
    if not isinstance(noise, NoiseLaw):
        raise TypeError("noise must be a deconv.noise law (e.g. deconv.noise.Laplace(sd=0.3)), "
                        f"got {type(noise).__name__}")
    if noise.heteroscedastic:
        raise ValueError("noise must be homoscedastic (one sd); heteroscedastic errors are not "
                         "supported by deconvolution_regression yet")
    estimator = check_choice(estimator, "estimator", ("local-linear", "nw"))
    order = 1 if estimator == "local-linear" else 0
    kernel = get_kernel(kernel)
    if order == 1 and kernel.name not in _DERIVATIVES:
        raise ValueError(f"kernel {kernel.name!r} has no smooth derivatives for the local-linear "
                         f"estimator; use one of {sorted(_DERIVATIVES)} or estimator='nw'")
    method = _method(evaluation, w.size)
    n_simex = check_int(n_simex, "n_simex", min_value=1)
    cv_points = check_int(cv_points, "cv_points", min_value=10)
    if not float(w.max() - w.min()) > 0:
        raise ValueError("w has no spread (all observations are equal)")
    var_w = float(np.var(w, ddof=1))
    if noise.var >= var_w:
        raise ValueError(f"the error variance ({noise.var:.4g}) is not smaller than the sample "
                         f"variance of w ({var_w:.4g}): X would have no variance; check noise")
    if isinstance(bandwidth, str):
        check_choice(bandwidth, "bandwidth", ("simex",))
        h, details = _simex_bandwidth(w, y, noise, order=order, kernel=kernel, n_simex=n_simex,
                                     cv_points=cv_points, evaluation=evaluation, rng=rng)
        rule = "SIMEX (Delaigle & Hall 2008)"
    else:
        h = check_positive_scalar(bandwidth, "bandwidth")
        details = {}
        rule = "fixed"
    return DeconvolutionRegressionResults(w, y, noise, kernel, order, h, method, rule, details)


class DeconvolutionRegressionResults:
    """Fitted deconvolution kernel regression curve :math:`\\hat m(x)`.

    Built by :func:`deconvolution_regression`. Attributes: ``bandwidth``, ``estimator``
    ("nw" or "local-linear"), ``kernel``, ``noise``, ``nobs``, ``w``, ``y``,
    ``bandwidth_details`` (SIMEX candidates and CV curves), ``domain`` (the interval where
    :meth:`predict` is defined: the data range extended by its width on each side).
    """

    def __init__(self, w, y, noise, kernel, order, h, method, rule, details):
        self.w, self.y = w, y
        self.noise = noise
        self.kernel = kernel
        self.order = order
        self.estimator = "local-linear" if order == 1 else "nw"
        self.bandwidth = float(h)
        self.evaluation = method
        self.bandwidth_rule = rule
        self.bandwidth_details = details
        self.nobs = w.size
        self._frame = _Frame(w, h, h, order)
        self._sums = _Sums(w, y, noise, self._frame, method)
        self.domain = self._frame.domain
        self._naive = None

    def _x(self, x):
        x = as_float_array(x, "x", allow_empty=True)
        lo, hi = self.domain
        if x.size and (x.min() < lo or x.max() > hi):
            raise ValueError(f"x must lie in [{lo:.6g}, {hi:.6g}] (the data range extended by its "
                             "width on each side), where the Fourier estimate is alias-free")
        return x

    @staticmethod
    def _predict_with(sums, x, h, kernel, order):
        rel = np.ascontiguousarray(x.reshape(-1) - sums.frame.origin)
        S, T = sums.at(rel, h, kernel, order)
        return (_combine(S, T, order, h, kernel) - sums.shift).reshape(x.shape)

    def predict(self, x):
        """:math:`\\hat m(x)` at any points inside :attr:`domain`."""
        x = self._x(x)
        return self._predict_with(self._sums, x, self.bandwidth, self.kernel, self.order)

    def predict_naive(self, x):
        """The naive estimator (same kernel, estimator and bandwidth) that ignores the error."""
        x = self._x(x)
        if self._naive is None:
            self._naive = _Sums(self.w, self.y, None, self._frame, self.evaluation)
        return self._predict_with(self._naive, x, self.bandwidth, self.kernel, self.order)

    def confidence_band(self, x=None, level=0.95, n_boot=200, rng=None):
        """Pointwise percentile bootstrap band (pairs resampled, bandwidth held fixed).

        It covers :math:`E\\hat m(x)`, not :math:`m(x)`: the smoothing bias is not included.
        Returns ``(x, lower, upper)``.
        """
        level = check_level(level)
        n_boot = check_int(n_boot, "n_boot", min_value=10)
        rng = check_rng(rng)
        x = self._default_x() if x is None else self._x(x).reshape(-1)
        rel = np.ascontiguousarray(x - self._frame.origin)
        reps = np.empty((n_boot, x.size))
        for b in range(n_boot):
            idx = rng.integers(0, self.nobs, self.nobs)
            sums = _Sums(self.w[idx], self.y[idx], self.noise, self._frame, self.evaluation)
            S, T = sums.at(rel, self.bandwidth, self.kernel, self.order)
            reps[b] = _combine(S, T, self.order, self.bandwidth, self.kernel) - sums.shift
        a = 0.5 * (1.0 - level)
        lo, hi = np.nanquantile(reps, [a, 1.0 - a], axis=0)
        return x, lo, hi

    def _default_x(self, n=200):
        lo, hi = np.quantile(self.w, [0.02, 0.98])
        return np.linspace(lo, hi, n)

    def summary(self):
        """A :class:`~deconv._summary.SummaryTable`: settings and the fitted curve at the
        deciles of ``w`` (with the naive estimate beside it)."""
        q = np.quantile(self.w, np.linspace(0.1, 0.9, 9))
        m, naive = self.predict(q), self.predict_naive(q)
        rows = [(f"q{int(round(100 * p))}", [x, mi, ni])
                for p, x, mi, ni in zip(np.linspace(0.1, 0.9, 9), q, m, naive)]
        name = ("deconvolution local-linear (Delaigle, Fan & Carroll 2009)" if self.order == 1
                else "deconvolution Nadaraya-Watson (Fan & Truong 1993)")
        info = [("Method", name), ("Observations", self.nobs), ("Noise", repr(self.noise)),
                ("Kernel", self.kernel.name), ("Bandwidth", self.bandwidth),
                ("Bandwidth rule", self.bandwidth_rule), ("Evaluation", self.evaluation)]
        d = self.bandwidth_details
        if d:
            info += [("SIMEX h1, h2", f"{d['h1']:.4g}, {d['h2']:.4g}"),
                     ("SIMEX replicates", d["n_simex"])]
        return SummaryTable("Deconvolution kernel regression", info=info,
                            columns=["w quantile", "m_hat", "naive"], rows=rows,
                            notes=["naive: the same estimator ignoring the measurement error"])

    def plot(self, ax=None, x=None, band=False, rng=None):
        """Data, the deconvolution estimate and the naive estimate (optionally a bootstrap
        band). Returns the Axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots()
        x = self._default_x() if x is None else self._x(x).reshape(-1)
        n_show = min(self.nobs, 2000)
        ax.plot(self.w[:n_show], self.y[:n_show], ".", color="0.6", ms=3, alpha=0.5,
                label="data (w, y)")
        if band:
            xb, lo, hi = self.confidence_band(x, rng=rng)
            ax.fill_between(xb, lo, hi, color="C3", alpha=0.2, lw=0, label="95% bootstrap band")
        ax.plot(x, self.predict_naive(x), color="C0", ls="--", label="naive (ignores error)")
        ax.plot(x, self.predict(x), color="C3", label=f"deconvolution {self.estimator}")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(loc="best")
        return ax

    def __repr__(self):
        return (f"<DeconvolutionRegressionResults {self.estimator}, n={self.nobs}, "
                f"h={self.bandwidth:.4g}>")
