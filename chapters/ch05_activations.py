"""Chapter 5: activation functions and their derivatives
=====================================================
What the course claims (the Cognitive Class activation-functions lab):

* a neuron's weighted sum of the input [1, 2, 3] with random 3x3 weights and biases, passed through each
  activation, is printed once per function (identity [0.68, 3.02, 3.24], tanh [-0.87, -0.99, -0.95]);
  the weights are unseeded, so these numbers are one random draw;
* the step function, the first activation, jumps from 0 to 1 and has no TensorFlow op; the logistic
  sigmoid squashes into (0, 1); arctan into (-pi/2, pi/2) (no TensorFlow op either); tanh into (-1, 1),
  its formula printed with a stray '- 1'; ReLU maps into [0, inf), is active for about half of the units
  at a random start and sidesteps vanishing gradients; its variants (parametric ReLU, ELU) are named only;
* each function is drawn as a 3-D surface of act(w*1 + b) over weights and biases in [-0.5, 0.5) with a
  step of 0.05 (a 20 x 20 grid): a plane for the identity, gentle S-shaped sheets for sigmoid and tanh,
  a fold for ReLU. These are figures; no number is printed for them.

Why: a neuron computes a weighted sum and then bends it. Without the bend, layers of weighted sums collapse
into one weighted sum, so the choice of bend is what makes depth useful, and its *derivative* decides how
well gradients travel backwards through many layers: the step's derivative is zero wherever it exists, so
gradient descent gets no signal; sigmoid and tanh have slopes that peak at 0.25 and 1 at the origin and
fade towards zero for large inputs ("saturation"); ReLU and its relatives (leaky ReLU, ELU, softplus) have
slope 1 for positive inputs, so gradients pass through unchanged where the unit is active.

The script draws every curve from scratchnet's own activation layers (``scratchnet.layers``): the function
by ``forward`` and the derivative by ``backward`` with an upstream gradient of ones, checked against
finite differences on x in [-5, 5]; then it repeats the course's 3-D surfaces for identity, sigmoid, tanh
and ReLU. No data set. ``<out>/results.md`` keeps the final table.
"""

from __future__ import annotations

import numpy as np
from _common import notes, report, savefig, section, setup, write_results

from scratchnet.layers import ELU, Identity, LeakyReLU, ReLU, Sigmoid, Softplus, Step, Tanh
from scratchnet.plotting import new_figure

ACTIVATIONS = {
    "step": Step,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky relu (0.1)": lambda: LeakyReLU(0.1),
    "elu": ELU,
    "softplus": Softplus,
    "identity": Identity,
}


def value_and_slope(layer, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = layer(x)
    return y, layer.backprop(np.ones_like(y))


def numeric_slope(make, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    return (make()(x + h) - make()(x - h)) / (2 * h)


def slope_at(layer, value: float) -> float:
    return float(value_and_slope(layer, np.array([value]))[1][0])


# -- the labs ----------------------------------------------------------------------------------------------
def activations_and_derivatives(args, rows: list) -> None:
    section("forward and backward of every activation layer")
    x = np.linspace(-5, 5, 201 if args.quick else 1001)  # float64 input: the layers keep their input's dtype
    curves, worst = {}, {}
    for name, make in ACTIVATIONS.items():
        y, dy = value_and_slope(make(), x)
        away = np.abs(x) > 1e-3  # skip the kinks of step/relu/leaky relu/elu at 0
        worst[name] = float(np.max(np.abs(dy[away] - numeric_slope(make, x[away]))))
        curves[name] = (y, dy)
        print(
            f"  {name:17s} range [{y.min():+.3f}, {y.max():+.3f}]  slope at 0: "
            f"{slope_at(make(), 0.0):.3f}  max |backward - numeric| = {worst[name]:.1e}"
        )
    savefig(activations_figure(x, curves), args, "activations.png")

    where = "x in [-5,5]"
    relu = f"[{ReLU()(x).min() + 0.0:g}, ...) / {slope_at(ReLU(), 2.0):g}"
    rows.append(("sigmoid output range", "(0, 1)", f"({Sigmoid()(np.array([-30.0]))[0]:.1g}, 1)", where, "forward"))  # fmt: skip
    rows.append(("sigmoid'(0)", "(not printed)", slope_at(Sigmoid(), 0.0), "backward", "ones upstream"))
    rows.append(("tanh output range", "(-1, 1)", f"({np.tanh(-5):.4f}, {np.tanh(5):.4f}) on [-5,5]", where, "np.tanh"))  # fmt: skip
    rows.append(("tanh'(0)", "(not printed)", slope_at(Tanh(), 0.0), "backward", "ones upstream"))
    rows.append(("relu range / slope for x>0", "[0, inf) / 1", relu, "backward", "forward, backward at 2"))
    step_slope = float(np.abs(value_and_slope(Step(), x)[1]).max())
    rows.append(("step slope", "(no gradient)", step_slope, "backward", f"max abs slope, {len(x)} points"))
    rows.append(("max |backward - finite diff.|", "(not in course)", max(worst.values()), "all 8 layers", "central diff., h = 1e-6"))  # fmt: skip


def activation_surfaces(args, rows: list) -> None:
    section("surface of act(w*x + b), x = 1, w and b in [-0.5, 0.5) step 0.05")
    ws = np.arange(-0.5, 0.5, 0.05)
    bs = np.arange(-0.5, 0.5, 0.05)
    W, B = np.meshgrid(ws, bs)
    surfaces = {name: ACTIVATIONS[name]()(W * 1.0 + B) for name in ("identity", "sigmoid", "tanh", "relu")}  # fmt: skip
    savefig(surfaces_figure(W, B, surfaces), args, "activation_surfaces.png")
    sig = surfaces["sigmoid"]
    print(f"  grid {W.shape}; sigmoid from {sig.min():.4f} to {sig.max():.4f}")
    rows.append(("surface grid (w x b)", "20 x 20", f"{W.shape[0]} x {W.shape[1]}", "arange(-0.5,0.5,0.05)", "meshgrid"))  # fmt: skip
    rows.append(("sigmoid surface min..max", "(plot only)", f"{sig.min():.4f}..{sig.max():.4f}", "x = 1", "one forward on the grid"))  # fmt: skip
    rows.append(("relu surface: share of zeros", "(plot only)", float((surfaces["relu"] == 0).mean()), "x = 1", "one forward on the grid"))  # fmt: skip


# -- figures -----------------------------------------------------------------------------------------------
def activations_figure(x: np.ndarray, curves: dict):
    fig = new_figure(14, 6.5)
    for i, (name, (y, dy)) in enumerate(curves.items()):
        ax = fig.add_subplot(2, 4, i + 1)
        ax.plot(x, y, label="f(x)")
        ax.plot(x, dy, "--", label="f'(x) (backward)")
        ax.axhline(0, color="gray", lw=0.5)
        ax.axvline(0, color="gray", lw=0.5)
        ax.set_title(name)
        ax.set_ylim(-1.6, 2.6)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(fontsize=8)
    fig.suptitle("activation functions (solid) and their derivatives from backward (dashed)")
    fig.tight_layout()
    return fig


def surfaces_figure(W: np.ndarray, B: np.ndarray, surfaces: dict):
    fig = new_figure(13, 10)
    for i, (name, z) in enumerate(surfaces.items()):
        ax = fig.add_subplot(2, 2, i + 1, projection="3d")
        ax.plot_surface(W, B, z, rstride=1, cstride=1, cmap="viridis")
        ax.set_xlabel("weight w")
        ax.set_ylabel("bias b")
        ax.set_title(f"{name}(w*1 + b)")
    return fig


# -- main --------------------------------------------------------------------------------------------------
def main() -> None:
    args = setup("ch05_activations", __doc__)
    rows: list[tuple] = []
    activations_and_derivatives(args, rows)
    activation_surfaces(args, rows)

    table = report(rows)
    remarks = notes(
        "The course writes tanh as (e^x - e^-x)/(e^x + e^-x) - 1; the '- 1' is a misprint (that would "
        "range over (-2, 0)). tanh is (e^x - e^-x)/(e^x + e^-x), in (-1, 1).",
        "The course's single-neuron outputs ([0.68, 3.02, 3.24] and the tanh row) come from unseeded "
        "random weights, so there is nothing to reproduce; arctan has no layer here (the course skips it too).",
        "Finite differences skip |x| < 1e-3, where step, ReLU, leaky ReLU and ELU have a kink.",
    )
    write_results(args, table, remarks)


if __name__ == "__main__":
    main()
