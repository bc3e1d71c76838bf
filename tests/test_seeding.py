"""Seeds, streams, finite-dataset orders and RNG state that survives a weights-only checkpoint."""

import io
import random

import numpy as np
import torch

from workbench.seeding import HELDOUT_SHARD, Stream, heldout_shard, rng_state, set_rng_state, step_seed, stream_indices


def test_every_epoch_is_a_permutation_and_shards_tile_the_stream():
    n, batch = 7, 3
    stream = [i for shard in range(7) for i in stream_indices(n, seed=1, shard=shard, batch_size=batch)]
    for epoch in range(3):
        assert sorted(stream[epoch * n:(epoch + 1) * n]) == list(range(n))
    assert stream[:n] != stream[n:2 * n]  # a fresh permutation each epoch
    assert stream_indices(n, 2, 0, batch) != stream_indices(n, 1, 0, batch)


def test_streams_and_reserved_values_are_distinct():
    assert len({step_seed(0, 5, s) for s in Stream}) == len(Stream)
    assert heldout_shard(3) == HELDOUT_SHARD + 3


def test_rng_state_round_trips_through_a_weights_only_load():
    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    np.random.randn()  # leaves a cached Gaussian in numpy's state
    buf = io.BytesIO()
    torch.save(rng_state(), buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    before = (random.random(), np.random.randn(), torch.rand(1).item())
    set_rng_state(state)
    assert (random.random(), np.random.randn(), torch.rand(1).item()) == before
