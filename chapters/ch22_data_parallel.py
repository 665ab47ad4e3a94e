"""Chapter 22 (beyond the course): data parallelism, one model trained on several processes over MPI
=================================================================================================
What the course claims: nothing here. The course trains every network in one process and has no data
parallelism; this chapter adds it, with ``scratchnet.distributed`` (the ``[mpi]`` extra: mpi4py and MPICH).

* The gradient-averaging identity. A loss that is a mean over a batch of N samples has the gradient
  g = (1/N) sum_i grad l_i. Split the batch into one slice of n_r samples per rank, each rank computing the
  mean over its slice, g_r; then g = sum_r (n_r / N) g_r: one weighted sum over the ranks, an Allreduce.
  Every rank then holds the same g, takes the same step from the same weights and stays identical to one
  process that saw the whole batch, up to the order of the floating-point additions. Checked numerically.
* The ring Allreduce, drawn: p ranks in a ring, the buffer cut into p chunks; p - 1 steps of reduce-scatter
  (each rank passes one chunk to its neighbour, which adds its own) and p - 1 of all-gather. Each rank sends
  2 (p - 1) / p of the buffer, whatever p is: the bandwidth cost does not grow with the number of ranks.
* The course CNN (ch10's simple CNN) on a few thousand MNIST digits with
  ``Trainer(model, loss, DistributedOptimizer(Adam(...)), seed=0)``: under ``mpiexec -n 2`` each rank trains
  on half of every batch of 100; alone, the same script is one process. On several ranks rank 0 also trains
  the one-process reference and compares the loss curves step by step (and the final weights). The table gives
  steps/s and the Allreduce time per step as measured, and a ring-Allreduce cost model for 8 and 64 ranks
  at 10 and 100 Gb/s built on the measured step: modelled, not measured.
* The embarrassingly parallel case: ch10's ensemble, one member per rank (each its own seed, no Allreduce
  during training), the members' test probabilities gathered to rank 0 and summed into a vote.

Run it on two ranks with ``mpiexec -n 2 python chapters/ch22_data_parallel.py`` (``--quick`` runs in seconds,
alone, for CI). Rank 0 prints, draws the figures and keeps the final table in ``<out>/results.md``.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import numpy as np
from _common import Digits, load_course_mnist, notes, report, savefig, section, setup, write_results

import scratchnet
from scratchnet import Sequential, Trainer, distributed
from scratchnet.callbacks import Callback
from scratchnet.layers import Conv2D, Dense, Flatten, MaxPool2D, ReLU
from scratchnet.losses import SoftmaxCrossEntropy
from scratchnet.optim import SGD, Adam
from scratchnet.plotting import new_figure

MPIEXEC = "mpiexec -n 2 python chapters/ch22_data_parallel.py"
NETWORKS = (("10 Gb/s", 10e9, 20e-6), ("100 Gb/s", 100e9, 2e-6))  # bandwidth, assumed latency per message
NONE = "- (no data parallelism)"


def course_cnn() -> Sequential:
    """ch10's simple CNN (lab-11-1): 3x3 conv 32, pool, 3x3 conv 64, pool, dense 10."""
    return Sequential(
        [Conv2D(1, 32, 3, padding="same"), ReLU(), MaxPool2D(2)]
        + [Conv2D(32, 64, 3, padding="same"), ReLU(), MaxPool2D(2), Flatten(), Dense(7 * 7 * 64, 10)]
    )


class StepLog(Callback):
    """The global batch's loss and the wall time after every optimizer step."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.times: list[float] = []

    def on_batch_end(self, batch: int, logs: dict[str, Any]) -> None:
        self.losses.append(float(logs["loss"]))
        self.times.append(time.perf_counter())


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- the identity ----------------------------------------------------------------------------------------
def gradient(model: Sequential, x: np.ndarray, y: np.ndarray) -> None:
    """Leaves the gradient of the mean loss over (x, y) in the model's grads."""
    loss = SoftmaxCrossEntropy()
    loss(model(x), y)
    model.backprop(loss.backward(), params_only=True)


def flat_grads(model: Sequential) -> np.ndarray:
    return np.concatenate([np.asarray(p.grad, np.float64).ravel() for p in model.parameters()])


def identity(data: Digits, comm, seed: int, rows: list) -> None:
    section("the gradient-averaging identity: g = sum_r (n_r / N) g_r")
    x, y, n = data.x_tr[:10].astype(np.float64), data.y_tr[:10], 10
    scratchnet.seed(seed)
    model = course_cnn()
    gradient(model, x, y)
    g = flat_grads(model)
    by_hand = np.zeros_like(g)
    for lo, hi in ((0, 3), (3, 5), (5, 10)):  # three uneven slices, summed by hand
        gradient(model, x[lo:hi], y[lo:hi])
        by_hand += (hi - lo) / n * flat_grads(model)
    lo, hi = distributed.shard(n, comm.rank, comm.size)  # this rank's slice
    gradient(model, x[lo:hi], y[lo:hi])
    distributed.DistributedOptimizer(SGD(model.parameters(), lr=0.1), comm).synchronize(weight=(hi - lo) / n)
    over_ranks = flat_grads(model)
    scale = np.abs(g).max()
    hand, ranks = np.abs(by_hand - g).max() / scale, np.abs(over_ranks - g).max() / scale
    print(f"  {g.size:,} gradient entries, batch of {n}: slices 3/2/5 by hand, relative error {hand:.2e}")
    print(f"  {comm.size} rank(s), slice [{lo}, {hi}) here, summed by Allreduce: relative error {ranks:.2e}")
    rows.append(("identity: 3 slices summed by hand vs whole batch", NONE, f"{hand:.1e}", "10 digits, float32", "max abs diff / max abs g"))  # fmt: skip
    rows.append((f"identity: {comm.size} rank(s) by Allreduce vs whole batch", NONE, f"{ranks:.1e}", "10 digits, float32", "synchronize(weight=n_r/N)"))  # fmt: skip


# -- the ring --------------------------------------------------------------------------------------------
def ring_figure(p: int = 4):
    """p ranks in a ring; reduce-scatter step s: rank r sends chunk (r - s) mod p to rank r + 1."""
    fig = new_figure(10, 3.6)
    angles = np.pi / 2 - 2 * np.pi * np.arange(p) / p
    for s in range(p - 1):
        ax = fig.add_subplot(1, p - 1, s + 1)
        for r in range(p):
            cx, cy = np.cos(angles[r]), np.sin(angles[r])
            nx, ny = np.cos(angles[(r + 1) % p]), np.sin(angles[(r + 1) % p])
            ax.add_patch(matplotlib_circle((cx, cy), 0.28))
            ax.text(cx, cy, f"rank {r}", ha="center", va="center", fontsize=7)
            ax.annotate("", xy=(0.7 * nx + 0.3 * cx, 0.7 * ny + 0.3 * cy), xytext=(0.7 * cx + 0.3 * nx, 0.7 * cy + 0.3 * ny),
                        arrowprops={"arrowstyle": "->", "color": "tab:red"})  # fmt: skip
            mx, my = 0.62 * (cx + nx), 0.62 * (cy + ny)
            ax.text(mx, my, "ABCD"[(r - s) % p], color="tab:red", fontsize=9, ha="center", va="center")
        ax.set_xlim(-1.5, 1.5)
        ax.set_ylim(-1.5, 1.5)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(f"reduce-scatter step {s + 1}", fontsize=9)
    fig.suptitle(
        f"ring Allreduce, p = {p}: the buffer in chunks A-D; each step every rank sends one chunk (red) to the "
        f"next,\nwhich adds its own; after {p - 1} steps each rank holds one chunk summed, and {p - 1} more "
        "steps pass the sums round (all-gather)",
        fontsize=8,
    )
    return fig


def matplotlib_circle(center, radius):
    from matplotlib.patches import Circle

    return Circle(center, radius, fill=False, color="tab:blue")


def ring(comm, args) -> None:
    section("the ring Allreduce: 2 (p - 1) steps, each rank sending 2 (p - 1) / p of the buffer")
    if comm.rank == 0:
        savefig(ring_figure(), args, "ring_allreduce.png")


# -- training ----------------------------------------------------------------------------------------------
def fit(data: Digits, plan: dict, seed: int, comm) -> dict[str, Any]:
    """The course CNN, Adam 1e-3, batches of 100, wrapped for ``comm`` when it is given."""
    scratchnet.seed(seed)
    model = course_cnn()
    opt = Adam(model.parameters(), lr=1e-3)
    opt = distributed.DistributedOptimizer(opt, comm) if comm is not None else opt
    log = StepLog()
    trainer = Trainer(model, SoftmaxCrossEntropy(), opt, seed=seed)
    start = time.perf_counter()
    trainer.fit(data.x_tr, data.y_tr, epochs=plan["epochs"], batch_size=100, verbose=0, callbacks=[log])
    seconds = time.perf_counter() - start
    probs = softmax(trainer.predict(data.x_te, batch_size=500))
    acc = float((probs.argmax(axis=1) == data.y_te).mean())
    step = float(np.median(np.diff([start, *log.times])))
    stats = getattr(opt, "stats", {"steps": 1, "allreduce_seconds": 0.0, "bytes_per_step": 0})
    reduce_s = stats["allreduce_seconds"] / max(1, stats["steps"])
    return {"model": model, "log": log, "acc": acc, "probs": probs, "seconds": seconds, "step": step, "reduce": reduce_s,
            "bytes": stats["bytes_per_step"] or 4 * model.num_parameters()}  # fmt: skip


def train(data: Digits, plan: dict, comm, args, rows: list) -> dict[str, Any]:
    p = comm.size
    section(f"the course CNN on {p} rank(s), global batch 100 ({100 // p} per rank), Adam 1e-3")
    run = fit(data, plan, args.seed, comm)
    ref = (
        fit(data, plan, args.seed, None) if p > 1 and comm.rank == 0 else None
    )  # one process, for comparison
    comm.barrier()
    where = f"{p} rank(s), Adam 1e-3, batch 100, {plan['epochs']} ep"
    losses = run["log"].losses
    print(f"  {len(losses)} steps: loss {losses[0]:.4f} -> {losses[-1]:.4f}, test accuracy {run['acc']:.4f}")
    print(
        f"  {1 / run['step']:.1f} steps/s, Allreduce {1e3 * run['reduce']:.2f} ms/step, {run['bytes']:,} bytes"
    )
    rows.append(("ranks x slice of each batch of 100", NONE, f"{p} x {100 // p}", data.label, "mpiexec -n 2" if p == 1 else "this run"))  # fmt: skip
    rows.append(("steps/s (median step), measured", NONE, f"{1 / run['step']:.1f}", data.label, where))
    rows.append(("Allreduce ms per step, measured", NONE, f"{1e3 * run['reduce']:.2f}", data.label, f"{run['bytes']:,} bytes/step"))  # fmt: skip
    rows.append(("first / last step loss; test accuracy", NONE, f"{losses[0]:.4f} / {losses[-1]:.4f}; {run['acc']:.4f}", data.label, where))  # fmt: skip
    if ref is not None:
        dl = np.abs(np.subtract(losses, ref["log"].losses)).max()
        dw = max(np.abs(a.value - b.value).max() for a, b in zip(run["model"].parameters(), ref["model"].parameters()))  # fmt: skip
        print(f"  one-process reference: loss curves differ by at most {dl:.2e}, final weights by {dw:.2e}")
        rows.append((f"{p} ranks vs one process: max loss diff / weight diff", NONE, f"{dl:.1e} / {dw:.1e}", data.label, "every step, float32"))  # fmt: skip
    else:
        print(f"  one rank: run `{MPIEXEC}` for the 2-rank run beside the one-process one")
    if comm.rank == 0:
        savefig(curve_figure(run, ref, p, data.label), args, "loss_curves.png")
    return run


def curve_figure(run: dict, ref: dict | None, p: int, label: str):
    fig = new_figure(6.4, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    if ref is not None:
        ax.plot(ref["log"].losses, lw=3, alpha=0.4, label="one process")
    ax.plot(run["log"].losses, lw=1, color="tab:red", label=f"{p} rank(s), DistributedOptimizer")
    ax.set_xlabel("step")
    ax.set_ylabel("loss of the global batch")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"course CNN on {label}", fontsize=9)
    return fig


def cost_model(run: dict, comm, rows: list) -> None:
    section("modelled, not measured: ring Allreduce over a network, weak scaling (batch 100 per node)")
    compute = (run["step"] - run["reduce"]) * comm.size  # one node computing a batch of 100
    size = run["bytes"]
    print(f"  compute per batch of 100 (measured here): {1e3 * compute:.1f} ms; gradients {size:,} bytes")
    for p in (8, 64):
        for name, bandwidth, latency in NETWORKS:
            band, lat = 2 * (p - 1) / p * size * 8 / bandwidth, 2 * (p - 1) * latency
            step = compute + band + lat
            text = f"{1e3 * step:.1f} ms, {compute / step:.1%} efficient, {p * 100 / step:,.0f} img/s"
            print(
                f"  {p:2d} ranks, {name}: bandwidth {1e3 * band:.2f} ms + latency {1e3 * lat:.2f} ms -> {text}"
            )
            rows.append((f"modelled: {p} ranks, {name}: step, efficiency, images/s", NONE, text, "ring model", f"latency {latency * 1e6:.0f} us assumed"))  # fmt: skip


# -- the ensemble ------------------------------------------------------------------------------------------
def ensemble(data: Digits, plan: dict, comm, seed: int, rows: list) -> None:
    members = max(2, comm.size)
    section(f"ch10's ensemble, one member per rank ({members} members on {comm.size} rank(s)), no Allreduce")
    mine = []
    for m in range(comm.rank, members, comm.size):
        run = fit(data, plan, seed + 100 + m, None)
        print(f"  member {m} (rank {comm.rank}): test accuracy {run['acc']:.4f} [{run['seconds']:.1f} s]")
        mine.append((m, run["probs"], run["acc"]))
    gathered = sorted((item for part in comm.allgather(mine) for item in part), key=lambda t: t[0])
    accs = [a for _, _, a in gathered]
    vote = float((np.sum([p for _, p, _ in gathered], axis=0).argmax(1) == data.y_te).mean())
    print(f"  vote of {members} (summed probabilities, gathered to every rank): {vote:.4f}")
    where = f"{members} x course CNN, {plan['epochs']} ep, seeds {seed + 100}..{seed + 99 + members}"
    rows.append(("ensemble members: mean / best accuracy", "(ch10: 7 deep CNNs)", f"{np.mean(accs):.4f} / {max(accs):.4f}", data.label, where))  # fmt: skip
    rows.append(
        (f"ensemble of {members}, one per rank, vote", "0.9952 (ch10, full recipe)", vote, data.label, where)
    )


# -- main --------------------------------------------------------------------------------------------------
def main() -> None:
    comm = distributed.init()
    if comm.rank != 0:  # rank 0 speaks for all
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    args = setup("ch22_data_parallel", __doc__)
    if comm.size > 1:
        args.command = f"mpiexec -n {comm.size} {args.command}"
    print(f"{comm}; on several ranks: {MPIEXEC}")
    data = load_course_mnist(flatten=False, seed=args.seed)
    data = data.subset(400, 200, args.seed) if args.quick else data.subset(3000, 1000, args.seed)
    plan = {"epochs": 1 if args.quick else 3}
    rows: list[tuple[Any, ...]] = []
    identity(data, comm, args.seed, rows)
    ring(comm, args)
    run = train(data, plan, comm, args, rows)
    cost_model(run, comm, rows)
    ensemble(data, plan, comm, args.seed, rows)
    rows.append(("this run", "-", args.command, data.label))
    if comm.rank != 0:
        return
    table = report(rows, title="course vs scratchnet (data parallelism: beyond the course)")
    remarks = notes(
        "The course has no data parallelism: every 'course reports' cell is '-' but the ensemble's.",
        "Measured: steps/s, Allreduce ms per step (waiting for the slower rank included), the loss and weight "
        "differences from one process. Modelled: the 8- and 64-rank rows (ring Allreduce, 2 (p-1)/p x bytes / "
        "bandwidth + 2 (p-1) latencies, no overlap of communication and compute, each node this machine).",
        "On one 2-core machine two ranks are no faster than two threads; the point is the next machine.",
        "The ensemble's members never talk while training; only their test probabilities are gathered.",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
