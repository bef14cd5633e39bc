"""Build declaration for deconv's compiled kernels (metadata lives in pyproject.toml).

Every ``csrc/<name>.pyx`` becomes the private module ``deconv._kernels.<name>``.
Compiler directives are set once here. ``DECONV_DEBUG=1`` builds with bounds and
wrap-around checks on (for hunting an out-of-range access); OpenMP is used when the
compiler accepts ``-fopenmp`` and skipped otherwise (kernels stay correct serially).
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).resolve().parent
DEBUG = os.environ.get("DECONV_DEBUG", "0") not in ("", "0", "false", "False")


def _compiler_has_openmp():
    """Try to compile and link a tiny OpenMP program with the default C compiler."""
    if os.environ.get("DECONV_NO_OPENMP"):
        return False
    if sys.platform == "win32":
        return True  # MSVC: /openmp is always there
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc.split()[0]) is None:
        return False
    src = "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
    with tempfile.TemporaryDirectory() as tmp:
        c_file = Path(tmp) / "t.c"
        c_file.write_text(src)
        try:
            res = subprocess.run(cc.split() + ["-fopenmp", str(c_file), "-o", str(Path(tmp) / "t")],
                                 capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return False
        return res.returncode == 0


OPENMP = _compiler_has_openmp()
if sys.platform == "win32":
    omp_compile, omp_link = (["/openmp"], []) if OPENMP else ([], [])
    base_compile = ["/O2"]
else:
    omp_compile, omp_link = (["-fopenmp"], ["-fopenmp"]) if OPENMP else ([], [])
    base_compile = ["-O3"] if not DEBUG else ["-O0", "-g"]

directives = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "nonecheck": False,
    "embedsignature": True,
}

extensions = []
for pyx in sorted((HERE / "csrc").glob("*.pyx")):
    name = pyx.stem
    extensions.append(
        Extension(
            f"deconv._kernels.{name}",
            [str(pyx.relative_to(HERE))],
            include_dirs=[np.get_include(), "csrc"],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=base_compile + omp_compile,
            extra_link_args=omp_link,
        )
    )

JOBS = max(1, min(8, os.cpu_count() or 1))

setup(
    # compile the kernels in parallel (a fresh 2-core CI machine builds them in about half the time)
    options={"build_ext": {"parallel": JOBS}},
    ext_modules=cythonize(
        extensions,
        nthreads=JOBS if sys.platform != "win32" else 0,
        compiler_directives=directives,
        include_path=["csrc"],
        build_dir="build/cython",
        compile_time_env={"DECONV_OPENMP": OPENMP},
    ),
)
