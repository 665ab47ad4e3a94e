"""Every compiled kernel against its NumPy twin on small arrays, then one training step of a small CNN and a
transformer block: what ``tests/test_wheel.py`` runs from an installed wheel, natively and under QEMU with
CPU models that lack AVX-512 and AVX2. Prints ``backend.info()`` as JSON on its first line, then
``SMOKE-OK`` when every check passed (an assertion or an illegal instruction ends it sooner).

    python kernel_smoke.py
"""

from __future__ import annotations

import json

import numpy as np

import scratchnet as sn
from scratchnet import backend
from scratchnet.fast import adam as twin_adam
from scratchnet.fast import batched_gemm as twin_gemm
from scratchnet.fast import fingerprint as twin_fingerprint
from scratchnet.fast import gelu as twin_gelu
from scratchnet.fast import layernorm as twin_layernorm
from scratchnet.fast import relu as twin_relu
from scratchnet.fast import softmax as twin_softmax
from scratchnet.maths import im2col as twin_im2col
from scratchnet.maths import pooling as twin_pooling


def close(a, b, rtol: float = 1e-5) -> None:
    for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, y.shape, x.dtype, y.dtype)
        scale = max(float(np.abs(y).max(initial=0.0)), 1.0)
        assert float(np.abs(x - y).max(initial=0.0)) <= rtol * scale, float(np.abs(x - y).max())


def main() -> None:
    print(json.dumps(backend.info()), flush=True)
    assert backend.info()["compiled_kernels_in_use"]
    rng = np.random.default_rng(0)
    k = backend.compiled_kernel
    x = rng.standard_normal((4, 3, 10, 10)).astype(np.float32)
    close(k("relu").relu(x), twin_relu.relu(x), 0)
    close(k("gelu").gelu(x), twin_gelu.gelu(x))
    close(k("im2col").im2col(x, 3, 3, 1, 1), twin_im2col.im2col(x, 3, 3, 1, 1), 0)
    close(k("pooling").maxpool_forward(x, 2, 2, 2)[0], twin_pooling.maxpool_forward(x, 2, 2, 2)[0], 0)
    rows = rng.standard_normal((6, 40)).astype(np.float32)
    gamma, beta = np.ones(40, np.float32), np.zeros(40, np.float32)
    close(
        k("layernorm").layer_norm(rows, gamma, beta, 1e-5), twin_layernorm.layer_norm(rows, gamma, beta, 1e-5)
    )
    scores = rng.standard_normal((2, 9, 9)).astype(np.float32)
    close(
        k("softmax").softmax_in_place(scores.copy(), True), twin_softmax.softmax_in_place(scores.copy(), True)
    )
    a, b = (
        rng.standard_normal((3, 20, 30)).astype(np.float32),
        rng.standard_normal((3, 30, 7)).astype(np.float32),
    )
    if k("batched_gemm").available():
        close(k("batched_gemm").matmul(a, b), twin_gemm.matmul(a, b))
    state = [np.abs(rng.standard_normal(50)).astype(np.float32) for _ in range(4)]  # (p, g, m, v >= 0)
    twin_state = [s.copy() for s in state]
    k("adam").adam_update(*state, 0.9, 0.999, 0.01, 0.5, 1e-8)
    twin_adam.adam_update(*twin_state, 0.9, 0.999, 0.01, 0.5, 1e-8)
    close(tuple(state), tuple(twin_state), 0)
    close(k("fingerprint").fingerprint(x), twin_fingerprint.fingerprint(x), 0)
    # whole layers on the other kernels (direct and Winograd convolutions, the LSTM cell), fast path against
    # the reference
    L = sn.layers
    images = rng.random((8, 1, 28, 28), dtype=np.float32)
    for make, inputs in (
        (
            lambda: sn.Sequential(
                [
                    L.Conv2D(1, 8, 5, padding=2, algorithm="direct"),
                    L.ReLU(),
                    L.MaxPool2D(2),
                    L.Conv2D(8, 8, 3, padding=1, algorithm="winograd"),
                    L.Flatten(),
                    L.Dense(8 * 14 * 14, 10),
                ]
            ),
            images,
        ),  # fmt: skip
        (lambda: L.LSTM(12, 16), rng.standard_normal((3, 5, 12)).astype(np.float32)),
        (lambda: L.TransformerBlock(16, 2), rng.standard_normal((2, 6, 16)).astype(np.float32)),
    ):
        outputs = []
        for reference in (False, True):
            sn.seed(0)
            model = make()
            with backend.reference(reference):
                y = model(inputs)
                dx = model.backprop(np.ones_like(y))
            outputs.append((y, dx))
        close(outputs[0], outputs[1], 1e-4)
    print("SMOKE-OK", flush=True)


if __name__ == "__main__":
    main()
