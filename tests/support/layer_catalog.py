"""Every layer of the library, built small, with an input shape it accepts: the catalog that the
cross-backend, stand-in-device and PyTorch-parity suites run through.

Each :class:`Entry` also says how PyTorch computes the same function: ``torch_twin(layer)`` builds a
``torch.nn`` module holding copies of the layer's current weights, or ``no_twin`` says why there is none.
PyTorch is imported only when a twin is built, so the catalog loads without it.

Layout differences the twins bridge: Dense stores ``W`` as (in, out) where ``nn.Linear`` holds (out, in);
the recurrent layers store ``Wx``/``Wh`` as (D, G*H)/(H, G*H) (PyTorch's transposes, same gate order) and
one bias ``b`` = ``b_ih + b_hh`` (GRU keeps ``b_hh``'s candidate part apart as ``bhn``, since the reset
gate multiplies it); ``'same'`` padding is TensorFlow's (the odd pixel at the bottom/right), which
PyTorch has no module for, so the twins pad explicitly. MultiHeadAttention's twin computes the same
``x @ W`` projections by hand around ``torch.nn.functional.scaled_dot_product_attention``; the
TransformerBlock's is a composition of its children's twins.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np

from scratchnet.layers import (
    ELU,
    GELU,
    GRU,
    LSTM,
    RNN,
    AvgPool2D,
    BatchNorm1D,
    BatchNorm2D,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Identity,
    InceptionBlock,
    LayerNorm,
    LeakyReLU,
    LocalResponseNorm,
    MaxPool2D,
    MultiHeadAttention,
    PositionalEmbedding,
    ReLU,
    ResidualBlock,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Step,
    Tanh,
    TimeDistributed,
    TransformerBlock,
)
from scratchnet.layers.base import Layer
from scratchnet.unsupervised.autoencoder import Autoencoder, DenoisingAutoencoder, TiedAutoencoder


class TorchTwin(NamedTuple):
    """A ``torch.nn`` module computing what a scratchnet layer computes, from copies of its weights."""

    module: Any  # torch.nn.Module: input tensor -> output tensor
    grads: Callable[[], dict[str, np.ndarray]]  # after backward: gradients in the layer's layout and names


class Entry(NamedTuple):
    make: Callable[[], Layer]
    shape: tuple[int, ...]
    torch_twin: Callable[[Layer], TorchTwin] | None = None
    no_twin: str | None = None  # why PyTorch cannot serve as an oracle for this layer


# -- PyTorch twins ----------------------------------------------------------------------------------------
@functools.cache
def _nn() -> Any:
    """torch plus the few modules it lacks, defined on first use so that the catalog imports without torch."""
    import torch

    F = torch.nn.functional

    class Pad2d(torch.nn.Module):
        """Pads (N, C, H, W) like a scratchnet conv or pool: a fixed (top, bottom, left, right), or
        TensorFlow's 'same' worked out per input size (total max((ceil(n/s)-1)*s + k - n, 0), the odd pixel
        bottom/right)."""

        def __init__(self, padding: Any, kernel_size: tuple[int, int], stride: tuple[int, int], value: float):
            super().__init__()
            self.padding, self.kernel_size, self.stride, self.value = padding, kernel_size, stride, value

        def pads(self, h: int, w: int) -> tuple[int, int, int, int]:
            if self.padding == "valid":
                return (0, 0, 0, 0)
            if self.padding != "same":
                return tuple(self.padding)
            pads = []
            for n, k, s in zip((h, w), self.kernel_size, self.stride):
                total = max((-(-n // s) - 1) * s + k - n, 0)
                pads += [total // 2, total - total // 2]
            return tuple(pads)

        def forward(self, x):
            top, bottom, left, right = self.pads(*x.shape[2:])
            return F.pad(x, (left, right, top, bottom), value=self.value)

    class AvgPoolRealPixels(torch.nn.Module):
        """Average over the real (unpadded) pixels of each window: PyTorch's pooling of the zero-padded
        input, divided by the pooled share of real pixels."""

        def __init__(self, pad: Pad2d, kernel_size: tuple[int, int], stride: tuple[int, int]):
            super().__init__()
            self.pad, self.kernel_size, self.stride = pad, kernel_size, stride

        def forward(self, x):
            total = F.avg_pool2d(self.pad(x), self.kernel_size, self.stride)
            share = F.avg_pool2d(self.pad(torch.ones_like(x[:1, :1])), self.kernel_size, self.stride)
            return total / share

    class Recurrent(torch.nn.Module):
        """nn.RNN/LSTM/GRU (batch first) giving the output sequence, or only its last step."""

        def __init__(self, cell: Any, return_sequences: bool):
            super().__init__()
            self.cell, self.return_sequences = cell, return_sequences

        def forward(self, x):
            out = self.cell(x)[0]
            return out if self.return_sequences else out[:, -1]

    class EveryStep(torch.nn.Module):
        """Applies a module to each (N*T, ...) step of an (N, T, ...) sequence."""

        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            n, t = x.shape[:2]
            y = self.inner(x.reshape(n * t, *x.shape[2:]))
            return y.reshape(n, t, *y.shape[1:])

    class Residual(torch.nn.Module):
        """relu_out(bn2(conv2(relu1(bn1(conv1(x))))) + shortcut(x)), the shortcut the identity or proj_bn(proj(x))."""

        def __init__(self, parts: dict[str, Any]):
            super().__init__()
            self.parts = torch.nn.ModuleDict(parts)

        def forward(self, x):
            p = self.parts
            h = p["bn2"](p["conv2"](p["relu1"](p["bn1"](p["conv1"](x)))))
            shortcut = p["proj_bn"](p["proj"](x)) if "proj" in p else x
            return p["relu_out"](h + shortcut)

    class Concat(torch.nn.Module):
        """Every branch sees the input; their outputs are joined on the channel axis."""

        def __init__(self, branches: list[Any]):
            super().__init__()
            self.branches = torch.nn.ModuleList(branches)

        def forward(self, x):
            return torch.cat([branch(x) for branch in self.branches], dim=1)

    class Attention(torch.nn.Module):
        """Multi-head self-attention with scratchnet's parameters (``x @ W``, W (D, D)) around PyTorch's
        scaled_dot_product_attention; the key bias is added to K, as the formula writes it."""

        def __init__(self, layer: Any):
            super().__init__()
            self.heads, self.causal = layer.num_heads, layer.causal
            self.w = torch.nn.ParameterDict(
                {k: torch.nn.Parameter(_tensor(v)) for k, v in layer.params.items()}
            )

        def forward(self, x, key_padding_mask=None):
            n, t, d = x.shape
            w = self.w

            def heads(name):
                y = x @ w[f"W{name}"] + (w[f"b{name}"] if f"b{name}" in w else 0)
                return y.reshape(n, t, self.heads, d // self.heads).transpose(1, 2)

            allowed = None  # scaled_dot_product_attention's boolean mask: True = may attend
            if key_padding_mask is not None:
                allowed = ~torch.as_tensor(key_padding_mask)[:, None, None, :]
            if self.causal:
                lower = torch.ones(t, t, dtype=torch.bool).tril()
                allowed = lower if allowed is None else allowed & lower
            o = F.scaled_dot_product_attention(heads("q"), heads("k"), heads("v"), attn_mask=allowed)
            return o.transpose(1, 2).reshape(n, t, d) @ w["Wo"] + (w["bo"] if "bo" in w else 0)

    class AddPositions(torch.nn.Module):
        """x + E[:T]: a learned table (a Parameter) or the sinusoids, computed here afresh."""

        def __init__(self, layer: Any):
            super().__init__()
            if layer.sinusoidal:
                pos = torch.arange(layer.max_len, dtype=torch.float64)[:, None]
                i = torch.arange(layer.dim)
                angle = pos / 10000.0 ** ((i - i % 2) / layer.dim)  # pair i//2 shares a frequency
                self.table = torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle)).float()
            else:
                self.table = torch.nn.Parameter(_tensor(layer.params["W"]))

        def forward(self, x):
            return x + self.table[: x.shape[1]].to(x.dtype)

    class PreNormBlock(torch.nn.Module):
        """h = x + attn(ln1(x)); y = h + fc2(act(fc1(ln2(h))))."""

        def __init__(self, parts: dict[str, Any]):
            super().__init__()
            self.parts = torch.nn.ModuleDict(parts)

        def forward(self, x):
            p = self.parts
            h = x + p["attn"](p["ln1"](x))
            return h + p["fc2"](p["act"](p["fc1"](p["ln2"](h))))

    class Pad1d(torch.nn.Module):
        """Pads (N, C, L) like Conv1D: (left, right), 'valid', or TensorFlow's 'same' worked out per length."""

        def __init__(self, layer: Any):
            super().__init__()
            self.layer = layer

        def forward(self, x):
            return F.pad(x, self.layer.pad_for(x.shape[2]))

    return SimpleNamespace(
        torch=torch,
        Attention=Attention,
        AddPositions=AddPositions,
        PreNormBlock=PreNormBlock,
        Pad1d=Pad1d,
        Pad2d=Pad2d,
        AvgPoolRealPixels=AvgPoolRealPixels,
        Recurrent=Recurrent,
        EveryStep=EveryStep,
        Residual=Residual,
        Concat=Concat,
    )


def _tensor(a: np.ndarray) -> Any:
    return _nn().torch.tensor(np.array(a))


def _numpy(t: Any) -> np.ndarray:
    return t.detach().numpy()


def _no_params(module: Any) -> TorchTwin:
    return TorchTwin(module, dict)


def _activation_twin(layer: Layer) -> TorchTwin:
    nn = _nn().torch.nn
    make = {
        ReLU: nn.ReLU,
        Sigmoid: nn.Sigmoid,
        Tanh: nn.Tanh,
        Softplus: nn.Softplus,
        Identity: nn.Identity,
        Softmax: lambda: nn.Softmax(dim=-1),
        LeakyReLU: lambda: nn.LeakyReLU(layer.negative_slope),
        ELU: lambda: nn.ELU(layer.alpha),
        GELU: lambda: nn.GELU(approximate=layer.approximate),
        SiLU: nn.SiLU,
    }[type(layer)]
    return _no_params(make())


def _flatten_twin(layer: Flatten) -> TorchTwin:
    return _no_params(_nn().torch.nn.Flatten())


def _dense_twin(layer: Dense) -> TorchTwin:
    nn = _nn().torch.nn
    linear = nn.Linear(layer.in_features, layer.out_features)
    linear.weight = nn.Parameter(_tensor(layer.params["W"].T))  # nn.Linear holds (out, in)
    linear.bias = nn.Parameter(_tensor(layer.params["b"]))
    return TorchTwin(linear, lambda: {"W": _numpy(linear.weight.grad).T, "b": _numpy(linear.bias.grad)})


def _batchnorm_twin(layer: BatchNorm1D | BatchNorm2D) -> TorchTwin:
    nn = _nn().torch.nn
    kind = nn.BatchNorm1d if isinstance(layer, BatchNorm1D) else nn.BatchNorm2d
    bn = kind(layer.num_features, eps=layer.eps, momentum=layer.momentum)
    bn.weight = nn.Parameter(_tensor(layer.params["gamma"]))
    bn.bias = nn.Parameter(_tensor(layer.params["beta"]))
    bn.train(layer.training)
    return TorchTwin(bn, lambda: {"gamma": _numpy(bn.weight.grad), "beta": _numpy(bn.bias.grad)})


def _layernorm_twin(layer: LayerNorm) -> TorchTwin:
    nn = _nn().torch.nn
    ln = nn.LayerNorm(layer.normalized_shape, eps=layer.eps)
    ln.weight = nn.Parameter(_tensor(layer.params["gamma"]))
    ln.bias = nn.Parameter(_tensor(layer.params["beta"]))
    return TorchTwin(ln, lambda: {"gamma": _numpy(ln.weight.grad), "beta": _numpy(ln.bias.grad)})


def _attention_twin(layer: MultiHeadAttention) -> TorchTwin:
    module = _nn().Attention(layer)

    def grads() -> dict[str, np.ndarray]:
        out = {k: _numpy(p.grad) for k, p in module.w.items()}
        if "bk" in out:
            # the key bias shifts every score of a row alike, which the softmax ignores: its exact gradient is
            # 0 (scratchnet/layers/attention.py), PyTorch's is rounding noise around it, ~1e-7 of Wk's in float32
            # (tests/layers/test_attention.py holds it there)
            out["bk"] = np.zeros_like(out["bk"])
        return out

    return TorchTwin(module, grads)


def _positional_twin(layer: PositionalEmbedding) -> TorchTwin:
    module = _nn().AddPositions(layer)
    return TorchTwin(module, (lambda: {}) if layer.sinusoidal else (lambda: {"W": _numpy(module.table.grad)}))


def _transformer_twin(layer: TransformerBlock) -> TorchTwin:
    # ln1, attn, ln2, fc1, act, fc2 (no dropout: the catalog's blocks have none)
    children = _child_twins(layer)
    module = _nn().PreNormBlock({k: c.module for k, c in children.items()})
    return TorchTwin(module, _merged_grads(children))


def _conv1d_twin(layer: Conv1D) -> TorchTwin:
    t = _nn()
    nn = t.torch.nn
    conv = nn.Conv1d(
        layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, bias=layer.use_bias
    )
    conv.weight = nn.Parameter(_tensor(layer.params["W"]))  # same (out, in, k) layout
    if layer.use_bias:
        conv.bias = nn.Parameter(_tensor(layer.params["b"]))

    def grads() -> dict[str, np.ndarray]:
        out = {"W": _numpy(conv.weight.grad)}
        if layer.use_bias:
            out["b"] = _numpy(conv.bias.grad)
        return out

    return TorchTwin(nn.Sequential(t.Pad1d(layer), conv), grads)


def _conv_twin(layer: Conv2D) -> TorchTwin:
    t = _nn()
    nn = t.torch.nn
    conv = nn.Conv2d(
        layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, padding=0, bias=layer.use_bias
    )
    conv.weight = nn.Parameter(_tensor(layer.params["W"]))  # same (out, in, kh, kw) layout
    if layer.use_bias:
        conv.bias = nn.Parameter(_tensor(layer.params["b"]))
    module = nn.Sequential(t.Pad2d(layer.padding, layer.kernel_size, layer.stride, 0.0), conv)

    def grads() -> dict[str, np.ndarray]:
        out = {"W": _numpy(conv.weight.grad)}
        if layer.use_bias:
            out["b"] = _numpy(conv.bias.grad)
        return out

    return TorchTwin(module, grads)


def _maxpool_twin(layer: MaxPool2D) -> TorchTwin:
    t = _nn()
    pad = t.Pad2d(layer.padding, layer.kernel_size, layer.stride, float("-inf"))  # padding never wins
    return _no_params(t.torch.nn.Sequential(pad, t.torch.nn.MaxPool2d(layer.kernel_size, layer.stride)))


def _avgpool_twin(layer: AvgPool2D) -> TorchTwin:
    t = _nn()
    pad = t.Pad2d(layer.padding, layer.kernel_size, layer.stride, 0.0)
    if layer.count_include_pad:
        return _no_params(t.torch.nn.Sequential(pad, t.torch.nn.AvgPool2d(layer.kernel_size, layer.stride)))
    return _no_params(t.AvgPoolRealPixels(pad, layer.kernel_size, layer.stride))


def _global_avgpool_twin(layer: GlobalAvgPool2D) -> TorchTwin:
    nn = _nn().torch.nn
    return _no_params(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))


def _lrn_twin(layer: LocalResponseNorm) -> TorchTwin:
    return _no_params(_nn().torch.nn.LocalResponseNorm(layer.size, layer.alpha, layer.beta, layer.k))


def _recurrent_twin(layer: RNN | LSTM | GRU) -> TorchTwin:
    t = _nn()
    nn = t.torch.nn
    kind = {RNN: nn.RNN, LSTM: nn.LSTM, GRU: nn.GRU}[type(layer)]
    cell = kind(layer.input_size, layer.hidden_size, batch_first=True)
    h = layer.hidden_size
    b_hh = np.zeros_like(layer.params["b"])  # b = b_ih + b_hh: all of it goes to b_ih ...
    if isinstance(layer, GRU):
        b_hh[2 * h :] = layer.params["bhn"]  # ... except GRU's candidate part, which the reset gate scales
    cell.weight_ih_l0 = nn.Parameter(_tensor(layer.params["Wx"].T))
    cell.weight_hh_l0 = nn.Parameter(_tensor(layer.params["Wh"].T))
    cell.bias_ih_l0 = nn.Parameter(_tensor(layer.params["b"]))
    cell.bias_hh_l0 = nn.Parameter(_tensor(b_hh))
    cell.flatten_parameters()

    def grads() -> dict[str, np.ndarray]:
        out = {
            "Wx": _numpy(cell.weight_ih_l0.grad).T,
            "Wh": _numpy(cell.weight_hh_l0.grad).T,
            "b": _numpy(cell.bias_ih_l0.grad),  # where b_ih and b_hh add, their gradients are equal
        }
        if isinstance(layer, GRU):
            out["bhn"] = _numpy(cell.bias_hh_l0.grad)[2 * h :]
        return out

    return TorchTwin(t.Recurrent(cell, layer.return_sequences), grads)


def _child_twins(layer: Layer) -> dict[str, TorchTwin]:
    """Twins of a composite layer's direct children, by the names their parameters carry ("conv1", "0")."""
    return {
        getattr(child, "name", None) or str(i): torch_twin(child) for i, child in enumerate(layer.children())
    }


def _merged_grads(children: dict[str, TorchTwin]) -> Callable[[], dict[str, np.ndarray]]:
    return lambda: {f"{name}.{k}": g for name, twin in children.items() for k, g in twin.grads().items()}


def _time_distributed_twin(layer: TimeDistributed) -> TorchTwin:
    children = _child_twins(layer)
    (inner,) = children.values()
    return TorchTwin(_nn().EveryStep(inner.module), _merged_grads(children))


def _residual_twin(layer: ResidualBlock) -> TorchTwin:
    children = _child_twins(layer)
    return TorchTwin(_nn().Residual({k: c.module for k, c in children.items()}), _merged_grads(children))


def _inception_twin(layer: InceptionBlock) -> TorchTwin:
    t = _nn()
    children = _child_twins(layer)
    modules = iter(c.module for c in children.values())  # children() lists the branches in order
    branches = [t.torch.nn.Sequential(*(next(modules) for _ in branch)) for branch in layer.branches]
    return TorchTwin(t.Concat(branches), _merged_grads(children))


def _autoencoder_twin(layer: Autoencoder) -> TorchTwin:
    children = _child_twins(layer)  # encoder then decoder pairs: Dense, activation
    module = _nn().torch.nn.Sequential(*(c.module for c in children.values()))
    return TorchTwin(module, _merged_grads(children))


TWINS: dict[type, Callable[[Any], TorchTwin]] = {
    **dict.fromkeys(
        [ReLU, LeakyReLU, Sigmoid, Tanh, ELU, Softplus, Softmax, Identity, GELU, SiLU], _activation_twin
    ),
    Flatten: _flatten_twin,
    Dense: _dense_twin,
    BatchNorm1D: _batchnorm_twin,
    BatchNorm2D: _batchnorm_twin,
    Conv2D: _conv_twin,
    MaxPool2D: _maxpool_twin,
    AvgPool2D: _avgpool_twin,
    GlobalAvgPool2D: _global_avgpool_twin,
    LocalResponseNorm: _lrn_twin,
    RNN: _recurrent_twin,
    LSTM: _recurrent_twin,
    GRU: _recurrent_twin,
    TimeDistributed: _time_distributed_twin,
    ResidualBlock: _residual_twin,
    InceptionBlock: _inception_twin,
    Autoencoder: _autoencoder_twin,
    LayerNorm: _layernorm_twin,
    MultiHeadAttention: _attention_twin,
    PositionalEmbedding: _positional_twin,
    TransformerBlock: _transformer_twin,
    Conv1D: _conv1d_twin,
}


def torch_twin(layer: Layer) -> TorchTwin:
    """The PyTorch twin of ``layer`` (of its exact class: a subclass may compute something else)."""
    if type(layer) not in TWINS:
        raise KeyError(f"no PyTorch twin for {layer!r}")
    return TWINS[type(layer)](layer)


# -- the catalog ------------------------------------------------------------------------------------------
STEP = "PyTorch has no step module; its derivative is 0 by definition (tests/layers/test_activations.py checks it)"
RANDOM_MASK = "the mask comes from the layer's own generator, which PyTorch cannot reproduce"
TIED = "torch.nn has no tied-weight autoencoder (decoder = encoder weights transposed) to compare with"

CATALOG = [
    Entry(lambda: Dense(4, 3), (5, 4), torch_twin),
    Entry(ReLU, (5, 4), torch_twin),
    Entry(LeakyReLU, (5, 4), torch_twin),
    Entry(Sigmoid, (5, 4), torch_twin),
    Entry(Tanh, (5, 4), torch_twin),
    Entry(ELU, (5, 4), torch_twin),
    Entry(Softplus, (5, 4), torch_twin),
    Entry(Softmax, (5, 4), torch_twin),
    Entry(Identity, (5, 4), torch_twin),
    Entry(Step, (5, 4), no_twin=STEP),
    Entry(lambda: Dropout(0.5), (5, 4), no_twin=RANDOM_MASK),
    Entry(Flatten, (2, 3, 4), torch_twin),
    Entry(lambda: BatchNorm1D(4), (5, 4), torch_twin),
    Entry(lambda: BatchNorm2D(3), (2, 3, 4, 4), torch_twin),
    Entry(lambda: Conv2D(3, 4, 3, padding="same"), (2, 3, 5, 6), torch_twin),
    Entry(lambda: Conv2D(3, 2, 2, stride=2), (2, 3, 5, 5), torch_twin),
    Entry(lambda: Conv2D(2, 3, (2, 3), stride=2, padding="same"), (2, 2, 5, 6), torch_twin),  # pads (0, 1)
    Entry(lambda: MaxPool2D(2), (2, 3, 4, 6), torch_twin),
    Entry(lambda: MaxPool2D(3, stride=2, padding="same"), (2, 3, 5, 5), torch_twin),
    Entry(lambda: AvgPool2D(2), (2, 3, 4, 4), torch_twin),
    Entry(lambda: AvgPool2D(2, padding="same"), (2, 3, 5, 5), torch_twin),  # edge windows average real pixels
    Entry(GlobalAvgPool2D, (2, 3, 4, 4), torch_twin),
    Entry(lambda: LocalResponseNorm(3), (2, 5, 3, 3), torch_twin),
    Entry(lambda: ResidualBlock(3, 4, stride=2), (2, 3, 6, 6), torch_twin),
    Entry(lambda: InceptionBlock(3, 2, 2, 3, 1, 2, 2), (2, 3, 5, 5), torch_twin),
    Entry(lambda: RNN(3, 4), (2, 5, 3), torch_twin),
    Entry(lambda: LSTM(3, 4), (2, 5, 3), torch_twin),
    Entry(lambda: GRU(3, 4), (2, 5, 3), torch_twin),
    Entry(lambda: TimeDistributed(Dense(3, 2)), (2, 5, 3), torch_twin),
    Entry(lambda: Autoencoder((6, 4, 2)), (3, 6), torch_twin),
    Entry(lambda: TiedAutoencoder((6, 4, 2)), (3, 6), no_twin=TIED),
    Entry(lambda: DenoisingAutoencoder((6, 4, 2)), (3, 6), no_twin=RANDOM_MASK),
    # attention and the layers around it (issue #30)
    Entry(GELU, (5, 4), torch_twin),
    Entry(lambda: GELU("tanh"), (5, 4), torch_twin),
    Entry(SiLU, (5, 4), torch_twin),
    Entry(lambda: LayerNorm(4), (2, 3, 4), torch_twin),
    Entry(lambda: MultiHeadAttention(8, 2), (2, 5, 8), torch_twin),
    Entry(lambda: MultiHeadAttention(6, 3, causal=True, bias=False), (2, 4, 6), torch_twin),
    Entry(lambda: PositionalEmbedding(6, 4), (2, 5, 4), torch_twin),
    Entry(lambda: PositionalEmbedding(6, 4, sinusoidal=True), (2, 5, 4), torch_twin),
    Entry(lambda: TransformerBlock(8, 2), (2, 5, 8), torch_twin),
    Entry(lambda: Conv1D(3, 4, 3, padding=1), (2, 3, 7), torch_twin),
    Entry(lambda: Conv1D(2, 3, 4, stride=2, padding="same"), (2, 2, 9), torch_twin),
]

# (constructor, input shape) pairs, for the suites that only need a layer and an input
CORE_LAYERS = [(entry.make, entry.shape) for entry in CATALOG]
