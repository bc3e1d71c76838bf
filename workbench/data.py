"""Pre-training data sources: what ``--dataset`` names, turned into normalised batches.

``make_source(dataset, ...)`` accepts

* a registered pattern name (``fractaldb``, ``shaders1k``, ``procedural_audio``, ...),
* a folder of PNG/JPG images (e.g. a downloaded Shaders21k or a materialised pattern folder),
* a folder written by ``materialize(..., fmt="npy")`` (one memory-mapped uint8 array: the fast
  path for GPU pre-training on generators slower than the model),
* ``audio:SPEC`` for log-mels of real or embedded audio (``audio:synth_sounds``, ``audio:/path``),
  served by :func:`workbench.audio.datasets.pretrain_source`.

Every source returns, for a global ``step``, a batch ``[B, 1, n_mels, frames]`` normalised to mean
0 and std 0.5 (AST's convention) with per-dataset statistics. A batch is a pure function of
``(seed, shard)``: the engine numbers every micro-batch of every rank with a global shard id and
passes it as ``step`` (``rank`` stays 0 there), which makes resumption exact, keeps ranks on
different samples and lets batches be rendered ahead (:class:`Prefetcher`).
"""

from __future__ import annotations

import json
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Protocol

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
        return stream_indices(len(self.dataset), self.seed, step, batch_size, rank)

    def batch(self, step: int, batch_size: int, *, rank: int = 0) -> torch.Tensor:
        x = torch.stack([self.dataset[i][0] for i in self.indices(step, batch_size, rank)])
        return normalize(x, self.stats).to(self.device)


def stream_indices(n: int, seed: int, step: int, batch_size: int, rank: int = 0) -> list[int]:
    """Indices of a batch drawn from a finite dataset of ``n`` items: positions
    ``step * batch_size + j`` of a stream whose every epoch is a fresh seeded permutation."""
    out: list[int] = []
    perms: dict[int, torch.Tensor] = {}
    for j in range(batch_size):
        epoch, k = divmod(step * batch_size + j, n)
        if epoch not in perms:
            perms[epoch] = torch.randperm(n, generator=torch.Generator().manual_seed(step_seed(seed, epoch, rank)))
        out.append(int(perms[epoch][k]))
    return out


@dataclass
class ArraySource:
    """A materialised ``images.npy`` (uint8 ``[N, 128, T]``, memory-mapped), sampled like a folder.

    Reading rows of a memory-mapped array costs a copy, not a decode, so this keeps up with a
    ``base`` model on a GPU where most generators cannot; batches are pinned and copied
    asynchronously, then scaled and normalised on the device.
    """

    root: Path
    frames: int
    seed: int
    device: torch.device
    stats: NormStats | None = None

    def __post_init__(self) -> None:
        import numpy as np

        manifest = json.loads((self.root / "materialize.json").read_text())
        if not manifest.get("complete"):
            raise ValueError(f"{self.root} is an unfinished materialisation: rerun the same "
                             "`patterns materialize` command to complete it")
        self.images = np.load(self.root / "images.npy", mmap_mode="r")
        if self.images.shape[-1] != self.frames:
            raise ValueError(f"{self.root} holds {self.images.shape[-1]}-frame samples, not frames={self.frames}; "
                             "materialise it again with --frames or train with the matching --frames")
        self.name = str(self.root)
        if self.stats is None:
            self.stats = NormStats(mean=manifest["norm_stats"]["mean"], std=manifest["norm_stats"]["std"])

    def batch(self, step: int, batch_size: int, *, rank: int = 0) -> torch.Tensor:
        import numpy as np

        idx = np.asarray(stream_indices(len(self.images), self.seed, step, batch_size, rank))
        order = np.argsort(idx)  # read the file in ascending order, then restore the batch order
        rows = np.empty((batch_size, *self.images.shape[1:]), dtype=np.uint8)
        rows[order] = self.images[idx[order]]
        x = torch.from_numpy(rows)[:, None]
        if self.device.type == "cuda":  # pinned, so the copy overlaps the step running on the GPU
            x = x.pin_memory().to(self.device, non_blocking=True)
        else:
            x = x.to(self.device)
        return normalize(x.float() / 255.0, self.stats)


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
    if (path / "images.npy").exists():
        return ArraySource(path, frames=frames, seed=seed, device=device)
    if path.is_dir():
        return FolderSource(path, frames=frames, seed=seed, device=device)
    patterns.get(dataset)  # raises the KeyError that lists every valid name
    raise AssertionError("unreachable")


class Prefetcher:
    """Make the batches of ``shard_ids`` ahead of time in ``workers`` background threads.

    A batch is a pure function of its shard id, so computing it early, in another thread, changes
    nothing in what training sees: iteration yields ``(shard_id, batch)`` in the given order. The
    generators are torch code that releases the GIL, so threads overlap generation with the
    training step (and with each other on a many-core CPU). On CUDA each worker renders on its own
    stream and the consumer's stream waits on an event, so generation runs beside the step's
    kernels instead of between them. ``workers=0`` makes each batch on demand, in the caller.
    """

    def __init__(self, source: Source, batch_size: int, shard_ids: Iterable[int], *, workers: int = 2,
                 depth: int | None = None) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.source, self.batch_size, self.workers = source, batch_size, workers
        self._ids = iter(shard_ids)
        self._pending: deque[tuple[int, Future]] = deque()
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="prefetch") if workers else None
        for _ in range(depth or 2 * workers):
            self._submit()

    def _device(self) -> torch.device:
        return torch.device(getattr(self.source, "device", "cpu"))

    def _make(self, shard: int):
        device = self._device()
        if device.type != "cuda":
            return self.source.batch(shard, self.batch_size), None
        if not hasattr(self._local, "stream"):
            self._local.stream = torch.cuda.Stream(device)
        with torch.cuda.stream(self._local.stream):
            x = self.source.batch(shard, self.batch_size)
            done = torch.cuda.Event()
            done.record(self._local.stream)
        return x, done

    def _submit(self) -> None:
        if self._pool is None:
            return
        shard = next(self._ids, None)
        if shard is not None:
            self._pending.append((shard, self._pool.submit(self._make, shard)))

    def __iter__(self) -> Iterator[tuple[int, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[int, torch.Tensor]:
        if self._pool is None:
            shard = next(self._ids)  # StopIteration ends the loop
            return shard, self.source.batch(shard, self.batch_size)
        if not self._pending:
            self.close()
            raise StopIteration
        shard, fut = self._pending.popleft()
        x, done = fut.result()  # re-raises a generator's error in the training loop
        if done is not None:
            current = torch.cuda.current_stream(x.device)
            current.wait_event(done)
            x.record_stream(current)  # the allocator must not hand x's memory back to the worker early
        self._submit()
        return shard, x

    def close(self) -> None:
        """Stop the workers (queued batches are dropped)."""
        if self._pool is not None:
            for _, fut in self._pending:
                fut.cancel()
            self._pending.clear()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._ids = iter(())

    def __enter__(self) -> "Prefetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
