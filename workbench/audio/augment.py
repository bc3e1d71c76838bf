"""Training-time augmentation of normalised log-mels: SpecAugment masks and mixup."""

from __future__ import annotations

import numpy as np
import torch


def spec_augment(x: torch.Tensor, *, freq_mask: int, time_mask: int, generator: torch.Generator) -> torch.Tensor:
    """One frequency and one time mask per clip (SpecAugment, Park et al. 2019) on normalised
    log-mels ``[N, 1, F, T]``; masked values are set to 0, the normalised mean. Widths are
    uniform in ``[0, max]``, positions uniform; all draws from the CPU ``generator``."""
    n, _, f, t = x.shape
    out = x.clone()
    for size, axis, width in ((f, 2, freq_mask), (t, 3, time_mask)):
        width = min(width, size)
        if width <= 0:
            continue
        w = torch.randint(0, width + 1, (n,), generator=generator)
        start = (torch.rand(n, generator=generator) * (size - w + 1).float()).long()
        pos = torch.arange(size)
        m = (pos[None] >= start[:, None]) & (pos[None] < (start + w)[:, None])  # [N, size]
        shape = (n, 1, size, 1) if axis == 2 else (n, 1, 1, size)
        out = out.masked_fill(m.view(shape).to(x.device), 0.0)
    return out


def mixup(x: torch.Tensor, y: torch.Tensor, *, alpha: float, rng: np.random.Generator,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix each sample with a random partner: ``lam x + (1 - lam) x[perm]``, ``lam ~ Beta(a, a)``
    per batch; ``y`` is a probability (or multi-hot) matrix ``[N, C]`` mixed the same way."""
    lam = float(rng.beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    return lam * x + (1 - lam) * x[perm], lam * y + (1 - lam) * y[perm]


__all__ = ["mixup", "spec_augment"]
