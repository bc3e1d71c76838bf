"""Token masking: random (MAE's argsort of noise) and chunked (MAE-AST / SSAST).

Masks are ``[N, L]`` bool with ``True = removed`` (masked), always exactly
``num_masked(L, ratio)`` per sample, so visible tokens can be gathered into a dense batch.
"""

from __future__ import annotations

import torch

MASKINGS = ("random", "chunk")


def num_masked(length: int, ratio: float) -> int:
    """Tokens removed per sample; at least one token always stays visible."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask_ratio must be in [0, 1), got {ratio}")
    return min(int(round(length * ratio)), length - 1)


def random_mask(n: int, length: int, ratio: float, *, generator: torch.Generator | None = None,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """Uniformly random mask: ``[n, length]`` bool, True = masked."""
    k = num_masked(length, ratio)
    noise = torch.rand(n, length, generator=generator).to(device)
    order = noise.argsort(dim=1)
    mask = torch.zeros(n, length, dtype=torch.bool, device=device)
    mask.scatter_(1, order[:, :k], True)
    return mask


def chunk_mask(n: int, grid: tuple[int, int], ratio: float, *, sizes: tuple[int, ...] = (3, 4, 5),
               generator: torch.Generator | None = None, device: torch.device | str = "cpu",
               per_batch: bool = False) -> torch.Tensor:
    """Chunked mask over a ``(rows, cols)`` patch grid, flattened row-major to ``[n, rows * cols]``.

    Square chunks of side drawn from ``sizes`` are placed at uniformly random top-left corners
    (clipped at the border) until each sample has at least the target count, then the mask is cut
    to the exact count by unmasking randomly chosen surplus tokens. ``per_batch=True`` draws one
    mask and repeats it (MAE-AST's speed trick); the default draws one per sample (SSAST).
    """
    rows, cols = grid
    length = rows * cols
    k = num_masked(length, ratio)
    m = 1 if per_batch else n
    mask = torch.zeros(m, rows, cols, dtype=torch.bool)
    r_idx = torch.arange(rows)[None, :, None]
    c_idx = torch.arange(cols)[None, None, :]
    size_choices = torch.tensor(sizes)
    while True:
        counts = mask.flatten(1).sum(dim=1)
        need = counts < k
        if not need.any():
            break
        side = size_choices[torch.randint(0, len(sizes), (m,), generator=generator)]
        r0 = (torch.rand(m, generator=generator) * rows).long()
        c0 = (torch.rand(m, generator=generator) * cols).long()
        chunk = ((r_idx >= r0[:, None, None]) & (r_idx < (r0 + side)[:, None, None])
                 & (c_idx >= c0[:, None, None]) & (c_idx < (c0 + side)[:, None, None]))
        mask |= chunk & need[:, None, None]
    flat = mask.flatten(1)
    # Keep exactly k: masked tokens rank above visible ones, ties broken at random.
    score = flat.float() + torch.rand(m, length, generator=generator) * 0.5
    keep_masked = score.argsort(dim=1, descending=True)[:, :k]
    exact = torch.zeros(m, length, dtype=torch.bool)
    exact.scatter_(1, keep_masked, True)
    if per_batch:
        exact = exact.expand(n, -1)
    return exact.to(device).contiguous()
