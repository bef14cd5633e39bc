"""Sphinx configuration for deconv's documentation (build: ``sphinx-build docs docs/_build``)."""
project = "deconv"
author = "The deconv developers"
copyright = "2026, The deconv developers"
from deconv import __version__ as release  # noqa: E402

version = release
extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx.ext.mathjax",
              "sphinx.ext.viewcode", "numpydoc"]
autosummary_generate = True
numpydoc_show_class_members = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
