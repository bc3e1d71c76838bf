"""Contract every registered pattern dataset must meet through ``workbench.patterns.generate``.

The names are read from the registry when the tests run, so each family is covered as soon as it
is imported by ``workbench.patterns``. Cached families render a 4-sample pool into a throw-away
cache (``tests/conftest.py`` sets ``WORKBENCH_CACHE`` and ``WORKBENCH_POOL_SIZE``).
"""

import functools

import pytest
import torch

import workbench.patterns as patterns

FRAMES = 64


@functools.lru_cache(maxsize=None)
def _generated(name: str, n: int, seed: int) -> patterns.PatternBatch:
    """Shared across tests, since some generators take seconds per image on a CPU; a test that
    checks determinism compares against a fresh call."""
    return patterns.generate_with_labels(name, n, seed=seed, frames=FRAMES)


def pytest_generate_tests(metafunc):
    if "name" in metafunc.fixturenames:
        metafunc.parametrize("name", patterns.names())


def test_some_datasets_are_registered():
    assert "fractaldb1k" in patterns.names()
    assert len(patterns.names()) == len(set(patterns.names()))


def test_shape_dtype_range_and_labels(name):
    out = _generated(name, 2, 0)
    x = out.images
    assert x.shape == (2, 1, 128, FRAMES)
    assert x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert float(x.std()) > 0, f"{name} produced constant samples"
    spec = patterns.get(name)
    if spec.num_classes is not None:
        assert out.labels is not None, f"{name} declares num_classes but returns no labels"
        assert out.labels.shape == (2,) and out.labels.dtype == torch.int64
        assert int(out.labels.min()) >= 0 and int(out.labels.max()) < spec.num_classes


def test_same_seed_same_output_different_seed_differs(name):
    a = _generated(name, 2, 0).images
    b = patterns.generate(name, 2, seed=0, frames=FRAMES)
    c = _generated(name, 1, 1).images
    assert torch.equal(a, b)
    assert not torch.equal(a[:1], c)
    assert not torch.equal(a[0], a[1]), f"{name} gives the same sample twice in one batch"


def test_batch_of_one(name):
    out = _generated(name, 1, 1)
    assert out.images.shape == (1, 1, 128, FRAMES)
    assert out.labels is None or out.labels.shape == (1,)


def test_native_render(name):
    spec = patterns.get(name)
    if spec.kind != "image":
        pytest.skip(f"{name} renders spectrograms directly")
    out = patterns.render(name, 1, seed=0)
    assert out.images.ndim == 4 and out.images.shape[0] == 1 and out.images.shape[1] in (1, 3)
    assert out.images.shape[-2:] == (spec.native_size, spec.native_size)
    assert float(out.images.min()) >= 0.0 and float(out.images.max()) <= 1.0


def test_spec_metadata(name):
    spec = patterns.get(name)
    assert spec.name == name and spec.family and spec.description
    assert spec.kind in ("image", "spectrogram")
    assert spec.paper_id is None or (len(spec.paper_id) == 1 and "a" <= spec.paper_id <= "q")
    for alias in spec.aliases:
        assert patterns.get(alias) is spec


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError) as err:
        patterns.generate("fractaldbb", 1, frames=FRAMES)
    message = str(err.value)
    assert "fractaldbb" in message
    for name in patterns.names():
        assert name in message
    assert "Did you mean" in message and "fractaldb" in message
