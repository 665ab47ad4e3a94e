r"""Measures of how an RBM's training is going: reconstruction error, pseudo-log-likelihood and, for tiny
models, the exact log-likelihood through the partition function.

``RBMMonitoring`` is mixed into ``scratchnet.unsupervised.rbm.RBM``, which supplies the maths these read (``_phv``,
``_pvh``, ``_bernoulli``, ``_free_energy``) and its generator ``rng``; they change no parameter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.backend import get_array_module


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -get_array_module(x).logaddexp(0, -x)


class RBMMonitoring:
    """``reconstruction_error``, ``pseudo_log_likelihood``, ``log_partition`` and ``log_likelihood`` of an RBM."""

    def reconstruction_error(self, v: Any, stochastic: bool = False) -> float:
        """Mean squared difference between v and its reconstruction.

        ``stochastic=False``: the deterministic mean-field reconstruction p(v | p(h|v)).
        ``stochastic=True``: the course labs' ``mean((v0 - v1)^2)`` with h0 and v1 sampled (uses ``self.rng``);
        a zero-initialised RBM scores about 0.48 on MNIST this way (0.25 per pixel would be mean field at 0/1).
        """
        v = self._check_batch(v, "reconstruction_error")
        if stochastic:
            rec = self._bernoulli(self._pvh(self._bernoulli(self._phv(v))))
        else:
            rec = self._pvh(self._phv(v))
        return float(((v - rec) ** 2).mean())

    def pseudo_log_likelihood(self, v: Any) -> float:
        r"""Stochastic pseudo-log-likelihood, mean over the batch.

        For each row one bit i is picked at random (``self.rng``) and
        :math:`\mathrm{PLL}(v) \approx V \log \sigma(F(\tilde v) - F(v))`, where :math:`\tilde v` is v with
        bit i flipped: :math:`\sigma(F(\tilde v) - F(v)) = p(v_i \mid v_{-i})`. Its expectation over i is
        :math:`\sum_i \log p(v_i \mid v_{-i})`. Meant for binary data.
        """
        v = self._check_batch(v, "pseudo_log_likelihood")
        xp = get_array_module(v)
        n = v.shape[0]
        idx = xp.asarray(self.rng.integers(0, self.n_visible, size=n))
        rows = xp.arange(n)
        flipped = v.copy()
        flipped[rows, idx] = 1 - flipped[rows, idx]
        ll = self.n_visible * _log_sigmoid(self._free_energy(flipped) - self._free_energy(v))
        return float(ll.mean())

    def log_partition(self) -> float:
        r"""Exact :math:`\log Z` by enumerating the smaller layer (only for tiny models, min(V, H) <= 20).

        Summing over hidden configurations: :math:`\log Z = \operatorname{logsumexp}_h
        [h^\top hb + \sum_i \operatorname{softplus}(hW^\top + vb)_i]` (and symmetrically over v).
        """
        small = min(self.n_visible, self.n_hidden)
        if small > 20:
            raise ValueError(f"{self!r}.log_partition: exact enumeration needs min(V, H) <= 20, got {small}")
        W = np.asarray(self.params["W"], dtype=np.float64)
        vb = np.asarray(self.params["vb"], dtype=np.float64)
        hb = np.asarray(self.params["hb"], dtype=np.float64)
        states = ((np.arange(2**small)[:, None] >> np.arange(small)) & 1).astype(np.float64)
        if self.n_hidden <= self.n_visible:
            neg_f = states @ hb + np.logaddexp(0, states @ W.T + vb).sum(axis=1)
        else:
            neg_f = states @ vb + np.logaddexp(0, states @ W + hb).sum(axis=1)
        top = neg_f.max()
        return float(top + np.log(np.exp(neg_f - top).sum()))

    def log_likelihood(self, v: Any) -> float:
        """Exact mean log p(v) = -F(v) - log Z over the rows of v (tiny models only, see log_partition)."""
        fe = np.asarray(self._free_energy(self._check_batch(v, "log_likelihood")), dtype=np.float64)
        return float((-fe).mean() - self.log_partition())
