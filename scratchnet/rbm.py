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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from scratchnet.backend import get_array_module
from scratchnet.layers.activations import sigmoid
from scratchnet.layers.base import (
    Layer,
    as_float_dtype,
    check_bool,
    check_float,
    check_rng,
    check_size,
    init_array,
)
from scratchnet.random import get_rng


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -get_array_module(x).logaddexp(0, -x)


class RBM(Layer):
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
    def _check_units(self, a: Any, n: int, which: str) -> np.ndarray:
        """Validates a batch of unit states: (N, n) with every value in [0, 1] (NaN fails too)."""
        a = self._check_input(a, ndim=2, last_dim=n, expected=f"(N, {n}) {which} units")
        xp = get_array_module(a)
        if a.size and not bool(xp.all((a >= 0) & (a <= 1))):
            raise ValueError(
                f"{self!r}: {which} values must lie in [0, 1] (and not be NaN), got range "
                f"[{float(xp.min(a))}, {float(xp.max(a))}]"
            )
        return a

    def _check_visible(self, v: Any) -> np.ndarray:
        return self._check_units(v, self.n_visible, "visible")

    def _check_hidden(self, h: Any) -> np.ndarray:
        return self._check_units(h, self.n_hidden, "hidden")

    def _check_batch(self, v: Any, what: str) -> np.ndarray:
        """Visible rows for a statistic averaged over the batch: a mean over no rows would be NaN."""
        v = self._check_visible(v)
        if v.shape[0] == 0:
            raise ValueError(f"{self!r}.{what}: needs at least one visible row, got shape {tuple(v.shape)}")
        return v

    def _check_step_args(self, lr: Any, momentum: Any, weight_decay: Any) -> tuple[float, float, float]:
        """The SGD settings of ``train_step``/``fit``: a NaN or infinite one would poison every weight."""
        who = f"{self!r}.train_step"
        return (
            check_float(who, "lr", lr, low=0.0, low_inclusive=False),
            check_float(who, "momentum", momentum, low=0.0, high=1.0, high_inclusive=False),
            check_float(who, "weight_decay", weight_decay, low=0.0),
        )

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
    def forward(self, x: np.ndarray) -> np.ndarray:
        v = self._check_visible(x)
        ph = self._phv(v)
        self._cache = (v, ph)
        return ph

    def backward(self, dout: np.ndarray) -> np.ndarray:
        r"""Gradient of the sigmoid layer ``y = sigmoid(vW + hb)``: :math:`dz = g\,y(1-y)`,
        :math:`dW = v^\top dz`, :math:`dhb = \sum dz`, :math:`dvb = 0`, :math:`dv = dz W^\top`."""
        self._require_forward(self._cache)
        v, ph = self._cache
        dout = self._check_dout(dout, ph.shape)
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

    def train_step(
        self,
        v: Any,
        lr: float = 0.1,
        k: int = 1,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        persistent: bool = False,
    ) -> float:
        r"""One CD-k/PCD-k update with the RBM's own momentum buffers; returns the batch error.

        :math:`u \leftarrow \mu u - \eta(g + \lambda W)` (weight decay on W only), :math:`\theta \leftarrow
        \theta + u`. With ``momentum=0`` this is plain SGD ``param -= lr * grad``.
        """
        lr, momentum, weight_decay = self._check_step_args(lr, momentum, weight_decay)
        err = self.contrastive_divergence(v, k=k, persistent=persistent)
        for name, p in self.params.items():
            g = self.grads[name]
            if weight_decay and name == "W":
                g = g + weight_decay * p
            vel = self._velocity.get(name)
            if vel is None or vel.shape != p.shape or vel.dtype != p.dtype:
                vel = get_array_module(p).zeros_like(p)
            vel = momentum * vel - lr * g
            self._velocity[name] = vel
            p += vel.astype(p.dtype, copy=False)  # in place, so optimizer references stay valid
        return err

    def fit(
        self,
        data: Any,
        epochs: int = 1,
        batch_size: int = 100,
        lr: float = 0.1,
        k: int = 1,
        persistent: bool = False,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        shuffle: bool = True,
        drop_last: bool = False,
        callback: Callable[[int, RBM], Any] | None = None,
        verbose: bool = False,
    ) -> list[float]:
        """Trains with ``train_step`` over mini-batches; returns the per-batch reconstruction errors.

        ``shuffle`` permutes the rows each epoch with ``self.rng``; ``callback(epoch, rbm)`` runs after
        every epoch (e.g. to record the error on the whole set, as the labs do); ``verbose`` prints each
        epoch's mean batch error. The persistent chain, if any, carries over between calls (``reset_chain``).
        """
        data = self._check_batch(data, "fit")
        if callback is not None and not callable(callback):
            raise TypeError(f"{self!r}.fit: callback must be callable, got {type(callback).__name__}")
        epochs = check_size(repr(self), "epochs", epochs)
        batch_size = check_size(repr(self), "batch_size", batch_size)
        k = check_size(repr(self), "k", k)
        lr, momentum, weight_decay = self._check_step_args(lr, momentum, weight_decay)
        n = data.shape[0]
        if drop_last and batch_size > n:
            raise ValueError(
                f"{self!r}.fit: with drop_last=True a batch_size of {batch_size} leaves no batch of the "
                f"{n} rows to train on"
            )
        errors: list[float] = []
        for epoch in range(epochs):
            order = self.rng.permutation(n) if shuffle else np.arange(n)
            epoch_errors = []
            for start in range(0, n, batch_size):
                idx = order[start : start + batch_size]
                if drop_last and len(idx) < batch_size:
                    break
                batch = (
                    data[get_array_module(data).asarray(idx)] if shuffle else data[start : start + batch_size]
                )
                epoch_errors.append(
                    self.train_step(
                        batch, lr=lr, k=k, momentum=momentum, weight_decay=weight_decay, persistent=persistent
                    )
                )
            errors.extend(epoch_errors)
            if verbose:
                print(
                    f"{self!r} epoch {epoch + 1}/{epochs}: reconstruction error {np.mean(epoch_errors):.6f}"
                )
            if callback is not None:
                callback(epoch, self)
        return errors


class RatingsRBM(RBM):
    r"""RBM for collaborative filtering with real-valued visible units: ratings scaled to [0, 1], 0 = unrated.

    One visible unit per item holds the user's rating / 5 (the course's MovieLens pipeline). The hidden
    side is the ordinary binary layer; the visible side is *mean field*: a reconstruction is the
    probability :math:`p(v|h) = \sigma(hW^\top + vb)`, read as a predicted (scaled) rating, and the negative
    phase of CD uses it as is instead of sampling bits.

    Unrated entries: by default (``mask_unrated=False``, the course's choice) a 0 is just a low rating --
    it enters training and the reconstruction error like any value, so the model also learns which items
    are popular. With ``mask_unrated=True`` the reconstruction of an unrated entry is zeroed in the
    negative phase, so unrated items contribute to neither phase, and the error is averaged over rated
    entries only. ``recommend`` ranks items by reconstructed score.
    """

    mean_field_visible = True

    def __init__(
        self,
        n_visible: int,
        n_hidden: int,
        weight_init: Any = "normal",
        mask_unrated: bool = False,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(n_visible, n_hidden, weight_init=weight_init, dtype=dtype, rng=rng)
        self.mask_unrated = check_bool("RatingsRBM", "mask_unrated", mask_unrated)

    def __repr__(self) -> str:
        init_name = self.weight_init if isinstance(self.weight_init, str) else "custom"
        return (
            f"RatingsRBM({self.n_visible}, {self.n_hidden}, weight_init={init_name!r}, "
            f"mask_unrated={self.mask_unrated})"
        )

    def _negative_visible(self, pv: np.ndarray, v0: np.ndarray) -> np.ndarray:
        if self.mask_unrated and pv.shape == v0.shape:
            return pv * (v0 > 0)
        return pv

    def contrastive_divergence(self, v: Any, k: int = 1, persistent: bool = False) -> float:
        if persistent and self.mask_unrated:
            raise ValueError(
                f"{self!r}: persistent chains cannot follow each user's rated items; "
                "use persistent=False with mask_unrated=True"
            )
        return super().contrastive_divergence(v, k=k, persistent=persistent)

    def _batch_error(self, v0: np.ndarray, ph0: np.ndarray) -> float:
        return self._error(v0, self._pvh(ph0), self.mask_unrated)

    @staticmethod
    def _error(v: np.ndarray, rec: np.ndarray, observed_only: bool) -> float:
        sq = (v - rec) ** 2
        if not observed_only:
            return float(sq.mean())
        rated = v > 0
        count = int(rated.sum())
        return float((sq * rated).sum() / count) if count else 0.0

    def reconstruction_error(
        self, v: Any, stochastic: bool = False, observed_only: bool | None = None
    ) -> float:
        """Mean squared error of the mean-field reconstruction (``stochastic`` samples the hidden layer).

        ``observed_only`` (default: ``mask_unrated``) averages over rated (non-zero) entries only; False
        averages over every entry, as the course's error curve (0.0595 falling to 0.0453 on MovieLens) does.
        """
        v = self._check_batch(v, "reconstruction_error")
        ph = self._phv(v)
        h = self._bernoulli(ph) if stochastic else ph
        observed = self.mask_unrated if observed_only is None else bool(observed_only)
        return self._error(v, self._pvh(h), observed)

    def predict(self, ratings: Any) -> np.ndarray:
        """Predicted scaled ratings for every item: p(v | p(h|v)), shape (N, V)."""
        return self.reconstruct(ratings, hidden="mean")

    def recommend(
        self, user_ratings: Any, top_n: int = 20, exclude_rated: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-N items for one user (V,) or a batch (N, V): returns (item indices, scores), best first.

        Scores are the predicted scaled ratings in [0, 1] (times 5 for stars). ``exclude_rated`` leaves out
        items the user already rated (non-zero entries); for a single user the list is then cut to the
        number of unrated items, for a batch such slots get index -1 and score NaN.
        """
        top_n = check_size(repr(self), "top_n", top_n)
        xp = get_array_module(user_ratings)
        arr = user_ratings if hasattr(user_ratings, "ndim") else np.asarray(user_ratings)
        single = arr.ndim == 1
        if arr.ndim not in (1, 2):
            raise ValueError(
                f"{self!r}.recommend: expected user ratings of shape ({self.n_visible},) or "
                f"(N, {self.n_visible}), got shape {tuple(arr.shape)}"
            )
        v = self._check_visible(arr[None, :] if single else arr)
        scores = self.predict(v)
        ranked = xp.where(v > 0, -xp.inf, scores) if exclude_rated else scores
        top_n = min(top_n, self.n_visible)
        idx = xp.argsort(-ranked, axis=1, kind="stable")[:, :top_n]
        top_scores = xp.take_along_axis(scores, idx, axis=1)
        if exclude_rated:
            invalid = xp.take_along_axis(v > 0, idx, axis=1)
            if single:
                keep = int((~invalid[0]).sum())
                return idx[0, :keep], top_scores[0, :keep]
            idx = xp.where(invalid, -1, idx)
            top_scores = xp.where(invalid, xp.nan, top_scores)
        return (idx[0], top_scores[0]) if single else (idx, top_scores)
