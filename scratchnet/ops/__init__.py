"""Readable NumPy twins of the compiled kernels (``pyx/``): the version a learner reads first, the oracle
the kernel tests compare against, and the fallback when the extension is not built.

Each twin (``im2col.py``, ``pooling.py``) is its docstring with the maths and its kernels; the argument
checks both implementations share are in ``arguments.py``."""
