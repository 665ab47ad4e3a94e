"""Unsupervised models: the restricted Boltzmann machine and what is built on it, autoencoders, PCA.

* ``rbm.py``: the Bernoulli RBM's maths (conditionals, CD-k / persistent CD, free energy), with its training
  loop in ``rbm_training.py`` and its measures (reconstruction error, pseudo-likelihood, exact likelihood of
  tiny models) in ``rbm_monitoring.py``, mixed into ``RBM``;
* ``ratings_rbm.py``: an RBM over softmax rating units, for recommendation (the course's MovieLens lab);
* ``dbn.py``: a deep belief network, pre-trained greedily one RBM at a time, then turned into a
  ``Sequential`` for fine-tuning;
* ``autoencoder.py``: untied, tied and denoising autoencoders (ordinary layers, trained by the ``Trainer``);
* ``pca.py``: principal component analysis, the linear baseline for the autoencoders.
"""

from scratchnet.unsupervised.autoencoder import Autoencoder, Corruption, DenoisingAutoencoder, TiedAutoencoder
from scratchnet.unsupervised.dbn import DBN
from scratchnet.unsupervised.pca import PCA, pca
from scratchnet.unsupervised.ratings_rbm import RatingsRBM
from scratchnet.unsupervised.rbm import RBM

__all__ = [
    "DBN",
    "PCA",
    "RBM",
    "Autoencoder",
    "Corruption",
    "DenoisingAutoencoder",
    "RatingsRBM",
    "TiedAutoencoder",
    "pca",
]
