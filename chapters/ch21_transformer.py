"""Chapter 21 (beyond the course): attention by hand, then a small transformer against chapter 15's LSTM
=======================================================================================================
What the course claims (Deep Learning with TensorFlow ends with recurrent networks):

* its last language model is chapter 15's character model on Tiny Shakespeare: a 128-dimensional embedding,
  two LSTM layers of 128 units, a softmax over the 65 characters, Adam at 0.002 with gradients clipped to 5,
  batches of 60 x 50 with the state carried; its training loop prints the loss and time of every batch and
  a 50-character sample after every epoch, and shows no values of either;
* the course has no attention and no transformer: everything below is ours, set against that LSTM.

Attention from its equations. Every position t has a query q_t, a key k_t and a value v_t (rows of
Q = x W_q, K = x W_k, V = x W_v). Position t reads every position s with weight P[t, s], the softmax over s
of the scores S[t, s] = q_t . k_s / sqrt(d), and outputs O_t = sum_s P[t, s] v_s. A causal model sets
S[t, s] = -inf for s > t, so each position reads only the past. Backward, with G = dL/dO: dV = P^T G,
dP = G V^T, then through the softmax row by row dS = P * (dP - sum_s dP P), and dQ = dS K / sqrt(d),
dK = dS^T Q / sqrt(d) (``scratchnet/layers/attention.py`` derives it). The first section works this out for
three tokens with d = 2 and checks it against ``MultiHeadAttention``, forward and backward.

The comparison: chapter 15's LSTM (its ``char_model``, its batches) and a character-level transformer
(embedding, learned positions, pre-norm ``TransformerBlock``s, a final LayerNorm, a softmax layer) with the
number of parameters matched as closely as the width allows, each trained for the same wall-clock time
(``--budget`` seconds each, one after the other on this machine) with the same Adam (0.002, clip 5), on the
first 95% of the text. Both are scored on the last 5%: the cross-entropy per character (nats) and bits per
character (nats / ln 2); both write samples after "The " through ``scratchnet.generate``, and a figure
shows what the transformer's heads read. Whichever wins is reported as measured. The final table (with the
run's command, data and time) is kept in ``<out>/results.md``; ``--quick`` trains 2 seconds each on the
first 40,000 characters.
"""

from __future__ import annotations

import math
import time

import numpy as np
from _common import data_dir, notes, report, savefig, section, setup, write_results
from ch15_char_model import BATCH, SEQ, char_model, mean_loss, reset, stream_batches

import scratchnet
from scratchnet import Sequential
from scratchnet.datasets import load_tiny_shakespeare
from scratchnet.layers import (
    Dense,
    Embedding,
    LayerNorm,
    MultiHeadAttention,
    PositionalEmbedding,
    TransformerBlock,
)
from scratchnet.losses import SequenceCrossEntropy
from scratchnet.optim import Adam
from scratchnet.plotting import new_figure

CONTEXT, LAYERS, HEADS, WINDOWS = 128, 2, 4, 24  # transformer: context, blocks, heads, windows per batch
LSTM_RECIPE = "ch15: 2 x LSTM(128), Adam 0.002, clip 5, 60 x 50 streams"


def options(parser) -> None:
    parser.add_argument(
        "--budget", type=float, default=600.0, help="training seconds per model (default 600)"
    )


# -- attention by hand -------------------------------------------------------------------------------------
def attention_by_hand(rows: list) -> None:
    """Three tokens, d = 2, one head: scores, softmax, output and gradients by hand against the layer."""
    section("attention by hand: 3 tokens, d = 2")
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # with identity weights Q = K = V = x
    s = x @ x.T / math.sqrt(2)
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    o = p @ x
    print(
        f"  x = Q = K = V =\n{x}\n  S = Q K^T / sqrt(2) =\n{s.round(4)}\n  P = softmax by rows =\n{p.round(4)}"
    )
    print(f"  O = P V =\n{o.round(4)}")
    layer = MultiHeadAttention(2, 1, dtype=np.float64)
    for name, value in layer.params.items():
        value[...] = np.eye(2) if name.startswith("W") else 0.0
    y = layer(x[None])[0]
    g = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, -1.0]])  # dL/dO
    dx = layer.backprop(g[None])[0]
    dp = g @ x.T  # dP = G V^T
    ds = p * (dp - (dp * p).sum(axis=1, keepdims=True))  # the softmax's Jacobian-vector product
    by_hand = p.T @ g + (ds @ x + ds.T @ x) / math.sqrt(2)  # x is V, Q and K: dV + dQ + dK
    print(f"  dS = P * (dP - rowsum(dP P)) =\n{ds.round(4)}\n  dx by hand =\n{by_hand.round(4)}")
    err = max(np.abs(y - o).max(), np.abs(dx - by_hand).max())
    causal = MultiHeadAttention(2, 1, causal=True, dtype=np.float64)
    for name, value in causal.params.items():
        value[...] = np.eye(2) if name.startswith("W") else 0.0
    causal(x[None])
    print(f"  layer vs hand, output and dx: max difference {err:.1e}")
    print(f"  causal P (row t reads s <= t only) =\n{causal.attention[0, 0].round(4)}")
    rows.append(("attention by hand vs MultiHeadAttention: largest difference", "(no attention in the course)", f"{err:.1e}", "3 tokens, d = 2", "identity W, float64"))  # fmt: skip
    rows.append(("causal P, row 1 (reads tokens 0, 1)", "(no attention in the course)", causal.attention[0, 0, 1].round(4), "3 tokens, d = 2", "identity W, float64"))  # fmt: skip


# -- the data and the two models ---------------------------------------------------------------------------
def text_splits(args):
    """Tiny Shakespeare as ids: the first 95% to train on, the last 5% held out (as chapter 15)."""
    where = data_dir()
    corpus = load_tiny_shakespeare(**({"data_dir": where} if where is not None else {}))
    ids = corpus.ids[:40_000] if args.quick else corpus.ids
    split = int(len(ids) * 0.95)
    print(
        f"data: tiny shakespeare, {len(ids):,} characters used, {len(corpus.vocab)} distinct, from {corpus.source}"
    )
    return corpus.vocab, ids[:split], ids[split:]


def char_transformer(vocab_size: int, dim: int) -> Sequential:
    blocks = [TransformerBlock(dim, HEADS, approximate="tanh") for _ in range(LAYERS)]  # GPT-2's GELU
    return Sequential(
        [
            Embedding(vocab_size, dim),
            PositionalEmbedding(CONTEXT, dim),
            *blocks,
            LayerNorm(dim),
            Dense(dim, vocab_size),
        ]
    )


def count(model) -> int:
    return sum(p.value.size for p in model.parameters())


def transformer_count(v: int, d: int) -> int:
    """Parameters of ``char_transformer(v, d)``: embedding and positions, per block 4 d x d attention matrices,
    the d x 4d and 4d x d MLP and 13 d biases and norm scales, the final norm and the softmax layer."""
    return v * d + CONTEXT * d + LAYERS * (12 * d * d + 13 * d) + 2 * d + d * v + v


def matched_models(vocab_size: int, rows: list):
    """Chapter 15's LSTM, and the transformer whose width (a multiple of the heads) gives the nearest count."""
    lstm = char_model(vocab_size)
    target = count(lstm)
    dim = min(range(HEADS, 257, HEADS), key=lambda d: abs(transformer_count(vocab_size, d) - target))
    transformer = char_transformer(vocab_size, dim)
    assert count(transformer) == transformer_count(vocab_size, dim)
    recipe = f"{LAYERS} x TransformerBlock({dim}, {HEADS}, tanh GELU), context {CONTEXT}, Adam 0.002, clip 5, {WINDOWS} x {CONTEXT} windows"
    print(f"  LSTM: {target:,} parameters; transformer (dim {dim}): {count(transformer):,} parameters")
    rows.append(("parameters: LSTM / transformer", "(not printed)", f"{target:,} / {count(transformer):,}", "65 characters", recipe))  # fmt: skip
    return lstm, transformer, recipe


# -- training for a wall-clock budget ----------------------------------------------------------------------
def train_for(model, batches, budget: float, name: str) -> dict:
    """Adam 0.002, clip 5 (chapter 15's) until ``budget`` seconds are spent; ``batches(step)`` gives (x, y)."""
    loss, opt = SequenceCrossEntropy(), Adam(model.parameters(), lr=0.002, clip_norm=5.0)
    start, curve, chars = time.perf_counter(), [], 0
    while time.perf_counter() - start < budget:
        x, y = batches(len(curve))
        value = loss(model(x), y)
        model.backprop(loss.backward())
        opt.step()
        chars += x.size
        curve.append((time.perf_counter() - start, value))
        if len(curve) % 50 == 1:
            print(f"  {name}: step {len(curve)}, {curve[-1][0]:.0f} s, train loss {value:.3f}")
    secs = time.perf_counter() - start
    print(
        f"  {name}: {len(curve)} steps, {chars:,} characters in {secs:.0f} s, last train loss {curve[-1][1]:.3f}"
    )
    return {"curve": curve, "steps": len(curve), "chars": chars, "secs": secs}


def lstm_run(lstm, train_ids, held_ids, budget: float) -> dict:
    """Chapter 15's loop: its 60 x 50 streams in order, the state carried, reset at each pass."""
    xs, ys = stream_batches(train_ids, BATCH, SEQ)

    def batches(step: int):
        if step % len(xs) == 0:
            reset(lstm)
        return xs[step % len(xs)], ys[step % len(xs)]

    run = train_for(lstm, batches, budget, "LSTM")
    vx, vy = stream_batches(held_ids, 10, SEQ)
    run["held_out"] = mean_loss(lstm, SequenceCrossEntropy(), vx, vy)
    return run


def transformer_run(model, train_ids, held_ids, budget: float, seed: int) -> dict:
    """Random windows of CONTEXT characters; scored on the held-out text cut into windows of CONTEXT."""
    rng = np.random.default_rng(seed)
    offsets = np.arange(CONTEXT)

    def batches(step: int):
        starts = rng.integers(0, len(train_ids) - CONTEXT - 1, WINDOWS)[:, None] + offsets
        return train_ids[starts], train_ids[starts + 1]

    run = train_for(model, batches, budget, "transformer")
    n = (len(held_ids) - 1) // CONTEXT
    vx = held_ids[: n * CONTEXT].reshape(n, CONTEXT)
    vy = held_ids[1 : n * CONTEXT + 1].reshape(n, CONTEXT)
    model.eval()
    loss = SequenceCrossEntropy()
    run["held_out"] = float(np.mean([loss(model(vx[i : i + 16]), vy[i : i + 16]) for i in range(0, n, 16)]))
    model.train()
    return run


def comparison(lstm, transformer, recipe: str, data, args, rows: list) -> dict:
    vocab, train_ids, held_ids = data
    section(f"training each model for {args.budget:.0f} s of wall-clock time")
    runs = {"LSTM": lstm_run(lstm, train_ids, held_ids, args.budget)}
    runs["transformer"] = transformer_run(transformer, train_ids, held_ids, args.budget, args.seed)
    where = "tiny shakespeare" + (" (first 40k chars)" if args.quick else "") + ", last 5% held out"
    for name, run, rec in (("LSTM", runs["LSTM"], LSTM_RECIPE), ("transformer", runs["transformer"], recipe)):
        course = "(not printed)" if name == "LSTM" else "(no transformer)"
        bpc = run["held_out"] / math.log(2)
        print(f"  {name}: held-out loss {run['held_out']:.3f} nats/char = {bpc:.3f} bits/char")
        rows.append((f"{name}: steps / characters in {run['secs']:.0f} s", course, f"{run['steps']} / {run['chars']:,}", "this machine", rec))  # fmt: skip
        rows.append((f"{name}: held-out loss / bits per char", course, f"{run['held_out']:.3f} / {bpc:.3f}", where, rec))  # fmt: skip
    curves_figure(runs, args)
    return runs


def samples(lstm, transformer, vocab, args, rows: list) -> None:
    section("samples after 'The ' (temperature 0.8, scratchnet.generate)")
    prime = np.asarray(vocab.encode("The "))
    length = 100 if args.quick else 300
    for name, model in (("LSTM", lstm), ("transformer", transformer)):
        ids = scratchnet.generate(model, prime, length, temperature=0.8, seed=args.seed)
        text = "".join(vocab.id_to_word[int(i)] for i in ids)
        print(f"\n[{name}]\n{text}")
        course = "(not shown)" if name == "LSTM" else "(no transformer)"
        rows.append((f"{name}: sample, first 40 characters", course, repr(text[:40]), "prime 'The '", "temperature 0.8"))  # fmt: skip


# -- figures -----------------------------------------------------------------------------------------------
def curves_figure(runs: dict, args) -> None:
    fig = new_figure(7, 4)
    ax = fig.add_subplot(1, 1, 1)
    for name, run in runs.items():
        t, v = zip(*run["curve"])
        ax.plot(t, v, lw=0.8, label=f"{name} (train)")
        ax.plot([run["secs"]], [run["held_out"]], "o", label=f"{name} held out")
    ax.set_xlabel("wall-clock seconds")
    ax.set_ylabel("cross-entropy per character (nats)")
    ax.set_title("Tiny Shakespeare: LSTM vs transformer, same parameters and time")
    ax.grid(alpha=0.3)
    ax.legend()
    savefig(fig, args, "lstm_vs_transformer.png")


def attention_figure(transformer, vocab, held_ids, args) -> None:
    """What each head of each block reads, on 48 held-out characters."""
    snippet = held_ids[:48][None]
    transformer.eval()
    transformer(snippet)
    transformer.train()
    blocks = [layer for layer in transformer.layers if isinstance(layer, TransformerBlock)]
    labels = [vocab.id_to_word[int(i)].replace("\n", "\\n") for i in snippet[0]]
    fig = new_figure(3 * HEADS, 3 * len(blocks))
    for b, block in enumerate(blocks):
        for h in range(HEADS):
            ax = fig.add_subplot(len(blocks), HEADS, b * HEADS + h + 1)
            ax.imshow(block.attn.attention[0, h], cmap="viridis", vmin=0, vmax=1)
            ax.set_title(f"block {b}, head {h}", fontsize=8)
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels, fontsize=4)
            ax.set_yticks([])
    fig.suptitle("attention P[t, s]: row t (query) reads column s (key); causal, so the upper triangle is 0")
    savefig(fig, args, "attention_maps.png")


def main() -> None:
    args = setup("ch21_transformer", __doc__, options=options)
    if args.quick:
        args.budget = 2.0
    rows: list = []
    attention_by_hand(rows)
    data = text_splits(args)
    vocab, train_ids, held_ids = data
    scratchnet.seed(args.seed)
    lstm, transformer, recipe = matched_models(len(vocab), rows)
    comparison(lstm, transformer, recipe, data, args, rows)
    samples(lstm, transformer, vocab, args, rows)
    attention_figure(transformer, vocab, held_ids, args)
    minutes = (time.perf_counter() - args.started) / 60
    rows.append(("this run", "-", args.command, "tiny shakespeare", f"{minutes:.1f} min wall, budget {args.budget:.0f} s each"))  # fmt: skip

    table = report(rows)
    remarks = notes(
        "Same wall-clock time, one model after the other on this machine: a busy machine shortens both runs alike.",
        "The LSTM is chapter 15's char_model and batches; its per-epoch rate decay is left out (minutes, not epochs).",
        "The LSTM's held-out state runs on through the held-out text; the transformer sees at most 128 characters back.",
        "quick mode: the first 40,000 characters and 2 s per model: numbers for CI, not for conclusions.",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
