r"""One compiled density for generalised linear mixed models, with latent covariates.

:class:`MixedModel` validates a mixed model given as arrays, lays out its unconstrained
coordinates and builds the C density of ``csrc/_mixed_models.pyx`` that the NUTS kernel
evaluates without Python. The model:

.. math::
    \eta_i = o_i + x_i^\top\beta + \sum_k Z_{k,i}^\top b_{k, g_k(i)},\qquad
    b_{k,j} = \operatorname{diag}(s_k) L_k z_{k,j},\quad z_{k,j} \sim N(0, I),

with :math:`L_k L_k^\top = \Omega_k \sim \text{LKJ}(\eta)` (a correlated term) or
:math:`L_k = I` (independent coefficients), so :math:`b_{k,j} \sim N(0, \Sigma_k)`,
:math:`\Sigma_k = \operatorname{diag}(s_k)\,\Omega_k\,\operatorname{diag}(s_k)`. Several terms
may share a grouping factor or use different ones (nested factors are given as the interaction
codes, crossed ones as two terms). Families:

==============  ==========================================================================
``gaussian``    :math:`y_i \sim N(\eta_i, \sigma^2)`
``student-t``   :math:`y_i \sim t_\nu(\eta_i, \sigma^2)`, ``nu`` fixed or sampled
``group-sd``    :math:`y_i \sim N(\eta_i, \sigma_{h(i)}^2)`,
                :math:`\log\sigma_h = \log\sigma_0 + \tau_s w_h`, :math:`w_h \sim N(0, 1)`
``binomial``    :math:`y_i \sim \text{Binomial}(n_i, \text{logit}^{-1}\eta_i)`
``poisson``     :math:`y_i \sim \text{Poisson}(e^{\eta_i})` (offset :math:`o_i` = log exposure)
==============  ==========================================================================

Latent covariate (optional): column ``latent_col`` of ``X`` holds an error-prone
measurement :math:`W_i = \xi_i + U_i`, :math:`U_i \sim N(0, s_{u,i}^2)` known, of the true
covariate :math:`\xi_i \sim N(\mu_x, \sigma_x^2)` that enters :math:`\eta_i` in its place.
With a Gaussian family the :math:`\xi_i` are integrated out in closed form (``marginalize``,
the default there): :math:`(W_i, y_i)` is bivariate normal given the rest, which removes the
funnel between :math:`\sigma` and the :math:`\xi_i`; draws report
:math:`\hat x_i = E[\xi_i \mid W_i, y_i, \theta]`. Otherwise
:math:`\xi_i = W_i + s_{u,i} u_i` is sampled through :math:`u_i` (measurement-centred: the
posterior of :math:`u_i` has sd at most 1 whatever the error size).

Priors (all settable through ``priors=``; defaults in :data:`DEFAULT_PRIORS`):

=====================  ==============================================  ===============
key                    prior                                           default
=====================  ==============================================  ===============
``intercept_sd``       intercept :math:`\sim N(0, \cdot^2)`            10
``beta_sd``            other fixed effects :math:`\sim N(0, \cdot^2)`  10
``sd_scale``           each random-effect sd: half-normal(0, scale)    5
``sd_df``              ... or half-t(df, 0, scale) when df > 0         0 (half-normal)
``lkj_eta``            :math:`\Omega_k \sim \text{LKJ}(\eta)`          2
``sigma_scale``        :math:`\sigma, \sigma_0` half-normal(0, scale)  5
``nu_shape, nu_rate``  :math:`\nu \sim \text{Gamma}(2, 0.1)` (rate)    2, 0.1
``tau_s_scale``        :math:`\tau_s` half-normal(0, scale)            1
``mu_x_mean/sd``       :math:`\mu_x \sim N(\text{mean}, \text{sd}^2)`  mean of W, 10
``sigma_x_scale``      :math:`\sigma_x` half-normal(0, scale)          5
=====================  ==============================================  ===============

The defaults are stated for data on a unit scale: :mod:`deconv.hierarchical.bayes`
standardises the data first (as rstanarm does) and maps the draws back.

References
----------
Lewandowski, D., Kurowicka, D. and Joe, H. (2009). Generating random correlation matrices
based on vines and extended onion method. *J. Multivariate Anal.* 100, 1989-2001.
Stan Development Team (2024). *Stan Reference Manual*, "Cholesky factors of correlation
matrices" (the CPC transform and its Jacobian).
Carroll, R. J. et al. (2006). *Measurement Error in Nonlinear Models*, 2nd ed., ch. 9.
"""
import numpy as np

from deconv._validation import as_1d_float, as_2d_float, check_choice
from deconv.sampling.nuts import Target

__all__ = ["MixedModel", "DEFAULT_PRIORS", "cpc_to_cholesky"]

FAMILIES = {"gaussian": 0, "student-t": 1, "group-sd": 2, "binomial": 3, "poisson": 4}
DEFAULT_PRIORS = {"beta_sd": 10.0, "sd_scale": 5.0, "sd_df": 0.0, "lkj_eta": 2.0,
                  "sigma_scale": 5.0, "nu_shape": 2.0, "nu_rate": 0.1, "tau_s_scale": 1.0,
                  "mu_x_sd": 10.0, "sigma_x_scale": 5.0, "intercept_sd": 10.0,
                  "mu_x_mean": None}
_PRIOR_ORDER = ["beta_sd", "sd_scale", "sd_df", "lkj_eta", "sigma_scale", "nu_shape", "nu_rate",
                "nu_fixed", "tau_s_scale", "mu_x_sd", "sigma_x_scale", "intercept_sd",
                "mu_x_mean"]


def cpc_to_cholesky(y, K):
    """Cholesky factor of a correlation matrix from K(K-1)/2 unconstrained CPCs (vectorised).

    ``y`` has shape (..., K(K-1)/2), ordered row by row of the strict lower triangle; the
    canonical partial correlations are ``tanh(y)``. Returns L of shape (..., K, K)."""
    y = np.asarray(y, dtype=np.float64)
    L = np.zeros(y.shape[:-1] + (K, K))
    L[..., 0, 0] = 1.0
    t = 0
    for r in range(1, K):
        cc = np.ones(y.shape[:-1])
        for m in range(r):
            w = np.tanh(y[..., t])
            L[..., r, m] = w * np.sqrt(cc)
            cc = cc * (1.0 - w * w)
            t += 1
        L[..., r, r] = np.sqrt(cc)
    return L


class MixedModel:
    r"""Compiled generalised linear mixed model (see the module docstring for the density).

    Parameters
    ----------
    y : array_like (n,)
        Response (counts for binomial/Poisson).
    X : array_like (n, p)
        Fixed-effects design (include an intercept column yourself).
    terms : list of (codes, Z, correlated)
        One entry per random-effect term: ``codes`` (n,) integer level index 0..J-1 (every
        level used), ``Z`` (n, q) per-observation random-effect design, ``correlated`` whether
        the q coefficients get a full covariance (LKJ prior) or independent sds.
    family : {"gaussian", "student-t", "group-sd", "binomial", "poisson"}
    trials : array_like (n,), optional
        Binomial trials (default 1).
    offset : array_like (n,), optional
    nu : float, optional
        Fixed Student-t degrees of freedom (``None``: sampled, Gamma(2, 0.1) prior).
    sd_groups : array_like (n,), optional
        Residual-sd group index 0..H-1 (family ``group-sd``).
    latent_col : int, optional
        Column of ``X`` observed with error: it holds the measurements ``W``.
    error_sd : float or array_like (n,), optional
        Known measurement-error sd of the latent column (per observation allowed).
    intercept_col : int, optional
        Column of ``X`` that is the intercept (gets ``intercept_sd``).
    priors : dict, optional
        Overrides of :data:`DEFAULT_PRIORS`.
    centered : bool or list of bool, optional
        Per term: sample the effects :math:`b_{k,j}` themselves (centred, better when every
        level has much data) instead of :math:`z_{k,j}` (non-centred, the default, better when
        levels have little data: no funnel between a small sd and its effects). A centred
        coefficient whose column of ``Z`` is also a column of ``X`` is sampled as
        :math:`\beta_f + b_{k,j}` (hierarchical centring, Gelfand, Sahu & Carlin 1995), which
        removes the likelihood's confounding of the fixed effect with the level effects.

    Examples
    --------
    >>> import numpy as np
    >>> from deconv.sampling import nuts
    >>> from deconv.sampling.mixed_model import MixedModel
    >>> rng = np.random.default_rng(0)
    >>> g = np.repeat(np.arange(8), 10); x = rng.normal(size=80)
    >>> y = 1 + 0.5 * x + rng.normal(0, 0.7, 8)[g] + rng.normal(0, 0.5, 80)
    >>> X = np.column_stack([np.ones(80), x])
    >>> m = MixedModel(y, X, [(g, X, True)], intercept_col=0)
    >>> post = nuts(m, rng=1, chains=2, warmup=300, draws=300, warn=False)
    >>> bool(0.3 < post.mean("beta[1]") < 0.7)
    True
    """

    def __init__(self, y, X, terms, family="gaussian", *, trials=None, offset=None, nu=None,
                 sd_groups=None, latent_col=None, error_sd=None, intercept_col=None,
                 priors=None, centered=None, marginalize=None):
        from deconv._kernels._mixed_models import MixedKernel
        self._init_args = (y, X, terms, family)
        self._init_kw = dict(trials=trials, offset=offset, nu=nu, sd_groups=sd_groups,
                             latent_col=latent_col, error_sd=error_sd,
                             intercept_col=intercept_col, priors=priors, centered=centered,
                             marginalize=marginalize)
        self.family = check_choice(family, "family", tuple(FAMILIES))
        y = as_1d_float(y, "y")
        n = y.size
        X = as_2d_float(X, "X")
        if X.shape[0] != n:
            raise ValueError(f"X has {X.shape[0]} rows but y has {n} values")
        p = X.shape[1]
        self.n, self.p = n, p
        pri = dict(DEFAULT_PRIORS)
        for key, val in (priors or {}).items():
            if key not in DEFAULT_PRIORS:
                raise ValueError(f"priors: unknown key {key!r}; known: {sorted(DEFAULT_PRIORS)}")
            pri[key] = val
        for key, val in pri.items():
            if key == "mu_x_mean":
                continue
            v = float(val)
            if not np.isfinite(v) or v < 0 or (v == 0 and key != "sd_df"):
                raise ValueError(f"priors[{key!r}] must be finite and positive, got {val!r}")
        self.priors = pri
        if self.family in ("binomial", "poisson"):
            if np.any(y < 0) or np.any(y != np.round(y)):
                raise ValueError("y must be non-negative integer counts")
        if self.family == "binomial":
            trials = np.ones(n) if trials is None else as_1d_float(trials, "trials")
            if trials.size != n or np.any(trials < y) or np.any(trials != np.round(trials)):
                raise ValueError("trials must be integers >= y, one per observation")
        elif trials is not None:
            raise ValueError("trials is only used with family='binomial'")
        else:
            trials = np.ones(1)
        offset = np.zeros(n) if offset is None else as_1d_float(offset, "offset")
        if offset.size != n:
            raise ValueError(f"offset has {offset.size} values but y has {n}")
        if intercept_col is not None:
            intercept_col = int(intercept_col)
            if not 0 <= intercept_col < p:
                raise ValueError(f"intercept_col must be a column of X (0..{p - 1})")
        self.intercept_col = intercept_col

        # random-effect terms: layout of the unconstrained vector and the scratch
        if centered is not None:
            cen = np.asarray(centered, dtype=bool).reshape(-1)
            if cen.size not in (1, len(terms)):
                raise ValueError(f"centered must be one bool or one per term ({len(terms)}), "
                                 f"got {cen.size}")
            centered = [bool(c) for c in np.broadcast_to(cen, (len(terms),))]
        off, scratch = p, 0
        taken, fmap = set(), []
        rows, Zs, codes_all = [], [], []
        self.terms = []
        self.centered = []
        zcol = 0
        for k, term in enumerate(terms):
            try:
                codes, Z, corr = term
            except (TypeError, ValueError):
                raise TypeError("each term must be a (codes, Z, correlated) tuple") from None
            c = np.asarray(codes)
            if c.ndim != 1 or c.size != n or c.dtype.kind not in "iu":
                raise ValueError(f"terms[{k}]: codes must be {n} integers")
            c = c.astype(np.int64)
            if c.min() < 0:
                raise ValueError(f"terms[{k}]: codes must be >= 0")
            J = int(c.max()) + 1
            if np.unique(c).size != J:
                raise ValueError(f"terms[{k}]: every level 0..{J - 1} must be observed")
            Zk = as_2d_float(np.asarray(Z, dtype=float).reshape(n, -1), f"terms[{k}] Z")
            q = Zk.shape[1]
            corr = bool(corr) and q > 1
            info = {"q": q, "J": J, "zcol": zcol, "sd": off, "correlated": corr}
            off += q
            info["cpc"] = off if corr else -1
            off += q * (q - 1) // 2 if corr else 0
            info["z"] = off
            off += J * q
            info["scratch"] = scratch
            cent = bool(centered[k]) if centered is not None else False
            info["centered"] = cent
            # hierarchical centring: a centred coefficient whose Z column is a column of X
            # (not already taken by an earlier term) is sampled as beta_f + b
            fm = [-1] * q
            if cent:
                for col in range(q):
                    for f in range(p):
                        if f not in taken and np.array_equal(Zk[:, col], X[:, f]):
                            fm[col] = f
                            taken.add(f)
                            break
            info["fmap"] = fm
            fmap += fm
            self.centered.append(cent)
            scratch += 2 * q * q + q + 2 * J * q + 2 * q
            rows.append([q, J, zcol, info["sd"], info["cpc"], info["z"], info["scratch"],
                         int(cent)])
            Zs.append(Zk)
            codes_all.append(c)
            zcol += q
            self.terms.append(info)
        K = len(self.terms)
        Zm = np.column_stack(Zs) if K else np.zeros((n, 1))
        codes_m = np.column_stack(codes_all) if K else np.zeros((n, 1), np.int64)
        term_rows = np.array(rows, dtype=np.int64) if K else np.zeros((1, 8), np.int64)

        # family block
        self.fam_off = off
        self.nu = None
        hg, H = np.zeros(1, np.int64), 0
        if self.family in ("gaussian", "student-t"):
            off += 1
            if self.family == "student-t":
                if nu is None:
                    off += 1
                else:
                    nu = float(nu)
                    if not np.isfinite(nu) or nu <= 0:
                        raise ValueError("nu must be finite and positive")
                    self.nu = nu
        elif nu is not None:
            raise ValueError("nu applies to family='student-t' only")
        if self.family == "group-sd":
            if sd_groups is None:
                raise ValueError("family='group-sd' needs sd_groups")
            hg = np.asarray(sd_groups)
            if hg.ndim != 1 or hg.size != n or hg.dtype.kind not in "iu" or hg.min() < 0:
                raise ValueError(f"sd_groups must be {n} non-negative integers")
            hg = hg.astype(np.int64)
            H = int(hg.max()) + 1
            self._sd_groups = hg
            off += 2 + H
        elif sd_groups is not None:
            raise ValueError("sd_groups applies to family='group-sd' only")
        self.n_sd_groups = H

        # latent covariate block
        W, su = np.zeros(1), np.zeros(1)
        self.latent_col = -1 if latent_col is None else int(latent_col)
        self.lat_off = -1
        self.marginalize = False
        if latent_col is not None:
            if not 0 <= self.latent_col < p or self.latent_col == intercept_col:
                raise ValueError("latent_col must be a non-intercept column of X")
            if error_sd is None:
                raise ValueError("latent_col needs error_sd")
            su = np.broadcast_to(np.asarray(error_sd, dtype=np.float64), (n,)).copy()
            if not np.all(np.isfinite(su)) or np.any(su <= 0):
                raise ValueError("error_sd must be finite and positive")
            W = X[:, self.latent_col].copy()
            self.lat_off = off
            can = self.family in ("gaussian", "group-sd")
            self.marginalize = can if marginalize is None else bool(marginalize)
            if self.marginalize and not can:
                raise ValueError("marginalize=True needs a Gaussian family (the latent "
                                 "covariate integrates out in closed form only there)")
            off += 2 if self.marginalize else 2 + n
            if pri["mu_x_mean"] is None:
                pri["mu_x_mean"] = float(W.mean())
        elif error_sd is not None:
            raise ValueError("error_sd needs latent_col")
        if pri["mu_x_mean"] is None:
            pri["mu_x_mean"] = 0.0
        self.W, self.error_sd = W, su
        self.dim_ = off
        pvec = [float(pri[k]) if k != "nu_fixed" else (self.nu or 0.0) for k in _PRIOR_ORDER]
        self.kernel = MixedKernel(off, y, X, Zm, codes_m, term_rows, offset, trials, hg, H,
                                  FAMILIES[self.family], self.fam_off, self.lat_off,
                                  self.latent_col, -1 if intercept_col is None else intercept_col,
                                  W, su, np.array(pvec), scratch, int(self.marginalize),
                                  np.array(fmap or [-1], dtype=np.int64))
        self._X, self._Z, self._codes, self._y = X, [t_[1] for t_ in terms], \
            [np.asarray(t_[0], dtype=np.int64) for t_ in terms], y
        self._offset = offset
        self.names = self._names()

    # ---------------------------------------------------------------- sampler interface
    @property
    def dim(self):
        return self.kernel.dim

    def target(self):
        return Target(self.kernel, self.dim, self.names, constrain=self.constrain)

    def logp_grad(self, z):
        """Log density on the unconstrained scale and its gradient."""
        return self.kernel.logp_grad(np.ascontiguousarray(z, dtype=np.float64))

    def __reduce__(self):
        return (_rebuild, (self._init_args, self._init_kw))

    # ------------------------------------------------------------------ natural scale
    def unpack(self, z):
        """Natural-scale parameters from unconstrained draws ``z`` (..., dim): a dict with
        ``beta`` (..., p); per term ``sd[k]`` (..., q), ``cor[k]`` (..., q, q), ``b[k]``
        (..., J, q); ``sigma``, ``nu``, ``sigma_0``, ``tau_s``, ``sigma_groups`` (..., H) by
        family; ``mu_x``, ``sigma_x``, ``x`` (..., n) with a latent covariate."""
        z = np.asarray(z, dtype=np.float64)
        lead = z.shape[:-1]
        out = {"beta": z[..., :self.p]}
        for k, t in enumerate(self.terms):
            q, J = t["q"], t["J"]
            sd = np.exp(z[..., t["sd"]:t["sd"] + q])
            if t["correlated"]:
                L = cpc_to_cholesky(z[..., t["cpc"]:t["cpc"] + q * (q - 1) // 2], q)
            else:
                L = np.broadcast_to(np.eye(q), lead + (q, q))
            zz = z[..., t["z"]:t["z"] + J * q].reshape(lead + (J, q))
            out[f"sd[{k}]"] = sd
            out[f"cor[{k}]"] = L @ np.swapaxes(L, -1, -2)
            if t["centered"]:
                b = zz.copy()
                for c, f in enumerate(t["fmap"]):
                    if f >= 0:
                        b[..., c] -= z[..., f][..., None]
                out[f"b[{k}]"] = b
            else:
                out[f"b[{k}]"] = sd[..., None, :] * np.einsum("...rc,...jc->...jr", L, zz)
        fo = self.fam_off
        if self.family in ("gaussian", "student-t"):
            out["sigma"] = np.exp(z[..., fo])
            if self.family == "student-t":
                out["nu"] = np.full(lead, self.nu) if self.nu is not None else np.exp(z[..., fo + 1])
        elif self.family == "group-sd":
            out["sigma_0"] = np.exp(z[..., fo])
            out["tau_s"] = np.exp(z[..., fo + 1])
            out["sigma_groups"] = np.exp(z[..., fo:fo + 1] + out["tau_s"][..., None]
                                         * z[..., fo + 2:fo + 2 + self.n_sd_groups])
        if self.lat_off >= 0:
            lo = self.lat_off
            out["mu_x"] = z[..., lo]
            out["sigma_x"] = np.exp(z[..., lo + 1])
            if self.marginalize:
                out["x"] = self._latent_mean(out)
            else:
                out["x"] = self.W + self.error_sd * z[..., lo + 2:lo + 2 + self.n]
        return out

    def _latent_mean(self, u):
        """E[x_i | W_i, y_i, parameters] for the marginalised latent covariate (..., n): the
        posterior mean of x_i is its average over draws (Rao-Blackwellised)."""
        lc = self.latent_col
        beta = u["beta"]
        Xo = self._X.copy()
        Xo[:, lc] = 0.0
        eta0 = self._offset + beta @ Xo.T
        for k, (Z, c) in enumerate(zip(self._Z, self._codes)):
            b = u[f"b[{k}]"]
            eta0 = eta0 + np.einsum("...iq,iq->...i", b[..., c, :],
                                    np.asarray(Z, dtype=np.float64).reshape(self.n, -1))
        sig2 = (u["sigma"][..., None] ** 2 if self.family == "gaussian"
                else u["sigma_groups"][..., self._sd_groups] ** 2)
        mux, Sx = u["mu_x"][..., None], u["sigma_x"][..., None] ** 2
        su2 = self.error_sd ** 2
        lam = Sx / (Sx + su2)
        m = mux + lam * (self.W - mux)
        k = lam * su2
        g = beta[..., lc:lc + 1]
        prec = 1.0 / k + g * g / sig2
        return (m / k + g * (self._y - eta0) / sig2) / prec

    def _names(self):
        names = [f"beta[{c}]" for c in range(self.p)]
        for k, t in enumerate(self.terms):
            q, J = t["q"], t["J"]
            names += [f"sd[{k}][{c}]" for c in range(q)]
            names += [f"cor[{k}][{r},{c}]" for r in range(q) for c in range(r)]
            names += [f"b[{k}][{j},{c}]" for j in range(J) for c in range(q)]
        if self.family in ("gaussian", "student-t"):
            names.append("sigma")
            if self.family == "student-t":
                names.append("nu")
        elif self.family == "group-sd":
            names += ["sigma_0", "tau_s"] + [f"sigma_groups[{h}]" for h in range(self.n_sd_groups)]
        if self.lat_off >= 0:
            names += ["mu_x", "sigma_x"] + [(f"x_hat[{i}]" if self.marginalize else f"x[{i}]")
                                            for i in range(self.n)]
        return names

    def constrain(self, z):
        """Flat natural-scale vector per draw, in the order of :attr:`names`."""
        u = self.unpack(z)
        lead = np.shape(z)[:-1]
        parts = [u["beta"]]
        for k, t in enumerate(self.terms):
            q = t["q"]
            parts.append(u[f"sd[{k}]"])
            rr, cc = np.tril_indices(q, -1)
            parts.append(u[f"cor[{k}]"][..., rr, cc])
            parts.append(u[f"b[{k}]"].reshape(lead + (-1,)))
        for key in ("sigma", "nu", "sigma_0", "tau_s"):
            if key in u:
                parts.append(u[key][..., None])
        if "sigma_groups" in u:
            parts.append(u["sigma_groups"])
        if "mu_x" in u:
            parts += [u["mu_x"][..., None], u["sigma_x"][..., None], u["x"]]
        return np.concatenate(parts, axis=-1)


def _rebuild(args, kw):
    return MixedModel(*args, **kw)
