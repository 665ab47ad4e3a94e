"""scratchnet: a from-scratch deep-learning engine with hand-derived backprop.

Readable NumPy layers (``scratchnet.layers``), losses, optimizers and a training loop
(``scratchnet.training``); energy-based and unsupervised models (``scratchnet.unsupervised``: RBM, DBN,
autoencoders, PCA); Cython/OpenMP kernels for the hot loops (``scratchnet.fast``; ``scratchnet.backend.info()``
says which are built); real data sets in ``scratchnet.datasets``; figures in ``scratchnet.plotting``.
The layout is described in ``scratchnet/README.md``.
"""

from scratchnet import backend, callbacks, init, layers, losses, optim, training, unsupervised
from scratchnet.backend import use_device
from scratchnet.gradcheck import gradcheck
from scratchnet.model import Sequential
from scratchnet.model_io import load_model, register_layer
from scratchnet.random import seed
from scratchnet.sampling import generate
from scratchnet.training import EarlyStopping, History, Trainer

__version__ = "0.1.0"
__all__ = [
    "EarlyStopping",
    "History",
    "Sequential",
    "Trainer",
    "backend",
    "callbacks",
    "datasets",
    "generate",
    "gradcheck",
    "init",
    "layers",
    "load_model",
    "losses",
    "optim",
    "plotting",
    "register_layer",
    "seed",
    "training",
    "unsupervised",
    "use_device",
]


def __getattr__(name: str):
    """``scratchnet.plotting`` and ``scratchnet.datasets`` after a plain ``import scratchnet``: imported on
    first use, since they load matplotlib and the download machinery, which training alone does not need."""
    if name in ("plotting", "datasets"):
        import importlib

        return importlib.import_module(f"scratchnet.{name}")
    raise AttributeError(f"module 'scratchnet' has no attribute {name!r}")
