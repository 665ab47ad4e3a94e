"""Layers: each has forward(x), backward(dout) -> dx, params, grads, train()/eval()."""

from scratchnet.layers.activations import (
    ELU,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Step,
    Tanh,
)
from scratchnet.layers.base import Layer, ParamRef
from scratchnet.layers.dense import Dense
from scratchnet.layers.dropout import Dropout
from scratchnet.layers.normalization import BatchNorm1D, BatchNorm2D
from scratchnet.layers.reshape import Flatten

__all__ = [
    "BatchNorm1D",
    "BatchNorm2D",
    "Dense",
    "Dropout",
    "ELU",
    "Flatten",
    "Identity",
    "Layer",
    "LeakyReLU",
    "ParamRef",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Step",
    "Tanh",
]
