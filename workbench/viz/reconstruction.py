"""Masked reconstructions as arrays and figures: one mask ratio, several ratios, and the loss of
every removed token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import numpy as np
import torch

from workbench.models.mae import MaskedAutoencoder
from workbench.train.heldout import predict_heldout
from workbench.viz.figures import masked_cmap, no_ticks


@dataclass
class Reconstruction:
    """Arrays behind a reconstruction figure, ``[N, F, T]`` each (numpy, float32)."""

    inputs: np.ndarray
    masked: np.ndarray  # input with removed tokens set to NaN (drawn as background)
    recon: np.ndarray  # visible tokens from the input, masked tokens predicted
    error: np.ndarray  # |recon - input| on masked tokens, 0 elsewhere
    token_loss: np.ndarray  # [N, L] per-token MSE (NaN on visible tokens)
    loss: float
    mask: np.ndarray | None = None  # [N, L] bool, True = removed
    mse: float = float("nan")  # the model's MSE term: mean token_loss over masked tokens (unless norm_pix_loss)
    baselines: dict[str, np.ndarray] = field(default_factory=dict)  # "zero", "visible_mean": their images
    baseline_mse: dict[str, float] = field(default_factory=dict)  # MSE on the removed pixels: model and baselines


@torch.no_grad()
def reconstruct(model: MaskedAutoencoder, x: torch.Tensor, *, mask_ratio: float | None = None,
                masking: str | None = None, seed: int = 0) -> Reconstruction:
    """Run the model on ``x: [N, 1, F, T]`` with a seeded mask and collect what the figures show,
    with the trivial predictors of :mod:`workbench.train.heldout` beside the model."""
    held = predict_heldout(model, x, seed=seed, mask_ratio=mask_ratio, masking=masking)
    out, recon, pix_mask, x = held.output, held.images["model"], held.removed, held.inputs
    masked = x.clone()
    masked[pix_mask] = float("nan")
    target = model.patchify(x)
    pred = model.patchify(recon) if model.cfg.norm_pix_loss else out.pred.float()
    tok = ((pred - target) ** 2).mean(-1)
    tok[~out.mask] = float("nan")
    err = (recon - x).abs() * pix_mask
    as_np = lambda t: t[:, 0].cpu().numpy()  # noqa: E731
    return Reconstruction(as_np(x), as_np(masked), as_np(recon), as_np(err), tok.cpu().numpy(), float(out.loss),
                          out.mask.cpu().numpy(), float(out.mse),
                          baselines={k: as_np(held.images[k]) for k in ("zero", "visible_mean")},
                          baseline_mse=held.mse())


BASELINE_TITLES = {"zero": "predict the mean (0)", "visible_mean": "predict visible mean"}


def plot_reconstructions(rec: Reconstruction, *, n: int | None = None, with_error: bool = False,
                         with_baselines: bool = False, title: str | None = None):
    """Grid: one row per sample, columns input / masked input / reconstruction (/ error) (/ the two
    trivial predictors, each titled with its MSE on the removed pixels beside the model's)."""
    n = min(n or len(rec.inputs), len(rec.inputs))
    mse = rec.baseline_mse
    model_name = f"reconstruction\nMSE {mse['model']:.3f}" if with_baselines and mse else "reconstruction"
    cols = [("input", rec.inputs), ("masked input", rec.masked), (model_name, rec.recon)]
    if with_baselines and rec.baselines:
        cols += [(f"{BASELINE_TITLES[k]}\nMSE {mse[k]:.3f}", img) for k, img in rec.baselines.items()]
    if with_error:
        cols.append(("|error| on masked", rec.error))
    width = rec.inputs.shape[-1] / rec.inputs.shape[-2]
    fig, axes = plt.subplots(n, len(cols), figsize=(min(3.0 * width, 7.0) * len(cols) / 2 + 1, 1.6 * n + 0.9),
                             squeeze=False)
    vmin, vmax = np.nanpercentile(rec.inputs[:n], [1, 99])
    for i in range(n):
        for j, (name, arr) in enumerate(cols):
            ax = axes[i, j]
            kw = {"vmin": 0, "vmax": np.nanmax(rec.error[:n]) or 1} if name.startswith("|error|") else {"vmin": vmin, "vmax": vmax}
            ax.imshow(arr[i], origin="lower", aspect="auto", cmap=masked_cmap(), interpolation="nearest", **kw)
            no_ticks(ax)
            if i == 0:
                ax.set_title(name, fontsize=9)
    fig.suptitle(title or f"masked reconstruction (loss {rec.loss:.3f})", fontsize=10)
    fig.tight_layout()
    return fig


def mask_ratio_sweep(model: MaskedAutoencoder, x: torch.Tensor, ratios: Sequence[float], *,
                     masking: str | None = None, seed: int = 0) -> dict[float, Reconstruction]:
    """:func:`reconstruct` of the same ``x: [N, 1, F, T]`` at each mask ratio (same mask seed):
    ``{ratio: Reconstruction}`` in the given order."""
    if not ratios:
        raise ValueError("ratios is empty: pass at least one mask ratio in [0, 1)")
    return {float(r): reconstruct(model, x, mask_ratio=float(r), masking=masking, seed=seed) for r in ratios}


def plot_mask_ratio_grid(recs: Mapping[float, Reconstruction], *, n: int | None = None,
                         title: str | None = None):
    """One column per sample; rows: the input, then for each mask ratio the masked input and the
    reconstruction (labelled with that ratio's MSE on the removed tokens). One colour scale."""
    if not recs:
        raise ValueError("recs is empty: pass the output of mask_ratio_sweep")
    first = next(iter(recs.values()))
    n = min(n or len(first.inputs), len(first.inputs))
    rows = [("input", first.inputs)]
    for ratio, rec in recs.items():
        rows += [(f"masked {ratio:.0%}", rec.masked), (f"recon. {ratio:.0%}\nMSE {rec.mse:.3f}", rec.recon)]
    aspect = first.inputs.shape[-1] / first.inputs.shape[-2]
    cell_w = float(np.clip(1.1 * aspect, 1.5, 4.5))
    fig, axes = plt.subplots(len(rows), n, figsize=(cell_w * n + 1.0, 0.95 * len(rows) + 0.7), squeeze=False)
    vmin, vmax = float(np.min(first.inputs[:n])), float(np.max(first.inputs[:n]))
    cmap = masked_cmap()
    for i, (label, arr) in enumerate(rows):
        for j in range(n):
            ax = axes[i, j]
            ax.imshow(arr[j], origin="lower", aspect="auto", cmap=cmap, interpolation="nearest", vmin=vmin, vmax=vmax)
            no_ticks(ax)
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
            if i == 0:
                ax.set_title(f"sample {j}", fontsize=9)
    fig.suptitle(title or "reconstructions across mask ratios (grey = removed tokens)", fontsize=10)
    fig.tight_layout()
    return fig


def _nanmean0(a: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN where every entry is NaN (without numpy's warning)."""
    count = (~np.isnan(a)).sum(axis=0)
    total = np.nansum(a, axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def plot_token_loss(rec: Reconstruction, *, grid: tuple[int, int], n: int | None = None,
                    title: str | None = None):
    """Per-token MSE maps on the token ``grid`` ``(rows, cols)`` (``model.cfg.grid(frames)``),
    drawn over the input's extent (frames x mel bins): one row per sample, then the mean over the
    samples in which each token was removed. Grey = visible token (not scored)."""
    n = min(n or len(rec.inputs), len(rec.inputs))
    maps = rec.token_loss[:n].reshape(n, *grid)
    panels = [(f"sample {i}", maps[i]) for i in range(n)] + [("mean", _nanmean0(maps))]
    f, t = rec.inputs.shape[-2:]
    fig, axes = plt.subplots(len(panels), 1, figsize=(float(np.clip(2.0 * t / f, 4, 10)) + 1.2, 1.1 * len(panels) + 0.6),
                             squeeze=False, sharex=True, layout="constrained")
    finite = maps[np.isfinite(maps)]
    vmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    for ax, (label, m) in zip(axes[:, 0], panels):
        im = ax.imshow(m, origin="lower", aspect="auto", cmap=masked_cmap("viridis"), interpolation="nearest",
                       extent=(0, t, 0, f), vmin=0, vmax=vmax or 1.0)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.colorbar(im, ax=axes[:, 0].tolist(), fraction=0.03, pad=0.01, label="MSE per removed token")
    axes[-1, 0].set_xlabel("frame")
    fig.suptitle(title or f"per-token loss (mean {np.nanmean(maps) if finite.size else float('nan'):.3f})", fontsize=10)
    return fig



__all__ = ["Reconstruction", "mask_ratio_sweep", "plot_mask_ratio_grid", "plot_reconstructions", "plot_token_loss",
           "reconstruct"]
