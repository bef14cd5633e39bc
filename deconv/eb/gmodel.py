r"""Efron's g-modeling: a smooth prior in a penalised exponential family on a grid."""
import warnings

import numpy as np
from scipy import optimize

from deconv._progress import progress_bar
from deconv._summary import SummaryTable
from deconv._validation import check_choice, check_int, check_positive_scalar, check_rng
from deconv.eb.likelihood import (build_likelihood, default_grid, theta_hat, validate_data,
                                  _validate_grid)
from deconv.eb.posterior import GridPosteriorMixin
from deconv.eb.prior import Prior
from deconv.exceptions import ConvergenceWarning

__all__ = ["GModel", "natural_spline_basis"]


def natural_spline_basis(x, df):
    """Centred, orthonormalised natural cubic spline basis with ``df`` columns on ``x``.

    Natural cubic splines with ``df + 1`` knots (the ends of ``x`` and ``df - 1`` interior
    knots at its quantiles, as R's ``splines::ns``), built from the truncated-power
    construction (Hastie, Tibshirani & Friedman 2009, eq. 5.4--5.5), centred and replaced
    by the left singular vectors -- the same column space as Efron's
    ``svd(scale(ns(tau, df), scale = FALSE))$u``.
    """
    x = np.asarray(x, dtype=np.float64)
    knots = np.quantile(x, np.linspace(0, 1, df + 1))
    K = knots.size
    span = knots[-1] - knots[0]
    t = (x - knots[0]) / span  # unit scale for conditioning
    kn = (knots - knots[0]) / span

    def dk(k):
        return (np.maximum(t - kn[k], 0) ** 3 - np.maximum(t - kn[-1], 0) ** 3) / (kn[-1] - kn[k])

    cols = [t] + [dk(k) - dk(K - 2) for k in range(K - 2)]
    B = np.column_stack(cols)
    B = B - B.mean(axis=0)
    U, sv, _ = np.linalg.svd(B, full_matrices=False)
    return U[:, sv > 1e-10 * sv[0]]


class GModel(GridPosteriorMixin):
    r"""Efron's g-modeling empirical Bayes (penalised exponential-family prior).

    The prior on the grid :math:`\theta_1 < \dots < \theta_m` is
    :math:`g_j(\alpha) = \exp(Q_j\alpha) / \sum_k \exp(Q_k\alpha)` with :math:`Q` an
    ``m x df`` natural-spline basis. :math:`\alpha` maximises the penalised
    log-likelihood :math:`\sum_i \log \sum_j L_{ij} g_j(\alpha) - c_0\|\alpha\|`
    (BFGS with the analytic gradient, then Newton polishing with the analytic Hessian).
    Delta-method covariance and bias (Efron 2016, Thm. 1):

    .. math:: \mathrm{cov}(\hat\alpha) \approx (I + \ddot s)^{-1} I (I + \ddot s)^{-1},\quad
              \mathrm{bias}(\hat\alpha) \approx -(I + \ddot s)^{-1}\dot s,

    with :math:`I` the observed information and :math:`s(\alpha) = c_0\|\alpha\|`; for
    :math:`g`, multiply by :math:`D = (\mathrm{diag}\, g - g g^\top) Q`.

    Parameters
    ----------
    family : {"normal", "poisson", "binomial", "matrix"}
    df : int
        Spline degrees of freedom (columns of Q), default 5.
    penalty : float
        :math:`c_0` (default 1.0).
    grid, grid_size :
        Grid (default: automatic rule with ``grid_size=100`` points).
    max_iter : int

    Attributes
    ----------
    prior_ : Prior
        With ``weights_se`` (delta-method standard errors of g).
    alpha_, cov_alpha_, bias_alpha_ : ndarray
    cov_g_, bias_g_ : ndarray
        Delta-method covariance and bias of the prior masses.
    loglik_ : float
        Unpenalised log-likelihood at the estimate.

    References
    ----------
    Efron, B. (2016). Empirical Bayes deconvolution estimates. Biometrika 103, 1--20.
    Narasimhan, B. & Efron, B. (2020). deconvolveR: a g-modeling program for
    deconvolution and empirical Bayes estimation. J. Statist. Software 94(11).

    Examples
    --------
    >>> import numpy as np, deconv as dc
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(0, 1.5, 1000) + rng.normal(size=1000)
    >>> eb = dc.eb.GModel(df=5, penalty=1.0).fit(z, se=1.0)
    >>> se = eb.prior_.weights_se  # delta-method standard errors of g
    """

    def __init__(self, family="normal", *, df=5, penalty=1.0, grid=None, grid_size=100, max_iter=500):
        self.family = family
        self.df = df
        self.penalty = penalty
        self.grid = grid
        self.grid_size = grid_size
        self.max_iter = max_iter

    # -- objective pieces ------------------------------------------------------------
    @staticmethod
    def _g(alpha, Q):
        eta = Q @ alpha
        eta -= eta.max()
        g = np.exp(eta)
        return g / g.sum()

    def _loglik_grad(self, alpha, Q, lik):
        g = self._g(alpha, Q)
        f = lik.L @ g
        ll = float(lik.counts @ np.log(f))
        post_sum = g * (lik.L.T @ (lik.counts / f))  # sum_i c_i P_ij
        grad = Q.T @ (post_sum - lik.counts.sum() * g)
        return ll, grad, g, f

    def _info(self, Q, lik, g, f):
        """Observed information -d2 l / d alpha2 (unpenalised)."""
        P = lik.L * (g / f[:, None])  # n x m posterior
        c = lik.counts
        N = c.sum()
        post_sum = c @ P
        M = np.diag(post_sum) - (P * c[:, None]).T @ P - N * (np.diag(g) - np.outer(g, g))
        return -(Q.T @ M @ Q)

    def _penalty(self, alpha, c0):
        nrm = np.sqrt(alpha @ alpha)
        if nrm == 0:
            return 0.0, np.zeros_like(alpha), np.zeros((alpha.size, alpha.size))
        grad = c0 * alpha / nrm
        hess = c0 * (np.eye(alpha.size) / nrm - np.outer(alpha, alpha) / nrm**3)
        return c0 * nrm, grad, hess

    def fit(self, z, se=None, *, exposure=None, trials=None):
        """Fit the penalised exponential-family prior. Returns self."""
        family = check_choice(self.family, "family", ("normal", "poisson", "binomial", "matrix"))
        df = check_int(self.df, "df", min_value=1)
        c0 = check_positive_scalar(self.penalty, "penalty", allow_zero=True)
        max_iter = check_int(self.max_iter, "max_iter", min_value=1)
        data = validate_data(family, z, se=se, exposure=exposure, trials=trials)
        if self.grid is None:
            if family == "matrix":
                raise TypeError("family='matrix' needs grid=")
            grid = default_grid(family, theta_hat(family, data),
                                check_int(self.grid_size, "grid_size", min_value=3))
        else:
            grid = _validate_grid(self.grid, family)
        if df >= grid.size:
            raise ValueError(f"df must be smaller than the number of grid points ({grid.size})")
        lik = build_likelihood(family, data, grid)
        Q = natural_spline_basis(grid, df)
        self._fit_alpha(Q, lik, c0, max_iter)
        self.family_, self.data_, self.likelihood_, self.grid_, self.Q_ = family, data, lik, grid, Q
        self.n_obs_ = lik.n_obs
        return self

    def _fit_alpha(self, Q, lik, c0, max_iter):
        def obj(a):
            ll, gr, _, _ = self._loglik_grad(a, Q, lik)
            pv, pg, _ = self._penalty(a, c0)
            return -ll + pv, -gr + pg

        # Damped Newton with the analytic Hessian (Levenberg shift when it is not positive
        # definite far from the optimum); BFGS as a fallback.
        alpha = np.full(Q.shape[1], 1e-3)
        lam = 0.0
        ll, gr, g, f = self._loglik_grad(alpha, Q, lik)
        pv, pg, ph = self._penalty(alpha, c0)
        cur = -ll + pv
        ok = False
        for _ in range(max_iter):
            H = self._info(Q, lik, g, f) + ph
            grad = -gr + pg
            while True:
                try:
                    Lc = np.linalg.cholesky(H + lam * np.eye(H.shape[0]))
                    break
                except np.linalg.LinAlgError:
                    lam = max(2 * lam, 1e-6 * max(1.0, float(np.max(np.abs(np.diag(H))))))
            step = -np.linalg.solve(Lc.T, np.linalg.solve(Lc, grad))
            t = 1.0
            while t > 1e-10:
                new = alpha + t * step
                lln, grn, gn, fn = self._loglik_grad(new, Q, lik)
                pvn, pgn, phn = self._penalty(new, c0)
                if -lln + pvn <= cur + 1e-4 * t * float(grad @ step):
                    break
                t *= 0.5
            if t <= 1e-10:
                break
            alpha, ll, gr, g, f, pv, pg, ph = new, lln, grn, gn, fn, pvn, pgn, phn
            prev, cur = cur, -lln + pvn
            lam = lam / 4 if t == 1.0 else lam
            if np.max(np.abs(t * step)) < 1e-10 or (prev - cur) < 1e-13 * max(1.0, abs(cur)):
                ok = True
                break
        if not ok:
            def obj(a):
                ll_, gr_, _, _ = self._loglik_grad(a, Q, lik)
                pv_, pg_, _ = self._penalty(a, c0)
                return -ll_ + pv_, -gr_ + pg_

            alpha = optimize.minimize(obj, alpha, jac=True, method="BFGS",
                                      options={"maxiter": max_iter, "gtol": 1e-9}).x
        ll, gr, g, f = self._loglik_grad(alpha, Q, lik)
        pv, pg, ph = self._penalty(alpha, c0)
        grad_norm = float(np.max(np.abs(gr - pg)))
        self.converged_ = grad_norm <= 1e-6 * max(1.0, lik.counts.sum())
        if not self.converged_:
            warnings.warn(f"GModel: penalised score still {grad_norm:.3g} after optimisation",
                          ConvergenceWarning, stacklevel=3)
        info = self._info(Q, lik, g, f)
        Hp = np.linalg.inv(info + ph)
        cov_a = Hp @ info @ Hp
        bias_a = -Hp @ pg
        D = (np.diag(g) - np.outer(g, g)) @ Q
        self.alpha_ = alpha
        self.cov_alpha_ = cov_a
        self.bias_alpha_ = bias_a
        self.cov_g_ = D @ cov_a @ D.T
        self.bias_g_ = D @ bias_a
        self.info_ = info
        self.loglik_ = ll + float(lik.counts @ lik.logmax)
        self.penalized_loglik_ = self.loglik_ - pv
        self.prior_ = Prior(lik.grid, g, weights_se=np.sqrt(np.clip(np.diag(self.cov_g_), 0, None)),
                            name="g-model")

    def posterior_mean_se(self, z=None, se=None, *, exposure=None, trials=None):
        r"""Delta-method standard error and bias of each unit's posterior mean.

        With :math:`P_{ij} \propto L_{ij} g_j(\alpha)`, the posterior mean
        :math:`m_i = \sum_j P_{ij}\theta_j` has gradient
        :math:`\partial m_i/\partial\alpha = Q^\top (P_i \circ (\theta - m_i))` (the posterior
        covariance of :math:`\theta` with the basis), so
        :math:`\mathrm{se}(m_i)^2 = \nabla_i^\top \mathrm{cov}(\hat\alpha) \nabla_i` and
        :math:`\mathrm{bias}(m_i) \approx \nabla_i^\top \mathrm{bias}(\hat\alpha)` (Efron 2016, Sect. 5).

        Returns
        -------
        se, bias : ndarray
        """
        lik = self._lik(z, se=se, exposure=exposure, trials=trials)
        g = self.prior_.weights
        theta = self.prior_.grid
        f = lik.L @ g
        P = lik.L * (g / f[:, None])
        m = P @ theta
        grad = (P * (theta[None, :] - m[:, None])) @ self.Q_
        out_se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", grad, self.cov_alpha_, grad), 0.0))
        return lik.expand(out_se), lik.expand(grad @ self.bias_alpha_)

    def parametric_bootstrap(self, n_boot=200, *, rng=None, progress=False):
        """Refit to data simulated from the fitted prior (same s_i / exposures / trials).

        Returns an array ``(n_boot, m)`` of bootstrap priors -- the reference for the
        delta-method standard errors (Efron 2016, Sect. 4).
        """
        self._check_fitted()
        if self.family_ == "matrix":
            raise ValueError("parametric bootstrap needs a known likelihood family")
        n_boot = check_int(n_boot, "n_boot", min_value=2)
        rng = check_rng(rng)
        d = self.data_
        out = np.empty((n_boot, self.grid_.size))
        kw = dict(family=self.family_, df=self.df, penalty=self.penalty, grid=self.grid_,
                  max_iter=self.max_iter)
        with progress_bar(n_boot, "g-model bootstrap", progress) as bar:
            for b in range(n_boot):
                n = next(iter(d.values())).size
                theta = rng.choice(self.grid_, size=n, p=self.prior_.weights)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    if self.family_ == "normal":
                        zb = theta + d["se"] * rng.standard_normal(n)
                        fit = GModel(**kw).fit(zb, se=d["se"])
                    elif self.family_ == "poisson":
                        fit = GModel(**kw).fit(rng.poisson(theta * d["exposure"]), exposure=d["exposure"])
                    else:
                        fit = GModel(**kw).fit(rng.binomial(d["trials"].astype(np.int64), theta),
                                               trials=d["trials"])
                out[b] = fit.prior_.weights
                bar.update(1)
        return out

    def summary(self):
        self._check_fitted()
        return SummaryTable(
            "g-modeling empirical Bayes (Efron 2016)",
            info=[("family", self.family_), ("observations", self.n_obs_),
                  ("grid points", self.grid_.size), ("spline df", self.Q_.shape[1]),
                  ("penalty c0", self.penalty), ("log-likelihood", self.loglik_),
                  ("penalised log-likelihood", self.penalized_loglik_),
                  ("converged", self.converged_), ("prior mean", self.prior_.mean()),
                  ("prior sd", self.prior_.std())],
            columns=["alpha", "se", "bias"],
            rows=[(f"alpha[{k}]", [a, s, b]) for k, (a, s, b) in
                  enumerate(zip(self.alpha_, np.sqrt(np.diag(self.cov_alpha_)), self.bias_alpha_))])
