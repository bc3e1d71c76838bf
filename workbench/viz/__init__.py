"""Figures shared by the notebooks, and the reconstruction explorer widget.

Functions return matplotlib figures and never call ``plt.show()``, so they work in papermill, in
tests (Agg backend) and in widgets alike. ``figures.py``: saving, colour maps, token grids, loss and
learning curves, confusion matrix; ``reconstruction.py``: masked reconstructions;
``explorer.py``: the ipywidgets explorer; ``gallery.py``: the pattern gallery and its properties;
``study.py``: the study's figures.
"""

from workbench.viz.explorer import (
    DatasetSampler, ExplorerState, ReconstructionExplorer, explorer_sources, explorer_state, plot_explorer,
    reconstruction_explorer,
)
from workbench.viz.figures import (
    draw_token_grid, masked_cmap, masked_view, no_ticks, plot_confusion_matrix, plot_learning_curves, plot_loss,
    save_figure,
)
from workbench.viz.reconstruction import (
    Reconstruction, mask_ratio_sweep, plot_mask_ratio_grid, plot_reconstructions, plot_token_loss, reconstruct,
)

__all__ = [
    "DatasetSampler", "ExplorerState", "Reconstruction", "ReconstructionExplorer", "draw_token_grid",
    "explorer_sources", "explorer_state", "mask_ratio_sweep", "masked_cmap", "masked_view", "no_ticks",
    "plot_confusion_matrix", "plot_explorer", "plot_learning_curves", "plot_loss", "plot_mask_ratio_grid",
    "plot_reconstructions", "plot_token_loss", "reconstruct", "reconstruction_explorer", "save_figure",
]
