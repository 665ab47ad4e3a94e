"""asv suites: LSTM and GRU forward+backward (PTB shapes), the fused LSTM step kernel, and one RBM CD-1 step."""

import numpy as np

from scratchnet.layers.recurrent import GRU, LSTM

try:
    from scratchnet.unsupervised.rbm import RBM
except ImportError:  # commits before the package layout of #27 (the asv history runs them too)
    from scratchnet.rbm import RBM

from .common import LSTM_SHAPES, backward, forward, randn


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
        forward(self.layer, self.x)

    def time_forward_backward(self, name, cell):
        forward(self.layer, self.x)
        backward(self.layer, self.g)


class LSTMStepKernel:
    """One LSTM step's element-wise work (N=20, H=650), forward and backward: compiled vs NumPy twin."""

    params = ["compiled", "numpy"]
    param_names = ["kernels"]

    def setup(self, kernels):
        from scratchnet import backend
        from scratchnet.fast import lstm_cell as twin

        self.k = backend.kernel("lstm_cell") if kernels == "compiled" else twin
        n, h = 20, 650
        self.pre, self.hw = randn((n, 4 * h)), randn((n, 4 * h), seed=1)
        self.gates = 1 / (1 + np.exp(-self.pre))
        self.c_prev, self.h_prev, self.tc = (
            randn((n, h), seed=2),
            randn((n, h), seed=3),
            randn((n, h), seed=4),
        )
        self.out = [np.empty((n, h), np.float32) for _ in range(3)]
        self.g4, self.d = np.empty_like(self.pre), np.empty_like(self.pre)

    def time_forward_step(self, kernels):
        self.g4[...] = self.pre
        self.k.forward_step(self.g4, self.hw, self.c_prev, self.h_prev, *self.out)

    def time_backward_step(self, kernels):
        dh, dc = self.out[0], self.out[1]
        dh[...], dc[...] = self.h_prev, self.c_prev
        self.k.backward_step(self.gates, self.tc, self.c_prev, dh, dc, self.d)


class RBMStep:
    """CD-1 update of the course's 784-500 RBM on a batch of 100 binary images."""

    def setup(self):
        self.rbm = RBM(784, 500, rng=np.random.default_rng(0))
        self.v = (np.random.default_rng(1).random((100, 784)) > 0.5).astype(np.float32)

    def time_cd1_step(self):
        self.rbm.train_step(self.v, lr=0.1, k=1)
