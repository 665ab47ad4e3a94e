r"""Composite CNN blocks: a ResNet residual block and a small GoogLeNet-style inception block.

Both are ordinary layers built from sub-layers (listed by ``children()``, so train/eval, ``astype``,
``zero_grad`` and dotted parameter names such as ``conv1.W`` come from the base class). Their backward
passes are just the chain rule through the graph:

* **Residual**: :math:`y = \mathrm{ReLU}(F(x) + S(x))` with :math:`F` = conv3x3-BN-ReLU-conv3x3-BN and
  :math:`S` the identity (or a strided 1x1 conv + BN when the shape changes). The sum sends the same
  gradient down both paths, so :math:`\partial L/\partial x = F'^\top g + S'^\top g` -- the identity path
  hands :math:`g` straight to earlier layers, which is why very deep ResNets still train.
* **Inception**: four branches (1x1; 1x1 -> 3x3; 1x1 -> 5x5; 3x3 max-pool -> 1x1) see the same input and
  their outputs are concatenated on the channel axis. Backward slices ``dout`` back into the branches'
  channel ranges and sums the branches' input gradients, since all of them read ``x``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import check_image_shape, check_size
from scratchnet.backend import get_array_module
from scratchnet.layers.activations import ReLU
from scratchnet.layers.base import InputSpec, Layer
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.normalization import BatchNorm2D
from scratchnet.layers.pooling import MaxPool2D


def _named(layer: Layer, name: str) -> Layer:
    layer.name = name  # read by Layer.named_layers for dotted parameter names
    return layer


def _check_positive(who: str, **values: Any) -> None:
    for name, v in values.items():
        check_size(who, name, v)


class ResidualBlock(Layer):
    """ResNet basic block: ``ReLU(BN(conv3x3(ReLU(BN(conv3x3(x))))) + shortcut(x))``.

    The first conv carries the ``stride``; the shortcut is the identity when the shape is unchanged,
    otherwise a 1x1 convolution with that stride followed by batch norm (a "projection").
    """

    input_spec = InputSpec("(N, C, H, W)", ndim=4, channels="in_channels")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_positive("ResidualBlock", in_channels=in_channels, out_channels=out_channels, stride=stride)
        self.in_channels, self.out_channels, self.stride = int(in_channels), int(out_channels), int(stride)
        conv = dict(bias=False, dtype=dtype, rng=rng)  # BN's beta makes a conv bias redundant
        self.conv1 = _named(Conv2D(in_channels, out_channels, 3, stride, 1, **conv), "conv1")
        self.bn1 = _named(BatchNorm2D(out_channels, dtype=dtype), "bn1")
        self.relu1 = _named(ReLU(), "relu1")
        self.conv2 = _named(Conv2D(out_channels, out_channels, 3, 1, 1, **conv), "conv2")
        self.bn2 = _named(BatchNorm2D(out_channels, dtype=dtype), "bn2")
        self.projection = stride != 1 or in_channels != out_channels
        if self.projection:
            self.proj = _named(Conv2D(in_channels, out_channels, 1, stride, 0, **conv), "proj")
            self.proj_bn = _named(BatchNorm2D(out_channels, dtype=dtype), "proj_bn")
        self.relu_out = _named(ReLU(), "relu_out")

    def __repr__(self) -> str:
        return f"ResidualBlock({self.in_channels}, {self.out_channels}, stride={self.stride})"

    def children(self) -> list[Layer]:
        main = [self.conv1, self.bn1, self.relu1, self.conv2, self.bn2]
        return main + ([self.proj, self.proj_bn] if self.projection else []) + [self.relu_out]

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return self.conv1.output_shape(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_image_shape(x.shape, repr(self))  # no empty images or batches, named after the block
        h = self.relu1(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        shortcut = self.proj_bn(self.proj(x)) if self.projection else x
        return self.relu_out(h + shortcut)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        g = self.relu_out.backprop(dout)  # the sum node passes g to both paths unchanged
        dh = self.bn2.backprop(g)
        dh = self.conv2.backprop(dh)
        dh = self.bn1.backprop(self.relu1.backprop(dh))
        dx = self.conv1.backprop(dh)
        return dx + (self.proj.backprop(self.proj_bn.backprop(g)) if self.projection else g)


class InceptionBlock(Layer):
    """GoogLeNet-style block; output channels ``c1 + c3 + c5 + pool_proj`` at the input's resolution.

    Branches: 1x1 conv (``c1``); 1x1 reduce (``c3_reduce``) -> 3x3 conv (``c3``); 1x1 reduce
    (``c5_reduce``) -> 5x5 conv (``c5``); 3x3 max-pool (stride 1) -> 1x1 conv (``pool_proj``).
    Every conv is followed by a ReLU and uses 'same' padding.
    """

    input_spec = InputSpec("(N, C, H, W)", ndim=4, channels="in_channels")

    def __init__(
        self,
        in_channels: int,
        c1: int,
        c3_reduce: int,
        c3: int,
        c5_reduce: int,
        c5: int,
        pool_proj: int,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        _check_positive(
            "InceptionBlock", in_channels=in_channels, c1=c1, c3_reduce=c3_reduce, c3=c3,
            c5_reduce=c5_reduce, c5=c5, pool_proj=pool_proj,
        )  # fmt: skip
        self.config = (in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj)
        self.in_channels = int(in_channels)
        opts = dict(padding="same", dtype=dtype, rng=rng)

        def conv(name: str, cin: int, cout: int, k: int) -> list[Layer]:
            return [_named(Conv2D(cin, cout, k, **opts), f"{name}_conv"), _named(ReLU(), f"{name}_relu")]

        self.branches: list[list[Layer]] = [
            conv("b1", in_channels, c1, 1),
            conv("b2_reduce", in_channels, c3_reduce, 1) + conv("b2", c3_reduce, c3, 3),
            conv("b3_reduce", in_channels, c5_reduce, 1) + conv("b3", c5_reduce, c5, 5),
            [_named(MaxPool2D(3, stride=1, padding="same"), "b4_pool")]
            + conv("b4", in_channels, pool_proj, 1),
        ]
        self.splits = np.cumsum([c1, c3, c5, pool_proj])[:-1].tolist()
        self.out_channels = int(c1 + c3 + c5 + pool_proj)

    def __repr__(self) -> str:
        return "InceptionBlock({}, c1={}, c3_reduce={}, c3={}, c5_reduce={}, c5={}, pool_proj={})".format(
            *self.config
        )

    def children(self) -> list[Layer]:
        return [layer for branch in self.branches for layer in branch]

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        n, _, h, w = input_shape
        return (n, self.out_channels, h, w)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_image_shape(x.shape, repr(self))  # no empty images or batches, named after the block
        branch_outputs = []
        for branch in self.branches:
            h = x
            for layer in branch:
                h = layer(h)
            branch_outputs.append(h)
        return get_array_module(x).concatenate(branch_outputs, axis=1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        xp = get_array_module(dout)
        dx = None
        for branch, g in zip(self.branches, xp.split(dout, self.splits, axis=1)):
            g = xp.ascontiguousarray(g)
            for layer in reversed(branch):
                g = layer.backprop(g)
            dx = g if dx is None else dx + g
        return dx
