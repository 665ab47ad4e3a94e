"""asv suite: Dense forward/backward and one optimizer step on the course's MNIST MLP shapes."""

import numpy as np

import scratchnet as sn
from scratchnet.layers import Dense, ReLU
from scratchnet.losses import SoftmaxCrossEntropy

from .common import backward, forward


class DenseLayer:
    params = ([(100, 784, 256), (100, 256, 256), (100, 256, 10)],)
    param_names = ["N, in, out"]

    def setup(self, shape):
        n, d_in, d_out = shape
        rng = np.random.default_rng(0)
        self.layer = Dense(d_in, d_out, rng=rng)
        self.x = rng.standard_normal((n, d_in)).astype(np.float32)
        self.g = rng.standard_normal((n, d_out)).astype(np.float32)

    def time_forward(self, shape):
        forward(self.layer, self.x)

    def time_forward_backward(self, shape):
        forward(self.layer, self.x)
        backward(self.layer, self.g)


class MLPTrainingStep:
    """One Adam step of the course's 784-256-256-10 ReLU network on a batch of 100."""

    def setup(self):
        sn.seed(0)
        rng = np.random.default_rng(0)
        self.model = sn.Sequential([Dense(784, 256), ReLU(), Dense(256, 256), ReLU(), Dense(256, 10)])
        self.trainer = sn.Trainer(self.model, SoftmaxCrossEntropy(), sn.optim.Adam(self.model.parameters()))
        self.x = rng.random((100, 784), dtype=np.float32)
        self.y = rng.integers(0, 10, 100)

    def time_train_step(self):
        self.trainer.train_step(self.x, self.y)
