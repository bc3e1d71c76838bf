"""Did pre-training learn anything? The held-out masked-token MSE of a model beside two trivial
predictors that need no training:

* ``zero``: predict 0 for every removed pixel, the dataset's mean (inputs are normalised to mean
  0), so its MSE is the removed pixels' mean square;
* ``visible_mean``: predict each image's mean over its visible pixels.

A model that does not beat the visible mean has learned nothing but the brightness of an image.
``ratio`` is the model's MSE over the visible-mean predictor's (below 1 is better; the notebooks'
defaults aim below 0.7).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from workbench.models.mae import MAEOutput, MaskedAutoencoder

HELDOUT_SAMPLES = 16  # held-out samples behind a run's reported MSE (notebooks and sweeps)
PREDICTORS = ("model", "zero", "visible_mean")


@dataclass
class HeldoutPredictions:
    """One masked pass over held-out inputs: every predictor's image ``[N, 1, F, T]`` (the input
    on visible pixels, the prediction on removed ones), the removed pixels, and the model output."""

    inputs: torch.Tensor
    removed: torch.Tensor  # [N, 1, F, T] bool
    images: dict[str, torch.Tensor]  # PREDICTORS -> [N, 1, F, T]
    output: MAEOutput

    def mse(self) -> dict[str, float]:
        """MSE on the removed pixels per predictor, and ``ratio`` = model / visible_mean."""
        out = {k: float(((img - self.inputs) ** 2)[self.removed].mean()) for k, img in self.images.items()}
        out["ratio"] = out["model"] / out["visible_mean"] if out["visible_mean"] > 0 else float("nan")
        return out


@torch.no_grad()
def predict_heldout(model: MaskedAutoencoder, x: torch.Tensor, *, seed: int = 0, mask_ratio: float | None = None,
                    masking: str | None = None) -> HeldoutPredictions:
    """The model and the trivial predictors on ``x: [N, 1, F, T]`` under one mask drawn from
    ``seed`` (the model's ratio and masking unless given); the model runs in eval mode."""
    was_training = model.training
    model.eval()
    try:
        x = x.float()
        mask = model.make_mask(x.shape[0], x.shape[-1], generator=torch.Generator().manual_seed(seed),
                               device=x.device, mask_ratio=mask_ratio, masking=masking)
        out = model(x, mask)
        recon = model.reconstruct(x, out)
    finally:
        model.train(was_training)
    removed = model.unpatchify(mask[..., None].float().expand(-1, -1, model.cfg.token_dim), x.shape[-1]) > 0.5
    visible = ~removed
    image_mean = (x * visible).sum(dim=(1, 2, 3), keepdim=True) / visible.sum(dim=(1, 2, 3), keepdim=True).clamp_min(1)
    images = {"model": recon, "zero": torch.where(removed, torch.zeros_like(x), x),
              "visible_mean": torch.where(removed, image_mean.expand_as(x), x)}
    return HeldoutPredictions(x, removed, images, out)


def heldout_mse(model: MaskedAutoencoder, x: torch.Tensor, *, seed: int = 0, mask_ratio: float | None = None,
                masking: str | None = None) -> dict[str, float]:
    """MSE on the removed pixels of ``x: [N, 1, F, T]`` (held-out samples, e.g.
    :func:`workbench.sources.heldout_batch`) under one seeded mask: ``model``, ``zero``,
    ``visible_mean`` and ``ratio`` (model / visible_mean)."""
    return predict_heldout(model, x, seed=seed, mask_ratio=mask_ratio, masking=masking).mse()


__all__ = ["HELDOUT_SAMPLES", "HeldoutPredictions", "PREDICTORS", "heldout_mse", "predict_heldout"]
