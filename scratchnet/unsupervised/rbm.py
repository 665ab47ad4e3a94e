r"""Restricted Boltzmann machines trained with contrastive divergence (no autograd: the update is a formula).

A Bernoulli-Bernoulli RBM has visible units :math:`v \in \{0,1\}^V`, hidden units :math:`h \in \{0,1\}^H`,
weights ``W`` (V, H), visible biases ``vb`` (V,) and hidden biases ``hb`` (H,). Its energy and the two
factorised conditionals are

.. math::

    E(v, h) = -v^\top vb - h^\top hb - v^\top W h, \qquad
    p(h_j = 1 \mid v) = \sigma(vW + hb)_j, \qquad p(v_i = 1 \mid h) = \sigma(hW^\top + vb)_i .

Summing the hidden units out gives the free energy :math:`F(v) = -v^\top vb - \sum_j
\operatorname{softplus}(vW + hb)_j` with :math:`p(v) = e^{-F(v)}/Z`. The log-likelihood gradient is a
difference of a data ("positive") and a model ("negative") expectation,

.. math::

    \frac{\partial \log p(v)}{\partial W} = \langle v\,p(h|v)^\top \rangle_{data} - \langle v\,p(h|v)^\top \rangle_{model},

and CD-k estimates the model term with a k-step Gibbs chain started at the data (persistent CD keeps the
chain between updates instead of restarting it).

**Sign convention.** ``contrastive_divergence`` writes the *negative* of that estimate into ``grads``
(averaged over the batch), so ``param -= lr * grad`` -- plain SGD or any ``scratchnet.optim`` optimizer --
climbs the likelihood, exactly like minimising a loss. The course labs write ``W + alpha * (pos - neg)``:
the same step. (The ch17 MNIST lab sums the weight statistics over its 100-example batch instead of
averaging, so its ``alpha = 0.01`` corresponds to ``lr = 1.0`` here for ``W``.)

**Random draws.** Every Bernoulli sample uses the RBM's private generator ``self.rng`` (seeded from the
library generator, ``scratchnet.random.seed``); a unit is on when ``u < p`` with ``u ~ U[0, 1)`` drawn with
``self.rng.random(p.shape, dtype=p.dtype)``, in the order the chain visits the layers.

**Where the rest lives.** This file is the model: energy, conditionals, Gibbs sampling, the CD-k/PCD-k
gradient. ``RBM`` takes ``train_step`` and ``fit`` (momentum buffers, epochs, mini-batches) from
``RBMTraining`` in ``scratchnet/unsupervised/rbm_training.py``, and the progress measures ``reconstruction_error``,
``pseudo_log_likelihood``, ``log_partition`` and ``log_likelihood`` from ``RBMMonitoring`` in
``scratchnet/unsupervised/rbm_monitoring.py``. ``RatingsRBM`` is in ``scratchnet/unsupervised/ratings_rbm.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import as_float_dtype, check_rng, check_size, init_array
from scratchnet.backend import get_array_module
from scratchnet.layers.activations import sigmoid
from scratchnet.layers.base import Layer
from scratchnet.random import get_rng
from scratchnet.unsupervised.rbm_monitoring import RBMMonitoring
from scratchnet.unsupervised.rbm_training import RBMTraining


class RBM(RBMTraining, RBMMonitoring, Layer):
    r"""Bernoulli-Bernoulli restricted Boltzmann machine.

    Shapes: v (N, V) with values in [0, 1] (binary, or grey levels read as probabilities, as the course
    does with MNIST); h (N, H). Params: W (V, H), vb (V,), hb (H,).

    As a layer, ``forward(v) = p(h=1|v) = sigmoid(vW + hb)`` -- the feature map a DBN stacks -- and
    ``backward(dout)`` is that sigmoid layer's ordinary gradient (``grads["vb"]`` is zero there), which lets
    an RBM sit inside a network for fine-tuning. Generative training does not use backward: call
    ``contrastive_divergence`` (fills ``grads``), ``train_step`` (own SGD with momentum) or ``fit``.
    """

    #: the negative phase uses sampled binary visible states (False) or their probabilities (True)
    mean_field_visible = False

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        weight_init: Any = "normal",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.n_visible = check_size(name, "n_visible", n_visible)
        self.n_hidden = check_size(name, "n_hidden", n_hidden)
        self.weight_init = weight_init
        dt = as_float_dtype(dtype, name)
        init_rng = get_rng() if check_rng(name, rng) is None else rng
        # the default "normal" is N(0, 0.01^2), Hinton's recipe; "zeros" reproduces the course labs
        shape = (self.n_visible, self.n_hidden)
        self.add_param("W", init_array(name, "W", weight_init, shape, rng=init_rng, dtype=dt))
        self.add_param("vb", np.zeros(self.n_visible, dtype=dt))
        self.add_param("hb", np.zeros(self.n_hidden, dtype=dt))
        self.rng = np.random.default_rng(int(init_rng.integers(0, 2**63 - 1)))
        self._velocity: dict[str, np.ndarray] = {}
        # PCD fantasy particles: a plain attribute, not a buffer, so saved models do not depend on it
        self._chain: np.ndarray | None = None
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def __repr__(self) -> str:
        init_name = self.weight_init if isinstance(self.weight_init, str) else "custom"
        return f"{type(self).__name__}({self.n_visible}, {self.n_hidden}, weight_init={init_name!r})"

    # -- validation --------------------------------------------------------------------------------------
    def _check_visible(self, v: Any) -> np.ndarray:
        return check_unit_values(self, v, self.n_visible, "visible")

    def _check_hidden(self, h: Any) -> np.ndarray:
        return check_unit_values(self, h, self.n_hidden, "hidden")

    def _check_batch(self, v: Any, what: str) -> np.ndarray:
        return check_visible_batch(self, v, what)

    # -- the two conditionals (unchecked internals, then the public checked versions) -----------------
    def _phv(self, v: np.ndarray) -> np.ndarray:
        return sigmoid(v @ self.params["W"] + self.params["hb"])

    def _pvh(self, h: np.ndarray) -> np.ndarray:
        return sigmoid(h @ self.params["W"].T + self.params["vb"])

    def _bernoulli(self, p: np.ndarray) -> np.ndarray:
        xp = get_array_module(p)
        u = xp.asarray(self.rng.random(p.shape, dtype=p.dtype))
        return (u < p).astype(p.dtype)

    def _negative_visible(self, pv: np.ndarray, v0: np.ndarray) -> np.ndarray:
        """The visible state a Gibbs step hands on: a Bernoulli sample (mean-field variants return pv)."""
        return pv if self.mean_field_visible else self._bernoulli(pv)

    def prob_h_given_v(self, v: Any) -> np.ndarray:
        """p(h_j = 1 | v) = sigmoid(vW + hb)_j, shape (N, H)."""
        return self._phv(self._check_visible(v))

    def prob_v_given_h(self, h: Any) -> np.ndarray:
        """p(v_i = 1 | h) = sigmoid(hW^T + vb)_i, shape (N, V)."""
        return self._pvh(self._check_hidden(h))

    def sample_h(self, v: Any) -> tuple[np.ndarray, np.ndarray]:
        """(p(h|v), a binary sample of h drawn with ``self.rng``)."""
        ph = self.prob_h_given_v(v)
        return ph, self._bernoulli(ph)

    def sample_v(self, h: Any) -> tuple[np.ndarray, np.ndarray]:
        """(p(v|h), a binary sample of v drawn with ``self.rng``)."""
        pv = self.prob_v_given_h(h)
        return pv, self._bernoulli(pv)

    # -- Gibbs sampling ---------------------------------------------------------------------------------
    def gibbs_vhv(self, v: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One Gibbs step from the visible side: returns (p(h|v), h, p(v|h), v')."""
        v = self._check_visible(v)
        ph = self._phv(v)
        h = self._bernoulli(ph)
        pv = self._pvh(h)
        return ph, h, pv, self._bernoulli(pv)

    def gibbs_hvh(self, h: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """One Gibbs step from the hidden side: returns (p(v|h), v, p(h|v), h')."""
        h = self._check_hidden(h)
        pv = self._pvh(h)
        v = self._bernoulli(pv)
        ph = self._phv(v)
        return pv, v, ph, self._bernoulli(ph)

    def gibbs_chain(self, v: Any, k: int = 1, return_probs: bool = False) -> np.ndarray:
        """Runs k full steps v -> h -> v' and returns the last visible sample (or its probabilities)."""
        k = check_size(repr(self), "k", k)
        v = self._check_visible(v)
        pv = v
        for _ in range(k):
            h = self._bernoulli(self._phv(v))
            pv = self._pvh(h)
            v = self._bernoulli(pv)
        return pv if return_probs else v

    def sample(
        self, n_samples: int, k: int = 1000, v_init: Any = None, return_probs: bool = False
    ) -> np.ndarray:
        """Draws ``n_samples`` fantasies with a k-step chain from ``v_init`` (default: uniform random bits)."""
        if v_init is None:
            n = check_size(repr(self), "n_samples", n_samples)
            v_init = (self.rng.random((n, self.n_visible)) < 0.5).astype(self.dtype)
        return self.gibbs_chain(v_init, k=k, return_probs=return_probs)

    # -- layer interface ---------------------------------------------------------------------------------
    def check_input(self, x: Any) -> np.ndarray:
        """Visible rows (N, n_visible) with every value in [0, 1] (see ``check_unit_values``)."""
        return self._check_visible(x)

    def forward(self, x: np.ndarray) -> np.ndarray:
        ph = self._phv(x)
        self._cache = (x, ph)
        return ph

    def backward(self, dout: np.ndarray) -> np.ndarray:
        r"""Gradient of the sigmoid layer ``y = sigmoid(vW + hb)``: :math:`dz = g\,y(1-y)`,
        :math:`dW = v^\top dz`, :math:`dhb = \sum dz`, :math:`dvb = 0`, :math:`dv = dz W^\top`."""
        v, ph = self._cache
        dz = dout * ph * (1 - ph)
        self.grads["W"] = v.T @ dz
        self.grads["hb"] = dz.sum(axis=0)
        self.grads["vb"] = get_array_module(v).zeros_like(self.params["vb"])
        return dz @ self.params["W"].T

    def transform(self, v: Any) -> np.ndarray:
        """Hidden features p(h|v) (no caching; what a DBN feeds the next RBM)."""
        return self.prob_h_given_v(v)

    def reconstruct(self, v: Any, hidden: str = "mean") -> np.ndarray:
        """p(v | h) with h = p(h|v) (``"mean"``, mean field), a binary sample (``"sample"``) or p(h|v)
        rounded (``"round"``, the course's repair-a-digit recipe)."""
        ph = self.prob_h_given_v(v)
        if hidden == "mean":
            h = ph
        elif hidden == "sample":
            h = self._bernoulli(ph)
        elif hidden == "round":
            h = (ph > 0.5).astype(ph.dtype)
        else:
            raise ValueError(
                f"{self!r}.reconstruct: hidden must be 'mean', 'sample' or 'round', got {hidden!r}"
            )
        return self._pvh(h)

    # -- scores ------------------------------------------------------------------------------------------
    def free_energy(self, v: Any) -> np.ndarray:
        r""":math:`F(v) = -v^\top vb - \sum_j \log(1 + e^{(vW + hb)_j})`, one value per row, shape (N,)."""
        v = self._check_visible(v)
        return self._free_energy(v)

    def _free_energy(self, v: np.ndarray) -> np.ndarray:
        xp = get_array_module(v)
        pre = v @ self.params["W"] + self.params["hb"]
        return -(v @ self.params["vb"]) - xp.logaddexp(0, pre).sum(axis=1)

    # -- learning ----------------------------------------------------------------------------------------
    def reset_chain(self) -> None:
        """Forgets the persistent chain; the next persistent update restarts it at its batch."""
        self._chain = None

    @property
    def persistent_chain(self) -> np.ndarray | None:
        """The visible states of the persistent (PCD) fantasy particles, or None before the first PCD step."""
        return self._chain

    def contrastive_divergence(self, v: Any, k: int = 1, persistent: bool = False) -> float:
        r"""Computes the CD-k (or PCD-k) estimate into ``grads`` and returns the batch reconstruction error.

        Positive phase: :math:`p_0 = p(h|v_0)` on the data. Negative phase: a Gibbs chain of k steps,
        started at :math:`h \sim p(h|v_0)` (CD) or at the stored fantasy particles (PCD, which start at the
        first batch's data and carry over between calls), ending at :math:`v_k` and :math:`p_k = p(h|v_k)`.
        Hidden probabilities (not samples) enter the statistics, which lowers their variance. Then

        .. math::

            \mathrm{grads}[W] = -\Big(\tfrac{1}{N} v_0^\top p_0 - \tfrac{1}{M} v_k^\top p_k\Big),\quad
            \mathrm{grads}[vb] = -(\overline{v_0} - \overline{v_k}),\quad
            \mathrm{grads}[hb] = -(\overline{p_0} - \overline{p_k})

        (N data rows, M chains; bars are means over rows). Parameters are not changed. Returned: the
        mean-field reconstruction error ``mean((v0 - p(v | p0))^2)`` of this batch before any update.
        """
        k = check_size(repr(self), "k", k)
        v0 = self._check_batch(v, "contrastive_divergence")
        ph0 = self._phv(v0)
        if persistent:
            chain = self._chain
            if chain is None or chain.shape[1] != self.n_visible or chain.dtype != v0.dtype:
                chain = v0.copy()
            h = self._bernoulli(self._phv(chain))
        else:
            h = self._bernoulli(ph0)
        vk = phk = None
        for step in range(k):
            vk = self._negative_visible(self._pvh(h), v0)
            phk = self._phv(vk)
            if step < k - 1:
                h = self._bernoulli(phk)
        if persistent:
            self._chain = vk
        n0, nk = v0.shape[0], vk.shape[0]
        self.grads["W"] = -(v0.T @ ph0 / n0 - vk.T @ phk / nk)
        self.grads["vb"] = -(v0.mean(axis=0) - vk.mean(axis=0))
        self.grads["hb"] = -(ph0.mean(axis=0) - phk.mean(axis=0))
        return self._batch_error(v0, ph0)

    def _batch_error(self, v0: np.ndarray, ph0: np.ndarray) -> float:
        return float(((v0 - self._pvh(ph0)) ** 2).mean())


# -- argument checks (kept out of the class, which reads as the maths) ------------------------------------
def check_unit_values(rbm: RBM, a: Any, n: int, which: str) -> np.ndarray:
    """Validates a batch of unit states for ``rbm``: (N, n) with every value in [0, 1] (NaN fails too)."""
    a = rbm._check_input(a, ndim=2, last_dim=n, expected=f"(N, {n}) {which} units")
    xp = get_array_module(a)
    if a.size and not bool(xp.all((a >= 0) & (a <= 1))):
        raise ValueError(
            f"{rbm!r}: {which} values must lie in [0, 1] (and not be NaN), got range "
            f"[{float(xp.min(a))}, {float(xp.max(a))}]"
        )
    return a


def check_visible_batch(rbm: RBM, v: Any, what: str) -> np.ndarray:
    """Visible rows for a statistic averaged over the batch: a mean over no rows would be NaN."""
    v = rbm._check_visible(v)
    if v.shape[0] == 0:
        raise ValueError(f"{rbm!r}.{what}: needs at least one visible row, got shape {tuple(v.shape)}")
    return v


__all__ = ["RBM"]
