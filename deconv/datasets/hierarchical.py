"""Data sets for hierarchical models, exported from R's lme4 package.

Source: the lme4 package (Bates, Maechler, Bolker & Walker 2015, J. Stat. Softw. 67(1)),
exported with ``tests/data/lme4_reference.R``.

* ``sleepstudy``: reaction times (ms) of 18 subjects over 10 days of sleep deprivation
  (Belenky et al. 2003). Columns Reaction, Days, Subject.
* ``Pastes``: paste strength, 10 batches x 3 casks x 2 samples (Davies & Goldsmith 1972),
  a nested design. Columns strength, batch, cask, sample.
* ``Penicillin``: diameter of growth-inhibition zones, 24 plates x 6 samples, a crossed
  design (Davies & Goldsmith 1972). Columns diameter, plate, sample.
* ``cbpp``: contagious bovine pleuropneumonia incidence in 15 herds over 4 periods
  (Lesnoff et al. 2004). Columns herd, incidence, size, period.
* ``eight_schools``: coaching effects and standard errors (Rubin 1981; Gelman et al.,
  Bayesian Data Analysis, 3rd ed., Table 5.2).

Loaders return a pandas DataFrame when pandas is installed (``as_frame=True``) and a dict
of NumPy arrays otherwise; grouping columns are strings.
"""
import csv
import os

import numpy as np

__all__ = ["load_sleepstudy", "load_pastes", "load_penicillin", "load_cbpp", "load_eight_schools"]

_DIR = os.path.join(os.path.dirname(__file__), "data")


def _load(name, numeric, as_frame):
    with open(os.path.join(_DIR, name), newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    cols = {}
    for j, h in enumerate(header):
        vals = [r[j] for r in body]
        cols[h] = np.array(vals, dtype=float) if h in numeric else np.array(vals, dtype=object)
    if as_frame:
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas optional
            return cols
        return pd.DataFrame(cols)
    return cols


def load_sleepstudy(as_frame=True):
    """Sleep-deprivation reaction times (lme4's ``sleepstudy``, 180 rows)."""
    return _load("sleepstudy.csv", {"Reaction", "Days"}, as_frame)


def load_pastes(as_frame=True):
    """Paste strength, nested batch/cask design (lme4's ``Pastes``, 60 rows)."""
    return _load("Pastes.csv", {"strength"}, as_frame)


def load_penicillin(as_frame=True):
    """Penicillin assay, crossed plate x sample design (lme4's ``Penicillin``, 144 rows)."""
    return _load("Penicillin.csv", {"diameter"}, as_frame)


def load_cbpp(as_frame=True):
    """Bovine pleuropneumonia incidence by herd and period (lme4's ``cbpp``, 56 rows)."""
    return _load("cbpp.csv", {"incidence", "size"}, as_frame)


def load_eight_schools():
    """Eight schools: estimated coaching effects ``y`` and standard errors ``se``.

    Source: Rubin (1981); Gelman et al., Bayesian Data Analysis (3rd ed.), Table 5.2.
    """
    y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    se = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
    return {"school": np.array(list("ABCDEFGH"), dtype=object), "y": y, "se": se}
