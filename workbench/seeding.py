"""Seeds: every random draw of a run is a pure function of ``(run seed, stream, shard)``.

A *shard* is one numbered micro-batch of a run (the engine numbers every micro-batch of every
rank globally). A *stream* says what the randomness is for, so that two uses never share a seed:

* :attr:`Stream.DATA`: a source's samples (a pattern batch, or the epoch permutation of a finite
  dataset: folders, arrays, audio clips);
* :attr:`Stream.MASKS`: the training masks;
* :attr:`Stream.CROPS`: crop offsets of audio clips longer than the input.

Reserved values no training step reaches: :data:`STATS_SEED` (the samples that estimate a
dataset's normalisation statistics) and :data:`HELDOUT_SHARD` (the first shard of the held-out
stream that figures and the explorer draw from: :func:`heldout_shard`).
"""

from __future__ import annotations

from enum import IntEnum

import torch

STATS_SEED = 2**31 - 1  # seed of the samples behind a dataset's normalisation statistics
HELDOUT_SHARD = 10**9  # shard ids from here on are never trained on (a run would need 10^9 micro-batches)


class Stream(IntEnum):
    """What a seed is for (see the module docstring)."""

    DATA = 0
    MASKS = 1
    CROPS = 2


def step_seed(seed: int, shard: int, stream: Stream = Stream.DATA) -> int:
    """A distinct, reproducible 63-bit seed per (run seed, shard, stream)."""
    return (seed * 1_000_003 + shard * 7_919 + int(stream) * 104_729 + 12_345) % (2**63 - 1)


def generator(seed: int, shard: int, stream: Stream) -> torch.Generator:
    """A CPU generator seeded by :func:`step_seed`."""
    return torch.Generator().manual_seed(step_seed(seed, shard, stream))


def heldout_shard(i: int) -> int:
    """The shard id of held-out sample ``i`` (``i >= 0``)."""
    if i < 0:
        raise ValueError(f"held-out sample index must be >= 0, got {i}")
    return HELDOUT_SHARD + int(i)


def stream_indices(n: int, seed: int, shard: int, batch_size: int) -> list[int]:
    """Indices of shard ``shard`` drawn from a finite dataset of ``n`` items: positions
    ``shard * batch_size + j`` of a stream whose every epoch is a fresh seeded permutation."""
    if n < 1:
        raise ValueError(f"cannot draw from an empty dataset (n={n})")
    out: list[int] = []
    perms: dict[int, torch.Tensor] = {}
    for j in range(batch_size):
        epoch, k = divmod(shard * batch_size + j, n)
        if epoch not in perms:
            perms[epoch] = torch.randperm(n, generator=generator(seed, epoch, Stream.DATA))
        out.append(int(perms[epoch][k]))
    return out


def rng_state() -> dict:
    """The global torch, numpy, Python (and CUDA) RNG states, as plain values and tensors that
    ``torch.load(weights_only=True)`` reads back (a checkpoint holds no pickled objects)."""
    import random

    import numpy as np

    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"kind": str(kind), "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                        "gauss": gauss}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only for the devices seen here).
    Checkpoints of earlier versions kept numpy's and Python's states as the tuples their
    ``get_state`` returns; those are restored as they are."""
    import random

    import numpy as np

    # RNG states are CPU byte tensors; torch.load(map_location="cuda") moves them, so move them back.
    torch.set_rng_state(state["torch"].cpu())
    np_state = state["numpy"]
    if isinstance(np_state, dict):
        np_state = (np_state["kind"], np_state["keys"].cpu().numpy().astype(np.uint32), np_state["pos"],
                    np_state["has_gauss"], np_state["cached_gaussian"])
    np.random.set_state(np_state)
    py = state["python"]
    if isinstance(py, dict):
        py = (py["version"], tuple(int(v) for v in py["internal"].tolist()), py["gauss"])
    random.setstate(py)
    if "cuda" in state and torch.cuda.is_available():
        # A checkpoint from a machine with more GPUs restores the states of the devices seen here.
        for i, cuda_state in enumerate(state["cuda"][:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), i)


__all__ = ["HELDOUT_SHARD", "STATS_SEED", "Stream", "generator", "heldout_shard", "rng_state", "set_rng_state",
           "step_seed", "stream_indices"]
