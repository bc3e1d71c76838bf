"""Fixed-size pattern pools: the first N samples of the stream, rendered once, resumable, read in epochs."""

import json

import numpy as np
import pytest
import torch

from workbench import patterns
from workbench.seeding import step_seed
from workbench.sources import make_source, parse_dataset
from workbench.sources.pool import POOL_BATCH, pool_folder, pooled_source


def test_pool_samples_are_the_stream_samples_of_the_same_seed_and_index():
    src = pooled_source(parse_dataset("stat_spectrum"), size=70, frames=16, seed=3, pool_seed=5, progress=False)
    images = np.load(pool_folder("stat_spectrum", size=70, frames=16, pool_seed=5) / "images.npy")
    for i in (0, 1, 63, 64, 69):  # across the first rendering batch and into the second
        shard, j = divmod(i, POOL_BATCH)
        stream = patterns.generate("stat_spectrum", POOL_BATCH, seed=step_seed(5, shard), frames=16)[j, 0]
        assert torch.allclose(torch.from_numpy(images[i]).float() / 255, stream, atol=0.5 / 255 + 1e-6)
    assert src.batch(2, 8).shape == (8, 1, 128, 16)


def test_pool_is_deterministic_cached_and_epochs_cover_it():
    a = make_source("stat_spectrum", frames=16, seed=0, pool=10)
    folder = pool_folder("stat_spectrum", size=10, frames=16, pool_seed=0)
    stamp = (folder / "images.npy").stat().st_mtime_ns
    b = make_source("stat_spectrum", frames=16, seed=0, pool=10)
    assert (folder / "images.npy").stat().st_mtime_ns == stamp  # read from the cache, not rendered again
    assert torch.equal(a.batch(4, 5), b.batch(4, 5))
    order = [i for shard in range(2) for i in a.indices(shard, 5)] if hasattr(a, "indices") else None
    seen = torch.cat([a.batch(s, 5) for s in range(2)])  # one epoch of 10 samples
    assert len({tuple(x.flatten()[:64].tolist()) for x in seen}) == 10 or order is None
    other_seed = make_source("stat_spectrum", frames=16, seed=1, pool=10)
    assert not torch.equal(a.batch(0, 5), other_seed.batch(0, 5))  # the run seed changes the order only


def test_an_interrupted_pool_render_resumes_where_it_stopped(monkeypatch):
    real = patterns.generate_with_labels
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 18:  # after the first progress record (every 16 batches)
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(patterns, "generate_with_labels", flaky)
    with pytest.raises(KeyboardInterrupt):
        pooled_source(parse_dataset("stat_spectrum"), size=20 * POOL_BATCH, frames=16, seed=0, progress=False)
    folder = pool_folder("stat_spectrum", size=20 * POOL_BATCH, frames=16, pool_seed=0)
    assert json.loads((folder / "materialize.json").read_text())["batches_done"] == 16
    rendered = []
    monkeypatch.setattr(patterns, "generate_with_labels",
                        lambda *a, **k: rendered.append(k["seed"]) or real(*a, **k))
    pooled_source(parse_dataset("stat_spectrum"), size=20 * POOL_BATCH, frames=16, seed=0, progress=False)
    assert rendered == [step_seed(0, b) for b in range(16, 20)]  # only what was not rendered yet


def test_pool_is_for_patterns_only(tmp_path):
    (tmp_path / "imgs").mkdir()
    with pytest.raises(ValueError, match="applies to pattern generators"):
        make_source(str(tmp_path / "imgs"), frames=16, pool=10)
