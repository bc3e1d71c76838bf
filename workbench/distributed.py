"""Devices and torchrun: which device this process uses, its rank, and the process group.

Under ``torchrun --nproc_per_node N -m workbench pretrain ...`` (``WORLD_SIZE > 1`` in the
environment) each process trains on ``cuda:LOCAL_RANK`` (NCCL) or the CPU (gloo). Rank 0 alone
writes files and prints.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a torchrun launch; the defaults describe a plain single process."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "DistInfo":
        """Read torchrun's ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` (absent: a single process)."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size <= 1:
            return cls()
        missing = [k for k in ("RANK", "LOCAL_RANK") if k not in os.environ]
        if missing:
            raise RuntimeError(f"WORLD_SIZE={world_size} is set but {' and '.join(missing)} is not: "
                               "launch multi-process runs with torchrun")
        return cls(world_size, int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]))


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` (CUDA when available, else the CPU) or a device name; asking for CUDA where
    there is none is an error that says so."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={str(device)!r} requested but CUDA is not available; use device='cpu'")
    return dev


def rank_device(device: str, info: DistInfo) -> torch.device:
    """:func:`resolve_device`, except that under torchrun a CUDA device is always ``cuda:LOCAL_RANK``
    (one GPU per process; choose the GPUs with ``CUDA_VISIBLE_DEVICES``)."""
    dev = resolve_device(device)
    if info.world_size == 1 or dev.type != "cuda":
        return dev
    if info.local_rank >= torch.cuda.device_count():
        raise RuntimeError(f"LOCAL_RANK={info.local_rank} but only {torch.cuda.device_count()} CUDA devices are "
                           "visible: start at most one process per GPU (--nproc_per_node)")
    return torch.device("cuda", info.local_rank)


@contextlib.contextmanager
def process_group(info: DistInfo, device: torch.device) -> Iterator[None]:
    """The process group of a multi-process run, created here unless one exists and destroyed on
    exit (on error too); a single process gets none."""
    if info.world_size == 1:
        yield
        return
    own_group = not dist.is_initialized()
    if own_group:
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                device_id=device if device.type == "cuda" else None)
    elif dist.get_world_size() != info.world_size:
        raise RuntimeError(f"the existing process group has {dist.get_world_size()} ranks but "
                           f"WORLD_SIZE={info.world_size}")
    try:
        yield
    finally:
        if own_group:
            dist.destroy_process_group()


@contextlib.contextmanager
def main_first(info: DistInfo) -> Iterator[None]:
    """Rank 0 runs the block before the others, e.g. so that only it fills an on-disk cache."""
    if info.world_size > 1 and not info.is_main:
        dist.barrier()
    yield
    if info.world_size > 1 and info.is_main:
        dist.barrier()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (nothing for a single process)."""
    if info.world_size > 1:
        dist.barrier()


def all_reduce_sum(values: dict[str, float], info: DistInfo, device: torch.device) -> dict[str, float]:
    """``values`` summed over the ranks (unchanged for a single process)."""
    if info.world_size == 1:
        return values
    reduced = torch.tensor(list(values.values()), dtype=torch.float64, device=device)
    dist.all_reduce(reduced)
    return dict(zip(values, reduced.tolist()))


__all__ = ["DistInfo", "all_reduce_sum", "barrier", "main_first", "process_group", "rank_device", "resolve_device"]
