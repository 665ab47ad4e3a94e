"""Build script: the package metadata plus the compiled kernels, one extension per ``pyx/*.pyx`` file.

Each ``pyx/NAME.pyx`` is built once per instruction-set level into ``scratchnet._kernels.LEVEL.NAME``, and
``scratchnet.backend.cpu_level()`` picks one level at import from the CPU's features (as NumPy's run-time
dispatch and OpenBLAS's DYNAMIC_ARCH do), so one wheel runs on any x86-64 and uses the wide vectors where
they exist. On x86-64 the levels are ``baseline`` (``-march=x86-64-v2``: SSE4.2, POPCNT), ``avx2``
(``x86-64-v3``: AVX2, FMA) and ``avx512`` (``x86-64-v4``); elsewhere (aarch64, ...) one ``generic`` build
with the compiler's defaults. ``SCRATCHNET_BUILD_LEVELS=avx512`` (comma-separated) builds a subset: a
quicker rebuild while developing. ``pyx/openmp_info.pyx``, which owns the thread setting and reads the CPU's
features, is built once, at the lowest level.

The kernels are compiled with ``-O3`` and OpenMP when the compiler accepts ``-fopenmp``; otherwise (or with
``SCRATCHNET_NO_OPENMP=1``) they are built serial, and ``scratchnet.backend.info()`` reports which build is
present. ``-ffp-contract=off`` keeps every multiply and add rounded separately, as NumPy's twins do, so
kernels whose arithmetic is the twin's stay bit-identical to it at every level; ``-fno-math-errno`` lets the
compiler vectorise square roots (the kernels never read errno).
"""

import os
import platform
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
X86_64 = platform.machine().lower() in ("x86_64", "amd64")
# lowest first; the names are scratchnet.backend.KERNEL_LEVELS'
LEVELS = (
    {"baseline": ["-march=x86-64-v2"], "avx2": ["-march=x86-64-v3"], "avx512": ["-march=x86-64-v4"]}
    if X86_64
    else {"generic": []}
)
if os.environ.get("SCRATCHNET_BUILD_LEVELS", "").strip():
    wanted = [name.strip() for name in os.environ["SCRATCHNET_BUILD_LEVELS"].split(",")]
    unknown = sorted(set(wanted) - set(LEVELS))
    if unknown:
        sys.exit(f"SCRATCHNET_BUILD_LEVELS: unknown level(s) {unknown}; this platform has {list(LEVELS)}")
    LEVELS = {name: flags for name, flags in LEVELS.items() if name in wanted}
LEVELS = {name: flags for name, flags in LEVELS.items() if _compiler_accepts(flags)}
compile_args = ["-O3", "-ffp-contract=off", "-fno-math-errno"] + (["-fopenmp"] if USE_OPENMP else [])
link_args = ["-fopenmp"] if USE_OPENMP else []
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}


def kernel_extensions(paths: list[str], package: str, flags: list[str], level: str) -> list:
    """One extension per ``.pyx`` in ``paths``, named ``package.STEM``, compiled with ``flags``; Cython's C
    goes to a folder per level (the same ``.pyx`` gives a module of another name at each level)."""
    extensions = [
        Extension(
            f"{package}.{Path(path).stem}",
            [path],
            include_dirs=[np.get_include(), "pyx"],  # pyx/*.h: the kernels' C, included by the .pyx files
            depends=[
                "pyx/kernel_helpers.h",
                "pyx/vector_math.h",
                *sorted(glob(f"pyx/{Path(path).stem}*.h")),
            ],  # rebuilt when they change
            extra_compile_args=[*compile_args, *flags],
            extra_link_args=link_args,
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
        for path in paths
    ]
    # pyx/kernel_helpers.pxd: inline helpers the kernels share
    return cythonize(
        extensions, include_path=["pyx"], build_dir=f"build/cython/{level}", compiler_directives=DIRECTIVES
    )


kernels = [path for path in sorted(glob("pyx/*.pyx")) if Path(path).stem != "openmp_info"]
lowest = next(iter(LEVELS), None)
ext_modules = (
    []
    if lowest is None
    else kernel_extensions(["pyx/openmp_info.pyx"], "scratchnet._kernels", LEVELS[lowest], lowest)
)
for level, flags in LEVELS.items():
    ext_modules += kernel_extensions(kernels, f"scratchnet._kernels.{level}", flags, level)

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
        "test": ["pytest>=7", "hypothesis>=6", "torch==2.13.0", "threadpoolctl>=3", "build>=1"],
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
    ext_modules=ext_modules,
    zip_safe=False,
)
