"""Small bundled and generated data sets used in examples, docs and tests.

Each part adds its loaders in a module of its own (``deconv.datasets.<part>``) and its
files under ``deconv/datasets/data/``; the loaders are re-exported here.
"""
from deconv.datasets.demo import bimodal_demo

__all__ = ["bimodal_demo"]
