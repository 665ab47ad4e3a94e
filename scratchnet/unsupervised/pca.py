r"""Principal component analysis by the singular value decomposition (the linear baseline for autoencoders).

Centre the data, :math:`X_c = X - \bar x`, and factor :math:`X_c = U S V^\top`. The rows of :math:`V^\top`
are the principal directions (orthonormal, ordered by variance), the codes are
:math:`Z = X_c V_k = U_k S_k`, the variance along direction j is :math:`s_j^2 / (N - 1)`, and
:math:`\hat X = Z V_k^\top + \bar x` is the best rank-k reconstruction in squared error -- the optimum a
linear autoencoder with a k-unit code can reach.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import check_size


class PCA:
    """``PCA(n_components).fit(x)``; then ``transform``, ``inverse_transform``; attributes ``components_``
    (k, D), ``mean_`` (D,), ``explained_variance_`` (k,), ``explained_variance_ratio_`` (k,),
    ``singular_values_`` (k,). Signs are fixed so each component's largest-magnitude entry is positive
    (the SVD alone leaves them arbitrary). Computed in float64; outputs keep the input's float dtype."""

    def __init__(self, n_components: int = 2) -> None:
        self.n_components = check_size("PCA", "n_components", n_components)
        self.components_: np.ndarray | None = None
        self.mean_: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"PCA(n_components={self.n_components})"

    def _check(self, x: Any, width: int | None = None) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{self!r}: expected a real numeric array, got dtype {x.dtype}")
        if x.ndim != 2:
            raise ValueError(f"{self!r}: expected a 2-D array (N, D), got shape {x.shape}")
        if width is not None and x.shape[1] != width:
            raise ValueError(f"{self!r}: expected {width} columns, got shape {x.shape}")
        return x

    def fit(self, x: Any) -> PCA:
        x = self._check(x)
        n, d = x.shape
        if self.n_components > min(n, d):
            raise ValueError(
                f"{self!r}: n_components must be <= min(N, D) = {min(n, d)} for data of shape {x.shape}"
            )
        x64 = x.astype(np.float64)
        self.mean_ = x64.mean(axis=0)
        _, s, vt = np.linalg.svd(x64 - self.mean_, full_matrices=False)
        k = self.n_components
        comps = vt[:k]
        signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(axis=1)])
        self.components_ = comps * signs[:, None]
        var = s**2 / max(n - 1, 1)
        self.singular_values_ = s[:k]
        self.explained_variance_ = var[:k]
        total = var.sum()
        self.explained_variance_ratio_ = var[:k] / total if total > 0 else np.zeros(k)
        return self

    def _out_dtype(self, x: np.ndarray) -> np.dtype:
        return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)

    def _require_fit(self) -> None:
        if self.components_ is None:
            raise RuntimeError(f"{self!r}: call fit first")

    def transform(self, x: Any) -> np.ndarray:
        """Codes (N, k) = (x - mean) @ components.T."""
        self._require_fit()
        x = self._check(x, self.components_.shape[1])
        return ((x.astype(np.float64) - self.mean_) @ self.components_.T).astype(self._out_dtype(x))

    def fit_transform(self, x: Any) -> np.ndarray:
        return self.fit(x).transform(x)

    def inverse_transform(self, z: Any) -> np.ndarray:
        """Rank-k reconstructions (N, D) = z @ components + mean."""
        self._require_fit()
        z = self._check(z, self.n_components)
        return (z.astype(np.float64) @ self.components_ + self.mean_).astype(self._out_dtype(z))


def pca(x: Any, n_components: int = 2) -> np.ndarray:
    """The first ``n_components`` principal-component codes of x, shape (N, n_components)."""
    return PCA(n_components).fit_transform(x)
