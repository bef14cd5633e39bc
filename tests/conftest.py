import os

# One BLAS thread for the test suite: on a small shared CI machine multithreaded BLAS
# oversubscribes the cores (measured: EB tests 179 s wall with OpenBLAS threads vs ~40 s with
# one). Must be set before numpy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
