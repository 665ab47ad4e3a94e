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


def forward(layer, x):
    """``layer(x)``; on commits before the call API (#27: ``layer.forward`` was the checked call) that, so
    the asv history across the project's commits times the same work."""
    return layer(x) if hasattr(layer, "backprop") else layer.forward(x)


def backward(layer, dout, **kwargs):
    """``layer.backprop(dout)``, or ``layer.backward(dout)`` before the call API (see ``forward``)."""
    return layer.backprop(dout, **kwargs) if hasattr(layer, "backprop") else layer.backward(dout, **kwargs)


def randn(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# Idle threads of one library keep spinning on the cores after its call returns: NumPy's OpenBLAS for
# about 2**28 cycles (~0.1 s), GNU OpenMP for a few milliseconds. Timed strictly call by call in turns,
# each library runs on cores the other's idle threads still hold, and a comparison measures mostly who ran
# second (PyTorch's CNN step read 110 ms that way and 71 ms alone here). Sleeping between calls is no cure
# either: an idle virtual CPU comes back slow. So each library runs in blocks of back-to-back calls, and
# only after it has run for SETTLE_SECONDS (the other library's spinners have parked by then) are its
# calls timed; blocks alternate between the libraries so that all of them see the same drift in load.
SETTLE_SECONDS = 0.3
ROUNDS = 3


def interleaved_times(fns, repeats: int, warmup: int = 2, settle: float = SETTLE_SECONDS) -> dict:
    """Seconds per call of each function in ``fns`` (a dict name -> callable), ``repeats`` of each.

    The calls run in ``ROUNDS`` rounds; in each round every function in turn first runs untimed for at
    least ``settle`` seconds (and ``warmup`` calls in the first round), then for its share of timed calls.
    """
    import time

    times: dict = {name: [] for name in fns}
    per_round = -(-repeats // ROUNDS)
    for round_ in range(ROUNDS):
        for name, fn in fns.items():
            start, calls = time.perf_counter(), 0
            while calls < (warmup if round_ == 0 else 1) or time.perf_counter() - start < settle:
                fn()
                calls += 1
            for _ in range(min(per_round, repeats - len(times[name]))):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return times


def interleaved_medians(fns, repeats: int, warmup: int = 2, settle: float = SETTLE_SECONDS) -> dict:
    """Median seconds per call of each function in ``fns``, timed by :func:`interleaved_times`."""
    return {
        name: float(np.median(ts)) for name, ts in interleaved_times(fns, repeats, warmup, settle).items()
    }
