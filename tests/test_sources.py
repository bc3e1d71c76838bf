"""Pre-training data sources and the background prefetcher."""

import pytest
import torch

from workbench.sources import Prefetcher, make_source


class _Boom:
    device = torch.device("cpu")

    def batch(self, shard, batch_size):
        if shard == 2:
            raise RuntimeError("generator failed at shard 2")
        return torch.full((batch_size, 1, 4, 4), float(shard))


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_prefetcher_yields_the_same_batches_in_order(workers):
    source = make_source("stat_spectrum", frames=32, seed=3)
    ids = [5, 0, 7, 7, 2]
    got = list(Prefetcher(source, 2, ids, workers=workers))
    assert [s for s, _ in got] == ids
    for shard, x in got:
        assert torch.equal(x, source.batch(shard, 2))


def test_prefetcher_reraises_a_generator_error_at_its_shard():
    it = Prefetcher(_Boom(), 1, range(5), workers=2)
    assert next(it)[0] == 0 and next(it)[0] == 1
    with pytest.raises(RuntimeError, match="shard 2"):
        next(it)
    it.close()


def test_prefetcher_close_stops_iteration_and_rejects_bad_workers():
    it = Prefetcher(_Boom(), 1, range(100), workers=2)
    next(it)
    it.close()
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(ValueError, match="workers"):
        Prefetcher(_Boom(), 1, range(3), workers=-1)


@pytest.mark.gpu
def test_prefetcher_on_cuda_matches_direct_generation():
    source = make_source("fractaldb", frames=64, seed=0, device="cuda")
    for shard, x in Prefetcher(source, 4, range(4), workers=2):
        assert x.device.type == "cuda"
        assert torch.allclose(x, source.batch(shard, 4))


def test_npy_materialisation_trains_like_the_generator_it_froze(tmp_path):
    """``fmt="npy"`` stores the generator's samples exactly (up to 8-bit quantisation); the array
    source serves them normalised with the generator's statistics, deterministically per shard,
    and an unfinished array is refused by name."""
    import json

    from workbench import patterns
    from workbench.sources.materialize import materialize

    out = materialize("stat_spectrum", 10, tmp_path / "arr", frames=32, batch_size=4, fmt="npy", progress=False)
    images = __import__("numpy").load(out / "images.npy")
    first = patterns.generate("stat_spectrum", 4, seed=0, frames=32)
    assert images.shape == (10, 128, 32)
    assert torch.allclose(torch.from_numpy(images[:4]).float()[:, None] / 255, first, atol=0.5 / 255 + 1e-6)
    src = make_source(str(out), frames=32, seed=1)
    gen = make_source("stat_spectrum", frames=32)
    assert (src.stats.mean, src.stats.std) == (gen.stats.mean, gen.stats.std)
    a, b = src.batch(3, 4), src.batch(3, 4)
    assert a.shape == (4, 1, 128, 32) and torch.equal(a, b) and not torch.equal(a, src.batch(4, 4))
    with pytest.raises(ValueError, match="frames"):
        make_source(str(out), frames=64)
    manifest = json.loads((out / "materialize.json").read_text())
    (out / "materialize.json").write_text(json.dumps({**manifest, "complete": False}))
    with pytest.raises(ValueError, match="unfinished"):
        make_source(str(out), frames=32)


def test_npy_materialisation_resumes_after_an_interruption(tmp_path, monkeypatch):
    from workbench import patterns
    from workbench.sources import materialize as mat

    full = mat.materialize("stat_spectrum", 40, tmp_path / "full", frames=16, batch_size=2, fmt="npy", progress=False)
    calls = {"n": 0}
    real = patterns.generate_with_labels

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 18:  # after the first progress record (every 16 batches)
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(patterns, "generate_with_labels", flaky)
    with pytest.raises(KeyboardInterrupt):
        mat.materialize("stat_spectrum", 40, tmp_path / "part", frames=16, batch_size=2, fmt="npy", progress=False)
    rendered = []
    monkeypatch.setattr(patterns, "generate_with_labels", lambda *a, **k: rendered.append(k["seed"]) or real(*a, **k))
    part = mat.materialize("stat_spectrum", 40, tmp_path / "part", frames=16, batch_size=2, fmt="npy", progress=False)
    np = __import__("numpy")
    assert np.array_equal(np.load(full / "images.npy"), np.load(part / "images.npy"))
    assert rendered == [mat.batch_seed(0, b) for b in range(16, 20)]  # only the batches not yet recorded


def test_audio_source_from_folder_and_task(tmp_path):
    from fakes import make_esc50, write_wav

    root = tmp_path / "sounds"
    for k in range(5):
        write_wav(root / "any" / "depth" / f"{k}.wav", freq=200 + 300 * k, seconds=0.5 + 0.2 * k, seed=k)
    src = make_source(f"audio:{root}", frames=32, seed=1)
    a, b = src.batch(3, 4), src.batch(3, 4)
    assert a.shape == (4, 1, 128, 32) and torch.equal(a, b)  # a pure function of (seed, shard)
    assert not torch.equal(a, src.batch(4, 4)) and not torch.equal(a, make_source(f"audio:{root}", frames=32,
                                                                                   seed=2).batch(3, 4))
    assert src.name == f"audio:{root}" and src.stats.std > 0
    assert abs(float(torch.cat([src.batch(s, 5) for s in range(4)]).mean())) < 0.3  # roughly normalised

    esc = make_esc50(tmp_path / "esc")
    src = make_source(f"audio:esc50:{esc}", frames=64, seed=0)
    assert src.batch(0, 2).shape == (2, 1, 128, 64) and len(src.clips) == 10


def test_crops_and_masks_draw_from_different_streams():
    from workbench.seeding import Stream, step_seed

    seeds = {stream: [step_seed(0, shard, stream) for shard in range(100)] for stream in Stream}
    assert not set(seeds[Stream.MASKS]) & set(seeds[Stream.CROPS])
    assert not set(seeds[Stream.DATA]) & (set(seeds[Stream.MASKS]) | set(seeds[Stream.CROPS]))


def test_heldout_samples_are_the_same_whatever_their_number():
    from workbench.sources import heldout_batch

    src = make_source("stat_spectrum", frames=32, seed=0)
    four = heldout_batch(src, 4)
    assert four.shape == (4, 1, 128, 32)
    assert torch.equal(heldout_batch(src, 2, start=2), four[2:])
    assert not any(torch.equal(four[0], src.batch(s, 1)[0]) for s in range(3))
