"""The docstring examples of deconv.eiv run and print what they claim."""
import doctest
import importlib

import pytest

MODULES = ["deconv.eiv._errors", "deconv.eiv.lines", "deconv.eiv._moments", "deconv.eiv._simex",
           "deconv.eiv.calibration", "deconv.eiv._odr", "deconv.datasets.eiv"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    mod = importlib.import_module(name)
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.failed == 0
    assert res.attempted > 0
