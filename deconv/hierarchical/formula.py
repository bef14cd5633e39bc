"""A small lme4-style model-formula parser (our own; no patsy/formulaic dependency).

Grammar understood (a practical subset of lme4's)::

    response ~ fixed + (re_expr | group) + (re_expr || group) + offset(expr)

* ``response``: a column or an arithmetic expression of columns (``log(y)``), or
  ``cbind(successes, failures)`` for binomial models (``failures`` may be an expression
  such as ``size - incidence``).
* fixed terms: column names, ``a:b`` products/interactions, ``a*b`` (= ``a + b + a:b``),
  ``1``/``0``/``-1`` for the intercept, and arithmetic expressions of columns
  (``log(x)``). Non-numeric columns (strings, categoricals, booleans) become treatment
  (dummy) contrasts with the first level as reference, as in R.
* random terms: ``(1 | g)``, ``(x | g)`` (correlated intercept and slope), ``(0 + x | g)``,
  ``(x || g)`` (uncorrelated: split into ``(1|g) + (0+x|g)`` like lme4), ``(1 | a/b)``
  (nested: ``(1|a) + (1|a:b)``) and ``(1 | a:b)``.

Expressions are evaluated with a whitelist walker over Python's :mod:`ast` (names,
numbers, ``+ - * / **``, and the functions ``log, exp, sqrt, abs``), never ``eval``.
"""
import ast
import re

import numpy as np

__all__ = ["parse_formula", "FormulaError", "ParsedFormula", "RandomTermSpec"]


class FormulaError(ValueError):
    """The model formula could not be parsed or refers to unknown columns."""


_FUNCS = {"log": np.log, "exp": np.exp, "sqrt": np.sqrt, "abs": np.abs, "log1p": np.log1p}


class RandomTermSpec:
    """One random-effect term as written: coefficient expressions, intercept flag, factor."""

    def __init__(self, terms, intercept, factor, correlated):
        self.terms = list(terms)          # slope expressions (strings)
        self.intercept = bool(intercept)
        self.factor = factor              # e.g. "Subject" or "batch:cask"
        self.correlated = bool(correlated)

    def __repr__(self):
        lhs = (["1"] if self.intercept else ["0"]) + self.terms
        bar = "|" if self.correlated else "||"
        return f"({' + '.join(lhs)} {bar} {self.factor})"


class ParsedFormula:
    """The pieces of a formula: response, fixed terms, random terms, offsets."""

    def __init__(self, response, fixed_terms, intercept, random, offsets, text):
        self.response = response
        self.fixed_terms = fixed_terms
        self.intercept = intercept
        self.random = random
        self.offsets = offsets
        self.text = text

    def __repr__(self):
        return f"ParsedFormula({self.text!r})"


def _split_top(s, seps):
    """Split ``s`` at top-level (outside parentheses) occurrences of the characters in seps.

    Returns a list of (sign, piece) where sign is the separator preceding the piece.
    """
    out, depth, cur, sign = [], 0, [], "+"
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise FormulaError(f"unbalanced parentheses in {s!r}")
        if depth == 0 and ch in seps:
            out.append((sign, "".join(cur).strip()))
            cur, sign = [], ch
            continue
        cur.append(ch)
    if depth != 0:
        raise FormulaError(f"unbalanced parentheses in {s!r}")
    out.append((sign, "".join(cur).strip()))
    return out


def _strip_parens(s):
    s = s.strip()
    while s.startswith("(") and s.endswith(")"):
        depth = 0
        for i, ch in enumerate(s):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(s) - 1:
                return s  # "(a) + (b)" is not wrapped as a whole
        s = s[1:-1].strip()
    return s


def _parse_random(inner):
    correlated = "||" not in inner
    parts = inner.split("||") if not correlated else inner.split("|")
    if len(parts) != 2:
        raise FormulaError(f"random-effect term '({inner})' must have exactly one '|' or '||'")
    lhs, factor = parts[0].strip(), parts[1].strip()
    if not factor:
        raise FormulaError(f"random-effect term '({inner})' has no grouping factor")
    intercept, terms = True, []
    for sign, piece in _split_top(lhs, "+-"):
        if piece == "" and sign == "+":
            continue
        if piece in ("0", "1"):
            if sign == "-" or piece == "0":
                intercept = False
            else:
                intercept = True
            continue
        if not piece:
            raise FormulaError(f"empty term in random-effect term '({inner})'")
        if sign == "-":
            raise FormulaError(f"cannot remove term '{piece}' in '({inner})'")
        terms.append(piece)
    if not intercept and not terms:
        raise FormulaError(f"random-effect term '({inner})' has no coefficients")
    factors = [f.strip() for f in factor.split("/")]
    if any(not f or not re.fullmatch(r"[A-Za-z_.][\w.]*(\s*:\s*[A-Za-z_.][\w.]*)*", f) for f in factors):
        raise FormulaError(f"grouping factor '{factor}' must be column names joined by ':' or '/'")
    specs = []
    for i in range(len(factors)):  # a/b/c -> a, a:b, a:b:c
        fac = ":".join(x.replace(" ", "") for x in factors[: i + 1])
        if correlated:
            specs.append(RandomTermSpec(terms, intercept, fac, True))
        else:  # lme4's || : one scalar term per coefficient
            if intercept:
                specs.append(RandomTermSpec([], True, fac, True))
            for t in terms:
                specs.append(RandomTermSpec([t], False, fac, True))
    return specs


def parse_formula(text):
    """Parse an lme4-style formula string into a :class:`ParsedFormula`.

    Raises
    ------
    FormulaError
        If the text is not a formula this parser understands (the message says why).
    """
    if not isinstance(text, str):
        raise TypeError(f"formula must be a string, got {type(text).__name__}")
    if text.count("~") != 1:
        raise FormulaError(f"formula {text!r} must contain exactly one '~'")
    lhs, rhs = (p.strip() for p in text.split("~"))
    if not lhs:
        raise FormulaError(f"formula {text!r} has no response on the left of '~'")
    if not rhs:
        raise FormulaError(f"formula {text!r} has no terms on the right of '~'")
    _check_expr(lhs, text)
    intercept, fixed, random, offsets = True, [], [], []
    for sign, piece in _split_top(rhs, "+-"):
        if piece == "":
            if sign == "+" and not fixed and not random:
                continue
            raise FormulaError(f"empty term in formula {text!r}")
        if piece.startswith("(") and piece.endswith(")") and "|" in piece:
            if sign == "-":
                raise FormulaError(f"cannot subtract a random-effect term in {text!r}")
            random.extend(_parse_random(piece[1:-1]))
            continue
        if "|" in piece:
            raise FormulaError(f"random-effect term {piece!r} must be written in parentheses")
        if piece in ("0", "1"):
            intercept = not (sign == "-" or piece == "0")
            continue
        m = re.fullmatch(r"offset\((.*)\)", piece)
        if m:
            _check_expr(m.group(1), text)
            offsets.append(m.group(1).strip())
            continue
        if sign == "-":
            raise FormulaError(f"removing term {piece!r} is not supported in {text!r}")
        for term in _expand_star(piece, text):
            if term not in fixed:
                fixed.append(term)
    return ParsedFormula(lhs, fixed, intercept, random, offsets, text)


def _expand_star(piece, text):
    piece = _strip_parens(piece)
    factors = [f for _, f in _split_top(piece, "*")]
    if any(not f for f in factors):
        raise FormulaError(f"empty factor in term {piece!r} of {text!r}")
    for f in factors:
        for _, part in _split_top(f, ":"):
            _check_expr(part, text)
    if len(factors) == 1:
        return [":".join(dict.fromkeys(p for _, p in _split_top(piece, ":")))]
    out = []
    n = len(factors)
    for mask in range(1, 2 ** n):  # all non-empty subsets, by order; x:x is x (as in R)
        term = ":".join(dict.fromkeys(factors[i] for i in range(n) if mask >> i & 1))
        if term not in out:
            out.append(term)
    return sorted(out, key=lambda t: t.count(":"))


# ---------------------------------------------------------------- expression evaluation
def _check_expr(expr, text):
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError:
        raise FormulaError(f"cannot parse {expr!r} in formula {text!r}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id in set(_FUNCS) | {"cbind"}):
                raise FormulaError(f"unknown function in {expr!r} (allowed: {', '.join(_FUNCS)}, cbind)")
        elif not isinstance(node, (ast.Expression, ast.Name, ast.Load, ast.Constant, ast.BinOp,
                                   ast.UnaryOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow,
                                   ast.USub, ast.UAdd)):
            raise FormulaError(f"unsupported syntax {type(node).__name__} in {expr!r} of {text!r}")
    return tree


def column(data, name):
    """A column of ``data`` (DataFrame or mapping) as a NumPy array, or FormulaError."""
    try:
        col = data[name]
    except (KeyError, IndexError, TypeError):
        raise FormulaError(f"column {name!r} not found in data") from None
    return np.asarray(col)


def evaluate(expr, data):
    """Evaluate a whitelisted arithmetic expression of columns of ``data``."""
    tree = _check_expr(expr, expr)

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)):
                raise FormulaError(f"only numeric constants are allowed in {expr!r}")
            return float(node.value)
        if isinstance(node, ast.Name):
            return column(data, node.id)
        if isinstance(node, ast.UnaryOp):
            v = _numeric(ev(node.operand), expr)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.BinOp):
            a, b = _numeric(ev(node.left), expr), _numeric(ev(node.right), expr)
            op = type(node.op)
            return {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
                    ast.Div: np.divide, ast.Pow: np.power}[op](a, b)
        if isinstance(node, ast.Call):
            name = node.func.id
            args = [ev(a) for a in node.args]
            if name == "cbind":
                if len(args) != 2:
                    raise FormulaError("cbind() takes exactly two columns (successes, failures)")
                return np.column_stack([_numeric(a, expr) for a in args])
            if len(args) != 1:
                raise FormulaError(f"{name}() takes one argument in {expr!r}")
            with np.errstate(all="ignore"):
                return _FUNCS[name](_numeric(args[0], expr))
        raise FormulaError(f"unsupported expression {expr!r}")  # pragma: no cover

    return ev(tree)


def _numeric(v, expr):
    v = np.asarray(v)
    if v.dtype.kind not in "biuf":
        raise FormulaError(f"arithmetic on a non-numeric column in {expr!r}")
    return v.astype(np.float64)


def is_categorical(values):
    """True for columns R would treat as factors (strings, categoricals, booleans)."""
    dtype = getattr(values, "dtype", None)
    if dtype is not None and str(dtype) == "category":
        return True
    arr = np.asarray(values)
    return arr.dtype.kind in "OUSb"


def _as_number(label):
    try:
        v = float(label)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def sorted_levels(uniq):
    """Order the distinct labels of a grouping column.

    Labels that are all numeric strings (``"2"``, ``"10"``, ``"3.5"``) are sorted by their
    value, so ``"2" < "10"`` (plain string sorting would give ``"10" < "2"``); ties in value
    (``"1"``, ``"01"``) fall back to the string. Anything else keeps NumPy's sorted order.
    """
    levels = list(uniq)
    if levels and all(isinstance(v, str) for v in levels):
        nums = [_as_number(v) for v in levels]
        if all(v is not None for v in nums):
            levels = [lv for _, lv in sorted(zip(nums, levels))]
    return levels


def categorical_parts(values):
    """The ``.codes``/``.categories`` holder of a pandas Categorical (a Series with the
    ``category`` dtype or a bare ``pandas.Categorical``), else None."""
    cat = getattr(values, "cat", None)
    if cat is not None:
        return cat
    if hasattr(values, "categories") and hasattr(values, "codes"):
        return values
    return None


def factor_codes(values, name):
    """Integer codes 0..L-1 and level labels of a grouping column.

    Order: a pandas Categorical keeps its category order; numeric strings sort by value
    (see :func:`sorted_levels`); other labels sort as R sorts a factor's levels."""
    cat = categorical_parts(values)
    if cat is not None:  # pandas categorical: keep its level order, drop unused levels
        raw = np.asarray(cat.codes, dtype=np.int64)
        if np.any(raw < 0):
            raise ValueError(f"grouping factor {name!r} contains missing values")
        used = np.unique(raw)
        codes = np.searchsorted(used, raw).astype(np.int64)
        return codes, [str(cat.categories[i]) for i in used]
    else:
        arr = np.asarray(values)
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError(f"grouping factor {name!r} contains NaN/inf")
        if arr.dtype == object and any(v is None or (isinstance(v, float) and v != v) for v in arr):
            raise ValueError(f"grouping factor {name!r} contains missing values")
        uniq, inv = np.unique(arr, return_inverse=True)
        levels = sorted_levels(uniq)
    # map through the distinct labels (a Python loop over levels, not observations)
    lookup = {lv: i for i, lv in enumerate(levels)}
    codes = np.array([lookup[u] for u in uniq], dtype=np.int64)[inv.reshape(-1)]
    return codes, [str(lv) for lv in levels]
