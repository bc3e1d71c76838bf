"""Turn rendered RGB/grey images into spectrogram geometry ``[n, 1, n_mels, frames]``."""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ITU-R BT.601 luma, the weights PIL's convert("L") uses, so folder images and generators agree.
LUMA = (0.299, 0.587, 0.114)


def to_grey(images: torch.Tensor) -> torch.Tensor:
    """``[n, C, H, W]`` with C in (1, 3) -> ``[n, 1, H, W]`` luma, same dtype and range."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images [n, 1|3, H, W], got shape {tuple(images.shape)}")
    if images.shape[1] == 1:
        return images
    w = torch.tensor(LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images * w).sum(dim=1, keepdim=True)


def to_spectrogram(images: torch.Tensor, *, frames: int, n_mels: int = 128) -> torch.Tensor:
    """Grey, then antialiased resize to ``[n, 1, n_mels, frames]`` float32 in [0, 1].

    The image's first row becomes mel bin 0. A square image stretched to 128 x 1024 is what the
    framework paper feeds its audio-shaped MAE (DESIGN.md section 1: our default, configurable by
    rendering at another size before calling this).
    """
    if frames < 1 or n_mels < 1:
        raise ValueError(f"frames and n_mels must be positive, got frames={frames}, n_mels={n_mels}")
    grey = to_grey(images.float())
    if grey.shape[-2:] != (n_mels, frames):
        antialias = grey.shape[-2] > n_mels or grey.shape[-1] > frames
        grey = F.interpolate(grey, size=(n_mels, frames), mode="bilinear", align_corners=False,
                             antialias=antialias)
    return grey.clamp_(0.0, 1.0)


def minmax_per_sample(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each sample of ``[n, ...]`` to [0, 1] (constant samples become 0)."""
    flat = x.flatten(1)
    lo = flat.min(dim=1, keepdim=True).values
    hi = flat.max(dim=1, keepdim=True).values
    return ((flat - lo) / (hi - lo).clamp_min(eps)).view_as(x)
