"""scratchnet: a from-scratch deep-learning engine with hand-derived backprop."""

from scratchnet import backend, init, losses
from scratchnet.gradcheck import gradcheck
from scratchnet.random import seed

__version__ = "0.1.0"
__all__ = ["backend", "gradcheck", "init", "losses", "seed"]
