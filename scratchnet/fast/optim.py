"""The optimizers' fast paths: Adam's update of each parameter on the ``adam`` kernel (``pyx/adam.pyx``), one
pass over the parameter and its moments on the kernels' threads where ``Adam.update_step``
(``scratchnet/optim.py``) makes some thirteen NumPy passes on one core. Same operations in the same
order: bit-identical to the optimizer's own code.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scratchnet import backend
from scratchnet.backend import get_array_module


def adam_update_step(opt: Any, p: np.ndarray, g: np.ndarray, state: dict) -> None:
    """``Adam.update_step``: ``p`` and its moments ``m``, ``v`` updated in place."""
    b1, b2 = opt.betas
    t = opt.step_count
    m = opt.state_buffer(state, "m", p)
    v = opt.state_buffer(state, "v", p)
    step, bias2 = opt.lr / (1 - b1**t), math.sqrt(1 - b2**t)
    backend.kernel("adam", get_array_module(p)).adam_update(p, g, m, v, b1, b2, step, bias2, opt.eps)
