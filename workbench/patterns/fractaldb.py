"""(p) FractalDB: iterated-function-system fractals (Kataoka et al., 2020).

Categories are random IFS found by the paper's search: N affine maps (N in 2..7), all six
parameters ``(a, b, c, d, e, f)`` ~ U(-1, 1) with no contractivity check, map probability
``|ad - bc| / sum``; a system is kept when its chaos-game points fill at least 20% of a 512 px
canvas. The search runs once per ``category_seed`` and is cached, so category ``k`` always means
the same fractal. The search took ~11 minutes on 2 busy CPU cores, so the 1,000 systems it finds for
seed 0 ship with the package (``data/fractaldb1k_categories_seed0.npz``, written by
:func:`search_categories`; a test re-runs the search for the first ones and compares).

Instances (1,000 per category, as in FractalDB-1k): 25 parameter variants (identity, or one of
a..f multiplied in every map by a factor from {0.2, 0.6, 1.4, 1.8}: the reference's weight grid
of spacing 0.4) x 10 renders (each point drawn as a 3x3 patch with a random binary mask) x 4 flips.

The chaos game is batched: many independent chains per image run for a short burn-in and then
record their points, so one image of 200k points costs ~110 vectorised steps instead of 200k
sequential ones. Each chain is a valid chaos game (a random walk on the attractor), so the point
cloud has the same distribution as the reference's single long chain. Rendering marks each
point's pixel once and dilates that occupancy map with the instance's 3x3 stamp (a grouped
convolution): the same image as stamping every point, for one scatter instead of nine.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

from workbench.files import atomic_torch_save, cache_dir
from workbench.patterns.registry import PatternBatch, register_pattern

NUM_CATEGORIES = 1000
INSTANCES_PER_CATEGORY = 1000
FACTORS = (0.2, 0.6, 1.4, 1.8)
FILL_THRESHOLD = 0.20
SEARCH_CANVAS = 512
SEARCH_POINTS = 100_000
RENDER_SIZE = 362
RENDER_POINTS = 200_000
BURN_IN = 10
CHAINS = 2000

SHIPPED_CATEGORIES = Path(__file__).parent / "data" / "fractaldb1k_categories_seed0.npz"

_CATEGORY_CACHE: dict[tuple[int, int, int, bool], torch.Tensor] = {}


def _probabilities(params: torch.Tensor, n_maps: torch.Tensor) -> torch.Tensor:
    """Map probabilities ``|ad - bc| / sum`` over the valid maps; ``params [B, 7, 6]``."""
    det = (params[..., 0] * params[..., 3] - params[..., 1] * params[..., 2]).abs()
    valid = torch.arange(params.shape[1], device=params.device)[None, :] < n_maps[:, None]
    det = torch.where(valid, det, torch.zeros_like(det))
    total = det.sum(dim=1, keepdim=True)
    uniform = valid.float() / n_maps[:, None].float()
    return torch.where(total > 1e-12, det / total.clamp_min(1e-12), uniform)


def _chaos_steps(params: torch.Tensor, n_maps: torch.Tensor, *, points: int, generator: torch.Generator,
                 device: torch.device, chains: int, burn_in: int) -> torch.Tensor:
    """The chaos game of :func:`chaos_game` as ``[steps, 2, B, chains]``: step, (x, y), image, chain.

    ``steps = ceil(points / chains)`` (``chains`` already capped at ``points``).
    """
    b, max_maps = params.shape[:2]
    steps = -(-points // chains)
    params = params.to(device)
    cdf = _probabilities(params, n_maps.to(device)).cumsum(dim=1)
    cdf[:, -1] = 1.0 + 1e-6  # guard against rounding leaving u above the last edge
    u = torch.rand(burn_in + steps, b, chains, generator=generator).to(device)
    # Map chosen by u: the first i with cdf[i] >= u, i.e. the number of edges below u (the cdf
    # never decreases). Counting in uint8 is what searchsorted returns, at a fraction of its cost.
    choice = torch.zeros(u.shape, dtype=torch.uint8, device=device)
    for k in range(max_maps - 1):
        choice += u > cdf[:, k].view(1, b, 1)
    del u
    offset = (torch.arange(b, device=device) * max_maps).repeat_interleave(chains)  # one table for all
    # Coefficient rows ordered (a, c, b, d, e, f) so that one step updates x and y together:
    # (x, y) <- (a, c) * x + (b, d) * y + (e, f).
    table = params.reshape(b * max_maps, 6)[:, [0, 2, 1, 3, 4, 5]].T.contiguous()  # [6, B * 7]
    idx = torch.empty(b * chains, dtype=torch.int64, device=device)
    m = torch.empty(6, b * chains, device=device)
    ax = torch.empty(2, b * chains, device=device)
    by = torch.empty(2, b * chains, device=device)
    out = torch.empty(steps, 2, b * chains, device=device)
    xy = torch.zeros(2, b * chains, device=device)
    for t in range(burn_in + steps):
        torch.add(choice[t].view(-1), offset, out=idx)
        torch.index_select(table, 1, idx, out=m)
        # The same float32 operations in the same order as the plain affine step
        # ((a x + b y) + e), so the points are bit-identical to the straightforward loop that
        # found the shipped categories; out= buffers only save allocations.
        torch.mul(m[0:2], xy[0], out=ax)
        torch.mul(m[2:4], xy[1], out=by)
        ax.add_(by)
        dest = out[t - burn_in] if t >= burn_in else xy
        torch.add(ax, m[4:6], out=dest)
        xy = dest
    return out.view(steps, 2, b, chains)


def chaos_game(params: torch.Tensor, n_maps: torch.Tensor, *, points: int, generator: torch.Generator,
               device: torch.device, chains: int = CHAINS, burn_in: int = BURN_IN) -> torch.Tensor:
    """Run the chaos game for a batch of IFS: ``params [B, 7, 6]`` -> points ``[B, points, 2]``.

    Rows of ``params`` past ``n_maps[b]`` are ignored. Diverging systems yield non-finite points.
    Point ``t * chains + c`` of image ``b`` is step ``t`` (after burn-in) of chain ``c``.
    """
    b = params.shape[0]
    chains = min(chains, points)
    out = _chaos_steps(params, n_maps, points=points, generator=generator, device=device, chains=chains,
                       burn_in=burn_in)
    return out.permute(2, 0, 3, 1).reshape(b, -1, 2)[:, :points]


def _normalise_points(pts: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rescale each image's points per axis to pixel coordinates in ``[0, size - 1]``.

    Returns integer ``(col, row)`` of shape ``[B, P]`` each; non-finite points are dropped by
    mapping them to -1 (the bounds then come from the finite points only).
    """
    # min and max propagate NaN and reach +-inf, so finite bounds mean every point is finite:
    # only images with a diverged point pay for the masked path.
    lo = pts.amin(dim=1, keepdim=True)
    hi = pts.amax(dim=1, keepdim=True)
    clean = (torch.isfinite(lo) & torch.isfinite(hi)).all(dim=-1).squeeze(1)  # [B]
    dirty = (~clean).nonzero().squeeze(1)
    if len(dirty):
        sub = pts[dirty]
        finite = torch.isfinite(sub).all(dim=-1, keepdim=True)
        big = torch.finfo(pts.dtype).max
        lo[dirty] = torch.where(finite, sub, torch.full_like(sub, big)).amin(dim=1, keepdim=True)
        hi[dirty] = torch.where(finite, sub, torch.full_like(sub, -big)).amax(dim=1, keepdim=True)
    scaled = ((pts - lo) / (hi - lo).clamp_min(1e-12) * (size - 1)).round_()
    if len(dirty):
        finite = torch.isfinite(pts).all(dim=-1, keepdim=True)
        scaled = torch.where(finite, scaled, torch.full_like(scaled, -1))
    pix = scaled.long()
    return pix[..., 0], pix[..., 1]


def filling_rate(pts: torch.Tensor, size: int = SEARCH_CANVAS) -> torch.Tensor:
    """Fraction of a ``size``-px canvas hit by the points ``[B, P, 2]``; 0 where any is non-finite."""
    col, row = _normalise_points(pts, size)
    b = pts.shape[0]
    canvas = torch.zeros(b, size * size, dtype=torch.bool, device=pts.device)
    ok = (col >= 0) & (row >= 0)
    flat = (row * size + col).clamp_min(0)
    canvas.scatter_(1, flat, ok)
    rate = canvas.float().mean(dim=1)
    rate[~torch.isfinite(pts).all(dim=-1).all(dim=-1)] = 0.0
    return rate


def search_categories(num: int = NUM_CATEGORIES, *, seed: int = 0, device: str | torch.device = "cpu",
                      batch: int = 64, points: int = SEARCH_POINTS, progress: bool = False,
                      use_shipped: bool = True) -> torch.Tensor:
    """FractalDB category search: ``num`` accepted systems as ``[num, 7, 6]`` (NaN rows unused).

    Deterministic for a given ``seed``: the first ``k`` systems of a search for ``num`` are the
    systems of a search for ``k``. Cached in memory and under :func:`cache_dir`; seed 0 is shipped
    (``use_shipped=False`` runs the search anyway).
    """
    key = (seed, num, points, use_shipped)
    if key in _CATEGORY_CACHE:
        return _CATEGORY_CACHE[key]
    if use_shipped and seed == 0 and num <= NUM_CATEGORIES and points == SEARCH_POINTS:
        import numpy as np
        shipped = np.load(SHIPPED_CATEGORIES)["params"]
        _CATEGORY_CACHE[key] = torch.from_numpy(shipped[:num]).float()
        return _CATEGORY_CACHE[key]
    path = cache_dir() / f"fractaldb_categories_seed{seed}_n{num}_p{points}.pt"
    if path.exists():
        _CATEGORY_CACHE[key] = torch.load(path, weights_only=True)
        return _CATEGORY_CACHE[key]
    device = torch.device(device)
    g = torch.Generator().manual_seed(10_000 + seed)
    accepted: list[torch.Tensor] = []
    found = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=num, desc="FractalDB category search", unit="cat")
    while found < num:
        n_maps = torch.randint(2, 8, (batch,), generator=g)
        params = torch.rand(batch, 7, 6, generator=g) * 2 - 1
        pts = chaos_game(params, n_maps, points=points, generator=g, device=device)
        keep = (filling_rate(pts) >= FILL_THRESHOLD).cpu()
        sel = params[keep].clone()
        for i, n in enumerate(n_maps[keep].tolist()):
            sel[i, n:] = float("nan")
        accepted.append(sel)
        found += int(keep.sum())
        if bar is not None:
            bar.update(min(int(keep.sum()), num - bar.n))
    if bar is not None:
        bar.close()
    cats = torch.cat(accepted)[:num]
    try:
        atomic_torch_save(cats, path)
    except OSError:
        pass  # a read-only home only costs the search again next time
    _CATEGORY_CACHE[key] = cats
    return cats


def instance_params(categories: torch.Tensor, labels: torch.Tensor, instances: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Parameters of FractalDB instances.

    ``instances`` in [0, 1000) index ``variant (25) x render (10) x flip (4)``. Returns
    ``(params [B, 7, 6] with unused rows zeroed, n_maps [B], render [B], flip [B])``.
    """
    base = categories[labels]  # [B, 7, 6]
    n_maps = (~torch.isnan(base[..., 0])).sum(dim=1)
    params = torch.nan_to_num(base, nan=0.0).clone()
    variant = instances // 40
    render_id = (instances // 4) % 10
    flip = instances % 4
    has = variant > 0
    which = (variant - 1).clamp_min(0)
    param_idx = which // len(FACTORS)
    factor = torch.tensor(FACTORS)[which % len(FACTORS)]
    scale = torch.ones(params.shape[0], 6)
    scale[has, param_idx[has]] = factor[has]
    params = params * scale[:, None, :]
    return params, n_maps, render_id, flip


def render_points(pts: torch.Tensor, *, size: int, patch_masks: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """Rasterise ``[B, P, 2]`` points into ``[B, 1, size, size]`` binary images.

    Each point is a 3x3 patch gated by that image's binary ``patch_masks [B, 3, 3]`` (entry
    ``[1 + dy, 1 + dx]`` lights the pixel at row offset ``dy``, column offset ``dx``).
    ``flips [B]`` in 0..3: none, horizontal, vertical, both. Points are rescaled per image and
    axis to fill the frame (:func:`_normalise_points`, one pixel of margin); non-finite points
    are dropped.
    """
    return _render_steps(pts.permute(1, 2, 0)[..., None], size=size, patch_masks=patch_masks, flips=flips)


def _render_steps(xy: torch.Tensor, *, size: int, patch_masks: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """:func:`render_points` for points laid out ``[steps, 2, B, chains]`` (as the chaos game makes them).

    Stamping every point is the same as marking the points' pixels once and then dilating that
    occupancy map with each image's stamp: one scatter and one grouped 3x3 convolution instead of
    nine scatters over all points. Pixel positions use the float operations of
    :func:`_normalise_points`, so the image is the same as stamping its points one by one.
    """
    b = xy.shape[2]
    device = xy.device
    inner = size - 2  # points fill [1, size - 2] so the 3x3 patch stays inside the frame
    lo = xy.amin(dim=(0, 3))  # [2, B]; NaN or +-inf when an image has a non-finite point
    hi = xy.amax(dim=(0, 3))
    # Images with a non-finite point (or a range too wide for float32) take the careful path.
    dirty = (~torch.isfinite(hi - lo).all(dim=0)).nonzero().squeeze(1)
    if len(dirty):
        # Bounds from the finite points only; the others are dropped below.
        sub = xy[:, :, dirty]
        finite = torch.isfinite(sub).all(dim=1, keepdim=True)
        big = torch.finfo(xy.dtype).max
        lo[:, dirty] = torch.where(finite, sub, big).amin(dim=(0, 3))
        hi[:, dirty] = torch.where(finite, sub, -big).amax(dim=(0, 3))
    pix = xy - lo[None, :, :, None]
    pix.div_((hi - lo).clamp_min(1e-12)[None, :, :, None]).mul_(inner - 1).round_()
    dropped = None
    if len(dirty):
        sub = pix[:, :, dirty]
        kept = (torch.isfinite(sub) & (sub >= 0) & (sub <= inner - 1)).all(dim=1)  # [steps, dirty, chains]
        pix[:, :, dirty] = torch.where(kept[:, None], sub, 0.0)
        dropped = ~kept
    # Row-major pixel index (with the +1 margin) in float, exact below 2**24, then per image.
    # Flips act on the indices: column c -> size - 1 - c where flipped (and the stamp flips too).
    hflip = (flips % 2 == 1).to(device)
    vflip = (flips >= 2).to(device)
    col_sign = torch.where(hflip, -1.0, 1.0).view(1, b, 1)
    row_step = torch.where(vflip, -float(size), float(size)).view(1, b, 1)
    start = (torch.where(vflip, (size - 2) * size, size) + torch.where(hflip, size - 2, 1)).view(1, b, 1)
    flat = pix[:, 1].mul_(row_step).addcmul_(pix[:, 0], col_sign).add_(start).long()  # [steps, B, chains]
    flat += (torch.arange(b, device=device) * (size * size)).view(1, b, 1)
    spare = b * size * size  # dropped points land past the last image
    if dropped is not None:
        flat[:, dirty] = torch.where(dropped, spare, flat[:, dirty])
    occupied = torch.zeros(spare + 1, device=device)
    occupied.scatter_(0, flat.reshape(-1), torch.ones((), device=device).expand(flat.numel()))
    occupied = occupied[:-1].view(1, b, size, size)
    stamp = patch_masks.to(device=device, dtype=occupied.dtype)
    stamp = torch.where(hflip.view(b, 1, 1), stamp.flip(-1), stamp)
    stamp = torch.where(vflip.view(b, 1, 1), stamp.flip(-2), stamp)
    # conv2d correlates, so the stamp is flipped to push each point's mask outwards.
    hits = torch.nn.functional.conv2d(occupied, stamp.flip(-1, -2)[:, None], padding=1, groups=b)
    return (hits > 0.5).to(occupied.dtype).view(b, 1, size, size)


@lru_cache(maxsize=1)
def _patch_masks() -> torch.Tensor:
    """The 3x3 binary stamp of each render id ``[10, 3, 3]`` (centre always on)."""
    masks = torch.stack([torch.rand(3, 3, generator=torch.Generator().manual_seed(r * 7919 + 1)) > 0.5
                         for r in range(10)])  # render ids 0..9, see instance_params
    masks[:, 1, 1] = True  # never an empty stamp
    return masks


def fractaldb(n: int, *, size: int, generator: torch.Generator, device: torch.device,
              num_categories: int = NUM_CATEGORIES, points: int = RENDER_POINTS,
              category_seed: int = 0) -> PatternBatch:
    """``n`` random FractalDB instances, grey ``[n, 1, size, size]`` in {0, 1}, labels = category."""
    cats = search_categories(num_categories, seed=category_seed, progress=True)
    labels = torch.randint(0, num_categories, (n,), generator=generator)
    instances = torch.randint(0, INSTANCES_PER_CATEGORY, (n,), generator=generator)
    params, n_maps, render_id, flips = instance_params(cats, labels, instances)
    # The render id fixes the 3x3 patch mask, so instance (variant, render, flip) is reproducible.
    masks = _patch_masks()[render_id]
    if points % min(CHAINS, points) == 0:
        xy = _chaos_steps(params, n_maps, points=points, generator=generator, device=device,
                          chains=min(CHAINS, points), burn_in=BURN_IN)
        images = _render_steps(xy, size=size, patch_masks=masks, flips=flips)
    else:  # the last step is only partly used: go through the [B, points, 2] layout
        pts = chaos_game(params, n_maps, points=points, generator=generator, device=device)
        images = render_points(pts, size=size, patch_masks=masks, flips=flips)
    return PatternBatch(images, labels)


register_pattern(
    "fractaldb1k", family="fractaldb", paper_id="p", native_size=RENDER_SIZE,
    num_classes=NUM_CATEGORIES, aliases=("fractaldb",),
    description="FractalDB-1k: random IFS categories kept at >=20% filling rate; 1,000 instances "
                "each (25 parameter variants x 10 patch renders x 4 flips), grey points on black.",
)(fractaldb)
