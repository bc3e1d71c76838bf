"""(m-n) feature visualisations: the pooled contract through the registry, and known answers for
the parts (optimisation raises the target unit, BN folding, objectives, contrastive training)."""

import importlib.util
import math

import pytest
import torch

import workbench.patterns as patterns
import workbench.patterns.feature_vis as fv

HAS_DEAD_LEAVES = importlib.util.find_spec("workbench.patterns.dead_leaves") is not None


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: see conftest.one_thread


@pytest.fixture(autouse=True)
def _tiny(tmp_path, monkeypatch):
    """A private cache, a 4-image pool, 2 optimisation steps, 2 training steps on 8 images."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WORKBENCH_POOL_SIZE", "4")
    monkeypatch.setenv("WORKBENCH_FEATVIS_STEPS", "2")
    monkeypatch.setenv("WORKBENCH_FEATVIS_TRAIN_STEPS", "2")
    monkeypatch.setenv("WORKBENCH_FEATVIS_TRAIN_IMAGES", "8")


def _names():
    names = ["featvis_random"]
    names.append(pytest.param("featvis_dead_leaves", marks=pytest.mark.skipif(
        not HAS_DEAD_LEAVES, reason="needs workbench/patterns/dead_leaves.py")))
    return names


@pytest.mark.parametrize("name", _names())
def test_native_render_and_metadata(name):
    # generate()'s contract (shape, range, determinism, batch of one) is test_patterns_registry's.
    x = patterns.render(name, 2, seed=0).images
    spec = patterns.get(name)
    assert x.shape == (2, 3, spec.native_size, spec.native_size) and x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert spec.family == "feature_vis" and spec.cached and spec.paper_id == ("m" if "random" in name else "n")


def test_pool_is_cached_on_disk_and_served_with_flips_and_crops(tmp_path):
    pool = fv.build_pool("random", progress=False)
    assert pool.shape == (4, 3, fv.NATIVE_SIZE, fv.NATIVE_SIZE) and pool.dtype == torch.uint8
    files = list((tmp_path / "cache" / "feature_vis").glob("pool_random_*_n4_steps2_*.pt"))
    assert len(files) == 1
    fv._POOLS.clear()  # force a read from disk
    assert torch.equal(fv.build_pool("random", progress=False), pool)
    # 16 draws from 4 pool images are all different images thanks to crops and flips.
    x = fv.serve(pool, 16, size=64, generator=torch.Generator().manual_seed(0))
    assert x.shape == (16, 3, 64, 64)
    assert len({tuple(v.flatten()[:50].tolist()) for v in x}) == 16
    # The pool_size keyword overrides the environment.
    assert patterns.get("featvis_random").fn(
        1, size=32, generator=torch.Generator(), device=torch.device("cpu"), pool_size=2).images.shape == (1, 3, 32, 32)


def test_visualisation_raises_the_target_unit():
    net = fv.FeatureNet(widths=(8, 8, 16, 16), seed=1).eval()
    mask = fv.unit_mask([(3,), (5, 7)], net.num_units)
    g = torch.Generator().manual_seed(0)
    start = fv.fourier_to_image(fv.fourier_init(2, 32, generator=torch.Generator().manual_seed(0)))
    images, trace = fv.visualise(net, mask, size=32, steps=12, generator=g, transforms=False)
    assert images.shape == (2, 3, 32, 32) and float(images.min()) > 0 and float(images.max()) < 1
    with torch.no_grad():
        before = (net(fv._imagenet_normalise(start)) * mask).sum(1)
        after = (net(fv._imagenet_normalise(images)) * mask).sum(1)
    assert (after > before + 0.05).all(), (before, after)
    assert (trace[-1] > trace[0]).all()
    # With the robustness transforms the objective still rises.
    _, trace = fv.visualise(net, mask, size=32, steps=12, generator=g)
    assert (trace[-3:].mean(0) > trace[:3].mean(0)).all()


def test_folded_network_matches_eval_network():
    net = fv.FeatureNet(widths=(8, 16, 16, 32), seed=2)
    with torch.no_grad():  # give BatchNorm non-trivial statistics
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    x = torch.randn(3, 3, 32, 32)
    net.eval()
    folded = net.folded()
    assert torch.allclose(net(x), folded(x), atol=1e-5)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert torch.allclose(net.pooled(x)[0], net(x))


def test_unit_schedule_singles_then_pairs():
    units = fv.unit_schedule(4, 10, seed=0)
    assert sorted(units) == [(0,), (0, 1), (0, 2), (0, 3), (1,), (1, 2), (1, 3), (2,), (2, 3), (3,)]
    assert sorted(fv.unit_schedule(4, 6, seed=1)) == [(0,), (0, 1), (0, 2), (1,), (2,), (3,)]
    with pytest.raises(ValueError, match="fewer than"):
        fv.unit_schedule(3, 7)
    mask = fv.unit_mask([(1,), (0, 2)], 3)
    assert torch.equal(mask, torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]]))


def test_fourier_image_range_and_spectrum():
    spec = fv.fourier_init(2, 32, generator=torch.Generator().manual_seed(0), sd=1.0)
    img = fv.fourier_to_image(spec)
    assert img.shape == (2, 3, 32, 32) and float(img.min()) > 0 and float(img.max()) < 1
    # The 1/f scaling: low frequencies carry more energy than high ones.
    logit = torch.logit(img)
    amp = torch.fft.rfft2(logit - logit.mean(dim=(2, 3), keepdim=True)).abs()
    assert float(amp[..., 1:3, 1:3].mean()) > 3 * float(amp[..., 12:16, 12:16].mean())


def _gratings(n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """Two-colour sine gratings of random orientation and frequency ``[n, 3, size, size]``."""
    theta = torch.rand(n, generator=generator)[:, None, None] * math.pi
    freq = 0.15 + 0.35 * torch.rand(n, generator=generator)[:, None, None]
    yy, xx = torch.meshgrid(torch.arange(size).float(), torch.arange(size).float(), indexing="ij")
    wave = torch.sin(2 * math.pi * freq * (xx * torch.cos(theta) + yy * torch.sin(theta)))
    c1, c2 = torch.rand(n, 3, 1, 1, generator=generator), torch.rand(n, 3, 1, 1, generator=generator)
    return c1 + (c2 - c1) * (wave[:, None] * 0.5 + 0.5)


def test_contrastive_training_lowers_the_loss():
    # Gratings survive crops and colour jitter by their orientation and frequency, so instance
    # discrimination is learnable and the NT-Xent loss on a fixed set of views must fall.
    images = _gratings(16, 24, torch.Generator().manual_seed(0))
    net = fv.FeatureNet(widths=(16, 16, 32, 32), seed=0)
    head = fv.projection_head(net.num_units, 16, seed=0)

    def held_out_loss():
        net.eval(), head.eval()
        with torch.no_grad():
            return float(fv.contrastive_loss(net, head, images, size=24,
                                             generator=torch.Generator().manual_seed(123)))

    before = held_out_loss()
    losses = fv.train_contrastive(net, images, steps=30, batch=16, size=24, lr=1e-2,
                                  generator=torch.Generator().manual_seed(1), head=head, progress=False)
    assert len(losses) == 30 and not net.training
    after = held_out_loss()
    assert after < before - 0.15, (before, after, losses)


def test_augment_and_nt_xent_known_answers():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 24, 24, generator=g)
    y = fv.contrastive_augment(x, generator=g, out_size=16)
    assert y.shape == (4, 3, 16, 16) and float(y.min()) >= 0 and float(y.max()) <= 1
    z = torch.randn(6, 8, generator=g)
    # Identical views far apart from the others: the loss is near its minimum 0.
    z = torch.nn.functional.normalize(z, dim=1) * 10
    assert float(fv.nt_xent(z, z, temperature=0.05)) < float(fv.nt_xent(z, z.roll(1, 0), temperature=0.05))


@pytest.mark.skipif(not HAS_DEAD_LEAVES, reason="needs workbench/patterns/dead_leaves.py")
def test_dead_leaves_network_is_trained_and_cached(tmp_path):
    net = fv.network("dead_leaves", train_steps=2, train_images=16, progress=False)
    files = list((tmp_path / "cache" / "feature_vis").glob("featnet_dead_leaves_*steps2_n16_*.pt"))
    assert len(files) == 1
    random_net = fv.network("random")
    assert any(not torch.equal(a, b) for a, b in zip(net.state_dict().values(), random_net.state_dict().values()))
    again = fv.network("dead_leaves", train_steps=2, train_images=16, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))


def test_bad_arguments_raise_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match="dead_leaves"):
        fv.network("deadleaves")
    monkeypatch.setenv("WORKBENCH_POOL_SIZE", "zero")
    with pytest.raises(ValueError, match="WORKBENCH_POOL_SIZE"):
        fv.pool_size()
