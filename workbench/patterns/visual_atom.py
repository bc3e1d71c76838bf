"""(q) VisualAtom: contour waves drawn as 1 px grey strokes on black (Takashima et al., 2023).

A category fixes the shape of its "visual atom" (facts from the reference renderer,
masora1030/CVPR2023-FDSL-on-VisualAtom ``visual_atomic_renderer/render_VisualAtom.py`` with the
settings of ``make_VisualAtom.sh``):

* ``q`` vertices per contour in 200..1000 and ``K`` orbits (contours) in 1..200;
* Perlin-noise weight ``eta ~ U(0, 4)``, radial step ``~ U(0, 0.1)``, start radius 10..60 px,
  ellipse rates ``~ U(1, 2)`` per axis;
* wave frequencies ``n1, n2`` in 0..20 with ``n1 != n2`` (DESIGN.md; the reference also allows
  ``n1 = n2 = 0``), each sine with amplitude 0.5.

Vertex ``j`` sits at angle ``theta_j = 2 pi j / q`` on the ellipse
``(r0 * ox * cos theta, r0 * oy * sin theta)`` around the instance's centre. Before each orbit is
drawn every vertex moves outward along ``(cos theta, sin theta)`` by, per axis,

    eta + step - eta * perlin(u) + 0.5 sin(n1 theta) + 0.5 sin(n2 theta),    u ~ U(0, 10000),

with an independent ``u`` for the x and y move of every vertex in every orbit, so the noise and the
waves accumulate from orbit to orbit. As in the reference, the first drawn orbit is the ellipse
after one such move. Each orbit is a closed polygon through its ``q`` vertices, stroked 1 px wide in
its own grey level ``U{0..255}`` (later orbits paint over earlier ones); the centre is uniform over
the canvas, redrawn per instance, so many instances are cut by the frame.

``perlin(u)`` at a uniform ``u`` is the 1-D gradient noise of the ``noise`` package (Perlin's
improved noise, ``pnoise1``) evaluated at a random point: between lattice gradients ``g0, g1`` it is
``0.4 * lerp(fade(f), g0 f, g1 (f - 1))``, ``f ~ U(0, 1)``, and that package's gradients are ``-1``
with probability 1/2 and ``1..8`` with 1/16 each. Since every ``u`` is fresh, the noise values are
independent draws from that distribution; we tabulate its quantile function once (exactly, from
the formula) and sample it by lookup instead of evaluating a lattice.

Geometry is in reference pixels (canvas 512); at another ``size`` every length is scaled by
``size / 512`` and strokes stay 1 px, so a smaller render is the reference drawing seen at a lower
resolution with relatively thicker lines.

Rasterisation is batched: every polygon edge of every orbit of every image is clipped to the canvas
and sampled at one point per pixel step along its major axis (a DDA line: the 8-connected 1 px
line that PIL's ``ImageDraw.line`` draws, up to rounding at pixel boundaries), and the pixels are
written with max-scatters of ``(orbit, grey)`` keys, which reproduces the painter's order.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import torch

from workbench.patterns.registry import PatternBatch, register_pattern

NUM_CATEGORIES = 1000
REFERENCE_SIZE = 512
VERTICES = (200, 1000)
ORBITS = (1, 200)
ETA_MAX = 4.0
STEP_MAX = 0.1
START_RADIUS = (10, 60)
OVAL_RATE = (1.0, 2.0)
MAX_FREQUENCY = 20
WAVE_AMPLITUDE = 0.5
PERLIN_SCALE = 0.4  # the ``noise`` package's 1-D output scale
VERTICES_PER_PASS = 8_000_000  # larger batches are drawn in chunks to bound memory (~40 B/vertex)


class AtomCategories(NamedTuple):
    """Category parameters, one entry per category (all tensors ``[num]``)."""

    vertices: torch.Tensor  # int64, q in 200..1000
    orbits: torch.Tensor  # int64, K in 1..200
    eta: torch.Tensor  # float32, Perlin-noise weight in [0, 4)
    step: torch.Tensor  # float32, radial step in [0, 0.1)
    radius: torch.Tensor  # float32, start radius in reference px, 10..60
    oval_x: torch.Tensor  # float32, ellipse rate in [1, 2)
    oval_y: torch.Tensor  # float32
    n1: torch.Tensor  # int64, wave frequency 0..20
    n2: torch.Tensor  # int64, wave frequency 0..20, != n1


def category_generator(category: int, *, category_seed: int = 0) -> torch.Generator:
    """The CPU generator that draws category ``category``'s parameters.

    One seed per category, so a category does not depend on how many others exist.
    """
    if not 0 <= category:
        raise ValueError(f"category must be a non-negative int, got {category!r}")
    return torch.Generator().manual_seed(0x5EED_A70 + 1_000_003 * category_seed + category)


@lru_cache(maxsize=8)
def category_params(num: int = NUM_CATEGORIES, *, category_seed: int = 0) -> AtomCategories:
    """Parameters of categories ``0..num-1``; category ``k`` is the same for every ``num``."""
    if num < 1:
        raise ValueError(f"num must be >= 1, got {num}")
    rows = []
    for k in range(num):
        g = category_generator(k, category_seed=category_seed)
        ints = [
            int(torch.randint(VERTICES[0], VERTICES[1] + 1, (1,), generator=g)),
            int(torch.randint(ORBITS[0], ORBITS[1] + 1, (1,), generator=g)),
            int(torch.randint(START_RADIUS[0], START_RADIUS[1] + 1, (1,), generator=g)),
            int(torch.randint(0, MAX_FREQUENCY + 1, (1,), generator=g)),
            int(torch.randint(0, MAX_FREQUENCY, (1,), generator=g)),  # n2 drawn from the other 20
        ]
        rows.append((ints, torch.rand(4, generator=g)))
    ints = torch.tensor([r[0] for r in rows], dtype=torch.int64)
    u = torch.stack([r[1] for r in rows])
    n1 = ints[:, 3]
    n2 = ints[:, 4] + (ints[:, 4] >= n1).long()
    lo, hi = OVAL_RATE
    return AtomCategories(
        vertices=ints[:, 0], orbits=ints[:, 1], eta=u[:, 0] * ETA_MAX, step=u[:, 1] * STEP_MAX,
        radius=ints[:, 2].float(), oval_x=lo + (hi - lo) * u[:, 2], oval_y=lo + (hi - lo) * u[:, 3],
        n1=n1, n2=n2,
    )


def perlin_between(f: torch.Tensor, g0: torch.Tensor, g1: torch.Tensor) -> torch.Tensor:
    """``noise.pnoise1`` at fraction ``f`` between lattice points with gradients ``g0, g1``.

    ``0.4 * lerp(fade(f), g0 f, g1 (f - 1))`` with Perlin's ``fade(f) = 6f^5 - 15f^4 + 10f^3``.
    """
    fade = f * f * f * (f * (f * 6 - 15) + 10)
    return PERLIN_SCALE * (g0 * f * (1 - fade) + g1 * (f - 1) * fade)


# Gradients of the package's grad1 for a uniform permutation entry h: (h & 7) + 1, but -1 (not
# -g) when bit 3 is set, so -1 has probability 1/2 and each of 1..8 has 1/16.
GRADIENTS = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, -1.0)
GRADIENT_PROBS = (1 / 16,) * 8 + (1 / 2,)
PERLIN_LEVELS = 1 << 16  # resolution of the tabulated quantile function


@lru_cache(maxsize=4)
def perlin_quantiles(device: torch.device = torch.device("cpu")) -> torch.Tensor:
    """Quantile function of ``pnoise1`` at a uniform random point, at levels ``(i + 0.5) / 65536``.

    Built without randomness from a fine grid of ``f`` and all 81 gradient pairs with their
    probabilities (float64, then float32 ``[65536]``), so sampling is one table lookup.
    """
    grid = 2048
    f = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid
    g = torch.tensor(GRADIENTS, dtype=torch.float64)
    p = torch.tensor(GRADIENT_PROBS, dtype=torch.float64)
    values = perlin_between(f[None, None], g[:, None, None], g[None, :, None]).flatten()
    weights = (p[:, None, None] * p[None, :, None] / grid).expand(-1, -1, grid).flatten()
    values, order = torch.sort(values)
    weights = weights[order]
    mid = weights.cumsum(0) - weights / 2  # cumulative probability at each sorted value
    levels = (torch.arange(PERLIN_LEVELS, dtype=torch.float64) + 0.5) / PERLIN_LEVELS
    hi = torch.searchsorted(mid, levels).clamp(1, len(mid) - 1)
    lo = hi - 1
    t = ((levels - mid[lo]) / (mid[hi] - mid[lo]).clamp_min(1e-300)).clamp(0, 1)
    return (values[lo] + t * (values[hi] - values[lo])).float().to(device)


def perlin_marginal(shape: tuple[int, ...], *, generator: torch.Generator) -> torch.Tensor:
    """Samples of 1-D Perlin noise (``noise.pnoise1``) at uniformly random points, float32 ``shape``.

    Range about [-0.95, 0.95], mean 0, std about 0.32. Inverse-transform sampling from :func:`perlin_quantiles`
    (one random draw per sample instead of three, and no arithmetic).
    """
    return perlin_quantiles()[torch.randint(0, PERLIN_LEVELS, shape, generator=generator)]


def _clip_segments(x0: torch.Tensor, y0: torch.Tensor, x1: torch.Tensor, y1: torch.Tensor, lo: float,
                   hi: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Liang-Barsky clip of segments to the box ``[lo, hi]^2``: parameters ``(t0, t1, inside)``."""
    dx, dy = x1 - x0, y1 - y0
    t0 = torch.zeros_like(x0)
    t1 = torch.ones_like(x0)
    inside = torch.ones_like(x0, dtype=torch.bool)
    for p, q in ((-dx, x0 - lo), (dx, hi - x0), (-dy, y0 - lo), (dy, hi - y0)):
        parallel = p == 0
        inside &= ~(parallel & (q < 0))
        r = q / torch.where(parallel, torch.ones_like(p), p)
        t0 = torch.where(~parallel & (p < 0), torch.maximum(t0, r), t0)
        t1 = torch.where(~parallel & (p > 0), torch.minimum(t1, r), t1)
    inside &= t0 <= t1
    return t0, t1, inside


def _outcode(x: torch.Tensor, y: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Cohen-Sutherland outcodes (uint8): bit 0 left of, 1 right of, 2 above, 3 below ``[lo, hi]^2``."""
    code = (x < lo).view(torch.uint8) | ((x > hi).view(torch.uint8) << 1)
    code |= (y < lo).view(torch.uint8) << 2
    code |= (y > hi).view(torch.uint8) << 3
    return code


def draw_polygons(x: torch.Tensor, y: torch.Tensor, *, count: torch.Tensor, canvas_index: torch.Tensor,
                  key: torch.Tensor, size: int, canvases: int) -> torch.Tensor:
    """Stroke closed polygons as 1 px lines; where lines cross, the larger ``key`` wins.

    ``x, y [rows, cols]``: row ``r`` is a polygon through its first ``count[r]`` vertices (the
    rest of the row is padding), edge ``j`` running from vertex ``j`` to vertex ``(j + 1) mod
    count[r]``, in pixel units (pixel ``(i, j)`` covers ``[j - 0.5, j + 0.5) x [i - 0.5, i + 0.5)``,
    x = column; coordinates must be finite). Row ``r`` goes to canvas ``canvas_index[r]`` with
    ``key[r]``, an int32 in ``[1, 2**31)``. Returns int32 ``[canvases, size, size]``: the largest key of the lines through
    each pixel, 0 where none passes.

    A line is sampled at one point per pixel step along its major axis, both ends included (a DDA
    line: the 8-connected 1 px line of Bresenham's algorithm). Edges leaving the canvas are
    clipped to it first; edges wholly off one side of it cost only their outcode test.
    """
    device = x.device
    cols = x.shape[1]
    lo, hi = -0.5, size - 0.5 - 1e-3
    code = _outcode(x, y, lo, hi)
    last = (count.to(device=device, dtype=torch.int64) - 1)[:, None]
    code_next = torch.cat((code[:, 1:], code[:, :1]), dim=1).scatter_(1, last, code[:, :1])
    valid = torch.arange(cols, device=device)[None] <= last
    drawn = (((code & code_next) == 0) & valid).view(-1).nonzero().squeeze(1)
    row = drawn // cols
    col = drawn - row * cols
    nxt = torch.where(col == last[row, 0], drawn - col, drawn + 1)
    x, y = x.view(-1), y.view(-1)
    sx0, sy0 = x[drawn], y[drawn]
    sdx, sdy = x[nxt] - sx0, y[nxt] - sy0
    # Only edges that cross the frame pay for clipping (most lie inside or off one side).
    crossing = ((code.view(-1)[drawn] | code_next.view(-1)[drawn]) != 0).nonzero().squeeze(1)
    cx0, cy0, cdx, cdy = sx0[crossing], sy0[crossing], sdx[crossing], sdy[crossing]
    t0, t1, hit = _clip_segments(cx0, cy0, cx0 + cdx, cy0 + cdy, lo, hi)
    span = torch.where(hit, t1 - t0, 0.0)  # an edge that misses the frame shrinks to a point...
    sx0[crossing] = torch.where(hit, cx0 + t0 * cdx, 0.0)
    sy0[crossing] = torch.where(hit, cy0 + t0 * cdy, 0.0)
    sdx[crossing], sdy[crossing] = span * cdx, span * cdy
    base = canvas_index.to(device=device, dtype=torch.int64)[row] * (size * size)
    key = key.to(device=device, dtype=torch.int32)[row]
    key[crossing[~hit]] = 0  # ...with a key that never wins
    sx0 += 0.5  # then truncation rounds to the nearest pixel (coordinates are >= -0.5 here)
    sy0 += 0.5
    steps = torch.maximum(sdx.abs(), sdy.abs()).ceil_()  # samples - 1
    out = torch.zeros(canvases * size * size, dtype=torch.int32, device=device)
    if not len(steps):
        return out.view(canvases, size, size)
    # Bucket segments by length so each bucket samples a dense [segments, width] grid; samples
    # past a segment's end repeat its end point, which the max-scatter ignores. Widths grow by
    # about 1.5x, so at most a third of the samples are repeats.
    widths = [2]
    while widths[-1] - 1 < float(steps.max()):
        widths.append(widths[-1] + max(1, widths[-1] // 2))
    bucket = torch.searchsorted(torch.tensor(widths, device=device, dtype=steps.dtype) - 1, steps)
    # Buckets become contiguous slices; sorting uint8 keys is several times faster than int64.
    order = torch.argsort(bucket.to(torch.uint8), stable=True)
    # Reorder packed rows (two gathers instead of seven): geometry, and canvas offset | key.
    geometry = torch.stack((sx0, sy0, sdx, sdy, steps), dim=1)[order]  # [segments, 5]
    target = ((base << 31) | key.long())[order]
    start = 0
    for width, count in zip(widths, torch.bincount(bucket, minlength=len(widths)).tolist()):
        if not count:
            continue
        g = geometry[start:start + count]
        tgt = target[start:start + count, None]
        start += count
        frac = (torch.arange(width, device=device, dtype=torch.float32)[None]
                / g[:, 4:5].clamp_min(1)).clamp_max_(1.0)
        flat = torch.addcmul(g[:, 1:2], frac, g[:, 3:4]).long().mul_(size)
        flat += torch.addcmul(g[:, 0:1], frac, g[:, 2:3]).long()
        flat += tgt >> 31
        seg_key = (tgt & (2**31 - 1)).int().expand(-1, width)
        out.scatter_reduce_(0, flat.view(-1), seg_key.reshape(-1), reduce="amax")
    return out.view(canvases, size, size)


def render_atoms(cats: AtomCategories, *, size: int, generator: torch.Generator,
                 device: torch.device) -> torch.Tensor:
    """Draw one instance of each category row in ``cats`` (tensors ``[B]``): grey ``[B, 1, size, size]``.

    Per instance: a uniform centre on the canvas, a grey level per orbit and fresh noise.
    """
    b = len(cats.vertices)
    scale = size / REFERENCE_SIZE
    q, k = cats.vertices, cats.orbits
    centre = torch.rand(b, 2, generator=generator) * size
    grey = torch.randint(0, 256, (int(k.sum()),), generator=generator, dtype=torch.int32)
    noise = perlin_marginal((2, int((q * k).sum())), generator=generator)

    # Layout [rows, qmax]: one row per (image, orbit), images' rows contiguous, vertex j in column j.
    qmax = int(q.max())
    row_img = torch.repeat_interleave(torch.arange(b), k)
    first_row = k.cumsum(0) - k
    row_orbit = torch.arange(len(row_img)) - first_row[row_img]
    valid = torch.arange(qmax)[None] < q[row_img, None]  # [rows, qmax]
    noise = torch.zeros(2, *valid.shape).masked_scatter_(valid.expand(2, -1, -1), noise).to(device)
    row_img, row_orbit, first_row, k_dev = (t.to(device) for t in (row_img, row_orbit, first_row, k))

    def per_image(values: torch.Tensor) -> torch.Tensor:
        return values.to(device=device, dtype=torch.float32)[:, None]  # [B, 1]

    def rows(per_image_values: torch.Tensor) -> torch.Tensor:  # [B, qmax] -> [rows, qmax]
        return per_image_values.repeat_interleave(k_dev, dim=0)

    # After m moves a vertex has moved, per axis, m (eta + step + waves) - eta (sum of its m noise
    # draws): only the noise needs a running sum, one over all rows of the batch minus the sum up
    # to the image's first row. x = centre + cos (radius * oval + that move) and so on, folded into
    # per-image [B, qmax] terms first so the [rows, qmax] work is a few multiply-adds.
    theta = 2 * torch.pi * torch.arange(qmax, device=device)[None] / per_image(q)  # [B, qmax]
    eta = per_image(cats.eta)
    drift = eta + per_image(cats.step) + WAVE_AMPLITUDE * (
        torch.sin(per_image(cats.n1) * theta) + torch.sin(per_image(cats.n2) * theta))
    noise_sum = noise.cumsum(dim=1)
    before = torch.where((first_row > 0)[:, None], noise_sum[:, (first_row - 1).clamp_min(0)], 0.0)
    moves = (row_orbit + 1).float()[:, None]
    radius = per_image(cats.radius) * scale
    xy = []
    for axis, (trig, oval) in enumerate(((torch.cos(theta), cats.oval_x), (torch.sin(theta), cats.oval_y))):
        own_noise = noise_sum[axis].sub_(rows(before[axis]))
        coord = torch.addcmul(rows(per_image(centre[:, axis]) + trig * (radius * per_image(oval))),
                              moves, rows(trig * drift * scale))
        xy.append(coord.addcmul_(rows(trig * eta * scale), own_noise, value=-1.0))
    x, y = xy

    # Later orbits paint over earlier ones: the key orders by orbit and carries the grey level.
    key = (row_orbit.int() + 1) * 256 + grey.to(device)
    canvas = draw_polygons(x, y, count=q.to(device)[row_img], canvas_index=row_img, key=key, size=size, canvases=b)
    return (canvas & 255).float().div_(255.0)[:, None]


def visual_atom(n: int, *, size: int, generator: torch.Generator, device: torch.device,
                num_categories: int = NUM_CATEGORIES, category_seed: int = 0) -> PatternBatch:
    """``n`` random VisualAtom instances, grey ``[n, 1, size, size]`` in [0, 1], labels = category."""
    if num_categories < 1:
        raise ValueError(f"num_categories must be >= 1, got {num_categories}")
    table = category_params(num_categories, category_seed=category_seed)
    labels = torch.randint(0, num_categories, (n,), generator=generator)
    cats = AtomCategories(*(field[labels] for field in table))
    # Consecutive chunks of at most VERTICES_PER_PASS vertices (a batch of 32 is one chunk).
    work = (cats.vertices * cats.orbits).cumsum(0)
    chunk = torch.div(work - 1, VERTICES_PER_PASS, rounding_mode="floor")
    images = torch.cat([
        render_atoms(AtomCategories(*(f[chunk == c] for f in cats)), size=size, generator=generator, device=device)
        for c in torch.unique(chunk).tolist()
    ])
    return PatternBatch(images, labels)


register_pattern(
    "visual_atom1k", family="visual_atom", paper_id="q", native_size=REFERENCE_SIZE,
    num_classes=NUM_CATEGORIES, aliases=("visual_atom",),
    description="VisualAtom-1k: orbits of noisy, sine-modulated contour waves drawn as 1 px grey "
                "strokes on black; category = contour parameters, instance = centre, greys, noise.",
)(visual_atom)
