"""MultiHeadAttention, PositionalEmbedding and TransformerBlock (scratchnet/layers/attention.py).

* Gradient checks in float64 for every parameter and the input: causal or not, with and without biases, with
  a key-padding mask (fully masked rows included), with attention dropout (the same draws replayed).
* PyTorch parity in float32 for the output and every gradient: MultiHeadAttention against
  torch.nn.MultiheadAttention (its in_proj_weight holds our Wq, Wk, Wv transposed) and against a hand-written
  softmax for fully masked rows; TransformerBlock against torch.nn.TransformerEncoderLayer(norm_first=True)
  (the catalog, tests/support/layer_catalog.py, also holds both to scaled_dot_product_attention and to a
  composition of the children's twins). Tolerance: rtol 1e-5 plus 1e-5 of the largest entry (``assert_close``).
* What masking means: no output reads a masked key; a fully masked row gives b_o, not NaN, and no gradient.
* Bad input (shapes, dtypes, masks) and bad constructor arguments are refused naming the layer; hostile input
  (hypothesis) ends in a clear error or a finite result; a transformer language model saves and loads.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from layer_checks import (
    TOL,
    argument_ids,
    assert_accepted,
    assert_close,
    assert_refused_clearly,
    import_torch,
)

import scratchnet as sn
from scratchnet.layers import (
    GELU,
    Conv1D,
    Dense,
    Embedding,
    Layer,
    LayerNorm,
    MultiHeadAttention,
    PositionalEmbedding,
    SiLU,
    TransformerBlock,
)

NAN, INF = float("nan"), float("inf")


def randomize(layer: Layer, seed: int = 0, scale: float = 0.5) -> Layer:
    """Random values for every parameter (biases and norms too), so every gradient path carries weight."""
    rng = np.random.default_rng(seed)
    for p in layer.parameters():
        p.value[...] = scale * rng.standard_normal(p.value.shape)
        if p.key == "gamma":
            p.value[...] += 1
    return layer


class WithMask(Layer):
    """``inner(x, key_padding_mask=mask)`` as a one-input layer, for gradcheck."""

    def __init__(self, inner: Layer, mask: np.ndarray):
        super().__init__()
        self.inner, self.mask = inner, mask

    def children(self):
        return [self.inner]

    def forward(self, x):
        return self.inner(x, key_padding_mask=self.mask)

    def backward(self, dout):
        return self.inner.backprop(dout)


PAD = np.array([[False, False, False, True, True], [False, False, False, False, False]])
ALL_PADDED = np.array([[True] * 5, [False, True, False, False, True]])  # sample 0: every key padded
LEFT_PADDED = np.array([[True, True, False, False, False], [False] * 5])  # causal: rows 0, 1 see nothing


# -- gradient checks (float64) ---------------------------------------------------------------------------------
MHA_CASES = [
    (lambda: MultiHeadAttention(8, 2), None),
    (lambda: MultiHeadAttention(8, 4, causal=True), None),
    (lambda: MultiHeadAttention(6, 1, bias=False), None),
    (lambda: MultiHeadAttention(8, 2), PAD),
    (lambda: MultiHeadAttention(8, 2, causal=True), PAD),
    (lambda: MultiHeadAttention(8, 2), ALL_PADDED),
    (lambda: MultiHeadAttention(8, 2, causal=True), LEFT_PADDED),
    (lambda: MultiHeadAttention(8, 2, dropout=0.3), None),
    (lambda: MultiHeadAttention(8, 2, causal=True, dropout=0.5), PAD),
]


@pytest.mark.parametrize(
    "make,mask", MHA_CASES, ids=[f"{m()!r}-mask{i}" for i, (m, _) in enumerate(MHA_CASES)]
)
def test_attention_gradcheck(make, mask, rng):
    layer = randomize(make())
    subject = layer if mask is None else WithMask(layer, mask)
    errors = sn.gradcheck(subject, rng.standard_normal((2, 5, layer.embed_dim)))
    assert len(errors) == 1 + len(layer.params)
    assert max(errors.values()) < TOL, errors


BLOCK_CASES = [
    (lambda: TransformerBlock(8, 2), None),
    (lambda: TransformerBlock(8, 4, causal=False, mlp_ratio=2, approximate="tanh"), None),
    (lambda: TransformerBlock(6, 3, causal=False), PAD),
    (lambda: TransformerBlock(8, 2, dropout=0.2), LEFT_PADDED),
]


@pytest.mark.parametrize(
    "make,mask", BLOCK_CASES, ids=[f"{m()!r}-{i}" for i, (m, _) in enumerate(BLOCK_CASES)]
)
def test_transformer_block_gradcheck(make, mask, rng):
    block = randomize(make(), scale=0.3)
    subject = block if mask is None else WithMask(block, mask)
    errors = sn.gradcheck(subject, rng.standard_normal((2, 5, block.dim)))
    assert len(errors) == 1 + sum(len(layer.params) for _, layer in block.named_layers())
    assert max(errors.values()) < TOL, errors


@pytest.mark.parametrize("sinusoidal", [False, True])
def test_positional_embedding_gradcheck_and_unused_rows(sinusoidal, rng):
    layer = PositionalEmbedding(9, 4, sinusoidal=sinusoidal)
    errors = sn.gradcheck(layer, rng.standard_normal((3, 5, 4)))
    assert max(errors.values()) < TOL and set(errors) == ({"x"} if sinusoidal else {"x", "W"})
    y = layer(rng.standard_normal((3, 5, 4)).astype(np.float32))
    layer.backprop(np.ones_like(y))
    if not sinusoidal:
        assert not layer.grads["W"][5:].any() and np.all(layer.grads["W"][:5] == 3)


# -- PyTorch parity (float32) ----------------------------------------------------------------------------------
def torch_attention(torch, layer: MultiHeadAttention):
    """torch.nn.MultiheadAttention holding the layer's weights: in_proj_weight = [Wq^T; Wk^T; Wv^T]."""
    D = layer.embed_dim
    mha = torch.nn.MultiheadAttention(D, layer.num_heads, bias=layer.use_bias, batch_first=True)
    p = layer.params
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.tensor(np.concatenate([p["Wq"].T, p["Wk"].T, p["Wv"].T])))
        mha.out_proj.weight.copy_(torch.tensor(p["Wo"].T))
        if layer.use_bias:
            mha.in_proj_bias.copy_(torch.tensor(np.concatenate([p["bq"], p["bk"], p["bv"]])))
            mha.out_proj.bias.copy_(torch.tensor(p["bo"]))
    return mha


def torch_attention_grads(mha, D: int) -> dict:
    w, out = mha.in_proj_weight.grad.numpy(), {}
    out.update(Wq=w[:D].T, Wk=w[D : 2 * D].T, Wv=w[2 * D :].T, Wo=mha.out_proj.weight.grad.numpy().T)
    if mha.in_proj_bias is not None:
        b = mha.in_proj_bias.grad.numpy()
        out.update(bq=b[:D], bk=b[D : 2 * D], bv=b[2 * D :], bo=mha.out_proj.bias.grad.numpy())
    return out


def causal_mask(torch, t: int):
    return torch.ones(t, t, dtype=torch.bool).triu(1)  # torch's boolean attn_mask: True = may NOT attend


PARITY = [
    (lambda: MultiHeadAttention(16, 4), None),
    (lambda: MultiHeadAttention(16, 2, causal=True), None),
    (lambda: MultiHeadAttention(12, 3, bias=False), PAD),
    (lambda: MultiHeadAttention(16, 4, causal=True), PAD),
]


@pytest.mark.parametrize("make,mask", PARITY, ids=[f"{m()!r}-{i}" for i, (m, _) in enumerate(PARITY)])
def test_attention_matches_torch_multihead_attention(make, mask, rng):
    torch = import_torch()
    layer = randomize(make())
    D = layer.embed_dim
    x = rng.standard_normal((2, 5, D)).astype(np.float32)
    g = rng.standard_normal((2, 5, D)).astype(np.float32)
    y = layer(x, key_padding_mask=mask)
    dx = layer.backprop(g)
    mha = torch_attention(torch, layer)
    xt = torch.tensor(x, requires_grad=True)
    yt, _ = mha(
        xt, xt, xt,
        key_padding_mask=None if mask is None else torch.tensor(mask),
        attn_mask=causal_mask(torch, 5) if layer.causal else None,
        need_weights=False,
    )  # fmt: skip
    yt.backward(torch.tensor(g))
    assert_close(y, yt, "forward")
    assert_close(dx, xt.grad, "dx")
    theirs = torch_attention_grads(mha, D)
    assert sorted(theirs) == sorted(layer.grads)
    for name, grad in layer.grads.items():
        if name == "bk":  # exactly 0 here; PyTorch's is rounding noise around 0
            assert not grad.any()
            scale = np.abs(theirs["Wk"]).max()
            assert np.abs(theirs["bk"]).max() < 1e-5 * scale, "PyTorch's key-bias gradient is not noise"
            continue
        assert_close(grad, theirs[name], name)


def safe_softmax_attention(torch, layer, x, mask):
    """The layer's equations written in torch, with a fully masked row's P set to 0 (scaled_dot_product_
    attention and nn.MultiheadAttention give NaN there)."""
    n, t, D = x.shape
    H, d = layer.num_heads, layer.head_dim
    w = {k: torch.tensor(v, requires_grad=True) for k, v in layer.params.items()}

    def heads(name):
        return (x @ w[f"W{name}"] + w[f"b{name}"]).reshape(n, t, H, d).transpose(1, 2)

    masked = torch.tensor(mask)[:, None, None, :]
    if layer.causal:
        masked = masked | causal_mask(torch, t)
    s = heads("q") @ heads("k").transpose(-1, -2) / d**0.5
    s = s.masked_fill(masked, float("-inf"))
    empty = masked.all(dim=-1, keepdim=True)
    p = torch.softmax(s.masked_fill(empty, 0.0), dim=-1) * ~empty
    o = (p @ heads("v")).transpose(1, 2).reshape(n, t, D)
    return o @ w["Wo"] + w["bo"], w


@pytest.mark.parametrize("causal,mask", [(False, ALL_PADDED), (True, LEFT_PADDED)])
def test_fully_masked_rows_give_the_output_bias_and_no_gradient(causal, mask, rng):
    torch = import_torch()
    layer = randomize(MultiHeadAttention(8, 2, causal=causal))
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    g = rng.standard_normal((2, 5, 8)).astype(np.float32)
    y = layer(x, key_padding_mask=mask)
    dx = layer.backprop(g)
    empty = mask[:, None, :].repeat(5, axis=1)  # query t of sample n sees no key ...
    if causal:
        empty = empty | (np.arange(5)[None, :] > np.arange(5)[:, None])[None]
    rows = empty.all(axis=-1)  # ... at all
    assert rows.any()
    assert np.isfinite(y).all() and np.isfinite(dx).all()
    assert all(np.isfinite(grad).all() for grad in layer.grads.values())
    np.testing.assert_array_equal(y[rows], np.broadcast_to(layer.params["bo"], y[rows].shape))
    assert not layer.attention[rows[:, None, :].repeat(2, axis=1)].any()
    xt = torch.tensor(x, requires_grad=True)
    yt, w = safe_softmax_attention(torch, layer, xt, mask)
    yt.backward(torch.tensor(g))
    assert_close(y, yt, "forward")
    assert_close(dx, xt.grad, "dx")
    for name, grad in layer.grads.items():
        if name != "bk":
            assert_close(grad, w[name].grad, name)
    if not causal:  # sample 0 reads nothing: no gradient reaches its input
        assert not dx[0].any()


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("causal,mask", [(True, None), (False, PAD), (True, PAD)])
def test_transformer_block_matches_torch_encoder_layer(approximate, causal, mask, rng):
    """Pre-norm block = nn.TransformerEncoderLayer(norm_first=True, activation=GELU, dropout=0)."""
    torch = import_torch()
    block = randomize(TransformerBlock(16, 4, mlp_ratio=3, causal=causal, approximate=approximate), scale=0.3)
    theirs = torch.nn.TransformerEncoderLayer(
        16, 4, dim_feedforward=48, dropout=0.0, batch_first=True, norm_first=True,
        activation=torch.nn.GELU(approximate=approximate),
    )  # fmt: skip
    mha = torch_attention(torch, block.attn)
    with torch.no_grad():
        theirs.self_attn.load_state_dict(mha.state_dict())
        for ln, ours in ((theirs.norm1, block.ln1), (theirs.norm2, block.ln2)):
            ln.weight.copy_(torch.tensor(ours.params["gamma"]))
            ln.bias.copy_(torch.tensor(ours.params["beta"]))
        for lin, ours in ((theirs.linear1, block.fc1), (theirs.linear2, block.fc2)):
            lin.weight.copy_(torch.tensor(ours.params["W"].T))
            lin.bias.copy_(torch.tensor(ours.params["b"]))
    x = rng.standard_normal((3, 6, 16)).astype(np.float32)
    g = rng.standard_normal((3, 6, 16)).astype(np.float32)
    pad = None if mask is None else np.concatenate([mask, np.zeros((1, 5), bool)])[:, [0, 1, 2, 3, 4, 0]]
    y = block(x, key_padding_mask=pad)
    dx = block.backprop(g)
    xt = torch.tensor(x, requires_grad=True)
    yt = theirs(
        xt,
        src_mask=causal_mask(torch, 6) if causal else None,
        src_key_padding_mask=None if pad is None else torch.tensor(pad),
    )
    yt.backward(torch.tensor(g))
    assert_close(y, yt, "forward")
    assert_close(dx, xt.grad, "dx")
    want = {f"attn.{k}": v for k, v in torch_attention_grads(theirs.self_attn, 16).items()}
    want.update({"ln1.gamma": theirs.norm1.weight.grad, "ln1.beta": theirs.norm1.bias.grad})
    want.update({"ln2.gamma": theirs.norm2.weight.grad, "ln2.beta": theirs.norm2.bias.grad})
    want.update({"fc1.W": theirs.linear1.weight.grad.T, "fc1.b": theirs.linear1.bias.grad})
    want.update({"fc2.W": theirs.linear2.weight.grad.T, "fc2.b": theirs.linear2.bias.grad})
    ours = {p.name: p.grad for p in block.parameters()}
    assert sorted(ours) == sorted(want)
    for name, grad in ours.items():
        if name != "attn.bk":
            assert_close(grad, want[name], name)


# -- what the masks mean ---------------------------------------------------------------------------------------
def test_no_output_reads_a_masked_key_and_causal_outputs_ignore_the_future(rng):
    layer = randomize(MultiHeadAttention(8, 2), seed=1)
    x = rng.standard_normal((2, 5, 8))
    y = layer(x, key_padding_mask=PAD)
    x2 = x.copy()
    x2[0, 3:] = 100 * rng.standard_normal((2, 8))  # change the padded keys of sample 0
    y2 = layer(x2, key_padding_mask=PAD)
    np.testing.assert_allclose(y2[0, :3], y[0, :3], rtol=1e-5, atol=1e-6)  # in float32
    np.testing.assert_array_equal(y2[1], y[1])
    causal = randomize(MultiHeadAttention(8, 2, causal=True), seed=1)
    y = causal(x)
    x2 = x.copy()
    x2[:, 3] += 1.0
    y2 = causal(x2)
    np.testing.assert_allclose(y2[:, :3], y[:, :3], rtol=1e-5, atol=1e-6)
    assert not np.allclose(y2[:, 3:], y[:, 3:])
    p = causal.attention
    np.testing.assert_allclose(p.sum(axis=-1), 1, rtol=1e-5)
    assert p.shape == (2, 2, 5, 5) and not np.triu(p, 1).any()


def test_the_key_bias_changes_nothing(rng):
    layer = randomize(MultiHeadAttention(8, 2))
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    y = layer(x)
    layer.params["bk"] += 3.0
    np.testing.assert_array_equal(layer(x), y)


def test_dropout_in_training_only(rng):
    sn.seed(0)
    layer = randomize(MultiHeadAttention(8, 2, dropout=0.5))
    plain = MultiHeadAttention(8, 2)
    for name in plain.params:
        plain.params[name][...] = layer.params[name]
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    assert not np.allclose(layer(x), layer(x))
    layer.eval()
    np.testing.assert_array_equal(layer(x), layer(x))
    np.testing.assert_allclose(layer(x), plain(x), rtol=1e-6, atol=1e-6)
    block = TransformerBlock(8, 2, dropout=0.1)
    assert [name for name, _ in block.named_layers()][-2:] == ["drop1", "drop2"]


def test_positional_embedding_values_and_limits(rng):
    sin = PositionalEmbedding(50, 6, sinusoidal=True)
    table = sin(np.zeros((1, 50, 6)))[0]
    t, i = np.arange(50)[:, None], np.arange(3)[None, :]
    np.testing.assert_allclose(table[:, 0::2], np.sin(t / 10000 ** (2 * i / 6)), atol=1e-12)
    np.testing.assert_allclose(table[:, 1::2], np.cos(t / 10000 ** (2 * i / 6)), atol=1e-12)
    assert sin(np.zeros((2, 3, 6), np.float32)).dtype == np.float32
    odd = PositionalEmbedding(4, 5, sinusoidal=True)(np.zeros((1, 4, 5)))[0]
    np.testing.assert_allclose(odd[:, 4], np.sin(np.arange(4) / 10000 ** (4 / 5)))
    learned = PositionalEmbedding(4, 3)
    assert learned.params["W"].shape == (4, 3) and 0.005 < learned.params["W"].std() < 0.05
    with pytest.raises(ValueError, match=r"^PositionalEmbedding\(4, 3\): sequences of at most max_len = 4"):
        learned(np.zeros((1, 5, 3), np.float32))


# -- errors ----------------------------------------------------------------------------------------------------
def test_bad_input_and_masks_name_the_layer():
    layer = MultiHeadAttention(8, 2)
    name = r"MultiHeadAttention\(8, 2\)"
    with pytest.raises(ValueError, match=rf"^{name}: expected last dimension 8 \(\(N, T, 8\)\)"):
        layer(np.zeros((2, 5, 6), np.float32))
    with pytest.raises(ValueError, match=rf"^{name}: expected a 3-D input"):
        layer(np.zeros((5, 8), np.float32))
    with pytest.raises(TypeError, match=rf"^{name}: key_padding_mask must be a boolean array"):
        layer(np.zeros((2, 5, 8), np.float32), key_padding_mask=np.zeros((2, 5), int))
    with pytest.raises(ValueError, match=rf"^{name}: expected key_padding_mask of shape \(N, T\) = \(2, 5\)"):
        layer(np.zeros((2, 5, 8), np.float32), key_padding_mask=np.zeros((5, 2), bool))
    assert layer(np.zeros((1, 2, 8), np.float32), key_padding_mask=[[False, True]]).shape == (1, 2, 8)
    block = TransformerBlock(8, 2)
    with pytest.raises(ValueError, match=r"^TransformerBlock\(8, 2\): expected last dimension 8"):
        block(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(TypeError, match=r"MultiHeadAttention\(8, 2, causal=True\): key_padding_mask must be"):
        block(np.zeros((2, 5, 8), np.float32), key_padding_mask=np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"^PositionalEmbedding\(4, 3\): expected last dimension 3"):
        PositionalEmbedding(4, 3)(np.zeros((1, 2, 4), np.float32))


BAD_ARGUMENTS = [
    (lambda: MultiHeadAttention(8, 3), ValueError, ["MultiHeadAttention", "divisible", "num_heads=3"]),
    (lambda: MultiHeadAttention(0, 1), ValueError, ["MultiHeadAttention", "embed_dim", "0"]),
    (lambda: MultiHeadAttention(8, 2.0), TypeError, ["MultiHeadAttention", "num_heads", "2.0"]),
    (lambda: MultiHeadAttention(8, 2, causal="yes"), TypeError, ["MultiHeadAttention", "causal", "'yes'"]),
    (lambda: MultiHeadAttention(8, 2, bias=1), TypeError, ["MultiHeadAttention", "bias", "1"]),
    (lambda: MultiHeadAttention(8, 2, dropout=1.0), ValueError, ["MultiHeadAttention", "dropout", "1.0"]),
    (lambda: MultiHeadAttention(8, 2, dropout=NAN), ValueError, ["MultiHeadAttention", "dropout", "nan"]),
    (lambda: MultiHeadAttention(8, 2, rng=3), TypeError, ["MultiHeadAttention", "rng", "3"]),
    (lambda: MultiHeadAttention(8, 2, dtype=np.int8), TypeError, ["MultiHeadAttention", "dtype", "int8"]),
    (lambda: PositionalEmbedding(0, 4), ValueError, ["PositionalEmbedding", "max_len", "0"]),
    (lambda: PositionalEmbedding(4, 4, sinusoidal=1), TypeError, ["PositionalEmbedding", "sinusoidal", "1"]),
    (lambda: TransformerBlock(8, 3), ValueError, ["MultiHeadAttention", "divisible", "num_heads=3"]),
    (lambda: TransformerBlock(8, 2, mlp_ratio=0), ValueError, ["TransformerBlock", "mlp_ratio", "0"]),
    (lambda: TransformerBlock(8, 2, mlp_ratio=INF), ValueError, ["TransformerBlock", "mlp_ratio", "inf"]),
    (lambda: TransformerBlock(8, 2, dropout=-0.1), ValueError, ["TransformerBlock", "dropout", "-0.1"]),
    (lambda: TransformerBlock(8, 2, causal=None), TypeError, ["TransformerBlock", "causal", "None"]),
    (lambda: TransformerBlock(8, 2, approximate="x"), ValueError, ["GELU", "approximate", "'x'"]),
]


@pytest.mark.parametrize("construct,error,words", BAD_ARGUMENTS, ids=argument_ids(BAD_ARGUMENTS))
def test_bad_constructor_argument_is_refused_with_a_clear_message(construct, error, words):
    assert_refused_clearly(construct, error, words)


@pytest.mark.parametrize(
    "construct",
    [
        lambda: MultiHeadAttention(np.int64(8), np.int32(2), causal=np.True_, dropout=np.float32(0.25)),
        lambda: PositionalEmbedding(np.int64(5), np.int64(4), sinusoidal=np.False_),
        lambda: TransformerBlock(
            np.int64(8), np.int64(2), mlp_ratio=np.float64(1.5), dropout=np.float32(0.1)
        ),
    ],
)
def test_valid_arguments_of_every_numeric_type_are_accepted(construct):
    layer = construct()
    for _, sub in layer.named_layers():
        assert_accepted(sub)


# -- model files and float64 -----------------------------------------------------------------------------------
def test_a_transformer_language_model_saves_and_loads(tmp_path, rng):
    sn.seed(1)
    model = sn.Sequential(
        [
            Embedding(11, 8),
            PositionalEmbedding(6, 8, sinusoidal=True),
            TransformerBlock(8, 2, dropout=0.1, approximate="tanh"),
            TransformerBlock(8, 4, mlp_ratio=2),
            LayerNorm(8),
            Dense(8, 11),
        ]
    )
    ids = rng.integers(0, 11, (3, 6))
    model.eval()
    path = tmp_path / "lm.npz"
    model.save(path)
    loaded = sn.load_model(path)
    loaded.eval()
    np.testing.assert_array_equal(loaded(ids), model(ids))
    assert loaded.layers[2].dropout == 0.1 and loaded.layers[2].act.approximate == "tanh"


def test_float64_layers(rng):
    block = TransformerBlock(8, 2, dtype=np.float64)
    assert {p.value.dtype for p in block.parameters()} == {np.dtype(np.float64)}
    y = block(rng.standard_normal((2, 3, 8)).astype(np.float32))
    assert y.dtype == np.float64 and block.backprop(np.ones_like(y)).dtype == np.float64


# -- hostile input (hypothesis): a clear error or a finite result ----------------------------------------------
LAYERS = [
    (GELU, (4,)),
    (lambda: GELU("tanh"), (4,)),
    (SiLU, (4,)),
    (lambda: LayerNorm(4), (3, 4)),
    (lambda: MultiHeadAttention(4, 2, causal=True), (3, 4)),
    (lambda: PositionalEmbedding(3, 4), (3, 4)),
    (lambda: TransformerBlock(4, 2, dropout=0.2), (3, 4)),
    (lambda: Conv1D(2, 3, 2, padding="same"), (2, 4)),
]


@settings(
    max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)
@given(
    index=st.integers(0, len(LAYERS) - 1),
    n=st.sampled_from([0, 1, 2, 5]),
    x_dtype=st.sampled_from(["float32", "float64", "float16", ">f8", "int64", "uint8", "bool", "complex128"]),
    dout_dtype=st.sampled_from(["float32", "float64", "float16", "int64", "bool"]),
    scale=st.sampled_from([1.0, 30.0, 1e4]),
    wrong_shape=st.booleans(),
    training=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_hostile_input_gives_a_clear_error_or_a_finite_result(
    index, n, x_dtype, dout_dtype, scale, wrong_shape, training, seed
):
    make, features = LAYERS[index]
    layer = make()
    layer.train(training)
    rng = np.random.default_rng(seed)
    shape = (n, *features)
    if wrong_shape:
        shape = shape[:-1] + (shape[-1] + 1,)
    x = rng.uniform(-scale, scale, shape).astype(np.dtype(x_dtype))
    try:
        y = layer(x)
    except (TypeError, ValueError) as err:
        assert str(err).startswith(repr(layer)), err
        return
    assert y.shape[0] == n
    if x.dtype.kind == "f" and np.isfinite(x).all():
        assert np.isfinite(y).all(), (
            f"{layer!r}: non-finite output from finite {x.dtype} input of scale {scale}"
        )
    dout = rng.standard_normal(y.shape).astype(np.dtype(dout_dtype))
    if dout.dtype.kind != "f":
        with pytest.raises(TypeError):
            layer.backprop(dout)
        return
    dx = layer.backprop(dout)
    assert dx.shape == x.shape
    if np.isfinite(x).all() and np.isfinite(dout).all() and scale < 1e4:
        assert np.isfinite(dx).all(), f"{layer!r}: non-finite gradient"
