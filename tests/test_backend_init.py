import numpy as np
import pytest

import scratchnet as sn
from scratchnet import backend, init


def test_backend_reports_build():
    info = backend.info()
    assert set(info) >= {"compiled_kernels", "openmp", "num_threads", "numpy"}
    assert info["compiled_kernels"] is True  # the test command installs the package with its extensions
    assert info["cpu_level"] in info["built_levels"]  # the kernels run at a level that was built
    if info["openmp"]:
        backend.set_num_threads(1)
        assert backend.num_threads() == 1
        backend.set_num_threads(2)
        assert backend.num_threads() == 2
    with pytest.raises(ValueError):
        backend.set_num_threads(0)


def test_get_array_module_is_numpy_for_host_arrays():
    assert backend.get_array_module(np.zeros(2), 3.0) is np


@pytest.mark.parametrize(
    "name,shape,std",
    [
        ("xavier_normal", (300, 200), np.sqrt(2 / 500)),
        ("xavier_uniform", (300, 200), np.sqrt(2 / 500)),
        ("he_normal", (400, 100), np.sqrt(2 / 400)),
        ("he_uniform", (400, 100), np.sqrt(2 / 400)),
        ("he_normal", (64, 32, 3, 3), np.sqrt(2 / (32 * 9))),
    ],
)
def test_initialiser_scales(name, shape, std):
    w = init.get(name)(shape, rng=np.random.default_rng(0))
    assert w.dtype == np.float32 and w.shape == shape
    assert w.std() == pytest.approx(std, rel=0.03)
    assert abs(w.mean()) < 0.05 * std


def test_truncated_normal_and_options():
    w = init.truncated_normal((200, 200), std=0.5, rng=np.random.default_rng(1))
    assert np.abs(w).max() <= 1.0 and w.std() > 0.4
    assert np.all(init.get("constant", value=0.1)((3,)) == np.float32(0.1))
    assert init.get("normal", std=1.0)((2000,), rng=np.random.default_rng(0)).std() == pytest.approx(
        1, rel=0.05
    )
    with pytest.raises(ValueError, match="unknown initialiser"):
        init.get("glorious")
    assert init.fans((5, 3, 2, 2)) == (12, 20)


def test_seed_makes_construction_reproducible():
    sn.seed(11)
    a = sn.layers.Dense(3, 3).params["W"]
    sn.seed(11)
    b = sn.layers.Dense(3, 3).params["W"]
    np.testing.assert_array_equal(a, b)
