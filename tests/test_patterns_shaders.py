"""(o) Shaders1k stand-in: random shader programs evaluated with torch."""

import pytest
import torch

import workbench.patterns as patterns
import workbench.patterns.shaders as shaders

CPU = torch.device("cpu")


def test_registered_with_alias():
    spec = patterns.get("shaders")
    assert spec.name == "shaders1k" and spec.paper_id == "o" and spec.family == "shaders"
    assert spec.num_classes == 1000 and spec.kind == "image"


def test_native_render_shape_range_labels():
    batch = patterns.render("shaders1k", 3, seed=0, size=48)
    assert batch.images.shape == (3, 3, 48, 48) and batch.images.dtype == torch.float32
    assert batch.images.min() >= 0 and batch.images.max() <= 1
    assert batch.labels.dtype == torch.int64 and batch.labels.shape == (3,)
    assert ((batch.labels >= 0) & (batch.labels < 1000)).all()


def test_batch_of_one():
    batch = patterns.render("shaders", 1, seed=5, size=32)
    assert batch.images.shape == (1, 3, 32, 32) and batch.labels.shape == (1,)


def test_category_program_is_deterministic_and_independent_of_history():
    first = shaders.category_programs([7, 123])
    shaders._PROGRAMS.clear()  # redo the search from scratch, in another order
    again = shaders.category_programs([123, 7])
    for a, b in zip(first, again):
        assert torch.equal(a, b.flip(0))


def test_accepted_programs_pass_the_quality_test():
    progs = shaders.category_programs([0, 1, 2, 3])
    contrast, roughness = shaders.program_quality(progs)
    passed = (contrast >= shaders.MIN_CONTRAST) & (roughness <= shaders.MAX_ROUGHNESS)
    assert passed.all(), [shaders.describe(progs, i) for i in range(4)]


def test_time_changes_the_image_of_a_category():
    progs = shaders.category_programs([11, 11])
    img = shaders.evaluate(progs, torch.tensor([1.0, 5.0]), size=32, device=CPU)
    assert (img[0] - img[1]).abs().mean() > 1e-3


def test_instances_of_a_category_share_structure_but_differ():
    batch = shaders.shaders(64, size=16, generator=torch.Generator().manual_seed(0), device=CPU, num_categories=2)
    assert set(batch.labels.tolist()) == {0, 1}
    first = batch.images[batch.labels == 0]
    assert (first[0] - first[1]).abs().mean() > 1e-3  # different t and jitter


@pytest.mark.parametrize("slot,names", [
    (shaders.SLOT_WARPS[0], shaders.WARPS), (shaders.SLOT_FIELD1, shaders.FIELDS),
    (shaders.SLOT_SHAPING, shaders.SHAPINGS),
])
def test_every_op_renders_finite_values(slot, names):
    n = len(names)
    g = torch.Generator().manual_seed(1)
    ops = torch.zeros(n, shaders.N_SLOTS, dtype=torch.int64)
    ops[:, shaders.SLOT_FIELD1] = 2  # rings, so warps and shapings have something to act on
    ops[:, slot] = torch.arange(n)
    ops[:, shaders.SLOT_FIELD2] = 1
    ops[:, shaders.SLOT_COMBINE] = torch.arange(n) % len(shaders.COMBINES)
    progs = shaders.ShaderPrograms(ops, torch.rand(n, shaders.N_SLOTS, shaders.N_CONTINUOUS, generator=g),
                                   torch.rand(n, shaders.N_SLOTS, shaders.N_INTEGER, generator=g))
    img = shaders.evaluate(progs, torch.full((n,), 2.0), size=16, device=CPU)
    assert img.shape == (n, 3, 16, 16)
    assert torch.isfinite(img).all() and img.min() >= 0 and img.max() <= 1


def test_result_does_not_depend_on_the_rest_of_the_batch():
    progs = shaders.category_programs([3, 40, 41, 900])
    t = torch.tensor([0.5, 2.0, 7.0, 9.5])
    together = shaders.evaluate(progs, t, size=24, device=CPU)
    alone = shaders.evaluate(shaders.ShaderPrograms(*(f[2:3] for f in progs)), t[2:3], size=24, device=CPU)
    torch.testing.assert_close(together[2:3], alone)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="num_categories"):
        shaders.shaders(2, size=8, generator=torch.Generator(), device=CPU, num_categories=0)
    with pytest.raises(ValueError, match="category"):
        shaders.category_generator(-1)
