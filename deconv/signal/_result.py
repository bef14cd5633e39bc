"""The result every deconvolution function of :mod:`deconv.signal` returns."""
import numpy as np

from deconv._summary import SummaryTable

__all__ = ["DeconvolutionResult"]


class DeconvolutionResult:
    """Estimate plus what was chosen to get it.

    The result behaves like its estimate in NumPy code (``np.asarray(res)``,
    ``res - x``, ``res.shape``), and also carries the automatic choices.

    Attributes
    ----------
    x : ndarray
        The estimate, same shape and work dtype as ``y`` (float32 in, float32 out;
        anything else gives float64). Never clipped unless ``clip=`` was asked for.
    method : str
        Name of the method (``"wiener"``, ``"forward"``, ...).
    regularization : float or ndarray
        The regularisation parameter used (per signal for a batch), or ``None``.
    noise_std : float or ndarray
        Noise standard deviation used (given, or estimated by
        :func:`~deconv.signal.estimate_noise`).
    boundary : str
        Boundary rule that was used (``"periodic"``, ``"reflect"``, ``"pad"``).
    n_iter : int or None
        Iterations run (iterative methods).
    info : dict
        Method-specific extras (the selection rule, criterion curves, chains, ...).
    """

    def __init__(self, x, method, *, regularization=None, noise_std=None, boundary=None,
                 n_iter=None, rule=None, info=None):
        self.x = x
        self.method = method
        self.regularization = regularization
        self.noise_std = noise_std
        self.boundary = boundary
        self.n_iter = n_iter
        self.rule = rule
        self.info = {} if info is None else dict(info)

    # --- behave like the array -----------------------------------------------------
    def __array__(self, dtype=None, copy=None):
        if dtype is None:
            return self.x if not copy else self.x.copy()
        return self.x.astype(dtype)

    @property
    def shape(self):
        return self.x.shape

    @property
    def dtype(self):
        return self.x.dtype

    @property
    def ndim(self):
        return self.x.ndim

    def __len__(self):
        return len(self.x)

    def __getitem__(self, item):
        return self.x[item]

    def __repr__(self):
        return (f"DeconvolutionResult(method={self.method!r}, shape={self.x.shape}, "
                f"regularization={_short(self.regularization)}, noise_std={_short(self.noise_std)})")

    # --- reporting -----------------------------------------------------------------
    def summary(self):
        """A :class:`~deconv._summary.SummaryTable` of the choices made."""
        info = [("Method", self.method), ("Shape", str(self.x.shape)),
                ("dtype", str(self.x.dtype)), ("Boundary", self.boundary)]
        if self.rule is not None:
            info.append(("Regularisation rule", self.rule))
        if self.n_iter is not None:
            info.append(("Iterations", int(self.n_iter)))
        rows = []
        reg = np.atleast_1d(np.asarray(self.regularization if self.regularization is not None
                                       else np.nan, dtype=float))
        sd = np.atleast_1d(np.asarray(self.noise_std if self.noise_std is not None
                                      else np.nan, dtype=float))
        k = max(reg.size, sd.size)
        reg = np.broadcast_to(reg.ravel(), (k,)) if reg.size in (1, k) else reg.ravel()
        sd = np.broadcast_to(sd.ravel(), (k,)) if sd.size in (1, k) else sd.ravel()
        for i in range(min(k, 10)):
            rows.append((f"signal {i}" if k > 1 else "estimate", [reg[i], sd[i]]))
        notes = [] if k <= 10 else [f"... {k - 10} more signals in the batch"]
        for key in ("note",):
            if key in self.info:
                notes.append(str(self.info[key]))
        return SummaryTable(f"Deconvolution: {self.method}", info=info,
                            columns=["regularisation", "noise sd"], rows=rows, notes=notes)

    def plot(self, ax=None, *, y=None, truth=None, index=None):
        """Plot the estimate (a line for 1-D, an image for 2-D); returns the Axes.

        ``y`` and ``truth`` (optional, 1-D only) are drawn beside it. For a batch or
        3-D data, ``index`` picks the signal / slice (default: the first).
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        x = self.x
        d = self.info.get("ndim", x.ndim)
        if index is None:
            index = (0,) * (x.ndim - min(d, 2))
        xs = x[index] if x.ndim > min(d, 2) else x
        if xs.ndim == 1:
            if truth is not None:
                ax.plot(np.asarray(truth)[index] if np.ndim(truth) > 1 else truth,
                        color="0.6", lw=1, label="truth")
            if y is not None:
                ax.plot(np.asarray(y)[index] if np.ndim(y) > 1 else y, color="C1", lw=0.6,
                        alpha=0.7, label="observed")
            ax.plot(xs, color="C0", lw=1.2, label=self.method)
            ax.legend(loc="best", fontsize="small")
        else:
            ax.imshow(xs, cmap="gray")
            ax.set_axis_off()
        ax.set_title(f"{self.method} ({self.boundary})")
        return ax


def _short(v):
    if v is None:
        return None
    a = np.asarray(v, dtype=float)
    return f"{float(a):.4g}" if a.ndim == 0 else f"array{a.shape}"
