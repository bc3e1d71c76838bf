"""(i-l) untrained-StyleGAN generators: contract through the registry, and known answers for the
network's parts (weight demodulation, the factored conv, filter banks, pink noise)."""

import math

import pytest
import torch

import workbench.patterns as patterns
import workbench.patterns.stylegan as sg

NAMES = ["stylegan_random", "stylegan_highfreq", "stylegan_sparse", "stylegan_oriented"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.one_thread


@pytest.mark.parametrize("name", NAMES)
def test_native_render_and_metadata(name):
    spec = patterns.get(name)
    assert spec.family == "stylegan" and spec.kind == "image" and spec.native_size == sg.NATIVE_SIZE
    assert spec.paper_id == "ijkl"[NAMES.index(name)]
    x = patterns.render(name, 2, seed=0).images
    assert x.shape == (2, 3, spec.native_size, spec.native_size) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    # Colour normalisation: each channel gets a natural-image-like mean, not a constant.
    assert 0.1 < float(x.mean()) < 0.9 and float(x.std()) > 0.05


def test_non_power_of_two_size_is_resized():
    x = patterns.render("stylegan_oriented", 1, seed=0, size=100).images
    assert x.shape == (1, 3, 100, 100)


def test_new_network_every_block_of_images():
    seeds = sg.network_seeds(801, generator=torch.Generator().manual_seed(5))
    assert len(seeds) == 3 and len(set(seeds)) == 3  # images 0-399, 400-799, 800
    assert seeds == sg.network_seeds(801, generator=torch.Generator().manual_seed(5))
    assert seeds[0] != sg.network_seeds(1, generator=torch.Generator().manual_seed(6))[0]
    # Blocks are rendered one after another, so a call's first block does not depend on n.
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    two = sg.stylegan_images(2, variant="random", size=16, generator=g(), images_per_network=2)
    four = sg.stylegan_images(4, variant="random", size=16, generator=g(), images_per_network=2)
    assert torch.equal(two, four[:2])


def test_demodulation_normalises_output_channels():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, 48, 48, generator=g)
    channel_scale = torch.logspace(-3, 3, 8)  # output channels whose raw weights differ by 10^6
    weight = torch.randn(8, 16, 3, 3, generator=g) * channel_scale[:, None, None, None]
    styles = torch.rand(2, 16, generator=g) * 2 + 0.1
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))  # away from the zero padding
    y = sg.modulated_conv2d(x, weight, styles)[inner]
    # White unit-variance input: each demodulated output channel has unit variance.
    std = y.std(dim=(2, 3))
    assert torch.allclose(std, torch.ones_like(std), atol=0.1), std
    raw = sg.modulated_conv2d(x, weight, styles, demodulate=False)[inner].std(dim=(2, 3))
    assert float(raw.max() / raw.min()) > 1e5  # without demodulation the scales survive
    # Per-sample weights and the upsampling conv normalise the same way.
    y_up = sg.modulated_conv2d(x, weight[None].expand(2, -1, -1, -1, -1), styles, up=True)
    assert y_up.shape == (2, 8, 96, 96)
    std_up = y_up[:, :, 4:-4, 4:-4].std(dim=(2, 3))
    assert float(std_up.max() / std_up.min()) < 1.3


@pytest.mark.parametrize("up", [False, True])
def test_factored_conv_equals_full_modulated_conv(up):
    g = torch.Generator().manual_seed(1)
    n, cin, cout = 3, 5, 4
    x = torch.randn(n, cin, 8, 8, generator=g)
    filters = sg.oriented_filter_bank()[torch.randint(40, (n, cin), generator=g)]
    out_scale = torch.randn(n, cout, generator=g)
    styles = torch.rand(n, cin, generator=g) + 0.5
    y, coef = sg.rank1_modulated_conv2d(x, filters, out_scale, styles, up=up)
    full = sg.modulated_conv2d(x, out_scale[:, :, None, None, None] * filters[:, None], styles, up=up)
    assert torch.allclose(y * coef[:, :, None, None], full, atol=1e-5)
    # Shared weights and per-sample weights give the same result.
    w = torch.randn(cout, cin, 3, 3, generator=g)
    shared = sg.modulated_conv2d(x, w, styles, up=up)
    per_sample = sg.modulated_conv2d(x, w[None].expand(n, -1, -1, -1, -1), styles, up=up)
    assert torch.allclose(shared, per_sample, atol=1e-5)


def test_upsample_is_zero_insertion_and_lowpass():
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 1, 2] = 1.0
    up = sg.upsample2d(x)[0, 0]
    assert up.shape == (8, 8)
    assert math.isclose(float(up.sum()), 4.0, rel_tol=1e-6)  # gain 4 keeps the mean
    expect = torch.tensor([0.25, 0.75, 0.75, 0.25])
    assert torch.allclose(up[1:5, 3:7], torch.outer(expect, expect))


def test_filter_banks():
    hf, ori = sg.highfreq_filter_bank(), sg.oriented_filter_bank()
    assert hf.shape == (40, 3, 3) and ori.shape == (40, 3, 3)
    assert set(hf.unique().tolist()) <= {-1.0, 0.0, 1.0}
    # Oriented bank: 8 steps + 8 bars are zero-mean, and the second half negates the first.
    assert torch.allclose(ori[:16].mean(dim=(1, 2)), torch.zeros(16), atol=1e-6)
    assert torch.equal(ori[20:], -ori[:20])
    # A horizontal step edge at 0 degrees: +1 on the left column, -1 on the right.
    assert torch.allclose(ori[0], torch.tensor([[1.0, 0.0, -1.0]] * 3))


def test_pink_noise_spectrum_is_one_over_f_alpha():
    g = torch.Generator().manual_seed(0)
    alpha = torch.tensor([0.5, 1.5])
    x = sg.pink_noise(2, 64, generator=g, alpha=alpha)
    assert x.shape == (2, 64, 64)
    assert torch.allclose(x.mean(dim=(1, 2)), torch.zeros(2), atol=1e-5)
    assert torch.allclose(x.std(dim=(1, 2)), torch.ones(2), atol=1e-5)
    amp = torch.fft.fft2(x).abs()
    # Radial frequencies 2/32 and 8/32 (Nyquist = 1): amplitude ratio 4^alpha.
    ratio = amp[:, 0, 2] / amp[:, 0, 8]
    assert torch.allclose(ratio, 4.0 ** alpha, rtol=1e-3)
    env = sg.pink_noise(2, 32, generator=g, envelope=True)
    assert torch.allclose(env.std(dim=(1, 2)), torch.ones(2), atol=1e-5)


def test_bad_arguments_raise_clear_errors():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="oriented"):
        sg.stylegan_images(1, variant="orientd", size=16, generator=g)
    with pytest.raises(ValueError, match="relu"):
        sg.stylegan_images(1, variant="random", size=16, generator=g, activation="tanh")
