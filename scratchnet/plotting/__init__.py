"""Figures for the chapters and for one's own experiments: training curves, weights, activations, image
grids and confusion matrices (``figures.py``, matplotlib without a display), and many small images or a
layer's filters tiled into one image (``tiles.py``, NumPy only)."""

from scratchnet.plotting.figures import (
    confusion_matrix,
    grad_norms,
    layer_activations,
    new_figure,
    plot_activation_histograms,
    plot_confusion_matrix,
    plot_grad_norms,
    plot_history,
    plot_image_grid,
    plot_weight_histograms,
    save,
)
from scratchnet.plotting.tiles import scale_to_unit_interval, tile_filters, tile_raster_images

__all__ = [
    "confusion_matrix",
    "grad_norms",
    "layer_activations",
    "new_figure",
    "plot_activation_histograms",
    "plot_confusion_matrix",
    "plot_grad_norms",
    "plot_history",
    "plot_image_grid",
    "plot_weight_histograms",
    "save",
    "scale_to_unit_interval",
    "tile_filters",
    "tile_raster_images",
]
