"""Render pre-training batches ahead of the training step, in background threads."""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterable, Iterator

import torch

from workbench.sources.base import Source


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


__all__ = ["Prefetcher"]
