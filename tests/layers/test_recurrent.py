"""RNN / LSTM / GRU (scratchnet/layers/recurrent.py): gradient checks (float64), sequence lengths, initial and
last states, stateful use, PyTorch parity (float32), errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from layer_checks import (
    TOL,
    argument_ids,
    assert_accepted,
    assert_refused_clearly,
    assert_small,
    close,
    import_torch,
    make_recurrent,
)

from scratchnet.gradcheck import gradcheck
from scratchnet.layers.base import Layer
from scratchnet.layers.dense import Dense
from scratchnet.layers.recurrent import GRU, LSTM, RNN
from scratchnet.layers.time_distributed import TimeDistributed
from scratchnet.model import Sequential

NAN, INF = float("nan"), float("inf")

CELLS = [RNN, LSTM, GRU]


class WithArgs(Layer):
    """Feeds fixed extra forward arguments (lengths, h0...) so gradcheck can see them."""

    def __init__(self, inner: Layer, **kwargs) -> None:
        super().__init__()
        self.inner, self.kwargs = inner, kwargs

    def children(self) -> list[Layer]:
        return [self.inner]

    def forward(self, x):
        return self.inner(x, **self.kwargs)

    def backward(self, dout):
        return self.inner.backprop(dout)


# -- gradient checks (float64) ---------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("shape", [(2, 5, 3), (1, 4, 3), (3, 1, 3)], ids=["N2T5", "batch1", "T1"])
def test_gradcheck(cls, shape):
    rng = np.random.default_rng(1)
    assert_small(gradcheck(make_recurrent(cls), rng.standard_normal(shape)))


@pytest.mark.parametrize("cls", CELLS)
def test_gradcheck_lengths(cls):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 3))
    lengths = np.array([2, 5, 0])
    layer = make_recurrent(cls)
    assert_small(gradcheck(WithArgs(layer, lengths=lengths), x))
    out = copy.deepcopy(layer).astype(np.float64)(x, lengths=lengths)
    assert np.all(out[0, 2:] == 0) and np.all(out[2] == 0)
    assert np.all(out[1] != 0)


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("use_lengths", [False, True])
def test_gradcheck_initial_state_and_last_state(cls, use_lengths):
    """dh0 (dc0) against finite differences, with an extra gradient on the last state as well."""
    rng = np.random.default_rng(3)
    n, t, d, h = 2, 4, 3, 4
    layer = make_recurrent(cls, d, h).astype(np.float64)
    x = rng.standard_normal((n, t, d))
    h0 = rng.standard_normal((n, h))
    c0 = rng.standard_normal((n, h)) if cls is LSTM else None
    g_last = rng.standard_normal((n, h))
    gc_last = rng.standard_normal((n, h)) if cls is LSTM else None
    lengths = np.array([4, 2]) if use_lengths else None

    dout = rng.standard_normal((n, t, h))

    def value(h_init, c_init) -> float:
        """Output and last state(s) each get an upstream gradient, so both routes back to h0 are tested."""
        out = layer(x, h0=h_init, c0=c_init, lengths=lengths)
        v = np.sum(out * dout) + np.sum(layer.h_last * g_last)
        return v + (np.sum(layer.c_last * gc_last) if cls is LSTM else 0.0)

    layer(x, h0=h0, c0=c0, lengths=lengths)
    layer.backprop(dout, dh_last=g_last, dc_last=gc_last)
    analytic = {"h0": layer.dh0.copy()}
    if cls is LSTM:
        analytic["c0"] = layer.dc0.copy()
    eps = 1e-6
    for name in analytic:
        states = {"h0": h0.copy(), "c0": None if c0 is None else c0.copy()}
        arr = states[name]
        numeric = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            plus = value(states["h0"], states["c0"])
            arr[idx] = old - eps
            minus = value(states["h0"], states["c0"])
            arr[idx] = old
            numeric[idx] = (plus - minus) / (2 * eps)
        err = np.max(np.abs(numeric - analytic[name])) / np.max(np.abs(numeric))
        assert err < TOL, (name, err)


@pytest.mark.parametrize("cls", CELLS)
def test_gradcheck_many_to_one(cls):
    rng = np.random.default_rng(4)
    assert_small(gradcheck(make_recurrent(cls, return_sequences=False), rng.standard_normal((2, 4, 3))))


@pytest.mark.parametrize("cls", CELLS)
def test_call_keywords_and_many_to_one_output(cls):
    rng = np.random.default_rng(17)
    x = rng.standard_normal((2, 4, 3)).astype(np.float32)
    h0 = rng.standard_normal((2, 4)).astype(np.float32)
    seq, last = make_recurrent(cls), make_recurrent(cls, return_sequences=False)
    full = seq(x, h0=h0, lengths=np.array([4, 2]))
    assert full.shape == (2, 4, 4)
    np.testing.assert_array_equal(seq.h_last[0], full[0, -1])
    np.testing.assert_array_equal(seq.h_last[1], full[1, 1])  # the state at sample 1's own last step
    out = last(x, h0=h0, lengths=np.array([4, 2]))
    assert out.shape == (2, 4)
    np.testing.assert_array_equal(out, seq.h_last)


@pytest.mark.parametrize("cls", CELLS)
def test_gradcheck_stacked_different_sizes(cls):
    rng = np.random.default_rng(5)
    model = Sequential(
        [
            make_recurrent(cls, 3, 5, seed=1),
            make_recurrent(cls, 5, 2, seed=2),
            TimeDistributed(Dense(2, 3, rng=rng)),
        ]
    )
    out = model(rng.standard_normal((2, 4, 3)).astype(np.float32))
    assert out.shape == (2, 4, 3) and out.dtype == np.float32
    assert_small(gradcheck(model, rng.standard_normal((2, 4, 3))))


def test_lstm_forget_bias_and_param_shapes():
    layer = LSTM(6, 5, forget_bias=1.0)
    assert layer.params["Wx"].shape == (6, 20) and layer.params["Wh"].shape == (5, 20)
    assert layer.params["b"].shape == (20,)
    np.testing.assert_array_equal(layer.params["b"][5:10], 1.0)
    np.testing.assert_array_equal(layer.params["b"][:5], 0.0)
    gru = GRU(6, 5)
    assert gru.params["Wx"].shape == (6, 15) and gru.params["bhn"].shape == (5,)
    assert RNN(6, 5).params["Wh"].shape == (5, 5)


def test_sigmoid_does_not_overflow():
    layer = make_recurrent(LSTM, scale=0.5)
    x = np.full((1, 3, 3), 1e4, np.float32)
    with np.errstate(all="raise"):
        out = layer(x)
        layer.backprop(np.ones_like(out))
    assert np.all(np.isfinite(out))


# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
def _torch_module(torch, cls, d, h, num_layers=1, seed=0):
    torch.manual_seed(seed)
    kind = {RNN: torch.nn.RNN, LSTM: torch.nn.LSTM, GRU: torch.nn.GRU}[cls]
    mod = kind(d, h, num_layers=num_layers, batch_first=True)
    with torch.no_grad():  # make the biases large enough to matter
        for name, p in mod.named_parameters():
            if name.startswith("bias"):
                p.uniform_(-0.5, 0.5)
    return mod


def _copy_from_torch(layer, mod, layer_index=0):
    """torch stores W_ih (G*H, D), W_hh (G*H, H) and two biases; scratchnet stores the transposes and one b."""
    k = layer_index
    w_ih = getattr(mod, f"weight_ih_l{k}").detach().numpy()
    w_hh = getattr(mod, f"weight_hh_l{k}").detach().numpy()
    b_ih = getattr(mod, f"bias_ih_l{k}").detach().numpy()
    b_hh = getattr(mod, f"bias_hh_l{k}").detach().numpy()
    layer.params["Wx"][...] = w_ih.T
    layer.params["Wh"][...] = w_hh.T
    if isinstance(layer, GRU):
        h = layer.hidden_size
        layer.params["b"][: 2 * h] = b_ih[: 2 * h] + b_hh[: 2 * h]
        layer.params["b"][2 * h :] = b_ih[2 * h :]
        layer.params["bhn"][...] = b_hh[2 * h :]
    else:
        layer.params["b"][...] = b_ih + b_hh


def _torch_grads(layer, mod, layer_index=0):
    """torch's gradients in scratchnet's layout (b gets b_ih's gradient, which equals b_hh's where merged)."""
    k = layer_index
    g = {
        "Wx": getattr(mod, f"weight_ih_l{k}").grad.numpy().T,
        "Wh": getattr(mod, f"weight_hh_l{k}").grad.numpy().T,
    }
    gb_ih = getattr(mod, f"bias_ih_l{k}").grad.numpy()
    gb_hh = getattr(mod, f"bias_hh_l{k}").grad.numpy()
    if isinstance(layer, GRU):
        h = layer.hidden_size
        np.testing.assert_allclose(gb_ih[: 2 * h], gb_hh[: 2 * h], rtol=1e-5, atol=1e-6)
        g["b"] = gb_ih
        g["bhn"] = gb_hh[2 * h :]
    else:
        np.testing.assert_allclose(gb_ih, gb_hh, rtol=1e-5, atol=1e-6)
        g["b"] = gb_ih
    return g


def _check_grads(layer, mod, k=0):
    for name, g in _torch_grads(layer, mod, k).items():
        close(layer.grads[name], g, name)


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("with_state", [False, True])
def test_torch_parity(cls, with_state):
    torch = import_torch()
    n, t, d, h = 3, 6, 5, 4
    rng = np.random.default_rng(7)
    mod = _torch_module(torch, cls, d, h)
    layer = cls(d, h)
    _copy_from_torch(layer, mod)
    x = rng.standard_normal((n, t, d)).astype(np.float32)
    dout = rng.standard_normal((n, t, h)).astype(np.float32)
    h0 = rng.standard_normal((n, h)).astype(np.float32)
    c0 = rng.standard_normal((n, h)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    h0t = torch.tensor(h0[None], requires_grad=True)
    c0t = torch.tensor(c0[None], requires_grad=True)
    if cls is LSTM:
        state = (h0t, c0t) if with_state else None
        out_t, (hn_t, cn_t) = mod(xt, state)
    else:
        out_t, hn_t = mod(xt, h0t if with_state else None)
    out_t.backward(torch.tensor(dout))
    kw = {"h0": h0} if with_state else {}
    if cls is LSTM and with_state:
        kw["c0"] = c0
    out = layer(x, **kw)
    dx = layer.backprop(dout)
    close(out, out_t, "out")
    close(layer.h_last, hn_t[0], "h_n")
    if cls is LSTM:
        close(layer.c_last, cn_t[0], "c_n")
    close(dx, xt.grad, "dx")
    _check_grads(layer, mod)
    if with_state:
        close(layer.dh0, h0t.grad[0], "dh0")
        if cls is LSTM:
            close(layer.dc0, c0t.grad[0], "dc0")


@pytest.mark.parametrize("cls", CELLS)
def test_torch_parity_lengths(cls):
    """Packed sequences in torch: zero outputs past each length, h_n at each sample's own last step."""
    torch = import_torch()
    n, t, d, h = 4, 5, 3, 4
    rng = np.random.default_rng(8)
    mod = _torch_module(torch, cls, d, h)
    layer = cls(d, h)
    _copy_from_torch(layer, mod)
    x = rng.standard_normal((n, t, d)).astype(np.float32)
    dout = rng.standard_normal((n, t, h)).astype(np.float32)
    lengths = np.array([5, 2, 1, 3])
    xt = torch.tensor(x, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        xt, torch.tensor(lengths), batch_first=True, enforce_sorted=False
    )
    out_p, state = mod(packed)
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p, batch_first=True, total_length=t)
    hn_t = state[0] if cls is LSTM else state
    (out_t * torch.tensor(dout)).sum().backward()
    out = layer(x, lengths=lengths)
    dx = layer.backprop(dout)
    close(out, out_t, "out")
    close(layer.h_last, hn_t[0], "h_n")
    if cls is LSTM:
        close(layer.c_last, state[1][0], "c_n")
    close(dx, xt.grad, "dx")
    _check_grads(layer, mod)


@pytest.mark.parametrize("cls", CELLS)
def test_torch_parity_two_layer_stack(cls):
    torch = import_torch()
    n, t, d, h = 2, 5, 3, 4
    rng = np.random.default_rng(9)
    mod = _torch_module(torch, cls, d, h, num_layers=2)
    model = Sequential([cls(d, h), cls(h, h)])
    for k, layer in enumerate(model.layers):
        _copy_from_torch(layer, mod, k)
    x = rng.standard_normal((n, t, d)).astype(np.float32)
    dout = rng.standard_normal((n, t, h)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    out_t, state = mod(xt)
    out_t.backward(torch.tensor(dout))
    hn_t = state[0] if cls is LSTM else state
    close(model(x), out_t, "out")
    close(model.backprop(dout), xt.grad, "dx")
    for k, layer in enumerate(model.layers):
        close(layer.h_last, hn_t[k], f"h_n[{k}]")
        if cls is LSTM:
            close(layer.c_last, state[1][k], f"c_n[{k}]")
        _check_grads(layer, mod, k)


@pytest.mark.parametrize("cls", CELLS)
def test_torch_parity_stacked_different_sizes(cls):
    torch = import_torch()
    n, t = 2, 4
    rng = np.random.default_rng(10)
    mods = [_torch_module(torch, cls, 3, 6, seed=1), _torch_module(torch, cls, 6, 2, seed=2)]
    model = Sequential([cls(3, 6), cls(6, 2)])
    for layer, mod in zip(model.layers, mods):
        _copy_from_torch(layer, mod)
    x = rng.standard_normal((n, t, 3)).astype(np.float32)
    dout = rng.standard_normal((n, t, 2)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    out_t = mods[1](mods[0](xt)[0])[0]
    out_t.backward(torch.tensor(dout))
    close(model(x), out_t, "out")
    close(model.backprop(dout), xt.grad, "dx")
    for layer, mod in zip(model.layers, mods):
        _check_grads(layer, mod)


@pytest.mark.parametrize("cls", CELLS)
def test_torch_parity_stateful_truncated_bptt(cls):
    """Two consecutive batches: the second starts from the first's final state, detached."""
    torch = import_torch()
    n, t, d, h = 2, 4, 3, 5
    rng = np.random.default_rng(11)
    mod = _torch_module(torch, cls, d, h)
    layer = cls(d, h, stateful=True)
    _copy_from_torch(layer, mod)
    state = None
    for step in range(2):
        x = rng.standard_normal((n, t, d)).astype(np.float32)
        dout = rng.standard_normal((n, t, h)).astype(np.float32)
        mod.zero_grad()
        xt = torch.tensor(x, requires_grad=True)
        out_t, state = mod(xt, state)
        out_t.backward(torch.tensor(dout))
        state = tuple(s.detach() for s in state) if cls is LSTM else state.detach()
        out = layer(x)
        dx = layer.backprop(dout)
        close(out, out_t, f"out batch {step}")
        close(dx, xt.grad, f"dx batch {step}")
        _check_grads(layer, mod)
    hn = state[0] if cls is LSTM else state
    close(layer.h_last, hn[0], "h_n")
    # reset_state: the next call starts from zeros again
    layer.reset_state()
    fresh = cls(d, h)
    _copy_from_torch(fresh, mod)
    x = rng.standard_normal((n, t, d)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), fresh(x))


# -- errors ----------------------------------------------------------------------------------------------------
def test_stateful_batch_size_change_is_an_error():
    layer = LSTM(3, 4, stateful=True)
    layer(np.zeros((2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="reset_state"):
        layer(np.zeros((5, 3, 3), np.float32))
    layer.reset_state()
    assert layer(np.zeros((5, 3, 3), np.float32)).shape == (5, 3, 4)


@pytest.mark.parametrize("cls", CELLS)
def test_recurrent_bad_input(cls):
    layer = cls(3, 4)
    x = np.zeros((2, 5, 3), np.float32)
    with pytest.raises(ValueError, match=r"3-D input"):
        layer(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"last dimension 3"):
        layer(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match="time step"):
        layer(np.zeros((2, 0, 3), np.float32))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, T\]"):
        layer(x, lengths=np.array([6, 2]))
    with pytest.raises(ValueError, match=r"lengths must lie in \[0, T\]"):
        layer(x, lengths=np.array([-1, 2]))
    with pytest.raises(ValueError, match="lengths of shape"):
        layer(x, lengths=np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="lengths must be integers"):
        layer(x, lengths=np.array([1.5, 2.0]))
    with pytest.raises(ValueError, match="h0 of shape"):
        layer(x, h0=np.zeros((2, 5), np.float32))
    with pytest.raises(TypeError):
        layer(np.array([["a"]]))
    with pytest.raises(RuntimeError, match="before forward"):
        cls(3, 4).backprop(np.zeros((2, 5, 4), np.float32))
    layer(x)
    with pytest.raises(ValueError, match="dout"):
        layer.backprop(np.zeros((2, 4, 4), np.float32))
    if cls is LSTM:
        with pytest.raises(ValueError, match="c0 of shape"):
            layer(x, c0=np.zeros((3, 4), np.float32))
    else:
        with pytest.raises(ValueError, match="only for LSTM"):
            layer(x, c0=np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="hidden_size"):
        cls(3, 0)


@pytest.mark.parametrize("cls", CELLS)
def test_float64_and_repr(cls):
    layer = cls(3, 4, dtype=np.float64)
    out = layer(np.ones((1, 2, 3), np.float32))
    assert out.dtype == np.float64
    assert layer.backprop(np.ones_like(out)).dtype == np.float64
    assert all(g.dtype == np.float64 for g in layer.grads.values())
    assert repr(cls(3, 4, stateful=True)) == f"{cls.__name__}(3, 4, stateful=True)"


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_recurrent_last_state_gradients_must_be_floats(cls):
    layer = cls(3, 4)
    layer(np.ones((2, 5, 3)))
    with pytest.raises(TypeError, match="dh_last must be a floating-point array"):
        layer.backprop(np.zeros((2, 5, 4)), dh_last=np.ones((2, 4), dtype=np.int64))
    if cls is LSTM:
        with pytest.raises(TypeError, match="dc_last must be a floating-point array"):
            layer.backprop(np.zeros((2, 5, 4)), dc_last=np.ones((2, 4), dtype=bool))


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_recurrent_empty_batch_with_state_and_lengths(cls):
    layer = cls(3, 4, stateful=True)
    kwargs = {"c0": np.zeros((0, 4))} if cls is LSTM else {}
    y = layer(np.zeros((0, 5, 3)), h0=np.zeros((0, 4)), lengths=np.zeros(0, dtype=int), **kwargs)
    assert y.shape == (0, 5, 4) and layer.h_last.shape == (0, 4)
    assert layer(np.zeros((0, 2, 3))).shape == (0, 2, 4)  # the carried (empty) state is reused
    layer.backprop(np.zeros((0, 2, 4)))
    assert layer.dh0.shape == (0, 4)


# (constructor call, exception, words the message must contain: the owner, the argument, the value given)
BAD_ARGUMENTS = [
    (lambda: RNN(True, 4), TypeError, ["RNN", "input_size", "True"]),
    (lambda: LSTM(3, 4.0), TypeError, ["LSTM", "hidden_size", "4.0"]),
    (lambda: GRU(3, 0), ValueError, ["GRU", "hidden_size", "0"]),
    (lambda: LSTM(3, 4, forget_bias=NAN), ValueError, ["LSTM", "forget_bias", "nan"]),
    (lambda: LSTM(3, 4, forget_bias=-INF), ValueError, ["LSTM", "forget_bias", "-inf"]),
    (lambda: LSTM(3, 4, dtype=np.int32), TypeError, ["LSTM", "dtype", "int32"]),
    (lambda: LSTM(3, 4, rng=7), TypeError, ["LSTM", "rng", "int"]),
    (lambda: RNN(3, 4, return_sequences="False"), TypeError, ["RNN", "return_sequences", "'False'"]),
    (lambda: GRU(3, 4, stateful=1), TypeError, ["GRU", "stateful", "1"]),
    (
        lambda: RNN(3, 4, recurrent_init=lambda shape, **kw: np.ones((4, 5))),
        ValueError,
        ["RNN", "Wh", "(4, 4)", "(4, 5)"],
    ),
    (
        lambda: GRU(3, 4, bias_init=lambda shape, **kw: np.ones(shape, dtype=complex)),
        ValueError,
        ["GRU", "b", "complex"],
    ),
]


@pytest.mark.parametrize("construct,error,words", BAD_ARGUMENTS, ids=argument_ids(BAD_ARGUMENTS))
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    assert_refused_clearly(construct, error, words)


@pytest.mark.parametrize(
    "construct",
    [
        lambda: LSTM(3, 4, forget_bias=1),
        lambda: LSTM(3, 4, stateful=np.True_, return_sequences=False),
    ],
)
def test_valid_arguments_of_every_numeric_type_are_accepted(construct):
    assert_accepted(construct())


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_every_option_is_in_the_signature(cls):
    """help(LSTM) and an IDE show every option: nothing hides in **kwargs."""
    import inspect

    params = inspect.signature(cls).parameters
    assert {
        "stateful",
        "return_sequences",
        "weight_init",
        "recurrent_init",
        "bias_init",
        "dtype",
        "rng",
    } <= set(params)
    assert all(p.kind is not inspect.Parameter.VAR_KEYWORD for p in params.values())
