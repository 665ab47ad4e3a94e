"""scratchnet: a from-scratch deep-learning engine with hand-derived backprop.

Readable NumPy layers (``scratchnet.layers``), losses, optimizers and a training loop; energy-based and
unsupervised models (``rbm``, ``dbn``, ``autoencoder``); Cython/OpenMP kernels for the hot loops
(``scratchnet.backend.info()`` says which are built); real data sets in ``scratchnet.datasets``.
"""

from scratchnet import autoencoder, backend, dbn, init, layers, losses, optim, rbm
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
    "autoencoder",
    "backend",
    "dbn",
    "gradcheck",
    "init",
    "layers",
    "losses",
    "optim",
    "rbm",
    "seed",
    "use_device",
]
