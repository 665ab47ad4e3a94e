"""The compiled kernels built for the ``generic`` instruction-set level (``setup.py``), chosen by
``scratchnet.backend.cpu_level``."""
