"""Layers: each has forward(x), backward(dout) -> dx, params, grads, train()/eval()."""

from scratchnet.layers.activations import (
    ELU,
    GELU,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Step,
    Tanh,
    make_activation,
)
from scratchnet.layers.attention import MultiHeadAttention, PositionalEmbedding, TransformerBlock
from scratchnet.layers.base import InputSpec, Layer, ParamRef
from scratchnet.layers.blocks import InceptionBlock, ResidualBlock
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.conv1d import Conv1D
from scratchnet.layers.dense import Dense
from scratchnet.layers.dropout import Dropout
from scratchnet.layers.embedding import Embedding
from scratchnet.layers.lrn import LocalResponseNorm
from scratchnet.layers.normalization import BatchNorm1D, BatchNorm2D, LayerNorm
from scratchnet.layers.pooling import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from scratchnet.layers.recurrent import GRU, LSTM, RNN
from scratchnet.layers.reshape import Flatten
from scratchnet.layers.time_distributed import TimeDistributed

__all__ = [
    "AvgPool2D",
    "BatchNorm1D",
    "BatchNorm2D",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "ELU",
    "Embedding",
    "Flatten",
    "GELU",
    "GRU",
    "GlobalAvgPool2D",
    "Identity",
    "InceptionBlock",
    "InputSpec",
    "LSTM",
    "Layer",
    "LayerNorm",
    "LeakyReLU",
    "LocalResponseNorm",
    "MaxPool2D",
    "MultiHeadAttention",
    "ParamRef",
    "PositionalEmbedding",
    "RNN",
    "ReLU",
    "ResidualBlock",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Softplus",
    "Step",
    "Tanh",
    "TimeDistributed",
    "TransformerBlock",
    "make_activation",
]
