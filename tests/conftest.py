import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# The harness (stand-in device, backends, layer catalog, shared checks) lives in tests/support; test modules
# in every folder import it by module name (pyproject.toml puts it on pytest's ``pythonpath``).


def shared_datasets() -> Path | None:
    """The offline data copy: $SCRATCHNET_DATA, else ../shared/datasets beside the checkout."""
    env = os.environ.get("SCRATCHNET_DATA")
    for candidate in ([Path(env)] if env else []) + [REPO.parent / "shared" / "datasets"]:
        if candidate.is_dir():
            return candidate
    return None


# The suite never touches the network: loaders use local copies or their embedded data.
os.environ.setdefault("SCRATCHNET_OFFLINE", "1")

# Point the dataset loaders at the offline copy beside the checkout (CI's ../shared/datasets) unless the
# caller chose a data directory already.
if "SCRATCHNET_DATA" not in os.environ and shared_datasets() is not None:
    os.environ["SCRATCHNET_DATA"] = str(shared_datasets())


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(params=["compiled", "twin", "reference"])
def kernels(request):
    """Runs a test three ways: the fast path with the compiled kernels, the fast path with the kernels'
    NumPy twins, and the tier-1 reference (``backend.use_reference``)."""
    from scratchnet import backend

    before = backend.info()["compiled_kernels_in_use"]
    backend.use_compiled(request.param == "compiled")
    with backend.reference(request.param == "reference"):
        yield request.param
    backend.use_compiled(before)
