"""Dead leaves (a-d): the generator contract plus known answers about the painting process."""

import pytest
import torch

import workbench.patterns as patterns
import workbench.patterns.dead_leaves as dl

NAMES = {"dead_leaves_squares": "a", "dead_leaves_oriented": "b", "dead_leaves_mixed": "c",
         "dead_leaves_textures": "d"}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", NAMES)
def test_registered_as_specified(name):
    spec = patterns.get(name)
    assert spec.kind == "image" and spec.family == "dead_leaves"
    assert spec.native_size == 128 and spec.paper_id == NAMES[name]


@pytest.mark.parametrize("name", NAMES)
def test_native_render_shape_dtype_range(name):
    x = patterns.render(name, 2, seed=0).images
    assert x.shape == (2, 3, 128, 128) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert float(x.std()) > 0


@pytest.mark.parametrize("shapes", ["square", "oriented_square", "mixed"])
def test_canvas_fully_covered_and_painting_stops_at_cover(shapes):
    kinds = tuple(range(len(dl.SHAPES))) if shapes == "mixed" else (dl.SHAPES.index(shapes),)
    visible, colours, painted = dl.paint_order(3, size=64, kinds=kinds, generator=_gen(1),
                                               device=torch.device("cpu"))
    assert (painted < dl.MAX_SHAPES).all(), "cap reached; the test needs a covered canvas"
    assert (visible >= 0).all(), "a pixel was left unpainted"
    for img, n_painted in zip(visible, painted.tolist()):
        # Painting stopped right after the shape that covered the last pixel: it is visible and
        # nothing after it was painted.
        assert int(img.max()) == n_painted - 1
    # Every visible pixel carries its shape's colour.
    images = dl.dead_leaves_images(3, size=64, generator=_gen(1), shapes=shapes)
    expect = colours.gather(1, visible.view(3, -1, 1).expand(-1, -1, 3)).view(3, 64, 64, 3)
    assert torch.equal(images, expect.permute(0, 3, 1, 2))


def test_shape_cap_leaves_background_black():
    visible, _, painted = dl.paint_order(2, size=64, kinds=(1,), generator=_gen(2),
                                         device=torch.device("cpu"), max_shapes=5, chunk=2)
    assert painted.tolist() == [5, 5]
    assert (visible < 0).any() and int(visible.max()) <= 4
    img = dl.dead_leaves_images(2, size=64, generator=_gen(2), shapes="square", max_shapes=5, chunk=2)
    assert (img.sum(dim=1) == 0).any()


def test_matches_a_sequential_painter():
    """The vectorised painter equals painting the same shapes one by one until covered."""
    size, k = 32, 3000
    kinds = tuple(range(len(dl.SHAPES)))
    visible, _, painted = dl.paint_order(1, size=size, kinds=kinds, generator=_gen(4),
                                         device=torch.device("cpu"), max_shapes=k, chunk=k)
    p = dl._draw_chunk(1, k, size=size, kinds=kinds, generator=_gen(4))
    kind = p["kind"].flatten()
    radius = dl.sample_radius_px(p["u_radius"].flatten(), size)
    centre = p["centre"].view(-1, 2)
    corners = dl._shape_corners(kind, radius, p["theta"].flatten(), p["rect_angle"].flatten(),
                                p["poly_angles"].view(-1, 4))
    vertices = torch.trunc(centre.double()[:, None, :] + corners)
    axis = torch.arange(size).float()
    d2 = (axis[:, None] ** 2 + axis[None, :] ** 2).flatten()
    canvas = torch.full((size * size,), -1)
    for i in range(k):
        sl = slice(i, i + 1)
        inside = dl._rasterise(kind[sl], radius[sl], centre[sl], vertices[sl], axis, d2,
                               dl.EDGE_TOLERANCE)[0]
        canvas[inside] = i
        if (canvas >= 0).all():
            break
    assert i + 1 == int(painted[0]) < k
    assert torch.equal(canvas.view(size, size), visible[0])


def test_square_is_painted_exactly():
    """One square of known radius on an empty canvas: half side int(r * sqrt(2) / 2)."""
    g = _gen(0)
    visible, _, _ = dl.paint_order(1, size=128, kinds=(1,), generator=g, device=torch.device("cpu"),
                                   max_shapes=1)
    ys, xs = (visible[0] == 0).nonzero(as_tuple=True)
    g = _gen(0)
    p = dl._draw_chunk(1, 1, size=128, kinds=(1,), generator=g)
    r = int(dl.sample_radius_px(p["u_radius"].flatten(), 128))
    cx, cy = p["centre"][0, 0].tolist()
    half = int(r * 2 ** 0.5 / 2)
    assert int(ys.min()) == max(cy - half, 0) and int(ys.max()) == min(cy + half, 127)
    assert int(xs.min()) == max(cx - half, 0) and int(xs.max()) == min(cx + half, 127)
    assert len(ys) == (int(ys.max()) - int(ys.min()) + 1) * (int(xs.max()) - int(xs.min()) + 1)


def test_circle_is_painted_exactly():
    visible, _, _ = dl.paint_order(1, size=128, kinds=(0,), generator=_gen(5),
                                   device=torch.device("cpu"), max_shapes=1)
    p = dl._draw_chunk(1, 1, size=128, kinds=(0,), generator=_gen(5))
    r = int(dl.sample_radius_px(p["u_radius"].flatten(), 128))
    cx, cy = p["centre"][0, 0].tolist()
    yy, xx = torch.meshgrid(torch.arange(128), torch.arange(128), indexing="ij")
    assert torch.equal(visible[0] == 0, (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)


def test_radius_distribution_follows_inverse_cdf():
    r, cdf = dl.radius_levels()
    assert len(r) == 200 and float(r[0]) == pytest.approx(0.03) and float(r[-1]) == 1.0
    assert float(cdf[-1]) == 1.0 and float(cdf[-2]) == 1.0  # density 0 at r = 1
    u = torch.rand(20000, generator=_gen(0))
    px = dl.sample_radius_px(u, 128)
    # The reference's rule: the level whose CDF value is nearest u (argmin), in pixels.
    nearest = (cdf[None, :] - u.double()[:, None]).abs().argmin(dim=1)
    assert torch.equal(px, (r[nearest] * 128).long().clamp_min(1))
    assert int(px.min()) == 3  # int(0.03 * 128)
    # Small radii dominate: the empirical mass below 9 px matches the level probabilities.
    pmf = torch.diff(cdf, prepend=torch.zeros(1))
    levels_small = (r * 128).long() <= 8
    expected = float(pmf[levels_small].sum())
    assert abs(float((px <= 8).double().mean()) - expected) < 0.02
    assert 0.8 < expected < 0.9


def test_textured_regions_take_texture_values():
    img = dl.dead_leaves_images(2, size=64, generator=_gen(3), textured=True, texture_pool=2,
                                texture_options={"iterations": 2})
    assert img.shape == (2, 3, 64, 64)
    flat = dl.dead_leaves_images(2, size=64, generator=_gen(3), shapes="mixed")
    # Flat regions hold one colour; textured ones vary inside, so many more distinct values.
    assert len(torch.unique(img[0, 0])) > 4 * len(torch.unique(flat[0, 0]))


def test_bad_shape_name_lists_choices():
    with pytest.raises(ValueError, match="circle"):
        dl.dead_leaves_images(1, size=32, generator=_gen(), shapes="hexagon")
