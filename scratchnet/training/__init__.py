"""Training a model: the ``Trainer`` (mini-batch loop, evaluation, checkpoints and resume), its per-epoch
``History``, ``EarlyStopping`` and the metrics it records."""

from scratchnet.training.trainer import EarlyStopping, History, Trainer, accuracy, binary_accuracy

__all__ = ["EarlyStopping", "History", "Trainer", "accuracy", "binary_accuracy"]
