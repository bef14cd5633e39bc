import os

# One BLAS thread for the test suite: on a small shared CI machine multithreaded BLAS
# oversubscribes the cores (measured: EB tests 179 s wall with OpenBLAS threads vs ~40 s with
# one). Must be set before numpy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")


import pytest  # noqa: E402


@pytest.fixture
def run_python(tmp_path):
    """Run ``python -c code`` with the deconv under test, from a neutral directory.

    The child imports the same deconv this test session imported (installed, or built in
    place), so a source checkout in the working directory cannot shadow it. Extra environment
    variables (e.g. ``OMP_NUM_THREADS``) are passed as keywords. Returns stripped stdout.
    """
    import subprocess
    import sys

    import deconv

    def run(code, **env_vars):
        env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(deconv.__file__)),
                   **{k: str(v) for k, v in env_vars.items()})
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stdout.strip()

    return run
