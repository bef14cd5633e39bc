"""Input validation shared by every part of deconv.

Every public function validates its input here *before* any compiled kernel runs, so
kernels compiled without bounds checks never see out-of-range data. Errors name the
argument and say what was wrong. Inputs are never mutated: arrays are copied when
converted.
"""
import numbers

import numpy as np

__all__ = [
    "as_1d_float", "as_2d_float", "as_float_array", "as_scale", "check_rng",
    "check_level", "check_positive_scalar", "check_int", "check_same_length",
    "check_choice", "as_nonneg_int_array",
]


def _to_array(x, name):
    if x is None:
        raise TypeError(f"{name} must be array-like, got None")
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{name} must be numeric array-like, got {type(x).__name__}")
    # pandas Series / DataFrame columns convert through __array__
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic containers
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must contain numbers only") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be real-valued numeric, got dtype {arr.dtype}")
    return arr


def as_float_array(x, name, *, ndim=None, allow_empty=False, finite=True, dtype=np.float64):
    """Return a C-contiguous float copy of ``x`` after checking dimension and finiteness."""
    arr = _to_array(x, name)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got an array of shape {arr.shape}")
    out = np.array(arr, dtype=dtype, order="C", copy=True)
    if out.size == 0 and not allow_empty:
        raise ValueError(f"{name} is empty")
    if finite and out.size and not np.all(np.isfinite(out)):
        bad = int(np.size(out) - np.count_nonzero(np.isfinite(out)))
        raise ValueError(f"{name} contains {bad} non-finite value(s) (NaN or inf)")
    return out


def as_1d_float(x, name, *, min_size=1, finite=True):
    """1-D float64 copy of ``x``; scalars are not accepted (a 0-d value is an error)."""
    arr = _to_array(x, name)
    if arr.ndim == 2 and 1 in arr.shape and arr.size > 0:
        # a single column/row of a DataFrame or matrix is fine
        arr = arr.reshape(-1)
    out = as_float_array(arr, name, ndim=1, allow_empty=min_size == 0, finite=finite)
    if out.size < min_size:
        raise ValueError(f"{name} needs at least {min_size} values, got {out.size}")
    return out


def as_2d_float(x, name, *, finite=True):
    """2-D float64 copy; a 1-D input is read as one column."""
    arr = _to_array(x, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    return as_float_array(arr, name, ndim=2, finite=finite)


def as_nonneg_int_array(x, name):
    """1-D int64 copy of non-negative integer counts (floats with integral values accepted)."""
    arr = as_1d_float(x, name)
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative counts, found {arr.min()}")
    if np.any(arr != np.round(arr)):
        raise ValueError(f"{name} must contain integers (counts), found non-integral values")
    return arr.astype(np.int64)


def as_scale(scale, n, name, *, allow_zero=False):
    """Broadcast a positive scale (scalar or one value per observation) to shape (n,).

    Returns ``(values, is_scalar)``.
    """
    arr = _to_array(scale, name)
    if arr.ndim == 0:
        vals = np.full(n, float(arr))
        scalar = True
    else:
        arr = np.asarray(arr, dtype=np.float64).reshape(-1) if arr.ndim == 1 else arr
        if arr.ndim != 1:
            raise ValueError(f"{name} must be a scalar or 1-D, got shape {np.shape(scale)}")
        if arr.size != n:
            raise ValueError(f"{name} has {arr.size} values but there are {n} observations")
        vals = np.array(arr, dtype=np.float64, copy=True)
        scalar = False
    if not np.all(np.isfinite(vals)):
        raise ValueError(f"{name} contains non-finite values")
    if allow_zero:
        if np.any(vals < 0):
            raise ValueError(f"{name} must be non-negative, found {vals.min()}")
    elif np.any(vals <= 0):
        raise ValueError(f"{name} must be positive, found {vals.min()}")
    return vals, scalar


def check_positive_scalar(x, name, *, allow_zero=False, allow_inf=False):
    """A real positive scalar as float."""
    if isinstance(x, bool) or not isinstance(x, (numbers.Real, np.floating, np.integer)):
        if isinstance(x, np.ndarray) and x.ndim == 0:
            x = x.item()
        else:
            raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    x = float(x)
    if np.isnan(x) or (np.isinf(x) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {x}")
    if x < 0 or (x == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'}, got {x}")
    return x


def check_int(x, name, *, min_value=None, max_value=None):
    """An integer (Python or NumPy) within bounds."""
    if isinstance(x, bool) or not isinstance(x, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(x).__name__}")
    x = int(x)
    if min_value is not None and x < min_value:
        raise ValueError(f"{name} must be >= {min_value}, got {x}")
    if max_value is not None and x > max_value:
        raise ValueError(f"{name} must be <= {max_value}, got {x}")
    return x


def check_level(level, name="level"):
    """A probability strictly between 0 and 1 (confidence or credible level)."""
    level = check_positive_scalar(level, name)
    if not 0.0 < level < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {level}")
    return level


def check_same_length(**arrays):
    """Raise if the named arrays do not all have the same length."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        desc = ", ".join(f"{k} has {v}" for k, v in lengths.items())
        raise ValueError(f"mismatched lengths: {desc}")


def check_choice(value, name, choices):
    """``value`` must be one of ``choices`` (strings compared case-insensitively)."""
    if isinstance(value, str):
        low = value.lower()
        for c in choices:
            if isinstance(c, str) and c.lower() == low:
                return c
    elif value in choices:
        return value
    raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def check_rng(rng):
    """``numpy.random.Generator`` from None, an int seed, a SeedSequence or a Generator."""
    if isinstance(rng, np.random.RandomState):
        raise TypeError("rng must be None, an int seed or a numpy.random.Generator "
                        "(legacy RandomState is not supported)")
    if isinstance(rng, bool):
        raise TypeError("rng must be None, an int seed or a numpy.random.Generator, got bool")
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator: {exc}") from None
