"""A stand-in 'device' array module for machines without a GPU.

``DeviceArray`` behaves like a CuPy array in the two ways that matter here:

* mixing it with a plain NumPy array in any operation raises ``HostLeakError``, just as CuPy refuses
  implicit host/device mixing, so a layer whose data path calls ``np.`` functions on host arrays instead
  of the module of its inputs fails loudly;
* only what CuPy implements is there: a function of ``xp``, a NumPy function dispatched on a device array,
  an array method or a ufunc method (``add.at``) that CuPy lacks raises ``MissingOnCuPyError``. The lists
  of what CuPy has are read off CuPy itself (``cupy_api.py``).

``xp`` is its array module (NumPy's functions, with array results wrapped as DeviceArray).
"""

import types

import numpy as np
from cupy_api import load as load_cupy_api

CUPY_API = load_cupy_api()


class HostLeakError(TypeError):
    pass


class MissingOnCuPyError(AttributeError):
    pass


def _require_on_cupy(dotted: str, what: str) -> None:
    if dotted not in CUPY_API["namespace"]:
        raise MissingOnCuPyError(f"{what} {dotted!r} is not part of CuPy {CUPY_API['cupy_version']}'s API")


def _is_host(a) -> bool:
    return isinstance(a, np.ndarray) and not isinstance(a, DeviceArray) and a.ndim > 0


class DeviceArray(np.ndarray):
    def __getattribute__(self, name):
        if not name.startswith("_") and name not in CUPY_API["ndarray"]:
            raise MissingOnCuPyError(f"cupy.ndarray has no attribute {name!r}")
        return super().__getattribute__(name)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" and method not in CUPY_API["ufunc_methods"]:
            raise MissingOnCuPyError(f"CuPy ufuncs have no method {method!r}")
        everything = list(inputs) + list(kwargs.get("out", ()))
        if any(_is_host(a) for a in everything):
            raise HostLeakError(f"host array mixed with device array in {ufunc.__name__}.{method}")
        plain = [a.view(np.ndarray) if isinstance(a, DeviceArray) else a for a in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(
                a.view(np.ndarray) if isinstance(a, DeviceArray) else a for a in kwargs["out"]
            )
        result = getattr(ufunc, method)(*plain, **kwargs)
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        flat = list(args) + list(kwargs.values())
        for a in flat:
            if isinstance(a, list | tuple):
                flat.extend(a)
        if any(_is_host(a) for a in flat):
            raise HostLeakError(f"host array passed to {func.__name__} with device arrays")
        module = func.__module__.removeprefix("numpy").lstrip(".")
        _require_on_cupy(f"{module}.{func.__name__}" if module else func.__name__, "NumPy function")
        # NumPy's own implementation runs on plain views, so its internal helpers are not policed
        return _wrap(func(*_unwrap(args), **{k: _unwrap(v) for k, v in kwargs.items()}))

    def get(self) -> np.ndarray:
        return np.array(self.view(np.ndarray))


def _unwrap(value):
    if isinstance(value, DeviceArray):
        return value.view(np.ndarray)
    if isinstance(value, list | tuple):
        return type(value)(_unwrap(v) for v in value)
    return value


def _wrap(result):
    if isinstance(result, tuple):
        return tuple(_wrap(r) for r in result)
    if isinstance(result, np.ndarray) and not isinstance(result, DeviceArray):
        return result.view(DeviceArray)
    return result


def asarray(a, dtype=None):
    if isinstance(a, DeviceArray):
        return a if dtype is None else a.astype(dtype)
    return np.array(a.view(np.ndarray) if isinstance(a, np.ndarray) else a, dtype=dtype).view(DeviceArray)


class _Module(types.ModuleType):
    """NumPy's namespace (or one of its submodules, ``prefix``), cut down to the names CuPy has."""

    def __init__(self, name: str, prefix: str = "") -> None:
        super().__init__(name)
        self._prefix = prefix

    def __getattr__(self, name):
        dotted = self._prefix + name
        if name.startswith("_"):
            raise AttributeError(name)
        if any(sub == dotted or sub.startswith(dotted + ".") for sub in CUPY_API["submodules"]):
            return _Module(f"stand_in_xp.{dotted}", dotted + ".")
        _require_on_cupy(dotted, "xp function")
        attr = np
        for part in dotted.split("."):
            attr = getattr(attr, part)
        if isinstance(attr, np.ufunc) or not callable(attr) or isinstance(attr, type):
            return attr
        return lambda *a, **k: _wrap(attr(*a, **k))


xp = _Module("stand_in_xp")
xp.asarray = asarray
xp.array = lambda a, dtype=None, copy=True: asarray(np.array(a, dtype=dtype, copy=True))
xp.ndarray = DeviceArray
DeviceArray.__array_namespace__ = lambda self, api_version=None: xp  # how get_array_module finds xp


def to_device(tree):
    """Converts a layer's params, grads and buffers (recursively) to DeviceArray."""
    for _, layer in tree.named_layers():
        for table in (layer.params, layer.grads, layer.buffers):
            for k, v in table.items():
                table[k] = asarray(v)
    return tree
