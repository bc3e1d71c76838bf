"""Figures shared by the notebooks: loss curves and input / masked / reconstruction grids.

Functions return matplotlib figures and never call ``plt.show()``, so they work in papermill,
in tests (Agg backend) and in widgets alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch

from workbench.models.mae import MaskedAutoencoder


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


@dataclass
class Reconstruction:
    """Arrays behind a reconstruction figure, ``[N, F, T]`` each (numpy, float32)."""

    inputs: np.ndarray
    masked: np.ndarray  # input with removed tokens set to NaN (drawn as background)
    recon: np.ndarray  # visible tokens from the input, masked tokens predicted
    error: np.ndarray  # |recon - input| on masked tokens, 0 elsewhere
    token_loss: np.ndarray  # [N, L] per-token MSE (NaN on visible tokens)
    loss: float


@torch.no_grad()
def reconstruct(model: MaskedAutoencoder, x: torch.Tensor, *, mask_ratio: float | None = None,
                masking: str | None = None, seed: int = 0) -> Reconstruction:
    """Run the model on ``x: [N, 1, F, T]`` with a seeded mask and collect what the figures show."""
    model.eval()
    mask = model.make_mask(x.shape[0], x.shape[-1], generator=torch.Generator().manual_seed(seed),
                           device=x.device, mask_ratio=mask_ratio, masking=masking)
    out = model(x, mask)
    recon = model.reconstruct(x, out)
    pix_mask = model.unpatchify(out.mask[..., None].float().expand(-1, -1, out.pred.shape[-1]), x.shape[-1]) > 0.5
    masked = x.float().clone()
    masked[pix_mask] = float("nan")
    target = model.patchify(x.float())
    pred = out.pred.float()
    if model.cfg.norm_pix_loss:
        pred = model.patchify(recon)
    tok = ((pred - target) ** 2).mean(-1)
    tok[~out.mask] = float("nan")
    err = (recon - x.float()).abs() * pix_mask
    as_np = lambda t: t[:, 0].cpu().numpy()  # noqa: E731
    return Reconstruction(as_np(x.float()), as_np(masked), as_np(recon), as_np(err), tok.cpu().numpy(),
                          float(out.loss))


def plot_reconstructions(rec: Reconstruction, *, n: int | None = None, with_error: bool = False,
                         title: str | None = None):
    """Grid: one row per sample, columns input / masked input / reconstruction (/ error)."""
    n = min(n or len(rec.inputs), len(rec.inputs))
    cols = [("input", rec.inputs), ("masked input", rec.masked), ("reconstruction", rec.recon)]
    if with_error:
        cols.append(("|error| on masked", rec.error))
    width = rec.inputs.shape[-1] / rec.inputs.shape[-2]
    fig, axes = plt.subplots(n, len(cols), figsize=(min(3.0 * width, 7.0) * len(cols) / 2 + 1, 1.6 * n + 0.6),
                             squeeze=False)
    vmin, vmax = np.nanpercentile(rec.inputs[:n], [1, 99])
    for i in range(n):
        for j, (name, arr) in enumerate(cols):
            ax = axes[i, j]
            cmap = matplotlib.colormaps["magma"].copy()
            cmap.set_bad("#cfd8dc")
            kw = {"vmin": 0, "vmax": np.nanmax(rec.error[:n]) or 1} if name.startswith("|error|") else {"vmin": vmin, "vmax": vmax}
            ax.imshow(arr[i], origin="lower", aspect="auto", cmap=cmap, interpolation="nearest", **kw)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=9)
    fig.suptitle(title or f"masked reconstruction (loss {rec.loss:.3f})", fontsize=10)
    fig.tight_layout()
    return fig
