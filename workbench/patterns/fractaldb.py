"""(p) FractalDB: iterated-function-system fractals (Kataoka et al., 2020).

Categories are random IFS found by the paper's search: N affine maps (N in 2..7), all six
parameters ``(a, b, c, d, e, f)`` ~ U(-1, 1) with no contractivity check, map probability
``|ad - bc| / sum``; a system is kept when its chaos-game points fill at least 20% of a 512 px
canvas. The search runs once per ``category_seed`` and is cached, so category ``k`` always means
the same fractal. The search takes ~11 minutes on 2 CPU cores, so the 1,000 systems it finds for
seed 0 ship with the package (``data/fractaldb1k_categories_seed0.npz``, written by
:func:`search_categories`; a test re-runs the search for the first ones and compares).

Instances (1,000 per category, as in FractalDB-1k): 25 parameter variants (identity, or one of
a..f multiplied in every map by a factor from {0.2, 0.6, 1.4, 1.8}: the reference's weight grid
of spacing 0.4) x 10 renders (each point drawn as a 3x3 patch with a random binary mask) x 4 flips.

The chaos game is batched: many independent chains per image run for a short burn-in and then
record their points, so one image of 200k points costs ~110 vectorised steps instead of 200k
sequential ones. Each chain is a valid chaos game (a random walk on the attractor), so the point
cloud has the same distribution as the reference's single long chain.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

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


def cache_dir() -> Path:
    """Where slow-to-make pattern data is cached (``$WORKBENCH_CACHE`` or ``~/.cache/workbench``)."""
    return Path(os.environ.get("WORKBENCH_CACHE", Path.home() / ".cache" / "workbench"))


def _probabilities(params: torch.Tensor, n_maps: torch.Tensor) -> torch.Tensor:
    """Map probabilities ``|ad - bc| / sum`` over the valid maps; ``params [B, 7, 6]``."""
    det = (params[..., 0] * params[..., 3] - params[..., 1] * params[..., 2]).abs()
    valid = torch.arange(params.shape[1], device=params.device)[None, :] < n_maps[:, None]
    det = torch.where(valid, det, torch.zeros_like(det))
    total = det.sum(dim=1, keepdim=True)
    uniform = valid.float() / n_maps[:, None].float()
    return torch.where(total > 1e-12, det / total.clamp_min(1e-12), uniform)


def chaos_game(params: torch.Tensor, n_maps: torch.Tensor, *, points: int, generator: torch.Generator,
               device: torch.device, chains: int = CHAINS, burn_in: int = BURN_IN) -> torch.Tensor:
    """Run the chaos game for a batch of IFS: ``params [B, 7, 6]`` -> points ``[B, points, 2]``.

    Rows of ``params`` past ``n_maps[b]`` are ignored. Diverging systems yield non-finite points.
    """
    b = params.shape[0]
    chains = min(chains, points)
    steps = -(-points // chains)
    params = params.to(device)
    cdf = _probabilities(params, n_maps.to(device)).cumsum(dim=1)
    cdf[:, -1] = 1.0 + 1e-6  # guard against rounding leaving u above the last edge
    cdf = cdf.contiguous()
    u = torch.rand(burn_in + steps, b, chains, generator=generator).to(device)
    xy = torch.zeros(b, chains, 2, device=device)
    out = torch.empty(b, steps, chains, 2, device=device)
    for t in range(burn_in + steps):
        idx = torch.searchsorted(cdf, u[t].contiguous()).clamp_max(params.shape[1] - 1)  # [B, chains]
        m = torch.gather(params, 1, idx[..., None].expand(-1, -1, 6))  # [B, chains, 6]
        x, y = xy[..., 0], xy[..., 1]
        xy = torch.stack((m[..., 0] * x + m[..., 1] * y + m[..., 4],
                          m[..., 2] * x + m[..., 3] * y + m[..., 5]), dim=-1)
        if t >= burn_in:
            out[:, t - burn_in] = xy
    return out.reshape(b, steps * chains, 2)[:, :points]


def _normalise_points(pts: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rescale each image's points per axis to pixel coordinates in ``[0, size - 1]``.

    Returns integer ``(col, row)`` of shape ``[B, P]`` each; non-finite points are dropped by
    mapping them to -1.
    """
    finite = torch.isfinite(pts).all(dim=-1)  # [B, P]
    big = torch.finfo(pts.dtype).max
    lo = torch.where(finite[..., None], pts, torch.full_like(pts, big)).amin(dim=1, keepdim=True)
    hi = torch.where(finite[..., None], pts, torch.full_like(pts, -big)).amax(dim=1, keepdim=True)
    scaled = (pts - lo) / (hi - lo).clamp_min(1e-12) * (size - 1)
    pix = torch.where(finite[..., None], scaled.round(), torch.full_like(scaled, -1)).long()
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
        _CATEGORY_CACHE[key] = torch.load(path)
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
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save(cats, tmp)
        tmp.replace(path)
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

    Each point is a 3x3 patch gated by that image's binary ``patch_masks [B, 3, 3]``.
    ``flips [B]`` in 0..3: none, horizontal, vertical, both.
    """
    b = pts.shape[0]
    device = pts.device
    col, row = _normalise_points(pts, size - 2)
    col, row = col + 1, row + 1  # keep the 3x3 patch inside the frame
    ok = col > 0
    canvas = torch.zeros(b, size * size, device=device)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            on = patch_masks[:, dy + 1, dx + 1].to(device)[:, None] & ok  # [B, P]
            flat = ((row + dy) * size + (col + dx)).clamp(0, size * size - 1)
            canvas.scatter_reduce_(1, flat, on.float(), reduce="amax")
    img = canvas.view(b, 1, size, size)
    hflip = (flips % 2 == 1).to(device)[:, None, None, None]
    vflip = (flips >= 2).to(device)[:, None, None, None]
    img = torch.where(hflip, img.flip(-1), img)
    img = torch.where(vflip, img.flip(-2), img)
    return img


def fractaldb(n: int, *, size: int, generator: torch.Generator, device: torch.device,
              num_categories: int = NUM_CATEGORIES, points: int = RENDER_POINTS,
              category_seed: int = 0) -> PatternBatch:
    """``n`` random FractalDB instances, grey ``[n, 1, size, size]`` in {0, 1}, labels = category."""
    cats = search_categories(num_categories, seed=category_seed, progress=True)
    labels = torch.randint(0, num_categories, (n,), generator=generator)
    instances = torch.randint(0, INSTANCES_PER_CATEGORY, (n,), generator=generator)
    params, n_maps, render_id, flips = instance_params(cats, labels, instances)
    # The render id fixes the 3x3 patch mask, so instance (variant, render, flip) is reproducible.
    masks = torch.stack([
        torch.rand(3, 3, generator=torch.Generator().manual_seed(int(r) * 7919 + 1)) > 0.5
        for r in render_id.tolist()
    ])
    masks[:, 1, 1] = True  # never an empty stamp
    pts = chaos_game(params, n_maps, points=points, generator=generator, device=device)
    images = render_points(pts, size=size, patch_masks=masks, flips=flips)
    return PatternBatch(images, labels)


register_pattern(
    "fractaldb1k", family="fractaldb", paper_id="p", native_size=RENDER_SIZE,
    num_classes=NUM_CATEGORIES, aliases=("fractaldb",),
    description="FractalDB-1k: random IFS categories kept at >=20% filling rate; 1,000 instances "
                "each (25 parameter variants x 10 patch renders x 4 flips), grey points on black.",
)(fractaldb)
