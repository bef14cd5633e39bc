r"""The deconvolution kernel density estimator :class:`DeconvolutionKDE`.

Model: :math:`W_j = X_j + U_j`, with :math:`U_j` independent of :math:`X_j` and of known law
(or estimated from replicates). The estimator of Stefanski & Carroll (1990) and Fan (1991),

.. math:: \hat f(x) = \frac1{2\pi}\int e^{-itx}\,\varphi_K(th)\,
          \frac{\hat\psi(t)}{\varphi_U(t)}\,dt,\qquad
          \hat\psi(t) = \frac1n\sum_j e^{itW_j},

with :math:`\varphi_K` supported on [-1, 1]; for heteroscedastic errors the ratio is
replaced by the Delaigle & Meister (2008) weighted form
:math:`\sum_j e^{itW_j}\overline{\varphi_{U_j}(t)}/\sum_j|\varphi_{U_j}(t)|^2`.
"""
import math
import warnings

import numpy as np

from deconv._validation import (as_1d_float, as_float_array, check_choice, check_int,
                                check_positive_scalar)
from deconv.exceptions import DeconvWarning, NegativeDensityWarning
from deconv.noise import Empirical, NoiseLaw
from deconv.density import _spectrum as sp
from deconv.density.bandwidth import SELECTORS, SelectionContext, select
from deconv.density.kernels import get_kernel
from deconv.density.replicates import Replicates, check_replicates
from deconv.density.result import DeconvolvedDensity

__all__ = ["DeconvolutionKDE"]

_PERIOD_FACTOR = 4.0        # period of the frequency grid / span of the data
# min distance of periodic images, in bandwidths, by the kernel's tail order p (K ~ |x|^-p):
# aliasing ~ (h / distance)^(p - 1), about 1e-6 of max f for p >= 3; kernels with slower tails
# (flattop p = 2, sinc p = 1) alias more (about 1e-4 and 1e-3 of max f)
_ALIAS_BANDWIDTHS = {4: 120.0, 3: 1500.0, 2: 3000.0, 1: 3000.0}
_SUPPORT_PAD = 5.0          # support = data range +- this many bandwidths
_DEFAULT_GRID = 1024        # minimum internal grid size
_NEG_WARN = 0.05            # warn when more than this mass is clipped
_DIRECT_MAX_N = 5000        # method="auto": exact sums up to this n (homoscedastic)
_MAX_GROUPS = 64            # heteroscedastic sds with at most this many values are grouped


class DeconvolutionKDE:
    r"""Deconvolution kernel density estimator (Stefanski & Carroll 1990; Fan 1991).

    Parameters
    ----------
    noise : deconv.noise law or "replicates"
        The measurement-error law of :math:`U` (scalar ``sd``: homoscedastic; one sd per
        observation: heteroscedastic, Delaigle & Meister 2008 weighting). ``"replicates"``:
        ``fit`` receives a matrix of replicate measurements (rows = individuals), the error
        law is estimated from within-row differences
        (:meth:`deconv.noise.Empirical.from_replicates`, Delaigle, Hall & Meister 2008) and
        the observations are the row means, whose error cf is
        :math:`\hat\varphi_U(t/m)^m`. Missing replicates are NaN: rows with different
        numbers :math:`m_j` of replicates have row means with different error laws, combined
        with the Delaigle & Meister (2008) weighting. An :class:`~deconv.noise.Empirical` law may also be
        given directly, with either a replicate matrix or single measurements.
        ``Replicates(heteroscedastic=True)`` (:class:`deconv.density.Replicates`): normal
        errors with a variance :math:`\sigma_j^2` per individual, estimated by the
        within-individual sample variance moderated toward a common value (Smyth 2004),
        and the row means deconvolved with the Delaigle & Meister (2008) weighting using
        :math:`\mathrm{sd}_j = \tilde s_j/\sqrt{m_j}`; see :mod:`deconv.density.replicates`.
    bandwidth : {"pi", "nr", "cv", "boot"} or float
        Selector (see :mod:`deconv.density.bandwidth`: two-stage plug-in, normal
        reference, cross-validation, bootstrap MISE) or a fixed positive bandwidth.
    kernel : str or FourierKernel
        Kernel given by its Fourier transform on [-1, 1]: "triweight" :math:`(1-t^2)^3`
        (default), "biweight", "tricube", "sinc", "flattop".
    grid : None, int or array_like
        Grid carrying the distribution: None (automatic: at least 1024 points, 20 per
        bandwidth, over the data range extended by 5 bandwidths), a number of points on
        that range, or an increasing array that covers the data.
    method : {"auto", "binned", "direct"}
        How the empirical characteristic function is computed: linear binning + FFT
        (O(n + N log N)), or exact compiled sums (O(n K)). "auto" bins when n > 5000.
        Heteroscedastic errors use exact per-observation weighted sums, except that with
        "auto"/"binned" per-observation sds taking at most 64 distinct values are summed
        group by group (the same estimator; groups can be binned).

    Attributes
    ----------
    bandwidth_ : float
    density_ : DeconvolvedDensity
    noise_ : NoiseLaw
        Error law of the observations actually deconvolved (for replicates: of row means).
    n_ : int
    selector_details_ : dict
        Pilot bandwidths and functionals of the selector.
    replicate_info_ : dict or None
        Heteroscedastic replicates only: ``m`` (replicates per row used), ``variances``
        (moderated :math:`\tilde s_j^2`), ``prior_df`` (:math:`d_0`), ``prior_var``
        (:math:`s_0^2`) and ``kept`` (indices of the rows used); None otherwise.

    Notes
    -----
    The estimate is computed on the frequency grid :math:`t_k = k\,2\pi/P`, with
    :math:`P` four times the data range (and at least 120 bandwidths more than the
    support); the trapezoid rule in :math:`t` is then exactly the estimate periodised with
    period :math:`P`, and aliasing only comes from the kernel's far tails (below 1e-6 of
    max f in our checks against direct quadrature). The density is clipped at zero and renormalised (see
    :class:`DeconvolvedDensity`); a :class:`~deconv.exceptions.NegativeDensityWarning` is
    issued when more than 5% of mass is clipped.

    References
    ----------
    Stefanski, L. A. and Carroll, R. J. (1990). Deconvoluting kernel density estimators.
    *Statistics* 21, 169-184.
    Fan, J. (1991). On the optimal rates of convergence for nonparametric deconvolution
    problems. *Annals of Statistics* 19, 1257-1272.
    Delaigle, A. and Meister, A. (2008). Density estimation with heteroscedastic error.
    *Bernoulli* 14, 562-579.
    Delaigle, A., Hall, P. and Meister, A. (2008). On deconvolution with repeated
    measurements. *Annals of Statistics* 36, 665-685.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.noise import Laplace
    >>> from deconv.density import DeconvolutionKDE
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=1000)
    >>> w = x + Laplace(sd=0.5).rvs(1000, rng=rng)
    >>> est = DeconvolutionKDE(noise=Laplace(sd=0.5)).fit(w)
    >>> round(float(est.cdf(0.0)), 1)
    0.5
    """

    def __init__(self, noise=None, bandwidth="pi", kernel="triweight", grid=None, method="auto"):
        self.noise = noise
        self.bandwidth = bandwidth
        self.kernel = kernel
        self.grid = grid
        self.method = method

    _PARAMS = ("noise", "bandwidth", "kernel", "grid", "method")

    def get_params(self, deep=True):
        """Constructor parameters (scikit-learn convention)."""
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params):
        """Set constructor parameters (scikit-learn convention); returns self."""
        for k, v in params.items():
            if k not in self._PARAMS:
                raise ValueError(f"unknown parameter {k!r}; valid: {', '.join(self._PARAMS)}")
            setattr(self, k, v)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._PARAMS
                         if not (k == "grid" and self.grid is None))
        return f"DeconvolutionKDE({args})"

    # --- validation ----------------------------------------------------------------------
    def _observations(self, w):
        noise = self.noise
        self._replicate_info = None
        if isinstance(noise, str):
            if noise.lower() != "replicates":
                raise ValueError(f"noise must be a deconv.noise law or 'replicates', got {noise!r}")
            noise = Replicates()
        if isinstance(noise, Replicates):
            hetero = noise._validated()[0]
            reps = check_replicates(w)
            if not hetero:
                law = Empirical.from_replicates(reps)
                return self._row_means(reps, law) + (reps,)
            means, law, info = noise.estimate(reps)
            if means.size < 2:
                raise ValueError("w has fewer than 2 individuals with usable replicates")
            self._replicate_info = info
            return means, law, reps
        if not isinstance(noise, NoiseLaw):
            raise TypeError("noise must be a deconv.noise law (e.g. deconv.noise.Laplace(sd=0.3)), "
                            f"'replicates' or a Replicates(...), got {type(noise).__name__}")
        if isinstance(noise, Empirical) and np.ndim(w) == 2 and min(np.shape(w)) > 1:
            reps = as_float_array(w, "w", ndim=2, finite=False)
            return self._row_means(reps, noise) + (None,)
        if np.ndim(w) == 2 and min(np.shape(w)) > 1:
            raise ValueError(f"w must be 1-D (one observation per individual), got shape "
                             f"{np.shape(w)}; for replicate measurements use noise='replicates'")
        w = as_1d_float(w, "w", min_size=2)
        if noise.heteroscedastic:
            if noise.n_obs != w.size:
                raise ValueError(f"noise has {noise.n_obs} per-observation sds but w has "
                                 f"{w.size} observations (mismatched lengths)")
            if noise.kernel_code not in (0, 1, 2, 3, 4):
                raise ValueError("heteroscedastic noise needs a law with a compiled cf")
        return w, noise, None

    @staticmethod
    def _row_means(reps, law):
        if reps.shape[1] < 2:
            raise ValueError(f"w must have at least 2 replicate columns, got {reps.shape[1]}")
        if np.any(np.isinf(reps)):
            raise ValueError("w contains infinite values")
        observed = ~np.isnan(reps)
        m = observed.sum(axis=1)
        if np.any(m == 0):
            bad = int(np.flatnonzero(m == 0)[0])
            raise ValueError(f"w row {bad} has no measured replicate (all NaN)")
        means = np.where(observed, reps, 0.0).sum(axis=1) / m
        if np.all(m == m[0]):
            return means, law.mean_of_replicates(int(m[0]))
        # rows with different numbers of replicates: row means with different error laws,
        # combined with the Delaigle-Meister weighting (one law per replicate count)
        groups = [(np.flatnonzero(m == k), law.mean_of_replicates(int(k))) for k in np.unique(m)]
        return means, sp.GroupedNoise(groups, means.size)

    # --- fitting --------------------------------------------------------------------------
    def fit(self, w):
        """Estimate the density of X from observations ``w`` (or replicates); returns self."""
        kernel = get_kernel(self.kernel)
        method = check_choice(self.method, "method", ("auto", "binned", "direct"))
        bw = self.bandwidth
        if isinstance(bw, str):
            bw = check_choice(bw, "bandwidth", SELECTORS)
        else:
            bw = check_positive_scalar(bw, "bandwidth")
        w, noise, replicates = self._observations(w)
        n = w.size
        work_noise = noise       # the law used for computing (maybe grouped by sd)
        if (noise.heteroscedastic and not isinstance(noise, sp.GroupedNoise)
                and not getattr(noise, "custom_spectrum", False)):
            sds, inverse = np.unique(noise.sd, return_inverse=True)
            groupable = sds.size <= _MAX_GROUPS and sds.size * 8 <= n
            if method != "direct" and groupable:
                # few distinct sds: sum the Delaigle-Meister numerator group by group (same
                # estimator; each group's cf is evaluated once and groups can be binned)
                work_noise = sp.GroupedNoise(
                    [(np.flatnonzero(inverse == g), noise.with_sd(float(v)))
                     for g, v in enumerate(sds)], n)
            elif method == "binned":
                raise ValueError("method='binned' is not available for heteroscedastic noise "
                                 f"with many distinct sds ({sds.size}); use 'direct' or 'auto'")
            else:
                method = "direct"
        if method == "auto":
            method = "binned" if n > _DIRECT_MAX_N else "direct"

        user_grid = None
        n_grid = None
        if self.grid is not None:
            if np.ndim(self.grid) == 0:
                n_grid = check_int(self.grid, "grid", min_value=16)
            else:
                user_grid = as_1d_float(self.grid, "grid", min_size=16)
                if np.any(np.diff(user_grid) <= 0):
                    raise ValueError("grid must be strictly increasing")
                if user_grid[0] > w.min() or user_grid[-1] < w.max():
                    raise ValueError(f"grid [{user_grid[0]:.6g}, {user_grid[-1]:.6g}] does not cover "
                                     f"the data range [{w.min():.6g}, {w.max():.6g}]")

        wmin, wmax = float(w.min()), float(w.max())
        span = wmax - wmin
        if not span > 0:
            raise ValueError("w has no spread (all observations are equal)")
        lo_all, hi_all = wmin, wmax
        if user_grid is not None:
            lo_all, hi_all = float(user_grid[0]), float(user_grid[-1])
        var_w = float(np.var(w, ddof=1))
        scale = math.sqrt(var_w)
        var_u = float(np.mean(noise.var))
        if var_u >= var_w:
            warnings.warn(f"the error variance ({var_u:.4g}) is not smaller than the sample "
                          f"variance of w ({var_w:.4g}): the noise law is probably misspecified "
                          "and the estimate is unreliable", DeconvWarning, stacklevel=2)

        def frame(P, centre):
            return P, 2.0 * np.pi / P, centre - 0.5 * P

        P, dt, origin = frame(_PERIOD_FACTOR * (hi_all - lo_all), 0.5 * (lo_all + hi_all))
        y = w - origin
        details = {}
        spec = None
        n_bins = None
        if isinstance(bw, str):
            h_lo, h_hi = _search_range(work_noise, kernel, n, scale, span, dt)
            K = int(math.ceil(1.0 / (h_lo * dt))) + 2
            n_bins = sp.binned_n(P, h_lo) if method == "binned" else None
            if method == "binned" and K > n_bins // 2:
                method = "direct"
            spec = sp.spectrum(y, work_noise, dt, K, method=method, n_bins=n_bins, lazy=True)
            ctx = SelectionContext(spec, kernel, n, var_w, var_u, scale, h_lo, h_hi)
            h = select(bw, ctx)
            details = dict(ctx.details, selector=bw, h_search=(h_lo, h_hi))
            if details.get("at_boundary"):
                warnings.warn(f"the {bw!r} bandwidth criterion is smallest at the end of its search "
                              f"range [{h_lo:.4g}, {h_hi:.4g}]; the selected bandwidth {h:.4g} is "
                              "doubtful (try another selector or a fixed bandwidth)",
                              DeconvWarning, stacklevel=2)
        else:
            h = bw

        # support of the distribution and the period needed for it
        lo, hi = (lo_all, hi_all) if user_grid is not None else (wmin - _SUPPORT_PAD * h,
                                                                   wmax + _SUPPORT_PAD * h)
        # periodic images must be far from the support: at least one support span and
        # enough bandwidths away for the kernel's tails (see _ALIAS_BANDWIDTHS)
        alias = _ALIAS_BANDWIDTHS[min(kernel.tail_order, 4)]
        P_needed = max(2.0 * (hi - lo), (hi - lo) + alias * h)
        if P < P_needed:
            P, dt, origin = frame(P_needed, 0.5 * (lo + hi))
            y = w - origin
            spec = None
        M = int(math.floor(1.0 / (h * dt))) + 1
        if spec is None or spec.K < M:
            n_bins = sp.binned_n(P, h) if method == "binned" else None
            if method == "binned" and M > n_bins // 2:
                method = "direct"
            spec = sp.spectrum(y, work_noise, dt, M, method=method, n_bins=n_bins)
        spec = spec.head(M)
        coef = kernel.phi(spec.t * h) * spec.z

        if user_grid is not None:
            grid = user_grid
        else:
            G = n_grid if n_grid is not None else int(min(max(_DEFAULT_GRID,
                                                              math.ceil(20 * (hi - lo) / h)), 2 ** 15))
            grid = np.linspace(lo, hi, G)
        info = [("method", "Fourier deconvolution KDE (" + ("Delaigle-Meister weighted"
                 if noise.heteroscedastic else "homoscedastic") + ")"),
                ("noise", repr(noise)), ("kernel", kernel.name),
                ("bandwidth rule", bw if isinstance(bw, str) else "fixed"),
                ("n", n), ("evaluation", method)]
        if "g2" in details:
            info.append(("plug-in pilots g3, g2", f"{details['g3']:.4g}, {details['g2']:.4g}"))
        density = DeconvolvedDensity(coef, dt, origin, grid, h, info)
        if density.negative_mass > _NEG_WARN:
            warnings.warn(f"the raw deconvolution estimate has negative mass "
                          f"{density.negative_mass:.3g}; it was clipped at zero and renormalised "
                          f"(pdf_raw gives the raw estimate). A larger bandwidth smooths it out.",
                          NegativeDensityWarning, stacklevel=2)
        self.bandwidth_ = h
        self.density_ = density
        self.noise_ = noise
        self.kernel_ = kernel
        self.n_ = n
        self.method_ = method
        self.selector_details_ = details
        self.replicate_info_ = self._replicate_info
        # what the bootstrap needs to recompute the estimate from resampled data
        self._boot = dict(y=y, dt=dt, M=M, method=method, origin=origin,
                          n_bins=n_bins if method == "binned" else None, replicates=replicates,
                          noise=work_noise,
                          replicate_spec=(self.noise if isinstance(self.noise, Replicates)
                                          else Replicates()))
        return self

    # --- delegation to the fitted distribution --------------------------------------------
    def _fitted(self):
        if not hasattr(self, "density_"):
            raise AttributeError("this DeconvolutionKDE is not fitted yet; call fit(w) first")
        return self.density_

    def pdf(self, x):
        """Density of X at ``x`` (clipped, renormalised estimate)."""
        return self._fitted().pdf(x)

    def cdf(self, x):
        return self._fitted().cdf(x)

    def ppf(self, q):
        return self._fitted().ppf(q)

    def rvs(self, size=None, rng=None):
        return self._fitted().rvs(size, rng=rng)

    def mean(self):
        return self._fitted().mean()

    def var(self):
        return self._fitted().var()

    def std(self):
        return self._fitted().std()

    def interval(self, confidence):
        return self._fitted().interval(confidence)

    def pdf_raw(self, x):
        return self._fitted().pdf_raw(x)

    def cdf_raw(self, x):
        return self._fitted().cdf_raw(x)

    @property
    def support(self):
        return self._fitted().support

    @property
    def negative_mass(self):
        return self._fitted().negative_mass

    def summary(self):
        return self._fitted().summary()

    def plot(self, ax=None, **kwargs):
        return self._fitted().plot(ax=ax, **kwargs)

    def confidence_band(self, level=0.95, kind="pointwise", n_boot=200, rng=None, x=None,
                        progress=False):
        """Bootstrap confidence band for :math:`E\\hat f`; see
        :func:`deconv.density.bands.bootstrap_band`."""
        from deconv.density.bands import bootstrap_band

        return bootstrap_band(self, level=level, kind=kind, n_boot=n_boot, rng=rng, x=x,
                              progress=progress)


def _search_range(noise, kernel, n, scale, span, dt):
    """Bandwidth search interval, anchored to the data scale (equivariant).

    Upper end: 3 sd(W). Lower end: where the variance term alone,
    (1/pi) int phi_K(th)^2 d(t) dt, reaches 0.5 n^(-1/2) / sd(W), but not below 1e-4
    times the data range. The MISE-optimal variance term is O(n^(-4/5)) or smaller (it is
    n^(-4/5) without noise and slower with noise), so no sensible bandwidth is excluded
    for any n, while the frequency grid stays short (cost O(n / h_lo) for
    heteroscedastic data).
    """
    u = np.linspace(0.0, 1.0, 257)
    pk2 = kernel.phi(u) ** 2
    diag = sp.diagonal_approx(noise, n)

    def variance(h):
        d = diag(u / h)
        return np.trapezoid(pk2 * d, u) / (np.pi * h)

    target = 0.5 / (math.sqrt(n) * scale)
    h_hi = 3.0 * scale
    lo = math.log(1e-4 * span)
    hi = math.log(h_hi)
    if variance(math.exp(lo)) <= target:
        return math.exp(lo), h_hi
    if variance(math.exp(hi)) > target:
        return 0.5 * h_hi, h_hi
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if variance(math.exp(mid)) > target:
            lo = mid
        else:
            hi = mid
    return math.exp(hi), h_hi
