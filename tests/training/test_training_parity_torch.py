"""Training parity with PyTorch: the course's MNIST networks, trained for 30 Adam steps in scratchnet and in
PyTorch from the same initial weights on the same batches, follow the same loss trajectory.

This is the evidence behind chapters 7 and 10: if scratchnet's layers, loss, gradients and Adam are right,
the two libraries compute the same function and the same updates, so the per-step losses agree to rounding.
The check runs in float32, the dtype scratchnet trains in and the chapters' numbers come from, so parity
there is the claim that matters. The two libraries then differ only by rounding (summation order inside
different GEMM and convolution algorithms): over these 30 steps the per-step losses measured within ~6e-6
of each other, and rounding grows slowly enough that 1e-3 leaves a wide margin while still being far below
any real fault (a wrong gradient term, a missing Adam bias correction or an off-by-one 'SAME' padding moves
the loss by 1e-2 or more within a few steps). float64 would shrink the rounding further but PyTorch's float64
convolutions take the slow reference path, several times the cost, for no extra power to find bugs here.
(The per-layer float32 forward/backward parity is in ``test_torch_parity.py``.)

The data are the first digits of the 5,000-image MNIST subset embedded in scratchnet, so the test runs in
seconds without any data files. Dropout is left out: the two libraries draw different masks.
"""

from __future__ import annotations

import numpy as np
import pytest
from layer_checks import import_torch

import scratchnet as sn
from scratchnet import init
from scratchnet.datasets import load_mnist_5k
from scratchnet.layers import Dense, Flatten, ReLU
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.pooling import MaxPool2D
from scratchnet.losses import SoftmaxCrossEntropy

torch = import_torch()

STEPS, BATCH, TOL = 30, 10, 1e-3
DTYPE = np.float32


def course_cnn() -> sn.Sequential:
    """lab-11-1's simple CNN: bias-free N(0, 0.01) 3x3 kernels, 'SAME' conv and pooling, Xavier dense layer
    with an N(0, 1) bias."""
    small = init.get("normal", std=0.01)
    return sn.Sequential(
        [
            Conv2D(1, 32, 3, padding="same", weight_init=small, bias=False, dtype=DTYPE),
            ReLU(),
            MaxPool2D(2, padding="same"),
            Conv2D(32, 64, 3, padding="same", weight_init=small, bias=False, dtype=DTYPE),
            ReLU(),
            MaxPool2D(2, padding="same"),
            Flatten(),
            Dense(7 * 7 * 64, 10, weight_init="xavier", bias_init=init.get("normal", std=1.0), dtype=DTYPE),
        ]
    )


def course_deep_cnn_stages() -> sn.Sequential:
    """lab-11-2's three conv/pool stages (7 -> 4 is an odd 'SAME' pool) and its dense 625, without dropout."""
    small = init.get("normal", std=0.01)
    normal1 = init.get("normal", std=1.0)
    layers = []
    for cin, cout in ((1, 32), (32, 64), (64, 128)):
        layers += [
            Conv2D(cin, cout, 3, padding="same", weight_init=small, bias=False, dtype=DTYPE),
            ReLU(),
            MaxPool2D(2, padding="same"),
        ]
    layers += [
        Flatten(),
        Dense(4 * 4 * 128, 625, weight_init="xavier", bias_init=normal1, dtype=DTYPE),
        ReLU(),
        Dense(625, 10, weight_init="xavier", bias_init=normal1, dtype=DTYPE),
    ]
    return sn.Sequential(layers)


def course_mlp() -> sn.Sequential:
    """The Korean deck's 784-256-128-64-10 ReLU net, Xavier weights and N(0, 1) biases (0.9769 recipe)."""
    sizes = [784, 256, 128, 64, 10]
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(Dense(a, b, weight_init="xavier", bias_init=init.get("normal", std=1.0), dtype=DTYPE))
        if i < len(sizes) - 2:
            layers.append(ReLU())
    return sn.Sequential(layers)


def torch_twin(model: sn.Sequential):
    """The same network in PyTorch, holding copies of scratchnet's initial weights."""
    nn = torch.nn
    layers = []
    for layer in model.layers:
        if isinstance(layer, Conv2D):
            conv = nn.Conv2d(
                layer.in_channels,
                layer.out_channels,
                layer.kernel_size,
                padding="same",
                bias="b" in layer.params,
            )
            conv.weight.data = torch.tensor(np.array(layer.params["W"]))
            if "b" in layer.params:
                conv.bias.data = torch.tensor(np.array(layer.params["b"]))
            layers.append(conv)
        elif isinstance(layer, Dense):
            lin = nn.Linear(layer.in_features, layer.out_features)
            lin.weight.data = torch.tensor(np.array(layer.params["W"]).T.copy())  # ours is (in, out)
            lin.bias.data = torch.tensor(np.array(layer.params["b"]))
            layers.append(lin)
        elif isinstance(layer, ReLU):
            layers.append(nn.ReLU())
        elif isinstance(layer, MaxPool2D):
            layers.append(nn.MaxPool2d(2, ceil_mode=True))  # TF 'SAME' 2x2/2: a partial window at the end
        elif isinstance(layer, Flatten):
            layers.append(nn.Flatten())
        else:
            raise TypeError(f"torch_twin: no twin for {layer!r}")
    return nn.Sequential(*layers).float()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """PyTorch's OpenMP threads spin after each op and would steal the cores from scratchnet's next step."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def batches():
    """STEPS batches of BATCH digits from the embedded 5k subset, in a fixed shuffled order."""
    data = load_mnist_5k(normalize=True, download=False)
    order = np.random.default_rng(0).permutation(len(data.x))[: STEPS * BATCH]
    x = data.x[order].astype(DTYPE).reshape(STEPS, BATCH, 1, 28, 28)
    y = data.y[order].astype(np.int64).reshape(STEPS, BATCH)
    return x, y


def trajectories(make, lr: float, x: np.ndarray, y: np.ndarray, flat: bool) -> tuple[np.ndarray, np.ndarray]:
    sn.seed(0)
    model = make()
    twin = torch_twin(model)
    trainer = sn.Trainer(model, SoftmaxCrossEntropy(), sn.optim.Adam(model.parameters(), lr=lr))
    opt = torch.optim.Adam(twin.parameters(), lr=lr)
    ours, theirs = [], []
    for xb, yb in zip(x, y):
        xb = xb.reshape(len(xb), -1) if flat else xb
        ours.append(trainer.train_step(xb, yb)[0])
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(twin(torch.tensor(xb)), torch.tensor(yb))
        loss.backward()
        opt.step()
        theirs.append(loss.item())
    return np.array(ours), np.array(theirs)


@pytest.mark.parametrize(
    "make,lr,flat",
    [
        (course_cnn, 1e-3, False),
        (course_deep_cnn_stages, 1e-3, False),
        (course_mlp, 1e-2, True),
    ],
    ids=["simple_cnn_adam1e-3", "deep_cnn_no_dropout_adam1e-3", "mlp_256_128_64_adam1e-2"],
)
def test_adam_trajectory_matches_torch(batches, make, lr, flat):
    ours, theirs = trajectories(make, lr, *batches, flat=flat)
    assert np.all(np.isfinite(ours))
    # the network learns in 30 steps, so the comparison covers real updates, not a flat line
    assert ours[-5:].mean() < 0.8 * ours[:5].mean(), ours
    gap = np.abs(ours - theirs)
    assert gap.max() < TOL, (
        f"step {int(gap.argmax())}: ours {ours[gap.argmax()]}, torch {theirs[gap.argmax()]}"
    )
