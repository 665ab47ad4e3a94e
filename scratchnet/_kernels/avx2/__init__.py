"""The compiled kernels built for the ``avx2`` instruction-set level (``setup.py``), chosen by
``scratchnet.backend.cpu_level``."""
