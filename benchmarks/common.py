"""Shapes shared by the asv suites and the comparison script: the course's CNN and LSTM layers."""

import numpy as np

# (name, N, C_in, C_out, k, H): the course MNIST CNN layers, all 'same' padding, stride 1
CONV_SHAPES = {
    "conv1_1to32_5x5_28": (64, 1, 32, 5, 28),
    "conv2_32to64_5x5_14": (64, 32, 64, 5, 14),
    "conv3_64to128_3x3_16": (128, 64, 128, 3, 16),
}
# (N, C, H) for max-pool 2x2 stride 2: the outputs of the first two conv layers
POOL_SHAPES = {"pool_64x32x28": (64, 32, 28), "pool_64x64x14": (64, 64, 14)}
# (N, T, D, H): the PTB 'medium' LSTM and the small one
LSTM_SHAPES = {"N20_T35_650": (20, 35, 650, 650), "N20_T35_200": (20, 35, 200, 200)}


def randn(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)
