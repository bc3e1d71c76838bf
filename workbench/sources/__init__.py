"""Pre-training sources: what ``--dataset`` names, turned into normalised batches.

>>> from workbench import sources
>>> src = sources.make_source("fractaldb", frames=256, seed=0)
>>> src.batch(0, 8).shape  # shard 0: [8, 1, 128, 256], mean 0 and std 0.5 per dataset
torch.Size([8, 1, 128, 256])

``spec.py`` parses the dataset text (pattern name, image folder, npy array folder, ``audio:``
spec); one module per kind serves its batches (``pattern.py``, ``images.py``, ``audio.py``);
``prefetch.py`` renders batches ahead of the step; ``materialize.py`` writes a pattern dataset to
disk, and ``pool.py`` renders a fixed-size pattern dataset once into the cache. Every batch is a
pure function of ``(seed, shard)`` (:mod:`workbench.seeding`), which makes resumption exact,
keeps ranks on different samples and lets batches be rendered ahead.
"""

from __future__ import annotations

import torch

from workbench.seeding import heldout_shard
from workbench.sources.base import STATS_SAMPLES, Source
from workbench.sources.images import ArraySource, FolderSource, ImageFolder, ImageFolderError
from workbench.sources.pattern import PatternSource, pattern_stats
from workbench.sources.prefetch import Prefetcher
from workbench.sources.spec import DatasetSpec, parse_dataset

__all__ = ["ArraySource", "DatasetSpec", "FolderSource", "ImageFolder", "ImageFolderError", "PatternSource",
           "Prefetcher", "STATS_SAMPLES", "Source", "heldout_batch", "make_source", "parse_dataset",
           "pattern_stats"]


def make_source(dataset: str | DatasetSpec, *, frames: int = 1024, seed: int = 0,
                device: str | torch.device = "cpu", pool: int = 0, pool_seed: int = 0) -> Source:
    """The :class:`Source` for a dataset text or a parsed :class:`DatasetSpec`. ``pool > 0``
    trains a pattern on a fixed pool of that many samples (:mod:`workbench.sources.pool`)
    instead of an endless stream."""
    spec = dataset if isinstance(dataset, DatasetSpec) else parse_dataset(dataset)
    device = torch.device(device)
    if pool:
        from workbench.sources.pool import pooled_source

        return pooled_source(spec, size=pool, frames=frames, seed=seed, pool_seed=pool_seed, device=device)
    if spec.kind == "pattern":
        return PatternSource(spec.name, frames=frames, seed=seed, device=device)
    if spec.kind == "array":
        return ArraySource(spec.root, frames=frames, seed=seed, device=device)
    if spec.kind == "folder":
        return FolderSource(spec.root, frames=frames, seed=seed, device=device)
    from workbench.sources.audio import audio_source  # audio decoding is only imported when needed

    return audio_source(spec, frames=frames, seed=seed, device=device)


def heldout_batch(source: Source, n: int, *, start: int = 0) -> torch.Tensor:
    """Held-out samples ``start .. start + n - 1`` of a source, stacked ``[n, 1, n_mels, frames]``:
    shards no training step reaches (:func:`workbench.seeding.heldout_shard`), one sample each,
    so sample ``i`` is the same whatever ``n`` is."""
    return torch.cat([source.batch(heldout_shard(start + i), 1) for i in range(n)])
