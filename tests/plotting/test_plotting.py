"""scratchnet.plotting: every helper writes a real PNG on the Agg canvas; confusion counts are right."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from scratchnet.layers.activations import ReLU, Sigmoid  # noqa: E402
from scratchnet.layers.dense import Dense  # noqa: E402
from scratchnet.losses import SoftmaxCrossEntropy  # noqa: E402
from scratchnet.model import Sequential  # noqa: E402
from scratchnet.plotting import (  # noqa: E402
    confusion_matrix,
    grad_norms,
    layer_activations,
    plot_activation_histograms,
    plot_confusion_matrix,
    plot_grad_norms,
    plot_history,
    plot_image_grid,
    plot_weight_histograms,
)
from scratchnet.training import History  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 1000  # a real image, not an empty canvas header


@pytest.fixture
def model():
    rng = np.random.default_rng(0)
    return Sequential([Dense(4, 5, rng=rng), ReLU(), Dense(5, 3, rng=rng), Sigmoid()])


def test_history_curves(tmp_path):
    history = History(
        [
            {
                "epoch": i + 1,
                "loss": 1 / (i + 1),
                "accuracy": i / 5,
                "val_loss": 1.2 / (i + 1),
                "val_accuracy": i / 6,
            }
            for i in range(5)
        ]
    )
    fig = plot_history(history, path=tmp_path / "h.png")
    assert_png(tmp_path / "h.png")
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 2  # train and validation
    # a list of records without validation columns works too, and unknown metrics are skipped
    fig2 = plot_history([{"loss": 2.0}, {"loss": 1.0}], metrics=("loss", "accuracy"), path=tmp_path / "l.png")
    assert len(fig2.axes) == 1
    assert_png(tmp_path / "l.png")
    with pytest.raises(ValueError, match="none of"):
        plot_history([{"loss": 1.0}], metrics=("accuracy",))


def test_weight_and_activation_histograms(tmp_path, model):
    fig = plot_weight_histograms(model, path=tmp_path / "w.png")
    assert_png(tmp_path / "w.png")
    assert len([ax for ax in fig.axes if ax.patches]) == 4  # 0.W, 0.b, 2.W, 2.b
    x = np.random.default_rng(1).normal(size=(32, 4)).astype(np.float32)
    acts = layer_activations(model, x)
    assert [a.shape for _, a in acts] == [(32, 5), (32, 5), (32, 3), (32, 3)]
    assert model.training  # mode restored
    fig = plot_activation_histograms(model, x, path=tmp_path / "a.png", only=(ReLU, Sigmoid))
    assert_png(tmp_path / "a.png")
    assert len([ax for ax in fig.axes if ax.patches]) == 2


@pytest.mark.parametrize("shape", [(6, 8, 8), (6, 1, 8, 8), (6, 3, 8, 8), (6, 64)])
def test_image_grid(tmp_path, shape):
    images = np.random.default_rng(2).random(shape).astype(np.float32)
    true = np.array([0, 1, 2, 3, 4, 5])
    pred = np.array([0, 1, 2, 0, 4, 0])
    fig = plot_image_grid(images, true, pred, path=tmp_path / "g.png", ncols=4)
    assert_png(tmp_path / "g.png")
    titles = [ax.title for ax in fig.axes]
    assert titles[3].get_text() == "0 / 3"
    assert titles[3].get_color() == "red" and titles[0].get_color() == "black"


def test_image_grid_rejects_non_square_flat():
    with pytest.raises(ValueError, match="square"):
        plot_image_grid(np.zeros((2, 10)))


def test_confusion_matrix_counts(tmp_path):
    true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 1, 1, 1, 0, 2, 2, 1, 2])
    cm = confusion_matrix(true, pred)
    expected = np.array([[1, 1, 0], [1, 2, 0], [0, 1, 3]])
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == len(true) and np.trace(cm) == 6
    np.testing.assert_array_equal(confusion_matrix(true, pred, num_classes=4)[:3, :3], expected)
    fig = plot_confusion_matrix(true, pred, class_names=["a", "b", "c"], path=tmp_path / "cm.png")
    assert_png(tmp_path / "cm.png")
    cells = [t.get_text() for t in fig.axes[0].texts]
    assert cells == [str(v) for v in expected.ravel()]
    assert "0.667" in fig.axes[0].get_title()
    with pytest.raises(ValueError):
        confusion_matrix([0, 1], [0])
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 1], num_classes=3)


def test_grad_norms(tmp_path, model):
    x = np.random.default_rng(3).normal(size=(8, 4)).astype(np.float32)
    out = model(x)
    model.backprop(np.ones_like(out))
    norms = grad_norms(model)
    assert list(norms) == ["0.W", "2.W"]
    np.testing.assert_allclose(norms["2.W"], np.linalg.norm(model.layers[2].grads["W"]), rtol=1e-6)
    fig = plot_grad_norms(norms, path=tmp_path / "bars.png")
    assert_png(tmp_path / "bars.png")
    assert len(fig.axes[0].patches) == 2
    over_time = {"0.W": [1.0, 0.5, 0.1], "2.W": [2.0, 1.0, 0.4]}
    fig = plot_grad_norms(over_time, path=tmp_path / "lines.png")
    assert_png(tmp_path / "lines.png")
    assert len(fig.axes[0].lines) == 2


def test_figure_without_path_is_not_saved(tmp_path):
    fig = plot_history([{"loss": 1.0}], metrics=("loss",))
    assert fig.axes and not list(tmp_path.iterdir())


def test_histories_from_real_training_plot(tmp_path):
    # Trainer's History (with time/lr columns) goes straight in
    from scratchnet.optim import SGD
    from scratchnet.training import Trainer

    rng = np.random.default_rng(4)
    net = Sequential([Dense(3, 4, rng=rng)])
    x = rng.normal(size=(20, 3)).astype(np.float32)
    y = rng.integers(0, 4, 20)
    hist = Trainer(net, SoftmaxCrossEntropy(), SGD(net.parameters(), lr=0.1)).fit(
        x, y, epochs=3, batch_size=10, validation_data=(x, y), progress=False, seed=0
    )
    plot_history(hist, path=tmp_path / "t.png")
    assert_png(tmp_path / "t.png")
