"""Chapter 1: tensors and computation graphs, with plain NumPy.

The course's first lab builds a graph of operations, then "runs" it in a session, feeding values into
placeholders. In NumPy there is no separate build step: an expression is evaluated the moment it is
written, so a placeholder is simply a function argument and a graph is simply a Python function.

What a framework's graph really buys you is the *backward* pass. For the tiny graph f = w*x + b we
write both directions by hand:

    forward:   g = w * x        f = g + b
    backward:  df/db = 1        df/dg = 1
               df/dw = df/dg * dg/dw = x        df/dx = df/dg * dg/dx = w

That is the chain rule, applied node by node from the output back to the inputs. Every scratchnet layer
does exactly this; here we check our hand-derived numbers against a ``scratchnet.layers.dense.Dense``
layer (which is f = xW + b for matrices) and against finite differences.
"""

from __future__ import annotations

import numpy as np
from _common import fmt, notes, report, savefig, section, setup

from scratchnet.gradcheck import gradcheck
from scratchnet.layers.dense import Dense
from scratchnet.plotting import new_figure


def adder(a, b):
    """The course's placeholder graph ``a + b``: in NumPy the 'placeholders' are just the arguments."""
    return np.add(a, b, dtype=np.float32)


def graph_forward(w: float, x: float, b: float) -> dict[str, float]:
    g = w * x
    f = g + b
    return {"g": g, "f": f}


def graph_backward(w: float, x: float) -> dict[str, float]:
    """Gradients of f = w*x + b, propagated from f back through the '+' node and the '*' node."""
    df_df = 1.0
    df_dg = df_df * 1.0  # '+' passes the gradient through unchanged
    df_db = df_df * 1.0
    df_dw = df_dg * x  # '*' swaps its inputs: d(w*x)/dw = x
    df_dx = df_dg * w
    return {"w": df_dw, "x": df_dx, "b": df_db}


def draw_graph(args, w: float, x: float, b: float, fwd: dict, grads: dict) -> None:
    fig = new_figure(7, 3)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    nodes = {"w": (0, 2), "x": (0, 0), "*": (2, 1), "b": (2, -0.6), "+": (4, 0.5), "f": (6, 0.5)}
    edges = [("w", "*"), ("x", "*"), ("*", "+"), ("b", "+"), ("+", "f")]
    for a, c in edges:
        (x0, y0), (x1, y1) = nodes[a], nodes[c]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={"arrowstyle": "->", "color": "gray"})
    values = {"w": w, "x": x, "b": b, "*": fwd["g"], "+": fwd["f"], "f": fwd["f"]}
    for name, (px, py) in nodes.items():
        ax.scatter([px], [py], s=900, color="tab:blue" if name in "wxb" else "tab:orange", zorder=3)
        ax.text(px, py, name, ha="center", va="center", color="white", fontsize=12, zorder=4)
        label = f"{values[name]:g}"
        if name in grads:
            label += f"\ndf/d{name}={grads[name]:g}"
        ax.text(
            px, py - 0.45, label, ha="center", va="top", fontsize=8, color="tab:red" if name in grads else "k"
        )
    ax.set_xlim(-1, 7)
    ax.set_ylim(-1.6, 2.6)
    ax.set_title("f = w*x + b: values (black) forward, gradients (red) backward")
    savefig(fig, args, "graph_f_wx_b.png")


def main() -> None:
    args = setup("ch01_tensors", __doc__)
    rows = []

    section("constants and an add node")
    node1, node2 = np.float32(3.0), np.float32(4.0)
    node3 = node1 + node2
    print("node1, node2 =", [float(node1), float(node2)], " node3 =", float(node3))
    rows.append(("constant add 3 + 4", "7.0", float(node3), "scalars"))

    section("placeholders = function arguments")
    r1 = adder(3, 4.5)
    r2 = adder([1, 3], [2, 4])
    print("adder(3, 4.5) =", r1, "  adder([1,3],[2,4]) =", r2)
    rows.append(("feed a=3, b=4.5", "7.5", float(r1), "scalars"))
    rows.append(("feed a=[1,3], b=[2,4]", "[3, 7]", r2, "vectors"))

    section("tensors: rank and shape")
    for value in (2, [5, 6, 2], [[1, 2, 3], [2, 3, 4], [3, 4, 5]], np.arange(27).reshape(3, 3, 3)):
        a = np.asarray(value)
        print(f"rank {a.ndim}, shape {list(a.shape)}")

    section("reductions and matrix products")
    mean = np.mean(np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32))
    m = np.array([[2, 3], [3, 4]])
    prod = m @ m
    print("mean([1,2,3,4]) =", mean)
    print("[[2,3],[3,4]] @ itself =\n", prod)
    rows.append(("reduce_mean([1,2,3,4])", "2.5", float(mean), "vector"))
    rows.append(("[[2,3],[3,4]] @ [[2,3],[3,4]]", "[[13,18],[18,25]]", prod, "2x2 ints"))
    c, d = np.array([5]) + np.array([2]), np.array([5]) - np.array([2])
    rows.append(("add / subtract [5] and [2]", "[7] / [3]", f"{fmt(c)} / {fmt(d)}", "vectors"))

    section("a variable: state that persists between runs")
    counter = np.zeros((), dtype=np.int64)
    seen = [int(counter)]
    for _ in range(3):
        counter += 1  # the course's assign(v, v + 1): an in-place update of stored state
        seen.append(int(counter))
    print("counter:", seen)
    rows.append(("Variable counter", "0 1 2 3 (prints only 0: cut off)", " ".join(map(str, seen)), "int"))

    section("forward and backward on f = w*x + b")
    w, x, b = 3.0, 2.0, 1.0
    fwd = graph_forward(w, x, b)
    grads = graph_backward(w, x)
    print(f"forward: g = w*x = {fwd['g']:g}, f = g + b = {fwd['f']:g}")
    print(f"backward: df/dw = x = {grads['w']:g}, df/dx = w = {grads['x']:g}, df/db = 1")
    # the same graph as a 1x1 Dense layer: f = x @ W + b
    layer = Dense(1, 1, dtype=np.float64)
    layer.params["W"][...] = w
    layer.params["b"][...] = b
    out = layer.forward(np.array([[x]]))
    dx = layer.backward(np.ones_like(out))
    dense_grads = {"w": float(layer.grads["W"][0, 0]), "x": float(dx[0, 0]), "b": float(layer.grads["b"][0])}
    print("Dense(1, 1) forward:", float(out[0, 0]), " gradients:", dense_grads)
    errs = gradcheck(layer, np.array([[x], [-1.5], [0.25]]))
    print("gradcheck relative errors:", {k: f"{v:.1e}" for k, v in errs.items()})
    rows.append(("f = w*x + b at w=3, x=2, b=1", "(not in course)", fwd["f"], "by hand"))
    rows.append(
        (
            "df/dw, df/dx, df/db",
            "(not in course)",
            f"{grads['w']:g}, {grads['x']:g}, {grads['b']:g}",
            "by hand",
        )
    )
    rows.append(
        (
            "same via Dense.backward",
            "(not in course)",
            f"{dense_grads['w']:g}, {dense_grads['x']:g}, {dense_grads['b']:g}",
            "scratchnet",
        )
    )
    rows.append(("gradcheck max rel. error", "(not in course)", max(errs.values()), "finite diff."))
    draw_graph(args, w, x, b, fwd, grads)

    report(rows)
    notes(
        "TensorFlow 1 prints [ 3.  7.]; NumPy prints [3. 7.]: the same float32 values.",
        "The course's counter cell shows only the first printed value (0); the loop prints 1, 2, 3 after it.",
    )


if __name__ == "__main__":
    main()
