import numpy as np
import pytest

from deconv._validation import (as_1d_float, as_scale, check_level, check_rng,
                                check_positive_scalar, as_nonneg_int_array)


def test_as_1d_float_copies_and_checks():
    x = np.array([1.0, 2.0, 3.0])
    y = as_1d_float(x, "w")
    y[0] = 99
    assert x[0] == 1.0  # input never mutated
    with pytest.raises(ValueError, match="w contains 1 non-finite"):
        as_1d_float([1.0, np.nan], "w")
    with pytest.raises(ValueError, match="w is empty"):
        as_1d_float([], "w")
    with pytest.raises(ValueError, match="w must be 1-D"):
        as_1d_float(np.ones((3, 2)), "w")
    with pytest.raises(TypeError, match="w must"):
        as_1d_float("abc", "w")
    assert as_1d_float(np.ones((4, 1)), "w").shape == (4,)


def test_as_scale_broadcast_and_errors():
    v, scalar = as_scale(0.5, 3, "sd")
    assert scalar and np.all(v == 0.5)
    v, scalar = as_scale([1, 2, 3], 3, "sd")
    assert not scalar
    with pytest.raises(ValueError, match="sd has 2 values but there are 3"):
        as_scale([1, 2], 3, "sd")
    with pytest.raises(ValueError, match="sd must be positive"):
        as_scale([1, 0, 3], 3, "sd")


def test_scalars_and_rng():
    assert check_level(0.9) == 0.9
    with pytest.raises(ValueError, match="level"):
        check_level(1.0)
    with pytest.raises(ValueError, match="h must be positive"):
        check_positive_scalar(-1, "h")
    g1, g2 = check_rng(3), check_rng(3)
    assert g1.random() == g2.random()
    with pytest.raises(TypeError, match="rng"):
        check_rng(np.random.RandomState(0))
    with pytest.raises(ValueError, match="k must contain integers"):
        as_nonneg_int_array([1, 2.5], "k")
