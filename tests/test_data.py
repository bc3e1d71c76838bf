"""Pre-training data sources and the background prefetcher."""

import pytest
import torch

from workbench.data import Prefetcher, make_source


class _Boom:
    device = torch.device("cpu")

    def batch(self, step, batch_size, *, rank=0):
        if step == 2:
            raise RuntimeError("generator failed at shard 2")
        return torch.full((batch_size, 1, 4, 4), float(step))


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
