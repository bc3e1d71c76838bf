"""(i-l) Images from untrained StyleGAN2-style generators (Baradad et al., 2021).

Our own compact StyleGAN2 synthesis network (code facts from mbaradad/learning_with_noise
``generate_datasets/stylegan``; the code here is written from scratch):

* a random 4x4 constant input (``randn``, as initialised), then one block per resolution 8, 16, ..., native:
  a modulated 3x3 conv that upsamples x2 (transposed conv + [1, 3, 3, 1] low-pass, as
  StyleGAN2's ``conv2d_resample``), a modulated 3x3 conv, and a toRGB 1x1 modulated conv
  (no demodulation) whose output is added to the x2-upsampled running image ("skip" design);
* modulated conv: the per-input-channel style ``s = A w / sqrt(w_dim) + 1`` scales the weights,
  then weight demodulation divides each output channel by the norm of its modulated weights, so
  a channel's output has unit expected variance whatever its weight scale (only the sign of a
  per-output-channel scale survives: DESIGN.md section 2);
* mapping network bypassed: every style-consuming layer gets its own ``w = LeakyReLU_0.2(N(0, I))``
  of width :data:`W_DIM` = 512, as in the reference;
* activation after each conv: ReLU with StyleGAN's gain sqrt(2). The reference generator script
  passes ``activation='relu'`` to every variant, so that is the default; ``activation="lrelu"``
  (LeakyReLU 0.2, stock StyleGAN2) is available;
* a new random network every :data:`IMAGES_PER_NETWORK` = 400 images. Within one call, image ``k``
  uses network ``k // 400``, whose seed is derived from a base seed drawn from the caller's
  generator plus the block index: deterministic for a given seed, and a different seed gives
  different networks;
* every output channel is standardised over the image, then given mean ~ N(mu, .) and
  std ~ N(sigma, .) with the reference's natural-image statistics (:data:`COLOUR_STATS`), and
  clipped to [0, 1].

Variants (``variant=``):

* ``"random"`` (i): stock initialisation, noise strength 0 (noise inputs contribute nothing).
* ``"highfreq"`` (j): every input channel of every 3x3 conv gets a filter drawn from the fixed
  40-filter bank :func:`highfreq_filter_bank` (16 sign-quantised oriented step edges over 360
  degrees; 8 oriented bars and 4 point/centre-surround/cross filters, each also negated), times
  a N(0, 1) scale per output channel; filters are redrawn each forward pass; toRGB weights are
  resampled each pass; noise inputs are pink 1/f^alpha maps (alpha ~ U[0.5, 1.5], unit std)
  with strength ~ U[0, 0.3] per image and layer.
* ``"oriented"`` (l): the 40-filter bank :func:`oriented_filter_bank` (8 zero-mean oriented step
  edges and 8 zero-mean bars over 180 degrees, the 4 point/cross filters, and all negatives);
  per layer a random subset of 5-40 of them, each input channel picks one; biases U(-0.2, 0.2)
  before the ReLU; the noise is pink noise times a smooth random envelope (a 4x4 Laplace field
  upsampled bicubically), and ONE such map per image (drawn at the native size) is shared by all
  layers, area-resized to each layer's resolution.
* ``"sparse"`` (k): (unconfirmed in DESIGN.md; our reading) the oriented setup WITHOUT the shared
  noise map: every layer draws its own enveloped pink-noise map. This is the reading the reference
  script supports: its default output names map "sparse" to the v3 network with bias range 0.2 and
  no ``--same_noise_map``, and "oriented" to the same plus ``--same_noise_map``. The other reading
  (binarised filters with biases U[0, 0.2)) is not implemented.

Deviations, stated: the native size is 128 px (the reference renders 256) and the channel widths
are ``min(CHANNEL_BASE // res, CHANNEL_MAX)`` with :data:`CHANNEL_BASE` = 2048 and
:data:`CHANNEL_MAX` = 128 (the reference: 32768 and 512) so the generator is fast on a CPU; all
are keyword parameters. The reference redraws filters once per forward pass of 2 images; we treat
every image as its own pass (same distribution per image, and it lets a whole batch run at once).
Pink-noise maps are drawn fresh per image and layer instead of picked from a per-layer dictionary
of 100 maps, and the shared map of (l) is drawn per image (the reference shares one per pass).
The envelope is upsampled bicubically (the reference: Lanczos).

Speed: in the randomised variants each conv's weight is ``scale[o] * filter[i]`` (filter chosen
per input channel, scale per output channel), so after demodulation every output channel is
``+-`` the same map ``y = sum_i filter_i * (s_i x_i) / norm``. :func:`rank1_modulated_conv2d`
computes ``y`` once per image (one batched matmul for the nine tap images, then shifted sums)
instead of ``O`` identical convs; it equals :func:`modulated_conv2d` on the full weight (a unit
test checks this). Throughput, 1 CPU core (process time): ~85 images/s for (i) and ~145-190
for (j-l) at 128 px.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from workbench.patterns.registry import PatternBatch, register_pattern

NATIVE_SIZE = 128
W_DIM = 512
IMAGES_PER_NETWORK = 400
CHANNEL_BASE = 2048
CHANNEL_MAX = 128
NOISE_MAX_STRENGTH = 0.3
BIAS_RANGE = 0.2
MIN_FILTER_SUBSET = 5
ACT_GAIN = math.sqrt(2.0)  # StyleGAN's gain after ReLU / LeakyReLU
CHUNK = 16  # images per forward pass of the shared-weight network (bounds memory)
VARIANTS = ("random", "highfreq", "sparse", "oriented")
ACTIVATIONS = ("relu", "lrelu")

# Per RGB channel: (mean of the mean, std of the mean, mean of the std, std of the std), the
# natural-image statistics the reference draws each image's colour normalisation from.
COLOUR_STATS = (
    (0.483, 0.145, 0.219, 0.063),
    (0.455, 0.142, 0.213, 0.062),
    (0.401, 0.161, 0.213, 0.069),
)

_BLUR_1D = torch.tensor([1.0, 3.0, 3.0, 1.0])


# ----------------------------------------------------------------------------------------------
# Filter banks


def _oriented_profiles(angles_deg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """3x3 step-edge and bar filters at the given angles, ``[A, 3, 3]`` each.

    The reference draws an 11 px pattern (a step: +1 | 0 | -1 columns; a bar: a -1 column on +1),
    rotates it bilinearly and keeps the central 3x3. Both patterns vary along x only, so the
    bilinear sample at a rotated offset is the piecewise-linear column profile at ``u``, the
    rotated x coordinate: step ``-clamp(u, -1, 1)``, bar ``1 - 2 max(0, 1 - |u|)``.
    """
    theta = angles_deg * math.pi / 180.0
    d = torch.tensor([-1.0, 0.0, 1.0])
    dy, dx = torch.meshgrid(d, d, indexing="ij")
    u = dx[None] * torch.cos(theta)[:, None, None] + dy[None] * torch.sin(theta)[:, None, None]
    step = -u.clamp(-1.0, 1.0)
    bar = 1.0 - 2.0 * (1.0 - u.abs()).clamp_min(0.0)
    return step, bar


def _point_filters() -> torch.Tensor:
    """Point, centre-surround, plus-shaped cross and +-cross, ``[4, 3, 3]``."""
    point = torch.zeros(3, 3)
    point[1, 1] = 1.0
    surround = -torch.ones(3, 3)
    surround[1, 1] = 1.0
    cross = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]])
    signed_cross = torch.sign(cross - 0.5)
    return torch.stack([point, surround, cross, signed_cross])


def highfreq_filter_bank() -> torch.Tensor:
    """The (j) bank, ``[40, 3, 3]``: 16 sign-quantised steps over 360 deg, 8 bars +-, 4 points +-."""
    step, _ = _oriented_profiles(torch.arange(16) * 360.0 / 16)
    step = torch.sign(step - step.mean(dim=(1, 2), keepdim=True))
    _, bar = _oriented_profiles(torch.arange(8) * 180.0 / 8)
    bar = torch.sign(bar)
    bars = torch.stack([bar, -bar], dim=1).flatten(0, 1)
    pts = _point_filters()
    points = torch.stack([pts, -pts], dim=1).flatten(0, 1)
    return torch.cat([step, bars, points])


def oriented_filter_bank() -> torch.Tensor:
    """The (k, l) bank, ``[40, 3, 3]``: 8 zero-mean steps and 8 zero-mean bars over 180 deg and
    the 4 point/cross filters, followed by the negatives of all 20."""
    step, bar = _oriented_profiles(torch.arange(8) * 180.0 / 8)
    step = step - step.mean(dim=(1, 2), keepdim=True)
    bar = bar - bar.mean(dim=(1, 2), keepdim=True)
    bank = torch.cat([step, bar, _point_filters()])
    return torch.cat([bank, -bank])


# ----------------------------------------------------------------------------------------------
# Noise


def pink_noise(n: int, size: int, *, generator: torch.Generator, alpha: torch.Tensor | None = None,
               envelope: bool = False) -> torch.Tensor:
    """``n`` pink-noise maps ``[n, size, size]`` (CPU), zero mean, unit std.

    Amplitude spectrum ``1 / r^alpha`` (``r`` = radial frequency, Nyquist = 1; DC removed) with
    uniformly random phase, as in the reference. ``alpha [n]`` defaults to U[0.5, 1.5]. With
    ``envelope=True`` the map is multiplied by a smooth random envelope (a 4x4 field of Laplace
    draws upsampled bicubically) and re-standardised.
    """
    if alpha is None:
        alpha = torch.rand(n, generator=generator) + 0.5
    white = torch.randn(n, size, size, generator=generator)
    spec = torch.fft.fft2(white)
    phase = spec / spec.abs().clamp_min(1e-12)  # Hermitian, so the inverse transform is real
    f = torch.fft.fftfreq(size) * 2.0
    r = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    r[0, 0] = 1.0
    mag = r[None] ** (-alpha[:, None, None])
    mag[:, 0, 0] = 0.0
    x = torch.fft.ifft2(phase * mag).real
    if envelope:
        u = torch.rand(n, 1, 4, 4, generator=generator) - 0.5
        lap = -torch.sign(u) * torch.log1p(-2.0 * u.abs()).clamp_max(0.0)
        env = F.interpolate(lap, size=(size, size), mode="bicubic", align_corners=False)[:, 0]
        x = (x - x.mean(dim=(1, 2), keepdim=True)) * env
    x = x - x.mean(dim=(1, 2), keepdim=True)
    return x / x.std(dim=(1, 2), keepdim=True).clamp_min(1e-12)


# ----------------------------------------------------------------------------------------------
# Modulated convolutions


def _blur_kernel(channels: int, device: torch.device) -> torch.Tensor:
    """The 4x4 [1, 3, 3, 1] low-pass with gain 4 (2 per axis), as a depthwise ``[C, 1, 4, 4]``."""
    k = torch.outer(_BLUR_1D, _BLUR_1D)
    k = k / k.sum() * 4.0
    return k.to(device).expand(channels, 1, 4, 4).contiguous()


def _fir4(x: torch.Tensor, dim: int) -> torch.Tensor:
    """[1, 3, 3, 1] / 4 along ``dim`` with one zero on each side: length L -> L - 1."""
    x = F.pad(x, (1, 1) if dim == -1 else (0, 0, 1, 1))
    length = x.shape[dim] - 3
    t = [x.narrow(dim, j, length) for j in range(4)]
    return (t[0] + t[3]).mul_(0.25).add_(t[1] + t[2], alpha=0.75)


def _upsample_1d(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Zero insertion then [1, 3, 3, 1] / 4 (zero padded) along ``dim``: length L -> 2L."""
    prev = F.pad(x, (1, 0) if dim == -1 else (0, 0, 1, 0)).narrow(dim, 0, x.shape[dim])
    nxt = F.pad(x, (0, 1) if dim == -1 else (0, 0, 0, 1)).narrow(dim, 1, x.shape[dim])
    even = torch.add(prev, x, alpha=3.0).mul_(0.25)
    odd = torch.add(nxt, x, alpha=3.0).mul_(0.25)
    shape = list(x.shape)
    shape[dim] *= 2
    return torch.stack((even, odd), dim=dim).reshape(shape)  # interleave the two phases


def upsample2d(x: torch.Tensor) -> torch.Tensor:
    """``[N, C, H, W]`` -> ``[N, C, 2H, 2W]``: zero insertion + [1, 3, 3, 1] low-pass (gain 4),
    StyleGAN2's ``upsample2d`` with zero padding (computed separably, phase by phase)."""
    return _upsample_1d(_upsample_1d(x, -1), -2)


def _blur_after_transposed(x: torch.Tensor) -> torch.Tensor:
    """Low-pass the ``2H + 1`` output of a stride-2 transposed 3x3 conv down to ``2H``."""
    if x.shape[1] == 1:
        return _fir4(_fir4(x, -1), -2)
    # Many channels: one depthwise conv, fast in channels-last layout.
    return F.conv2d(F.pad(x, (1, 1, 1, 1)), _blur_kernel(x.shape[1], x.device), groups=x.shape[1])


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *,
                     demodulate: bool = True, up: bool = False, out_gain: float = 1.0,
                     eps: float = 1e-8) -> torch.Tensor:
    """StyleGAN2 modulated convolution.

    ``x [N, I, H, W]``, ``weight [O, I, k, k]`` shared by the batch or ``[N, O, I, k, k]`` per
    sample, ``styles [N, I]``. Returns ``[N, O, H, W]`` (``[N, O, 2H, 2W]`` with ``up``: a
    stride-2 transposed conv followed by the [1, 3, 3, 1] low-pass, StyleGAN2's
    ``conv2d_resample``). With ``demodulate`` each output channel's modulated weights are scaled
    to unit L2 norm; ``out_gain`` multiplies the result (folded into the demodulation pass).
    """
    n, i, h, w = x.shape
    k = weight.shape[-1]
    if weight.ndim == 4:
        # Shared weights: modulate the activations instead (one dense conv for the whole batch),
        # in channels-last layout, where oneDNN is several times faster for few channels.
        xs = (x * styles[:, :, None, None]).contiguous(memory_format=torch.channels_last)
        if up:
            y = _blur_after_transposed(F.conv_transpose2d(xs, weight.transpose(0, 1), stride=2))
        else:
            y = F.conv2d(xs, weight, padding=k // 2)
        if demodulate:
            d = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).t() + eps)  # [N, O]
            y.mul_(d[:, :, None, None] * out_gain)
        elif out_gain != 1.0:
            y.mul_(out_gain)
        return y
    o = weight.shape[1]
    wmod = weight * styles[:, None, :, None, None]  # [N, O, I, k, k]
    if demodulate:
        wmod = wmod * torch.rsqrt(wmod.square().sum(dim=(2, 3, 4)) + eps)[:, :, None, None, None]
    xg = x.reshape(1, n * i, h, w)
    if up:
        wt = wmod.transpose(1, 2).reshape(n * i, o, k, k)
        y = _blur_after_transposed(F.conv_transpose2d(xg, wt, stride=2, groups=n).view(n, o, 2 * h + 1, 2 * w + 1))
    else:
        y = F.conv2d(xg, wmod.reshape(n * o, i, k, k), padding=k // 2, groups=n).view(n, o, h, w)
    return y * out_gain if out_gain != 1.0 else y


def rank1_modulated_conv2d(x: torch.Tensor, filters: torch.Tensor, out_scale: torch.Tensor,
                           styles: torch.Tensor, *, up: bool = False, eps: float = 1e-8
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Demodulated 3x3 conv whose weight is ``out_scale[n, o] * filters[n, i]``, in factored form.

    ``x [N, I, H, W]``, ``filters [N, I, 3, 3]``, ``out_scale [N, O]``, ``styles [N, I]``.
    Returns ``(y [N, 1, H', W'], coef [N, O])`` with ``y * coef[:, :, None, None]`` equal to
    ``modulated_conv2d(x, out_scale[:, :, None, None, None] * filters[:, None], styles, up=up)``;
    the caller expands it (fused with noise and bias) only once.

    The single output map is computed as one batched matmul ``[N, 9, I] x [N, I, HW]`` (the nine
    tap images) followed by shifted sums, which is much faster on a CPU than a grouped conv with
    one output channel per group.
    """
    n, i, h, w = x.shape
    fmod = filters * styles[:, :, None, None]  # modulating the weights, not the activations
    taps = torch.bmm(fmod.flatten(2).transpose(1, 2), x.reshape(n, i, h * w)).view(n, 9, h, w)
    if up:
        # Transposed conv, stride 2: input pixel p lands on output 2p + k for tap k.
        y = taps.new_zeros(n, 2 * h + 1, 2 * w + 1)
        for ky in range(3):
            for kx in range(3):
                y[:, ky:ky + 2 * h:2, kx:kx + 2 * w:2] += taps[:, 3 * ky + kx]
        y = _blur_after_transposed(y[:, None])
    else:
        # Correlation with zero padding 1: y[p] = sum_k taps_k[p + k - 1].
        tp = F.pad(taps, (1, 1, 1, 1))
        y = tp[:, 0, 0:h, 0:w].clone()
        for k in range(1, 9):
            ky, kx = divmod(k, 3)
            y += tp[:, k, ky:ky + h, kx:kx + w]
        y = y[:, None]
    energy = fmod.square().sum(dim=(1, 2, 3))[:, None]  # [N, 1]
    coef = out_scale * torch.rsqrt(out_scale.square() * energy + eps)  # [N, O]
    return y, coef


# ----------------------------------------------------------------------------------------------
# The synthesis network


def channels_at(res: int, *, channel_base: int = CHANNEL_BASE, channel_max: int = CHANNEL_MAX) -> int:
    return max(1, min(channel_base // res, channel_max))


def _layer_plan(size: int, channel_base: int, channel_max: int) -> list[tuple[int, int, int, bool]]:
    """The 3x3 conv layers as ``(resolution, in_ch, out_ch, up)``, 4x4 first."""
    plan = [(4, channels_at(4, channel_base=channel_base, channel_max=channel_max),
             channels_at(4, channel_base=channel_base, channel_max=channel_max), False)]
    res = 8
    while res <= size:
        cin = channels_at(res // 2, channel_base=channel_base, channel_max=channel_max)
        cout = channels_at(res, channel_base=channel_base, channel_max=channel_max)
        plan += [(res, cin, cout, True), (res, cout, cout, False)]
        res *= 2
    return plan


class _Network:
    """The per-network parameters of one untrained generator (drawn from ``seed``, on ``device``)."""

    def __init__(self, size: int, *, seed: int, w_dim: int, channel_base: int, channel_max: int,
                 device: torch.device) -> None:
        g = torch.Generator().manual_seed(seed)
        self.plan = _layer_plan(size, channel_base, channel_max)
        self.const = torch.randn(self.plan[0][1], 4, 4, generator=g).to(device)
        self.conv_affine = [torch.randn(cin, w_dim, generator=g).to(device) for _, cin, _, _ in self.plan]
        self.conv_weight = [torch.randn(cout, cin, 3, 3, generator=g).to(device) for _, cin, cout, _ in self.plan]
        self.rgb_layers = [j for j, (_, _, _, up) in enumerate(self.plan) if not up]  # after each block
        self.rgb_affine = [torch.randn(self.plan[j][2], w_dim, generator=g).to(device) for j in self.rgb_layers]
        self.rgb_weight = [torch.randn(3, self.plan[j][2], generator=g).to(device) for j in self.rgb_layers]
        self.w_dim = w_dim

    @property
    def num_ws(self) -> int:
        return len(self.plan) + 1  # the last toRGB has its own w, the others share the next conv's


def _styles(affine: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``A w / sqrt(w_dim) + 1`` (StyleGAN2's affine with bias init 1): ``[N, w_dim]`` -> ``[N, C]``."""
    return w @ affine.t() / math.sqrt(affine.shape[1]) + 1.0


def _synthesize_block(net: _Network, variant: str, n: int, *, size: int, activation: str,
                      generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` raw images ``[n, 3, size, size]`` from one network (all draws from ``generator``)."""
    plan = net.plan
    ws = F.leaky_relu(torch.randn(n, net.num_ws, net.w_dim, generator=generator), 0.2).to(device)
    randomised = variant != "random"
    bank = highfreq_filter_bank() if variant == "highfreq" else oriented_filter_bank()
    shared_noise = None
    if variant == "oriented":
        shared_noise = pink_noise(n, size, generator=generator, envelope=True)[:, None].to(device)

    x = net.const[None].expand(n, -1, -1, -1)
    img = None
    rgb_index = 0
    in_gain = 1.0  # the activation gain of the previous layer, applied after demodulation
    for j, (res, cin, cout, up) in enumerate(plan):
        styles = _styles(net.conv_affine[j], ws[:, j])
        if randomised:
            filters = _draw_filters(bank, n, cin, variant, generator).to(device)
            out_scale = torch.randn(n, cout, generator=generator).to(device)
            y, coef = rank1_modulated_conv2d(x, filters, out_scale, styles, up=up)
            # out[n, o] = in_gain * coef[n, o] * y[n] + strength[n] * noise[n] (+ bias[n, o]):
            # one batched matmul writes the [N, O, H, W] activations in a single pass.
            strength = torch.rand(n, 1, generator=generator) * NOISE_MAX_STRENGTH
            if shared_noise is not None:
                noise = F.interpolate(shared_noise, size=(res, res), mode="area") if res != size else shared_noise
            else:
                noise = pink_noise(n, res, generator=generator, envelope=variant == "sparse")[:, None].to(device)
            mix = [coef * in_gain, torch.ones(n, cout, device=device)]
            basis = [y.flatten(1), noise.flatten(1) * strength.to(device)]
            if variant in ("sparse", "oriented"):
                bias = (torch.rand(n, cout, generator=generator) * 2 - 1) * BIAS_RANGE
                mix.append(bias.to(device))
                basis.append(torch.ones(n, res * res, device=device))
            out = torch.bmm(torch.stack(mix, dim=2), torch.stack(basis, dim=1)).view(n, cout, res, res)
        else:
            out = modulated_conv2d(x, net.conv_weight[j], styles, up=up, out_gain=in_gain)
        x = F.relu_(out) if activation == "relu" else F.leaky_relu_(out, 0.2)
        in_gain = ACT_GAIN

        if j in net.rgb_layers:
            rgb_styles = _styles(net.rgb_affine[rgb_index], ws[:, j + 1]) * (ACT_GAIN / math.sqrt(cout))
            if randomised:
                rgb_w = torch.randn(n, 3, cout, generator=generator).to(device)
            else:
                rgb_w = net.rgb_weight[rgb_index][None].expand(n, -1, -1)
            rgb = _to_rgb(x, rgb_w * rgb_styles[:, None, :])
            img = rgb if img is None else upsample2d(img).add_(rgb)
            rgb_index += 1
    return img


def _to_rgb(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Per-sample 1x1 conv: ``x [N, C, H, W]``, ``weight [N, 3, C]`` -> ``[N, 3, H, W]``."""
    n, c, h, w = x.shape
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        out = torch.bmm(x.permute(0, 2, 3, 1).reshape(n, h * w, c), weight.transpose(1, 2))  # [N, HW, 3]
        return out.view(n, h, w, 3).permute(0, 3, 1, 2)
    return torch.bmm(weight, x.reshape(n, c, h * w)).view(n, 3, h, w)


def _draw_filters(bank: torch.Tensor, n: int, cin: int, variant: str, generator: torch.Generator) -> torch.Tensor:
    """Per image and input channel, a filter from the bank: ``[n, cin, 3, 3]`` (CPU)."""
    nb = bank.shape[0]
    if variant == "highfreq":
        idx = torch.randint(nb, (n, cin), generator=generator)
    else:
        # A random subset of 5..40 filters per layer (per image), each channel picks one of it.
        subset_size = torch.randint(MIN_FILTER_SUBSET, nb + 1, (n, 1), generator=generator)
        order = torch.rand(n, nb, generator=generator).argsort(dim=1)
        pick = (torch.rand(n, cin, generator=generator) * subset_size).long()
        idx = torch.gather(order, 1, pick)
    return bank[idx]


def colour_normalise(images: torch.Tensor, *, generator: torch.Generator) -> torch.Tensor:
    """Standardise each channel of ``[n, 3, H, W]``, give it a random natural-image mean/std, clip to [0, 1]."""
    n = images.shape[0]
    stats = torch.tensor(COLOUR_STATS)  # [3, 4]
    z = torch.randn(n, 3, 2, generator=generator)
    mean = stats[:, 0] + z[..., 0] * stats[:, 1]
    std = stats[:, 2] + z[..., 1] * stats[:, 3]
    flat = images.flatten(2)
    flat = (flat - flat.mean(dim=2, keepdim=True)) / flat.std(dim=2, keepdim=True).clamp_min(1e-8)
    out = flat * std.to(images.device)[..., None] + mean.to(images.device)[..., None]
    return out.view_as(images).clamp_(0.0, 1.0)


def network_seeds(n: int, *, generator: torch.Generator,
                  images_per_network: int = IMAGES_PER_NETWORK) -> list[int]:
    """Seeds of the networks that render ``n`` images: one per block of ``images_per_network``.

    One base seed is drawn from ``generator`` (so the networks depend on the caller's seed);
    block ``b`` uses ``base + b * 1_000_003``.
    """
    base = int(torch.randint(0, 2**62, (1,), generator=generator))
    return [(base + 1_000_003 * b) % 2**63 for b in range(-(-n // images_per_network))]


def stylegan_images(n: int, *, variant: str, size: int, generator: torch.Generator,
                    device: torch.device | str = "cpu", w_dim: int = W_DIM,
                    channel_base: int = CHANNEL_BASE, channel_max: int = CHANNEL_MAX,
                    activation: str = "relu", images_per_network: int = IMAGES_PER_NETWORK) -> torch.Tensor:
    """``n`` images of one StyleGAN variant, float32 ``[n, 3, size, size]`` in [0, 1].

    ``variant`` in :data:`VARIANTS`. The network renders at the power of two >= ``size`` (at
    least 8) and is resized (antialiased) when ``size`` is not one.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown StyleGAN variant {variant!r}; valid: {', '.join(VARIANTS)}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}")
    if size < 1 or n < 1:
        raise ValueError(f"size and n must be positive, got size={size}, n={n}")
    if images_per_network < 1:
        raise ValueError(f"images_per_network must be >= 1, got {images_per_network}")
    device = torch.device(device)
    render_size = max(8, 1 << (size - 1).bit_length())
    seeds = network_seeds(n, generator=generator, images_per_network=images_per_network)
    out = []
    with torch.no_grad():
        for block, seed in enumerate(seeds):
            start = block * images_per_network
            net = _Network(render_size, seed=seed, w_dim=w_dim, channel_base=channel_base,
                           channel_max=channel_max, device=device)
            count = min(images_per_network, n - start)
            for s in range(0, count, CHUNK):
                m = min(CHUNK, count - s)
                raw = _synthesize_block(net, variant, m, size=render_size, activation=activation,
                                        generator=generator, device=device)
                out.append(colour_normalise(raw, generator=generator))
    images = torch.cat(out)
    if render_size != size:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                               antialias=True).clamp_(0.0, 1.0)
    return images.float()


def _make(variant: str):
    def fn(n: int, *, size: int, generator: torch.Generator, device: torch.device, **kwargs) -> PatternBatch:
        return PatternBatch(stylegan_images(n, variant=variant, size=size, generator=generator,
                                            device=device, **kwargs), None)
    fn.__name__ = f"stylegan_{variant}"
    fn.__doc__ = (f"``n`` images of the untrained-StyleGAN variant {variant!r} ``[n, 3, size, size]`` in "
                  "[0, 1]; keyword options as :func:`stylegan_images`.")
    return fn


_DESCRIPTIONS = {
    "random": "untrained StyleGAN2-style generator, stock init, no noise; new network every 400 images",
    "highfreq": "untrained StyleGAN2 with filters redrawn per pass from a bank of edges/bars/points, "
                "pink-noise inputs, random toRGB",
    "sparse": "untrained StyleGAN2 with a random 5-40 subset of zero-mean oriented filters per layer, "
              "biases U(-0.2, 0.2), enveloped pink noise per layer",
    "oriented": "as sparse, but one enveloped pink-noise map per image shared across all layers",
}

for _variant, _letter in (("random", "i"), ("highfreq", "j"), ("sparse", "k"), ("oriented", "l")):
    register_pattern(
        f"stylegan_{_variant}", family="stylegan", paper_id=_letter, native_size=NATIVE_SIZE,
        description=_DESCRIPTIONS[_variant],
    )(_make(_variant))
