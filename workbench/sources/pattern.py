"""A registered pattern generator as a pre-training source, rendered at every shard."""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch

from workbench import patterns
from workbench.audio.frontend import NormStats, compute_norm_stats, normalize
from workbench.files import cache_dir
from workbench.seeding import STATS_SEED, step_seed
from workbench.sources.base import STATS_SAMPLES

_STATS_CACHE: dict[str, NormStats] = {}


@dataclass
class PatternSource:
    """A registered generator, rendered on ``device`` for every shard."""

    name: str
    frames: int
    seed: int
    device: torch.device
    stats: NormStats | None = None

    def __post_init__(self) -> None:
        self.name = patterns.get(self.name).name
        self.device = torch.device(self.device)
        if self.stats is None:
            self.stats = pattern_stats(self.name, frames=self.frames, device=self.device)

    def batch(self, shard: int, batch_size: int) -> torch.Tensor:
        x = patterns.generate(self.name, batch_size, seed=step_seed(self.seed, shard), device=self.device,
                              frames=self.frames)
        return normalize(x, self.stats)


def pattern_stats(name: str, *, frames: int = 1024, device: str | torch.device = "cpu",
                  n: int = STATS_SAMPLES) -> NormStats:
    """Mean/std of a pattern dataset estimated from ``n`` samples at the reserved
    :data:`~workbench.seeding.STATS_SEED`.

    Computed once per (dataset, frames, n) and cached as JSON under the cache folder, so sweeps and
    notebooks do not re-render slow generators just for their statistics.
    """
    name = patterns.get(name).name
    key = f"{name}_frames{frames}_n{n}"
    if key in _STATS_CACHE:
        return _STATS_CACHE[key]
    path = cache_dir() / "stats" / f"{key}.json"
    if path.exists():
        stats = NormStats(**json.loads(path.read_text()))
    else:
        x = patterns.generate(name, n, seed=STATS_SEED, device=device, frames=frames)
        stats = compute_norm_stats([x])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(stats.to_dict()))
        except OSError:
            pass  # a read-only cache only costs recomputation
    _STATS_CACHE[key] = stats
    return stats


__all__ = ["PatternSource", "pattern_stats"]
