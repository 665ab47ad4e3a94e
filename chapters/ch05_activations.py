"""Chapter 5: activation functions and their derivatives.

A neuron computes a weighted sum and then bends it with an activation function. Without the bend, layers
of weighted sums collapse into one weighted sum, so the choice of bend is what makes depth useful, and its
*derivative* decides how well gradients travel backwards through many layers:

* step: the perceptron's hard threshold; its derivative is zero everywhere it exists, so gradient
  descent gets no signal at all;
* sigmoid and tanh: smooth squashes into (0, 1) and (-1, 1); their slopes peak at 0.25 and 1 at the origin
  and fade towards zero for large inputs ("saturation");
* ReLU and its relatives (leaky ReLU, ELU, softplus): slope 1 for positive inputs, so gradients pass
  through unchanged where the unit is active.

Every curve below is drawn from scratchnet's own activation layers: the function by ``forward`` and the
derivative by ``backward`` with an upstream gradient of ones, which we check against finite differences.
The 3-D panels repeat the course's picture of a one-input neuron act(w*x + b) for weights and biases in
[-0.5, 0.5): near the origin sigmoid and tanh are almost flat planes, ReLU folds along the line w*x + b = 0.
"""

from __future__ import annotations

import numpy as np
from _common import notes, report, savefig, section, setup

from scratchnet.layers.activations import ELU, Identity, LeakyReLU, ReLU, Sigmoid, Softplus, Step, Tanh
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
    y = layer.forward(x)
    return y, layer.backward(np.ones_like(y))


def numeric_slope(make, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    return (make().forward(x + h) - make().forward(x - h)) / (2 * h)


def main() -> None:
    args = setup("ch05_activations", __doc__)
    rows = []
    n = 201 if args.quick else 1001
    x = np.linspace(-5, 5, n)  # float64 input: the layers keep their input's dtype

    section("forward and backward of every activation layer")
    fig = new_figure(14, 6.5)
    worst = {}
    for i, (name, make) in enumerate(ACTIVATIONS.items()):
        y, dy = value_and_slope(make(), x)
        away = np.abs(x) > 1e-3  # skip the kinks of step/relu/leaky relu/elu at 0
        err = float(np.max(np.abs(dy[away] - numeric_slope(make, x[away]))))
        worst[name] = err
        print(
            f"  {name:17s} range [{y.min():+.3f}, {y.max():+.3f}]  slope at 0: "
            f"{float(value_and_slope(make(), np.zeros(1))[1][0]):.3f}  max |backward - numeric| = {err:.1e}"
        )
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
    savefig(fig, args, "activations.png")

    zero = np.zeros(1)
    rows.append(
        (
            "sigmoid output range",
            "(0, 1)",
            f"({Sigmoid().forward(np.array([-30.0]))[0]:.1g}, 1)",
            "x in [-5,5]",
        )
    )
    rows.append(("sigmoid'(0)", "(not printed)", float(value_and_slope(Sigmoid(), zero)[1][0]), "backward"))
    rows.append(
        ("tanh output range", "(-1, 1)", f"({np.tanh(-5):.4f}, {np.tanh(5):.4f}) on [-5,5]", "x in [-5,5]")
    )
    rows.append(("tanh'(0)", "(not printed)", float(value_and_slope(Tanh(), zero)[1][0]), "backward"))
    rows.append(
        (
            "relu range / slope for x>0",
            "[0, inf) / 1",
            f"[{ReLU().forward(x).min() + 0.0:g}, ...) / "
            f"{float(value_and_slope(ReLU(), np.array([2.0]))[1][0]):g}",
            "backward",
        )
    )
    rows.append(
        ("step slope", "(no gradient)", float(np.abs(value_and_slope(Step(), x)[1]).max()), "backward")
    )
    rows.append(("max |backward - finite diff.|", "(not in course)", max(worst.values()), "all 8 layers"))

    section("surface of act(w*x + b), x = 1, w and b in [-0.5, 0.5) step 0.05")
    ws = np.arange(-0.5, 0.5, 0.05)
    bs = np.arange(-0.5, 0.5, 0.05)
    W, B = np.meshgrid(ws, bs)
    fig = new_figure(13, 10)
    surfaces = {}
    for i, name in enumerate(("identity", "sigmoid", "tanh", "relu")):
        z = ACTIVATIONS[name]().forward(W * 1.0 + B)  # one forward call on the whole grid
        surfaces[name] = z
        ax = fig.add_subplot(2, 2, i + 1, projection="3d")
        ax.plot_surface(W, B, z, rstride=1, cstride=1, cmap="viridis")
        ax.set_xlabel("weight w")
        ax.set_ylabel("bias b")
        ax.set_title(f"{name}(w*1 + b)")
    savefig(fig, args, "activation_surfaces.png")
    print(
        f"  grid {W.shape}; sigmoid from {surfaces['sigmoid'].min():.4f} to {surfaces['sigmoid'].max():.4f}"
    )
    rows.append(("surface grid (w x b)", "20 x 20", f"{W.shape[0]} x {W.shape[1]}", "arange(-0.5,0.5,0.05)"))
    rows.append(
        (
            "sigmoid surface min..max",
            "(plot only)",
            f"{surfaces['sigmoid'].min():.4f}..{surfaces['sigmoid'].max():.4f}",
            "x = 1",
        )
    )
    rows.append(
        ("relu surface: share of zeros", "(plot only)", float((surfaces["relu"] == 0).mean()), "x = 1")
    )

    report(rows)
    notes(
        "The course writes tanh as (e^x - e^-x)/(e^x + e^-x) - 1; the '- 1' is a misprint (that would "
        "range over (-2, 0)). tanh is (e^x - e^-x)/(e^x + e^-x), in (-1, 1).",
        "The course's single-neuron outputs ([0.68, 3.02, 3.24] and the tanh row) come from unseeded "
        "random weights, so there is nothing to reproduce; arctan has no layer here (the course skips it too).",
        "Finite differences skip |x| < 1e-3, where step, ReLU, leaky ReLU and ELU have a kink.",
    )


if __name__ == "__main__":
    main()
