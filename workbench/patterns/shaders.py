"""(o) Shaders1k stand-in: random "fragment shader" programs evaluated on the pixel grid with torch.

Shaders1k renders ~1k GLSL fragment shaders (twigl / Shadertoy) at time ``t ~ U(0.1, 10)`` s
(Baradad et al., 2022; DESIGN.md section 2 (o)). The originals need OpenGL and their sources, so
we write our own programs from the building blocks such shaders are made of. A program is a fixed
sequence of slots, each filled from a finite grammar:

1. frame: zoom, rotation (static and spinning with ``t``), offset and drift with ``t``;
2. up to three coordinate warps from :data:`WARPS`: rotation with zoom pulse, polar / log-polar
   unwrapping, kaleidoscope, iterated sine distortion, fbm domain warping, kaleidoscopic IFS
   folds (``p = |p| - c; p = R p; p *= s``, recording an orbit trap), tiling by ``fract``,
   swirl, mirror;
3. one or two scalar fields from :data:`FIELDS`: fbm value noise (plain or ridged), rings,
   plasma (sum of sines), stripes (sawtooth / triangle waves), glowing shape outlines (``w / |d|``),
   the fold's orbit trap, a smooth checker, moving Voronoi cells; combined by one of
   :data:`COMBINES`;
4. a shaping from :data:`SHAPINGS`: ``fract`` bands, sine bands, isolines, smooth threshold, gamma;
5. a cosine palette ``a + b cos(2 pi (c v + d))`` per RGB channel, its phase drifting with ``t``,
   optionally multiplied by the field (glow on black) or a vignette.

Every continuous parameter and many phases depend on ``t``, so instances of one program differ
the way frames of one shader do.

Categories (1,000): category ``k`` is the first program drawn by CPU generators seeded from ``k``
that passes a small test render (neither flat nor pixel noise; :func:`category_programs`), so it
does not depend on how many categories exist or which were used before. An instance draws
``t ~ U(0.1, 10)`` and jitters the program's continuous parameters (each a uniform in [0, 1]
mapped to its range) by ``N(0, 0.02^2)``; structure and integer parameters never change.

Evaluation is batched: for each slot the images are grouped by the op they use there and each op
runs once on its group, so a batch costs one op per slot per image whatever the mix of programs.
Noise is one bilinear ``grid_sample`` lookup per octave into a fixed, smooth, periodic noise
texture (like a shader's noise texture) instead of hashing lattice corners.

Native size 256 px, as the (a)-(n) image sets at their render resolution: it resolves the
programs' finest features (the category test rejects ones that alias at 64 px) and leaves room
for 50+ samples/s on 2 CPU cores.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import torch
import torch.nn.functional as F

from workbench.patterns.registry import PatternBatch, register_pattern

NUM_CATEGORIES = 1000
NATIVE_SIZE = 256
TIME_RANGE = (0.1, 10.0)
JITTER = 0.02
N_CONTINUOUS = 16  # uniform parameters per slot, mapped to ranges by each op
N_INTEGER = 4  # uniform parameters per slot that each op turns into counts (never jittered)

WARPS = ("none", "rotate", "polar", "kaleidoscope", "sine_warp", "noise_warp", "fold", "repeat", "swirl",
         "mirror")
FIELDS = ("none", "fbm", "rings", "plasma", "stripes", "shape_glow", "orbit_trap", "checker", "cells")
COMBINES = ("none", "multiply", "mean", "max", "difference", "offset")
SHAPINGS = ("none", "bands", "sine_bands", "isolines", "threshold", "power")
# Slot order of a program.
SLOT_FRAME, SLOT_WARPS, SLOT_FIELD1, SLOT_FIELD2, SLOT_COMBINE, SLOT_SHAPING, SLOT_COLOUR = 0, (1, 2, 3), 4, 5, 6, 7, 8
N_SLOTS = 9
# Probability that warp slot 1, 2, 3 holds a warp rather than "none".
WARP_PROBABILITY = (0.9, 0.6, 0.35)
SECOND_FIELD_PROBABILITY = 0.5

# Category search (see category_programs): test renders and acceptance thresholds.
TEST_SIZE = 64
TEST_TIMES = (1.5, 6.5)
MIN_CONTRAST = 0.04
MAX_ROUGHNESS = 1.0
MAX_ATTEMPTS = 16

NOISE_TEXTURE = 256  # texels per period of the shared noise texture
NOISE_PERIOD = 8.0  # noise features per texture period (one feature ~ one coordinate unit)


class ShaderPrograms(NamedTuple):
    """A batch of programs: op per slot and the slots' parameters."""

    ops: torch.Tensor  # [B, N_SLOTS] int64, index into the slot's op list (WARPS, FIELDS, ...)
    cont: torch.Tensor  # [B, N_SLOTS, N_CONTINUOUS] float32 in [0, 1]
    ints: torch.Tensor  # [B, N_SLOTS, N_INTEGER] float32 in [0, 1)


def category_generator(category: int, *, attempt: int = 0, category_seed: int = 0) -> torch.Generator:
    """The CPU generator that draws candidate program ``attempt`` of category ``category``."""
    if category < 0 or attempt < 0:
        raise ValueError(f"category and attempt must be non-negative ints, got {category!r}, {attempt!r}")
    return torch.Generator().manual_seed(0x5A_DE25 + 1_000_003 * category_seed + 1009 * category + attempt)


def draw_program(category: int, *, attempt: int = 0, category_seed: int = 0) -> ShaderPrograms:
    """Candidate program ``attempt`` of a category, as a batch of one (no acceptance test)."""
    g = category_generator(category, attempt=attempt, category_seed=category_seed)
    cont = torch.rand(1, N_SLOTS, N_CONTINUOUS, generator=g)
    ints = torch.rand(1, N_SLOTS, N_INTEGER, generator=g)
    gates = torch.rand(5, generator=g)
    pick = torch.rand(7, generator=g)
    ops = torch.zeros(1, N_SLOTS, dtype=torch.int64)
    for i, slot in enumerate(SLOT_WARPS):
        if gates[i] < WARP_PROBABILITY[i]:
            ops[0, slot] = 1 + int(pick[i] * (len(WARPS) - 1))
    ops[0, SLOT_FIELD1] = 1 + int(pick[3] * (len(FIELDS) - 1))
    if gates[3] < SECOND_FIELD_PROBABILITY:
        ops[0, SLOT_FIELD2] = 1 + int(pick[4] * (len(FIELDS) - 1))
        ops[0, SLOT_COMBINE] = 1 + int(pick[5] * (len(COMBINES) - 1))
    ops[0, SLOT_SHAPING] = int(pick[6] * len(SHAPINGS))
    return ShaderPrograms(ops, cont, ints)


def program_quality(programs: ShaderPrograms) -> tuple[torch.Tensor, torch.Tensor]:
    """``(contrast, roughness)`` of each program ``[B]``, worst over the test renders.

    Test renders: :data:`TEST_SIZE` px at each time in :data:`TEST_TIMES`, on the CPU (so the
    verdict does not depend on the device). Contrast is the std of the luma; roughness is the mean
    absolute difference of neighbouring pixels over that std (about 1.1 for pixel noise, well
    under 1 for patterns with visible structure at that size).
    """
    from workbench.patterns.convert import to_grey

    contrast, roughness = [], []
    for t in TEST_TIMES:
        img = evaluate(programs, torch.full((len(programs.ops),), t), size=TEST_SIZE, device=torch.device("cpu"))
        luma = to_grey(img)[:, 0]
        std = luma.std(dim=(1, 2))
        step = 0.5 * ((luma[:, :, 1:] - luma[:, :, :-1]).abs().mean(dim=(1, 2))
                      + (luma[:, 1:] - luma[:, :-1]).abs().mean(dim=(1, 2)))
        contrast.append(std)
        roughness.append(step / std.clamp_min(1e-6))
    return torch.stack(contrast).amin(dim=0), torch.stack(roughness).amax(dim=0)


_PROGRAMS: dict[tuple[int, int], ShaderPrograms] = {}


def category_programs(categories: int | list[int] | torch.Tensor = NUM_CATEGORIES, *,
                      category_seed: int = 0) -> ShaderPrograms:
    """Programs of the given categories (an int ``num`` means ``0..num-1``), batched in that order.

    Category ``k``'s program is its first candidate (attempt 0, 1, ...) whose test renders have
    contrast >= :data:`MIN_CONTRAST` and roughness <= :data:`MAX_ROUGHNESS` (so no category is a
    flat colour or pixel noise; after :data:`MAX_ATTEMPTS` the last candidate is kept). The
    search depends only on ``k`` and ``category_seed`` and is memoised, so it is paid once per
    category, on first use.
    """
    if isinstance(categories, int):
        if categories < 1:
            raise ValueError(f"number of categories must be >= 1, got {categories}")
        categories = list(range(categories))
    wanted = [int(c) for c in (categories.tolist() if isinstance(categories, torch.Tensor) else categories)]
    pending = sorted({c for c in wanted if (category_seed, c) not in _PROGRAMS})
    for attempt in range(MAX_ATTEMPTS):
        if not pending:
            break
        candidates = [draw_program(c, attempt=attempt, category_seed=category_seed) for c in pending]
        contrast, roughness = program_quality(ShaderPrograms(*(torch.cat(p) for p in zip(*candidates))))
        ok = ((contrast >= MIN_CONTRAST) & (roughness <= MAX_ROUGHNESS)).tolist()
        rejected = []
        for c, prog, good in zip(pending, candidates, ok):
            if good or attempt == MAX_ATTEMPTS - 1:
                _PROGRAMS[(category_seed, c)] = prog
            else:
                rejected.append(c)
        pending = rejected
    return ShaderPrograms(*(torch.cat(p) for p in zip(*(_PROGRAMS[(category_seed, c)] for c in wanted))))


def describe(programs: ShaderPrograms, index: int = 0) -> str:
    """Structure of program ``index`` as text, e.g. ``"kaleidoscope > fold | rings multiply fbm | bands"``."""
    ops = programs.ops[index].tolist()
    warps = [WARPS[ops[s]] for s in SLOT_WARPS if ops[s]] or ["none"]
    field = FIELDS[ops[SLOT_FIELD1]]
    if ops[SLOT_FIELD2]:
        field += f" {COMBINES[ops[SLOT_COMBINE]]} {FIELDS[ops[SLOT_FIELD2]]}"
    return f"{' > '.join(warps)} | {field} | {SHAPINGS[ops[SLOT_SHAPING]]}"


# ----------------------------------------------------------------------------------------------
# Noise


@lru_cache(maxsize=4)
def _noise_texture(device: torch.device) -> torch.Tensor:
    """Smooth periodic noise, ``[1, 1, T + 1, T + 1]`` (last row/column repeat the first), std 1.

    Gaussian-filtered white noise made in the Fourier domain from a fixed seed: it is a constant of
    the generator, like a GLSL shader's noise texture, not part of any instance's randomness.
    """
    n = NOISE_TEXTURE
    white = torch.randn(n, n, generator=torch.Generator().manual_seed(1234), dtype=torch.float64)
    freq = torch.fft.fftfreq(n, d=1.0 / n, dtype=torch.float64)  # cycles per period
    radius = torch.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2)
    gain = torch.exp(-0.5 * (radius / NOISE_PERIOD) ** 2)
    gain[0, 0] = 0.0
    tex = torch.fft.ifft2(torch.fft.fft2(white) * gain).real
    tex = (tex - tex.mean()) / tex.std()
    tex = torch.cat((tex, tex[:1]), 0)
    tex = torch.cat((tex, tex[:, :1]), 1)
    return tex.float()[None, None].to(device)


def noise(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Smooth value noise at ``(x, y)`` (any equal shapes), mean 0, std about 1, one feature per unit."""
    tex = _noise_texture(x.device)
    # align_corners=True puts texel i at -1 + 2 i / T; the texture repeats every NOISE_PERIOD units.
    grid = torch.stack((x, y), dim=-1).mul_(2.0 / NOISE_PERIOD)
    grid = torch.remainder(grid, 2.0).sub_(1.0)
    shape = x.shape
    out = F.grid_sample(tex, grid.reshape(1, -1, shape[-1], 2), mode="bilinear", padding_mode="border",
                        align_corners=True)
    return out.view(shape)


def fbm(x: torch.Tensor, y: torch.Tensor, *, octaves: torch.Tensor, gain: torch.Tensor,
        ridged: torch.Tensor | None = None) -> torch.Tensor:
    """Fractal sum of :func:`noise` octaves (frequency x2 and a fixed rotation per octave).

    ``octaves [B, 1, 1]`` (float counts), ``gain [B, 1, 1]``; ``ridged [B, 1, 1]`` bool turns
    each octave into ``0.6 - |n|`` ridges. Output roughly in [-1, 1].
    """
    total = torch.zeros_like(x)
    amp = torch.ones_like(gain)
    norm = torch.zeros_like(gain)
    c, s = math.cos(0.9), math.sin(0.9)
    for o in range(int(octaves.max())):
        on = (octaves > o).float()
        n = noise(x, y)
        if ridged is not None:
            n = torch.where(ridged, 0.6 - n.abs(), n)
        total += (amp * on) * n
        norm += amp * on
        amp = amp * gain
        x, y = 2.0 * (c * x - s * y) + 17.3, 2.0 * (s * x + c * y) - 5.1
    return total / norm.clamp_min(1e-6) * 0.6


# ----------------------------------------------------------------------------------------------
# Ops. Each gets the coordinates x, y [b, H, W], the orbit trap [b, H, W], the slot's
# parameters u [b, 16] and k [b, 4] (uniforms) and time t [b]. Helpers read a parameter as a
# [b, 1, 1] tensor mapped to its range.


def _p(u: torch.Tensor, i: int, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    return (lo + (hi - lo) * u[:, i]).view(-1, 1, 1)


def _count(k: torch.Tensor, i: int, lo: int, hi: int) -> torch.Tensor:
    """Integer in ``lo..hi`` from a uniform, as a float ``[b, 1, 1]``."""
    return (lo + torch.floor(k[:, i] * (hi - lo + 1))).view(-1, 1, 1)


def _tt(t: torch.Tensor) -> torch.Tensor:
    return t.view(-1, 1, 1)


def _rotate(x: torch.Tensor, y: torch.Tensor, angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    c, s = torch.cos(angle), torch.sin(angle)
    return c * x - s * y, s * x + c * y


Tensors3 = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def warp_rotate(x, y, trap, u, k, t) -> Tensors3:
    """Rotation spinning with time and a pulsing zoom."""
    angle = _p(u, 0, 0, 2 * math.pi) + _p(u, 1, -1, 1) * _tt(t)
    zoom = 1 + _p(u, 2, 0, 0.3) * torch.sin(_tt(t) * _p(u, 3, 0.5, 2.5))
    x, y = _rotate(x, y, angle)
    return x * zoom, y * zoom, trap


def warp_polar(x, y, trap, u, k, t) -> Tensors3:
    """(angle, radius) as new coordinates; log-radius for half the programs (tunnels, spirals)."""
    r = torch.hypot(x, y).clamp_min_(1e-6)
    theta = torch.atan2(y, x)
    repeats = _count(k, 0, 1, 4)
    log_polar = (k[:, 1] < 0.5).view(-1, 1, 1)
    radial = torch.where(log_polar, torch.log(r) * _p(u, 0, 0.5, 2.0), r * _p(u, 1, 0.5, 3.0))
    return theta * (repeats / math.pi), radial - _p(u, 2, -0.6, 0.6) * _tt(t) + _p(u, 3, -1, 1), trap


def warp_kaleidoscope(x, y, trap, u, k, t) -> Tensors3:
    """Mirror the plane into ``n`` wedges (3..12)."""
    r = torch.hypot(x, y).clamp_min_(1e-6)
    wedge = (2 * math.pi) / _count(k, 0, 3, 12)
    theta = torch.atan2(y, x) + _p(u, 0, 0, 2 * math.pi) + _p(u, 1, -0.5, 0.5) * _tt(t)
    theta = (torch.remainder(theta, wedge) - wedge / 2).abs_()
    return r * torch.cos(theta) - _p(u, 2, 0, 0.6), r * torch.sin(theta), trap


def warp_sine(x, y, trap, u, k, t) -> Tensors3:
    """Iterated sine distortion (1..3 rounds, frequency x1.6 per round)."""
    rounds = _count(k, 0, 1, 3)
    amp, freq, speed = _p(u, 0, 0.1, 0.6), _p(u, 1, 1.0, 4.0), _p(u, 2, -1.5, 1.5)
    for i in range(int(rounds.max())):
        a = amp * (rounds > i).float()
        x = x + a * torch.sin(freq * y + speed * _tt(t) + _p(u, 3 + i, 0, 2 * math.pi))
        y = y + a * torch.sin(freq * x - 0.7 * speed * _tt(t) + _p(u, 7 + i, 0, 2 * math.pi))
        freq, amp = freq * 1.6, amp / 1.4
    return x, y, trap


def warp_noise(x, y, trap, u, k, t) -> Tensors3:
    """Domain warping: ``p += a * (fbm(f p + o1), fbm(f p + o2))``, drifting with time."""
    freq, amp = _p(u, 0, 0.4, 2.0), _p(u, 1, 0.3, 1.5)
    drift = _p(u, 2, -0.4, 0.4) * _tt(t)
    octaves = _count(k, 0, 1, 3)
    gain = torch.full_like(amp, 0.5)
    fx, fy = freq * x, freq * y
    dx = fbm(fx + drift + _p(u, 3, 0, 8), fy + _p(u, 4, 0, 8), octaves=octaves, gain=gain)
    dy = fbm(fx + _p(u, 5, 0, 8), fy - drift + _p(u, 6, 0, 8), octaves=octaves, gain=gain)
    return x + amp * dx, y + amp * dy, trap


def warp_fold(x, y, trap, u, k, t) -> Tensors3:
    """Kaleidoscopic IFS: 2..6 rounds of abs-fold, shift, rotate, scale; keeps an orbit trap."""
    rounds = _count(k, 0, 2, 6)
    shift_x, shift_y = _p(u, 0, 0.1, 1.0), _p(u, 1, 0.0, 1.0)
    angle = _p(u, 2, 0, math.pi) + _p(u, 3, -0.3, 0.3) * _tt(t)
    scale = _p(u, 4, 1.15, 1.8)
    c, s = torch.cos(angle), torch.sin(angle)
    factor = torch.ones_like(scale)
    for i in range(int(rounds.max())):
        on = rounds > i
        fx, fy = x.abs() - shift_x, y.abs() - shift_y
        fx, fy = scale * (c * fx - s * fy), scale * (s * fx + c * fy)
        factor = torch.where(on, factor * scale, factor)
        x, y = torch.where(on, fx, x), torch.where(on, fy, y)
        trap = torch.minimum(trap, torch.where(on, torch.hypot(x, y) / factor, trap))
    # Undo the growth so later stages see coordinates of the usual size.
    return x / factor, y / factor, trap


def warp_repeat(x, y, trap, u, k, t) -> Tensors3:
    """Tile the plane (``fract``); mirrored tiles (triangle waves) for half the programs."""
    cell = _p(u, 0, 0.4, 2.0)
    x = torch.remainder(x + _p(u, 1, 0, 1) * _tt(t) * 0.2, cell) - cell / 2
    y = torch.remainder(y, cell) - cell / 2
    mirrored = (k[:, 0] < 0.5).view(-1, 1, 1)
    return torch.where(mirrored, x.abs(), x) * (2 / cell), torch.where(mirrored, y.abs(), y) * (2 / cell), trap


def warp_swirl(x, y, trap, u, k, t) -> Tensors3:
    """Rotate by an angle growing with radius (a twirl), turning with time."""
    r = torch.hypot(x, y).clamp_min_(1e-6)
    angle = _p(u, 0, -3, 3) * r + _p(u, 1, -0.8, 0.8) * _tt(t)
    x, y = _rotate(x, y, angle)
    return x, y, trap


def warp_mirror(x, y, trap, u, k, t) -> Tensors3:
    """Fold about one or both axes, then shift and rotate."""
    x = x.abs() - _p(u, 0, 0, 0.8)
    both = (k[:, 0] < 0.5).view(-1, 1, 1)
    y = torch.where(both, y.abs() - _p(u, 1, 0, 0.8), y)
    return (*_rotate(x, y, _p(u, 2, 0, 2 * math.pi) + _p(u, 3, -0.4, 0.4) * _tt(t)), trap)


def field_fbm(x, y, trap, u, k, t) -> torch.Tensor:
    freq = _p(u, 0, 0.4, 1.5)
    drift = _p(u, 1, -0.5, 0.5) * _tt(t)
    ridged = (k[:, 1] < 0.35).view(-1, 1, 1)
    v = fbm(freq * x + drift, freq * y + _p(u, 2, -0.3, 0.3) * _tt(t), octaves=_count(k, 0, 2, 4),
            gain=_p(u, 3, 0.4, 0.65), ridged=ridged)
    return 0.5 + v


def field_rings(x, y, trap, u, k, t) -> torch.Tensor:
    """Concentric rings in a Euclidean, Chebyshev (squares) or Manhattan (diamonds) norm."""
    norm = k[:, 0].view(-1, 1, 1)
    r = torch.where(norm < 0.5, torch.hypot(x, y),
                    torch.where(norm < 0.75, torch.maximum(x.abs(), y.abs()), x.abs() + y.abs()))
    return 0.5 + 0.5 * torch.sin(_p(u, 0, 2, 16) * r - _p(u, 1, -4, 4) * _tt(t) + _p(u, 2, 0, 6.3))


def field_plasma(x, y, trap, u, k, t) -> torch.Tensor:
    """Sum of four moving sine waves (the classic plasma)."""
    tt = _tt(t)
    v = torch.sin(_p(u, 0, 1, 10) * x + _p(u, 1, -2, 2) * tt)
    v = v + torch.sin(_p(u, 2, 1, 10) * y + _p(u, 3, -2, 2) * tt)
    angle = _p(u, 4, 0, math.pi)
    v = v + torch.sin(_p(u, 5, 1, 10) * (x * torch.cos(angle) + y * torch.sin(angle)) + _p(u, 6, -2, 2) * tt)
    cx, cy = x + _p(u, 7, -1, 1), y + _p(u, 8, -1, 1)
    v = v + torch.sin(_p(u, 9, 1, 10) * torch.hypot(cx, cy) + _p(u, 10, -2, 2) * tt)
    return 0.5 + v / 8


def field_stripes(x, y, trap, u, k, t) -> torch.Tensor:
    """Parallel stripes as a sawtooth (``fract``) or triangle wave."""
    angle = _p(u, 0, 0, math.pi)
    s = _p(u, 1, 1, 8) * (x * torch.cos(angle) + y * torch.sin(angle)) + _p(u, 2, -1, 1) * _tt(t)
    saw = s - torch.floor(s)
    return torch.where((k[:, 0] < 0.5).view(-1, 1, 1), saw, (2 * saw - 1).abs())


def field_shape_glow(x, y, trap, u, k, t) -> torch.Tensor:
    """Glowing outline ``w / (|d| + w)`` of a circle, square, diamond or cross (distance ``d``)."""
    shape = k[:, 0].view(-1, 1, 1)
    radius = _p(u, 0, 0.2, 1.0) * (1 + 0.3 * torch.sin(_p(u, 1, 0.5, 3) * _tt(t)))
    circle = torch.hypot(x, y) - radius
    square = torch.maximum(x.abs(), y.abs()) - radius
    diamond = (x.abs() + y.abs()) * 0.7071 - radius
    cross = torch.minimum(x.abs(), y.abs())
    d = torch.where(shape < 0.35, circle, torch.where(shape < 0.6, square, torch.where(shape < 0.85, diamond, cross)))
    w = _p(u, 2, 0.005, 0.08)
    return w / (d.abs() + w)


def field_orbit_trap(x, y, trap, u, k, t) -> torch.Tensor:
    """Colour by the orbit trap of earlier folds (or the distance to the origin without folds)."""
    d = torch.minimum(trap, torch.hypot(x, y))
    banded = (k[:, 0] < 0.5).view(-1, 1, 1)
    return torch.where(banded, 0.5 + 0.5 * torch.cos(_p(u, 0, 3, 16) * d - _p(u, 1, -3, 3) * _tt(t)),
                       torch.exp(-_p(u, 2, 1, 8) * d))


def field_checker(x, y, trap, u, k, t) -> torch.Tensor:
    """Smooth checkerboard ``tanh(s sin(fx) sin(fy))``, scrolling with time."""
    f = _p(u, 0, 2, 8)
    v = torch.sin(f * x + _p(u, 1, -2, 2) * _tt(t)) * torch.sin(f * y + _p(u, 2, -2, 2) * _tt(t))
    return 0.5 + 0.5 * torch.tanh(_p(u, 3, 1, 20) * v)


def _hash(cx: torch.Tensor, cy: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """The classic GLSL ``fract(sin(dot(c, (a, b))) * 43758.5453)`` cell hash."""
    h = torch.sin(cx * a + cy * b) * 43758.5453
    return h - torch.floor(h)


def field_cells(x, y, trap, u, k, t) -> torch.Tensor:
    """Voronoi cells with moving feature points: distance to the nearest one (F1) or 1 - F1."""
    f = _p(u, 0, 1, 4)
    px, py = x * f, y * f
    cx, cy = torch.floor(px), torch.floor(py)
    fx, fy = px - cx, py - cy
    phase = _p(u, 1, 0.2, 2.0) * _tt(t)
    best = torch.full_like(x, 8.0)
    for ox in (-1.0, 0.0, 1.0):
        for oy in (-1.0, 0.0, 1.0):
            hx, hy = _hash(cx + ox, cy + oy, 127.1, 311.7), _hash(cx + ox, cy + oy, 269.5, 183.3)
            dx = ox + 0.5 + 0.5 * torch.sin(phase + 2 * math.pi * hx) - fx
            dy = oy + 0.5 + 0.5 * torch.sin(phase + 2 * math.pi * hy) - fy
            best = torch.minimum(best, dx * dx + dy * dy)
    d = torch.sqrt(best)
    return torch.where((k[:, 0] < 0.5).view(-1, 1, 1), d, 1 - d)


def field_none(x, y, trap, u, k, t) -> torch.Tensor:
    return torch.zeros_like(x)


def combine_multiply(v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
    return v1 * v2 * 1.5


def combine_mean(v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
    return 0.5 * (v1 + v2)


def combine_difference(v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
    return (v1 - v2).abs() * 1.5


def combine_offset(v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
    """The second field shifts the first's palette position."""
    return v1 + 0.5 * v2


def shape_bands(v, u, k, t) -> torch.Tensor:
    s = v * _count(k, 0, 2, 5)
    return s - torch.floor(s)


def shape_sine_bands(v, u, k, t) -> torch.Tensor:
    return 0.5 + 0.5 * torch.sin(2 * math.pi * _p(u, 0, 1, 3) * v + _p(u, 1, -2, 2) * _tt(t))


def shape_isolines(v, u, k, t) -> torch.Tensor:
    """Glowing level lines ``w / (d + w)``, ``d`` the distance to the nearest of 2..6 levels."""
    s = v * _count(k, 0, 2, 6)
    d = (s - torch.floor(s) - 0.5).abs()
    w = _p(u, 2, 0.02, 0.15)
    return w / (d + w)


def shape_threshold(v, u, k, t) -> torch.Tensor:
    e = ((v - _p(u, 3, 0.3, 0.7)) / _p(u, 4, 0.02, 0.4) + 0.5).clamp(0, 1)
    return e * e * (3 - 2 * e)  # smoothstep


def shape_power(v, u, k, t) -> torch.Tensor:
    return v.clamp(0, 1).pow(torch.exp(_p(u, 5, -1.2, 1.2)))


# Op tables in the order of the name tuples; None passes its inputs through unchanged.
_WARP_FNS = (None, warp_rotate, warp_polar, warp_kaleidoscope, warp_sine, warp_noise, warp_fold, warp_repeat,
             warp_swirl, warp_mirror)
_FIELD_FNS = (field_none, field_fbm, field_rings, field_plasma, field_stripes, field_shape_glow, field_orbit_trap,
              field_checker, field_cells)
_COMBINE_FNS = (lambda v1, v2: v1, combine_multiply, combine_mean, torch.maximum, combine_difference,
                combine_offset)
_SHAPING_FNS = (None, shape_bands, shape_sine_bands, shape_isolines, shape_threshold, shape_power)
assert len(_WARP_FNS) == len(WARPS) and len(_FIELD_FNS) == len(FIELDS)
assert len(_COMBINE_FNS) == len(COMBINES) and len(_SHAPING_FNS) == len(SHAPINGS)


def _dispatch(op_ids: torch.Tensor, fns: tuple, inputs: tuple[torch.Tensor, ...],
              *params: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Run ``fns[op](*inputs, *params)`` once per op present in ``op_ids [B]``, on its images.

    ``inputs`` and ``params`` have leading dim ``B``; returns the outputs reassembled in batch
    order (a tuple even when the op returns one tensor).
    """
    def run(fn, ins: tuple[torch.Tensor, ...], pars: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        if fn is None:
            return ins
        out = fn(*ins, *pars)
        return out if isinstance(out, tuple) else (out,)

    present = torch.unique(op_ids).tolist()
    if len(present) == 1:
        return run(fns[present[0]], inputs, params)
    outs: list[torch.Tensor] = []
    for op in present:
        idx = (op_ids == op).nonzero().squeeze(1)
        res = run(fns[op], tuple(x[idx] for x in inputs), tuple(p[idx] for p in params))
        if not outs:
            outs = [torch.empty((len(op_ids), *r.shape[1:]), dtype=r.dtype, device=r.device) for r in res]
        for o, r in zip(outs, res):
            o.index_copy_(0, idx, r)
    return tuple(outs)


def evaluate(programs: ShaderPrograms, t: torch.Tensor, *, size: int, device: torch.device) -> torch.Tensor:
    """Render ``programs`` (batch ``B``) at times ``t [B]``: RGB ``[B, 3, size, size]`` in [0, 1].

    Pixel ``(i, j)`` samples ``uv = ((j + 0.5) / size * 2 - 1, 1 - (i + 0.5) / size * 2)``: y up,
    like ``gl_FragCoord``. Each image's result does not depend on the rest of the batch.
    """
    ops = programs.ops.to(device)
    cont, ints, t = programs.cont.to(device), programs.ints.to(device), t.to(device=device, dtype=torch.float32)
    axis = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) / size * 2 - 1
    u, tt = cont[:, SLOT_FRAME], _tt(t)
    zoom = torch.exp(_p(u, 0, math.log(0.6), math.log(3.0)))
    angle = _p(u, 1, 0, 2 * math.pi) + _p(u, 2, -0.3, 0.3) * tt
    x, y = _rotate(axis.view(1, 1, -1) * zoom, -axis.view(1, -1, 1) * zoom, angle)  # [B, H, W]
    x = x + (_p(u, 3, -1, 1) + _p(u, 4, -0.2, 0.2) * tt)
    y = y + (_p(u, 5, -1, 1) + _p(u, 6, -0.2, 0.2) * tt)
    trap = torch.full_like(x, 1e4)  # orbit trap of the folds; "far" until a fold runs

    for slot in SLOT_WARPS:
        x, y, trap = _dispatch(ops[:, slot], _WARP_FNS, (x, y, trap), cont[:, slot], ints[:, slot], t)
    (v1,) = _dispatch(ops[:, SLOT_FIELD1], _FIELD_FNS, (x, y, trap), cont[:, SLOT_FIELD1], ints[:, SLOT_FIELD1], t)
    (v2,) = _dispatch(ops[:, SLOT_FIELD2], _FIELD_FNS, (x, y, trap), cont[:, SLOT_FIELD2], ints[:, SLOT_FIELD2], t)
    (value,) = _dispatch(ops[:, SLOT_COMBINE], _COMBINE_FNS, (v1, v2))
    (value,) = _dispatch(ops[:, SLOT_SHAPING], _SHAPING_FNS, (value,), cont[:, SLOT_SHAPING],
                         ints[:, SLOT_SHAPING], t)
    return _colour(value, cont[:, SLOT_COLOUR], ints[:, SLOT_COLOUR], t, axis)


def _colour(v: torch.Tensor, u: torch.Tensor, k: torch.Tensor, t: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    """Cosine palette ``a + b cos(2 pi (c v + d))`` per channel, with brightness modes."""
    a = (0.5 + (u[:, 0:3] - 0.5) * 0.4)[..., None, None]  # [B, 3, 1, 1]
    amp = (u[:, 3:6] * 0.35 + 0.2)[..., None, None]
    freq = (u[:, 6:7] * 1.2 + 0.4) * (1 + (u[:, 7:10] - 0.5) * 0.6)
    phase = u[:, 10:13] + (u[:, 13:14] * 0.3 - 0.15) * t[:, None]
    rgb = torch.addcmul((2 * math.pi * phase)[..., None, None], v[:, None], (2 * math.pi * freq)[..., None, None])
    rgb = torch.addcmul(a, amp, rgb.cos_())  # [B, 3, H, W]
    # Brightness: glow-on-black programs multiply by the field, others get a vignette of random
    # strength (zero for a third of them).
    mode = k[:, 0].view(-1, 1, 1, 1)
    strength = torch.where((mode >= 0.3) & (mode < 0.6), 0.35 * u[:, 14].view(-1, 1, 1, 1), 0.0)
    vignette = 1 - strength * (axis.view(1, 1, 1, -1) ** 2 + axis.view(1, 1, -1, 1) ** 2)
    light = torch.where(mode < 0.3, v[:, None].clamp(0, 1.5), vignette)
    return rgb.mul_(light).clamp_(0.0, 1.0)


def shaders(n: int, *, size: int, generator: torch.Generator, device: torch.device,
            num_categories: int = NUM_CATEGORIES, category_seed: int = 0) -> PatternBatch:
    """``n`` random Shaders1k-style images, RGB ``[n, 3, size, size]`` in [0, 1], labels = program."""
    if num_categories < 1:
        raise ValueError(f"num_categories must be >= 1, got {num_categories}")
    labels = torch.randint(0, num_categories, (n,), generator=generator)
    t = TIME_RANGE[0] + (TIME_RANGE[1] - TIME_RANGE[0]) * torch.rand(n, generator=generator)
    jitter = torch.randn(n, N_SLOTS, N_CONTINUOUS, generator=generator) * JITTER
    table = category_programs(labels, category_seed=category_seed)
    programs = ShaderPrograms(table.ops, (table.cont + jitter).clamp(0.0, 1.0), table.ints)
    return PatternBatch(evaluate(programs, t, size=size, device=device), labels)


register_pattern(
    "shaders1k", family="shaders", paper_id="o", native_size=NATIVE_SIZE, num_classes=NUM_CATEGORIES,
    aliases=("shaders",),
    description="Shaders1k stand-in: 1,000 random procedural fragment-shader programs (warps, folds, "
                "noise, periodic fields, cosine palettes) evaluated with torch at t ~ U(0.1, 10) s.",
)(shaders)
