"""What every pre-training source is: a named stream of normalised batches, one per shard id."""

from __future__ import annotations

from typing import Protocol

import torch

from workbench.audio.frontend import NormStats

STATS_SAMPLES = 64  # samples of a pattern dataset or image folder behind its mean/std


class Source(Protocol):
    """A pre-training source. ``batch(shard, batch_size)`` is ``[batch_size, 1, n_mels, frames]``
    float32 on ``device``, normalised with ``stats`` to mean 0 and std 0.5 (AST's convention), and
    a pure function of ``(seed, shard)`` (see :mod:`workbench.seeding`)."""

    name: str
    stats: NormStats
    device: torch.device

    def batch(self, shard: int, batch_size: int) -> torch.Tensor:
        ...
