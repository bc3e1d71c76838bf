"""Registry of synthetic pattern sources.

Every source is a function registered under a name (and optional aliases). Two kinds exist:

* ``kind="image"``: ``fn(n, *, size, generator, device) -> PatternBatch`` renders ``n`` images
  ``[n, C, size, size]`` (C = 1 or 3) with values in [0, 1]. The shared converter
  (:func:`workbench.patterns.convert.to_spectrogram`) turns them into spectrogram geometry.
* ``kind="spectrogram"``: ``fn(n, *, frames, generator, device) -> PatternBatch`` returns
  ``[n, 1, 128, frames]`` directly (procedural audio renders log-mels); values are min-max scaled
  to [0, 1] per clip by :func:`generate` so both kinds share one range.

Randomness convention (so the same seed gives the same images on CPU and GPU): every random draw
goes through the ``generator`` passed in, which is a *CPU* ``torch.Generator``; draw on the CPU and
move the result with ``.to(device)``; compute on ``device``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import torch

from workbench.registry import Registry


class PatternBatch(NamedTuple):
    images: torch.Tensor  # [n, C, H, W] float32 in [0, 1] (kind="image") or [n, 1, 128, T]
    labels: torch.Tensor | None = None  # [n] int64 category ids where the dataset has categories


@dataclass(frozen=True)
class PatternSpec:
    name: str
    fn: Callable[..., PatternBatch]
    family: str  # "dead_leaves", "statistical", "stylegan", "feature_vis", "shaders", ...
    description: str
    kind: str = "image"  # "image" | "spectrogram"
    native_size: int = 256  # side of the square image the family renders (kind="image")
    num_classes: int | None = None
    paper_id: str | None = None  # letter (a-q) in Ishikawa et al. 2025, None for our additions
    aliases: tuple[str, ...] = field(default_factory=tuple)
    cached: bool = False  # True when the family renders to an on-disk cache first (slow generators)


PATTERNS: Registry[PatternSpec] = Registry(
    "pattern dataset", plural="names", extra="An existing folder of PNG/JPG images is accepted too.")


def register_pattern(
    name: str,
    *,
    family: str,
    description: str,
    kind: str = "image",
    native_size: int = 256,
    num_classes: int | None = None,
    paper_id: str | None = None,
    aliases: tuple[str, ...] = (),
    cached: bool = False,
) -> Callable[[Callable[..., PatternBatch]], Callable[..., PatternBatch]]:
    """Decorator that registers a pattern function under ``name`` (see module docstring)."""
    if kind not in ("image", "spectrogram"):
        raise ValueError(f"kind must be 'image' or 'spectrogram', got {kind!r}")

    def deco(fn: Callable[..., PatternBatch]) -> Callable[..., PatternBatch]:
        PATTERNS.add(name, PatternSpec(name=name, fn=fn, family=family, description=description, kind=kind,
                                       native_size=native_size, num_classes=num_classes, paper_id=paper_id,
                                       aliases=tuple(aliases), cached=cached), aliases=aliases)
        return fn

    return deco


def names() -> list[str]:
    """Canonical names of all registered pattern sources: the paper's (a-q) in its order, then ours."""
    order = {name: i for i, name in enumerate(PATTERNS.names())}
    return sorted(order, key=lambda n: (PATTERNS.get(n).paper_id is None, PATTERNS.get(n).paper_id or "", order[n]))


def get(name: str) -> PatternSpec:
    """Look up a pattern source by name or alias; an unknown name lists the valid ones."""
    return PATTERNS.get(name)


def is_registered(name: str) -> bool:
    return name in PATTERNS
