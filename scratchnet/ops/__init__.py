"""Readable NumPy twins of the compiled kernels (``pyx/``): the version a learner reads first, the oracle
the kernel tests compare against, and the fallback when the extension is not built."""
