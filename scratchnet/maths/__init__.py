"""Tier-1 maths helpers that the layers use, in plain NumPy (the version a learner reads):

* ``im2col.py``: a convolution as one matrix product (im2col / col2im), with its geometry (output size,
  'same' padding);
* ``pooling.py``: the max and average pooling windows, forward and backward;
* ``signal.py``: convolution and cross-correlation of signals and images, written out for reading.

``im2col`` and ``pooling`` are also the NumPy twins of compiled kernels (``pyx/``): the tests hold each
kernel equal to its twin, and ``backend.kernel(name)`` runs the twin when the kernels are not built or the
reference is selected. Nothing here imports the fast paths (``scratchnet.fast``).
"""
