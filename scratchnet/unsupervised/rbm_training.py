r"""Training an RBM: the SGD-with-momentum step and the mini-batch loop around ``contrastive_divergence``.

``RBMTraining`` is mixed into ``scratchnet.unsupervised.rbm.RBM``; the gradient itself (the CD-k/PCD-k estimate, the RBM's
maths) is ``RBM.contrastive_divergence``. What lives here is how that gradient is applied (the momentum
buffers ``_velocity``) and the bookkeeping of epochs, mini-batches, shuffling, callbacks and progress output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from scratchnet.arguments import check_float, check_size
from scratchnet.backend import get_array_module

if TYPE_CHECKING:
    from scratchnet.unsupervised.rbm import RBM


class RBMTraining:
    """``train_step`` (one update with the RBM's own momentum buffers) and ``fit`` (the loop over data)."""

    def _check_step_args(self, lr: Any, momentum: Any, weight_decay: Any) -> tuple[float, float, float]:
        """The SGD settings of ``train_step``/``fit``: a NaN or infinite one would poison every weight."""
        who = f"{self!r}.train_step"
        return (
            check_float(who, "lr", lr, low=0.0, low_inclusive=False),
            check_float(who, "momentum", momentum, low=0.0, high=1.0, high_inclusive=False),
            check_float(who, "weight_decay", weight_decay, low=0.0),
        )

    def train_step(
        self,
        v: Any,
        lr: float = 0.1,
        k: int = 1,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        persistent: bool = False,
    ) -> float:
        r"""One CD-k/PCD-k update with the RBM's own momentum buffers; returns the batch error.

        :math:`u \leftarrow \mu u - \eta(g + \lambda W)` (weight decay on W only), :math:`\theta \leftarrow
        \theta + u`. With ``momentum=0`` this is plain SGD ``param -= lr * grad``.
        """
        lr, momentum, weight_decay = self._check_step_args(lr, momentum, weight_decay)
        err = self.contrastive_divergence(v, k=k, persistent=persistent)
        for name, p in self.params.items():
            g = self.grads[name]
            if weight_decay and name == "W":
                g = g + weight_decay * p
            vel = self._velocity.get(name)
            if vel is None or vel.shape != p.shape or vel.dtype != p.dtype:
                vel = get_array_module(p).zeros_like(p)
            vel = momentum * vel - lr * g
            self._velocity[name] = vel
            p += vel.astype(p.dtype, copy=False)  # in place, so optimizer references stay valid
        return err

    def fit(
        self,
        data: Any,
        epochs: int = 1,
        batch_size: int = 100,
        lr: float = 0.1,
        k: int = 1,
        persistent: bool = False,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        shuffle: bool = True,
        drop_last: bool = False,
        callback: Callable[[int, RBM], Any] | None = None,
        verbose: bool = False,
    ) -> list[float]:
        """Trains with ``train_step`` over mini-batches; returns the per-batch reconstruction errors.

        ``shuffle`` permutes the rows each epoch with ``self.rng``; ``callback(epoch, rbm)`` runs after
        every epoch (e.g. to record the error on the whole set, as the labs do); ``verbose`` prints each
        epoch's mean batch error. The persistent chain, if any, carries over between calls (``reset_chain``).
        """
        data = self._check_batch(data, "fit")
        if callback is not None and not callable(callback):
            raise TypeError(f"{self!r}.fit: callback must be callable, got {type(callback).__name__}")
        epochs = check_size(repr(self), "epochs", epochs)
        batch_size = check_size(repr(self), "batch_size", batch_size)
        k = check_size(repr(self), "k", k)
        lr, momentum, weight_decay = self._check_step_args(lr, momentum, weight_decay)
        n = data.shape[0]
        if drop_last and batch_size > n:
            raise ValueError(
                f"{self!r}.fit: with drop_last=True a batch_size of {batch_size} leaves no batch of the "
                f"{n} rows to train on"
            )
        errors: list[float] = []
        for epoch in range(epochs):
            order = self.rng.permutation(n) if shuffle else np.arange(n)
            epoch_errors = []
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                if drop_last and len(idx) < batch_size:
                    break
                batch = (
                    data[get_array_module(data).asarray(idx)] if shuffle else data[start : start + batch_size]
                )
                epoch_errors.append(
                    self.train_step(
                        batch, lr=lr, k=k, momentum=momentum, weight_decay=weight_decay, persistent=persistent
                    )
                )
            errors.extend(epoch_errors)
            if verbose:
                print(
                    f"{self!r} epoch {epoch + 1}/{epochs}: reconstruction error {np.mean(epoch_errors):.6f}"
                )
            if callback is not None:
                callback(epoch, self)
        return errors
