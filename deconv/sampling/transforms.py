"""Constraining transforms with their log-Jacobians, so models are written on the natural scale.

The sampler moves on an unconstrained ``z`` in R^d; a parameter with support ``(lo, hi)`` is
``x = T(z)`` and the density on the ``z`` scale gains ``log |dx/dz|``:

============================  ==========================  ===========================
support                       x = T(z)                    log |dx/dz|
============================  ==========================  ===========================
R (``None``)                  z                           0
(lo, inf) (``"positive"``)    lo + exp(z)                 z
(-inf, hi)                    hi - exp(z)                 z
(lo, hi)                      lo + (hi - lo) logistic(z)  log(hi - lo) + log s + log(1 - s)
============================  ==========================  ===========================
"""
import numpy as np
from scipy import special

__all__ = ["Constraints"]

_FREE, _LOWER, _UPPER, _BOUNDED = 0, 1, 2, 3


class Constraints:
    """Per-coordinate supports; ``spec`` is None (all free) or a length-d sequence of
    ``None``, ``"positive"``, ``"unit"`` (0, 1) or a ``(lo, hi)`` pair (``None``/inf for open ends)."""

    def __init__(self, spec, dim):
        self.dim = int(dim)
        self.kind = np.zeros(dim, dtype=np.int64)
        self.lo = np.full(dim, -np.inf)
        self.hi = np.full(dim, np.inf)
        if spec is None:
            return
        if isinstance(spec, (str, tuple)):
            spec = [spec] * dim
        spec = list(spec)
        if len(spec) != dim:
            raise ValueError(f"constraints must have one entry per parameter ({dim}), got {len(spec)}")
        for i, c in enumerate(spec):
            if c is None:
                continue
            if isinstance(c, str):
                if c == "positive":
                    c = (0.0, None)
                elif c == "unit":
                    c = (0.0, 1.0)
                else:
                    raise ValueError(f"constraints[{i}] must be None, 'positive', 'unit' or "
                                     f"(lo, hi); got {c!r}")
            try:
                lo, hi = c
            except (TypeError, ValueError):
                raise ValueError(f"constraints[{i}] must be None, 'positive', 'unit' or (lo, hi); "
                                 f"got {c!r}") from None
            lo = -np.inf if lo is None else float(lo)
            hi = np.inf if hi is None else float(hi)
            if np.isnan(lo) or np.isnan(hi) or not lo < hi:
                raise ValueError(f"constraints[{i}] needs lo < hi, got ({lo}, {hi})")
            self.lo[i], self.hi[i] = lo, hi
            self.kind[i] = (_BOUNDED if np.isfinite(lo) and np.isfinite(hi) else
                            _LOWER if np.isfinite(lo) else _UPPER if np.isfinite(hi) else _FREE)

    @property
    def trivial(self):
        return not np.any(self.kind)

    def forward(self, z):
        """x = T(z), broadcasting over leading axes."""
        with np.errstate(over="ignore"):
            return self._forward(z)

    def _forward(self, z):
        z = np.asarray(z, dtype=np.float64)
        x = z.copy()
        k, lo, hi = self.kind, self.lo, self.hi
        m = k == _LOWER
        x[..., m] = lo[m] + np.exp(z[..., m])
        m = k == _UPPER
        x[..., m] = hi[m] - np.exp(z[..., m])
        m = k == _BOUNDED
        x[..., m] = lo[m] + (hi[m] - lo[m]) * special.expit(z[..., m])
        return x

    def inverse(self, x, name="init"):
        """z = T^-1(x); raises ValueError when ``x`` is outside the support."""
        x = np.asarray(x, dtype=np.float64)
        inside = (x > self.lo) & (x < self.hi)
        if not np.all(inside):
            i = int(np.argwhere(~inside.reshape(-1, self.dim))[0][1])
            raise ValueError(f"{name}[{i}] lies outside its support ({self.lo[i]}, {self.hi[i]})")
        z = x.copy()
        k, lo, hi = self.kind, self.lo, self.hi
        m = k == _LOWER
        z[..., m] = np.log(x[..., m] - lo[m])
        m = k == _UPPER
        z[..., m] = np.log(hi[m] - x[..., m])
        m = k == _BOUNDED
        z[..., m] = special.logit((x[..., m] - lo[m]) / (hi[m] - lo[m]))
        return z

    def wrap(self, logp_grad):
        """The density on the unconstrained scale: ``(log p(T(z)) + log|J|, its z-gradient)``."""
        if self.trivial:
            return logp_grad
        k, lo, hi = self.kind, self.lo, self.hi
        ml, mu, mb = k == _LOWER, k == _UPPER, k == _BOUNDED

        def f(z):
            # far out on a divergent trajectory exp() may overflow: the resulting inf/NaN log
            # density is the sampler's signal of a divergence, not a warning for the user
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return _f(z)

        def _f(z):
            x = z.copy()
            dxdz = np.ones_like(z)
            dlogj = np.zeros_like(z)
            logj = 0.0
            e = np.exp(z[ml])
            x[ml] = lo[ml] + e
            dxdz[ml] = e
            dlogj[ml] = 1.0
            logj += z[ml].sum()
            e = np.exp(z[mu])
            x[mu] = hi[mu] - e
            dxdz[mu] = -e
            dlogj[mu] = 1.0
            logj += z[mu].sum()
            zb = z[mb]
            s = special.expit(zb)
            w = hi[mb] - lo[mb]
            x[mb] = lo[mb] + w * s
            dxdz[mb] = w * s * (1.0 - s)
            dlogj[mb] = 1.0 - 2.0 * s
            # log s + log(1 - s) = -softplus(-z) - softplus(z), stable for large |z|
            logj += np.sum(np.log(w) - np.logaddexp(0.0, -zb) - np.logaddexp(0.0, zb))
            res = logp_grad(x)
            if not isinstance(res, tuple) or len(res) != 2:
                raise TypeError("logp_grad must return a tuple (log_density, gradient)")
            lp, g = res
            g = np.asarray(g, dtype=np.float64)
            if g.shape != z.shape:
                raise ValueError(f"logp_grad returned a gradient of shape {g.shape}; "
                                 f"expected {z.shape}")
            return float(lp) + logj, g * dxdz + dlogj
        return f
