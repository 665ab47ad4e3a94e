"""asv suites: LSTM and GRU forward+backward (PTB shapes), and one RBM CD-1 step."""

import numpy as np

from scratchnet.layers.recurrent import GRU, LSTM
from scratchnet.rbm import RBM

from .common import LSTM_SHAPES, randn


class Recurrent:
    params = (list(LSTM_SHAPES), ["LSTM", "GRU"])
    param_names = ["shape", "cell"]
    timeout = 240

    def setup(self, name, cell):
        n, t, d, h = LSTM_SHAPES[name]
        self.layer = {"LSTM": LSTM, "GRU": GRU}[cell](d, h, rng=np.random.default_rng(0))
        self.x = randn((n, t, d))
        self.g = randn((n, t, h), seed=1)

    def time_forward(self, name, cell):
        self.layer.forward(self.x)

    def time_forward_backward(self, name, cell):
        self.layer.forward(self.x)
        self.layer.backward(self.g)


class RBMStep:
    """CD-1 update of the course's 784-500 RBM on a batch of 100 binary images."""

    def setup(self):
        self.rbm = RBM(784, 500, rng=np.random.default_rng(0))
        self.v = (np.random.default_rng(1).random((100, 784)) > 0.5).astype(np.float32)

    def time_cd1_step(self):
        self.rbm.train_step(self.v, lr=0.1, k=1)
