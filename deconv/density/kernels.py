r"""Kernels with compactly supported Fourier transforms for deconvolution.

A deconvolution kernel estimator needs :math:`\varphi_K(t)/\varphi_U(t/h)` to be integrable,
so kernels are defined here by their Fourier transform :math:`\varphi_K` on :math:`[-1, 1]`
(zero outside). The x-domain kernel is :math:`K(x) = \pi^{-1}\int_0^1 \varphi_K(t)\cos(tx)\,dt`.

=========== =========================================== ==============================================
name        :math:`\varphi_K(t)` on [-1, 1]              :math:`\mu_2 = \int x^2 K = -\varphi_K''(0)`
=========== =========================================== ==============================================
triweight   :math:`(1-t^2)^3` (default)                  6 (second order)
biweight    :math:`(1-t^2)^2`                            4 (second order)
tricube     :math:`(1-\lvert t\rvert^3)^3`               0 (higher order)
sinc        1                                            0 (infinite order; K(x) = sin(x)/(pi x))
flattop     1 up to 1/2, then linear down to 0 at 1      0 (infinite order)
=========== =========================================== ==============================================

The triweight-Fourier kernel is the usual choice (Delaigle & Gijbels 2004; R's ``decon``
"support" kernel): its x-domain form is positive near 0, decays like :math:`|x|^{-4}`, and
its Fourier transform vanishes smoothly at the edge, which keeps the deconvolution kernel
well behaved.
"""
import numpy as np

__all__ = ["FourierKernel", "get_kernel", "KERNELS"]


class FourierKernel:
    """A kernel given by its Fourier transform on [-1, 1].

    Attributes
    ----------
    name : str
    mu2 : float
        Second moment of the x-domain kernel, ``-phi''(0)`` (0 for higher-order kernels).
    tail_order : int
        The x-domain kernel decays like :math:`|x|^{-p}`, p = tail_order.
    """

    def __init__(self, name, phi, mu2, tail_order):
        self.name = name
        self._phi = phi
        self.mu2 = float(mu2)
        # K(x) decays like |x|^-tail_order (set by the smoothness of phi_K); decides how far
        # the periodic images of the estimate must be kept
        self.tail_order = int(tail_order)

    def phi(self, t):
        """Fourier transform :math:`\\varphi_K(t)` (zero outside [-1, 1])."""
        t = np.abs(np.asarray(t, dtype=np.float64))
        out = np.zeros_like(t)
        inside = t < 1.0
        out[inside] = self._phi(t[inside])
        if self.name == "sinc":
            # the jump at |t| = 1: the trapezoid rule needs the midpoint value
            out[t == 1.0] = 0.5
        return out

    def pdf(self, x, n_t=4001):
        """x-domain kernel K(x) by numerical Fourier inversion (for plots and checks)."""
        x = np.asarray(x, dtype=np.float64)
        t = np.linspace(0.0, 1.0, n_t)
        w = np.full(n_t, t[1])
        w[[0, -1]] *= 0.5
        vals = self.phi(t) * w
        return (np.cos(np.multiply.outer(x, t)) @ vals) / np.pi

    def __repr__(self):
        return f"FourierKernel({self.name!r})"


def _flattop(t):
    return np.where(t <= 0.5, 1.0, 2.0 * (1.0 - t))


KERNELS = {
    "triweight": FourierKernel("triweight", lambda t: (1.0 - t * t) ** 3, 6.0, 4),
    "biweight": FourierKernel("biweight", lambda t: (1.0 - t * t) ** 2, 4.0, 3),
    "tricube": FourierKernel("tricube", lambda t: (1.0 - t ** 3) ** 3, 0.0, 4),
    "sinc": FourierKernel("sinc", lambda t: np.ones_like(t), 0.0, 1),
    "flattop": FourierKernel("flattop", _flattop, 0.0, 2),
}


def get_kernel(kernel, name="kernel"):
    """A :class:`FourierKernel` from a name or an instance."""
    if isinstance(kernel, FourierKernel):
        return kernel
    if isinstance(kernel, str) and kernel.lower() in KERNELS:
        return KERNELS[kernel.lower()]
    raise ValueError(f"{name} must be one of {sorted(KERNELS)} or a FourierKernel; got {kernel!r}")
