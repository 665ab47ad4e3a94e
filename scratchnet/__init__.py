"""scratchnet: a from-scratch deep-learning engine with hand-derived backprop.

Readable NumPy layers (``scratchnet.layers``), losses, optimizers and a training loop
(``scratchnet.training``); energy-based and unsupervised models (``scratchnet.unsupervised``: RBM, DBN,
autoencoders, PCA); Cython/OpenMP kernels for the hot loops (``scratchnet.fast``; ``scratchnet.backend.info()``
says which are built); real data sets in ``scratchnet.datasets``; figures in ``scratchnet.plotting``.
The layout is described in ``scratchnet/README.md``.
"""

from scratchnet import backend, init, layers, losses, optim, training, unsupervised
from scratchnet.backend import use_device
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
    "training",
    "unsupervised",
    "use_device",
]
