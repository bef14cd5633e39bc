"""Compiled kernels (built from ``csrc/*.pyx``). Private: hot loops only, no validation.

The Python layer validates shapes, dtypes, finiteness and ranges before calling in here.
"""
