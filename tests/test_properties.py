"""Known-answer tests for workbench.patterns.properties."""

import math

import pytest
import torch

from workbench.patterns.properties import PROPERTIES, dataset_properties, image_properties, properties_table


def power_law_noise(alpha: float, *, size: int = 128, n: int = 4, seed: int = 0) -> torch.Tensor:
    """Grey ``[n, 1, size, size]`` in [0, 1] whose power spectrum falls as 1/f^alpha (random phase)."""
    g = torch.Generator().manual_seed(seed)
    f = torch.sqrt(torch.fft.fftfreq(size)[:, None] ** 2 + torch.fft.fftfreq(size)[None] ** 2)
    amplitude = f.clamp_min(1e-12) ** (-alpha / 2)
    amplitude[0, 0] = 0.0
    phase = torch.rand(n, size, size, generator=g) * 2 * math.pi
    x = torch.fft.ifft2(amplitude * torch.exp(1j * phase)).real
    lo, hi = x.amin(dim=(1, 2), keepdim=True), x.amax(dim=(1, 2), keepdim=True)
    return ((x - lo) / (hi - lo))[:, None]


def checkerboard(size: int, block: int) -> torch.Tensor:
    i = torch.arange(size)
    return (((i[:, None] // block) + (i[None] // block)) % 2).float()[None, None]


def test_keys_shapes_and_dtype():
    x = torch.rand(3, 3, 32, 48, generator=torch.Generator().manual_seed(0))
    props = image_properties(x)
    assert set(props) == set(PROPERTIES)
    for name, v in props.items():
        assert v.shape == (3,), name
        assert v.dtype == torch.float32, name
        assert torch.isfinite(v).all(), name


def test_constant_image():
    props = image_properties(torch.full((2, 3, 64, 64), 0.3))
    assert props["mean"] == pytest.approx([0.3, 0.3], abs=1e-6)
    for name in ("std", "entropy", "total_variation", "edge_density", "high_freq_energy",
                 "spectral_slope", "fractal_dim", "edge_fractal_dim"):
        assert props[name].abs().max() < 1e-6, name
    assert props["n_colours"].tolist() == [1.0, 1.0]


def test_checkerboards():
    one_px = checkerboard(64, 1)
    blocks = checkerboard(64, 8)
    props = image_properties(torch.cat([one_px, blocks]))
    assert props["mean"] == pytest.approx([0.5, 0.5])
    assert props["std"] == pytest.approx([0.5, 0.5])
    assert props["entropy"] == pytest.approx([1.0, 1.0])
    assert props["n_colours"].tolist() == [2.0, 2.0]
    # Every neighbour pair differs by 1 in the one-pixel board; 7 of 63 pairs per line with blocks of 8.
    assert props["total_variation"] == pytest.approx([2.0, 2 * 7 / 63], rel=1e-5)
    # Pixels either side of each of the 7 inner boundaries per axis are edges: 1 - (1 - 14/64)^2.
    assert float(props["edge_density"][1]) == pytest.approx(1 - (1 - 14 / 64) ** 2)
    # All the one-pixel board's power sits at the Nyquist corner.
    assert float(props["high_freq_energy"][0]) > 0.99
    assert float(props["high_freq_energy"][1]) < 0.3


@pytest.mark.parametrize("alpha", [1.0, 3.0])
def test_spectral_slope_of_power_law_noise(alpha):
    slope = image_properties(power_law_noise(alpha, seed=int(alpha)))["spectral_slope"]
    assert float(slope.mean()) == pytest.approx(alpha, abs=0.15)


def test_spectral_slope_on_non_square_and_rgb():
    grey = power_law_noise(2.0, size=128, n=2)[..., :64, :]  # a 64 x 128 crop keeps the law roughly
    slope = image_properties(grey.expand(-1, 3, -1, -1))["spectral_slope"]
    assert float(slope.mean()) == pytest.approx(2.0, abs=0.3)


def test_high_frequency_energy_orders_noise():
    smooth, white = power_law_noise(3.0, n=2), torch.rand(2, 1, 128, 128, generator=torch.Generator().manual_seed(1))
    hf = image_properties(torch.cat([smooth, white]))["high_freq_energy"]
    assert hf[:2].max() < 0.05
    # White noise spreads power evenly: the share outside radius 1/4 is 1 - pi/16 ~ 0.80.
    assert hf[2:].min() > 0.7


def test_box_counting_dimension_square_vs_line():
    square = torch.zeros(1, 1, 64, 64)
    square[..., 8:56, 8:56] = 1.0
    offset_square = torch.zeros(1, 1, 64, 64)
    offset_square[..., 11:51, 13:53] = 1.0
    line = torch.zeros(1, 1, 64, 64)
    line[..., 30, :] = 1.0
    diagonal = torch.eye(64)[None, None]
    props = image_properties(torch.cat([square, offset_square, line, diagonal]))
    dim = props["fractal_dim"]
    assert float(dim[0]) == pytest.approx(2.0, abs=0.02)
    assert float(dim[1]) > 1.75
    assert float(dim[2]) == pytest.approx(1.0, abs=0.02)
    assert float(dim[3]) == pytest.approx(1.0, abs=0.05)
    # The square's edge map is its outline, a curve.
    assert float(props["edge_fractal_dim"][0]) == pytest.approx(1.0, abs=0.1)


def test_jpeg_ratio_noise_above_constant():
    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    ratio = image_properties(torch.cat([noise, torch.full_like(noise, 0.5)]))["jpeg_ratio"]
    assert float(ratio[0]) > 3 * float(ratio[1])


def test_colour_counting_rgb_vs_grey():
    img = torch.zeros(1, 3, 32, 32)
    img[:, 0, :16] = 1.0  # red top half
    img[:, 2, :, :8] = 1.0  # blue left quarter: red+blue, red, blue, black
    assert image_properties(img)["n_colours"].item() == 4
    grey = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 1, 32, 32)
    assert image_properties(grey, colour_levels=8)["n_colours"].item() == 8


def test_bad_input_raises():
    with pytest.raises(ValueError, match="expected images"):
        image_properties(torch.rand(2, 2, 32, 32))
    with pytest.raises(ValueError, match="at least 16"):
        image_properties(torch.rand(2, 1, 8, 8))


def test_dataset_properties_and_table():
    import workbench.patterns  # noqa: F401  (registers fractaldb)

    props = dataset_properties("fractaldb", n=2, seed=0, size=64)
    assert set(props) == set(PROPERTIES)
    # FractalDB renders binary point sets: two grey levels at most, a set thinner than the plane.
    assert props["n_colours"] <= 2
    assert 0.5 < props["fractal_dim"] < 2.0
    from_images = dataset_properties(torch.full((2, 1, 32, 32), 0.5))
    assert from_images["std"] == pytest.approx(0.0, abs=1e-6)

    table = properties_table(["fractaldb"], n=2, seed=0, size=64)
    assert table.shape[0] == 1
    row = table.iloc[0]
    assert row["name"] == "fractaldb1k" and row["paper_id"] == "p" and row["family"] == "fractaldb"
    assert row["fractal_dim"] == pytest.approx(props["fractal_dim"])
