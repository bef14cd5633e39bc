"""Compiled kernels (built from ``csrc/*.pyx``). Private: hot loops only, no validation.

The Python layer validates shapes, dtypes, finiteness and ranges before calling in here.
"""
from pathlib import Path as _Path

if not any(p.suffix in (".so", ".pyd") for p in _Path(__file__).parent.glob("_binning*")):
    raise ImportError(
        f"deconv's compiled kernels are not built in {_Path(__file__).parent}. You are probably "
        "importing deconv from its source tree: build the kernels in place with "
        "'pip install -e .' (or 'python setup.py build_ext --inplace'), or run from another "
        "directory so that the installed package is imported."
    )
