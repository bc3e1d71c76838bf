"""Statistical image models (e-h): the generator contract plus known answers for each constraint."""

import math

import pytest
import torch

import workbench.patterns as patterns
import workbench.patterns.statistical as st

NAMES = {"stat_spectrum": "e", "stat_wmm": "f", "stat_spectrum_color": "g",
         "stat_spectrum_color_wmm": "h"}
CPU = torch.device("cpu")


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", NAMES)
def test_registered_as_specified(name):
    spec = patterns.get(name)
    assert spec.kind == "image" and spec.family == "statistical"
    assert spec.native_size == 128 and spec.paper_id == NAMES[name]


@pytest.mark.parametrize("name", NAMES)
def test_native_render_shape_dtype_range(name):
    x = patterns.render(name, 2, seed=0).images
    assert x.shape == (2, 3, 128, 128) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0  # stretched to the full range
    assert not torch.equal(x[0], x[1])


def test_pyramid_is_a_tight_frame():
    x = torch.randn(2, 3, 64, 64, generator=_gen(0))
    for gain in (2.0, 4.0):
        pyr = st.SteerablePyramid(64, n_scales=2, level_gain=gain)
        high, levels, low = pyr.analyse(x)
        assert high.shape == (2, 3, 64, 64) and low.shape == (2, 3, 16, 16)
        assert [tuple(b.shape) for b in levels] == [(2, 3, 4, 64, 64), (2, 3, 4, 32, 32)]
        assert torch.allclose(pyr.synthesise(high, levels, low), x, atol=1e-4)
    # With the orthonormal gain the coefficients keep the image's energy (Parseval).
    pyr = st.SteerablePyramid(64, n_scales=2, level_gain=2.0)
    high, levels, low = pyr.analyse(x)
    energy = high.square().sum() + sum(b.square().sum() for b in levels) + low.square().sum()
    assert float(energy / x.square().sum()) == pytest.approx(1.0, abs=1e-4)


def test_pyramid_bands_are_oriented():
    """A grating varying along y lands in the pi/2 orientation of the level that holds its
    frequency; the cos^3 angular response leaves cos^6(pi/4) = 1/8 of that in each diagonal band
    and nothing in the perpendicular one."""
    size = 64
    y = torch.arange(size).float()[:, None].expand(size, size)
    grating = torch.cos(2 * math.pi * y * 12 / size)[None, None]  # 12 cycles along y, ~0.19 c/px
    _, levels, _ = st.SteerablePyramid(size, n_scales=2).analyse(grating)
    energy = levels[0][0, 0].square().sum(dim=(-2, -1))
    share = energy / energy.sum()
    assert torch.allclose(share, torch.tensor([0.0, 0.1, 0.8, 0.1]), atol=1e-4)


def _radial_power_slope(img: torch.Tensor, f_lo: float = 0.02, f_hi: float = 0.3) -> float:
    grey = img.mean(dim=0)
    power = torch.fft.fft2(grey - grey.mean()).abs().square()
    f = torch.fft.fftfreq(grey.shape[-1])
    rad = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    edges = torch.logspace(math.log10(f_lo), math.log10(f_hi), 16)
    xs, ys = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        ring = (rad >= lo) & (rad < hi)
        xs.append(math.log(float(rad[ring].mean())))
        ys.append(math.log(float(power[ring].mean())))
    xs, ys = torch.tensor(xs), torch.tensor(ys)
    return float(((xs - xs.mean()) * (ys - ys.mean())).sum() / (xs - xs.mean()).square().sum())


@pytest.mark.parametrize("exponent", [1.0, 2.5])
def test_spectrum_slope_matches_sampled_exponent(exponent):
    """Amplitude 1 / (|fx|^a + |fy|^a) means radially averaged power ~ f^(-2a)."""
    img = st.statistical_images(1, size=128, generator=_gen(1), slope_range=(exponent, exponent),
                                slope_jitter=0.0)[0]
    assert _radial_power_slope(img) == pytest.approx(-2 * exponent, abs=0.25)


def test_spectrum_steeper_for_larger_sampled_exponent():
    gen = _gen(2)
    img = st.statistical_images(4, size=128, generator=_gen(2))
    st.sample_colour_model(4, 128, generator=gen, device=CPU, histograms=False)  # same draw order
    s = st.sample_spectrum_exponents(4, generator=gen).mean(dim=1)
    slopes = torch.tensor([_radial_power_slope(x) for x in img])
    order = s.argsort()
    assert torch.all(slopes[order][1:] < slopes[order][:-1])
    assert torch.allclose(slopes, -2 * s, atol=0.35)


def test_impose_spectrum_keeps_moments_and_phase():
    x = 100 + 30 * torch.randn(2, 3, 32, 32, generator=_gen(3))
    mag = st.spectrum_magnitude(torch.tensor([[1.5, 1.5], [2.0, 1.9]]), 32, device=CPU)
    y = st.impose_spectrum(x, mag)
    assert torch.allclose(y.mean(dim=(-2, -1)), x.mean(dim=(-2, -1)), atol=1e-3)
    assert torch.allclose(y.std(dim=(-2, -1)), x.std(dim=(-2, -1)), rtol=1e-4)
    spec_x, spec_y = torch.fft.rfft2(x), torch.fft.rfft2(y)
    ratio = spec_y.abs()[..., 1:, 1:] / mag[:, None, 1:, 1:]
    assert torch.allclose(ratio / ratio.mean(dim=(-2, -1), keepdim=True), torch.ones_like(ratio), atol=1e-3)
    phase_diff = (spec_y / spec_x)[..., 1:, 1:].angle()
    assert float(phase_diff.abs().max()) < 1e-3
    # Idempotent, which is why the spectrum-only model runs a single round.
    assert torch.allclose(st.impose_spectrum(y, mag), y, atol=1e-3)


@pytest.mark.parametrize("method", st.MATCHING)
def test_histogram_matching_gives_requested_marginal(method):
    rho = torch.tensor([0.4, 0.8, 0.6])
    scale = torch.tensor([4.0, 16.0, 256.0])
    target, mean, std = st.wmm_marginals(rho, scale)
    x = torch.randn(3, 4096, generator=_gen(4)) * 7 + 3
    y = st.match_histogram(x, target, method=method)
    # Rank order is kept ...
    assert (torch.diff(y.gather(-1, x.argsort(dim=-1)), dim=-1) >= -1e-4).all()
    # ... and the marginal is the target's: same quantiles, mean and std.
    levels = torch.tensor([0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]).expand(3, -1)
    got = torch.quantile(y, levels[0], dim=-1).T
    want = target.quantile(levels.contiguous())
    tol = 0.01 if method == "sort" else 0.03  # torch.quantile interpolates between order stats
    assert ((got - want).abs() <= tol * std[:, None]).all()
    assert ((y.mean(dim=-1) - mean).abs() <= 0.02 * std).all()
    assert torch.allclose(y.std(dim=-1), std, rtol=0.05)
    if method == "sort":
        assert torch.allclose(y.sort(dim=-1).values, target.sorted_sample(4096))


def test_wmm_makes_band_marginals_heavy_tailed():
    def band_kurtosis(img):
        high, levels, _ = st.SteerablePyramid(128, n_scales=3).analyse(img)
        b = levels[0].flatten(2)
        b = b - b.mean(dim=-1, keepdim=True)
        return (b.pow(4).mean(dim=-1) / b.pow(2).mean(dim=-1).square()).mean()

    noise = torch.rand(1, 3, 128, 128, generator=_gen(5))
    wmm = st.statistical_images(1, generator=_gen(5), spectrum=False, wmm=True,
                                correlate_channels=False)
    assert float(band_kurtosis(noise)) == pytest.approx(3.0, abs=0.3)  # Gaussian-like
    assert float(band_kurtosis(wmm)) > 5.0  # exp(-|x/s|^rho), rho in [0.4, 0.8]


def test_colour_model_and_histogram_constraint():
    cm = st.sample_colour_model(3, 64, generator=_gen(6), device=CPU)
    eye = torch.eye(3).expand(3, 3, 3)
    assert torch.allclose(cm.basis.transpose(1, 2) @ cm.basis, eye, atol=1e-5)  # orthonormal
    decor = cm.basis.transpose(1, 2) @ (cm.mondrian.flatten(2) - cm.mean[..., None])
    var = decor.var(dim=-1)
    assert (var[:, :-1] >= var[:, 1:]).all()  # principal axes by decreasing variance
    assert float(cm.mondrian.min()) == 0.0 and float(cm.mondrian.max()) == pytest.approx(256.0)
    assert cm.marginals.cdf.shape == (9, 257)  # 256-bin histogram per image and channel
    # Matching a channel to a Mondrian histogram reproduces that channel's distribution.
    noise = torch.randn(9, 64 * 64, generator=_gen(7))
    matched = st.match_binned(noise, cm.marginals)
    want = torch.quantile(decor.reshape(9, -1), torch.tensor([0.1, 0.5, 0.9]), dim=-1)
    got = torch.quantile(matched, torch.tensor([0.1, 0.5, 0.9]), dim=-1)
    spread = decor.reshape(9, -1).std(dim=-1)
    assert ((got - want).abs() <= 0.1 * spread + 1.0).all()


def test_bad_options_raise_clear_errors():
    with pytest.raises(ValueError, match="binned"):
        st.statistical_images(1, size=32, generator=_gen(), matching="exact")
    with pytest.raises(ValueError, match="divisible"):
        st.statistical_images(1, size=48, generator=_gen(), wmm=True, n_scales=5)
