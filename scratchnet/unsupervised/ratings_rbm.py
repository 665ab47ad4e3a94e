r"""An RBM for collaborative filtering: ratings scaled to [0, 1] on mean-field visible units (the course's
MovieLens recommender).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchnet.arguments import check_bool, check_size
from scratchnet.backend import get_array_module
from scratchnet.unsupervised.rbm import RBM


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
