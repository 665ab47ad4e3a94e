"""Tier 2: what runs by default, each function computing what a layer's own code (tier 1, in
``scratchnet/layers/``) computes, faster. ``backend.FAST_PATHS`` says which function replaces which layer
method, and ``Layer.__call__`` / ``Layer.backprop`` (``layers/base.py``) make the choice on every call.

* ``conv.py`` (with ``winograd.py``, ``direct_conv.py``): Conv2D by im2col with reused buffers, Winograd or
  a direct tap-by-tap kernel, chosen per layer shape;
* ``dense.py``, ``batched_gemm.py``: matrix products on the kernels' own OpenMP threads;
* ``activations.py``, ``relu.py``: ReLU on all threads; ``fusion.py``: each Conv2D -> ReLU pair of a
  ``Sequential`` in one pass;
* ``recurrent.py``, ``lstm_cell.py``: the RNN/LSTM/GRU time loops in place, the LSTM step in one pass;
* ``fingerprint.py``: the check the layer base class makes that a backward's arrays were not changed.

The modules named like a compiled kernel (``batched_gemm``, ``direct_conv``, ``relu``, ``lstm_cell``,
``fingerprint``, the transforms in ``winograd``) are also that kernel's NumPy twin. Layers never import
this package.
"""
