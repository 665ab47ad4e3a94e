"""Model files that hold the architecture: ``model.save(path)`` stores every layer's constructor arguments as
JSON beside the weights, and ``scratchnet.load_model(path)`` builds the model again from them.

Round trips for every public layer (the loaded model computes bit for bit what the saved one did, in eval
mode), in this process and in a new one; custom layers through ``@scratchnet.register_layer``; and the
files that must be refused, each with an error naming what is wrong and nothing changed.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
import warnings
import zipfile

import numpy as np
import pytest
from layer_catalog import CATALOG

import scratchnet as sn
from scratchnet import init, model_io
from scratchnet.layers import (
    ELU,
    GRU,
    LSTM,
    RNN,
    BatchNorm1D,
    BatchNorm2D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    ResidualBlock,
    Sigmoid,
    Softmax,
    Tanh,
    TimeDistributed,
)
from scratchnet.layers.base import InputSpec, Layer
from scratchnet.model_io import ARCHITECTURE_ENTRY, ArchitectureError, ArchitectureWarning
from scratchnet.unsupervised import DBN, RBM, Autoencoder, Corruption, RatingsRBM, TiedAutoencoder


# -- custom layers (registered per test, by the ``registry`` fixture's tests) -------------------------------
class Scale(Layer):
    """y = x * s + shift, ``s`` learned per feature."""

    input_spec = InputSpec("(N, {features})", ndim=2, last_dim="features")

    def __init__(self, features: int, shift: float = 0.0, dtype=np.float32) -> None:
        super().__init__()
        self.features, self.shift = features, shift
        self.add_param("s", np.linspace(0.5, 1.5, features).astype(dtype))

    def __repr__(self) -> str:
        return f"Scale({self.features}, shift={self.shift})"

    def forward(self, x):
        self._x = x
        return x * self.params["s"] + x.dtype.type(self.shift)

    def backward(self, dout):
        self.grads["s"][...] = (dout * self._x).sum(axis=0)
        return dout * self.params["s"]


class Bias(Layer):
    """y = x + b; its constructor takes no dtype, so only ``astype`` makes it float64."""

    input_spec = InputSpec(ndim=2, last_dim="features")

    def __init__(self, features: int) -> None:
        super().__init__()
        self.features = features
        self.add_param("b", np.arange(features, dtype=np.float32) / 3)

    def forward(self, x):
        return x + self.params["b"]


class Stack(Layer):
    """Its layers one after another, then times ``scale``: positional ``*layers``."""

    def __init__(self, *layers: Layer, scale: float = 1.0) -> None:
        super().__init__()
        self.layers, self.scale = list(layers), scale

    def children(self):
        return self.layers

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x * x.dtype.type(self.scale)


class Apply(Layer):
    """y = fn(x): ``fn`` is the layer's maths, so a file cannot describe it."""

    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class Chain(Layer):
    """Takes any iterable of layers (a generator is used up by the constructor)."""

    def __init__(self, layers) -> None:
        super().__init__()
        self.layers = list(layers)

    def children(self):
        return self.layers

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class MLP(sn.Sequential):
    """A Sequential subclass with its own constructor: described by that constructor's arguments."""

    def __init__(self, width: int = 8) -> None:
        super().__init__([Dense(4, width), Tanh(), Dense(width, 2)])


@pytest.fixture
def registry(monkeypatch):
    """An empty registry of custom layers for the test (scratchnet's own layers are known regardless)."""
    monkeypatch.setattr(model_io, "_REGISTERED", {})
    return model_io._REGISTERED


# -- helpers --------------------------------------------------------------------------------------------------
def _state(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def _assert_state_equal(state, model):
    now = model.state_dict()
    assert list(now) == list(state)
    for k, v in state.items():
        assert now[k].dtype == v.dtype, k
        np.testing.assert_array_equal(now[k], v, err_msg=k)


def _global_rng_state():
    return copy.deepcopy(sn.random.get_rng().bit_generator.state)


def round_trip(model, x, path, training_forward=True):
    """Saves ``model`` after a training-mode forward (which moves running statistics) and loads it with
    ``load_model``; the two must hold the same state and give bit-identical outputs in eval mode."""
    if training_forward:
        model(x)
    for _, layer in model.named_layers():
        if hasattr(layer, "reset_state"):
            layer.reset_state()  # a stateful layer's carried state is not saved
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ArchitectureWarning: the whole architecture was stored
        model.save(path)
    loaded = sn.load_model(path)
    assert type(loaded) is type(model) and loaded is not model
    assert repr(loaded) == repr(model)
    assert [type(layer) for _, layer in loaded.named_layers()] == [
        type(layer) for _, layer in model.named_layers()
    ]
    assert not any(layer.training for _, layer in loaded.named_layers())
    _assert_state_equal(model.state_dict(), loaded)
    out = loaded(x)
    np.testing.assert_array_equal(out, model(x))
    assert out.dtype == model(x).dtype
    return loaded


def _architecture(path):
    with np.load(path, allow_pickle=False) as data:
        return json.loads(str(data[ARCHITECTURE_ENTRY]))


def _rewrite_architecture(path, text):
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays[ARCHITECTURE_ENTRY] = text if isinstance(text, np.ndarray) else np.array(text)
    np.savez(path, **arrays)


def small_model():
    sn.seed(3)
    return sn.Sequential([Dense(4, 8), BatchNorm1D(8), ReLU(), Dropout(0.25), Dense(8, 3), Sigmoid()])


# -- round trips ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: repr(e.make()))
def test_every_catalog_layer_round_trips(tmp_path, rng, entry):
    sn.seed(11)
    x = rng.standard_normal(entry.shape).astype(np.float32)
    round_trip(sn.Sequential([entry.make()]), x, tmp_path / "m.npz")


@pytest.mark.parametrize(
    "make",
    [
        lambda: Conv2D(3, 4, 3, padding=1),
        lambda: Conv2D(3, 4, (3, 2), padding=(1, 0)),
        lambda: Conv2D(3, 4, 3, stride=(2, 1), padding=(0, 1, 2, 1)),
        lambda: Conv2D(3, 4, 3, padding="valid", bias=False),
        lambda: Conv2D(3, 4, 3, padding="same", algorithm="im2col"),
        lambda: Conv2D(3, 4, 3, padding="SAME", algorithm="winograd"),
        lambda: Conv2D(3, 4, np.int64(3), stride=np.int64(1), padding=np.int64(1)),
    ],
    ids=["int", "pair", "four", "valid-nobias", "im2col", "winograd", "numpy-ints"],
)
def test_conv2d_padding_options_round_trip(tmp_path, rng, make):
    sn.seed(2)
    model = sn.Sequential([make(), BatchNorm2D(4), ReLU(), MaxPool2D(2, padding="same")])
    round_trip(model, rng.standard_normal((2, 3, 6, 7)).astype(np.float32), tmp_path / "conv.npz")


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("stateful", [False, True])
@pytest.mark.parametrize("return_sequences", [True, False])
def test_recurrent_layers_round_trip(tmp_path, rng, cls, stateful, return_sequences):
    sn.seed(4)
    extra = {"forget_bias": 1.0} if cls is LSTM else {}
    model = sn.Sequential(
        [cls(3, 5, stateful=stateful, return_sequences=return_sequences, **extra), Dense(5, 2)]
    )
    loaded = round_trip(model, rng.standard_normal((2, 6, 3)).astype(np.float32), tmp_path / "rnn.npz")
    assert loaded[0].stateful is stateful and loaded[0].return_sequences is return_sequences


def test_embedding_and_time_distributed_round_trip(tmp_path, rng):
    sn.seed(5)
    model = sn.Sequential(
        [
            Embedding(10, 4),
            GRU(4, 6),
            TimeDistributed(Dense(6, 10)),
            TimeDistributed(sn.Sequential([Tanh(), Dense(10, 10), Softmax()])),
        ]
    )
    ids = rng.integers(0, 10, size=(3, 7))
    round_trip(model, ids, tmp_path / "lm.npz")


def test_blocks_nested_models_and_float64_round_trip(tmp_path, rng):
    sn.seed(6)
    model = sn.Sequential(
        [
            ResidualBlock(3, 4, stride=2, dtype=np.float64),
            ResidualBlock(4, 4, dtype=np.float64),
            Flatten(),
            sn.Sequential([Dense(4 * 3 * 3, 5, dtype=np.float64), ELU(0.5)]),
            LeakyReLU(0.2),
        ]
    )
    model.layers.pop()  # the list edited after construction: get_config reads the layers held now
    model.add(sn.Sequential([Dense(5, 2, dtype=np.float64), Tanh()]))
    loaded = round_trip(model, rng.standard_normal((2, 3, 6, 6)), tmp_path / "blocks.npz")
    assert loaded.dtype == np.float64 and len(loaded) == 5 and isinstance(loaded[4][1], Tanh)


def test_unsupervised_models_round_trip(tmp_path, rng):
    sn.seed(7)
    v = rng.random((4, 6)).astype(np.float32)
    round_trip(sn.Sequential([RBM(6, 4, weight_init="zeros")]), v, tmp_path / "rbm.npz")
    round_trip(sn.Sequential([RatingsRBM(6, 3, mask_unrated=True)]), v, tmp_path / "ratings.npz")
    loaded = round_trip(sn.Sequential([DBN([6, 5, 3], rbm_class=RatingsRBM)]), v, tmp_path / "dbn.npz")
    assert all(type(rbm) is RatingsRBM for rbm in loaded[0].rbms)
    autoencoders = [
        Autoencoder([6, 4, 2], [2, 3, 6], activation=LeakyReLU(0.3), output_activation=Sigmoid,
                    code_activation="linear"),
        TiedAutoencoder((6, 4, 2), activation="tanh", corruption="gaussian", corruption_level=0.5),
        sn.unsupervised.DenoisingAutoencoder((6, 3), corruption_level=0.2),
    ]  # fmt: skip
    for i, autoencoder in enumerate(autoencoders):
        round_trip(sn.Sequential([autoencoder]), v, tmp_path / f"ae{i}.npz")
    round_trip(sn.Sequential([Corruption("mask", 0.4), Dense(6, 2)]), v, tmp_path / "corrupt.npz")


def test_initialisers_and_generators_are_left_out(tmp_path, rng):
    """Arguments that only chose the initial weights and are not data are dropped: the layer is built with
    the default, then its weights are loaded."""
    sn.seed(8)
    generator = np.random.default_rng(0)
    model = sn.Sequential(
        [
            Dense(4, 6, weight_init=init.get("normal", std=1.0), rng=generator),
            LSTM(
                6,
                3,
                return_sequences=False,
                recurrent_init=lambda shape, rng, dtype: np.eye(*shape, dtype=dtype),
                rng=generator,
            ),
            Dropout(0.5, rng=np.random.default_rng(1)),
            Autoencoder(
                [3, 2], weight_init=init.get("normal", std=1.0), bias_init=init.get("constant", value=1.0)
            ),
        ]
    )
    path = tmp_path / "m.npz"
    round_trip(model, rng.standard_normal((2, 5, 4)).astype(np.float32), path, training_forward=False)
    layers = [item["layer"]["config"] for item in _architecture(path)["model"]["config"]["layers"]]
    assert "weight_init" not in layers[0] and "rng" not in layers[0] and layers[0]["bias_init"] == "zeros"
    assert "recurrent_init" not in layers[1] and "rng" not in layers[1]
    assert "rng" not in layers[2]
    assert "weight_init" not in layers[3] and "bias_init" not in layers[3]


def test_modes_names_and_added_layers_are_kept(tmp_path, rng):
    sn.seed(9)
    head = Dense(8, 3)
    head.name = "head"  # names the weights: "head.W"
    model = sn.Sequential([Dense(4, 8), BatchNorm1D(8), Dropout(0.3)])
    model.add(head)
    model.train()
    model[1].eval()  # frozen statistics while the rest trains
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = sn.load_model(path)
    assert "head.W" in loaded.state_dict()
    assert [layer.training for _, layer in loaded.named_layers()] == [True, True, False, True, True]
    _assert_state_equal(model.state_dict(), loaded)
    model.eval()
    loaded.eval()
    x = rng.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))


def test_a_model_changed_by_astype_comes_back_in_its_dtype(tmp_path, rng, registry):
    sn.register_layer(Bias)
    sn.seed(10)
    model = sn.Sequential([Dense(3, 4), LSTM(4, 2, return_sequences=False), Bias(2)]).astype(np.float64)
    x = rng.standard_normal((2, 5, 3))
    model(x)
    model.eval()
    model.save(tmp_path / "m.npz")
    layers = _architecture(tmp_path / "m.npz")["model"]["config"]["layers"]
    assert layers[1]["layer"]["config"]["dtype"] == {"dtype": "float64"}  # LSTM(dtype=...) follows astype
    assert "dtype" not in layers[2]["layer"]["config"]  # Bias takes none: the file's float64 weights decide
    loaded = sn.load_model(tmp_path / "m.npz")
    assert {p.value.dtype for p in loaded.parameters()} == {np.dtype(np.float64)}
    np.testing.assert_array_equal(loaded(x), model(x))


def test_load_model_in_a_new_process(tmp_path, rng, registry):
    sn.seed(12)
    model = sn.Sequential(
        [
            Conv2D(1, 3, 3, padding="same"),
            BatchNorm2D(3),
            ReLU(),
            Flatten(),
            Dense(48, 5),
            Dropout(0.2),
            Softmax(),
        ]
    )
    x = rng.standard_normal((4, 1, 4, 4)).astype(np.float32)
    model(x)
    model.eval()
    model.save(tmp_path / "cnn.npz")
    np.save(tmp_path / "x.npy", x)
    sn.register_layer(Scale)
    sn.Sequential([Dense(4, 4), Scale(4)]).save(tmp_path / "custom.npz")
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import scratchnet as sn

        folder = sys.argv[1]
        model = sn.load_model(folder + "/cnn.npz")
        assert not model.training
        np.save(folder + "/y.npy", model(np.load(folder + "/x.npy")))
        try:
            sn.load_model(folder + "/custom.npz")
        except ValueError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), model(x))
    assert "'Scale'" in done.stdout and "@scratchnet.register_layer" in done.stdout, done.stdout


def test_a_model_on_a_device_saves_through_the_host(tmp_path, rng):
    from stand_in_device import asarray, to_device

    model = to_device(small_model())
    x = asarray(rng.standard_normal((5, 4)).astype(np.float32))
    model(x)
    model.eval()
    model.save(tmp_path / "m.npz")
    loaded = sn.load_model(tmp_path / "m.npz")  # built on the default device: the host here
    assert all(type(v) is np.ndarray for v in loaded.state_dict().values())
    _assert_state_equal(model.state_dict(), loaded)
    np.testing.assert_array_equal(
        loaded(np.asarray(x.view(np.ndarray))), np.asarray(model(x).view(np.ndarray))
    )


# -- custom layers --------------------------------------------------------------------------------------------
def test_registered_custom_layers_round_trip(tmp_path, rng, registry):
    assert sn.register_layer(Scale) is Scale
    sn.register_layer(name="tests.Stack")(Stack)
    sn.register_layer("tests.MLP")(MLP)
    sn.seed(13)
    model = sn.Sequential(
        [Stack(Dense(4, 4), Scale(4, shift=0.5), scale=float("inf")), Stack(Dense(4, 4)), MLP(width=3)]
    )
    x = rng.standard_normal((3, 4)).astype(np.float32)
    path = tmp_path / "custom.npz"
    model.save(path)
    document = _architecture(path)
    first, _, mlp = (item["layer"] for item in document["model"]["config"]["layers"])
    assert first["class"] == "tests.Stack" and first["config"]["scale"] == {"float": "inf"}
    assert [item["layer"]["class"] for item in first["config"]["layers"]] == ["Dense", "Scale"]
    assert mlp == {"class": "tests.MLP", "config": {"width": 3}}
    loaded = sn.load_model(path)
    assert isinstance(loaded[2], MLP) and loaded[0].scale == float("inf")
    _assert_state_equal(model.state_dict(), loaded)
    for saved, rebuilt in zip(model.layers, loaded.layers):
        np.testing.assert_array_equal(rebuilt(x), saved(x))


def test_register_layer_refuses_what_would_be_ambiguous(registry):
    with pytest.raises(TypeError, match="Layer subclass"):
        sn.register_layer(int)
    with pytest.raises(ValueError, match="'Dense' is the name of scratchnet's"):
        sn.register_layer(name="Dense")(Scale)
    sn.register_layer(Scale)
    assert sn.register_layer(Scale) is Scale  # again: nothing changes
    with pytest.raises(ValueError, match="'Scale' is already the name of .*test_model_files.Scale"):
        sn.register_layer(name="Scale")(Bias)
    with pytest.raises(ValueError, match="already registered as 'Scale'"):
        sn.register_layer(name="Other")(Scale)
    with pytest.raises(ValueError, match="scratchnet's own layer"):
        sn.register_layer(name="MyDense")(Dense)
    assert sn.register_layer(Dense) is Dense
    assert registry == {"Scale": Scale}

    # a redefinition of the same class (a notebook cell run again) replaces it
    redefined = type("Scale", (Scale,), {"__module__": Scale.__module__, "__qualname__": "Scale"})
    sn.register_layer(redefined)
    assert registry == {"Scale": redefined}


def test_get_config_and_from_config():
    dense = Dense(4, 3, dtype="float64")
    config = dense.get_config()
    assert config == {
        "in_features": 4, "out_features": 3, "weight_init": "xavier", "bias_init": "zeros",
        "dtype": np.dtype(np.float64), "rng": None,
    }  # fmt: skip
    again = Dense.from_config(config)
    assert repr(again) == repr(dense) and again.params["W"].dtype == np.float64
    assert Dense(4, 3).astype(np.float64).get_config()["dtype"] == np.float64
    assert copy.deepcopy(dense).get_config() == config
    stack = Stack(Dense(2, 2), ReLU(), scale=2.0)
    assert stack.get_config()["scale"] == 2.0 and len(stack.get_config()["layers"]) == 2
    assert len(Stack.from_config(stack.get_config()).layers) == 2
    with pytest.raises(ValueError, match="'layers' was a one-pass iterator"):
        Chain(layer for layer in [ReLU()]).get_config()
    assert sn.Sequential(layer for layer in [ReLU()]).get_config()["layers"][0].__class__ is ReLU


# -- what cannot be stored ------------------------------------------------------------------------------------
def test_an_undescribable_model_saves_its_weights_and_says_why(tmp_path, rng, registry):
    sn.register_layer(Apply)
    model = sn.Sequential([Dense(4, 3), Apply(np.tanh)])
    path = tmp_path / "m.npz"
    with pytest.warns(
        ArchitectureWarning,
        match=r"weights only.*model\.layers\[1\]\.fn = <ufunc 'tanh'> \(an argument of Apply\)",
    ):
        model.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == ["0.W", "0.b"]
    with pytest.raises(ValueError, match=r"weights only, no architecture.*model\.load\(path\)"):
        sn.load_model(path)
    sn.seed(1)
    other = sn.Sequential([Dense(4, 3), Apply(np.tanh)]).load(path)
    _assert_state_equal(model.state_dict(), other)

    original = path.read_bytes()
    with pytest.raises(ArchitectureError, match=r"nothing written.*layers\[1\]\.fn"):
        sn.Sequential([Dense(4, 2), Apply(np.tanh)]).save(path, architecture=True)
    assert path.read_bytes() == original
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.save(tmp_path / "plain.npz", architecture=False)
    with pytest.raises(TypeError, match="architecture must be"):
        model.save(tmp_path / "x.npz", architecture="yes")


@pytest.mark.parametrize(
    "make, message",
    [
        (
            lambda: Scale(4),
            r"model\.layers\[0\]: layer class .*Scale is not registered.*@scratchnet\.register_layer",
        ),
        (
            lambda: Autoencoder([4, 2], activation=Scale(2)),
            r"model\.layers\[0\]\.activation: layer class .*Scale is not registered",
        ),
        (lambda: Chain(layer for layer in [Dense(4, 4)]), "one-pass iterator"),
        (lambda: TimeDistributed(sn.Sequential([Dense(4, 4)] * 2)), "also layer .* shares its weights"),
    ],
    ids=["unregistered", "unregistered-activation", "iterator", "shared"],
)
def test_what_cannot_be_described_is_named(tmp_path, registry, make, message):
    sn.register_layer(Chain)
    model = sn.Sequential([make()])
    with pytest.raises(ArchitectureError, match=message):
        model.save(tmp_path / "m.npz", architecture=True)
    assert not (tmp_path / "m.npz").exists()
    with pytest.warns(ArchitectureWarning, match=message):
        model.save(tmp_path / "m.npz")


# -- files that must be refused -------------------------------------------------------------------------------
def _refused_by_load_model(path, match):
    registered = dict(model_io._REGISTERED)
    before, original = _global_rng_state(), path.read_bytes()
    with pytest.raises(ValueError, match=match):
        sn.load_model(path)
    assert _global_rng_state() == before and path.read_bytes() == original
    assert model_io._REGISTERED == registered


def test_an_unregistered_custom_layer_is_named(tmp_path, registry):
    sn.register_layer(Scale)
    path = tmp_path / "m.npz"
    sn.Sequential([Dense(4, 4), Scale(4)]).save(path)
    registry.clear()  # as in a process that never registered it
    _refused_by_load_model(
        path, r"'Scale', a layer class this process does not know.*@scratchnet\.register_layer"
    )
    sn.register_layer(Scale)
    assert isinstance(sn.load_model(path)[1], Scale)


@pytest.mark.parametrize(
    "text, match",
    [
        ("{not json", "'__architecture__' is not valid JSON"),
        ("[1, 2]", "not a scratchnet architecture"),
        ('{"format": "scratchnet-architecture", "version": 2, "model": {}}', "format version 2, newer than"),
        ('{"format": "scratchnet-architecture", "version": "1", "model": {}}', "not a positive integer"),
        ('{"format": "scratchnet-architecture", "version": 1, "model": []}', 'expected "model"'),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
    ],
    ids=["not-json", "not-an-object", "newer", "version-string", "model-list", "deep"],
)
def test_damaged_or_newer_architectures_are_refused(tmp_path, text, match):
    path = tmp_path / "m.npz"
    model = small_model()
    model.save(path)
    _rewrite_architecture(path, text)
    _refused_by_load_model(path, match)
    other = sn.Sequential([Dense(4, 8), BatchNorm1D(8), ReLU(), Dropout(0.25), Dense(8, 3), Sigmoid()])
    other.load(path)  # the weights alone still load into a model built by hand
    _assert_state_equal(model.state_dict(), other)


@pytest.mark.parametrize(
    "edit, match",
    [
        (
            lambda d: d["model"]["config"]["layers"][0]["layer"].update({"class": "Nope"}),
            "'Nope', a layer class",
        ),
        (
            lambda d: d["model"]["config"]["layers"][0]["layer"]["config"].update({"in_features": -4}),
            r"model\.layers\[0\] \(Dense\): cannot be built from its stored arguments "
            r"\(ValueError: Dense: in_features",
        ),
        (
            lambda d: d["model"]["config"]["layers"][0]["layer"]["config"].update({"dtype": {"complex": 1}}),
            "not a value this scratchnet reads",
        ),
        (
            lambda d: d["model"]["config"]["layers"][0]["layer"]["config"].update(
                {"dtype": {"dtype": "nope"}}
            ),
            "'nope' is not a NumPy dtype",
        ),
        (
            lambda d: d["model"]["config"]["layers"][4]["layer"]["config"].update({"out_features": 2}),
            r"4\.W.*shape \(8, 3\).*\(8, 2\).*do not fit the architecture",
        ),
        (lambda d: d.update({"modes": {"7": False}}), r"mode of layers \['7'\]"),
        (lambda d: d["model"].update({"extra": 1}), "expected a layer description"),
    ],
    ids=["unknown-class", "bad-argument", "unknown-tag", "bad-dtype", "weights-misfit", "modes", "extra-key"],
)
def test_architectures_that_cannot_be_built_are_refused(tmp_path, edit, match):
    path = tmp_path / "m.npz"
    small_model().save(path)
    document = _architecture(path)
    edit(document)
    _rewrite_architecture(path, json.dumps(document))
    _refused_by_load_model(path, match)


def test_an_architecture_entry_that_is_not_text_is_refused_by_both_loaders(tmp_path):
    path = tmp_path / "m.npz"
    model = small_model()
    model.save(path)
    _rewrite_architecture(path, np.frombuffer(b'{"format": 1}', dtype=np.uint8))
    _refused_by_load_model(path, "'__architecture__' must be JSON text")
    before = _state(model)
    with pytest.raises(ValueError, match="'__architecture__' must be JSON text"):
        model.load(path)
    _assert_state_equal(before, model)


def test_a_huge_claimed_architecture_is_refused_before_it_is_read(tmp_path):
    import tracemalloc

    model = small_model()
    path = tmp_path / "claims.npz"
    chars = (1 << 22) + 1  # 16 MiB of UTF-32 claimed, a few kB on disk
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in model.state_dict().items():
            with archive.open(f"{key}.npy", "w") as f:
                np.lib.format.write_array(f, value)
        with archive.open(f"{ARCHITECTURE_ENTRY}.npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": f"<U{chars}", "fortran_order": False, "shape": ()}
            )
            remaining = chars * 4
            while remaining:
                f.write(bytes(min(remaining, 1 << 20)))
                remaining -= min(remaining, 1 << 20)
    assert path.stat().st_size < 200_000
    before = _state(model)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="must be JSON text"):
            sn.load_model(path)
        with pytest.raises(ValueError, match="must be JSON text"):
            model.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000, f"refusing the file took {peak} bytes"
    _assert_state_equal(before, model)


# -- loading into a model built by hand -----------------------------------------------------------------------
def test_loading_into_an_empty_model_says_how(tmp_path):
    path = tmp_path / "m.npz"
    small_model().save(path)
    empty = sn.Sequential()
    with pytest.raises(
        ValueError,
        match=r"no parameters or buffers .* 8 arrays \('0\.W', .*load_model\(.*build the same layers first",
    ):
        empty.load(path)
    assert empty.layers == []
    small_model().save(tmp_path / "weights.npz", architecture=False)
    with pytest.raises(
        ValueError, match=r"build the same layers first \(the file holds weights only"
    ) as caught:
        sn.Sequential([ReLU()]).load(tmp_path / "weights.npz")
    assert "load_model" not in str(caught.value)


def test_loading_into_a_model_of_another_architecture_changes_nothing(tmp_path):
    path = tmp_path / "m.npz"
    small_model().save(path)
    other = sn.Sequential([Dense(4, 8), BatchNorm1D(8), ReLU(), Dense(8, 2)])
    before = _state(other)
    with pytest.raises(
        ValueError, match=r"missing .*unexpected .*; scratchnet\.load_model\(.*\) builds the saved model"
    ):
        other.load(path)
    _assert_state_equal(before, other)
    assert isinstance(sn.load_model(path)[5], Sigmoid)


def test_the_file_keeps_its_arrays_and_a_json_entry(tmp_path):
    path = tmp_path / "m.npz"
    model = small_model()
    model.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert sorted(data.files) == sorted([*model.state_dict(), ARCHITECTURE_ENTRY])
        assert data[ARCHITECTURE_ENTRY].dtype.kind == "U" and data[ARCHITECTURE_ENTRY].shape == ()
    document = _architecture(path)
    assert document["format"] == "scratchnet-architecture" and document["version"] == 1
    assert document["training"] is True and document["modes"] == {}
    assert document["model"]["config"]["layers"][0] == {
        "layer": {
            "class": "Dense",
            "config": {"in_features": 4, "out_features": 8, "weight_init": "xavier", "bias_init": "zeros",
                       "dtype": {"dtype": "float32"}, "rng": None},
        }
    }  # fmt: skip
    assert sorted(model_io.load_arrays(path)) == sorted(model.state_dict())
    assert sn.load_model(path).training  # saved in training mode
