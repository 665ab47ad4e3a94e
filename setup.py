"""Build script: the package metadata plus one compiled extension per ``pyx/*.pyx`` file.

Each ``pyx/NAME.pyx`` becomes ``scratchnet._kernels.NAME``. The kernels are compiled with ``-O3`` and OpenMP
when the compiler accepts ``-fopenmp``; otherwise (or with ``SCRATCHNET_NO_OPENMP=1``) they are built serial,
and ``scratchnet.backend.info()`` reports which build is present.

They are also compiled for the building machine's own instruction set (``-march=native``) when the compiler
accepts it: the kernels are built from source where they run, and the Winograd transforms and the direct
convolution run 2-3x faster with the wide vectors (AVX2/AVX-512) that a generic x86-64 build leaves unused.
``SCRATCHNET_PORTABLE=1`` builds for the generic target instead (binaries to copy to other machines).
``-ffp-contract=off`` keeps every multiply and add rounded separately, as NumPy's twins do, so kernels whose
arithmetic is the twin's stay bit-identical to it.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from glob import glob
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup


def _compiler_accepts(flags: list[str], source: str = "int main(void){return 0;}\n") -> bool:
    """Whether the C compiler builds ``source`` with ``flags``."""
    cc = os.environ.get("CC", "cc")
    if sys.platform == "win32" or shutil.which(cc) is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "probe.c")
        src.write_text(source)
        result = subprocess.run([cc, *flags, str(src), "-o", str(Path(tmp, "probe"))], capture_output=True)
    return result.returncode == 0


USE_OPENMP = os.environ.get("SCRATCHNET_NO_OPENMP") != "1" and _compiler_accepts(
    ["-fopenmp"], "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"
)
NATIVE = ["-march=native"] if os.environ.get("SCRATCHNET_PORTABLE") != "1" else []
if NATIVE and not _compiler_accepts(NATIVE):
    NATIVE = []
compile_args = ["-O3", "-ffp-contract=off", "-fno-math-errno", *NATIVE] + (["-fopenmp"] if USE_OPENMP else [])
link_args = ["-fopenmp"] if USE_OPENMP else []

extensions = [
    Extension(
        f"scratchnet._kernels.{Path(path).stem}",
        [path],
        include_dirs=[np.get_include(), "pyx"],  # pyx/*.h: the kernels' C, included by the .pyx files
        depends=[
            "pyx/kernel_helpers.h",
            "pyx/vector_math.h",
            *sorted(glob(f"pyx/{Path(path).stem}*.h")),
        ],  # rebuilt when they change
        extra_compile_args=compile_args,
        extra_link_args=link_args,
        define_macros=[
            ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ("SCRATCHNET_NATIVE", "1" if NATIVE else "0"),
        ],
    )
    for path in sorted(glob("pyx/*.pyx"))
]

setup(
    name="scratchnet",
    version="0.1.0",
    description="A from-scratch deep-learning engine: readable NumPy layers with hand-derived backprop, "
    "Cython/OpenMP kernels and an optional CuPy backend.",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["scratchnet", "scratchnet.*"]),
    package_data={"scratchnet.datasets": ["data/*.npz", "data/*.txt", "data/*.md"]},
    install_requires=["numpy>=2", "matplotlib>=3.7", "tqdm>=4.60", "pooch>=1.7"],
    extras_require={
        "test": ["pytest>=7", "hypothesis>=6", "torch==2.13.0", "threadpoolctl>=3"],
        "bench": ["asv>=0.6", "torch==2.13.0"],
        "gpu": ["cupy-cuda12x"],
        # data parallelism over MPI (scratchnet.distributed): mpi4py and MPICH's wheel, a working mpiexec
        "mpi": ["mpi4py>=4", "mpich"],
        # the documentation site (docs/, README "Documentation"): everything it needs, MathJax included
        "docs": [
            "sphinx>=8.1,<10",
            "furo>=2024.8.6",
            "sphinx-gallery>=0.17",
            "sphinx-copybutton>=0.5.2",
            "sphinx-mathjax-offline>=0.0.2",
            "myst-parser>=4",
        ],
    },
    ext_modules=cythonize(
        extensions,
        include_path=["pyx"],  # pyx/kernel_helpers.pxd: inline helpers the kernels share
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    zip_safe=False,
)
