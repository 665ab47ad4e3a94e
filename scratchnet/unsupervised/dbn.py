r"""Deep belief network: a stack of RBMs pre-trained greedily, one layer at a time, then fine-tuned.

Greedy layer-wise pre-training (Hinton, Osindero & Teh, 2006): train RBM 1 on the data with CD; freeze it
and feed its hidden probabilities :math:`p(h^{(1)}|v)` as the data of RBM 2; and so on up the stack. No
labels are used. The weights ``W`` and hidden biases ``hb`` of each RBM then initialise a feed-forward
network of sigmoid layers, :math:`a_{l+1} = \sigma(a_l W_l + hb_l)` -- exactly the upward pass the RBMs
computed -- to which an output layer is added and the whole is fine-tuned with backpropagation
(``to_sequential`` builds it for ``scratchnet.training.Trainer``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from scratchnet.arguments import as_float_dtype, check_rng, check_size, check_sizes
from scratchnet.layers.activations import make_activation
from scratchnet.layers.base import Layer
from scratchnet.random import get_rng
from scratchnet.unsupervised.rbm import RBM


def _per_layer(name: str, value: Any, n: int) -> list[Any]:
    if isinstance(value, list | tuple):
        if len(value) != n:
            raise ValueError(f"DBN.pretrain: {name} needs one value per RBM ({n}), got {len(value)}")
        return list(value)
    return [value] * n


class DBN(Layer):
    """Stacked RBMs ``layer_sizes = [V, H1, H2, ...]`` (the course: 784-500-200-50).

    As a layer, ``forward(x)`` is the upward mean-field pass through every RBM (top hidden probabilities)
    and ``backward`` backpropagates through those sigmoid layers, so a DBN can also be fine-tuned in place;
    ``to_sequential`` gives the usual classifier instead. ``rbms[i]`` is RBM i (named "rbm{i}").
    """

    def __init__(
        self,
        layer_sizes: Sequence[int] = (784, 500, 200, 50),
        weight_init: Any = "normal",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
        rbm_class: type[RBM] = RBM,
    ) -> None:
        super().__init__()
        sizes = check_sizes("DBN", "layer_sizes", layer_sizes)
        if len(sizes) < 2:
            raise ValueError(f"DBN: layer_sizes needs a visible and at least one hidden size, got {sizes}")
        dt = as_float_dtype(dtype, "DBN")
        rng = get_rng() if check_rng("DBN", rng) is None else rng
        if not (isinstance(rbm_class, type) and issubclass(rbm_class, RBM)):
            raise TypeError(f"DBN: rbm_class must be RBM or a subclass of it, got {rbm_class!r}")
        self.weight_init = weight_init
        self.rbms: list[RBM] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            rbm = rbm_class(n_in, n_out, weight_init=weight_init, dtype=dt, rng=rng)
            rbm.name = f"rbm{i}"
            self.rbms.append(rbm)
        self.layer_sizes = [rbm.n_visible for rbm in self.rbms[:1]] + [rbm.n_hidden for rbm in self.rbms]

    def children(self) -> list[Layer]:
        return list(self.rbms)

    def __repr__(self) -> str:
        return f"DBN(layer_sizes={self.layer_sizes})"

    def check_input(self, x: Any) -> np.ndarray:
        """Visible rows for the first RBM (values in [0, 1])."""
        return self.rbms[0]._check_visible(x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for rbm in self.rbms:
            x = rbm(x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for rbm in reversed(self.rbms):
            dout = rbm.backprop(dout)
        return dout

    def transform(self, x: Any, n_layers: int | None = None) -> np.ndarray:
        """Hidden probabilities after the first ``n_layers`` RBMs (default: all of them)."""
        n = (
            len(self.rbms)
            if n_layers is None
            else check_size(f"{self!r}.transform", "n_layers", n_layers, minimum=0)
        )
        if not 0 <= n <= len(self.rbms):
            raise ValueError(
                f"{self!r}.transform: n_layers must be in [0, {len(self.rbms)}], got {n_layers!r}"
            )
        if n == 0:
            return self.rbms[0]._check_visible(x)
        for rbm in self.rbms[:n]:
            x = rbm.transform(x)
        return x

    def pretrain(
        self,
        x: Any,
        epochs: int | Sequence[int] = 5,
        batch_size: int = 100,
        lr: float | Sequence[float] = 1.0,
        k: int = 1,
        persistent: bool = False,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        shuffle: bool = True,
        callback: Callable[[int, int, RBM], Any] | None = None,
        verbose: bool = False,
    ) -> list[list[float]]:
        """Greedy layer-wise CD training; returns one list of per-batch reconstruction errors per RBM.

        RBM i is trained with ``RBM.fit`` on the hidden probabilities of RBMs 0..i-1 (which stay fixed).
        ``epochs`` and ``lr`` may be given per RBM. ``callback(rbm_index, epoch, rbm)`` runs after every
        epoch. The default lr 1.0 with batch 100 is the course DBN lab's setting (its weight statistics
        are averaged over the batch, as here).
        """
        n = len(self.rbms)
        epochs_l, lr_l = _per_layer("epochs", epochs, n), _per_layer("lr", lr, n)
        # every setting is checked before RBM 0 trains: a bad value for RBM 2 must not leave a half-trained stack
        for i, rbm in enumerate(self.rbms):
            epochs_l[i] = check_size(f"DBN.pretrain (RBM {i})", "epochs", epochs_l[i])
            lr_l[i], momentum, weight_decay = rbm._check_step_args(lr_l[i], momentum, weight_decay)
        batch_size = check_size("DBN.pretrain", "batch_size", batch_size)
        k = check_size("DBN.pretrain", "k", k)
        if callback is not None and not callable(callback):
            raise TypeError(f"DBN.pretrain: callback must be callable, got {type(callback).__name__}")
        data = self.rbms[0]._check_batch(x, "pretrain")
        histories: list[list[float]] = []
        for i, rbm in enumerate(self.rbms):
            if verbose:
                print(f"DBN: pre-training {rbm!r} on {data.shape[0]} rows")
            cb = None if callback is None else (lambda epoch, r, i=i: callback(i, epoch, r))
            histories.append(
                rbm.fit(
                    data,
                    epochs=epochs_l[i],
                    batch_size=batch_size,
                    lr=lr_l[i],
                    k=k,
                    persistent=persistent,
                    momentum=momentum,
                    weight_decay=weight_decay,
                    shuffle=shuffle,
                    callback=cb,
                    verbose=verbose,
                )
            )
            if i < n - 1:
                data = rbm.transform(data)
        return histories

    def to_sequential(
        self,
        n_classes: int,
        output_activation: Any = None,
        output_weight_init: Any = "xavier",
        pretrained: bool = True,
        weight_init: Any = "xavier",
        rng: np.random.Generator | None = None,
    ):
        """A ``Sequential`` of ``Dense(W_i, hb_i) + Sigmoid`` per RBM plus an output ``Dense(top, n_classes)``.

        ``pretrained=True`` copies each RBM's ``W`` and ``hb`` into its Dense layer (copies: fine-tuning
        leaves the DBN as it was); ``pretrained=False`` builds the same architecture with fresh
        ``weight_init`` weights, the from-scratch baseline. ``output_activation`` (None: raw logits for
        ``SoftmaxCrossEntropy``; "sigmoid" or "softmax" as in the course's MSE-trained classifier) is
        appended after the output layer.
        """
        from scratchnet.layers.activations import Sigmoid
        from scratchnet.layers.dense import Dense
        from scratchnet.model import Sequential

        n_classes = check_size(f"{self!r}.to_sequential", "n_classes", n_classes)
        rng = get_rng() if check_rng(f"{self!r}.to_sequential", rng) is None else rng
        dt = self.dtype
        layers: list[Layer] = []
        for rbm in self.rbms:
            dense = Dense(rbm.n_visible, rbm.n_hidden, weight_init=weight_init, dtype=dt, rng=rng)
            if pretrained:
                dense.params["W"][...] = rbm.params["W"]
                dense.params["b"][...] = rbm.params["hb"]
            layers += [dense, Sigmoid()]
        layers.append(
            Dense(self.layer_sizes[-1], int(n_classes), weight_init=output_weight_init, dtype=dt, rng=rng)
        )
        if output_activation is not None:
            layers.append(make_activation(output_activation))
        return Sequential(layers)
