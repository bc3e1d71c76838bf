"""Rendering registered pattern sources: native images (:func:`render`) and model inputs in
spectrogram geometry (:func:`generate`). Generators that build on another family (the textured
dead leaves, the dead-leaves feature network) import from here, not from the package."""

from __future__ import annotations

import torch

from workbench.patterns.convert import minmax_per_sample, to_spectrogram
from workbench.patterns.registry import PatternBatch, get


def _cpu_generator(seed: int) -> torch.Generator:
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return torch.Generator(device="cpu").manual_seed(seed)


def render(name: str, n: int, *, seed: int = 0, device: str | torch.device = "cpu",
           size: int | None = None) -> PatternBatch:
    """Native rendering of an image family: ``[n, C, size, size]`` in [0, 1] plus labels."""
    spec = get(name)
    if spec.kind != "image":
        raise ValueError(f"{spec.name!r} renders spectrograms directly; use generate()")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    out = spec.fn(n, size=size or spec.native_size, generator=_cpu_generator(seed),
                  device=torch.device(device))
    return out


def generate_with_labels(name: str, n: int, *, seed: int = 0, device: str | torch.device = "cpu",
                         frames: int = 1024, n_mels: int = 128) -> PatternBatch:
    """Like :func:`generate` but also returns the category labels (None where there are none)."""
    spec = get(name)
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    device = torch.device(device)
    g = _cpu_generator(seed)
    if spec.kind == "image":
        batch = spec.fn(n, size=spec.native_size, generator=g, device=device)
        images = to_spectrogram(batch.images, frames=frames, n_mels=n_mels)
    else:
        batch = spec.fn(n, frames=frames, generator=g, device=device)
        images = batch.images.float()
        if images.shape[-2:] != (n_mels, frames):
            images = torch.nn.functional.interpolate(images, size=(n_mels, frames), mode="bilinear",
                                                     align_corners=False)
        images = minmax_per_sample(images)
    return PatternBatch(images.to(torch.float32), batch.labels)


def generate(name: str, n: int, *, seed: int = 0, device: str | torch.device = "cpu",
             frames: int = 1024, n_mels: int = 128) -> torch.Tensor:
    """``n`` samples of pattern ``name`` as float32 ``[n, 1, n_mels, frames]`` in [0, 1].

    Deterministic for a given ``seed`` (the same images on CPU and GPU up to float rounding).
    """
    return generate_with_labels(name, n, seed=seed, device=device, frames=frames, n_mels=n_mels).images
