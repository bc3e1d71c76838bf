"""(e-h) Statistical image models (Baradad et al., 2021, ``statistical/matlab/image_model.m``).

An image is found by alternating projections: start from uniform noise ``256 * U[0, 1)`` in three
decorrelated colour channels and, for ``iterations`` rounds (10), impose in this order

* the **spectrum**: amplitude ``1 / (|fx|^ax + |fy|^ay)`` (DC 0; ``fx, fy`` in cycles per pixel),
  ``s ~ U[0.5, 3.5]``, ``d ~ N(0, 0.05^2)``, ``ax = s + d``, ``ay = s - d``, the same for the
  three channels; the current phase is kept and each channel's mean and std restored;
* the **wavelet marginal model (WMM)**: each band of a steerable pyramid (4 orientations,
  3 scales at 128 px) gets the marginal ``exp(-|x / s|^rho)`` with ``rho ~ U[0.4, 0.8]`` per band and
  channel and ``s = 4^f`` for a band decimated by ``f`` (1, 1, 2, 4 for the high-pass residual and
  the three scales), tabulated on ``x = -200:0.5:200`` as in the reference; the band is histogram
  matched to it and re-standardised to the table's mean and std; the low-pass residual is kept;
* the **colour histogram**: each decorrelated channel is matched to the 256-bin histogram of a
  random "Mondrian" (below);

then the channels are mixed by the Mondrian's colour-PCA basis plus its mean colour, and the image
is stretched to [0, 1] (jointly over its channels). Values live on the reference's 0..256 scale
throughout because the WMM scales ``s`` are absolute.

The Mondrian (``sample_colour_model``): 3..22 colours ``U[0, 1)^3 * 256`` with proportions
``0.001 + U[0, 1)``; the pixels' colour indices are sorted (so the colours form contiguous blocks in
column-major order, as MATLAB's ``reshape`` lays them out), blurred by an ``m x m`` box (``m`` in
1..10, zero padding like ``convn(..., 'same')``), given ``10 * U[0, 1)`` noise per pixel and
channel, stretched to 0..256. Its PCA (eigenvectors by decreasing variance) gives the basis, its
decorrelated channels the three histograms.

Variants: (e) ``stat_spectrum`` spectrum only, (f) ``stat_wmm`` WMM only, (g)
``stat_spectrum_color`` spectrum + colour histogram, (h) ``stat_spectrum_color_wmm`` all three.
All four mix channels by a Mondrian basis (the reference's ``correlate_channels=True``).

Choices where the reference leaves room (all keyword parameters of :func:`statistical_images`):

* Pyramid: the real steerable pyramid built in the frequency domain (the reference's Python port
  uses pyrtools' ``SteerablePyramidFreq``; the MATLAB code the spatial ``sp3Filters``): raised-cosine
  radial masks one octave wide, angular masks ``cos^3``, a tight frame (perfect reconstruction).
  Coefficients decimated by ``f`` carry an amplitude gain ``level_gain ** log2(f)`` relative to the
  pixels; ``level_gain=2`` matches the MATLAB pyramid (its low-pass filter sums to 2), pyrtools'
  unnormalised FFT gives 4. The gain sets how much each scale contributes because ``s`` is absolute.
* Matching: ``matching="binned"`` (default) is the reference's ``histoMatch``: a source histogram
  with as many bins as the target's (801 for the WMM, 256 for colour), its CDF mapped through the
  target's inverse CDF, values interpolated linearly within their bin; ``"sort"`` is exact rank
  matching to the target's quantiles, 2-5x slower on CPU (sorting dominates the run time).
* Spectrum only: imposing the spectrum is idempotent (the phase and the moments it keeps do not
  change), so with no other constraint one round gives the same image as ten and only one is run.
* Eigenvector signs (arbitrary in any PCA) are fixed so each vector's largest entry is positive,
  which makes CPU and GPU agree.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from workbench.patterns.registry import PatternBatch, register_pattern

SIZE = 128
ITERATIONS = 10
SLOPE_RANGE = (0.5, 3.5)
SLOPE_JITTER = 0.05  # std of d; the reference's |3.5 - 0.5| / 15 / 4
ORIENTATIONS = 4
WMM_RHO_RANGE = (0.4, 0.8)
WMM_SCALE_BASE = 4.0
WMM_SUPPORT = 200.0
WMM_BIN = 0.5
COLOUR_RANGE = (3, 22)
COLOUR_BINS = 256
BLUR_MAX = 10
COLOUR_NOISE = 10.0
MATCHING = ("binned", "sort")


# --------------------------------------------------------------------------- histogram matching

def _interp(q: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Row-wise piecewise-linear interpolation: ``q [R, Q]`` through increasing ``xp, fp [R, P]``."""
    idx = torch.searchsorted(xp.contiguous(), q.contiguous(), right=True).clamp_(1, xp.shape[-1] - 1)
    x0, x1 = xp.gather(-1, idx - 1), xp.gather(-1, idx)
    f0, f1 = fp.gather(-1, idx - 1), fp.gather(-1, idx)
    w = ((q - x0) / (x1 - x0).clamp_min(1e-20)).clamp_(0.0, 1.0)
    return f0 + w * (f1 - f0)


class Marginal(NamedTuple):
    """Target marginals of ``R`` rows as histograms: value ``edges [R, B + 1]`` (increasing) and the
    CDF at those edges ``cdf [R, B + 1]`` (0 to 1, strictly increasing)."""

    edges: torch.Tensor
    cdf: torch.Tensor

    @classmethod
    def from_histogram(cls, edges: torch.Tensor, counts: torch.Tensor) -> "Marginal":
        """From bin ``edges [R, B + 1]`` and ``counts [R, B]`` (any non-negative weights).

        Like the reference's ``histoMatch``, a tiny mass is added to every bin so the CDF is
        strictly increasing and its inverse well defined.
        """
        counts = counts.float()
        counts = counts + counts.mean(dim=-1, keepdim=True) * 1e-8 + 1e-30
        cdf = torch.cat([torch.zeros_like(counts[:, :1]), counts.cumsum(-1)], dim=-1)
        return cls(edges.float(), cdf / cdf[:, -1:])

    def quantile(self, q: torch.Tensor) -> torch.Tensor:
        """Inverse CDF at levels ``q [R, Q]`` in [0, 1]."""
        return _interp(q, self.cdf, self.edges)

    def quantile_table(self, length: int) -> torch.Tensor:
        """Quantiles at the ``length + 1`` levels ``k / length``: ``[R, length + 1]``.

        Equal to ``quantile`` at those levels, but finds each level's bin by counting the CDF
        edges below it (a scatter and a cumulative sum) instead of a binary search per level,
        which is several times faster on CPU for long tables.
        """
        rows, n_edges = self.cdf.shape
        below = torch.zeros(rows, length + 2, device=self.cdf.device)
        first_level = (self.cdf[:, 1:] * length).ceil_().long().clamp_(0, length + 1)
        below.scatter_add_(-1, first_level, torch.ones_like(first_level, dtype=below.dtype))
        bin_idx = below[:, : length + 1].cumsum_(-1).long().clamp_(0, n_edges - 2)  # c[i] <= k / L
        c0, c1 = self.cdf.gather(-1, bin_idx), self.cdf.gather(-1, bin_idx + 1)
        e0, e1 = self.edges.gather(-1, bin_idx), self.edges.gather(-1, bin_idx + 1)
        levels = torch.arange(length + 1, device=self.cdf.device, dtype=torch.float32) / length
        w = ((levels - c0) / (c1 - c0).clamp_min(1e-20)).clamp_(0.0, 1.0)
        return e0.add_(w.mul_(e1 - e0))

    def sorted_sample(self, length: int) -> torch.Tensor:
        """The ``length`` quantiles at levels ``(k + 0.5) / length``: ``[R, length]``, increasing."""
        levels = (torch.arange(length, device=self.cdf.device, dtype=torch.float32) + 0.5) / length
        return self.quantile(levels.expand(self.cdf.shape[0], length))


def match_sorted(x: torch.Tensor, target_sorted: torch.Tensor) -> torch.Tensor:
    """Exact histogram matching by rank: ``x [R, L]`` gets the values ``target_sorted [R, L]`` in
    the order of its own ranks (the k-th smallest element becomes ``target_sorted[:, k]``)."""
    order = x.argsort(dim=-1)
    return torch.empty_like(x).scatter_(-1, order, target_sorted)


def match_binned(x: torch.Tensor, target: Marginal, *, bins: int | None = None,
                 table: torch.Tensor | None = None) -> torch.Tensor:
    """The reference's ``histoMatch``: histogram ``x [R, L]`` into ``bins`` equal bins between its
    min and max (default: as many as the target has), map each bin edge through source CDF then
    target inverse CDF, and interpolate every value linearly between its bin's mapped edges.

    ``table [R, L + 1]``: the target's quantiles at ``k / L`` (:meth:`Marginal.quantile_table`),
    exactly the values the source CDF can take; pass it when matching repeatedly.
    """
    bins = bins or target.edges.shape[-1] - 1
    length = x.shape[-1]
    if table is None:
        table = target.quantile_table(length)
    lo = x.amin(dim=-1, keepdim=True)
    scale = bins / (x.amax(dim=-1, keepdim=True) - lo).clamp_min(1e-12)
    pos = x.sub(lo).mul_(scale).clamp_(0.0, bins - 1e-3)  # in [0, bins)
    idx = pos.long()
    frac = pos.frac_()
    counts = torch.zeros(x.shape[0], bins + 1, device=x.device, dtype=x.dtype)
    counts[:, 1:].scatter_add_(-1, idx, torch.ones((), device=x.device, dtype=x.dtype).expand_as(x))
    mapped = table.gather(-1, counts.cumsum_(-1).long())  # [R, bins + 1]: target value per edge
    out = mapped[:, :-1].contiguous().gather(-1, idx)
    return out.addcmul_(mapped.diff(dim=-1).gather(-1, idx), frac)


def match_histogram(x: torch.Tensor, target: Marginal, *, method: str = "binned") -> torch.Tensor:
    """Give each row of ``x [R, L]`` the marginal ``target`` (R rows); ``method`` in ``MATCHING``."""
    if method == "sort":
        return match_sorted(x, target.sorted_sample(x.shape[-1]))
    if method == "binned":
        return match_binned(x, target)
    raise ValueError(f"matching must be one of {MATCHING}, got {method!r}")


def batched_histogram(x: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Histogram of each row of ``x [R, L]`` over its own [min, max]: ``(edges [R, bins + 1],
    counts [R, bins])``."""
    lo = x.amin(dim=-1, keepdim=True)
    hi = x.amax(dim=-1, keepdim=True)
    width = (hi - lo).clamp_min(1e-6)
    idx = ((x - lo) / width * bins).floor().clamp_(0, bins - 1).long()
    counts = torch.zeros(x.shape[0], bins, device=x.device, dtype=torch.float32)
    counts.scatter_add_(-1, idx, torch.ones_like(x, dtype=torch.float32))
    steps = torch.arange(bins + 1, device=x.device, dtype=torch.float32) / bins
    return lo + width * steps, counts


# --------------------------------------------------------------------------- steerable pyramid

def _raised_cosine(log_rad: torch.Tensor, top: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(high-pass, low-pass) masks over ``log2`` radius, one octave wide, ending at ``top``;
    squares sum to 1."""
    t = (top - log_rad).clamp(0.0, 1.0) * (math.pi / 2)
    return torch.cos(t), torch.sin(t)


class SteerablePyramid:
    """Real steerable pyramid in the frequency domain, for square ``size`` images.

    Bands: a high-pass residual ``[..., size, size]``; ``n_scales`` levels of ``n_orientations``
    oriented bands ``[..., K, M, M]`` with ``M = size / 2^j`` (j = 0..n_scales-1); a low-pass
    residual ``[..., size / 2^n_scales, ...]``. Radial masks are raised cosines one octave wide
    (high-pass residual above half the Nyquist frequency, level j between 2^-(j+2) and 2^-(j+1) of
    it), angular masks ``cos^(K-1)`` normalised so the frame is tight: :meth:`synthesise` of
    :meth:`analyse` is the identity. Band coefficients of a level decimated by ``f`` are scaled by
    ``level_gain ** log2(f)`` (the orthonormal FFT gives 2; see the module docstring).
    """

    def __init__(self, size: int, *, n_scales: int, n_orientations: int = ORIENTATIONS,
                 level_gain: float = 2.0, device: torch.device | str = "cpu"):
        if n_scales < 1 or size % (2 ** n_scales) or size // (2 ** n_scales) < 2:
            raise ValueError(f"size {size} must be divisible by 2^n_scales with n_scales >= 1 "
                             f"and a low-pass residual of at least 2 px, got n_scales={n_scales}")
        if n_orientations < 1:
            raise ValueError(f"n_orientations must be >= 1, got {n_orientations}")
        self.size, self.n_scales, self.n_orientations = size, n_scales, n_orientations
        device = torch.device(device)
        order = n_orientations - 1
        # Normalises sum_b cos^(2 order)(theta - pi b / K) to 1 (tight frame).
        const = (2 ** (2 * order)) * math.factorial(order) ** 2 / (n_orientations * math.factorial(2 * order))
        self.phase = complex((-1j) ** order)  # makes each band's response Hermitian (real band)

        def grid(m: int, decimation: int) -> tuple[torch.Tensor, torch.Tensor]:
            fy = torch.fft.fftfreq(m, device=device)[:, None]
            fx = torch.fft.rfftfreq(m, device=device)[None, :]
            rad = torch.sqrt(fx ** 2 + fy ** 2) / 0.5 / decimation  # 1 = Nyquist of the full image
            return torch.log2(rad.clamp_min(1e-12)), torch.atan2(fy.expand_as(rad), fx.expand_as(rad))

        log_rad, _ = grid(size, 1)
        self.hi0, self.lo0 = _raised_cosine(log_rad, 0.0)
        self.band_masks: list[torch.Tensor] = []  # [K, M, M // 2 + 1] real, per level (times phase)
        self.lo_masks: list[torch.Tensor] = []
        self.gains: list[float] = []
        for j in range(n_scales):
            m = size // 2 ** j
            log_rad, angle = grid(m, 2 ** j)
            hi, lo = _raised_cosine(log_rad, -(j + 1.0))
            offsets = torch.arange(n_orientations, device=device)[:, None, None] * math.pi / n_orientations
            ang = math.sqrt(const) * torch.cos(angle[None] - offsets) ** order
            self.band_masks.append(ang * hi[None])
            self.lo_masks.append(lo)
            self.gains.append((level_gain / 2.0) ** j)

    def band_decimations(self) -> list[int]:
        """Decimation factor of the high-pass residual and of each level, in :meth:`analyse` order."""
        return [1] + [2 ** j for j in range(self.n_scales)]

    @staticmethod
    def _crop(spec: torch.Tensor, m: int) -> torch.Tensor:
        """rfft2 spectrum of an ``M``-grid cropped to the ``m = M / 2`` grid (the lowest frequencies)."""
        h = m // 2
        return torch.cat([spec[..., :h, : h + 1], spec[..., -h:, : h + 1]], dim=-2)

    @staticmethod
    def _pad(spec: torch.Tensor, big: int) -> torch.Tensor:
        """Adjoint of :meth:`_crop`: zero-pad an ``m``-grid rfft2 spectrum to the ``big`` grid."""
        m = spec.shape[-2]
        h = m // 2
        out = spec.new_zeros(*spec.shape[:-2], big, big // 2 + 1)
        out[..., :h, : h + 1] = spec[..., :h, :]
        out[..., -h:, : h + 1] = spec[..., h:, :]
        return out

    def analyse(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """``x [..., size, size]`` -> ``(high [..., size, size], levels [[..., K, M, M]], low)``."""
        spec = torch.fft.rfft2(x, norm="ortho")
        high = torch.fft.irfft2(spec * self.hi0, s=x.shape[-2:], norm="ortho")
        spec = spec * (self.lo0 * self.phase)  # the bands' common phase, undone for the low-pass
        levels = []
        for j in range(self.n_scales):
            m = self.size // 2 ** j
            bands = torch.fft.irfft2(spec[..., None, :, :] * self.band_masks[j], s=(m, m), norm="ortho")
            levels.append(bands * self.gains[j] if self.gains[j] != 1.0 else bands)
            spec = self._crop(spec * self.lo_masks[j], m // 2)
        low = torch.fft.irfft2(spec * self.phase.conjugate(), s=(m // 2, m // 2), norm="ortho")
        return high, levels, low

    def synthesise(self, high: torch.Tensor, levels: list[torch.Tensor], low: torch.Tensor) -> torch.Tensor:
        """Inverse (adjoint) of :meth:`analyse`: ``-> [..., size, size]``."""
        spec = torch.fft.rfft2(low, norm="ortho") * self.phase
        for j in reversed(range(self.n_scales)):
            m = self.size // 2 ** j
            spec = self._pad(spec, m) * self.lo_masks[j]
            bands = levels[j] / self.gains[j] if self.gains[j] != 1.0 else levels[j]
            spec = spec + (torch.fft.rfft2(bands, norm="ortho") * self.band_masks[j]).sum(dim=-3)
        spec = spec * (self.lo0 * self.phase.conjugate()) + torch.fft.rfft2(high, norm="ortho") * self.hi0
        return torch.fft.irfft2(spec, s=(self.size, self.size), norm="ortho")


_PYRAMIDS: dict[tuple, SteerablePyramid] = {}


def _pyramid(size: int, n_scales: int, n_orientations: int, level_gain: float,
             device: torch.device) -> SteerablePyramid:
    key = (size, n_scales, n_orientations, level_gain, str(device))
    if key not in _PYRAMIDS:
        _PYRAMIDS[key] = SteerablePyramid(size, n_scales=n_scales, n_orientations=n_orientations,
                                          level_gain=level_gain, device=device)
    return _PYRAMIDS[key]


def default_scales(size: int) -> int:
    """Pyramid height of the reference: 3 at 128 px, 4 at 256 px (``log2(size) - 4``, at least 1)."""
    return max(1, int(math.log2(size)) - 4)


# --------------------------------------------------------------------------- model parameters

def spectrum_magnitude(exponents: torch.Tensor, size: int, *, device: torch.device) -> torch.Tensor:
    """``1 / (|fx|^ax + |fy|^ay)`` on the rfft2 grid, DC 0: ``exponents [B, 2]`` (ax, ay) ->
    ``[B, size, size // 2 + 1]``; ``fx`` runs along the last (column) axis."""
    ax = exponents[:, 0].to(device)[:, None, None]
    ay = exponents[:, 1].to(device)[:, None, None]
    fy = torch.fft.fftfreq(size, device=device).abs()[None, :, None]
    fx = torch.fft.rfftfreq(size, device=device)[None, None, :]
    mag = 1.0 / (1e-16 + fx ** ax + fy ** ay)
    mag[:, 0, 0] = 0.0
    return mag


def sample_spectrum_exponents(n: int, *, generator: torch.Generator, slope_range=SLOPE_RANGE,
                              slope_jitter: float = SLOPE_JITTER) -> torch.Tensor:
    """``[n, 2]`` exponents ``(ax, ay) = (s + d, s - d)``, ``s ~ U(slope_range)``, ``d ~ N(0, jitter^2)``."""
    lo, hi = slope_range
    s = lo + (hi - lo) * torch.rand(n, generator=generator)
    d = slope_jitter * torch.randn(n, generator=generator)
    return torch.stack([s + d, s - d], dim=1)


def wmm_marginals(rho: torch.Tensor, scale: torch.Tensor, *, support: float = WMM_SUPPORT,
                  step: float = WMM_BIN) -> tuple[Marginal, torch.Tensor, torch.Tensor]:
    """Tabulated ``exp(-|x / scale|^rho)`` on ``x = -support:step:support`` for rows ``rho, scale [R]``.

    Returns ``(Marginal, mean [R], std [R])`` of the tabulated density (the reference's table).
    """
    x = torch.arange(-support, support + step / 2, step, device=rho.device, dtype=torch.float32)
    h = torch.exp(-(x[None, :] / scale[:, None]).abs() ** rho[:, None])
    w = h / h.sum(dim=-1, keepdim=True)
    mean = (w * x).sum(dim=-1)
    std = torch.sqrt((w * (x - mean[:, None]) ** 2).sum(dim=-1))
    edges = torch.cat([x[:1] - step / 2, x + step / 2]).expand(rho.shape[0], -1)
    return Marginal.from_histogram(edges, h), mean, std


def _box_blur(img: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """``m x m`` box mean per image (``width [B]`` on the CPU), zero padding, MATLAB
    ``conv(..., 'same')`` alignment (window ``[i - ceil(m/2) + 1, i + floor(m/2)]``):
    ``[B, C, H, W]`` -> same."""
    out = torch.empty_like(img)
    for m in torch.unique(width).tolist():
        sel = (width == m).nonzero().flatten().to(img.device)
        before, after = (m + 1) // 2 - 1, m // 2
        padded = F.pad(img.index_select(0, sel), (before, after, before, after))
        out.index_copy_(0, sel, F.avg_pool2d(padded, m, stride=1, count_include_pad=True))
    return out


def _multinomial_counts(total: int, weights: torch.Tensor, active: torch.Tensor,
                        generator: torch.Generator) -> torch.Tensor:
    """Multinomial counts ``[B, K]`` of ``total`` draws with ``weights [B, K]`` (zero past
    ``active [B]``), by the conditional-binomial chain; equal in law to counting categorical draws."""
    b, k = weights.shape
    remaining = torch.full((b,), float(total))
    rest = weights.flip(1).cumsum(1).flip(1)  # weight of categories k..K-1
    counts = torch.zeros(b, k)
    for j in range(k):
        p = (weights[:, j] / rest[:, j].clamp_min(1e-30)).clamp(0.0, 1.0)
        counts[:, j] = torch.binomial(remaining, p, generator=generator)
        remaining = remaining - counts[:, j]
    counts[torch.arange(b), active - 1] += remaining  # rounding leftovers to the last colour
    return counts.long()


class ColourModel(NamedTuple):
    basis: torch.Tensor  # [B, 3, 3]: column k = k-th principal colour axis (decreasing variance)
    mean: torch.Tensor  # [B, 3] mean colour (0..256 scale)
    marginals: Marginal | None  # rows b * 3 + k: 256-bin histogram of decorrelated channel k
    mondrian: torch.Tensor  # [B, 3, size, size] the reference image (0..256 scale)


def sample_colour_model(n: int, size: int, *, generator: torch.Generator, device: torch.device,
                        colour_range=COLOUR_RANGE, blur_max: int = BLUR_MAX,
                        noise: float = COLOUR_NOISE, bins: int = COLOUR_BINS,
                        histograms: bool = True) -> ColourModel:
    """Random "Mondrian" colour models (see the module docstring) for ``n`` images;
    ``histograms=False`` skips the channel histograms (``marginals`` is then None)."""
    lo, hi = colour_range
    if not 1 <= lo <= hi:
        raise ValueError(f"colour_range must satisfy 1 <= lo <= hi, got {colour_range}")
    kmax = hi
    n_colours = torch.randint(lo, hi + 1, (n,), generator=generator)
    colours = torch.rand(n, kmax, 3, generator=generator) * 256
    weights = 0.001 + torch.rand(n, kmax, generator=generator)
    weights = weights * (torch.arange(kmax)[None, :] < n_colours[:, None])
    pixels = size * size
    counts = _multinomial_counts(pixels, weights, n_colours, generator)
    blur = torch.randint(1, blur_max + 1, (n,), generator=generator)
    jitter = noise * torch.rand(n, 3, size, size, generator=generator)

    # Sorted colour indices: pixel k (column-major) gets colour searchsorted(cumulative counts, k).
    bounds = counts.cumsum(1).to(device)
    k = torch.arange(pixels, device=device).expand(n, pixels).contiguous()
    index = torch.searchsorted(bounds, k, right=True).clamp_max_(kmax - 1)
    ref = colours.to(device).gather(1, index[..., None].expand(-1, -1, 3))  # [n, pixels, 3]
    ref = ref.view(n, size, size, 3).permute(0, 3, 2, 1)  # column-major: [n, 3, row, col]
    ref = _box_blur(ref.contiguous(), blur) + jitter.to(device)
    flat = ref.flatten(1)
    ref = ref - flat.amin(1).view(n, 1, 1, 1)
    ref = 256 * ref / ref.flatten(1).amax(1).clamp_min(1e-12).view(n, 1, 1, 1)

    x = ref.flatten(2)  # [n, 3, pixels]
    mean = x.mean(-1)
    xc = x - mean[..., None]
    cov = xc @ xc.transpose(1, 2)
    _, vecs = torch.linalg.eigh(cov.double())
    basis = vecs.flip(-1).float()  # decreasing variance
    sign = torch.sign(basis.gather(1, basis.abs().argmax(1, keepdim=True)))
    basis = basis * torch.where(sign == 0, torch.ones_like(sign), sign)
    decor = basis.transpose(1, 2) @ xc  # [n, 3, pixels]
    marginals = None
    if histograms:
        marginals = Marginal.from_histogram(*batched_histogram(decor.reshape(n * 3, pixels), bins))
    return ColourModel(basis, mean, marginals, ref)


# --------------------------------------------------------------------------- the image model

def spectrum_energy(magnitude: torch.Tensor, size: int) -> torch.Tensor:
    """``sum |Y|^2`` over the full ``size x size`` spectrum of rfft2 amplitudes ``[..., size, size // 2 + 1]``
    (columns other than 0 and Nyquist stand for two conjugate coefficients)."""
    weight = torch.full((size // 2 + 1,), 2.0, device=magnitude.device)
    weight[0] = 1.0
    if size % 2 == 0:
        weight[-1] = 1.0
    return (magnitude ** 2 * weight).sum(dim=(-2, -1))


def impose_spectrum(x: torch.Tensor, magnitude: torch.Tensor,
                    energy: torch.Tensor | None = None) -> torch.Tensor:
    """Give each channel of ``x [B, C, N, N]`` the amplitude ``magnitude [B, N, N // 2 + 1]`` (DC 0)
    while keeping its phase, mean and std. ``energy [B]``: :func:`spectrum_energy` of
    ``magnitude``, computed here when not given.

    The new channel has mean 0 and, by Parseval, variance ``energy / N^4`` whatever the phase, so
    the std rescaling folds into the spectrum and no second pass over the pixels is needed.
    """
    n = x.shape[-1]
    if energy is None:
        energy = spectrum_energy(magnitude, n)
    mean, std = _row_moments(x.reshape(-1, n * n))
    mean, std = mean.view(*x.shape[:2], 1, 1), std.view(*x.shape[:2], 1, 1)
    y_std = torch.sqrt(energy / n ** 4 * (n * n) / (n * n - 1))[:, None, None, None]
    spec = torch.fft.rfft2(x)
    # Coefficients that are exactly 0 (no phase) stay 0 instead of taking phase 0.
    ratio = (magnitude[:, None] * (std / y_std.clamp_min(1e-30))).div_(spec.abs().clamp_min_(1e-30))
    return torch.fft.irfft2(spec.mul_(ratio), s=x.shape[-2:]).add_(mean)


def _row_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and unbiased std of each row of ``x [R, L]``, ``[R, 1]`` each.

    From the sum and the norm, which are several times faster on CPU than ``torch.std_mean``;
    float32 is ample for these values (means of a few hundred at most).
    """
    length = x.shape[-1]
    mean = x.sum(dim=-1, keepdim=True) / length
    sq = torch.linalg.vector_norm(x, dim=-1, keepdim=True) ** 2 / length
    var = (sq - mean ** 2).clamp_min_(0.0) * (length / max(length - 1, 1))
    return mean, var.sqrt_()


def _restandardise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Rows of ``x [R, L]`` affinely mapped (in place) to mean ``mean [R]`` and std ``std [R]``."""
    x_mean, x_std = _row_moments(x)
    gain = std[:, None] / x_std.clamp_min(1e-12)
    return x.mul_(gain).add_(mean[:, None] - x_mean * gain)


class _WMM:
    """Per-band WMM targets for a batch, grouped by band size for batched matching."""

    def __init__(self, pyr: SteerablePyramid, n: int, *, generator: torch.Generator,
                 device: torch.device, rho_range, scale_base: float, support: float, step: float,
                 matching: str):
        self.pyr, self.matching = pyr, matching
        k = pyr.n_orientations
        # Band order: high-pass residual, then level j's K orientations; decimations 1, 1, 2, 4...
        decim = torch.tensor([1] + [2 ** j for j in range(pyr.n_scales) for _ in range(k)],
                             dtype=torch.float32)
        n_bands = decim.numel()
        lo, hi = rho_range
        rho = lo + (hi - lo) * torch.rand(n, 3, n_bands, generator=generator)
        scale = (scale_base ** decim).expand(n, 3, n_bands)
        marg, mean, std = wmm_marginals(rho.reshape(-1).to(device), scale.reshape(-1).to(device),
                                        support=support, step=step)
        shape = (n, 3, n_bands)
        edges, cdf = marg.edges.view(*shape, -1), marg.cdf.view(*shape, -1)
        mean, std = mean.view(shape), std.view(shape)
        # Rows per band group: the high-pass residual, then each level's K orientations.
        groups = [slice(0, 1)] + [slice(1 + j * k, 1 + (j + 1) * k) for j in range(pyr.n_scales)]
        sizes = [pyr.size] + [pyr.size // 2 ** j for j in range(pyr.n_scales)]
        self.targets = []
        for sl, m in zip(groups, sizes):
            t = Marginal(edges[:, :, sl].reshape(-1, edges.shape[-1]),
                         cdf[:, :, sl].reshape(-1, cdf.shape[-1]))
            table = t.sorted_sample(m * m) if matching == "sort" else t.quantile_table(m * m)
            self.targets.append((t, table, mean[:, :, sl].reshape(-1), std[:, :, sl].reshape(-1)))

    def _match(self, band: torch.Tensor, group: int) -> torch.Tensor:
        target, table, mean, std = self.targets[group]
        rows = band.reshape(-1, band.shape[-1] * band.shape[-2])
        rows = match_sorted(rows, table) if self.matching == "sort" else \
            match_binned(rows, target, table=table)
        return _restandardise(rows, mean, std).view_as(band)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        high, levels, low = self.pyr.analyse(x)
        high = self._match(high, 0)
        levels = [self._match(band, 1 + j) for j, band in enumerate(levels)]
        return self.pyr.synthesise(high, levels, low)


def statistical_images(n: int, *, size: int = SIZE, generator: torch.Generator,
                       device: torch.device | str = "cpu", spectrum: bool = True, wmm: bool = False,
                       colour_histogram: bool = False, correlate_channels: bool = True,
                       iterations: int = ITERATIONS, slope_range=SLOPE_RANGE,
                       slope_jitter: float = SLOPE_JITTER, n_scales: int | None = None,
                       n_orientations: int = ORIENTATIONS, level_gain: float = 2.0,
                       wmm_rho_range=WMM_RHO_RANGE, wmm_scale_base: float = WMM_SCALE_BASE,
                       wmm_support: float = WMM_SUPPORT, wmm_bin: float = WMM_BIN,
                       matching: str = "binned", colour_range=COLOUR_RANGE, blur_max: int = BLUR_MAX,
                       colour_noise: float = COLOUR_NOISE) -> torch.Tensor:
    """``n`` images of the statistical image model, ``[n, 3, size, size]`` float32 in [0, 1].

    ``spectrum``, ``wmm`` and ``colour_histogram`` select the constraints (variants e-h);
    ``correlate_channels`` mixes the channels by a Mondrian colour basis at the end. See the module
    docstring for the algorithm and the choices behind the other options.
    """
    if matching not in MATCHING:
        raise ValueError(f"matching must be one of {MATCHING}, got {matching!r}")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got {iterations}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    device = torch.device(device)
    colour = None
    if colour_histogram or correlate_channels:
        colour = sample_colour_model(n, size, generator=generator, device=device,
                                     colour_range=colour_range, blur_max=blur_max, noise=colour_noise,
                                     histograms=colour_histogram)
    magnitude = energy = None
    if spectrum:
        exps = sample_spectrum_exponents(n, generator=generator, slope_range=slope_range,
                                         slope_jitter=slope_jitter)
        magnitude = spectrum_magnitude(exps, size, device=device)
        energy = spectrum_energy(magnitude, size)
    wmm_op = None
    if wmm:
        pyr = _pyramid(size, n_scales or default_scales(size), n_orientations, level_gain, device)
        wmm_op = _WMM(pyr, n, generator=generator, device=device, rho_range=wmm_rho_range,
                      scale_base=wmm_scale_base, support=wmm_support, step=wmm_bin, matching=matching)
    x = (256 * torch.rand(n, 3, size, size, generator=generator)).to(device)

    colour_table = None
    if colour_histogram:
        colour_table = colour.marginals.sorted_sample(size * size) if matching == "sort" else \
            colour.marginals.quantile_table(size * size)
    if spectrum and not (wmm or colour_histogram):
        iterations = 1  # idempotent on its own (module docstring)
    for _ in range(iterations):
        if magnitude is not None:
            x = impose_spectrum(x, magnitude, energy)
        if wmm_op is not None:
            x = wmm_op(x)
        if colour_histogram:
            rows = x.reshape(n * 3, size * size)
            rows = match_sorted(rows, colour_table) if matching == "sort" else \
                match_binned(rows, colour.marginals, table=colour_table)
            x = rows.view(n, 3, size, size)

    if correlate_channels:
        x = torch.einsum("bij,bjhw->bihw", colour.basis, x) + colour.mean[:, :, None, None]
    flat = x.flatten(1)
    lo = flat.amin(1).view(n, 1, 1, 1)
    hi = flat.amax(1).view(n, 1, 1, 1)
    return ((x - lo) / (hi - lo).clamp_min(1e-12)).clamp_(0.0, 1.0).float()


# --------------------------------------------------------------------------- registered variants

def _variant(spectrum: bool, wmm: bool, colour_histogram: bool):
    def fn(n: int, *, size: int = SIZE, generator: torch.Generator, device: torch.device | str = "cpu",
           **options) -> PatternBatch:
        images = statistical_images(n, size=size, generator=generator, device=device,
                                    spectrum=spectrum, wmm=wmm, colour_histogram=colour_histogram,
                                    **options)
        return PatternBatch(images, None)
    parts = [("spectrum", spectrum), ("color", colour_histogram), ("wmm", wmm)]
    fn.__name__ = fn.__qualname__ = "stat_" + "_".join(p for p, on in parts if on)
    return fn


stat_spectrum = register_pattern(
    "stat_spectrum", family="statistical", paper_id="e", native_size=SIZE,
    description="Statistical image model: random 1/f^a amplitude spectrum imposed on noise, "
                "channels mixed by a random Mondrian colour basis.",
)(_variant(True, False, False))
stat_wmm = register_pattern(
    "stat_wmm", family="statistical", paper_id="f", native_size=SIZE,
    description="Statistical image model: heavy-tailed steerable-pyramid band marginals (WMM) "
                "imposed on noise, channels mixed by a random Mondrian colour basis.",
)(_variant(False, True, False))
stat_spectrum_color = register_pattern(
    "stat_spectrum_color", family="statistical", paper_id="g", native_size=SIZE,
    description="Statistical image model: 1/f^a spectrum plus the colour histograms and PCA basis "
                "of a random Mondrian.",
)(_variant(True, False, True))
stat_spectrum_color_wmm = register_pattern(
    "stat_spectrum_color_wmm", family="statistical", paper_id="h", native_size=SIZE,
    description="Statistical image model: 1/f^a spectrum, Mondrian colour histograms and "
                "steerable-pyramid band marginals (WMM), all imposed by alternating projections.",
)(_variant(True, True, True))
