"""Training a model: the ``Trainer`` (``trainer.py``: mini-batch loop and evaluation; ``checkpoints.py``: what
a checkpoint holds and how a resume is checked; ``data.py``: arrays or batch iterables; ``parallel.py``: the
loop on several ranks), its per-epoch ``History``, ``EarlyStopping`` and the metrics it records."""

from scratchnet.training.early_stopping import EarlyStopping
from scratchnet.training.history import History
from scratchnet.training.metrics import accuracy, binary_accuracy
from scratchnet.training.trainer import Trainer

__all__ = ["EarlyStopping", "History", "Trainer", "accuracy", "binary_accuracy"]
