"""A stand-in 'device' array module for machines without a GPU.

``DeviceArray`` behaves like a CuPy array in the one way that matters here: mixing it with a plain NumPy
array in any operation raises, just as CuPy refuses implicit host/device mixing. ``xp`` is its array module
(NumPy's functions, with array results wrapped as DeviceArray). A layer whose data path calls ``np.``
functions directly, instead of the module of its inputs, fails loudly under this stand-in.
"""

import types

import numpy as np

from scratchnet import backend


class HostLeakError(TypeError):
    pass


def _is_host(a) -> bool:
    return isinstance(a, np.ndarray) and not isinstance(a, DeviceArray) and a.ndim > 0


class DeviceArray(np.ndarray):
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
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
    def __getattr__(self, name):
        attr = getattr(np, name)
        if isinstance(attr, np.ufunc) or not callable(attr) or isinstance(attr, type):
            return attr
        return lambda *a, **k: _wrap(attr(*a, **k))


xp = _Module("stand_in_xp")
xp.asarray = asarray
xp.array = lambda a, dtype=None, copy=True: asarray(np.array(a, dtype=dtype, copy=True))
xp.ndarray = DeviceArray
backend.register_array_module(DeviceArray, xp)


def to_device(tree):
    """Converts a layer's params, grads and buffers (recursively) to DeviceArray."""
    for _, layer in tree.named_layers():
        for table in (layer.params, layer.grads, layer.buffers):
            for k, v in table.items():
                table[k] = asarray(v)
    return tree
