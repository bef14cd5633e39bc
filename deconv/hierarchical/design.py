"""Model matrices for hierarchical models, from a formula on a data frame or from arrays.

The output, a :class:`Design`, is what every fitter consumes: response ``y`` (or a
``(successes, failures)`` pair for binomial data), fixed-effects matrix ``X`` with column
names, an offset, and a list of :class:`RandomTerm` (one grouping factor, a small
per-observation model matrix and its covariance structure). Terms are sorted by
decreasing number of levels, like lme4, so that parameter vectors line up with lme4's.
"""
import numpy as np

from deconv._validation import as_1d_float, as_2d_float
from deconv.hierarchical.formula import (FormulaError, categorical_parts, evaluate,
                                         factor_codes, is_categorical, parse_formula)

__all__ = ["Design", "RandomTerm", "design_from_formula", "design_from_arrays"]


class RandomTerm:
    """One random-effect term ``(coefs | factor)``: b_g ~ N(0, Sigma) for each level g.

    Attributes
    ----------
    factor : str           grouping-factor name
    codes : (n,) int64     level index of each observation
    levels : list of str   level labels
    Xr : (n, k) float      per-observation coefficients' design (column of ones = intercept)
    coef_names : list of str
    """

    def __init__(self, factor, codes, levels, Xr, coef_names):
        self.factor = factor
        self.codes = np.ascontiguousarray(codes, dtype=np.int64)
        self.levels = list(levels)
        self.Xr = np.ascontiguousarray(Xr, dtype=np.float64)
        self.coef_names = list(coef_names)

    @property
    def n_levels(self):
        return len(self.levels)

    @property
    def k(self):
        return self.Xr.shape[1]

    @property
    def n_theta(self):
        return self.k * (self.k + 1) // 2

    def __repr__(self):
        return f"RandomTerm(({' + '.join(self.coef_names)} | {self.factor}), {self.n_levels} levels)"


class Design:
    """Response, fixed-effects matrix, offset and random-effect terms of one model."""

    def __init__(self, y, X, xnames, terms, offset=None, response_name="y", formula=None):
        self.y = y
        self.X = X
        self.xnames = list(xnames)
        self.terms = sorted(terms, key=lambda t: -t.n_levels)  # lme4's order
        self.offset = np.zeros(X.shape[0]) if offset is None else offset
        self.response_name = response_name
        self.formula = formula

    @property
    def n(self):
        return self.X.shape[0]

    @property
    def p(self):
        return self.X.shape[1]

    def check(self, gaussian=True):
        """Errors a fit cannot recover from: rank-deficient X, one-level factors, NaN.

        ``gaussian``: a factor with a level per observation is not identifiable in a
        Gaussian model (it duplicates the residual) but is legitimate in a GLMM
        (observation-level random effects for overdispersion)."""
        n = self.n
        if not np.all(np.isfinite(self.y)):
            raise ValueError(f"response {self.response_name!r} contains NaN or inf")
        if not np.all(np.isfinite(self.X)):
            raise ValueError("fixed-effects design X contains NaN or inf")
        if not np.all(np.isfinite(self.offset)):
            raise ValueError("offset contains NaN or inf")
        if self.p:
            rank = np.linalg.matrix_rank(self.X)
            if rank < self.p:
                raise ValueError(
                    f"fixed-effects design is rank deficient (rank {rank} < {self.p} columns "
                    f"{self.xnames}); drop collinear or constant columns")
        for t in self.terms:
            if not np.all(np.isfinite(t.Xr)):
                raise ValueError(f"random-effect design of factor {t.factor!r} contains NaN or inf")
            if t.n_levels < 2:
                raise ValueError(f"grouping factor {t.factor!r} has {t.n_levels} level; a random "
                                 "effect needs at least 2 levels (use a fixed effect instead)")
            if gaussian and t.n_levels >= n:
                raise ValueError(f"grouping factor {t.factor!r} has {t.n_levels} levels for {n} "
                                 "observations; random effects are not identifiable (every "
                                 "observation its own group)")
            if t.codes.shape[0] != n:
                raise ValueError(f"grouping factor {t.factor!r} has {t.codes.shape[0]} values, "
                                 f"expected {n}")
        return self


# ----------------------------------------------------------------------- formula route
def _codes(values, name):
    arr = np.asarray(values)
    if categorical_parts(values) is None and arr.dtype.kind not in "OUS":
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError(f"grouping factor {name!r} contains NaN/inf")
        levels, codes = np.unique(arr, return_inverse=True)
        return codes.astype(np.int64), [str(v) for v in levels]
    return factor_codes(values, name)


def _grouping(data, factor):
    names = factor.split(":")
    if len(names) == 1:
        if not _has(data, factor):
            raise FormulaError(f"grouping factor {factor!r} not found in data")
        return _codes(data[factor], factor)
    for nm in names:
        if not _has(data, nm):
            raise FormulaError(f"grouping factor {nm!r} not found in data")
    parts = [_codes(data[nm], nm) for nm in names]
    # interaction: combine codes, keep only the observed combinations
    key = np.zeros(len(parts[0][0]), dtype=np.int64)
    for codes, levels in parts:
        key = key * len(levels) + codes
    uniq, codes = np.unique(key, return_inverse=True)
    labels = []
    for u in uniq:
        idx, lab = int(u), []
        for codes_j, levels_j in reversed(parts):
            lab.append(levels_j[idx % len(levels_j)])
            idx //= len(levels_j)
        labels.append(":".join(reversed(lab)))
    return codes.astype(np.int64), labels


def _term_columns(term, data, full_dummies=False):
    """Columns (list of arrays) and names for one fixed-effect term such as ``a:b``."""
    cols, names = [np.ones(_nrows(data))], [""]
    for part in term.split(":"):
        part = part.strip()
        raw = data[part] if _has(data, part) else None
        if raw is not None and is_categorical(raw):
            codes, levels = _codes(raw, part)
            use = range(len(levels)) if full_dummies else range(1, len(levels))
            new_cols, new_names = [], []
            for c, nm in zip(cols, names):
                for j in use:
                    new_cols.append(c * (codes == j))
                    new_names.append(f"{nm}:{part}{levels[j]}" if nm else f"{part}{levels[j]}")
            cols, names = new_cols, new_names
        else:
            v = np.asarray(evaluate(part, data), dtype=np.float64)
            if v.ndim != 1:
                raise FormulaError(f"term {part!r} must evaluate to one column")
            cols = [c * v for c in cols]
            names = [f"{nm}:{part}" if nm else part for nm in names]
    return cols, names


def _has(data, name):
    try:
        return name in data
    except TypeError:
        return False


def _nrows(data):
    if hasattr(data, "shape"):
        return int(data.shape[0])
    first = next(iter(data.values()))
    return len(first)


def design_from_formula(formula, data):
    """Build a :class:`Design` from an lme4-style formula and a DataFrame/mapping."""
    if data is None:
        raise TypeError("data must be a pandas DataFrame or a mapping of columns when a "
                        "formula is given")
    pf = parse_formula(formula)
    n = _nrows(data)
    y = np.asarray(evaluate(pf.response, data), dtype=np.float64)
    if y.shape[0] != n:
        raise FormulaError(f"response {pf.response!r} has the wrong length")
    cols, names = [], []
    if pf.intercept:
        cols.append(np.ones(n))
        names.append("(Intercept)")
    for i, term in enumerate(pf.fixed_terms):
        c, nm = _term_columns(term, data, full_dummies=(not pf.intercept and i == 0))
        cols.extend(c)
        names.extend(nm)
    X = np.column_stack(cols) if cols else np.zeros((n, 0))
    offset = np.zeros(n)
    for off in pf.offsets:
        offset = offset + np.asarray(evaluate(off, data), dtype=np.float64)
    terms = []
    for spec in pf.random:
        codes, levels = _grouping(data, spec.factor)
        rc, rn = ([np.ones(n)], ["(Intercept)"]) if spec.intercept else ([], [])
        for t in spec.terms:
            c, nm = _term_columns(t, data)
            rc.extend(c)
            rn.extend(nm)
        terms.append(RandomTerm(spec.factor, codes, levels, np.column_stack(rc), rn))
    return Design(y, X, names, terms, offset, response_name=pf.response, formula=formula)


# ------------------------------------------------------------------------ array route
def design_from_arrays(y, X=None, groups=None, Z=None, *, correlated=True, offset=None,
                       binomial=False):
    """Build a :class:`Design` from arrays.

    Parameters
    ----------
    y : (n,) array, or (n, 2) array of (successes, failures) when ``binomial``
    X : (n, p) array or None
        Fixed-effects design; None means an intercept only. Include the intercept column
        yourself when you pass X.
    groups : (n,) labels, or a dict ``{name: labels}`` for several grouping factors
    Z : None, (n, k) array, or a dict ``{name: (n, k) array}``
        Per-observation random-effect design for each factor (None: random intercept).
    correlated : bool
        If False, each column of Z gets its own independent variance (``||`` in lme4).
    """
    if binomial:
        yy = as_2d_float(y, "y")
        if yy.shape[1] != 2:
            raise ValueError("binomial y must have two columns (successes, failures)")
    else:
        yy = as_1d_float(y, "y", finite=False)
    n = yy.shape[0]
    if X is None:
        Xa, xnames = np.ones((n, 1)), ["(Intercept)"]
    else:
        Xa = as_2d_float(X, "X", finite=False)
        if Xa.shape[0] != n:
            raise ValueError(f"X has {Xa.shape[0]} rows but y has {n} values")
        xnames = list(getattr(X, "columns", [f"x{j}" for j in range(Xa.shape[1])]))
        xnames = [str(c) for c in xnames]
    if groups is None:
        raise TypeError("groups must be given (group labels, or a dict of them)")
    if not isinstance(groups, dict):
        groups = {"group": groups}
    if Z is not None and not isinstance(Z, dict):
        if len(groups) != 1:
            raise ValueError("with several grouping factors pass Z as a dict {factor: array}")
        Z = {next(iter(groups)): Z}
    terms = []
    for name, labels in groups.items():
        labels_arr = np.asarray(labels)
        if labels_arr.ndim != 1 or labels_arr.shape[0] != n:
            raise ValueError(f"groups[{name!r}] must be 1-D with {n} labels, got shape "
                             f"{labels_arr.shape}")
        codes, levels = _codes(labels if categorical_parts(labels) is not None else labels_arr,
                               name)
        z = None if Z is None else Z.get(name)
        if z is None:
            Zr, znames = np.ones((n, 1)), ["(Intercept)"]
        else:
            Zr = as_2d_float(z, f"Z[{name!r}]", finite=False)
            if Zr.shape[0] != n:
                raise ValueError(f"Z[{name!r}] has {Zr.shape[0]} rows but y has {n} values")
            znames = [str(c) for c in getattr(z, "columns", [f"z{j}" for j in range(Zr.shape[1])])]
        if correlated:
            terms.append(RandomTerm(name, codes, levels, Zr, znames))
        else:
            for j in range(Zr.shape[1]):
                terms.append(RandomTerm(name, codes, levels, Zr[:, j:j + 1], [znames[j]]))
    off = None if offset is None else as_1d_float(offset, "offset", finite=False)
    if off is not None and off.shape[0] != n:
        raise ValueError(f"offset has {off.shape[0]} values but y has {n}")
    return Design(yy, Xa, xnames, terms, off)
