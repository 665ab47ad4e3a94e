"""Chapter 1: tensors and computation graphs, with plain NumPy
===========================================================
What the course claims (TensorFlow 1: build a graph, then run it in a session):

* lab-01-basics (ML & DL slides), the computational graph: the constants 3.0 and 4.0 run as
  [3.0, 4.0], and their add node as 7.0;
* lab-01-basics, placeholders: the node a + b fed a=3, b=4.5 gives 7.5, and fed a=[1, 3], b=[2, 4]
  gives [ 3.  7.]; the Cognitive Class lab adds [2] and [3] to get [5], and doubles a placeholder fed
  3.5 to get 7.0;
* tensors (Cognitive Class): the scalar 2, the vector [5, 6, 2], a 3x3 matrix and a 3x3x3 cube have
  ranks 0 to 3 and shapes [], [3], [3, 3], [3, 3, 3] (the slides' own examples have other shapes);
* operations: reduce_mean of [1, 2, 3, 4] is 2.5; matmul of [[2, 3], [3, 4]] with itself is
  [[13, 18], [18, 25]]; adding and subtracting [5] and [2] gives [7] and [3];
* variables (Cognitive Class): a counter initialised to 0 and bumped by an assign op three times prints
  0, 1, 2, 3;
* backpropagation (Deep Learning #2 slides): f = wx + b is split into g = wx and f = g + b, and the
  gradients follow node by node by the chain rule; the slide draws the graph and prints no numbers.

In NumPy there is no separate build step: an expression is evaluated the moment it is written, so a
placeholder is simply a function argument and a graph is simply a Python function. What a framework's
graph really buys is the *backward* pass. For the tiny graph f = w*x + b we write both directions by hand::

    forward:   g = w * x        f = g + b
    backward:  df/db = 1        df/dg = 1
               df/dw = df/dg * dg/dw = x        df/dx = df/dg * dg/dx = w

That is the chain rule, applied node by node from the output back to the inputs. Every scratchnet layer
does exactly this; we check the hand-derived numbers against a ``scratchnet.layers.Dense`` layer (which is
f = xW + b for matrices) and against finite differences (``scratchnet.gradcheck``).

The script runs each lab's cells on the same literal values the course uses (no data set), draws the
f = w*x + b graph with its values and gradients, and prints the course-vs-ours table, which
``<out>/results.md`` keeps with the command and the wall time.
"""

from __future__ import annotations

import numpy as np
from _common import fmt, notes, report, savefig, section, setup, write_results

from scratchnet import gradcheck
from scratchnet.layers import Dense
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


# -- the labs ----------------------------------------------------------------------------------------------
def computational_graph(rows: list) -> None:
    section("constants and an add node")
    node1, node2 = np.float32(3.0), np.float32(4.0)
    node3 = node1 + node2
    print("node1, node2 =", [float(node1), float(node2)], " node3 =", float(node3))
    rows.append(("constant add 3 + 4", "7.0", float(node3), "scalars", "float32 add"))
    rows.append(("constant add [2] + [3]", "[5]", np.array([2]) + np.array([3]), "vectors", "int add"))


def placeholders(rows: list) -> None:
    section("placeholders = function arguments")
    r1 = adder(3, 4.5)
    r2 = adder([1, 3], [2, 4])
    print("adder(3, 4.5) =", r1, "  adder([1,3],[2,4]) =", r2)
    rows.append(("feed a=3, b=4.5", "7.5", float(r1), "scalars", "adder(a, b)"))
    rows.append(("feed a=[1,3], b=[2,4]", "[3, 7]", r2, "vectors", "adder(a, b)"))
    rows.append(("feed a=3.5 to a * 2", "7.0", float(np.float32(3.5) * 2), "scalar", "function argument"))


def tensors(rows: list) -> None:
    section("tensors: rank and shape")
    ranks, shapes = [], []
    for value in (2, [5, 6, 2], [[1, 2, 3], [2, 3, 4], [3, 4, 5]], np.arange(27).reshape(3, 3, 3)):
        a = np.asarray(value)
        print(f"rank {a.ndim}, shape {list(a.shape)}")
        ranks.append(str(a.ndim))
        shapes.append(str(list(a.shape)))
    ours = f"{' '.join(ranks)} / {', '.join(shapes)}"
    rows.append(("ranks / shapes of 4 constants", "0 1 2 3 / [], [3], [3, 3], [3, 3, 3]", ours, "literals", "ndim, shape"))  # fmt: skip


def operations(rows: list) -> None:
    section("reductions and matrix products")
    mean = np.mean(np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32))
    m = np.array([[2, 3], [3, 4]])
    prod = m @ m
    print("mean([1,2,3,4]) =", mean)
    print("[[2,3],[3,4]] @ itself =\n", prod)
    rows.append(("reduce_mean([1,2,3,4])", "2.5", float(mean), "vector", "np.mean"))
    rows.append(("[[2,3],[3,4]] @ [[2,3],[3,4]]", "[[13,18],[18,25]]", prod, "2x2 ints", "@"))
    c, d = np.array([5]) + np.array([2]), np.array([5]) - np.array([2])
    rows.append(("add / subtract [5] and [2]", "[7] / [3]", f"{fmt(c)} / {fmt(d)}", "vectors", "+, -"))


def variables(rows: list) -> None:
    section("a variable: state that persists between runs")
    counter = np.zeros((), dtype=np.int64)
    seen = [int(counter)]
    for _ in range(3):
        counter += 1  # the course's assign(v, v + 1): an in-place update of stored state
        seen.append(int(counter))
    print("counter:", seen)
    rows.append(("Variable counter", "0 1 2 3", " ".join(map(str, seen)), "int", "in-place += 1, 3 times"))


def backpropagation(args, rows: list) -> None:
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
    out = layer(np.array([[x]]))
    dx = layer.backprop(np.ones_like(out))
    dense_grads = {"w": float(layer.grads["W"][0, 0]), "x": float(dx[0, 0]), "b": float(layer.grads["b"][0])}
    print("Dense(1, 1) forward:", float(out[0, 0]), " gradients:", dense_grads)
    errs = gradcheck(layer, np.array([[x], [-1.5], [0.25]]))
    print("gradcheck relative errors:", {k: f"{v:.1e}" for k, v in errs.items()})
    shown = "(graph only, no numbers)"
    rows.append(("f = w*x + b at w=3, x=2, b=1", shown, fwd["f"], "by hand", "forward"))
    rows.append(("df/dw, df/dx, df/db", shown, f"{grads['w']:g}, {grads['x']:g}, {grads['b']:g}", "by hand", "chain rule"))  # fmt: skip
    rows.append(("same via Dense.backward", shown, ", ".join(f"{v:g}" for v in dense_grads.values()), "scratchnet", "Dense(1, 1), float64"))  # fmt: skip
    rows.append(("gradcheck max rel. error", "(not in course)", max(errs.values()), "finite diff.", "3 inputs, float64"))  # fmt: skip
    savefig(graph_figure(w, x, b, fwd, grads), args, "graph_f_wx_b.png")


# -- figure ------------------------------------------------------------------------------------------------
def graph_figure(w: float, x: float, b: float, fwd: dict, grads: dict):
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
        label = f"{values[name]:g}" + (f"\ndf/d{name}={grads[name]:g}" if name in grads else "")
        color = "tab:red" if name in grads else "k"
        ax.text(px, py - 0.45, label, ha="center", va="top", fontsize=8, color=color)
    ax.set_xlim(-1, 7)
    ax.set_ylim(-1.6, 2.6)
    ax.set_title("f = w*x + b: values (black) forward, gradients (red) backward")
    return fig


# -- main --------------------------------------------------------------------------------------------------
def main() -> None:
    args = setup("ch01_tensors", __doc__)
    rows: list[tuple] = []
    computational_graph(rows)
    placeholders(rows)
    tensors(rows)
    operations(rows)
    variables(rows)
    backpropagation(args, rows)

    table = report(rows)
    remarks = notes(
        "TensorFlow 1 prints [ 3.  7.]; NumPy prints [3. 7.]: the same float32 values.",
        "No data set: every row uses the literal values of the course's cells (our 3x3x3 cube is "
        "np.arange(27) reshaped; only its shape is compared).",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
