"""(m-n) Feature visualisations of a convnet's pooled units (Baradad et al., 2021).

The reference (mbaradad/learning_with_noise ``generate_datasets/feature_visualizations``, built on
lucent) optimises 256 px images so that units of a ResNet-50's globally pooled 2048-d features
fire: first one unit per image, then the mean of unit pairs ``(i, j), i < j`` in order, the list
shuffled. Each image is Fourier-parameterised with colour decorrelation and a sigmoid, optimised
by Adam (lr 0.05, 128 steps, batch 64) through lucent's robustness transforms (pad 12 with grey,
jitter 8, scale 0.9-1.1, rotate -10..10 deg, jitter 4), ImageNet normalisation and a resize back
to the render size. Our code is written from scratch and follows those facts, with a small
network because a ResNet-50 is far too slow on a CPU and no weights can be downloaded:

* :class:`FeatureNet`: a ResNet-style convnet (stem conv + max-pool, four stages of basic residual
  blocks, BatchNorm, global average pool), :data:`WIDTHS` = (16, 32, 64, 128), so 128 pooled
  units. torchvision-style init (Kaiming normal, fan-out), eval mode (BatchNorm uses its running
  statistics).
* (m) ``featvis_random``: the network at random initialisation (seed :data:`NETWORK_SEED`).
* (n) ``featvis_dead_leaves``: the same network first trained by :func:`train_contrastive`, a
  SimCLR-style objective (two augmented views per image, NT-Xent with temperature 0.2, MoCo-v2
  augmentations: random resized crop 0.2-1, colour jitter 0.4/0.4/0.4/0.1 with p 0.8, greyscale
  p 0.2, Gaussian blur p 0.5, horizontal flip) on our own ``dead_leaves_mixed`` images. This is
  the stand-in for the reference's MoCo-v2 ResNet-50 trained on dead leaves: a much smaller
  network trained briefly (:data:`TRAIN_STEPS` steps of :data:`TRAIN_BATCH` images at
  :data:`TRAIN_SIZE` px). The weights are cached under
  ``workbench.files.cache_dir() / "feature_vis"``.

Feature visualisation is slow (every image is an optimisation), so both sources are served from a
pool: :func:`build_pool` renders :func:`pool_size` images once (tqdm progress bar; the location is
printed) and caches them as uint8; the registered functions then draw deterministically from the
pool with a random horizontal flip and a random crop (side 80-100%, resized back), so a stream is
not just repeats. The pool size is :data:`POOL_SIZE` = 1024 unless ``$WORKBENCH_POOL_SIZE`` or the
``pool_size`` keyword says otherwise; ``$WORKBENCH_FEATVIS_STEPS``,
``$WORKBENCH_FEATVIS_TRAIN_STEPS`` and ``$WORKBENCH_FEATVIS_TRAIN_IMAGES`` override the
optimisation steps, training steps and training-set size (tests use tiny values).

Deviations, stated: native size 128 px (the reference 256); :data:`STEPS` = 48 optimisation
steps (the reference 128) and a 128-unit network, so a 1024-image pool costs ~5 CPU-minutes
(~150 image-steps/s per core); transform distances scaled by size / 256; each image
gets its own random transform each step (lucent draws one per batch).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from workbench.files import atomic_torch_save, cache_dir
from workbench.patterns.registry import PatternBatch, is_registered, register_pattern
from workbench.patterns.render import render

NATIVE_SIZE = 128
WIDTHS = (16, 32, 64, 128)
POOL_SIZE = 1024
POOL_SEED = 0
NETWORK_SEED = 0
STEPS = 48
LEARNING_RATE = 0.05
OPT_BATCH = 16
FOURIER_SD = 0.01
DECAY_POWER = 1.0
LEAK = 0.01
TRAIN_STEPS = 300
TRAIN_BATCH = 64
TRAIN_SIZE = 64
TRAIN_IMAGES = 2048
TRAIN_LR = 2e-3
TEMPERATURE = 0.2
CROP_SCALE = (0.64, 1.0)  # area fraction of the serving crop (side 80-100%)
DEAD_LEAVES_NAME = "dead_leaves_mixed"
SOURCES = ("random", "dead_leaves")

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Square root of ImageNet's colour correlation (lucid/lucent), columns scaled to max norm 1 below.
COLOUR_CORRELATION_SQRT = ((0.26, 0.09, 0.02), (0.27, 0.00, -0.05), (0.27, -0.09, 0.03))

_POOLS: dict[Path, torch.Tensor] = {}


# ----------------------------------------------------------------------------------------------
# The network


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1-conv) shortcut, ReLU after the sum."""

    def __init__(self, cin: int, cout: int, *, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        """The residual sum before the block's final ReLU."""
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return y + (x if self.shortcut is None else self.shortcut(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.pre_activation(x))


class FeatureNet(nn.Module):
    """Small ResNet: ``x [N, 3, H, W]`` (ImageNet-normalised) -> pooled features ``[N, widths[-1]]``.

    Stem: 3x3 conv stride 2 + BN + ReLU + 3x3 max-pool stride 2 (ResNet's /4 stem); then one basic
    block per width, the first at stride 1 and the others at stride 2; global average pool.
    """

    def __init__(self, *, widths: tuple[int, ...] = WIDTHS, seed: int = NETWORK_SEED) -> None:
        super().__init__()
        if not widths or any(w < 1 for w in widths):
            raise ValueError(f"widths must be positive ints, got {widths!r}")
        self.widths = tuple(widths)
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))
        blocks, cin = [], widths[0]
        for k, w in enumerate(widths):
            blocks.append(BasicBlock(cin, w, stride=1 if k == 0 else 2))
            cin = w
        self.blocks = nn.Sequential(*blocks)
        self.reset_parameters(seed)

    @property
    def num_units(self) -> int:
        return self.widths[-1]

    def reset_parameters(self, seed: int) -> None:
        """torchvision's ResNet init (Kaiming normal, fan-out, ReLU gain) from a seeded generator."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                    m.weight.copy_(torch.randn(m.weight.shape, generator=g) * math.sqrt(2.0 / fan_out))
                elif isinstance(m, nn.BatchNorm2d):
                    m.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.stem(x)).mean(dim=(2, 3))

    def pooled(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(features, pre)``: the pooled features ``[N, units]`` (as :meth:`forward`) and the
        pooled pre-activations of the last ReLU ``[N, units]``."""
        h = self.blocks[:-1](self.stem(x))
        pre = self.blocks[-1].pre_activation(h)
        return F.relu(pre).mean(dim=(2, 3)), pre.mean(dim=(2, 3))

    def folded(self) -> "FeatureNet":
        """A frozen eval-mode copy with every BatchNorm folded into the conv before it (same
        outputs as ``self.eval()``, fewer ops: used for the many forward/backward passes of
        feature visualisation)."""
        import copy

        net = copy.deepcopy(self).eval()
        pairs = [(net.stem, 0, 1)] + [(b, None, None) for b in net.blocks]
        with torch.no_grad():
            for owner, ci, bi in pairs:
                if ci is not None:
                    owner[ci], owner[bi] = _fold(owner[ci], owner[bi]), nn.Identity()
                    continue
                owner.conv1, owner.bn1 = _fold(owner.conv1, owner.bn1), nn.Identity()
                owner.conv2, owner.bn2 = _fold(owner.conv2, owner.bn2), nn.Identity()
                if owner.shortcut is not None:
                    owner.shortcut = nn.Sequential(_fold(owner.shortcut[0], owner.shortcut[1]))
        for p in net.parameters():
            p.requires_grad_(False)
        return net


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """``bn(conv(x))`` in eval mode as one conv with a bias."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    out = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                    padding=conv.padding, bias=True)
    out.weight.copy_(conv.weight * scale[:, None, None, None])
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    out.bias.copy_(bn.bias + (bias - bn.running_mean) * scale)
    return out


def _imagenet_normalise(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# ----------------------------------------------------------------------------------------------
# Image parameterisation and robustness transforms


def _frequency_scale(size: int, decay_power: float, device: torch.device) -> torch.Tensor:
    """``1 / max(|f|, 1 / size)^decay`` on the rfft2 grid ``[size, size // 2 + 1]``."""
    fy = torch.fft.fftfreq(size, device=device)[:, None]
    fx = torch.fft.rfftfreq(size, device=device)[None, :]
    return 1.0 / torch.sqrt(fx ** 2 + fy ** 2).clamp_min(1.0 / size) ** decay_power


def fourier_init(n: int, size: int, *, generator: torch.Generator, sd: float = FOURIER_SD) -> torch.Tensor:
    """Initial spectrum parameters ``[n, 3, size, size // 2 + 1, 2]`` (real, imaginary) ~ N(0, sd^2)."""
    return torch.randn(n, 3, size, size // 2 + 1, 2, generator=generator) * sd


def fourier_to_image(spectrum: torch.Tensor, *, decay_power: float = DECAY_POWER) -> torch.Tensor:
    """Spectrum parameters -> RGB ``[n, 3, size, size]`` in (0, 1).

    Each channel: scale the spectrum by ``1 / f^decay`` (so every octave starts with equal energy
    and Adam's steps are not dominated by high frequencies), orthonormal inverse real FFT, divide
    by 4 (lucid's constant); then mix the channels by the square root of ImageNet's colour
    correlation (colour decorrelation) and squash with a sigmoid.
    """
    size = spectrum.shape[2]
    scale = _frequency_scale(size, decay_power, spectrum.device)
    spec = torch.view_as_complex(spectrum.contiguous()) * scale
    img = torch.fft.irfft2(spec, s=(size, size), norm="ortho") / 4.0
    mix = torch.tensor(COLOUR_CORRELATION_SQRT, device=img.device)
    mix = mix / mix.norm(dim=0).max()
    return torch.sigmoid(F.conv2d(img, mix[:, :, None, None]))


def robustness_transform(images: torch.Tensor, *, generator: torch.Generator, out_size: int) -> torch.Tensor:
    """Lucent's standard transforms, one random draw per image, as one bilinear resampling.

    Pad by 12 px with grey, translate by U{0..7} px, scale by one of 0.9, 0.92, ..., 1.1, rotate
    by one of -10..10 deg (0 five times more often), translate by U{0..3} px, resize the padded
    canvas to ``out_size``; pixel distances are quoted at 256 px and scaled with the image size.
    ``images [N, 3, S, S]`` -> ``[N, 3, out_size, out_size]``; outside the image reads grey 0.5.
    """
    n, _, s, _ = images.shape
    unit = s / 256.0
    pad = max(1, round(12 * unit))
    jit1, jit2 = max(2, round(8 * unit)), max(2, round(4 * unit))
    shift = (torch.randint(0, jit1, (n, 2), generator=generator)
             + torch.randint(0, jit2, (n, 2), generator=generator)).float()
    scales = torch.tensor([1 + (i - 5) / 50.0 for i in range(11)])
    scale = scales[torch.randint(0, len(scales), (n,), generator=generator)]
    angles = torch.tensor([float(a) for a in range(-10, 11)] + [0.0] * 5)
    angle = angles[torch.randint(0, len(angles), (n,), generator=generator)] * math.pi / 180.0
    canvas = s + 2 * pad
    k = canvas / s  # output spans the padded canvas; grid units are the image's
    t = shift * (2.0 / canvas)  # content moves by t (canvas-normalised units)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Sampling location = R(-angle) (u - t) / scale, in canvas units, then times k.
    a = torch.stack([torch.stack([cos, sin], -1), torch.stack([-sin, cos], -1)], 1) * (k / scale)[:, None, None]
    offset = -(a @ t[:, :, None])
    theta = torch.cat([a, offset], dim=2).to(images.device)
    grid = F.affine_grid(theta, [n, 3, out_size, out_size], align_corners=False)
    return F.grid_sample(images - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 0.5


# ----------------------------------------------------------------------------------------------
# Objectives and optimisation


def unit_schedule(num_units: int, count: int, *, seed: int = POOL_SEED) -> list[tuple[int, ...]]:
    """The first ``count`` objectives: every single unit, then unit pairs ``(i, j), i < j`` in
    order, the whole list shuffled (seeded), as in the reference."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    units: list[tuple[int, ...]] = [(i,) for i in range(min(num_units, count))]
    i = 0
    while len(units) < count and i < num_units:
        for j in range(i + 1, num_units):
            if len(units) >= count:
                break
            units.append((i, j))
        i += 1
    if len(units) < count:
        raise ValueError(f"{num_units} units give only {len(units)} objectives, fewer than {count}")
    order = torch.randperm(len(units), generator=torch.Generator().manual_seed(seed)).tolist()
    return [units[k] for k in order]


def unit_mask(units: list[tuple[int, ...]], num_units: int) -> torch.Tensor:
    """``[len(units), num_units]`` weights averaging each objective's units."""
    mask = torch.zeros(len(units), num_units)
    for row, js in enumerate(units):
        for j in js:
            if not 0 <= j < num_units:
                raise ValueError(f"unit {j} out of range for a network with {num_units} units")
            mask[row, j] = 1.0 / len(js)
    return mask


def visualise(net: FeatureNet, mask: torch.Tensor, *, size: int, steps: int, generator: torch.Generator,
              device: torch.device | str = "cpu", lr: float = LEARNING_RATE,
              transforms: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Optimise one image per row of ``mask [N, units]`` to maximise ``features @ mask_row``.

    Returns ``(images [N, 3, size, size] in (0, 1), objective [steps, N])``, the objective as
    measured at each step (on the transformed image when ``transforms``). Adam on the Fourier
    parameters; the network is frozen in eval mode. A unit whose ReLU is off everywhere has no
    gradient (the reference leaves such images at their grey init); we add :data:`LEAK` times its
    pooled pre-activation to the loss so it is pushed on, negligible once it fires.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = torch.device(device)
    frozen = net.folded().to(device).to(memory_format=torch.channels_last)
    n = mask.shape[0]
    mask = mask.to(device)
    spectrum = fourier_init(n, size, generator=generator).to(device).requires_grad_(True)
    opt = torch.optim.Adam([spectrum], lr=lr)
    trace = []
    for _ in range(steps):
        img = fourier_to_image(spectrum)
        if transforms:
            img = robustness_transform(img, generator=generator, out_size=size)
        x = _imagenet_normalise(img).contiguous(memory_format=torch.channels_last)
        features, pre = frozen.pooled(x)
        objective = (features * mask).sum(dim=1)  # [N]
        surrogate = objective + LEAK * (pre * mask).sum(dim=1)
        opt.zero_grad(set_to_none=True)
        # Summed, so each image's gradient does not depend on the batch size.
        (-surrogate.sum()).backward()
        opt.step()
        trace.append(objective.detach())
    with torch.no_grad():
        images = fourier_to_image(spectrum)
    return images.detach(), torch.stack(trace).cpu()


# ----------------------------------------------------------------------------------------------
# Contrastive training on dead leaves (the stand-in for MoCo v2 on dead leaves)


def _grey(x: torch.Tensor) -> torch.Tensor:
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return b + (a - b) * factor.view(-1, 1, 1, 1)


def _hue_rotate(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate the chroma of RGB ``x`` in YIQ space by ``turns`` of a full circle, per image."""
    to_yiq = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=x.device)
    from_yiq = torch.linalg.inv(to_yiq)
    c, s = torch.cos(2 * math.pi * turns), torch.sin(2 * math.pi * turns)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    rot = torch.stack([torch.stack([one, zero, zero], -1), torch.stack([zero, c, -s], -1),
                       torch.stack([zero, s, c], -1)], 1)  # [N, 3, 3]
    m = from_yiq @ rot @ to_yiq
    return torch.einsum("nij,njhw->nihw", m, x)


def _gaussian_blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with a per-image ``sigma [N]`` (px), reflect padding."""
    n, c, h, w = x.shape
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    r = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (r[None] / sigma[:, None].clamp_min(1e-3)) ** 2)
    k = (k / k.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # [N * C, K]
    y = x.reshape(1, n * c, h, w)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="reflect"), k[:, None, None, :], groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="reflect"), k[:, None, :, None], groups=n * c)
    return y.view(n, c, h, w)


def contrastive_augment(x: torch.Tensor, *, generator: torch.Generator, out_size: int) -> torch.Tensor:
    """MoCo-v2 augmentations, batched, one random draw per image: ``[N, 3, S, S]`` in [0, 1] ->
    ``[N, 3, out_size, out_size]`` in [0, 1]. Blur sigma U[0.1, 2] px is quoted at 224 px and
    scaled with ``out_size``."""
    n = x.shape[0]
    dev = x.device

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return (lo + (hi - lo) * torch.rand(*(shape or (n,)), generator=generator)).to(dev)

    # Random resized crop (area 0.2-1, aspect 3/4-4/3) with a horizontal flip, one resampling.
    area, log_ratio = u(0.2, 1.0), u(math.log(3 / 4), math.log(4 / 3))
    ratio = torch.exp(log_ratio)
    cw = torch.sqrt(area * ratio).clamp(max=1.0)
    ch = torch.sqrt(area / ratio).clamp(max=1.0)
    cx, cy = (1 - cw) * u(-1.0, 1.0), (1 - ch) * u(-1.0, 1.0)
    flip = torch.where(u(0.0, 1.0) < 0.5, -1.0, 1.0)
    zero = torch.zeros_like(cw)
    theta = torch.stack([torch.stack([cw * flip, zero, cx], -1), torch.stack([zero, ch, cy], -1)], 1)
    grid = F.affine_grid(theta, [n, 3, out_size, out_size], align_corners=False)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    jitter = (u(0.0, 1.0) < 0.8).float()
    bright = 1 + jitter * (u(0.6, 1.4) - 1)
    contrast = 1 + jitter * (u(0.6, 1.4) - 1)
    saturation = 1 + jitter * (u(0.6, 1.4) - 1)
    hue = jitter * u(-0.1, 0.1)
    y = (y * bright.view(-1, 1, 1, 1)).clamp(0, 1)
    y = _blend(y, _grey(y).mean(dim=(2, 3), keepdim=True), contrast).clamp(0, 1)
    y = _blend(y, _grey(y), saturation).clamp(0, 1)
    y = _hue_rotate(y, hue).clamp(0, 1)
    grey = (u(0.0, 1.0) < 0.2).float()
    y = _blend(y, _grey(y).expand_as(y), 1 - grey)
    blur = u(0.0, 1.0) < 0.5
    sigma = u(0.1, 2.0) * (out_size / 224.0)
    y = torch.where(blur.view(-1, 1, 1, 1), _gaussian_blur(y, sigma), y)
    return y.clamp(0, 1)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, *, temperature: float = TEMPERATURE) -> torch.Tensor:
    """SimCLR's loss for ``z1, z2 [N, D]`` (two views of N images): each view must pick its
    partner among the other ``2N - 1`` embeddings."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    logits = z @ z.t() / temperature
    logits.fill_diagonal_(float("-inf"))
    n = z1.shape[0]
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, target)


def projection_head(units: int, out: int = 128, *, seed: int = 0) -> nn.Module:
    """MoCo v2's 2-layer MLP projection head ``[N, units] -> [N, out]``, seeded init
    (PyTorch's default ranges, U(+-1 / sqrt(fan_in)), drawn from its own generator)."""
    head = nn.Sequential(nn.Linear(units, units), nn.ReLU(), nn.Linear(units, out))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in (head[0], head[2]):
            bound = 1.0 / math.sqrt(layer.in_features)
            layer.weight.copy_((torch.rand(layer.weight.shape, generator=g) * 2 - 1) * bound)
            layer.bias.copy_((torch.rand(layer.bias.shape, generator=g) * 2 - 1) * bound)
    return head


def contrastive_loss(net: FeatureNet, head: nn.Module, images: torch.Tensor, *, generator: torch.Generator,
                     size: int = TRAIN_SIZE, temperature: float = TEMPERATURE) -> torch.Tensor:
    """:func:`nt_xent` of two augmented views of every image in ``images [N, 3, S, S]``."""
    v1 = contrastive_augment(images, generator=generator, out_size=size)
    v2 = contrastive_augment(images, generator=generator, out_size=size)
    z = head(net(_imagenet_normalise(torch.cat([v1, v2]))))
    return nt_xent(z[:len(images)], z[len(images):], temperature=temperature)


def train_contrastive(net: FeatureNet, images: torch.Tensor, *, steps: int, batch: int = TRAIN_BATCH,
                      size: int = TRAIN_SIZE, lr: float = TRAIN_LR, temperature: float = TEMPERATURE,
                      generator: torch.Generator, device: torch.device | str = "cpu",
                      head: nn.Module | None = None, progress: bool = True) -> list[float]:
    """Train ``net`` in place on ``images [M, 3, S, S]`` (in [0, 1]) with :func:`nt_xent`.

    A projection ``head`` (default :func:`projection_head`, as MoCo v2) is trained alongside;
    pass one to keep it. AdamW with cosine decay. Returns the loss of every step.
    """
    if steps < 1 or batch < 2:
        raise ValueError(f"need steps >= 1 and batch >= 2, got steps={steps}, batch={batch}")
    device = torch.device(device)
    net.to(device).train()
    for p in net.parameters():
        p.requires_grad_(True)
    head = (projection_head(net.num_units, seed=int(torch.randint(0, 2**31, (1,), generator=generator)))
            if head is None else head).to(device).train()
    params = list(net.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    losses = []
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=steps, desc="contrastive training on dead leaves", unit="step")
    for _ in range(steps):
        idx = torch.randint(0, images.shape[0], (batch,), generator=generator)
        loss = contrastive_loss(net, head, images[idx].to(device), generator=generator, size=size,
                                temperature=temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    if bar is not None:
        bar.close()
    net.eval()
    head.eval()
    return losses


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"${name} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"${name} must be a positive integer, got {raw!r}")
    return value


def pool_size() -> int:
    """The pool size: ``$WORKBENCH_POOL_SIZE`` or :data:`POOL_SIZE`."""
    return _env_int("WORKBENCH_POOL_SIZE", POOL_SIZE)


def _steps() -> int:
    return _env_int("WORKBENCH_FEATVIS_STEPS", STEPS)


def _train_steps() -> int:
    return _env_int("WORKBENCH_FEATVIS_TRAIN_STEPS", TRAIN_STEPS)


def _folder() -> Path:
    return cache_dir() / "feature_vis"


def _dead_leaves_images(n: int, *, size: int, seed: int) -> torch.Tensor:
    """``n`` dead-leaves (mixed shapes) images from the registered family, in chunks."""
    if not is_registered(DEAD_LEAVES_NAME):
        import importlib
        try:
            importlib.import_module("workbench.patterns.dead_leaves")
        except ImportError as exc:
            raise RuntimeError(f"featvis_dead_leaves needs the {DEAD_LEAVES_NAME!r} pattern family "
                               "(workbench/patterns/dead_leaves.py), which is not available") from exc
    chunk = 256
    return torch.cat([render(DEAD_LEAVES_NAME, min(chunk, n - s), seed=seed + s, size=size).images[:, :3]
                      for s in range(0, n, chunk)])


def _network_key(source: str, *, widths: tuple[int, ...] = WIDTHS, seed: int = NETWORK_SEED,
                 train_steps: int | None = None, train_images: int | None = None,
                 train_size: int = TRAIN_SIZE) -> tuple[str, dict]:
    """A file-name-safe id of a network recipe and the recipe with defaults resolved."""
    if source not in SOURCES:
        raise ValueError(f"unknown feature-vis source {source!r}; valid: {', '.join(SOURCES)}")
    recipe = dict(widths=tuple(widths), seed=seed)
    key = f"{source}_w{'-'.join(map(str, widths))}_seed{seed}"
    if source == "dead_leaves":
        steps = _train_steps() if train_steps is None else train_steps
        if train_images is None:
            # Never render more images than the training run can look at.
            train_images = min(_env_int("WORKBENCH_FEATVIS_TRAIN_IMAGES", TRAIN_IMAGES), steps * TRAIN_BATCH)
        recipe.update(train_steps=steps, train_images=train_images, train_size=train_size)
        key += f"_steps{steps}_n{train_images}_s{train_size}"
    return key, recipe


def network(source: str, *, device: torch.device | str = "cpu", progress: bool = True,
            **recipe) -> FeatureNet:
    """The network whose units a source visualises, in eval mode, on the CPU.

    ``source="random"``: :class:`FeatureNet` at its seeded random init. ``source="dead_leaves"``:
    the same net after :func:`train_contrastive` on ``train_images`` dead-leaves images of
    ``train_size`` px for ``train_steps`` steps, loaded from the cache when present: the stand-in
    for the reference's MoCo-v2 ResNet-50 trained on dead leaves. Defaults: :data:`TRAIN_STEPS`
    steps (or ``$WORKBENCH_FEATVIS_TRAIN_STEPS``) on :data:`TRAIN_IMAGES` images (or
    ``$WORKBENCH_FEATVIS_TRAIN_IMAGES``; never more than ``train_steps x TRAIN_BATCH``).
    Recipe keywords: ``widths``, ``seed``, ``train_steps``, ``train_images``, ``train_size``.
    """
    key, recipe = _network_key(source, **recipe)
    net = FeatureNet(widths=recipe["widths"], seed=recipe["seed"])
    if source == "random":
        return net.eval()
    path = _folder() / f"featnet_{key}.pt"
    if path.exists():
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return net.eval()
    if progress:
        print(f"training the dead-leaves feature network (cached at {path})")
    images = _dead_leaves_images(recipe["train_images"], size=recipe["train_size"], seed=recipe["seed"])
    g = torch.Generator().manual_seed(recipe["seed"] + 1)
    losses = train_contrastive(net, images, steps=recipe["train_steps"], batch=min(TRAIN_BATCH, len(images)),
                               size=recipe["train_size"], generator=g, device=device, progress=progress)
    if progress:
        k = max(1, len(losses) // 10)
        print(f"contrastive loss: first {k} steps {sum(losses[:k]) / k:.3f}, last {k} steps {sum(losses[-k:]) / k:.3f}")
    net = net.cpu().eval()
    atomic_torch_save(net.state_dict(), path)
    return net


def build_pool(source: str, *, size: int = NATIVE_SIZE, count: int | None = None, steps: int | None = None,
               batch: int = OPT_BATCH, seed: int = POOL_SEED, device: torch.device | str = "cpu",
               progress: bool = True, **recipe) -> torch.Tensor:
    """The cached pool of ``count`` visualisations as uint8 ``[count, 3, size, size]`` (CPU).

    Image ``k`` maximises objective ``unit_schedule(units, count, seed=seed)[k]`` of
    ``network(source, **recipe)``, optimised for ``steps`` steps (default :data:`STEPS` or
    ``$WORKBENCH_FEATVIS_STEPS``). Built once (with a progress bar; the cache location is
    printed), then read from disk or memory.
    """
    count = pool_size() if count is None else count
    steps = _steps() if steps is None else steps
    if count < 1 or steps < 1 or batch < 1:
        raise ValueError(f"count, steps and batch must be >= 1, got {count}, {steps}, {batch}")
    key, _ = _network_key(source, **recipe)
    path = _folder() / f"pool_{key}_s{size}_n{count}_steps{steps}_seed{seed}.pt"
    if path in _POOLS:
        return _POOLS[path]
    if path.exists():
        _POOLS[path] = torch.load(path, weights_only=True)
        return _POOLS[path]
    net = network(source, device=device, progress=progress, **recipe)
    if progress:
        print(f"building the featvis_{source} pool: {count} images x {steps} steps (cached at {path})")
    units = unit_schedule(net.num_units, count, seed=seed)
    mask = unit_mask(units, net.num_units)
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(count, 3, size, size, dtype=torch.uint8)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=count, desc=f"featvis_{source} pool", unit="img")
    for start in range(0, count, batch):
        rows = mask[start:start + batch]
        images, _ = visualise(net, rows, size=size, steps=steps, generator=g, device=device)
        out[start:start + rows.shape[0]] = (images.cpu() * 255).round().to(torch.uint8)
        if bar is not None:
            bar.update(rows.shape[0])
    if bar is not None:
        bar.close()
    atomic_torch_save(out, path)
    _POOLS[path] = out
    return out


def serve(pool: torch.Tensor, n: int, *, size: int, generator: torch.Generator,
          device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` samples from a uint8 pool ``[P, 3, S, S]``: a random image, a random crop (area
    :data:`CROP_SCALE`, square) and a horizontal flip with p 0.5, resized to ``size``.
    Returns float32 ``[n, 3, size, size]`` in [0, 1]."""
    device = torch.device(device)
    idx = torch.randint(0, pool.shape[0], (n,), generator=generator)
    side = torch.sqrt(CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * torch.rand(n, generator=generator))
    cx = (1 - side) * (torch.rand(n, generator=generator) * 2 - 1)
    cy = (1 - side) * (torch.rand(n, generator=generator) * 2 - 1)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    zero = torch.zeros(n)
    theta = torch.stack([torch.stack([side * flip, zero, cx], -1), torch.stack([zero, side, cy], -1)], 1)
    x = pool[idx].to(device).float().div_(255.0)
    grid = F.affine_grid(theta.to(device), [n, 3, size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.clamp_(0.0, 1.0)


def _make(source: str):
    def fn(n: int, *, size: int, generator: torch.Generator, device: torch.device,
           pool_size: int | None = None, steps: int | None = None, **kwargs) -> PatternBatch:
        pool = build_pool(source, size=NATIVE_SIZE, count=pool_size, steps=steps, device=device, **kwargs)
        return PatternBatch(serve(pool, n, size=size, generator=generator, device=device), None)
    fn.__name__ = f"featvis_{source}"
    fn.__doc__ = (f"``n`` feature visualisations of the {source} network ``[n, 3, size, size]`` in [0, 1], "
                  "served from the cached pool (see :func:`build_pool`; keywords ``pool_size``, ``steps`` "
                  "and those of :func:`network`).")
    return fn


register_pattern(
    "featvis_random", family="feature_vis", paper_id="m", native_size=NATIVE_SIZE, cached=True,
    description="feature visualisations (Fourier image, colour decorrelation, Adam, jitter/scale/rotate) "
                "of single units and unit pairs of a randomly initialised small ResNet",
)(_make("random"))

register_pattern(
    "featvis_dead_leaves", family="feature_vis", paper_id="n", native_size=NATIVE_SIZE, cached=True,
    description="feature visualisations of a small ResNet trained contrastively on dead leaves "
                "(stand-in for the MoCo-v2 dead-leaves ResNet-50)",
)(_make("dead_leaves"))
