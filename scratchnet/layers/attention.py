r"""Attention: multi-head self-attention, positional embeddings and a pre-norm transformer block.

Shapes: a sequence x (N, T, D): N samples, T positions, D features ("embed_dim"). Self-attention lets every
position t read every position s (or only s <= t, ``causal``), weighted by how well t's query matches s's key.

**Multi-head attention** (Vaswani et al. 2017), with H heads of size :math:`d = D/H`. The projections are
Dense-like, :math:`x W` with W (D, D):

.. math::
    Q = xW_q + b_q,\quad K = xW_k + b_k,\quad V = xW_v + b_v \quad (N, T, D)\ \to\ (N, H, T, d)\ \text{per head}

    S_h = Q_h K_h^\top / \sqrt d + M,\qquad P_h = \mathrm{softmax}_{\text{row}}(S_h),\qquad O_h = P_h V_h

    y = \mathrm{concat}_h(O_h)\, W_o + b_o

M is 0 where query t may read key s and :math:`-\infty` where it may not (s > t when ``causal``; a padded key,
``key_padding_mask[n, s]`` True), so the masked entries of P are exactly 0. A row with every key masked has
no softmax (0/0): its P row is set to 0, so its output is :math:`b_o`, never NaN. With ``dropout`` p > 0
in training, :math:`P` is replaced by :math:`\tilde P = P \odot R/(1-p)` in :math:`O_h = \tilde P_h V_h`,
R a Bernoulli(1 - p) mask (as PyTorch's attention dropout).

Backward, from :math:`G = \partial L/\partial y` (rows of (N*T, D)), each step the transpose of a forward one:

.. math::
    \partial W_o = O^\top G,\quad \partial b_o = \textstyle\sum_{rows} G,\quad \partial O = G W_o^\top

    \partial V_h = \tilde P_h^\top \partial O_h,\qquad \partial\tilde P_h = \partial O_h V_h^\top,\qquad
    \partial P = \partial\tilde P \odot R/(1-p)

The softmax Jacobian-vector product: for one row, :math:`\partial P_j/\partial S_i = P_j(\delta_{ij} - P_i)`,
so :math:`\partial S_i = \sum_j \partial P_j P_j(\delta_{ij} - P_i) = P_i(\partial P_i - \sum_j \partial P_j P_j)`
-- one row sum, no T x T Jacobian (masked entries have P = 0 and get no gradient, so neither does M). Then the
scaled product :math:`S = (Q/\sqrt d) K^\top`:

.. math::
    \partial Q_h = \partial S_h K_h / \sqrt d,\qquad \partial K_h = \partial S_h^\top Q_h / \sqrt d

and the projections as in Dense: :math:`\partial W_q = x^\top \partial Q`, :math:`\partial b_q = \sum_{rows}
\partial Q` (same for k, v), :math:`\partial x = \partial Q W_q^\top + \partial K W_k^\top + \partial V W_v^\top`.

The key bias: :math:`b_k` adds :math:`q_t \cdot b_k` to every score of query t's row, the same for every key,
and the softmax of a row does not change when a constant is added to all its entries. So :math:`b_k` changes
nothing and :math:`\partial L/\partial b_k = 0` exactly (:math:`\sum_s \partial S_{ts} = 0` for every row,
from the Jacobian-vector product above). The layer keeps ``bk`` for PyTorch's parameter layout (its
``in_proj_bias`` has one) but leaves it out of the scores, so that its gradient is exactly 0 rather than
rounding noise; PyTorch's ``bk`` gradient is that noise (in float32 ~1e-7 of the weights' gradients).

The code computes Q, K and V with one product (x times the stacked ``[Wq | Wk | Wv]``, (D, 3D)), and every
head and sample at once with batched products on (N, H, T, d) stacks: no Python loop over heads or time.
There is no fast path for these layers yet: this file's code runs on both tiers (a TransformerBlock's Dense
layers take theirs).

**Positional embedding**: attention alone does not know the order of the positions, so
``PositionalEmbedding`` adds a vector per position, :math:`y_{n,t} = x_{n,t} + E_t`: learned (a (max_len, D)
parameter, gradient :math:`\partial E_t = \sum_n g_{n,t}`) or the fixed sinusoids of Vaswani et al.

**Transformer block** (pre-norm, as GPT-2): :math:`h = x + \mathrm{MHA}(\mathrm{LN}_1(x))`,
:math:`y = h + W_2\,\mathrm{GELU}(W_1 \mathrm{LN}_2(h))`. Each residual sum passes its gradient to both
branches, so :math:`\partial h = g + \mathrm{MLP}'^\top g` and :math:`\partial x = \partial h +
\mathrm{MHA}'^\top \partial h` (through the layer norms).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scratchnet.arguments import (
    as_array,
    as_float_dtype,
    check_bool,
    check_float,
    check_rng,
    check_size,
    init_array,
)
from scratchnet.backend import get_array_module
from scratchnet.layers.activations import GELU
from scratchnet.layers.base import InputSpec, Layer
from scratchnet.layers.dense import Dense
from scratchnet.layers.dropout import Dropout
from scratchnet.layers.normalization import LayerNorm
from scratchnet.random import get_rng, spawn_rng


class MultiHeadAttention(Layer):
    r"""Multi-head self-attention on (N, T, D): the equations in the module docstring.

    ``forward(x, key_padding_mask=None)``: ``key_padding_mask`` is a boolean (N, T) array, True where a key
    position is padding (no query reads it; PyTorch's convention). ``causal=True`` lets position t read only
    positions s <= t. Parameters ``Wq``, ``Wk``, ``Wv``, ``Wo`` (D, D), used as ``x @ W`` like Dense (PyTorch's
    ``in_proj_weight`` holds their transposes stacked), and, with ``bias=True``, ``bq``, ``bk``, ``bv``, ``bo``
    (D,). ``dropout`` drops attention probabilities in training. After a forward, ``attention`` holds the
    probabilities P (N, H, T, T) (before dropout), for looking at what each head reads.
    """

    input_spec = InputSpec("(N, T, {embed_dim})", ndim=3, last_dim="embed_dim")
    saved_for_backward = ("input",)

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        causal: bool = False,
        bias: bool = True,
        dropout: float = 0.0,
        weight_init: Any = "xavier",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        who = "MultiHeadAttention"
        self.embed_dim = check_size(who, "embed_dim", embed_dim)
        self.num_heads = check_size(who, "num_heads", num_heads)
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"{who}: embed_dim must be divisible by num_heads, got embed_dim={embed_dim!r}, "
                f"num_heads={num_heads!r}"
            )
        self.head_dim = self.embed_dim // self.num_heads
        self.causal = check_bool(who, "causal", causal)
        self.use_bias = check_bool(who, "bias", bias)
        self.dropout = check_float(
            who, "dropout", dropout, low=0.0, high=1.0, high_inclusive=False, what="drop probability"
        )
        dt = as_float_dtype(dtype, who)
        init_rng = get_rng() if check_rng(who, rng) is None else rng
        shape = (self.embed_dim, self.embed_dim)
        for name in ("Wq", "Wk", "Wv", "Wo"):
            self.add_param(name, init_array(who, name, weight_init, shape, rng=init_rng, dtype=dt))
        if self.use_bias:
            for name in ("bq", "bk", "bv", "bo"):
                self.add_param(name, np.zeros(self.embed_dim, dtype=dt))
        if self.dropout > 0:  # a private stream for the dropout masks, as Dropout's
            self.rng = spawn_rng() if rng is None else rng
        self.attention: np.ndarray | None = None
        self._cache: tuple | None = None

    def __repr__(self) -> str:
        extra = (", causal=True" if self.causal else "") + ("" if self.use_bias else ", bias=False")
        extra += f", dropout={self.dropout}" if self.dropout else ""
        return f"MultiHeadAttention({self.embed_dim}, {self.num_heads}{extra})"

    def forward(self, x: np.ndarray, key_padding_mask: Any = None) -> np.ndarray:
        xp = get_array_module(x)
        n, t, D = x.shape
        H, d = self.num_heads, self.head_dim
        masked = attention_mask(self, key_padding_mask, n, t, xp)  # (N or 1, 1, T or 1, T) bool, or None
        p = self.params
        x2 = x.reshape(n * t, D)
        # Q, K, V in one product: x [Wq | Wk | Wv] + [bq | bk | bv], then split into heads (3, N, H, T, d)
        w_qkv = xp.concatenate([p["Wq"], p["Wk"], p["Wv"]], axis=1)  # (D, 3D)
        qkv = x2 @ w_qkv
        if self.use_bias:  # bk is left out: see "The key bias" in the module docstring
            qkv[:, :D] += p["bq"]
            qkv[:, 2 * D :] += p["bv"]
        qkv = xp.ascontiguousarray(qkv.reshape(n, t, 3, H, d).transpose(2, 0, 3, 1, 4))
        scale = x.dtype.type(1.0 / math.sqrt(d))
        q, k, v = qkv[0] * scale, qkv[1], qkv[2]  # the 1/sqrt(d) on Q: S = (Q/sqrt d) K^T
        s = q @ k.transpose(0, 1, 3, 2)  # (N, H, T, T)
        if masked is not None:
            s += xp.where(masked, x.dtype.type(-np.inf), x.dtype.type(0))
        prob = masked_softmax(s, masked is not None)
        self.attention = prob
        keep = None
        if self.training and self.dropout > 0:
            keep = xp.asarray(self.rng.random(prob.shape) >= self.dropout).astype(x.dtype)
            keep *= x.dtype.type(1.0 / (1.0 - self.dropout))
            prob = prob * keep
        o = prob @ v  # (N, H, T, d)
        o2 = xp.ascontiguousarray(o.transpose(0, 2, 1, 3)).reshape(n * t, D)  # concat over heads
        y = o2 @ p["Wo"]
        if self.use_bias:
            y += p["bo"]
        self._cache = (x2, w_qkv, q, k, v, self.attention, keep, o2)
        return y.reshape(n, t, D)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x2, w_qkv, q, k, v, prob, keep, o2 = self._cache
        xp = get_array_module(dout)
        n, H, t, d = q.shape
        D = self.embed_dim
        g2 = dout.reshape(n * t, D)
        self.grads["Wo"] = o2.T @ g2
        do = xp.ascontiguousarray((g2 @ self.params["Wo"].T).reshape(n, t, H, d).transpose(0, 2, 1, 3))
        dropped = prob if keep is None else prob * keep
        dv = dropped.transpose(0, 1, 3, 2) @ do  # dV = P~^T dO
        ds = do @ v.transpose(0, 1, 3, 2)  # dP~ = dO V^T
        if keep is not None:
            ds *= keep  # dP
        ds -= (ds * prob).sum(axis=-1, keepdims=True)  # softmax JVP, row by row: dS = P (dP - sum(dP P))
        ds *= prob
        scale = dout.dtype.type(1.0 / math.sqrt(d))
        dq = ds @ k  # S = (Q/sqrt d) K^T: dQ = dS K / sqrt d ...
        dq *= scale
        dk = ds.transpose(0, 1, 3, 2) @ q  # ... and dK = dS^T Q / sqrt d (q holds Q/sqrt d)
        # back to rows (N*T, 3D) in the [Q | K | V] column order of the stacked projection
        dqkv = xp.empty((n, t, 3, H, d), dtype=dq.dtype)
        for i, grad in enumerate((dq, dk, dv)):
            dqkv[:, :, i] = grad.transpose(0, 2, 1, 3)
        dqkv = dqkv.reshape(n * t, 3 * D)
        dw = x2.T @ dqkv  # (D, 3D): [dWq | dWk | dWv]
        db = dqkv.sum(axis=0) if self.use_bias else None
        for i, name in enumerate("qkv"):
            self.grads[f"W{name}"] = xp.ascontiguousarray(dw[:, i * D : (i + 1) * D])
            if self.use_bias:
                self.grads[f"b{name}"] = db[i * D : (i + 1) * D].copy()
        if self.use_bias:
            self.grads["bk"] = xp.zeros_like(self.params["bk"])  # the key bias changes nothing
            self.grads["bo"] = g2.sum(axis=0)
        return (dqkv @ w_qkv.T).reshape(n, t, D)


def masked_softmax(s: np.ndarray, any_masked: bool) -> np.ndarray:
    r"""Softmax over the last axis of scores ``s`` in which masked entries are :math:`-\infty`, shifted by the
    row maximum so exp never overflows. A row whose entries are all masked gives zeros (not 0/0 = NaN)."""
    xp = get_array_module(s)
    if s.shape[-1] == 0:  # no positions (T = 0): nothing to normalise
        return s.copy()
    top = s.max(axis=-1, keepdims=True)
    if any_masked:
        top = xp.where(top == -np.inf, s.dtype.type(0), top)  # a fully masked row: exp(-inf - 0) = 0
    e = xp.exp(s - top)
    total = e.sum(axis=-1, keepdims=True)
    if any_masked:
        total = xp.where(total == 0, s.dtype.type(1), total)
    e /= total
    return e


def attention_mask(layer: Layer, key_padding_mask: Any, n: int, t: int, xp: Any) -> Any:
    """Where query t may NOT read key s: (1, 1, T, T) for ``causal`` (s > t), (N, 1, 1, T) for padded keys,
    their union (N, 1, T, T), or None when nothing is masked."""
    masked = None
    if getattr(layer, "causal", False):
        steps = xp.arange(t)
        masked = (steps[None, :] > steps[:, None])[None, None]
    if key_padding_mask is not None:
        pad = check_key_padding_mask(layer, key_padding_mask, n, t, xp)[:, None, None, :]
        masked = pad if masked is None else masked | pad
    return masked


def check_key_padding_mask(layer: Layer, mask: Any, n: int, t: int, xp: Any) -> Any:
    """A boolean (N, T) ``key_padding_mask`` on the layer's device (True = padded key)."""
    mask = as_array(repr(layer), "key_padding_mask", mask)
    if mask.dtype.kind != "b":
        raise TypeError(
            f"{layer!r}: key_padding_mask must be a boolean array (True = padded key), got dtype {mask.dtype}"
        )
    if tuple(mask.shape) != (n, t):
        raise ValueError(
            f"{layer!r}: expected key_padding_mask of shape (N, T) = {(n, t)}, got {tuple(mask.shape)}"
        )
    layer._check_device(mask, "key_padding_mask")
    return xp.asarray(mask)


def sinusoids(max_len: int, dim: int) -> np.ndarray:
    r"""The fixed position vectors of Vaswani et al.: for position t and feature pair i,
    :math:`E_{t,2i} = \sin(t / 10000^{2i/D})`, :math:`E_{t,2i+1} = \cos(t / 10000^{2i/D})` (float64)."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    rate = 10000.0 ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)  # one per pair
    table = np.zeros((max_len, dim))
    table[:, 0::2] = np.sin(pos * rate)
    table[:, 1::2] = np.cos(pos * rate[: dim // 2])
    return table


class PositionalEmbedding(Layer):
    r"""Adds a vector per position to a sequence of embeddings: :math:`y_{n,t} = x_{n,t} + E_t` on (N, T, D),
    T <= ``max_len``.

    Learned (default): ``E`` is a parameter ``W`` (max_len, D), initialised N(0, 0.02^2) as GPT-2's;
    backward :math:`\partial W_t = \sum_n g_{n,t}` for t < T (0 for the rows not used), :math:`\partial x = g`.
    ``sinusoidal=True``: the fixed sinusoids (:func:`sinusoids`), a buffer, no parameters (so it keeps the
    input's dtype).
    """

    input_spec = InputSpec("(N, T, {dim})", ndim=3, last_dim="dim")
    saved_for_backward = ()

    def __init__(
        self,
        max_len: int,
        dim: int,
        sinusoidal: bool = False,
        weight_init: Any = None,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        who = "PositionalEmbedding"
        self.max_len = check_size(who, "max_len", max_len)
        self.dim = check_size(who, "dim", dim)
        self.sinusoidal = check_bool(who, "sinusoidal", sinusoidal)
        dt = as_float_dtype(dtype, who)
        shape = (self.max_len, self.dim)
        if self.sinusoidal:
            self.add_buffer("table", sinusoids(*shape).astype(dt))
        else:
            rng = get_rng() if check_rng(who, rng) is None else rng
            if weight_init is None:
                value = (0.02 * rng.standard_normal(shape)).astype(dt)
            else:
                value = init_array(who, "W", weight_init, shape, rng=rng, dtype=dt)
            self.add_param("W", value)
        self._t: int | None = None

    def __repr__(self) -> str:
        extra = ", sinusoidal=True" if self.sinusoidal else ""
        return f"PositionalEmbedding({self.max_len}, {self.dim}{extra})"

    def forward(self, x: np.ndarray) -> np.ndarray:
        t = x.shape[1]
        if t > self.max_len:
            raise ValueError(
                f"{self!r}: sequences of at most max_len = {self.max_len} positions, got T = {t} "
                f"(shape {tuple(x.shape)})"
            )
        self._t = t
        table = self.buffers["table"] if self.sinusoidal else self.params["W"]
        return x + table[:t].astype(x.dtype, copy=False)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if not self.sinusoidal:
            dw = get_array_module(dout).zeros_like(self.params["W"])
            dw[: self._t] = dout.sum(axis=0)
            self.grads["W"] = dw
        return dout


def _named(layer: Layer, name: str) -> Layer:
    layer.name = name  # read by Layer.named_layers for dotted parameter names ("attn.Wq")
    return layer


class TransformerBlock(Layer):
    r"""A pre-norm transformer block on (N, T, dim) (GPT-2's layout):

    .. math::
        h = x + \mathrm{Drop}(\mathrm{MHA}(\mathrm{LN}_1(x))),\qquad
        y = h + \mathrm{Drop}(\mathrm{fc}_2(\mathrm{GELU}(\mathrm{fc}_1(\mathrm{LN}_2(h)))))

    with ``fc1`` Dense(dim, mlp_ratio * dim) and ``fc2`` back to dim. Backward is the chain rule through those
    layers; each residual sum sends its gradient down both paths: :math:`\partial h = g +
    \mathrm{LN}_2'^\top \mathrm{fc}_1'^\top \mathrm{GELU}'^\top \mathrm{fc}_2'^\top g`, then
    :math:`\partial x = \partial h + \mathrm{LN}_1'^\top \mathrm{MHA}'^\top \partial h`.

    ``causal=True`` (default: a language model's block) masks the future; ``forward(x, key_padding_mask=None)``
    passes the mask to the attention. ``dropout`` is used on the attention probabilities and on both branch
    outputs before the sums. ``approximate`` picks the GELU form (``"none"``: erf, PyTorch's default;
    ``"tanh"``). Sub-layers: ``ln1``, ``attn``, ``ln2``, ``fc1``, ``act``, ``fc2`` (and ``drop1``, ``drop2``
    when ``dropout`` > 0), so parameters are named ``attn.Wq``, ``fc1.W``, ...
    """

    input_spec = InputSpec("(N, T, {dim})", ndim=3, last_dim="dim")
    saved_for_backward = ()  # the sub-layers keep their own arrays

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4,
        causal: bool = True,
        dropout: float = 0.0,
        approximate: str = "none",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        who = "TransformerBlock"
        self.dim = check_size(who, "dim", dim)
        self.num_heads = check_size(who, "num_heads", num_heads)
        ratio = check_float(who, "mlp_ratio", mlp_ratio, low=0.0, low_inclusive=False)
        self.hidden = max(1, round(ratio * self.dim))
        self.causal = check_bool(who, "causal", causal)
        self.dropout = check_float(
            who, "dropout", dropout, low=0.0, high=1.0, high_inclusive=False, what="drop probability"
        )
        check_rng(who, rng)
        self.ln1 = _named(LayerNorm(self.dim, dtype=dtype), "ln1")
        self.attn = _named(
            MultiHeadAttention(
                self.dim, self.num_heads, causal=self.causal, dropout=self.dropout, dtype=dtype, rng=rng
            ),
            "attn",
        )
        self.ln2 = _named(LayerNorm(self.dim, dtype=dtype), "ln2")
        self.fc1 = _named(Dense(self.dim, self.hidden, dtype=dtype, rng=rng), "fc1")
        self.act = _named(GELU(approximate), "act")
        self.fc2 = _named(Dense(self.hidden, self.dim, dtype=dtype, rng=rng), "fc2")
        self.drop1 = self.drop2 = None
        if self.dropout > 0:
            self.drop1 = _named(Dropout(self.dropout, rng=rng), "drop1")
            self.drop2 = _named(Dropout(self.dropout, rng=rng), "drop2")

    def __repr__(self) -> str:
        extra = "" if self.causal else ", causal=False"
        extra += f", dropout={self.dropout}" if self.dropout else ""
        return f"TransformerBlock({self.dim}, {self.num_heads}{extra})"

    def children(self) -> list[Layer]:
        drops = [self.drop1, self.drop2] if self.drop1 is not None else []
        return [self.ln1, self.attn, self.ln2, self.fc1, self.act, self.fc2, *drops]

    def forward(self, x: np.ndarray, key_padding_mask: Any = None) -> np.ndarray:
        a = self.attn(self.ln1(x), key_padding_mask=key_padding_mask)
        if self.drop1 is not None:
            a = self.drop1(a)
        h = x + a
        m = self.fc2(self.act(self.fc1(self.ln2(h))))
        if self.drop2 is not None:
            m = self.drop2(m)
        return h + m

    def backward(self, dout: np.ndarray) -> np.ndarray:
        g = dout if self.drop2 is None else self.drop2.backprop(dout)
        dh = dout + self.ln2.backprop(self.fc1.backprop(self.act.backprop(self.fc2.backprop(g))))
        g = dh if self.drop1 is None else self.drop1.backprop(dh)
        return dh + self.ln1.backprop(self.attn.backprop(g))
