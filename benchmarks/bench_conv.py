"""asv suites: Conv2D and pooling forward/backward on the course CNN shapes, the im2col/col2im kernels alone
(compiled vs NumPy twin), peak memory of a conv call, and 1- vs 2-thread scaling."""

import numpy as np

from scratchnet import backend
from scratchnet.layers.conv import Conv2D
from scratchnet.layers.pooling import MaxPool2D

from .common import CONV_SHAPES, POOL_SHAPES, backward, forward, randn


def _conv(name):
    n, c, f, k, h = CONV_SHAPES[name]
    layer = Conv2D(c, f, k, padding="same", rng=np.random.default_rng(0))
    x = randn((n, c, h, h))
    g = randn((n, f, h, h), seed=1)
    return layer, x, g


class ConvLayer:
    params = (list(CONV_SHAPES), ["compiled", "numpy"])
    param_names = ["shape", "kernels"]
    timeout = 240

    def setup(self, name, kernels):
        backend.use_compiled(kernels == "compiled")
        self.layer, self.x, self.g = _conv(name)
        forward(self.layer, self.x)

    def teardown(self, name, kernels):
        backend.use_compiled(True)

    def time_forward(self, name, kernels):
        forward(self.layer, self.x)

    def time_forward_backward(self, name, kernels):
        forward(self.layer, self.x)
        backward(self.layer, self.g)


class ConvPeakMemory:
    """Peak resident memory of the process during one conv forward+backward (about one im2col buffer extra)."""

    params = list(CONV_SHAPES)
    param_names = ["shape"]

    def setup(self, name):
        self.layer, self.x, self.g = _conv(name)

    def peakmem_forward_backward(self, name):
        forward(self.layer, self.x)
        backward(self.layer, self.g)


class MaxPool:
    params = (list(POOL_SHAPES), ["compiled", "numpy"])
    param_names = ["shape", "kernels"]

    def setup(self, name, kernels):
        backend.use_compiled(kernels == "compiled")
        n, c, h = POOL_SHAPES[name]
        self.layer = MaxPool2D(2)
        self.x = randn((n, c, h, h))
        self.g = randn((n, c, h // 2, h // 2), seed=1)

    def teardown(self, name, kernels):
        backend.use_compiled(True)

    def time_forward_backward(self, name, kernels):
        forward(self.layer, self.x)
        backward(self.layer, self.g)


class Im2colKernels:
    params = (list(CONV_SHAPES), ["compiled", "numpy"])
    param_names = ["shape", "kernels"]

    def setup(self, name, kernels):
        n, c, f, k, h = CONV_SHAPES[name]
        twin = __import__(backend.TWINS["im2col"], fromlist=["im2col"])
        self.mod = backend.kernel("im2col") if kernels == "compiled" else twin
        self.k, self.pad = k, (k - 1) // 2
        self.x = randn((n, c, h, h))
        self.cols = self.mod.im2col(self.x, k, k, 1, self.pad)

    def time_im2col(self, name, kernels):
        self.mod.im2col(self.x, self.k, self.k, 1, self.pad)

    def time_col2im(self, name, kernels):
        self.mod.col2im(self.cols, self.x.shape, self.k, self.k, 1, self.pad)


class ThreadScaling:
    """The compiled kernels' OpenMP loops with 1 and 2 threads (BLAS threads untouched)."""

    params = ([1, 2],)
    param_names = ["threads"]

    def setup(self, threads):
        backend.set_num_threads(threads)
        self.layer, self.x, self.g = _conv("conv2_32to64_5x5_14")
        self.pool = MaxPool2D(2)
        self.px = randn((64, 32, 28, 28))
        self.pg = randn((64, 32, 14, 14), seed=1)

    def teardown(self, threads):
        backend.set_num_threads(2)

    def time_conv_forward_backward(self, threads):
        forward(self.layer, self.x)
        backward(self.layer, self.g)

    def time_maxpool_forward_backward(self, threads):
        forward(self.pool, self.px)
        backward(self.pool, self.pg)


class ConvAlgorithm:
    """The course's 3x3 layer (and the 5x5 one) by im2col and by Winograd, forward + backward."""

    params = (["conv2_32to64_5x5_14", "conv3_64to128_3x3_16"], ["im2col", "winograd"])
    param_names = ["shape", "algorithm"]
    timeout = 240

    def setup(self, name, algorithm):
        n, c, f, k, h = CONV_SHAPES[name]
        self.layer = Conv2D(c, f, k, padding="same", rng=np.random.default_rng(0), algorithm=algorithm)
        self.x = randn((n, c, h, h))
        self.g = randn((n, f, h, h), seed=1)
        forward(self.layer, self.x)

    def time_forward_backward(self, name, algorithm):
        forward(self.layer, self.x)
        backward(self.layer, self.g)


class FirstLayerAlgorithm:
    """The one-channel first layer (1->32 5x5) by each algorithm, forward + ``backward_params`` (the way a
    training step runs a network's first layer: no input gradient)."""

    params = (["im2col", "direct", "winograd"],)
    param_names = ["algorithm"]

    def setup(self, algorithm):
        n, c, f, k, h = CONV_SHAPES["conv1_1to32_5x5_28"]
        self.layer = Conv2D(c, f, k, padding="same", rng=np.random.default_rng(0), algorithm=algorithm)
        self.x = randn((n, c, h, h))
        self.g = randn((n, f, h, h), seed=1)
        forward(self.layer, self.x)

    def time_forward_backward_params(self, algorithm):
        forward(self.layer, self.x)
        backward(self.layer, self.g, params_only=True)


class ConvReLUForward:
    """Conv2D -> ReLU forward on the course's first two layers: fused in ``Sequential``'s fast forward (the
    conv writes max(0, y), ``scratchnet/fast/fusion.py``) vs the two layers called one after the other."""

    params = (["conv1_1to32_5x5_28", "conv2_32to64_5x5_14"], ["fused", "one_by_one"])
    param_names = ["shape", "mode"]

    def setup(self, name, mode):
        from scratchnet.layers.activations import ReLU
        from scratchnet.model import Sequential

        layer, self.x, _ = _conv(name)
        self.model = Sequential([layer, ReLU()])

    def time_forward(self, name, mode):
        if mode == "fused":
            forward(self.model, self.x)
        else:
            conv, relu = self.model.layers
            relu(conv(self.x))


class ReLUKernel:
    """ReLU forward + backward on the course CNN's first activation (100x32x28x28): compiled vs NumPy twin."""

    params = ["compiled", "numpy"]
    param_names = ["kernels"]

    def setup(self, kernels):
        from scratchnet.fast import relu as twin

        self.k = backend.kernel("relu") if kernels == "compiled" else twin
        self.x, self.g = randn((100, 32, 28, 28)), randn((100, 32, 28, 28), seed=1)

    def time_forward_backward(self, kernels):
        self.k.relu(self.x)
        self.k.relu_backward(self.g, self.x)


class WinogradTransforms:
    """The four Winograd transforms of F(4x4, 3x3) on the 64->128 layer: compiled vs NumPy twin."""

    params = ["compiled", "numpy"]
    param_names = ["kernels"]

    def setup(self, kernels):
        from scratchnet.fast import winograd as twin

        backend.use_compiled(kernels == "compiled")
        self.k = backend.kernel("winograd") if kernels == "compiled" else twin
        n, c, f, _, h = CONV_SHAPES["conv3_64to128_3x3_16"]
        self.x, self.dout = randn((n, c, h, h)), randn((n, f, h, h), seed=1)
        self.v = self.k.input_transform(self.x, 4, 3, 1, 1, 4, 4)
        self.mm = randn((36, f, n * 16), seed=2)

    def teardown(self, kernels):
        backend.use_compiled(True)

    def time_input_transform(self, kernels):
        self.k.input_transform(self.x, 4, 3, 1, 1, 4, 4, out=self.v)

    def time_output_transform(self, kernels):
        self.k.output_transform(self.mm, 4, 3, 128, 4, 4, 16, 16)

    def time_output_transform_adjoint(self, kernels):
        self.k.output_transform_adjoint(self.dout, 4, 3, 4, 4, out=self.mm)

    def time_input_transform_adjoint(self, kernels):
        self.k.input_transform_adjoint(self.v, self.x.shape, 4, 3, 1, 1, 4, 4)
