import numpy as np
import pytest
import torch

from workbench import patterns
from workbench.patterns import fractaldb as fdb


def test_generate_shape_range_labels():
    batch = patterns.generate_with_labels("fractaldb", 3, seed=0, frames=64)
    assert batch.images.shape == (3, 1, 128, 64) and batch.images.dtype == torch.float32
    assert 0 <= batch.images.min() and batch.images.max() <= 1 and batch.images.max() > 0
    assert batch.labels.shape == (3,) and ((0 <= batch.labels) & (batch.labels < 1000)).all()


def test_deterministic_by_seed_and_alias():
    a = patterns.generate("fractaldb", 2, seed=5, frames=64)
    b = patterns.generate("fractaldb1k", 2, seed=5, frames=64)
    c = patterns.generate("fractaldb", 2, seed=6, frames=64)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_shipped_categories_are_what_the_search_finds():
    shipped = fdb.search_categories(1000)
    assert shipped.shape == (1000, 7, 6)
    n_maps = (~torch.isnan(shipped[..., 0])).sum(1)
    assert n_maps.min() >= 2 and n_maps.max() <= 7
    fresh = fdb.search_categories(3, use_shipped=False)
    assert torch.allclose(torch.nan_to_num(fresh, 9.0), torch.nan_to_num(shipped[:3], 9.0))


def test_accepted_categories_fill_the_canvas():
    cats = fdb.search_categories(1000)[:4]
    params = torch.nan_to_num(cats, 0.0)
    n_maps = (~torch.isnan(cats[..., 0])).sum(1)
    pts = fdb.chaos_game(params, n_maps, points=fdb.SEARCH_POINTS, generator=torch.Generator().manual_seed(0),
                         device=torch.device("cpu"))
    assert (fdb.filling_rate(pts) >= 0.18).all()  # a new random walk, so allow a little slack


def test_filling_rate_known_answers():
    line = torch.stack([torch.linspace(0, 1, 5000), torch.linspace(0, 1, 5000)], -1)[None]
    assert fdb.filling_rate(line, 100) == pytest.approx(0.01, abs=1e-3)  # the diagonal: 100 of 10^4
    grid = torch.cartesian_prod(torch.arange(100.0), torch.arange(100.0))[None]
    assert fdb.filling_rate(grid, 100) == pytest.approx(1.0)
    bad = line.clone()
    bad[0, 3] = float("inf")
    assert fdb.filling_rate(bad, 100) == 0


def test_instance_variants():
    cats = fdb.search_categories(1000)
    labels = torch.tensor([7, 7, 7])
    params, n_maps, render_id, flip = fdb.instance_params(cats, labels, torch.tensor([0, 40, 999]))
    base = torch.nan_to_num(cats[7], 0.0)
    assert torch.equal(params[0], base)  # variant 0 is the category's own system
    k = int(n_maps[0])
    assert torch.allclose(params[1, :k, 0], base[:k, 0] * 0.2)  # variant 1: a scaled by 0.2
    assert torch.allclose(params[1, :k, 1:], base[:k, 1:])
    assert int(render_id[2]) == 9 and int(flip[2]) == 3


def test_render_points_flip():
    pts = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]])
    mask = torch.ones(1, 3, 3, dtype=torch.bool)
    a = fdb.render_points(pts, size=16, patch_masks=mask, flips=torch.tensor([0]))
    b = fdb.render_points(pts, size=16, patch_masks=mask, flips=torch.tensor([1]))
    assert torch.equal(a.flip(-1), b)
    assert set(np.unique(a.numpy())) <= {0.0, 1.0}
