r"""The frequency-domain core shared by the estimator, the selectors and the bands.

Everything lives on a uniform frequency grid :math:`t_k = k\,\Delta t`, ``k = 0..K``, with
:math:`\Delta t = 2\pi/P` and a period :math:`P` several times the span of the data and the
evaluation range. Coordinates are relative to an origin ``a`` left of the data
(``y = x - a``), which makes every result location-equivariant.

Two spectral quantities are computed (a :class:`Spectrum`):

* ``z[k]``, the deconvolved empirical characteristic function (an estimate of
  :math:`\varphi_X(t_k)`): :math:`\hat\psi(t)/\varphi_U(t)` with
  :math:`\hat\psi(t) = n^{-1}\sum_j e^{itY_j}` for homoscedastic errors, and the Delaigle &
  Meister (2008) weighted version
  :math:`\sum_j e^{itY_j}\overline{\varphi_{U_j}(t)} / \sum_j |\varphi_{U_j}(t)|^2`
  for heteroscedastic ones;
* ``d[k]``, its "diagonal" (variance) term: :math:`1/(n|\varphi_U(t)|^2)`, respectively
  :math:`1/\sum_j|\varphi_{U_j}(t)|^2`, so that :math:`E|\hat z|^2 \approx |\varphi_X|^2 + d`.

The empirical cf is computed either exactly (``direct``: an O(nK) compiled sum) or by
linear binning on a fine grid of spacing :math:`\delta` followed by one real FFT
(``binned``: O(n + N log N)). Linear binning multiplies the cf of a point, on average over
its position inside a bin, by the Fourier transform of the linear B-spline,
:math:`\mathrm{sinc}^2(t\delta/2)`; we divide that factor out, which removes the leading
:math:`(t\delta)^2/12` error of binning and leaves a residual that averages out over points.
"""
import numpy as np
from scipy import fft as sp_fft
from scipy import special

from deconv._kernels._binning import linear_bin
from deconv._kernels._fourier import ecf, ecf_hetero, hetero_den
from deconv.noise import Empirical

# fine-grid spacing of the binned path, as a fraction of the smallest bandwidth it serves
BIN_RATIO = 64
MAX_BINS = 2 ** 23
_TINY = 1e-150


class GroupedNoise:
    """Observations in groups sharing one error law each (e.g. means of m_j replicates).

    Deconvolved with the Delaigle & Meister (2008) weighting, one cf per group:
    z = sum_g conj(phi_g) sum_{j in g} e^{itY_j} / sum_g n_g |phi_g|^2.
    """

    heteroscedastic = True
    kernel_code = -1

    def __init__(self, groups, n):
        self.groups = groups          # list of (index array, homoscedastic law)
        sd = np.empty(n)
        for idx, law in groups:
            sd[idx] = law.sd
        self.sd = sd
        self.var = sd ** 2
        self.n_obs = n

    def __repr__(self):
        first = self.groups[0][1]
        parts = "; ".join(f"{idx.size} obs sd={law.sd:.4g}" for idx, law in self.groups)
        return f"GroupedNoise({type(first).__name__} laws: {parts})"


class Spectrum:
    """z (estimate of phi_X) and d (its diagonal term) on t_k = k dt, k = 0..K-1.

    ``z`` may be computed lazily: with ``extend(k0, k1)`` given, only the frequencies a
    caller asks for (:meth:`z_upto`) are computed, in increasing ranges. Bandwidth selectors
    rarely need z up to the end of the grid (the plug-in needs it only up to 1/g for its
    pilots and up to 1/h for the estimate), which halves the heteroscedastic cost.
    """

    def __init__(self, dt, z, d, n, extend=None):
        self.dt = float(dt)
        self._z = z
        self.d = d
        self.n = n
        self._extend = extend

    @property
    def K(self):
        return self.d.size

    @property
    def t(self):
        return np.arange(self.K) * self.dt

    def z_upto(self, k):
        """z for the first k frequencies (computing missing ones if lazy)."""
        k = min(int(k), self.K)
        if self._z.size < k:
            # extend in generous steps so repeated small requests stay cheap
            k_new = min(self.K, max(k, int(1.25 * self._z.size) + 16))
            self._z = np.concatenate([self._z, self._extend(self._z.size, k_new)])
        return self._z[:k]

    @property
    def z(self):
        return self.z_upto(self.K)

    def head(self, K):
        """The first K frequencies."""
        return Spectrum(self.dt, self.z_upto(K), self.d[:K], self.n)


# Student-t cfs (a Bessel function each) are interpolated from a table when there are
# more than this many observation-frequency pairs (below, the table costs more than it saves)
TABLE_MIN_WORK = 200_000
TABLE_STEP = 1e-3   # in units of u = sd * t; cubic Hermite error ~ step^4 / 384 * max|(log phi)^(4)|


def student_t_log_cf_table(df, u_max, step=TABLE_STEP):
    r"""log phi and step * (log phi)' of the unit-sd Student-t cf at u = i * step, interleaved.

    With :math:`\nu` = df, :math:`z = \sqrt{\nu-2}\,u` and
    :math:`\varphi = z^{\nu/2}K_{\nu/2}(z)/(\Gamma(\nu/2)2^{\nu/2-1})`, the derivative
    is :math:`(\log\varphi)' = -\sqrt{\nu-2}\,K_{\nu/2-1}(z)/K_{\nu/2}(z)` (from
    :math:`(z^aK_a)' = -z^aK_{a-1}`). Covers [0, u_max] plus two nodes. The compiled
    kernels interpolate log phi by cubic Hermite polynomials (relative accuracy in phi).
    """
    n = int(np.ceil(u_max / step)) + 3
    u = np.arange(n) * step
    a = 0.5 * df
    z = np.sqrt(df - 2.0) * u
    out = np.empty((n, 2))
    zz = z[1:]
    out[0] = 0.0
    out[1:, 0] = (a * np.log(zz) + np.log(special.kve(a, zz)) - zz - special.gammaln(a)
                  - (a - 1.0) * np.log(2.0))
    out[1:, 1] = -step * np.sqrt(df - 2.0) * special.kve(a - 1.0, zz) / special.kve(a, zz)
    return out.reshape(-1), step


def ecf_direct(y, dt, K, weights=None):
    """Exact (1/sum w) sum_j w_j exp(i t_k y_j), k < K."""
    re = np.empty(K)
    im = np.empty(K)
    w = np.empty(0) if weights is None else weights
    ecf(y, w, dt, re, im)
    total = y.size if weights is None else float(weights.sum())
    return (re + 1j * im) / total


def binned_n(P, h_min):
    """Number of fine bins over one period for a smallest bandwidth h_min."""
    n = int(np.ceil(BIN_RATIO * P / h_min))
    return min(sp_fft.next_fast_len(max(n, 64), real=True), MAX_BINS)


def ecf_binned(y, dt, K, n_bins, weights=None):
    """Empirical cf by linear binning on [0, P) with n_bins nodes and one real FFT.

    ``y`` must lie inside [0, P) with P = 2 pi / dt (the caller centres the data in the
    period). The sinc^2 binning factor is divided out.
    """
    P = 2.0 * np.pi / dt
    delta = P / n_bins
    counts = np.zeros(n_bins)
    linear_bin(y, np.empty(0) if weights is None else weights, 0.0, delta, counts)
    total = y.size if weights is None else float(weights.sum())
    if K > n_bins // 2:
        raise RuntimeError("internal: binning grid too coarse for the frequency grid")
    spec = np.conj(sp_fft.rfft(counts)[:K]) / total
    half = 0.5 * np.arange(K) * dt * delta
    return spec / np.sinc(half / np.pi) ** 2


def _empirical_cf_uniform(law, t):
    """Empirical.cf(t) for a uniform grid t_k = k * step by the compiled ecf kernel.

    The same quantity as :meth:`deconv.noise.Empirical.cf`, |mean cos(t D / m)|^(m/2) over
    the within-individual differences D, to rounding (the NumPy version costs a cos per
    difference and frequency through temporaries, which dominated replicate fits)."""
    d = np.ascontiguousarray(law._diffs)
    m = law.mean_of
    re, im = np.empty(t.size), np.empty(t.size)
    ecf(d, np.empty(0), float(t[1] - t[0]) / m, re, im)
    return (np.sqrt(np.clip(re / d.size, 0.0, None)) ** m).astype(np.complex128)


def _is_uniform_from_zero(t):
    return (t.ndim == 1 and t.size > 16 and t[0] == 0.0 and t[1] > 0
            and np.allclose(np.diff(t), t[1], rtol=1e-12, atol=0))


def noise_cf_grid(noise, t, n):
    """phi_U on the grid for a homoscedastic law; an estimated (Empirical) cf is floored at
    n^(-1/4) where it is unreliable (Delaigle, Hall & Meister 2008 truncate there)."""
    t = np.asarray(t, dtype=np.float64)
    if isinstance(noise, Empirical) and _is_uniform_from_zero(t):
        phi = _empirical_cf_uniform(noise, t)
    else:
        phi = np.asarray(noise.cf(t), dtype=np.complex128)
    if noise.kernel_code == -1:
        floor = n ** -0.25
        mag = np.abs(phi)
        phi = np.where(mag < floor, floor, phi)
    return phi


def spectrum(y, noise, dt, K, *, method, n_bins=None, weights=None, lazy=False):
    """Compute the :class:`Spectrum` of relative observations ``y`` (validated, in [0, P)).

    ``lazy=True`` defers the heteroscedastic numerator to :meth:`Spectrum.z_upto`."""
    n = y.size if weights is None else float(weights.sum())
    t = np.arange(K) * dt
    if getattr(noise, "custom_spectrum", False):
        # error laws estimated per individual (deconv.density.replicates) compute their own
        z, d = noise.spectrum(y, dt, K, weights)
        return Spectrum(dt, z, d, n)
    if isinstance(noise, GroupedNoise):
        num = np.zeros(K, dtype=np.complex128)
        den = np.zeros(K)
        for idx, law in noise.groups:
            wg = None if weights is None else np.ascontiguousarray(weights[idx])
            yg = np.ascontiguousarray(y[idx])
            ng = yg.size if wg is None else float(wg.sum())
            if ng == 0:
                continue
            if method == "binned":
                psi = ecf_binned(yg, dt, K, n_bins, wg)
            else:
                psi = ecf_direct(yg, dt, K, wg)
            phi = noise_cf_grid(law, t, noise.n_obs)
            num += ng * psi * np.conj(phi)
            den += ng * np.abs(phi) ** 2
        den = np.maximum(den, _TINY)
        return Spectrum(dt, num / den, 1.0 / den, n)
    if noise.heteroscedastic:
        sd = np.ascontiguousarray(noise.sd, dtype=np.float64)
        w = np.empty(0) if weights is None else weights
        code, param = int(noise.kernel_code), float(noise.kernel_param)
        table, step = (None, 1.0)
        if code == 3 and sd.size * K > TABLE_MIN_WORK:
            table, step = student_t_log_cf_table(param, float(sd.max()) * K * dt)
        den = np.empty(K)
        hetero_den(sd, w, code, param, dt, den, table, step)
        den = np.maximum(den, _TINY)

        def extend(k0, k1):
            num_re = np.empty(k1 - k0)
            num_im = np.empty(k1 - k0)
            ecf_hetero(y, sd, w, code, param, dt, k0, num_re, num_im, table, step)
            return (num_re + 1j * num_im) / den[k0:k1]

        spec = Spectrum(dt, np.empty(0, dtype=np.complex128), 1.0 / den, n, extend)
        if not lazy:
            spec.z_upto(K)
        return spec
    if method == "binned":
        psi = ecf_binned(y, dt, K, n_bins, weights)
    else:
        psi = ecf_direct(y, dt, K, weights)
    phi = noise_cf_grid(noise, t, n)
    mag2 = np.maximum(np.abs(phi) ** 2, _TINY)
    return Spectrum(dt, psi * np.conj(phi) / mag2, 1.0 / (n * mag2), n)


def diagonal_approx(noise, n, n_quantiles=128):
    """A cheap approximation t -> d(t), for choosing grids before the data pass.

    Homoscedastic: exact. Heteroscedastic: the error sds summarised by quantiles."""
    if isinstance(noise, GroupedNoise):
        def d(t):
            t = np.asarray(t, dtype=np.float64)
            s = sum(idx.size * np.abs(noise_cf_grid(law, t, n)) ** 2 for idx, law in noise.groups)
            return 1.0 / np.maximum(s, _TINY)
        return d
    if not noise.heteroscedastic:
        def d(t):
            phi = noise_cf_grid(noise, np.asarray(t, dtype=np.float64), n)
            return 1.0 / (n * np.maximum(np.abs(phi) ** 2, _TINY))
        return d
    sd = np.quantile(noise.sd, (np.arange(n_quantiles) + 0.5) / n_quantiles)

    def d(t):
        t = np.asarray(t, dtype=np.float64)
        phi = noise.std_cf(np.multiply.outer(sd, t).reshape(-1)).reshape(sd.size, t.size)
        s = (n / n_quantiles) * np.sum(np.abs(phi) ** 2, axis=0)
        return 1.0 / np.maximum(s, _TINY)
    return d
