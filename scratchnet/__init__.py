"""scratchnet: a from-scratch deep-learning engine with hand-derived backprop.

Readable NumPy layers (``scratchnet.layers``), losses, optimizers and a training loop; Cython/OpenMP
kernels for the hot loops (``scratchnet.backend.info()`` says which are built).
"""

from scratchnet import backend, init, layers, losses, optim
from scratchnet.gradcheck import gradcheck
from scratchnet.model import Sequential
from scratchnet.random import seed
from scratchnet.training import EarlyStopping, History, Trainer

__version__ = "0.1.0"
__all__ = [
    "EarlyStopping",
    "History",
    "Sequential",
    "Trainer",
    "backend",
    "gradcheck",
    "init",
    "layers",
    "losses",
    "optim",
    "seed",
]
