"""Fixed-size pattern datasets: a *pool* of N samples rendered once and trained on for as many
epochs as a run needs, as the paper trains on 105k images per dataset rather than on an endless
stream.

The pool of a pattern ``name`` is exactly the first N samples of that pattern's pre-training
stream with seed ``pool_seed`` (:class:`~workbench.sources.pattern.PatternSource`, batches of
:data:`POOL_BATCH`), quantised to 8 bits and kept as a memory-mapped ``images.npy`` under
``cache_dir()/pools``. It is rendered on the training device (a GPU renders most families far
faster), seeded, resumable (an interrupted render continues where its manifest says) and shared
by every run that asks for the same ``(name, N, frames, pool_seed)``: the pool is the dataset,
the same for every run seed, while the run seed still drives the initialisation, the epoch order
(:class:`~workbench.sources.images.ArraySource`) and the masks. Reading a pool costs a copy per
batch, so slow generators (the wavelet-marginal families render ~25 samples/s on 2 CPU cores)
cost once, and a ``base`` step on a GPU never waits for data.
"""

from __future__ import annotations

from pathlib import Path

import torch

from workbench.files import cache_dir, file_lock
from workbench.sources.images import ArraySource
from workbench.sources.materialize import materialize
from workbench.sources.spec import DatasetSpec

POOL_BATCH = 64  # samples per generator call while rendering a pool (and the stream batch they match)


def pool_folder(name: str, *, size: int, frames: int, pool_seed: int) -> Path:
    """Where the pool of pattern ``name`` lives in the cache."""
    return cache_dir() / "pools" / f"{name}_n{size}_frames{frames}_seed{pool_seed}_b{POOL_BATCH}"


def pooled_source(spec: DatasetSpec, *, size: int, frames: int, seed: int, pool_seed: int = 0,
                  device: str | torch.device = "cpu", progress: bool = True) -> ArraySource:
    """An :class:`ArraySource` over the pool of ``size`` samples of the pattern ``spec`` (rendered
    now unless cached; see the module docstring), read in epochs seeded by ``seed``."""
    if spec.kind != "pattern":
        raise ValueError(f"pool={size} applies to pattern generators; {spec.text!r} is already a fixed dataset "
                         "(use pool=0)")
    if size < 1:
        raise ValueError(f"pool size must be >= 1, got {size}")
    folder = pool_folder(spec.name, size=size, frames=frames, pool_seed=pool_seed)
    with file_lock(folder.with_name(folder.name + ".lock")):  # concurrent runs wait for one renderer
        materialize(spec.name, size, folder, seed=pool_seed, frames=frames, fmt="npy", batch_size=POOL_BATCH,
                    device=device, progress=progress, seeds="stream")
    return ArraySource(folder, frames=frames, seed=seed, device=torch.device(device))


__all__ = ["POOL_BATCH", "pool_folder", "pooled_source"]
