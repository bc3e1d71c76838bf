"""(q) VisualAtom: contour waves drawn as 1 px grey strokes on black."""

import math

import pytest
import torch
from scipy import ndimage

import workbench.patterns as patterns
import workbench.patterns.visual_atom as va

CPU = torch.device("cpu")
EIGHT_CONNECTED = torch.ones(3, 3).numpy()


def test_registered_with_alias():
    spec = patterns.get("visual_atom")
    assert spec.name == "visual_atom1k" and spec.paper_id == "q" and spec.family == "visual_atom"
    assert spec.num_classes == 1000 and spec.native_size == 512


def test_native_render_shape_range_labels():
    batch = patterns.render("visual_atom1k", 3, seed=0, size=96)
    assert batch.images.shape == (3, 1, 96, 96) and batch.images.dtype == torch.float32
    assert batch.images.min() >= 0 and batch.images.max() <= 1
    assert batch.labels.dtype == torch.int64 and ((batch.labels >= 0) & (batch.labels < 1000)).all()


def test_batch_of_one():
    batch = patterns.render("visual_atom", 1, seed=4, size=64)
    assert batch.images.shape == (1, 1, 64, 64) and batch.labels.shape == (1,)


def test_category_parameters_are_deterministic_and_in_range():
    cats = va.category_params(1000)
    few = va.category_params.__wrapped__(5)  # bypass the cache
    for a, b in zip(cats, few):
        assert torch.equal(a[:5], b)
    assert cats.vertices.min() >= 200 and cats.vertices.max() <= 1000
    assert cats.orbits.min() >= 1 and cats.orbits.max() <= 200
    assert cats.eta.min() >= 0 and cats.eta.max() < 4
    assert cats.step.min() >= 0 and cats.step.max() < 0.1
    assert cats.radius.min() >= 10 and cats.radius.max() <= 60
    for rate in (cats.oval_x, cats.oval_y):
        assert rate.min() >= 1 and rate.max() < 2
    assert (cats.n1 != cats.n2).all()
    assert cats.n1.min() >= 0 and max(cats.n1.max(), cats.n2.max()) <= 20
    assert len(set(cats.vertices.tolist())) > 100  # categories really differ


def test_perlin_marginal_matches_the_noise_package_distribution():
    g = torch.Generator().manual_seed(0)
    n = 100_000
    # Direct samples of pnoise1 between random lattice gradients, as the reference draws them.
    grads = torch.tensor(va.GRADIENTS)
    pick = torch.multinomial(torch.tensor(va.GRADIENT_PROBS), 2 * n, replacement=True, generator=g)
    direct = va.perlin_between(torch.rand(n, generator=g), grads[pick[:n]], grads[pick[n:]])
    tabled = va.perlin_marginal((n,), generator=g)
    levels = torch.linspace(0.01, 0.99, 25)
    assert (torch.quantile(direct, levels) - torch.quantile(tabled, levels)).abs().max() < 0.02
    assert abs(float(tabled.mean())) < 0.01  # gradient noise at random points has mean 0
    assert float(tabled.abs().max()) < 1.0


def _components(lit: torch.Tensor) -> tuple:
    labels, count = ndimage.label(lit.numpy(), structure=EIGHT_CONNECTED)
    return labels, count


def test_polygon_strokes_are_closed_one_pixel_lines():
    size, radius, q = 64, 20.0, 300
    theta = 2 * math.pi * torch.arange(q) / q
    x = (32 + radius * torch.cos(theta))[None]
    y = (30 + radius * torch.sin(theta))[None]
    canvas = va.draw_polygons(x, y, count=torch.tensor([q]), canvas_index=torch.tensor([0]),
                              key=torch.tensor([5], dtype=torch.int32), size=size, canvases=1)[0]
    lit = canvas > 0
    assert set(canvas.unique().tolist()) == {0, 5}
    _, count = _components(lit)
    assert count == 1  # one closed, 8-connected contour
    perimeter = 2 * math.pi * radius
    assert 0.6 * perimeter <= int(lit.sum()) <= 1.1 * perimeter  # 1 px wide, no gaps
    assert not lit[32, 32] and not lit[0, 0]  # hollow, on black


def test_edges_leaving_the_canvas_are_clipped():
    # A square much larger than the canvas: only its two edges crossing the canvas show.
    x = torch.tensor([[-100.0, 10.0, 10.0, -100.0]])
    y = torch.tensor([[-100.0, -100.0, 200.0, 200.0]])
    canvas = va.draw_polygons(x, y, count=torch.tensor([4]), canvas_index=torch.tensor([0]),
                              key=torch.tensor([1], dtype=torch.int32), size=32, canvases=1)[0]
    assert canvas[:, 10].eq(1).all() and int(canvas.sum()) == 32  # the vertical edge x = 10


def test_later_orbits_paint_over_earlier_ones():
    x = torch.tensor([[2.0, 20.0], [2.0, 20.0]])
    y = torch.tensor([[5.0, 5.0], [5.0, 5.0]])
    canvas = va.draw_polygons(x, y, count=torch.tensor([2, 2]), canvas_index=torch.tensor([0, 0]),
                              key=torch.tensor([2 * 256 + 200, 1 * 256 + 10], dtype=torch.int32),
                              size=24, canvases=1)[0]
    assert (canvas[5, 2:21] & 255).eq(200).all()  # the higher orbit's grey wins


def test_rendered_atoms_are_contours_on_black():
    table = va.category_params(1000)
    picks = torch.tensor([3, 17, 256, 700])
    cats = va.AtomCategories(*(f[picks] for f in table))
    # One orbit each: a later orbit drawn in grey 0 could cut an earlier one into pieces.
    cats = cats._replace(orbits=torch.ones_like(cats.orbits))
    images = va.render_atoms(cats, size=256, generator=torch.Generator().manual_seed(0), device=CPU)
    lit = images[:, 0] > 0
    assert lit.any() and lit.float().mean() < 0.1  # strokes on black
    for one in lit:
        labels, count = _components(one)
        inner = torch.from_numpy(labels)[1:-1, 1:-1]
        border = set(torch.from_numpy(labels)[[0, -1]].flatten().tolist()) | set(
            torch.from_numpy(labels)[:, [0, -1]].flatten().tolist())
        sizes = torch.bincount(inner.flatten(), minlength=count + 1)
        for comp in range(1, count + 1):
            if comp not in border:  # pieces cut by the frame may be short
                assert sizes[comp] >= 20, "lit pixels should form contours, not dust"


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_categories"):
        va.visual_atom(2, size=8, generator=torch.Generator(), device=CPU, num_categories=0)
    with pytest.raises(ValueError, match="category"):
        va.category_generator(-1)


def test_large_batches_are_drawn_in_chunks(monkeypatch):
    monkeypatch.setattr(va, "VERTICES_PER_PASS", 30_000)  # forces several chunks
    a = va.visual_atom(5, size=48, generator=torch.Generator().manual_seed(3), device=CPU)
    b = va.visual_atom(5, size=48, generator=torch.Generator().manual_seed(3), device=CPU)
    assert a.images.shape == (5, 1, 48, 48) and torch.equal(a.images, b.images)
    assert (a.images.flatten(1) > 0).any(dim=1).sum() >= 3  # the chunks' images are drawn
