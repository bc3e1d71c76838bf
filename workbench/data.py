"""Pre-training data sources: what ``--dataset`` names, turned into normalised batches.

``make_source(dataset, ...)`` accepts

* a registered pattern name (``fractaldb``, ``shaders1k``, ``procedural_audio``, ...),
* a folder of PNG/JPG images (e.g. a downloaded Shaders21k or a materialised pattern folder),
* ``audio:SPEC`` for log-mels of real or embedded audio (``audio:synth_sounds``, ``audio:/path``),
  served by :func:`workbench.audio.datasets.pretrain_source`.

Every source returns, for a global ``step``, a batch ``[B, 1, n_mels, frames]`` normalised to mean
0 and std 0.5 (AST's convention) with per-dataset statistics. A batch is a pure function of
``(seed, step, rank)``, which makes resumption exact and keeps ranks on different samples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from workbench import patterns
from workbench.audio.frontend import NormStats, compute_norm_stats, normalize
from workbench.patterns.registry import cache_dir
from workbench.patterns.folder import ImageFolder

STATS_SAMPLES = 64  # images used to estimate a pattern dataset's mean/std
STATS_SEED = 2**31 - 1  # a seed no training step uses

_STATS_CACHE: dict[str, NormStats] = {}


class Source(Protocol):
    name: str
    stats: NormStats

    def batch(self, step: int, batch_size: int, *, rank: int = 0) -> torch.Tensor:
        """Normalised ``[batch_size, 1, n_mels, frames]`` float32 on the source's device."""
        ...


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """A distinct, reproducible 63-bit seed per (run seed, step, rank)."""
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729 + 12_345) % (2**63 - 1)


@dataclass
class PatternSource:
    """A registered generator, rendered on ``device`` at every step."""

    name: str
    frames: int
    seed: int
    device: torch.device
    stats: NormStats | None = None

    def __post_init__(self) -> None:
        self.name = patterns.get(self.name).name
        if self.stats is None:
            self.stats = pattern_stats(self.name, frames=self.frames, device=self.device)

    def batch(self, step: int, batch_size: int, *, rank: int = 0) -> torch.Tensor:
        x = patterns.generate(self.name, batch_size, seed=step_seed(self.seed, step, rank),
                              device=self.device, frames=self.frames)
        return normalize(x, self.stats)


def pattern_stats(name: str, *, frames: int = 1024, device: str | torch.device = "cpu",
                  n: int = STATS_SAMPLES) -> NormStats:
    """Mean/std of a pattern dataset estimated from ``n`` samples at a reserved seed.

    Computed once per (dataset, frames, n) and cached as JSON under the pattern cache folder, so
    sweeps and notebooks do not re-render slow generators just for their statistics.
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


@dataclass
class FolderSource:
    """A folder of images; each epoch is a seeded permutation, so batches depend only on the step."""

    root: Path
    frames: int
    seed: int
    device: torch.device
    stats: NormStats | None = None

    def __post_init__(self) -> None:
        self.dataset = ImageFolder(self.root, frames=self.frames)
        self.name = str(self.root)
        if self.stats is None:
            n = min(len(self.dataset), STATS_SAMPLES)
            idx = torch.randperm(len(self.dataset), generator=torch.Generator().manual_seed(STATS_SEED))[:n]
            self.stats = compute_norm_stats(self.dataset[int(i)][0] for i in idx)

    def indices(self, step: int, batch_size: int, rank: int = 0) -> list[int]:
        """Dataset indices of a batch: position ``step * batch_size + j`` of rank ``rank``'s stream,
        where each epoch of the stream is a fresh seeded permutation."""
        n = len(self.dataset)
        out = []
        for j in range(batch_size):
            epoch, k = divmod(step * batch_size + j, n)
            g = torch.Generator().manual_seed(step_seed(self.seed, epoch, rank))
            out.append(int(torch.randperm(n, generator=g)[k]))
        return out

    def batch(self, step: int, batch_size: int, *, rank: int = 0) -> torch.Tensor:
        x = torch.stack([self.dataset[i][0] for i in self.indices(step, batch_size, rank)])
        return normalize(x, self.stats).to(self.device)


def make_source(dataset: str, *, frames: int = 1024, seed: int = 0,
                device: str | torch.device = "cpu") -> Source:
    """Resolve ``dataset`` (pattern name, image folder, or ``audio:SPEC``) to a :class:`Source`."""
    device = torch.device(device)
    if dataset.startswith("audio:"):
        from workbench.audio.datasets import pretrain_source

        return pretrain_source(dataset[len("audio:"):], frames=frames, seed=seed, device=device)
    if patterns.is_registered(dataset):
        return PatternSource(dataset, frames=frames, seed=seed, device=device)
    path = Path(dataset).expanduser()
    if path.is_dir():
        return FolderSource(path, frames=frames, seed=seed, device=device)
    patterns.get(dataset)  # raises the KeyError that lists every valid name
    raise AssertionError("unreachable")
