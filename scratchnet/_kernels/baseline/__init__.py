"""The compiled kernels built for the ``baseline`` instruction-set level (``setup.py``), chosen by
``scratchnet.backend.cpu_level``."""
