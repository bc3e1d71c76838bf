"""Image statistics of synthetic pattern datasets, the quantities used to explain which patterns
teach an audio MAE best (Ishikawa et al. 2025 correlate such properties with ESC-50 accuracy).

:func:`image_properties` maps a batch ``[n, C, H, W]`` in [0, 1] (C = 1 grey or 3 RGB) to one value
per image and property; everything except the JPEG size is batched torch code on the batch's device.
Grey-level statistics use BT.601 luma (:func:`workbench.patterns.convert.to_grey`), the same grey
the spectrogram converter makes. Definitions (``PROPERTIES`` holds the same text for captions):

* ``mean``, ``std``: mean and (population) standard deviation of the grey intensity.
* ``entropy``: Shannon entropy in bits of the 256-bin histogram of grey quantised to 8 bits
  (0 for a constant image, 8 at most).
* ``total_variation``: mean absolute difference between horizontal neighbours plus that between
  vertical neighbours, in grey intensity per pixel (0 constant, 2 for a one-pixel checkerboard).
* ``edge_density``: fraction of pixels whose Sobel gradient magnitude (kernels scaled by 1/8 so a
  unit ramp has gradient 1 per pixel; replicate padding so the border adds no edges) exceeds
  ``edge_threshold`` (default 0.1).
* ``spectral_slope``: ``alpha`` in power ~ 1 / f^alpha, fitted by least squares to the log of the
  radially averaged power spectrum against log frequency, for 2 / min(H, W) <= f <= 1/2 cycles per
  pixel, after removing the mean and applying a 2-D Hann window (so the image border does not add
  a spurious 1/f^2 cross). Natural images give about 2 (amplitude ~ 1/f); 0 for a constant image.
* ``high_freq_energy``: fraction of the (windowed, mean-removed) spectral power at radial
  frequency above half Nyquist (f > 1/4 cycle per pixel); 0 for a constant image.
* ``n_colours``: number of distinct colours after quantising each channel to ``colour_levels``
  levels (default 32). Grey input counts grey levels with the same quantisation, which is what
  the same image stored as RGB (R = G = B) would give.
* ``fractal_dim``: box-counting dimension of the *binarised image* (pixels brighter than the
  image's mean grey): ``-slope`` of log(occupied boxes) against log(box side) for sides
  1, 2, 4, ... up to min(H, W) / 8. A filled region gives ~2, a thin curve ~1, nothing 0.
* ``edge_fractal_dim``: the same box-counting dimension of the *edge map* (the pixels counted in
  ``edge_density``), which tells smooth contours (~1) from rough, space-filling ones (towards 2).
* ``jpeg_ratio``: size of the image saved by PIL as 8-bit JPEG at quality 75 (grey as mode "L"),
  divided by its raw size ``H * W * C`` bytes: a proxy for complexity. Computed on the CPU image
  by image.

:func:`dataset_properties` averages them over ``n`` images of a registered dataset (its native
rendering for image families, the spectrogram for spectrogram families) and
:func:`properties_table` makes one row per dataset.
"""

from __future__ import annotations

import io
import math
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from workbench.patterns.convert import to_grey

PROPERTIES: dict[str, str] = {
    "mean": "mean grey intensity",
    "std": "standard deviation of grey intensity",
    "entropy": "entropy of the 256-bin grey histogram (bits)",
    "total_variation": "mean |horizontal| + mean |vertical| neighbour difference of grey",
    "edge_density": "fraction of pixels with Sobel magnitude above the threshold",
    "spectral_slope": "alpha in radially averaged power ~ 1/f^alpha",
    "high_freq_energy": "fraction of spectral power above half Nyquist",
    "n_colours": "distinct colours, each channel quantised to 32 levels",
    "fractal_dim": "box-counting dimension of the image binarised at its mean",
    "edge_fractal_dim": "box-counting dimension of the Sobel edge map",
    "jpeg_ratio": "JPEG (quality 75) bytes / raw bytes",
}

_CONSTANT_STD = 1e-6  # grey std below this counts as a constant image


def _grey_histogram_entropy(grey: torch.Tensor) -> torch.Tensor:
    """``grey [n, H*W]`` in [0, 1] -> entropy in bits of its 256-bin histogram, ``[n]``."""
    q = (grey * 255).round().long().clamp_(0, 255)
    hist = torch.zeros(grey.shape[0], 256, device=grey.device).scatter_add_(1, q, torch.ones_like(grey))
    p = hist / grey.shape[1]
    return (p * torch.log2(1.0 / p.clamp_min(1e-30))).sum(dim=1)


def sobel_magnitude(grey: torch.Tensor) -> torch.Tensor:
    """Sobel gradient magnitude of ``grey [n, 1, H, W]`` (intensity per pixel), same shape."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=grey.device) / 8
    kernels = torch.stack((kx, kx.T))[:, None]  # [2, 1, 3, 3]: d/dx, d/dy
    g = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), kernels)
    return g.pow(2).sum(dim=1, keepdim=True).sqrt()


def box_counting_dimension(mask: torch.Tensor) -> torch.Tensor:
    """Box-counting dimension of binary ``mask [n, 1, H, W]``, ``[n]`` (0 where the mask is empty).

    Box sides 1, 2, 4, ... up to ``min(H, W) // 8`` (at least two sides, so images from 16 px);
    the dimension is the least-squares slope of log(occupied boxes) against log(1 / side).
    """
    side_max = max(min(mask.shape[-2:]) // 8, 2)
    sides = [2**k for k in range(int(math.log2(side_max)) + 1)]
    m = mask.float()
    counts = torch.stack([F.max_pool2d(m, s, s, ceil_mode=True).flatten(1).sum(dim=1) for s in sides], dim=1)
    x = -torch.log(torch.tensor(sides, dtype=torch.float32, device=mask.device))
    return _ls_slope(x, torch.log(counts.clamp_min(1.0)))


def _ls_slope(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Least-squares slope of each row of ``y [n, k]`` against the shared ``x [k]``."""
    xc = x - x.mean()
    return ((y - y.mean(dim=1, keepdim=True)) * xc).sum(dim=1) / (xc * xc).sum()


def _spectral(grey: torch.Tensor, constant: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(spectral_slope, high_freq_energy)`` of ``grey [n, 1, H, W]``, each ``[n]``."""
    n, _, h, w = grey.shape
    dev = grey.device
    x = grey[:, 0] - grey.mean(dim=(-2, -1), keepdim=True)[:, 0]
    window = torch.hann_window(h, periodic=False, device=dev)[:, None] * torch.hann_window(w, periodic=False, device=dev)[None]
    power = torch.fft.fft2(x * window).abs().pow(2).flatten(1)  # [n, H*W]
    f = torch.sqrt(torch.fft.fftfreq(h, device=dev)[:, None] ** 2 + torch.fft.fftfreq(w, device=dev)[None] ** 2).flatten()
    nondc = f > 0
    total = power[:, nondc].sum(dim=1)
    high = power[:, f > 0.25].sum(dim=1)
    hf = torch.where(total > 0, high / total.clamp_min(1e-30), torch.zeros_like(total))

    # Radial average in bins one frequency step wide (step = 1 / longest side).
    res = max(h, w)
    bins = torch.round(f * res).long()
    nbins = int(bins.max()) + 1
    sums = torch.zeros(n, nbins, device=dev).scatter_add_(1, bins.expand(n, -1), power)
    counts = torch.zeros(nbins, device=dev).scatter_add_(0, bins, torch.ones_like(f))
    k = torch.arange(nbins, device=dev, dtype=torch.float32)
    use = (k >= 2 * res / min(h, w)) & (k <= res / 2) & (counts > 0)
    radial = sums[:, use] / counts[use]
    slope = _ls_slope(-torch.log(k[use] / res), torch.log(radial.clamp_min(1e-30)))  # alpha > 0 for 1/f^alpha
    slope = torch.where(constant, torch.zeros_like(slope), slope)
    hf = torch.where(constant, torch.zeros_like(hf), hf)
    return slope, hf


def _n_colours(images: torch.Tensor, levels: int) -> torch.Tensor:
    """Distinct colours of ``images [n, C, H, W]`` with each channel quantised to ``levels``."""
    q = (images * levels).floor().long().clamp_(0, levels - 1)  # [n, C, H, W]
    code = torch.zeros_like(q[:, 0])
    for c in range(q.shape[1]):
        code = code * levels + q[:, c]
    s = code.flatten(1).sort(dim=1).values
    return (s[:, 1:] != s[:, :-1]).sum(dim=1).float() + 1


def jpeg_ratio(images: torch.Tensor, *, quality: int = 75) -> torch.Tensor:
    """JPEG bytes / raw bytes of each image of ``[n, C, H, W]`` in [0, 1] (PIL, 8 bit), ``[n]``."""
    from PIL import Image

    arr = (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    out = []
    for a in arr:
        im = Image.fromarray(a[0]) if a.shape[0] == 1 else Image.fromarray(np.ascontiguousarray(a.transpose(1, 2, 0)))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=quality)
        out.append(buf.tell() / a.size)
    return torch.tensor(out, dtype=torch.float32, device=images.device)


def image_properties(images: torch.Tensor, *, edge_threshold: float = 0.1,
                     colour_levels: int = 32) -> dict[str, torch.Tensor]:
    """Per-image properties of ``images [n, C, H, W]`` (C = 1 or 3) in [0, 1].

    Returns ``{name: Tensor[n]}`` float32 for every key of :data:`PROPERTIES` (module docstring
    defines each). Images must be at least 16 x 16 pixels.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images [n, 1|3, H, W], got shape {tuple(images.shape)}")
    if min(images.shape[-2:]) < 16:
        raise ValueError(f"images must be at least 16 x 16 pixels, got {tuple(images.shape[-2:])}")
    images = images.float().clamp(0, 1)
    grey = to_grey(images)  # [n, 1, H, W]
    flat = grey.flatten(1)
    mean = flat.mean(dim=1)
    std = flat.std(dim=1, unbiased=False)
    constant = std < _CONSTANT_STD

    tv = ((grey[..., :, 1:] - grey[..., :, :-1]).abs().flatten(1).mean(dim=1)
          + (grey[..., 1:, :] - grey[..., :-1, :]).abs().flatten(1).mean(dim=1))
    edges = sobel_magnitude(grey) > edge_threshold
    slope, hf = _spectral(grey, constant)
    foreground = (grey > mean.view(-1, 1, 1, 1)) & ~constant.view(-1, 1, 1, 1)
    return {
        "mean": mean,
        "std": std,
        "entropy": _grey_histogram_entropy(flat),
        "total_variation": tv,
        "edge_density": edges.flatten(1).float().mean(dim=1),
        "spectral_slope": slope,
        "high_freq_energy": hf,
        "n_colours": _n_colours(images, colour_levels),
        "fractal_dim": box_counting_dimension(foreground),
        "edge_fractal_dim": box_counting_dimension(edges),
        "jpeg_ratio": jpeg_ratio(images),
    }


def dataset_images(name: str, *, n: int = 16, seed: int = 0, size: int | None = None,
                   frames: int = 1024, device: str | torch.device = "cpu") -> torch.Tensor:
    """The images whose properties describe dataset ``name``: its native rendering
    ``[n, C, size, size]`` for image families (``size`` None = the family's native size), the
    spectrogram ``[n, 1, 128, frames]`` for spectrogram families."""
    from workbench import patterns

    spec = patterns.get(name)
    if spec.kind == "image":
        return patterns.render(spec.name, n, seed=seed, size=size, device=device).images
    return patterns.generate(spec.name, n, seed=seed, frames=frames, device=device)


def dataset_properties(name_or_images: str | torch.Tensor, *, n: int = 16, seed: int = 0,
                       size: int | None = None, frames: int = 1024,
                       device: str | torch.device = "cpu") -> dict[str, float]:
    """Mean of each property over ``n`` images of a registered dataset (see :func:`dataset_images`)
    or over a given batch ``[n, C, H, W]`` (then ``n``, ``seed``, ``size``, ``frames`` are unused)."""
    if isinstance(name_or_images, torch.Tensor):
        images = name_or_images
    else:
        images = dataset_images(name_or_images, n=n, seed=seed, size=size, frames=frames, device=device)
    return {k: float(v.double().mean()) for k, v in image_properties(images).items()}


def properties_table(names: Iterable[str] | None = None, *, n: int = 16, seed: int = 0,
                     size: int | None = None, frames: int = 1024, device: str | torch.device = "cpu"):
    """One row per dataset (all registered ones when ``names`` is None): ``name``, ``paper_id``,
    ``family``, ``kind``, then the mean of every property over ``n`` images (a pandas DataFrame).

    Per-pixel properties (total variation, edge density, high-frequency energy, box counting)
    depend on resolution and families render at different native sizes; pass ``size`` to render
    every image family at one size when comparing across families."""
    import pandas as pd

    from workbench import patterns

    rows = []
    for name in (patterns.names() if names is None else names):
        spec = patterns.get(name)
        props = dataset_properties(spec.name, n=n, seed=seed, size=size, frames=frames, device=device)
        rows.append({"name": spec.name, "paper_id": spec.paper_id, "family": spec.family, "kind": spec.kind, **props})
    return pd.DataFrame(rows)
