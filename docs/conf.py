"""Sphinx configuration for deconv's documentation (build: ``sphinx-build docs docs/_build``)."""
project = "deconv"
author = "The deconv developers"
copyright = "2026, The deconv developers"
import os  # noqa: E402
import sys  # noqa: E402

# build from a checkout with kernels built in place (pip install -e .) or an installed deconv
sys.path.insert(0, os.path.abspath(".."))
from deconv import __version__ as release  # noqa: E402

version = release
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.mathjax",
              "sphinx.ext.viewcode", "numpydoc"]
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
