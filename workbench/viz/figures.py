"""Shared figure helpers: saving, colour maps and token grids, the loss curve, and the
downstream learning curves and confusion matrix.

Functions return matplotlib figures and never call ``plt.show()``, so they work in papermill,
in tests (Agg backend) and in widgets alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

from workbench.models.mae import MaskedAutoencoder


def save_figure(fig, filename: str, *folders: str | Path, dpi: int = 120) -> list[Path]:
    """Save ``fig`` as ``folder/filename`` in every non-empty folder (e.g. a run folder and
    ``figures/``), creating the folders; returns the paths written."""
    paths = []
    for folder in folders:
        if folder:
            path = Path(folder) / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=dpi, bbox_inches="tight")
            paths.append(path)
    return paths


def masked_cmap(name: str = "magma", bad: str = "#cfd8dc"):
    """Colormap ``name`` drawing NaN in light grey: the removed tokens of a masked input, or the
    visible (unscored) tokens of a loss map."""
    return matplotlib.colormaps[name].with_extremes(bad=bad)


def no_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def draw_token_grid(ax, *, tokens: str, n_mels: int, frames: int, patch_size: int = 16,
                    frame_width: int = 2, color: str = "white", lw: float = 0.6, alpha: float = 0.8) -> None:
    """Draw token borders over a spectrogram shown with ``imshow(origin="lower")`` on pixel
    coordinates: 16x16 squares for ``tokens="patch"``, full-height strips of ``frame_width``
    frames for ``tokens="frame"``. Lines sit on pixel edges (-0.5 offsets)."""
    if tokens not in ("patch", "frame"):
        raise ValueError(f"tokens must be 'patch' or 'frame', got {tokens!r}")
    step = patch_size if tokens == "patch" else frame_width
    ax.vlines(np.arange(0, frames + 1, step) - 0.5, -0.5, n_mels - 0.5, colors=color, lw=lw, alpha=alpha)
    rows = np.arange(0, n_mels + 1, patch_size) if tokens == "patch" else np.array([0, n_mels])
    ax.hlines(rows - 0.5, -0.5, frames - 0.5, colors=color, lw=lw, alpha=alpha)



def masked_view(model: MaskedAutoencoder, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``x: [N, 1, F, T]`` with the removed tokens of ``mask: [N, L]`` (True = removed) set to NaN,
    which :func:`masked_cmap` draws grey."""
    pix = model.unpatchify(mask[..., None].float().expand(-1, -1, model.cfg.token_dim), x.shape[-1]) > 0.5
    return x.masked_fill(pix, float("nan"))


def plot_loss(history: list[dict], *, title: str = "pre-training loss", smooth: int = 10):
    """Loss (and its MSE / InfoNCE parts) against step, with a moving average."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    steps = np.array([r["step"] for r in history])
    for ax, keys in zip(axes, (("loss",), ("mse", "infonce"))):
        for key in keys:
            y = np.array([r[key] for r in history], dtype=float)
            line, = ax.plot(steps, y, alpha=0.35, lw=1)
            if len(y) >= smooth > 1:
                k = np.ones(smooth) / smooth
                ax.plot(steps[smooth - 1:], np.convolve(y, k, mode="valid"), color=line.get_color(),
                        lw=2, label=f"{key} ({smooth}-step mean)")
            else:
                line.set_alpha(1.0)
                line.set_label(key)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    axes[1].set_title("loss terms (MSE on masked tokens, InfoNCE)")
    axes[1].set_yscale("log")
    fig.tight_layout()
    return fig



def plot_learning_curves(history: Sequence[dict], *, title: str = ""):
    """Downstream training loss and the accuracies per epoch (one line per fold): the ``history``
    of :func:`workbench.train.finetune.finetune`."""
    import pandas as pd
    import seaborn as sns

    hist = pd.DataFrame(list(history))
    if hist.empty:
        raise ValueError("history is empty: nothing to plot")
    hist["fold"] = hist["fold"].astype(str)
    acc = hist.melt(id_vars=["fold", "epoch"], value_vars=[c for c in hist if c.endswith("_accuracy")],
                    var_name="split", value_name="accuracy").dropna(subset=["accuracy"])  # eval_every > 1
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    if "train_loss" in hist:
        sns.lineplot(data=hist, x="epoch", y="train_loss", hue="fold", ax=ax1, legend=False)
    else:  # the floor fits in one go: no epochs, no loss curve
        ax1.text(0.5, 0.5, "no training loss (fitted in one step)", ha="center", va="center", transform=ax1.transAxes)
    sns.lineplot(data=acc, x="epoch", y="accuracy", hue="split", style="fold", ax=ax2, marker="o")
    ax1.set_title("training loss")
    ax2.set_title("accuracy")
    ax2.set_ylim(0, 1)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(matrix, class_names: Sequence[str], *, title: str = ""):
    """Rows are the true classes, columns the predictions; counts written in the cells when
    there are at most 15 classes."""
    import seaborn as sns

    cm = np.asarray(matrix)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] != len(class_names):
        raise ValueError(f"confusion matrix of shape {cm.shape} does not match {len(class_names)} class names")
    size = max(4.0, 0.35 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    sns.heatmap(cm, annot=len(class_names) <= 15, fmt="d", cmap="Blues", xticklabels=list(class_names),
                yticklabels=list(class_names), square=True, cbar=False, ax=ax)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


__all__ = ["draw_token_grid", "masked_cmap", "masked_view", "no_ticks", "plot_confusion_matrix",
           "plot_learning_curves", "plot_loss", "save_figure"]
