"""Layers: each has forward(x), backward(dout) -> dx, params, grads, train()/eval()."""

from scratchnet.layers.base import Layer

__all__ = ["Layer"]
