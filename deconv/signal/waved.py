r"""WaveD: wavelet-vaguelette deconvolution of periodic 1-D signals.

Model (Johnstone, Kerkyacharian, Picard & Raimondo 2004, "JKPR"):
:math:`y_i = (g * f)(t_i) + \sigma z_i` on a periodic grid of ``n`` points. In Fourier,
:math:`Y_l = G_l F_l + \text{noise}` (DFTs), so the periodised Meyer wavelet
coefficients of ``f`` are unbiasedly estimated by

.. math:: \hat\beta_{jk} = 2^{-j/2}\sum_l \frac{Y_l}{n\,G_l}\,
          \overline{\hat\psi(l/2^j)}\,e^{2\pi i lk/2^j},

Meyer wavelets being band-limited (level ``j`` touches only
:math:`2^j/3 \le |l| \le 2^{j+2}/3`), nothing is divided by a vanishing :math:`G_l` below
the fine level. Every choice below follows the R package ``waved`` (Raimondo & Stewart
2007), whose own example this module reproduces to the printed digits (see the tests):

* noise level: :math:`\hat\sigma = \mathrm{MAD}` of :math:`\sqrt n\times` the
  translation-invariant coefficients of ``y`` at the finest level ``J - 1``
  (``J = log2 n``), R's ``scale()``;
* fine level (R's ``find.j1``, the Fourier cut-off of Cavalier & Raimondo 2007):
  :math:`M` = the first frequency with
  :math:`|G_l|/\sqrt{l+1} \le \frac{\hat\sigma}{\sqrt n}\sqrt{\log(\sqrt n/\hat\sigma)}`
  and :math:`j_1 = \lfloor\log_2 M\rfloor - 1`;
* maxiset threshold at level ``j`` (the scaling coefficients of level ``j0`` use the
  band ``j0 - 1``):

  .. math:: \lambda_j = \frac{\eta}{\sqrt{4\pi}}\,\hat\sigma\,\tau_j\,
            \sqrt{\frac{\log n}{n}},\qquad
            \tau_j^2 = 2^{-j}\!\!\sum_{2^j \le |l| < 2^{j+1}}\!|G_l|^{-2}

  (the negative band is R's ``-(2^j+1) ... -2^(j+1)``), :math:`\eta=\sqrt6` and hard
  thresholding of every coefficient, scaling ones included;
* the estimate is the translation-invariant (cycle-spun) WaveD of Donoho & Raimondo
  (2004), R's ``WaveD(...)$waved``; ``translation_invariant=False`` gives the ordinary
  estimate (R's ``$ordinary``).

Deliberate differences: the finest level ``J - 1`` (taken when the blur has no Fourier
cut-off at the noise level) uses the exact complement of the level-``J - 1`` scaling
window, so the transform stays a tight frame (R tapers it up to ``7n/16``), and its
threshold is the linear extrapolation of the two levels below (R's formula for it is 0
without blur). ``j1="block"`` adds the level-noise rule of Wishart (2014).
"""
import functools

import numpy as np

from deconv._validation import check_choice, check_int, check_positive_scalar
from deconv.signal._operator import make_problem
from deconv.signal._result import DeconvolutionResult

__all__ = ["waved", "meyer_coefficients", "meyer_reconstruct", "meyer_noise_std"]

_MAD_NORMAL = 1.4826          # R's mad() constant, 1 / Phi^{-1}(3/4) to 4 digits


def _nu(x):
    """Meyer's auxiliary polynomial of degree 3: 0 on x <= 0, 1 on x >= 1, smooth between."""
    x = np.clip(x, 0.0, 1.0)
    return x ** 4 * (35 - 84 * x + 70 * x ** 2 - 20 * x ** 3)


def _psi_mag(xi):
    """|psi_hat(xi)| of the Meyer wavelet (support 1/3 <= |xi| <= 4/3)."""
    a = np.abs(xi)
    return np.where((a > 1 / 3) & (a <= 2 / 3), np.sin(0.5 * np.pi * _nu(3 * a - 1)),
                    np.where((a > 2 / 3) & (a <= 4 / 3), np.cos(0.5 * np.pi * _nu(1.5 * a - 1)),
                             0.0))


def _psi_hat(l, j):
    """Fourier transform of the Meyer wavelet at xi = l / 2**j.

    The phase exp(-i pi xi) makes psi symmetric about t = 1/2, the convention of JKPR and
    R's waved, so coefficient ``k`` here is coefficient ``k`` there.
    """
    xi = l / 2.0 ** j
    return _psi_mag(xi) * np.exp(-1j * np.pi * xi)


def _fine_hat(l, j):
    """The wavelet of the finest level ``j = log2(n) - 1`` (2^(j+1) = n).

    Meyer's rising edge, then magnitude 1 up to Nyquist: the exact complement of the
    level-``j`` scaling function, so the periodic transform stays a tight frame with the
    whole band covered. (R's ``waved`` tapers this level with the ordinary Meyer window
    up to ``7n/16``, a frame with up to 5 % energy loss there.)
    """
    xi = l / 2.0 ** j
    a = np.abs(xi)
    mag = np.where(a <= 1 / 3, 0.0, np.where(a <= 2 / 3, np.sin(0.5 * np.pi * _nu(3 * a - 1)), 1.0))
    return mag * np.exp(-1j * np.pi * xi)


def _wavelet_hat(l, j, n, scaling):
    """Filter of level j on an n-grid: scaling, ordinary Meyer, or the finest level."""
    if scaling:
        return _phi_hat(l, j).astype(complex)
    return _fine_hat(l, j) if 2 ** (j + 1) == n else _psi_hat(l, j)


def _phi_hat(l, j):
    a = np.abs(l) / 2.0 ** j
    edge = np.cos(0.5 * np.pi * _nu(3 * a - 1))
    return np.where(a <= 1 / 3, 1.0, np.where(a <= 2 / 3, edge, 0.0))


def _freqs(n):
    return np.fft.fftfreq(n, d=1.0 / n)          # integer frequencies l, FFT order


@functools.lru_cache(maxsize=64)
def _band(n, j, scaling):
    """Support, filter values and folded indices of level j on an n-grid (cached)."""
    l = _freqs(n)
    filt = _wavelet_hat(l, j, n, scaling)
    nz = np.nonzero(filt)[0]
    vals = filt[nz].astype(complex)
    idx = np.mod(l[nz], 2 ** j).astype(int)
    for a in (nz, vals, idx):
        a.setflags(write=False)
    return nz, vals, idx


@functools.lru_cache(maxsize=64)
def _half_filter(n, j, scaling):
    """The level-j filter on the rfft half-spectrum l = 0..n//2 (read-only)."""
    l = np.arange(n // 2 + 1, dtype=float)
    filt = _wavelet_hat(l, j, n, scaling)
    filt.setflags(write=False)
    return filt


def meyer_coefficients(F, j0, j1):
    r"""Periodised Meyer coefficients of a 1-D function from its Fourier coefficients.

    ``F`` holds ``(1/n) fft(f)`` in FFT order. Returns
    ``[alpha_{j0}, beta_{j0}, ..., beta_{j1}]``, level ``j`` of length ``2**j``:
    :math:`\beta_{jk} = 2^{j/2}\,
    \mathrm{ifft}_{2^j}(\text{fold}_{2^j}(F\,\overline{\hat\psi_j}))_k`.
    """
    n = F.shape[-1]
    out = []
    for j, scaling in [(j0, True)] + [(j, False) for j in range(j0, j1 + 1)]:
        m = 2 ** j
        nz, vals, idx = _band(n, j, scaling)
        prod = F[nz] * np.conj(vals)
        folded = (np.bincount(idx, weights=prod.real, minlength=m)
                  + 1j * np.bincount(idx, weights=prod.imag, minlength=m))
        out.append((2.0 ** (j / 2) * np.fft.ifft(folded)).real)
    return out


def meyer_reconstruct(coeffs, n, j0):
    """Fourier coefficients (FFT order, /n) of the function with Meyer coefficients ``coeffs``."""
    F = np.zeros(n, dtype=complex)
    for i, c in enumerate(coeffs):
        j = j0 + max(i - 1, 0)
        nz, vals, idx = _band(n, j, i == 0)
        C = np.fft.fft(c)
        F[nz] += 2.0 ** (-j / 2) * vals * C[idx]
    return F


@functools.lru_cache(maxsize=16)
def _fine_noise_filter(n):
    """R waved's finest-level (J - 1) Meyer filter for the noise estimate, rfft half.

    The Meyer window of level ``J - 1`` up to ``7n/16``, then -1 up to Nyquist (where the
    window's phase factor exp(-i pi xi) reaches -1): a high-pass band that holds
    (almost) only noise in a blurred signal.
    """
    j = np.log2(n) - 1
    l = np.arange(n // 2 + 1, dtype=float)
    xi = l / 2.0 ** j
    filt = np.where(l < 7 * n / 16, _psi_mag(xi) * np.exp(-1j * np.pi * xi), -1.0)
    filt = filt * 2.0 ** (-j / 2)
    filt.setflags(write=False)
    return filt


def _noise_from_rfft(Yr, n):
    """sigma-hat from the rfft of the data (any leading batch axes)."""
    proxy = np.sqrt(n) * np.fft.irfft(Yr * _fine_noise_filter(n), n=n, axis=-1)
    med = np.median(proxy, axis=-1, keepdims=True)
    return _MAD_NORMAL * np.median(np.abs(proxy - med), axis=-1)


def meyer_noise_std(y):
    r"""Noise standard deviation as R's ``waved`` estimates it (its ``scale()``).

    :math:`\hat\sigma = 1.4826\,\mathrm{median}|d - \mathrm{median}(d)|` over the ``n``
    translation-invariant finest-level (``J - 1``) Meyer coefficients ``d`` of ``y``,
    scaled by :math:`\sqrt n` so that white noise of standard deviation
    :math:`\sigma` gives :math:`\hat\sigma\approx\sigma`.

    Parameters
    ----------
    y : array_like, shape ``(*batch, n)``
        Signal(s) along the last axis; ``n`` even, at least 32.

    Returns
    -------
    float or ndarray of shape ``batch``

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.signal.waved import meyer_noise_std
    >>> e = np.random.default_rng(0).standard_normal(4096)
    >>> bool(abs(meyer_noise_std(0.3 * e) - 0.3) < 0.02)
    True
    """
    arr = np.asarray(y, dtype=float)
    if arr.ndim == 0 or arr.shape[-1] < 32 or arr.shape[-1] % 2:
        raise ValueError("y must have an even length >= 32 along its last axis")
    if not np.all(np.isfinite(arr)):
        raise ValueError("y contains NaN or infinite values")
    out = _noise_from_rfft(np.fft.rfft(arr, axis=-1), arr.shape[-1])
    return float(out) if out.ndim == 0 else out


def _fourier_cutoff(absG, sigma, n):
    """R waved's ``find.j1``: the frequency cut-off M and fine level j1.

    The first (1-based) index ``M`` where :math:`|G_{M-1}|/\\sqrt M` falls to the noise
    level :math:`(\\sigma/\\sqrt n)\\sqrt{\\log(\\sqrt n/\\sigma)}`; ``j1 = floor(log2 M) - 1``.
    When no frequency below ``n/2`` qualifies: ``M = n/2``, ``j1 = log2(n) - 1``.
    """
    h = n // 2
    scaled = absG[:h] / np.sqrt(np.arange(1, h + 1))
    ratio = np.log(np.sqrt(n) / sigma)
    if ratio <= 0:              # noise sd >= sqrt(n): nothing is resolved, cut at once
        return 1, 0
    level = sigma / np.sqrt(n) * np.sqrt(ratio)
    below = np.nonzero(scaled <= level)[0]
    if below.size == 0:
        return h, int(np.floor(np.log2(n))) - 1
    M = int(below[0]) + 1
    return M, int(np.floor(np.log2(M))) - 1


def _block_level(absG2_inv, sigma, n, j0, jmax):
    r"""Fine level from the level noise (Wishart 2014; the box-car rule of R's ``mwaved``).

    Level ``j`` is usable while the noise variance of its coefficients,
    :math:`s_j^2 = \frac{\sigma^2}{n} 2^{-j}\sum_{l>0}|\hat\psi(l/2^j)|^2/|G_l|^2`, stays
    below :math:`1 / (2^j \log(n/\sigma^2))` -- the size of the coefficients of a bounded
    function; ``j1`` is the last usable level.
    """
    cap = np.log(n / sigma ** 2)
    for j in range(j0, jmax + 1):
        nz, vals, _ = _band(n, j, False)
        pos = nz[nz <= n // 2]                        # positive frequencies (FFT order)
        w = np.abs(vals[:pos.size]) ** 2
        s2 = sigma ** 2 / n * np.sum(w * absG2_inv[pos]) / 2 ** j
        if cap <= 0 or s2 > 1.0 / (2 ** j * cap):
            return j - 1
    return jmax


def _maxiset_thresholds(absG2_inv, sigma, n, j0, j1, eta):
    """R waved's ``maxithresh``: one threshold for the scaling level, then j0..j1.

    The finest level ``log2(n) - 1`` has no dyadic band below Nyquist: its threshold
    is the linear extrapolation of the two levels below (R's comment says so; its
    formula, ``(n1 + 1) d1``, is not one and gives 0 without blur; R's ``mwaved``
    extrapolates linearly, as here).
    """
    fine = 2 ** (j1 + 1) == n
    out = []
    for j in range(j0 - 1, j1 + (0 if fine else 1)):
        pos = absG2_inv[2 ** j:2 ** (j + 1)]                       # l = 2^j .. 2^(j+1)-1
        neg = absG2_inv[n - 2 ** (j + 1):n - 2 ** j]               # l = -2^(j+1) .. -(2^j+1)
        tau2 = (pos.sum() + neg.sum()) / 2 ** j
        out.append(eta / np.sqrt(4 * np.pi) * sigma * np.sqrt(tau2) * np.sqrt(np.log(n) / n))
    if fine:
        out.append(2 * out[-1] - out[-2])
    return np.array(out)


def _reach(n, j1):
    """Frequencies 0..n/2 that the levels up to j1 touch (|l| <= 2^(j1+2)/3)."""
    return np.arange(n // 2 + 1) <= 2.0 ** (j1 + 2) / 3.0


def waved(y, psf, *, noise_std=None, eta=np.sqrt(6.0), j0=3, j1="auto", thresholds=None,
          translation_invariant=True, otf=False):
    r"""WaveD deconvolution of periodic 1-D signals (wavelet-vaguelette, Meyer basis).

    Estimates ``f`` from :math:`y = g * f + \sigma z` (circular convolution, white
    Gaussian noise) by hard-thresholding the Meyer wavelet coefficients of
    :math:`\mathcal F^{-1}(Y_l / G_l)` level by level; the defaults are those of R's
    ``waved`` (see :mod:`deconv.signal.waved` for every formula).

    Parameters
    ----------
    y : array_like, shape ``(*batch, n)``
        Observed signal(s) on a periodic grid; ``n`` even, at least 32 (R's ``waved``
        needs a power of two; any even ``n`` works here).
    psf : array_like
        1-D centred kernel (centre, lag 0, at ``size // 2``), or the full OTF
        (``numpy.fft.fft`` of the kernel on the signal grid) with ``otf=True``. R's
        ``waved`` takes the kernel sampled on the grid with lag 0 first: pass
        ``np.fft.fft(g), otf=True``.
    noise_std : float, optional
        Noise standard deviation; default :func:`meyer_noise_std` of each signal.
    eta : float
        Threshold constant :math:`\eta` of the maxiset threshold (default
        :math:`\sqrt 6`, R's "conservative" default).
    j0 : int
        Coarse level (R's ``L``): ``2**j0`` scaling coefficients.
    j1 : "auto", "block" or int
        Fine level (R's ``F``), from ``j0`` to ``log2(n) - 1`` (``log2(n) - 2`` when
        ``n`` is not a power of 2). ``"auto"`` is R's Fourier cut-off rule; ``"block"``
        stops at the last level whose coefficient noise stays below the size of a
        bounded function's coefficients (Wishart 2014, R's ``mwaved`` rule for box-car
        blur): better on box-car blur and on Blocks (see the docs page).
    thresholds : float or array_like, optional
        Manual thresholds: one number for every level, or ``j1 - j0 + 2`` numbers
        (scaling level first, then ``j0 .. j1``). Default: the maxiset thresholds.
    translation_invariant : bool
        Average the estimate over all ``n`` circular shifts (cycle spinning, computed
        exactly with FFTs); ``False`` gives the ordinary WaveD estimate.
    otf : bool
        ``psf`` is the OTF.

    Returns
    -------
    DeconvolutionResult
        ``regularization`` is the fine level ``j1`` (per signal for a batch). ``info``
        holds ``thresholds`` (scaling level first), ``fourier_cutoff`` (R's ``M``),
        ``max_abs_coef`` and ``thresholded_fraction`` per level (of the ordinary
        coefficients, as R's ``summary`` prints them), ``eta`` and ``j0``. For a batch
        the per-signal entries are lists.

    Raises
    ------
    ValueError
        For a non-1-D PSF, an odd or short signal, ``j1`` out of range, or an OTF that
        vanishes inside the band a user-given ``j1`` needs.

    References
    ----------
    Johnstone, I. M., Kerkyacharian, G., Picard, D. & Raimondo, M. (2004). Wavelet
    deconvolution in a periodic setting. *J. R. Statist. Soc. B* 66, 547-573.
    Donoho, D. L. & Raimondo, M. (2004). Translation invariant deconvolution in a
    periodic setting. *Int. J. Wavelets Multiresolut. Inf. Process.* 2, 415-431.
    Cavalier, L. & Raimondo, M. (2007). Wavelet deconvolution with noisy eigenvalues.
    *IEEE Trans. Signal Process.* 55, 2414-2424.
    Wishart, J. R. (2014). Data-driven wavelet resolution choice in multichannel box-car
    deconvolution with long memory. *COMPSTAT 2014 Proceedings*, 383-391.
    Raimondo, M. & Stewart, M. (2007). The WaveD transform in R: performs fast
    translation-invariant wavelet deconvolution. *J. Statist. Software* 21(2).

    Examples
    --------
    >>> import numpy as np
    >>> import deconv.signal as ds
    >>> x = ds.testsignals.lidar(2048)
    >>> h = ds.testsignals.gamma_kernel(1.0, 8.0)
    >>> y = ds.blur(x, h) + 0.05 * np.random.default_rng(0).standard_normal(2048)
    >>> res = ds.waved(y, h)
    >>> bool(ds.metrics.isnr(x, y, res) > 3)
    True
    """
    prob = make_problem(y, psf, boundary="periodic", otf=otf)
    if prob.ndim != 1:
        raise ValueError(f"waved is for 1-D signals; the PSF is {prob.ndim}-D")
    n = prob.sig_shape[0]
    if n < 32 or n % 2:
        raise ValueError(f"waved needs an even signal length >= 32, got {n}")
    eta = check_positive_scalar(eta, "eta")
    if not isinstance(translation_invariant, (bool, np.bool_)):
        raise TypeError("translation_invariant must be True or False")
    jmax = int(np.floor(np.log2(n))) - 2
    # the finest level log2(n) - 1 exists for dyadic n only (2^(j+1) = n)
    jfine = jmax + 1 if 2 ** (jmax + 2) == n else jmax
    j0 = check_int(j0, "j0", min_value=1, max_value=jmax)
    auto = isinstance(j1, str)
    if auto:
        j1 = check_choice(j1, "j1", ("auto", "block"))
    else:
        j1 = check_int(j1, "j1", min_value=j0, max_value=jfine)
    batch = prob.batch_shape
    Yr = np.fft.rfft(prob.y.astype(np.float64), axis=-1)
    if noise_std is None:
        sig = np.broadcast_to(_noise_from_rfft(Yr, n), batch).astype(float)
    else:
        sig = np.full(batch, check_positive_scalar(noise_std, "noise_std"))
    if np.any(sig <= 0):
        raise ValueError("the estimated noise level is 0 (noise-free or constant data): "
                         "give noise_std")
    Hr = prob.otf                                     # rfft half of the OTF
    G = np.concatenate([Hr, np.conj(Hr[1:(n + 1) // 2][::-1])])
    absG = np.abs(G)
    with np.errstate(divide="ignore"):
        absG2_inv = 1.0 / absG ** 2                   # inf where G = 0 kills that level

    manual = None
    if thresholds is not None:
        manual = np.atleast_1d(np.asarray(thresholds, dtype=float))
        if manual.ndim != 1 or not np.all(np.isfinite(manual)) or np.any(manual < 0):
            raise ValueError("thresholds must be finite non-negative numbers")

    # per-signal fine level, cut-off and thresholds (cheap: no transform of the data)
    flat_sig = sig.reshape(-1)
    J1 = np.empty(flat_sig.size, dtype=int)
    cutoffs = np.empty(flat_sig.size, dtype=int)
    for b, s in enumerate(flat_sig):
        M, jj = _fourier_cutoff(absG, s, n)
        cutoffs[b] = M
        if j1 == "block":
            jj = _block_level(absG2_inv, s, n, j0, jmax)
        J1[b] = min(max(jj, j0), jfine) if auto else j1
        # never divide by a vanishing G (only possible at the top of the rules' range,
        # e.g. a kernel whose transfer function is 0 at Nyquist)
        while auto and J1[b] > j0 and np.any(absG[:n // 2 + 1][_reach(n, J1[b])] <= 1e-300):
            J1[b] -= 1
    jtop = int(J1.max())
    nlev = jtop - j0 + 2
    thr = np.empty((flat_sig.size, nlev))
    for b, s in enumerate(flat_sig):
        if manual is None:
            thr[b] = _maxiset_thresholds(absG2_inv, s, n, j0, jtop, eta)
        elif manual.size == 1:
            thr[b] = manual[0]
        else:
            if manual.size < nlev:
                raise ValueError(f"thresholds must have 1 or j1 - j0 + 2 = {nlev} values "
                                 f"(scaling level first), got {manual.size}")
            thr[b] = manual[:nlev]

    # divide by G on the band the used levels reach (|l| <= 2^(j1+2)/3)
    lr = np.arange(n // 2 + 1)
    reach = _reach(n, jtop)
    if not auto and np.any(absG[:n // 2 + 1][reach] <= 1e-300):
        raise ValueError("the PSF's transfer function vanishes inside the band that j1 "
                         f"= {jtop} needs; lower j1")
    Fr = np.zeros_like(Yr)
    with np.errstate(divide="ignore", invalid="ignore"):
        Fr[..., reach] = Yr[..., reach] / Hr[reach] / n          # (1/n) fft(f), half
    Fr = Fr.reshape(-1, n // 2 + 1)

    est_r = np.zeros_like(Fr)                                   # estimate, rfft half, /n
    max_abs = np.zeros((flat_sig.size, nlev))
    frac = np.zeros((flat_sig.size, nlev))
    levels = [(j0, True)] + [(j, False) for j in range(j0, jtop + 1)]
    for i, (j, scaling) in enumerate(levels):
        use = (J1 >= j)[:, None]                                # signals that use level j
        filt = _half_filter(n, j, scaling)
        # coefficients at all n shifts: c(m) = 2^{-j/2} sum_l F_l conj(psi_l) e^{2 pi i l m/n}
        c = 2.0 ** (-j / 2) * n * np.fft.irfft(Fr * np.conj(filt), n=n, axis=-1)
        t = thr[:, i:i + 1]
        if n % 2 ** j == 0:
            ordinary = c[:, ::n // 2 ** j]     # the ordinary coefficients are every step-th
        else:                                  # 2^j does not divide n: fold in Fourier
            full = np.concatenate([Fr, np.conj(Fr[:, 1:(n + 1) // 2][:, ::-1])], axis=1)
            ordinary = np.stack([meyer_coefficients(f, j, j)[0 if scaling else 1]
                                 for f in full])
        a = np.abs(ordinary)
        max_abs[:, i] = a.max(axis=-1)
        frac[:, i] = np.mean(a <= t, axis=-1)
        if translation_invariant:
            # average over the n / 2^j cosets of the ordinary estimator
            kept = np.where(np.abs(c) > t, c, 0.0)
            contrib = 2.0 ** (j / 2) / n * filt * np.fft.rfft(kept, axis=-1)
        else:
            kept = np.where(np.abs(ordinary) > t, ordinary, 0.0)
            contrib = _synthesis_half(kept, filt, j, n)
        est_r += np.where(use, contrib, 0.0)
    out = np.fft.irfft(est_r * n, n=n, axis=-1).reshape(prob.y.shape).astype(prob.dtype)

    one = not batch
    per = lambda a: [a[b, :J1[b] - j0 + 2].copy() for b in range(a.shape[0])]
    thr_l, max_l, frac_l = per(thr), per(max_abs), per(frac)
    info = {"ndim": 1, "j0": j0, "eta": eta,
            "thresholds": thr_l[0] if one else thr_l,
            "fourier_cutoff": int(cutoffs[0]) if one else cutoffs.reshape(batch),
            "max_abs_coef": max_l[0] if one else max_l,
            "thresholded_fraction": frac_l[0] if one else frac_l,
            "translation_invariant": bool(translation_invariant)}
    if one:                  # R's summary table, in one line per quantity
        fmt = lambda a: " ".join(f"{v:.3g}" for v in a)
        info["note"] = (f"Fourier cut-off M = {int(cutoffs[0])}; levels {j0}(scaling), "
                        f"{j0}..{int(J1[0])}: thresholds {fmt(thr_l[0])}; max |coef| "
                        f"{fmt(max_l[0])}; fraction thresholded {fmt(frac_l[0])}")
    rule = ("maxiset threshold" if manual is None else "manual threshold") + \
        ({"auto": ", Fourier cut-off j1", "block": ", level-noise j1"}.get(j1, ""))
    return DeconvolutionResult(
        out, "waved", regularization=int(J1[0]) if one else J1.reshape(batch),
        noise_std=float(sig) if one else sig, boundary="periodic", rule=rule, info=info)


def _synthesis_half(dec, filt, j, n):
    """rfft half (/n) of sum_k dec_k psi_jk for ordinary (decimated) coefficients."""
    m = 2 ** j
    C = np.fft.fft(dec, axis=-1)                       # length 2^j
    idx = np.mod(np.arange(n // 2 + 1), m)
    return 2.0 ** (-j / 2) * filt * C[:, idx]
