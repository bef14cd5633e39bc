r"""Measurement-error laws for additive noise, :math:`W = X + U`.

Every law is parameterised by its **standard deviation** ``sd`` by default, a scalar
(homoscedastic) or one value per observation (heteroscedastic). Family-specific
alternatives are explicit keywords (``Laplace(scale=b)``, ``Uniform(half_width=a)``,
``StudentT(df, scale=s)``) and always agree with ``sd``: for the Laplace law
:math:`\mathrm{sd} = b\sqrt 2`, and passing one where the other is meant (an easy slip with
R's ``decon``) misstates the noise sd by a factor :math:`\sqrt 2`, i.e. by 41%. Here
``Laplace(sd=s).scale == s / sqrt(2)`` and ``Laplace(scale=b).sd == b * sqrt(2)``.

Each law offers ``cf(t)``, ``std_cf(u)`` (the characteristic function at unit sd, so that
:math:`\varphi_U(t) = \varphi_1(\mathrm{sd}\, t)`), ``pdf``, ``logpdf``,
``rvs(size, rng)``, ``sd``, ``var`` and ``with_sd``. Compiled kernels evaluate the same
characteristic functions through ``csrc/_noise_cf.pxd`` using ``kernel_code`` and
``kernel_param``.

:class:`Empirical` estimates the error law from replicate measurements
:math:`W_{jk} = X_j + U_{jk}` through the empirical characteristic function of
within-individual differences (Delaigle, Hall & Meister 2008).

References
----------
Delaigle, A., Hall, P. and Meister, A. (2008). On deconvolution with repeated measurements.
*Annals of Statistics* 36, 665-685.
"""
import numpy as np
from scipy import special, stats

from deconv._validation import (as_float_array, as_scale, check_positive_scalar, check_rng,
                                check_int)

__all__ = ["NoiseLaw", "Normal", "Laplace", "Uniform", "StudentT", "Gamma", "Empirical",
           "as_noise"]

_SQRT2 = np.sqrt(2.0)
_SQRT3 = np.sqrt(3.0)


class NoiseLaw:
    """Base class: a zero-mean additive error law with a (per-observation) standard deviation.

    Subclasses implement the unit-sd law through ``_std_cf``, ``_std_logpdf`` and
    ``_std_rvs``; scaling by ``sd`` is done here once.
    """

    name = "noise"
    kernel_code = -1
    symmetric = True

    def __init__(self, sd):
        if sd is None:
            raise TypeError(f"{type(self).__name__} needs sd (or its family's alternative scale keyword)")
        arr = np.asarray(sd) if not np.isscalar(sd) else sd
        n = np.size(arr)
        self._sd, self._scalar = as_scale(sd, n if np.ndim(arr) else 1, "sd")
        if self._scalar:
            self._sd = float(self._sd[0])

    # --- description -------------------------------------------------------------------
    @property
    def kernel_param(self):
        """Shape parameter passed to compiled kernels (df, gamma shape; 0 if none)."""
        return 0.0

    @property
    def sd(self):
        """Standard deviation: a float, or an array with one value per observation."""
        return self._sd if self._scalar else self._sd.copy()

    @property
    def var(self):
        """Variance (float or per-observation array)."""
        return self.sd ** 2

    @property
    def heteroscedastic(self):
        """True when the law has one standard deviation per observation."""
        return not self._scalar

    @property
    def n_obs(self):
        """Number of observations the law describes (None when homoscedastic)."""
        return None if self._scalar else self._sd.size

    def _shape_kwargs(self):
        return {}

    def with_sd(self, sd):
        """The same family with another standard deviation (scalar or per observation)."""
        return type(self)(sd=sd, **self._shape_kwargs())

    def __repr__(self):
        extra = "".join(f", {k}={v!r}" for k, v in self._shape_kwargs().items())
        if self._scalar:
            return f"{type(self).__name__}(sd={self._sd!r}{extra})"
        return f"{type(self).__name__}(sd=<{self._sd.size} values, mean {self._sd.mean():.4g}>{extra})"

    def __eq__(self, other):
        return (type(self) is type(other) and self._shape_kwargs() == other._shape_kwargs()
                and self._scalar == other._scalar and np.array_equal(self._sd, other._sd))

    __hash__ = None

    # --- characteristic function --------------------------------------------------------
    def std_cf(self, u):
        """Characteristic function of the unit-sd member of the family at ``u``."""
        u = as_float_array(u, "u", allow_empty=True)
        return self._std_cf(u).astype(np.complex128)

    def cf(self, t):
        r"""Characteristic function :math:`\varphi_U(t) = E\, e^{itU}`.

        Homoscedastic laws return an array shaped like ``t``; heteroscedastic laws
        return shape ``(n_obs,) + t.shape`` (row j is observation j's error law).
        """
        t = as_float_array(t, "t", allow_empty=True)
        if self._scalar:
            return self.std_cf(self._sd * t)
        flat = self._sd[:, None] * t.reshape(1, -1)
        return self.std_cf(flat).reshape((self._sd.size,) + t.shape)

    # --- density and sampling -----------------------------------------------------------
    def _broadcast_x(self, x):
        x = as_float_array(x, "x", allow_empty=True)
        if self._scalar:
            return x, self._sd
        if x.shape[-1:] != (self._sd.size,):
            raise ValueError(f"x must have last dimension {self._sd.size} (one value per "
                             f"observation of this heteroscedastic law), got shape {x.shape}")
        return x, self._sd

    def logpdf(self, x):
        """Log density at ``x`` (heteroscedastic: x[..., j] is evaluated under law j)."""
        x, s = self._broadcast_x(x)
        return self._std_logpdf(x / s) - np.log(s)

    def pdf(self, x):
        """Density at ``x`` (heteroscedastic: x[..., j] is evaluated under law j)."""
        return np.exp(self.logpdf(x))

    def rvs(self, size=None, rng=None):
        """Random draws. Heteroscedastic laws draw one value per observation
        (``size`` None or ``(m, n_obs)`` for m independent sets)."""
        rng = check_rng(rng)
        if self._scalar:
            if size is None:
                return float(self._std_rvs(1, rng)[0] * self._sd)
            return self._std_rvs(size, rng) * self._sd
        n = self._sd.size
        if size is None:
            size = (n,)
        size = (size,) if np.isscalar(size) else tuple(size)
        if size[-1] != n:
            raise ValueError(f"size must end with n_obs={n} for a heteroscedastic law, got {size}")
        return self._std_rvs(size, rng) * self._sd

    # subclasses
    def _std_cf(self, u):  # pragma: no cover - abstract
        raise NotImplementedError

    def _std_logpdf(self, z):  # pragma: no cover - abstract
        raise NotImplementedError

    def _std_rvs(self, size, rng):  # pragma: no cover - abstract
        raise NotImplementedError


class Normal(NoiseLaw):
    r"""Normal errors :math:`U \sim N(0, \mathrm{sd}^2)`, :math:`\varphi(t) = e^{-\mathrm{sd}^2 t^2/2}`.

    Examples
    --------
    >>> from deconv.noise import Normal
    >>> Normal(sd=0.5).cf([0.0, 2.0]).real.round(4)
    array([1.    , 0.6065])
    """

    name = "normal"
    kernel_code = 0

    def __init__(self, sd=None):
        super().__init__(sd)

    def _std_cf(self, u):
        return np.exp(-0.5 * u * u)

    def _std_logpdf(self, z):
        return -0.5 * z * z - 0.5 * np.log(2 * np.pi)

    def _std_rvs(self, size, rng):
        return rng.standard_normal(size)


class Laplace(NoiseLaw):
    r"""Laplace (double-exponential) errors with density :math:`e^{-|u|/b}/(2b)`.

    :math:`\mathrm{sd} = b\sqrt 2` and :math:`\varphi(t) = 1/(1 + b^2 t^2)`.

    Parameters
    ----------
    sd : float or array_like, optional
        Standard deviation (the default way to say how noisy the measurements are).
    scale : float or array_like, optional, keyword-only
        The scale parameter b (``sd = b * sqrt(2)``). Give ``sd`` or ``scale``; if both are
        given they must agree.

    Examples
    --------
    >>> from deconv.noise import Laplace
    >>> Laplace(scale=1.0).sd
    1.4142135623730951
    >>> Laplace(sd=1.0).scale
    0.7071067811865475
    """

    name = "laplace"
    kernel_code = 1

    def __init__(self, sd=None, *, scale=None):
        super().__init__(_sd_from_alternative(sd, scale, _SQRT2, "scale"))

    @property
    def scale(self):
        """Scale parameter b = sd / sqrt(2)."""
        return self.sd / _SQRT2

    def _std_cf(self, u):
        return 1.0 / (1.0 + 0.5 * u * u)

    def _std_logpdf(self, z):
        b = 1.0 / _SQRT2
        return -np.abs(z) / b - np.log(2 * b)

    def _std_rvs(self, size, rng):
        return rng.laplace(0.0, 1.0 / _SQRT2, size)


class Uniform(NoiseLaw):
    r"""Uniform errors on :math:`[-a, a]`: :math:`\mathrm{sd} = a/\sqrt 3`,
    :math:`\varphi(t) = \sin(at)/(at)`.

    Its characteristic function has zeros, so Fourier deconvolution divides by values near
    zero: expect slow rates and rely on the kernel's compact support.

    Parameters
    ----------
    sd : float or array_like, optional
    half_width : float or array_like, optional, keyword-only
        a, with ``sd = a / sqrt(3)``.
    """

    name = "uniform"
    kernel_code = 2

    def __init__(self, sd=None, *, half_width=None):
        super().__init__(_sd_from_alternative(sd, half_width, 1.0 / _SQRT3, "half_width"))

    @property
    def half_width(self):
        """Half-width a = sd * sqrt(3)."""
        return self.sd * _SQRT3

    def _std_cf(self, u):
        return np.sinc(_SQRT3 * u / np.pi)

    def _std_logpdf(self, z):
        with np.errstate(divide="ignore"):
            return np.where(np.abs(z) <= _SQRT3, -np.log(2 * _SQRT3), -np.inf)

    def _std_rvs(self, size, rng):
        return rng.uniform(-_SQRT3, _SQRT3, size)


class StudentT(NoiseLaw):
    r"""Student-t errors with ``df`` > 2 degrees of freedom (heavy tails).

    With scale s, :math:`\mathrm{sd} = s\sqrt{\nu/(\nu-2)}` and
    :math:`\varphi(t) = \frac{(\sqrt\nu s|t|)^{\nu/2} K_{\nu/2}(\sqrt\nu s|t|)}{\Gamma(\nu/2)\, 2^{\nu/2-1}}`
    (Hurst 1995), with :math:`K` the modified Bessel function of the second kind.

    Parameters
    ----------
    df : float
        Degrees of freedom, > 2 so that the variance is finite.
    sd : float or array_like, optional
    scale : float or array_like, optional, keyword-only
        The t scale s; give ``sd`` or ``scale`` (both must agree if both are given).

    References
    ----------
    Hurst, S. (1995). The characteristic function of the Student t distribution.
    Financial Mathematics Research Report FMRR006-95, Australian National University.
    """

    name = "student-t"
    kernel_code = 3

    def __init__(self, df, sd=None, *, scale=None):
        df = check_positive_scalar(df, "df")
        if df <= 2:
            raise ValueError(f"df must be > 2 so that the error variance is finite, got {df}")
        self.df = df
        super().__init__(_sd_from_alternative(sd, scale, np.sqrt(df / (df - 2)), "scale"))

    @property
    def kernel_param(self):
        return self.df

    @property
    def scale(self):
        """The t scale s = sd * sqrt((df - 2) / df)."""
        return self.sd * np.sqrt((self.df - 2) / self.df)

    def _shape_kwargs(self):
        return {"df": self.df}

    def _std_cf(self, u):
        nu = self.df
        z = np.sqrt(nu - 2.0) * np.abs(u)
        out = np.ones_like(z)
        pos = z > 0
        zp = z[pos]
        with np.errstate(divide="ignore"):
            out[pos] = np.exp(0.5 * nu * np.log(zp) + np.log(special.kve(0.5 * nu, zp)) - zp
                              - special.gammaln(0.5 * nu) - (0.5 * nu - 1.0) * np.log(2.0))
        return out

    def _std_logpdf(self, z):
        s = np.sqrt((self.df - 2) / self.df)
        return stats.t.logpdf(z, self.df, scale=s)

    def _std_rvs(self, size, rng):
        return rng.standard_t(self.df, size) * np.sqrt((self.df - 2) / self.df)


class Gamma(NoiseLaw):
    r"""Centred gamma errors :math:`U = G - E G`, :math:`G \sim \mathrm{Gamma}(k, \theta)`: skewed.

    :math:`\mathrm{sd} = \theta\sqrt k`,
    :math:`\varphi(t) = (1 - i\theta t)^{-k} e^{-ik\theta t}`. Skewness :math:`2/\sqrt k`.

    Parameters
    ----------
    shape : float
        k > 0 (smaller is more skewed).
    sd : float or array_like
    """

    name = "gamma"
    kernel_code = 4
    symmetric = False

    def __init__(self, shape, sd=None):
        self.shape = check_positive_scalar(shape, "shape")
        super().__init__(sd)

    @property
    def kernel_param(self):
        return self.shape

    def _shape_kwargs(self):
        return {"shape": self.shape}

    def _std_cf(self, u):
        k = self.shape
        x = u / np.sqrt(k)
        return np.exp(-0.5 * k * np.log1p(x * x) + 1j * (k * np.arctan(x) - u * np.sqrt(k)))

    def _std_logpdf(self, z):
        k = self.shape
        theta = 1.0 / np.sqrt(k)
        return stats.gamma.logpdf(z + k * theta, k, scale=theta)

    def _std_rvs(self, size, rng):
        k = self.shape
        theta = 1.0 / np.sqrt(k)
        return rng.gamma(k, theta, size) - k * theta


def _sd_from_alternative(sd, alt, factor, alt_name):
    """sd from either sd or the family's alternative scale (sd = factor * alt); both must agree."""
    if alt is None:
        return sd
    alt_sd = np.asarray(alt, dtype=np.float64) * factor if not np.isscalar(alt) else float(alt) * factor
    if np.any(~np.isfinite(np.asarray(alt_sd, dtype=float))) or np.any(np.asarray(alt_sd) <= 0):
        raise ValueError(f"{alt_name} must be positive and finite")
    if sd is not None:
        if not np.allclose(np.asarray(sd, dtype=float), alt_sd, rtol=1e-10, atol=0):
            raise ValueError(f"sd and {alt_name} disagree: sd must equal {alt_name} * {factor:.6g} "
                             f"for this family; give only one of them")
    return alt_sd


class Empirical(NoiseLaw):
    r"""Error law estimated from replicate measurements :math:`W_{jk} = X_j + U_{jk}`.

    For symmetric errors, :math:`|\varphi_U(t)|^2` is the characteristic function of a
    within-individual difference :math:`U_{jk} - U_{jl}`, so (Delaigle, Hall & Meister 2008)

    .. math:: \hat\varphi_U(t) = \Big|\frac{1}{N}\sum_{\text{pairs}} \cos\{t(W_{jk}-W_{jl})\}\Big|^{1/2}.

    The error variance is estimated by the pooled within-individual variance
    :math:`\hat\sigma^2 = \sum_j\sum_k (W_{jk}-\bar W_j)^2 / \sum_j (m_j - 1)`, unbiased, with
    its standard error (normal-theory approximation, ``var_se``).

    Build it with :meth:`from_replicates`. The law is known only through its characteristic
    function: ``pdf``/``logpdf``/``rvs`` are not available (they raise ``NotImplementedError``
    with this explanation). It is homoscedastic and has no compiled cf (``kernel_code = -1``).

    References
    ----------
    Delaigle, A., Hall, P. and Meister, A. (2008). On deconvolution with repeated
    measurements. *Annals of Statistics* 36, 665-685.
    """

    name = "empirical"
    kernel_code = -1

    def __init__(self, differences, sd, df, n_individuals, mean_of=1):
        self._diffs = as_float_array(differences, "differences", ndim=1)
        self._sd = float(check_positive_scalar(sd, "sd"))
        self._scalar = True
        self.df = int(df)
        self.n_individuals = int(n_individuals)
        self.mean_of = check_int(mean_of, "mean_of", min_value=1)

    @classmethod
    def from_replicates(cls, replicates):
        """Estimate the error law from a matrix of replicates.

        Parameters
        ----------
        replicates : array_like, shape (n_individuals, m)
            Row j holds the m >= 2 replicate measurements of individual j. NaN marks a
            missing replicate; rows with fewer than two values contribute no difference.

        Returns
        -------
        Empirical
        """
        w = as_float_array(replicates, "replicates", ndim=2, finite=False)
        if w.shape[1] < 2:
            raise ValueError(f"replicates needs at least 2 columns (replicates per individual), got {w.shape[1]}")
        if np.any(np.isinf(w)):
            raise ValueError("replicates contains infinite values")
        obs = ~np.isnan(w)
        m = obs.sum(axis=1)
        use = m >= 2
        if not np.any(use):
            raise ValueError("replicates has no individual with two or more measured replicates")
        diffs = []
        ncol = w.shape[1]
        for a in range(ncol):
            for b in range(a + 1, ncol):
                ok = obs[:, a] & obs[:, b]
                diffs.append(w[ok, a] - w[ok, b])
        diffs = np.concatenate(diffs)
        wu = np.where(obs, w, 0.0)[use]
        mu = wu.sum(axis=1) / m[use]
        ss = np.sum(np.where(obs[use], (wu - mu[:, None]) ** 2, 0.0))
        df = int(np.sum(m[use] - 1))
        if ss <= 0:
            raise ValueError("replicates are identical within every individual: the error variance is 0")
        sd = np.sqrt(ss / df)
        return cls(diffs, sd, df, int(use.sum()))

    @property
    def var_se(self):
        """Standard error of the error-variance estimate, sqrt(2 / df) * var (normal theory)."""
        return np.sqrt(2.0 / self.df) * self.var

    @property
    def n_differences(self):
        return self._diffs.size

    def mean_of_replicates(self, m):
        """The law of the mean of ``m`` independent replicate errors: cf phi(t/m)^m, sd / sqrt(m)."""
        m = check_int(m, "m", min_value=1)
        return Empirical(self._diffs, self._sd / np.sqrt(m), self.df, self.n_individuals,
                         mean_of=self.mean_of * m)

    def with_sd(self, sd):
        raise NotImplementedError("an Empirical error law is fixed by its replicates; "
                                  "rescale the replicates instead")

    def __repr__(self):
        return (f"Empirical(sd={self._sd:.6g}, from {self.n_individuals} individuals, "
                f"{self.n_differences} differences, mean_of={self.mean_of})")

    def __eq__(self, other):
        return self is other

    __hash__ = object.__hash__

    def _single_cf_abs(self, u):
        # cf of one replicate error at frequency u; chunked to keep memory O(chunk * len(D))
        out = np.empty(u.size)
        d = self._diffs
        step = max(1, 2_000_000 // max(d.size, 1))
        for i in range(0, u.size, step):
            c = np.cos(np.outer(u[i:i + step], d)).mean(axis=1)
            out[i:i + step] = np.sqrt(np.clip(c, 0.0, None))
        return out

    def cf(self, t):
        r"""Estimated :math:`\hat\varphi_U(t)` (real, non-negative; symmetric errors assumed).

        For the mean of m replicates, :math:`\hat\varphi_U(t/m)^m`.
        """
        t = as_float_array(t, "t", allow_empty=True)
        m = self.mean_of
        flat = t.reshape(-1) / m
        return (self._single_cf_abs(flat) ** m).reshape(t.shape).astype(np.complex128)

    def std_cf(self, u):
        u = as_float_array(u, "u", allow_empty=True)
        return self.cf(u / self._sd)

    def cf_sd(self, t):
        r"""Pointwise standard error of :math:`\hat\varphi_U(t)` (single replicate, m = 1).

        Delta method on the mean of :math:`\cos(tD)` over differences, treating them as
        independent: :math:`\mathrm{sd}\{\hat\varphi\} \approx \mathrm{sd}(\cos tD)/(2\hat\varphi\sqrt N)`.
        """
        t = as_float_array(t, "t", allow_empty=True).reshape(-1)
        c = np.cos(np.outer(t, self._diffs))
        phi = np.sqrt(np.clip(c.mean(axis=1), 1e-300, None))
        return c.std(axis=1, ddof=1) / (2 * phi * np.sqrt(self._diffs.size))

    def _unavailable(self, *args, **kwargs):
        raise NotImplementedError("an Empirical error law is identified only through its "
                                  "characteristic function; pdf, logpdf and rvs are not available")

    pdf = logpdf = rvs = _unavailable


_BY_NAME = {"normal": Normal, "gaussian": Normal, "laplace": Laplace, "uniform": Uniform}


def as_noise(noise, sd=None, name="noise"):
    """Turn a law, or a family name plus ``sd``, into a :class:`NoiseLaw`.

    ``as_noise("laplace", 0.5)`` is ``Laplace(sd=0.5)``. Student-t and gamma need their
    shape and must be given as objects.
    """
    if isinstance(noise, NoiseLaw):
        if sd is not None:
            raise ValueError(f"give the error sd inside the {name} object, not separately")
        return noise
    if isinstance(noise, str):
        key = noise.lower()
        if key not in _BY_NAME:
            raise ValueError(f"{name} must be a deconv.noise law or one of "
                             f"{sorted(_BY_NAME)}; got {noise!r}")
        if sd is None:
            raise ValueError(f"{name}={noise!r} needs the error standard deviation (sd)")
        return _BY_NAME[key](sd=sd)
    raise TypeError(f"{name} must be a deconv.noise law (e.g. deconv.noise.Normal(sd=0.3)) "
                    f"or a family name, got {type(noise).__name__}")
