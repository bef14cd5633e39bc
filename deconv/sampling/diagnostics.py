"""Convergence diagnostics for MCMC draws (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021).

Every function takes draws shaped ``(chain, draw)`` or ``(chain, draw, *shape)`` and returns a
float (2-D input) or an array of ``shape`` (one value per parameter). A 1-D input is read as a
single chain.

* ``rhat`` — rank-normalised split-R-hat, the maximum of the bulk (rank-normalised) and the tail
  (folded, rank-normalised) versions.
* ``ess_bulk`` / ``ess_tail`` / ``ess_mean`` / ``ess_sd`` / ``ess_quantile`` — effective sample
  sizes from FFT autocovariances combined over chains, truncated by Geyer's initial positive
  sequence and made monotone (Geyer 1992).
* ``mcse_mean`` / ``mcse_sd`` / ``mcse_quantile`` — Monte Carlo standard errors.

The definitions follow the paper (and its reference implementation in the R package posterior);
they agree with ArviZ to rounding error on the same draws (tested).

References
----------
Vehtari, A., Gelman, A., Simpson, D., Carpenter, B. and Bürkner, P.-C. (2021). Rank-normalization,
folding, and localization: an improved R-hat for assessing convergence of MCMC. *Bayesian
Analysis* 16(2), 667-718.

Geyer, C. J. (1992). Practical Markov chain Monte Carlo. *Statistical Science* 7(4), 473-483.
"""
import numpy as np
from scipy import fft as _fft
from scipy import special, stats

__all__ = ["rhat", "rhat_basic", "ess_bulk", "ess_tail", "ess_mean", "ess_sd", "ess_quantile",
           "mcse_mean", "mcse_sd", "mcse_quantile", "autocovariance", "rank_normalize"]

_MIN_DRAWS = 4


def _as_draws(x, name="x"):
    """(chain, draw, k) float64 array plus the trailing parameter shape."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have shape (chain, draw, ...), got a scalar")
    if arr.ndim == 1:
        arr = arr[None, :]
    shape = arr.shape[2:]
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one chain and one draw, got shape {arr.shape}")
    return arr.reshape(arr.shape[0], arr.shape[1], -1), shape


def _per_param(fn, x, name="x"):
    arr, shape = _as_draws(x, name)
    out = np.array([fn(arr[:, :, k]) for k in range(arr.shape[2])], dtype=np.float64)
    if shape == ():
        return float(out[0])
    return out.reshape(shape)


def _invalid(a, min_chains=1):
    return (a.shape[1] < _MIN_DRAWS or a.shape[0] < min_chains or not np.all(np.isfinite(a)))


def _split(a):
    """Split each chain into its first and last halves (the middle draw of odd lengths is dropped)."""
    half = a.shape[1] // 2
    return np.concatenate([a[:, :half], a[:, a.shape[1] - half:]], axis=0)


def rank_normalize(a):
    """Normal scores of the pooled ranks: ``Phi^-1((r - 3/8) / (S + 1/4))`` (Blom 1958)."""
    a = np.asarray(a, dtype=np.float64)
    r = stats.rankdata(a, method="average").reshape(a.shape)
    return special.ndtri((r - 0.375) / (a.size + 0.25))


def autocovariance(a):
    """Biased (divide-by-n) autocovariance of each row of ``a`` at lags 0..n-1, by FFT."""
    a = np.asarray(a, dtype=np.float64)
    n = a.shape[-1]
    m = _fft.next_fast_len(2 * n)
    c = a - a.mean(axis=-1, keepdims=True)
    f = _fft.rfft(c, n=m, axis=-1)
    return _fft.irfft(f * np.conj(f), n=m, axis=-1)[..., :n] / n


def _ess_2d(a):
    """ESS of the mean of a (chain, draw) array: Geyer's initial monotone sequence."""
    n_chain, n = a.shape
    if n < _MIN_DRAWS or not np.all(np.isfinite(a)):
        return np.nan
    acov = autocovariance(a)
    mean_acov = acov.mean(axis=0)
    chain_mean = a.mean(axis=1)
    mean_var = mean_acov[0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if n_chain > 1:
        var_plus += np.var(chain_mean, ddof=1)
    if not var_plus > 0:
        return np.nan  # constant draws: no information about mixing
    rho = np.zeros(n)
    rho_even = 1.0
    rho[0] = rho_even
    rho_odd = 1.0 - (mean_var - mean_acov[1]) / var_plus
    rho[1] = rho_odd
    # initial positive sequence: sums of adjacent pairs stay positive
    t = 1
    while t < n - 3 and rho_even + rho_odd > 0.0:
        rho_even = 1.0 - (mean_var - mean_acov[t + 1]) / var_plus
        rho_odd = 1.0 - (mean_var - mean_acov[t + 2]) / var_plus
        if rho_even + rho_odd >= 0.0:
            rho[t + 1] = rho_even
            rho[t + 2] = rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:  # the last even term is kept when positive (less biased truncation)
        rho[max_t + 1] = rho_even
    # initial monotone sequence: pair sums may not increase
    t = 1
    while t <= max_t - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = (rho[t - 1] + rho[t]) / 2.0
            rho[t + 2] = rho[t + 1]
        t += 2
    s = n_chain * n
    tau = -1.0 + 2.0 * np.sum(rho[:max_t + 1]) + np.sum(rho[max_t + 1:max_t + 2])
    tau = max(tau, 1.0 / np.log10(s))  # caps ESS at S log10(S) for antithetic chains
    return s / tau


def _rhat_2d(a):
    m, n = a.shape
    w = np.mean(np.var(a, axis=1, ddof=1))
    b = n * np.var(a.mean(axis=1), ddof=1)
    return float(np.sqrt((b / w + n - 1.0) / n))


def _rhat_rank_2d(a):
    if _invalid(a, min_chains=2):
        return np.nan
    s = _split(a)
    bulk = _rhat_2d(rank_normalize(s))
    tail = _rhat_2d(rank_normalize(np.abs(s - np.median(s))))
    return max(bulk, tail)


def _ess_quantile_2d(a, prob):
    if _invalid(a):
        return np.nan
    q = np.quantile(a, prob)
    return _ess_2d(_split((a <= q).astype(np.float64)))


def rhat(x):
    """Rank-normalised split-R-hat: max of bulk and folded (tail) R-hat (Vehtari et al. 2021).

    Parameters
    ----------
    x : array_like, shape (chain, draw) or (chain, draw, ...)

    Returns
    -------
    float or ndarray
        NaN when there are fewer than 2 chains or 4 draws, or non-finite draws.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.sampling import rhat
    >>> x = np.random.default_rng(0).normal(size=(4, 500))
    >>> bool(rhat(x) < 1.01)
    True
    """
    return _per_param(_rhat_rank_2d, x)


def rhat_basic(x):
    """Classic split-R-hat (Gelman et al., BDA3) without rank normalisation."""
    return _per_param(lambda a: np.nan if _invalid(a, 2) else _rhat_2d(_split(a)), x)


def ess_bulk(x):
    """Bulk effective sample size: ESS of the rank-normalised split chains.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.sampling import ess_bulk
    >>> x = np.random.default_rng(0).normal(size=(4, 1000))
    >>> bool(3000 < ess_bulk(x) < 5000)
    True
    """
    return _per_param(lambda a: np.nan if _invalid(a) else _ess_2d(rank_normalize(_split(a))), x)


def ess_mean(x):
    """ESS for the posterior mean (split chains, no rank normalisation)."""
    return _per_param(lambda a: np.nan if _invalid(a) else _ess_2d(_split(a)), x)


def ess_sd(x):
    """ESS for the posterior sd: ESS of the squared centred draws."""
    return _per_param(lambda a: np.nan if _invalid(a) else _ess_2d(_split((a - a.mean()) ** 2)), x)


def ess_quantile(x, prob):
    """ESS of the indicator ``x <= q(prob)`` for one quantile ``prob`` in (0, 1)."""
    prob = _check_prob(prob)
    return _per_param(lambda a: _ess_quantile_2d(a, prob), x)


def ess_tail(x, prob=(0.05, 0.95)):
    """Tail ESS: the minimum of the quantile ESS at the 5% and 95% quantiles."""
    lo, hi = (_check_prob(p) for p in prob)
    return _per_param(lambda a: min(_ess_quantile_2d(a, lo), _ess_quantile_2d(a, hi)), x)


def mcse_mean(x):
    """Monte Carlo standard error of the posterior mean: ``sd / sqrt(ESS_mean)``."""
    def f(a):
        if _invalid(a):
            return np.nan
        return float(np.std(a, ddof=1) / np.sqrt(_ess_2d(_split(a))))
    return _per_param(f, x)


def mcse_sd(x):
    """Monte Carlo standard error of the posterior sd (delta method on the variance).

    With ``c = (x - mean)^2``, ``Var(var) ~= (mean(c^2) - mean(c)^2) / ESS(c)`` and
    ``se(sd) = sqrt(Var(var) / (4 var))``.
    """
    def f(a):
        if _invalid(a):
            return np.nan
        c = (a - a.mean()) ** 2
        ess = _ess_2d(_split(c))
        ev = c.mean()
        varvar = (np.mean(c ** 2) - ev ** 2) / ess
        return float(np.sqrt(varvar / ev / 4.0))
    return _per_param(f, x)


def mcse_quantile(x, prob):
    """Monte Carlo standard error of a quantile, from the Beta interval of the indicator ESS.

    Half the distance between the order statistics at the 15.9% and 84.1% points of
    ``Beta(ESS p + 1, ESS (1 - p) + 1)`` (Vehtari et al. 2021, sec. 4.3).
    """
    prob = _check_prob(prob)

    def f(a):
        if _invalid(a):
            return np.nan
        ess = _ess_quantile_2d(a, prob)
        lo, hi = stats.beta.ppf([0.1586553, 0.8413447], ess * prob + 1, ess * (1 - prob) + 1)
        s = np.sort(a.ravel())
        size = s.size
        th1 = s[int(np.floor(max(lo * size - 1, 0)))]
        th2 = s[int(np.ceil(min(hi * size - 1, size - 1)))]
        return float((th2 - th1) / 2.0)
    return _per_param(f, x)


def _check_prob(p):
    p = float(p)
    if not 0.0 < p < 1.0:
        raise ValueError(f"prob must lie strictly between 0 and 1, got {p}")
    return p
