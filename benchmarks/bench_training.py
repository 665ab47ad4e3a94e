"""asv suite: one Adam training step of the course's MNIST CNN (conv 32 -> pool -> conv 64 -> pool -> dense)."""

import numpy as np

import scratchnet as sn
from scratchnet.layers import Dense, Flatten, ReLU
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.pooling import MaxPool2D
from scratchnet.losses import SoftmaxCrossEntropy


def course_cnn():
    """The course's simple CNN: 3x3 conv 32, 2x2 pool, 3x3 conv 64, 2x2 pool, dense 10."""
    return sn.Sequential(
        [
            Conv2D(1, 32, 3, padding="same"),
            ReLU(),
            MaxPool2D(2),
            Conv2D(32, 64, 3, padding="same"),
            ReLU(),
            MaxPool2D(2),
            Flatten(),
            Dense(7 * 7 * 64, 10),
        ]
    )


class CourseCNNStep:
    timeout = 240

    def setup(self):
        sn.seed(0)
        rng = np.random.default_rng(0)
        self.model = course_cnn()
        self.trainer = sn.Trainer(self.model, SoftmaxCrossEntropy(), sn.optim.Adam(self.model.parameters()))
        self.x = rng.random((100, 1, 28, 28), dtype=np.float32)
        self.y = rng.integers(0, 10, 100)

    def time_train_step(self):
        self.trainer.train_step(self.x, self.y)
