r"""Error laws estimated from replicate measurements :math:`W_{jk} = X_j + U_{jk}`.

:class:`Replicates` tells :class:`~deconv.density.DeconvolutionKDE` that ``fit`` receives a
matrix of replicates (one row per individual, NaN for a missing replicate) and how to
estimate the error law from it:

* ``heteroscedastic=False`` (the default, same as ``noise="replicates"``): one error law
  for everybody, its characteristic function estimated from all within-individual
  differences (Delaigle, Hall & Meister 2008; :meth:`deconv.noise.Empirical.from_replicates`).
* ``heteroscedastic=True``: individual :math:`j` has its own error variance
  :math:`\sigma_j^2`, with **normal** errors within an individual. :math:`\sigma_j^2` is
  estimated by the within-individual sample variance :math:`s_j^2` on :math:`d_j = m_j - 1`
  degrees of freedom, optionally moderated toward a common value (below), and the row mean
  :math:`\bar W_j = X_j + \bar U_j`, :math:`\bar U_j \sim N(0, \sigma_j^2/m_j)`, is
  deconvolved with the Delaigle & Meister (2008) weighting using
  :math:`\mathrm{sd}_j = \tilde s_j/\sqrt{m_j}`.

Moderated variances (Smyth 2004). With only :math:`m_j = 2..5` replicates, :math:`s_j^2`
is very noisy (its coefficient of variation is :math:`\sqrt{2/d_j}`: 100% for
:math:`m_j = 3`). Plugging it into the weighted estimator biases the deconvolved
characteristic function toward zero at high frequencies (by Jensen's inequality, an error
cf :math:`e^{-s_j^2t^2/(2m_j)}` evaluated at a noisy :math:`s_j^2` is on average too large
where it matters) and gives individuals with a small :math:`s_j^2` too much weight. We
therefore use the empirical Bayes posterior mean of Smyth (2004): with a scaled
inverse-:math:`\chi^2` prior on :math:`\sigma_j^2` with :math:`d_0` degrees of freedom and
location :math:`s_0^2`,

.. math:: \tilde s_j^2 = \frac{d_0 s_0^2 + d_j s_j^2}{d_0 + d_j},

with :math:`d_0, s_0^2` estimated by Smyth's moment method on :math:`\log s_j^2`
(``prior_df="auto"``), or a fixed ``prior_df`` (:math:`d_0 = 0`: the raw :math:`s_j^2`;
:math:`d_0 = \infty`: one common variance, i.e. homoscedastic normal errors). When the
:math:`s_j^2` vary no more than sampling alone explains, the estimated :math:`d_0` is
infinite and all individuals share :math:`s_0^2`.

Individuals with a single measurement (:math:`m_j = 1`) carry no information on their own
variance: ``singletons="prior"`` (default) gives them :math:`s_0^2` (the posterior mean
with :math:`d_j = 0`; with ``prior_df=0`` the pooled within-individual variance),
``singletons="drop"`` leaves them out of the density estimate.

References
----------
Delaigle, A., Hall, P. and Meister, A. (2008). On deconvolution with repeated measurements.
*Annals of Statistics* 36, 665-685.
Delaigle, A. and Meister, A. (2008). Density estimation with heteroscedastic error.
*Bernoulli* 14, 562-579.
Smyth, G. K. (2004). Linear models and empirical Bayes methods for assessing differential
expression in microarray experiments. *Statistical Applications in Genetics and Molecular
Biology* 3, article 3.
McIntyre, J. and Stefanski, L. A. (2011). Density estimation with replicate
heteroscedastic measurements. *Annals of the Institute of Statistical Mathematics* 63,
81-99.
"""
import math

import numpy as np
from scipy import optimize, special

from deconv._validation import as_float_array, check_choice
from deconv.noise import Empirical

__all__ = ["Replicates", "moderated_variances"]


class Replicates:
    r"""Specification of a replicate-based error law for :class:`DeconvolutionKDE`.

    Pass it as ``noise=``; ``fit`` then takes an ``(n_individuals, m)`` matrix of
    replicate measurements (NaN = missing). ``noise="replicates"`` is
    ``noise=Replicates()``.

    Parameters
    ----------
    heteroscedastic : bool
        False: one error law, its cf estimated from within-individual differences
        (Delaigle, Hall & Meister 2008; symmetric errors of any shape). True: normal errors
        with a variance per individual, estimated from that individual's replicates and
        deconvolved with the Delaigle & Meister (2008) weighting.
    prior_df : "auto" or float >= 0
        Heteroscedastic only: prior degrees of freedom :math:`d_0` of the moderated
        variances :math:`\tilde s_j^2 = (d_0 s_0^2 + d_j s_j^2)/(d_0 + d_j)` (Smyth 2004).
        "auto" estimates :math:`d_0` and :math:`s_0^2` from the data; 0 uses the raw
        sample variances; ``numpy.inf`` one common variance.
    singletons : {"prior", "drop"}
        Heteroscedastic only: individuals with one measurement get :math:`s_0^2`
        ("prior") or are left out ("drop").

    Notes
    -----
    The heteroscedastic variant assumes normal errors within each individual (the sample
    mean and variance are then independent, and the mean of :math:`m_j` errors is normal
    with variance :math:`\sigma_j^2/m_j`). Even moderated, :math:`\tilde s_j^2` is an
    estimate: the plug-in estimator is not exactly unbiased for the kernel-smoothed density,
    and its bias grows as :math:`m_j` and the spread of the :math:`\sigma_j` shrink; when the
    :math:`s_j^2` show no more spread than sampling explains, the automatic :math:`d_0` is
    infinite and the estimate is the homoscedastic-normal one. McIntyre & Stefanski (2011)
    give an exactly unbiased alternative (not implemented).

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.density import DeconvolutionKDE, Replicates
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=800)
    >>> sigma = rng.choice([0.2, 0.8], size=800)
    >>> w = x[:, None] + sigma[:, None] * rng.normal(size=(800, 4))
    >>> est = DeconvolutionKDE(noise=Replicates(heteroscedastic=True)).fit(w)
    >>> est.noise_.heteroscedastic
    True
    """

    def __init__(self, heteroscedastic=False, prior_df="auto", singletons="prior"):
        self.heteroscedastic = heteroscedastic
        self.prior_df = prior_df
        self.singletons = singletons

    def __repr__(self):
        if not self.heteroscedastic:
            return "Replicates()"
        return (f"Replicates(heteroscedastic=True, prior_df={self.prior_df!r}, "
                f"singletons={self.singletons!r})")

    def __eq__(self, other):
        return isinstance(other, Replicates) and repr(self) == repr(other)

    __hash__ = object.__hash__

    def _validated(self):
        if not isinstance(self.heteroscedastic, (bool, np.bool_)):
            raise TypeError(f"heteroscedastic must be True or False, got {self.heteroscedastic!r}")
        d0 = self.prior_df
        if isinstance(d0, str):
            d0 = check_choice(d0, "prior_df", ("auto",))
        else:
            try:
                d0 = float(d0)
            except (TypeError, ValueError):
                raise TypeError(f"prior_df must be 'auto' or a number >= 0, got {d0!r}") from None
            if not d0 >= 0:
                raise ValueError(f"prior_df must be 'auto' or a number >= 0, got {d0!r}")
        singletons = check_choice(self.singletons, "singletons", ("prior", "drop"))
        return bool(self.heteroscedastic), d0, singletons

    def estimate(self, replicates):
        """Row means and the error law of the row means, from a replicate matrix.

        Returns ``(means, law, info)``; ``law`` is a :class:`deconv.noise.Empirical` law
        (homoscedastic; rows with different replicate counts are handled by the estimator)
        or a heteroscedastic :class:`deconv.noise.Normal` with one sd per kept row; ``info``
        holds ``m`` (replicates per kept row), ``variances`` (the moderated
        :math:`\\tilde s_j^2`), ``prior_df``, ``prior_var`` and ``kept`` (row indices).
        """
        hetero, d0, singletons = self._validated()
        reps = check_replicates(replicates)
        observed = ~np.isnan(reps)
        m = observed.sum(axis=1)
        means = np.where(observed, reps, 0.0).sum(axis=1) / m
        if not hetero:
            return means, Empirical.from_replicates(reps), dict(m=m, kept=np.arange(m.size))
        contrasts = helmert_contrasts(reps)
        df = m - 1
        if not np.any(df > 0):
            raise ValueError("w has no individual with two or more measured replicates")
        s2 = np.where(df > 0, np.nansum(contrasts ** 2, axis=1) / np.maximum(df, 1), 0.0)
        variances, d0_hat, s0_2 = moderated_variances(s2, df, d0)
        kept = np.arange(m.size) if singletons == "prior" else np.flatnonzero(df > 0)
        zero = (df[kept] > 0) & ~(variances[kept] > 0)
        if np.any(zero):
            bad = int(kept[np.flatnonzero(zero)[0]])
            raise ValueError(f"w row {bad} has identical replicates, so its error variance is "
                             "estimated as 0; use prior_df > 0 or 'auto' to moderate it")
        law = ReplicateNormalNoise(contrasts[kept], m[kept], variances[kept], d0_hat, s0_2)
        info = dict(m=m[kept], variances=variances[kept], prior_df=d0_hat, prior_var=s0_2,
                    kept=kept)
        return means[kept], law, info


def helmert_contrasts(reps):
    r"""Orthonormal within-row contrasts of a replicate matrix (NaN-padded).

    For the :math:`m_j` measured values :math:`W_{j1..jm_j}` of row j,
    :math:`c_{jk} = (\sum_{i\le k}W_{ji} - kW_{j,k+1})/\sqrt{k(k+1)}`, k = 1..m_j-1:
    under normal errors these are iid :math:`N(0, \sigma_j^2)` and independent of the row
    mean; :math:`\sum_k c_{jk}^2 = \sum_i (W_{ji}-\bar W_j)^2`. Returned as an
    (n, ncol - 1) array, NaN beyond :math:`m_j - 1`.
    """
    observed = ~np.isnan(reps)
    # move the measured values of each row to the front, in their original order
    order = np.argsort(~observed, axis=1, kind="stable")
    x = np.take_along_axis(np.where(observed, reps, 0.0), order, axis=1)
    m = observed.sum(axis=1)
    k = np.arange(1, reps.shape[1])
    c = (np.cumsum(x, axis=1)[:, :-1] - k * x[:, 1:]) / np.sqrt(k * (k + 1.0))
    c[k[None, :] >= m[:, None]] = np.nan
    return c


class ReplicateNormalNoise:
    r"""Error law of row means with per-individual normal errors estimated from replicates.

    Used by :class:`DeconvolutionKDE` through its ``spectrum`` method: the Delaigle & Meister
    (2008) weighted ratio with the unknown :math:`\varphi_j(t) = e^{-\sigma_j^2t^2/(2m_j)}`
    replaced, *in the denominator*, by an unbiased estimate from contrasts that the weight
    does not use (leave-one-contrast-out):

    .. math:: \hat\varphi_X(t) = \frac{\sum_j \sum_k d_j^{-1}\,\omega_{jk}(t)\,
              e^{it\bar W_j}}{\sum_j\sum_k d_j^{-1}\,\omega_{jk}(t)\cos(tc_{jk}/\sqrt{m_j})},
              \qquad \omega_{jk}(t) = e^{-\tilde s_{j,-k}^2t^2/(2m_j)},

    with :math:`c_{jk}` the Helmert contrasts of row j (iid :math:`N(0,\sigma_j^2)`,
    independent of :math:`\bar W_j`, so :math:`E\cos(tc_{jk}/\sqrt{m_j}) = \varphi_j(t)`)
    and :math:`\tilde s_{j,-k}^2` the moderated variance of row j from its other contrasts.
    Numerator and denominator then have conditional means :math:`\varphi_X(t)\,D(t)` and
    :math:`D(t)`, :math:`D = \sum_{jk} d_j^{-1}\omega_{jk}\varphi_j`, whatever the noise in
    the weights: plugging the noisy :math:`s_j^2` into both (the textbook plug-in) instead
    shrinks :math:`\hat\varphi_X` toward 0 at high frequencies (Jensen's inequality).
    Rows with one measurement (kept with ``singletons="prior"``) enter with the prior
    variance :math:`s_0^2` in both places. The denominator is floored at
    :math:`n^{-1/4}` times its plug-in value :math:`\sum_{jk} d_j^{-1}\omega_{jk}^2`
    (as Delaigle, Hall & Meister 2008 floor their estimated cf).
    """

    heteroscedastic = True
    kernel_code = 0
    kernel_param = 0.0
    custom_spectrum = True

    def __init__(self, contrasts, m, variances, prior_df, prior_var):
        self.m = m
        self.variances = variances
        self.prior_df = prior_df
        self.prior_var = prior_var
        self.n_obs = m.size
        self.sd = np.sqrt(variances / m)      # plug-in sds (search ranges, summaries)
        self.var = self.sd ** 2
        # pseudo-observations: one per (row, contrast), weight 1/d_j; rows with m_j = 1 one
        # pseudo-observation with the prior variance
        df = m - 1
        rows, cols = np.nonzero(~np.isnan(contrasts))
        d = df[rows].astype(np.float64)
        c = contrasts[rows, cols]
        total = np.nansum(contrasts ** 2, axis=1)[rows]
        loo_df = d - 1.0
        if math.isinf(prior_df):
            v = np.full(rows.size, prior_var)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                v = (prior_df * prior_var + (total - c ** 2)) / (prior_df + loo_df)
            v = np.where(loo_df > 0, v, prior_var)
        single = np.flatnonzero(df == 0)
        self._rows = np.concatenate([rows, single])
        self._sd = np.sqrt(np.concatenate([v, np.full(single.size, prior_var)]) / m[self._rows])
        self._w = np.concatenate([1.0 / np.maximum(d, 1.0), np.ones(single.size)])
        # denominator pseudo-observations: cos(t c / sqrt(m)) for contrasts; for singletons
        # the plug-in phi itself, i.e. position 0 with sd * sqrt(2) (normal: phi^2(s) = phi(s sqrt 2))
        self._c = np.concatenate([c / np.sqrt(m[rows]), np.zeros(single.size)])
        self._den_sd = np.concatenate([self._sd[:rows.size], math.sqrt(2.0) * self._sd[rows.size:]])

    def __repr__(self):
        d0 = "inf" if math.isinf(self.prior_df) else f"{self.prior_df:.3g}"
        return (f"ReplicateNormal({self.n_obs} individuals, per-individual variances; prior df "
                f"{d0}, prior sd {math.sqrt(self.prior_var):.4g})")

    def std_cf(self, u):
        return np.exp(-0.5 * np.asarray(u, dtype=np.float64) ** 2).astype(np.complex128)

    def spectrum(self, y, dt, K, weights=None):
        """(z, d) on t_k = k dt, k < K, for row means ``y`` (relative to the origin)."""
        from deconv._kernels._fourier import ecf_hetero, hetero_den

        if weights is not None:
            # bootstrap weights of individuals carried to their pseudo-observations
            w = self._w * weights[self._rows]
        else:
            w = self._w
        w = np.ascontiguousarray(w)
        sd = np.ascontiguousarray(self._sd)
        yp = np.ascontiguousarray(y[self._rows])
        num_re, num_im = np.empty(K), np.empty(K)
        ecf_hetero(yp, sd, w, 0, 0.0, dt, 0, num_re, num_im)
        den_re, den_im = np.empty(K), np.empty(K)
        ecf_hetero(np.ascontiguousarray(self._c), np.ascontiguousarray(self._den_sd), w, 0, 0.0,
                   dt, 0, den_re, den_im)
        plug = np.empty(K)
        hetero_den(sd, w, 0, 0.0, dt, plug)
        n = self.n_obs
        den = np.maximum(den_re, n ** -0.25 * plug)
        den = np.maximum(den, 1e-150)
        # variance of the ratio ~ sum_j omega_j^2 / den^2, with sum_j omega_j^2 bounded
        # (Cauchy-Schwarz) by sum_jk w_jk omega_jk^2 = plug (equal when a row's
        # leave-one-out variances agree)
        d = plug
        return (num_re + 1j * num_im) / den, d / den ** 2


def check_replicates(w):
    """Validate a replicate matrix (2-D, >= 2 columns, no inf, every row measured)."""
    if np.ndim(w) != 2:
        raise ValueError(f"w must be a 2-D matrix of replicates (rows = individuals), got "
                         f"{np.ndim(w)} dimension(s)")
    reps = as_float_array(w, "w", ndim=2, finite=False)
    if reps.shape[1] < 2:
        raise ValueError(f"w must have at least 2 replicate columns, got {reps.shape[1]}")
    if reps.shape[0] < 2:
        raise ValueError(f"w must have at least 2 rows (individuals), got {reps.shape[0]}")
    if np.any(np.isinf(reps)):
        raise ValueError("w contains infinite values")
    m = (~np.isnan(reps)).sum(axis=1)
    if np.any(m == 0):
        bad = int(np.flatnonzero(m == 0)[0])
        raise ValueError(f"w row {bad} has no measured replicate (all NaN)")
    return reps


def _inverse_trigamma(y):
    """x > 0 with polygamma(1, x) = y (trigamma decreases from inf to 0)."""
    f = lambda lx: special.polygamma(1, math.exp(lx)) - y  # noqa: E731
    return math.exp(optimize.brentq(f, -30.0, 40.0, xtol=1e-12))


def moderated_variances(s2, df, prior_df="auto"):
    r"""Empirical Bayes moderated variances (Smyth 2004).

    Parameters
    ----------
    s2 : array_like
        Sample variances :math:`s_j^2` (ignored where ``df == 0``).
    df : array_like of int
        Their degrees of freedom :math:`d_j \ge 0`.
    prior_df : "auto" or float >= 0
        :math:`d_0`; "auto" estimates it (with :math:`s_0^2`) by Smyth's moment method:
        with :math:`e_j = \log s_j^2 - \psi(d_j/2) + \log(d_j/2)`, :math:`s_0^2` and
        :math:`d_0` solve :math:`\bar e = \log s_0^2 - \psi(d_0/2) + \log(d_0/2)` and
        :math:`\psi'(d_0/2) = \mathrm{mean}\{\tfrac{k}{k-1}(e_j-\bar e)^2 - \psi'(d_j/2)\}`,
        where a non-positive right-hand side gives :math:`d_0 = \infty`. A fixed
        :math:`d_0` uses the pooled variance :math:`\sum d_js_j^2/\sum d_j` as :math:`s_0^2`.

    Returns
    -------
    variances : ndarray
        :math:`\tilde s_j^2 = (d_0s_0^2 + d_js_j^2)/(d_0+d_j)` (:math:`s_0^2` where
        :math:`d_j = 0`).
    prior_df, prior_var : float
        :math:`d_0` (possibly inf) and :math:`s_0^2`.

    References
    ----------
    Smyth, G. K. (2004). Linear models and empirical Bayes methods for assessing
    differential expression in microarray experiments. *Stat. Appl. Genet. Mol. Biol.* 3, 3.
    """
    s2 = np.asarray(s2, dtype=np.float64)
    df = np.asarray(df, dtype=np.float64)
    info = df > 0
    pooled = float(np.sum(df[info] * s2[info]) / np.sum(df[info]))
    if not pooled > 0:
        raise ValueError("replicates are identical within every individual: the error "
                         "variance is 0")
    if prior_df == "auto":
        use = info & (s2 > 0)          # log s^2 needs s^2 > 0 (identical replicates excluded)
        k = int(use.sum())
        if k < 3:
            d0, s0_2 = math.inf, pooled
        else:
            half = 0.5 * df[use]
            e = np.log(s2[use]) - special.digamma(half) + np.log(half)
            e_bar = float(e.mean())
            rhs = float(np.mean(k / (k - 1) * (e - e_bar) ** 2 - special.polygamma(1, half)))
            if rhs > 1e-12:
                d0 = 2.0 * _inverse_trigamma(rhs)
                s0_2 = math.exp(e_bar + special.digamma(0.5 * d0) - math.log(0.5 * d0))
            else:
                d0, s0_2 = math.inf, math.exp(e_bar)
    else:
        d0, s0_2 = float(prior_df), pooled
    if math.isinf(d0):
        variances = np.full(s2.size, s0_2)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            variances = (d0 * s0_2 + df * s2) / (d0 + df)
        variances[~info] = s0_2          # no own information (also avoids 0/0 when d0 = 0)
    return variances, d0, s0_2
